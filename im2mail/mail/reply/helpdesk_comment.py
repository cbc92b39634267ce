"""A reply a helpdesk composed: the latest comment of its notification, not the whole mail.

A helpdesk that answers from the shop's mailbox (Zendesk and those built after it) does not
quote our email under the agent's words the way a mail client does: it sends its own
notification, which opens with a marker line framed by symbols ("##- Please type your reply
above this line -##", in the helpdesk's language), a sentence or two about the request, a
rule, then each comment newest first: a header (the author and a date, on one line or two)
over the comment's text, comments a rule apart, and the helpdesk's footer last. Nothing is
above the marker, so the agent's words are the first comment's text: what follows the next
rule is the earlier comments (our email among them). Only the whole shape counts: a marker
with no rule and dated header under it changes nothing.
"""

from __future__ import annotations

import re

# a line of words framed by two or more symbols on each side: "##- … -##", "-- … --"
_MARKER = re.compile(r"^\s*[#=*~_-]{2,}[^\w]*\s*\w[^#=*~]*?[^\w]*[#=*~_-]{2,}\s*$")
# a rule between the notification's sections: a line of dashes, underscores, "=" or "—"
_RULE = re.compile(r"^\s*[-_=—─]{5,}\s*$")
# a header line that dates the comment: a time of day, or a year
_DATED = re.compile(r"\b\d{1,2}[:.]\d{2}\b|\b(?:19|20)\d\d\b")
_PREAMBLE = 6  # at most this many lines between the marker and the first rule
_HEADER = 80  # a header line is short


def latest_comment(text: str) -> str:
    """The first comment's text when `text` is a helpdesk's notification (see above),
    else `text` as it is."""
    opening = text.lstrip().partition("\n")[0]  # a quick no for nearly every reply
    if not _MARKER.match(opening) or not any(c.isalpha() for c in opening):
        return text
    lines = text.split("\n")
    i = _next(lines, 0) or 0
    rule = next(
        (j for j in range(i + 1, min(len(lines), i + 2 + _PREAMBLE)) if _RULE.match(lines[j])), None
    )
    if rule is None:
        return text
    first = _next(lines, rule + 1)
    if first is None or len(lines[first].strip()) > _HEADER:
        return text
    body = first + 1
    if not _DATED.search(lines[first]):  # the author, then the date on a line of its own
        second = _next(lines, first + 1)
        if (
            second is None
            or len(lines[second].strip()) > _HEADER
            or not _DATED.search(lines[second])
        ):
            return text
        body = second + 1
    end = next((j for j in range(body, len(lines)) if _RULE.match(lines[j])), len(lines))
    comment = "\n".join(lines[body:end]).strip("\n")
    return comment if comment.strip() else text


def _next(lines: list[str], start: int) -> int | None:
    """The index of the first non-blank line from `start`."""
    return next((j for j in range(start, len(lines)) if lines[j].strip()), None)
