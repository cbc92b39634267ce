"""The one place strings from outside are made fit for file names, MIME types and logs."""

from __future__ import annotations

import pytest

from im2mail.untrusted import cut_bytes, file_name, mime_type, printable
from tests.support.bad_names import BAD_NAME, EMOJI, assert_clean


def test_the_bad_name_becomes_one_clean_line_of_at_most_255_bytes():
    assert_clean(file_name(BAD_NAME))


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Рахунок №17.pdf", "Рахунок №17.pdf"),
        ("a\r\nb.pdf", "a b.pdf"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),  # shown as "invoiceexe.pdf" otherwise
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\olena\\макет.png", "макет.png"),
        ("👨\u200d👩\u200d👧.png", "👨\u200d👩\u200d👧.png"),  # joiners keep the family together
        ("..", ""),
        ("\r\n", ""),
        ("dir/", ""),
        ("bad\udcffsurrogate.txt", "bad?surrogate.txt"),
        (None, ""),
        (17, ""),
    ],
)
def test_file_names(given, expected):
    assert file_name(given) == expected


def test_a_long_name_is_cut_on_a_character_boundary_keeping_its_extension():
    name = "ї" + EMOJI + ".jpeg"  # 2 + 300 + 5 bytes
    cut = file_name(name)
    assert len(cut.encode()) <= 255 and cut.endswith("😀.jpeg") and cut.startswith("ї😀")
    assert cut_bytes("x" * 300, 255) == "x" * 255
    assert cut_bytes("a" * 200 + "." + "b" * 200, 100) == "a" * 100  # no room for that "extension"
    assert len(cut_bytes("я" * 200, 255).encode()) == 254  # not half a letter


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("application/pdf", "application/pdf"),
        ("Image/JPEG", "image/jpeg"),
        ("audio/ogg; codecs=opus", "audio/ogg"),
        ("message/rfc822", "message/rfc822"),
        ("text/html\r\nX-Evil: 1", "application/octet-stream"),
        ("text/html\n", "text/html"),  # trailing whitespace is only whitespace
        ("image/svg+xml", "image/svg+xml"),
        ("nonsense", "application/octet-stream"),
        ("a/b/c", "application/octet-stream"),
        ("", "application/octet-stream"),
        (None, "application/octet-stream"),
        ("x/" + "y" * 200, "application/octet-stream"),
    ],
)
def test_mime_types(given, expected):
    assert mime_type(given) == expected


def test_printable_escapes_what_would_forge_or_paint_a_log_line():
    forged = "Олена\n2026-12-07 10:00:00 INFO im2mail.relay: forged line"
    assert printable(forged) == "Олена\\n2026-12-07 10:00:00 INFO im2mail.relay: forged line"
    assert printable("a\r\x1b[31mred\u202e\u2028") == "a\\r\\x1b[31mred\\u202e\\u2028"
    assert printable("Олена Коваль 🙂") == "Олена Коваль 🙂"
    assert printable("peer \udcff\udcfe") == "peer \\udcff\\udcfe"  # undecodable bytes
