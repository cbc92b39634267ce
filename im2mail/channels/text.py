"""Long text cut into the pieces a platform takes, at the best places."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

# Where a text may be cut, best first; group 1 is the whitespace dropped at the cut.
_CUTS = (
    re.compile(r"(\n[ \t]*\n\s*)"),  # paragraph
    re.compile(r"(\n\s*)"),  # line
    re.compile(r"[.!?…;][\"'»”’)\]]*(\s+)"),  # sentence, closing quotes kept with it
    re.compile(r"(\s+)"),  # word
)


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units (an emoji outside the BMP counts two)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def split_text(text: str, limit: int, measure: Callable[[str], int] = len) -> list[str]:
    """`text` in pieces of at most `limit` (as `measure` counts), in order.

    Each cut falls at the last paragraph break, else line break, else sentence end, else
    space that leaves the piece at least half full; failing all, anywhere but inside a
    character sequence. Whitespace at the cuts is dropped; blank text gives [].
    """
    pieces: list[str] = []
    rest = text.strip()
    while rest:
        if measure(rest) <= limit:
            pieces.append(rest)
            break
        end = _fitting(rest, limit, measure)
        cut = _best_cut(rest, end)
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return pieces


def _fitting(text: str, limit: int, measure: Callable[[str], int]) -> int:
    """The length of the longest prefix within limit (at least 1, to make progress)."""
    low, high = 0, min(len(text), limit)  # every character measures at least 1
    while low < high:
        middle = (low + high + 1) // 2
        if measure(text[:middle]) <= limit:
            low = middle
        else:
            high = middle - 1
    return max(low, 1)


def _best_cut(text: str, end: int) -> int:
    window = text[:end]
    floor = end // 2
    for pattern in _CUTS:
        cuts = [m.start(1) for m in pattern.finditer(window) if m.start(1) >= floor]
        if cuts:
            return cuts[-1]
    cut = end
    while cut > floor and _joins(text, cut):
        cut -= 1
    return cut if cut > 0 else end


def _joins(text: str, at: int) -> bool:
    """Whether text[at] belongs to the character before it (combining mark, ZWJ, selector)."""
    if at >= len(text):
        return False
    return unicodedata.category(text[at]) in ("Mn", "Me", "Cf") or text[at - 1] == "\u200d"
