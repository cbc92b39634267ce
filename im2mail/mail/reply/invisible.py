"""Invisible characters that are no word of the manager's: taken out of a reply's text.

A zero width space or a word joiner pasted from a web page, a byte order mark a Windows
editor put at the start of the text (or a client before its quote), a soft hyphen (a line
break hint of a hyphenated web page, shown as "-" by some messengers), and the
bidirectional embedding marks clients put around names and addresses in an attribution
(Gmail's U+202A…U+202C): none of them is seen in the mail, and none must reach a chat.

Kept: the zero width JOINER and NON-JOINER (U+200D, U+200C), which build emoji sequences
(a family, a skin-toned profession) and spell Persian and Indic words; and the bidi marks
in a text that holds right-to-left script, where they decide how it reads.
"""

from __future__ import annotations

import re

_ALWAYS = dict.fromkeys(map(ord, "\u200b\u2060\ufeff\u00ad"))
_BIDI = dict.fromkeys([0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)])
_ANY = re.compile("[\u200b\u2060\ufeff\u00ad\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_RTL = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")


def strip(text: str) -> str:
    """`text` without the invisible characters above."""
    if not _ANY.search(text):
        return text
    text = text.translate(_ALWAYS)
    return text if _RTL.search(text) else text.translate(_BIDI)
