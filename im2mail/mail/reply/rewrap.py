"""A text/plain alternative hard-wrapped by the client, given the HTML's line breaks.

Gmail (and other clients that write text/plain from the HTML the manager edited) breaks
the plain text's long lines at about 78 columns: a sentence the manager typed on one
line reaches the customer cut in two, in a messenger where nobody wraps. The HTML
alternative keeps the lines as the manager typed them. `as_typed` joins a run of plain
lines back into one where the HTML has them as one line, word for word, and the HTML has
none of them on its own: nothing is added, dropped or reordered, only line breaks go.
Spaces go the same way: Outlook writes a Word list's bullet or number to text/plain
padded to its tab stop ("·         250 cards"), where the HTML shows one space; a line
the HTML shows with the same words, spaced more narrowly, takes the HTML's spacing.
"""

from __future__ import annotations

import re

_SPACE = re.compile(r"\s+")
_PADDED = re.compile(r"\S[ \t\xa0]{2,}\S")  # a run of spaces between words
# a list item's mark: Outlook's text/plain "  *   Oak", "·         Oak"; the HTML's "- Oak"
_ITEM = re.compile(r"^[ \t]*[-*\u00b7\u2022\u25aa][ \t\xa0]+(?=\S)")
MIN_WRAP = 40  # a hard wrap leaves lines at least this long (a short line is meant)
MAX_RUN = 30  # lines one typed line may have been wrapped into


def as_typed(text: str, html_text: str) -> str:
    """`text` (read from text/plain) with the line breaks the HTML's text does not have
    taken out: consecutive lines whose join is one line of `html_text`, none of them
    a line there by itself, the first ones long enough to be a wrap."""
    lines = text.split("\n")
    if not html_text:
        return text
    lines = _spaced_as_shown(lines, html_text)
    if len(lines) < 2:
        return "\n".join(lines)
    shown = {_normal(line) for line in html_text.split("\n")}
    shown.discard("")
    if not shown:
        return "\n".join(lines)
    longest = max(len(line) for line in shown)
    out: list[str] = []
    i = 0
    while i < len(lines):
        j = _joined_to(lines, i, shown, longest)
        out.append(" ".join(line.strip() for line in lines[i : j + 1]) if j > i else lines[i])
        i = j + 1
    return "\n".join(out)


def _joined_to(lines: list[str], i: int, shown: set[str], longest: int) -> int:
    """The last line of the longest run from `i` whose join the HTML shows as one line
    (each line but the last a wrap: long, and not a line of the HTML itself); else `i`."""
    best = i
    joined = _normal(lines[i])
    j = i
    while j + 1 < len(lines) and j - i < MAX_RUN and len(joined) < longest:
        line = _normal(lines[j])
        if len(line) < MIN_WRAP or line in shown or not _normal(lines[j + 1]):
            break
        j += 1
        joined = f"{joined} {_normal(lines[j])}"
        if joined in shown:
            best = j
    return best


def _spaced_as_shown(lines: list[str], html_text: str) -> list[str]:
    """`lines` with a run of spaces inside a line narrowed as the HTML's text has that
    line (same words, same order; the indentation stays), and a list item's mark padded
    to a tab stop written as the HTML's list item ("  *   Oak" as "- Oak")."""
    if not any(_PADDED.search(line) for line in lines):
        return lines
    shown: dict[str, str] = {}
    for line in html_text.split("\n"):
        bare = line.replace("\xa0", " ").strip()
        shown.setdefault(_normal(bare), bare)
        if bare.startswith("- "):  # a list item of the HTML, by its words
            shown.setdefault("\0" + _normal(bare[2:]), bare)
    out: list[str] = []
    for line in lines:
        bare = shown.get(_normal(line)) if _PADDED.search(line) else None
        item = _ITEM.match(line) if bare is None and _PADDED.search(line) else None
        if item and (bare := shown.get("\0" + _normal(line[item.end() :]))):
            line = bare  # as the HTML shows it, not indented
        elif bare and len(bare) < len(line.strip()):
            line = line[: len(line) - len(line.lstrip())] + bare
        out.append(line)
    return out


def _normal(line: str) -> str:
    return _SPACE.sub(" ", line).strip()
