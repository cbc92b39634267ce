"""A quotation the manager pasted into their own answer, in a plain-text reply.

Thunderbird's Edit → Paste As Quotation, or a ">" typed before a copied sentence, puts a
short quoted block inside the answer: "Як написала Олена:", the sentence as "> …", then
more of the manager's words, and only then the client's attribution over the email being
answered, quoted to the end. The block is the manager's on purpose when the quote below
holds it again, word for word: they copied it from there. Inline answers differ in shape:
their quoted pieces are parts of one quote, none repeated further down, and the pieces
after an answer are not introduced by an attribution of their own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

_PREFIX = re.compile(r"^\s*(?:>\s?)+")
_WORD = re.compile(r"\w+")
_ATTRIBUTION_MARK = re.compile(r"[\d@]")  # a date, a time or an address: who wrote when
_MAX_LINES = 5  # a sentence or two, not a pasted email
_MIN_WORDS = 4


def _words(line: str) -> list[str]:
    return _WORD.findall(_PREFIX.sub("", line).lower())


def pasted(lines: Sequence[str], quoted: Sequence[bool]) -> set[int]:
    """The numbers of the quoted lines that are a quotation pasted into the answer: the
    first quoted block, under lines of the manager's own and followed by more of them,
    when the text ends in a quote introduced by an attribution (a line ending in ":"
    that names a date, a time or an address, over the quote or as its first line) that
    holds the block's words again in a row. Empty when there is no such block."""
    n = len(lines)
    first = next((k for k in range(n) if quoted[k]), None)
    if first is None or not any(_words(ln) for ln in lines[:first]):
        return set()
    end = first
    while end < n and quoted[end] and lines[end].strip():
        end += 1
    block = list(range(first, end))
    words = [w for k in block for w in _words(lines[k])]
    if len(block) > _MAX_LINES or len(words) < _MIN_WORDS:
        return set()
    # the manager's own words under the block, then the quote that runs to the end
    k = end
    own = False
    while k < n and not quoted[k]:
        own = own or bool(_words(lines[k]))
        k += 1
    if not own or k >= n or any(not quoted[m] and lines[m].strip() for m in range(k, n)):
        return set()
    above = k - 1
    while above > end and not lines[above].strip():
        above -= 1
    top = next((m for m in range(k, n) if _words(lines[m])), k)
    # the attribution over the quote, or as its first line (Apple Mail, iOS, Mail.ru)
    if not any(_introduces(line) for line in (lines[above], _PREFIX.sub("", lines[top]))):
        return set()
    below = [w for m in range(k, n) for w in _words(lines[m])]
    size = len(words)
    if not any(below[m : m + size] == words for m in range(len(below) - size + 1)):
        return set()
    return set(block)


def _introduces(line: str) -> bool:
    bare = line.strip()
    return bare.endswith(":") and bool(_ATTRIBUTION_MARK.search(bare))


def lead_in(lines: Sequence[str], block: set[int]) -> int | None:
    """The line of the manager's that introduces a pasted quotation ("Олена написала:"),
    the nearest one with words above it: theirs, not an attribution."""
    if not block:
        return None
    return next((m for m in range(min(block) - 1, -1, -1) if lines[m].strip()), None)


_MARKS = "\u201e\u201c\u201d\u00ab\u00bb\u201a\u2018\u2019"  # „ “ ” « » ‚ ‘ ’
_IN_MARKS = re.compile(
    r"^\s*[\u201e\u201c\u00ab\u00bb\u201a\u2018]\w.*[\w.!?\u2026]"
    r"[\u201c\u201d\u00bb\u00ab\u2018\u2019][.!?,;:\u2026]*\s*$"
)


def marks(texts: Sequence[str]) -> frozenset[str]:
    """The typographic quotation marks the texts hold."""
    return frozenset(c for text in texts for c in text if c in _MARKS)


def in_marks(
    lines: Sequence[str], n: int, theirs: frozenset[str], ours: Callable[[str], bool]
) -> bool:
    """Whether line `n` is a sentence the manager put in typographic quotation marks
    („…“, “…”, «…») between lines of their own words: a quotation on purpose, not
    history (clients quote with ">" or an indent, never with such marks; ASCII quotes
    are left out, some clients wrap a quote in them). Marks the quoted emails hold
    themselves (`theirs`) prove nothing; `ours` tells a line of those emails."""
    line = lines[n]
    if not _IN_MARKS.match(line) or theirs & set(line):
        return False
    above = next((ln for ln in reversed(lines[:n]) if ln.strip()), None)
    below = next((ln for ln in lines[n + 1 :] if ln.strip()), None)
    return all(
        ln is not None and _WORD.search(ln) is not None and not _PREFIX.match(ln) and not ours(ln)
        for ln in (above, below)
    )
