"""The file name of issue 17's bad input, for every place a file name enters: CR/LF that
would start a new header (or an mbox message), a bidi override that would flip the
extension on screen, and 300 bytes of emoji that no file system takes whole."""

from __future__ import annotations

EMOJI = "😀" * 75  # 4 bytes each: 300 bytes
BAD_NAME = f"Рахунок\r\nX-Evil: 1\r\nFrom mallory\t\u202efdp.exe{EMOJI}.pdf"
BAD_MIME = "application/pdf\r\nX-Evil: 1"


def assert_clean(name: str, *, extension: str = ".pdf") -> None:
    """What a cleaned BAD_NAME must be: one line, no control or bidi character, at most
    255 bytes, cut between characters, its extension kept, the words still there."""
    assert not any(c in name for c in "\r\n\t\x00\u202e"), repr(name)
    assert len(name.encode("utf-8")) <= 255
    assert name.endswith(extension), name
    assert name.startswith("Рахунок X-Evil: 1 From mallory fdp.exe😀")
