"""What a reply's two alternatives, text/plain and HTML, tell about each other.

A client writes both from what the manager edited; where the plain text shows something
the HTML does not (or the other way round), the HTML, which the manager saw, decides: a
line starting with ">" that the HTML shows as text was typed (a price list), and a mark
of a character or two that the HTML hides is no word of theirs.
"""

from __future__ import annotations

import unicodedata

from .reply_html import tidy


def typed_marks(plain: str, html_text: str | None, stuffed: list[int]) -> set[int]:
    """The lines of a text/plain part that start with ">" but that the manager typed (a
    price list: "> 100 pcs: €4.20"): space-stuffed in format=flowed (`stuffed`), or
    standing as text in the HTML alternative (`html_text`, its quote containers left
    out) of a mail whose quote is such a container (a lone ">" marks where it was)."""
    typed = set(stuffed)
    if not html_text or ">" not in html_text.split("\n"):
        return typed
    own = {
        " ".join(line.split())
        for line in html_text.split("\n")
        if line.lstrip().startswith(">") and line.strip() != ">"
    }
    if own:
        lines = plain.replace("\r\n", "\n").split("\n")
        typed.update(n for n, line in enumerate(lines) if " ".join(line.split()) in own)
    return typed


def unshown_tail(text: str, shown: str) -> str:
    """Without its last line when that is a character or two the HTML alternative does not
    show anywhere: the HTML hides it (a tracking extension's white mark, which the client's
    text/plain conversion writes out), so it is no word of the manager's."""
    head, _, last = text.rstrip().rpartition("\n")
    mark = last.strip()
    if not head.strip() or not 0 < len(mark) <= 2 or mark in shown:
        return text
    # letters or punctuation only: an emoji the HTML draws as a picture is the manager's
    return tidy(head) if all(unicodedata.category(c)[0] in "LP" for c in mark) else text
