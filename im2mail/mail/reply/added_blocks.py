"""What a server or a program on the way stamps on the manager's mail, read by its shape:
a marking line stamped both at the top and at the very end of the body (a classification
label's header and footer), and a tag block appended at the end under a title framed by
underscore or dash runs, ending in a bare link (an antivirus's "checked" tag). Neither is
the manager's: the manager does not type the same line above the answer and under the
quote, nor a framed title whose few lines end in a bare link at the very end of the mail.
"""

from __future__ import annotations

import re

# A title framed by runs of underscores, dashes or equals signs, words between them:
# "__________ Information from … __________"; a bare rule (no words) is no title.
_FRAMED_TITLE = re.compile(r"^\s*([_=\-\u2010-\u2015])\1{4,}\s+(?=.*[^\W\d_]{2}).+?\s+\1{5,}\s*$")
_BARE_LINK = re.compile(r"^\s*(?:https?://|www\.)\S+\s*$", re.I)
_TAG_LINES = 6  # at most this many lines under the title, to the end of the mail
_MARKING_WORDS = 6  # a label's marking: a few words ("Classification: Internal")


def is_tag_block(lines: list[str], i: int) -> bool:
    """Whether `lines[i]` heads a tag block appended at the end of the mail: a framed
    title, then at most _TAG_LINES lines to the end, none quoted, the last a bare link.
    A heading of the manager's ("----- Ціни -----" over a price list) ends in no bare
    link, or goes on."""
    if not _FRAMED_TITLE.match(lines[i]):
        return False
    rest = [ln for ln in lines[i + 1 :] if ln.strip()]
    if not rest or len(rest) > _TAG_LINES or any(ln.lstrip().startswith(">") for ln in rest):
        return False
    return bool(_BARE_LINK.match(rest[-1]))


def drop_marking(text: str, whole: str) -> str:
    """`text` without a marking the body carries both as its first line and as its very
    last one, outside any quote (a label's header and footer): a short line the manager
    did not type twice, above the answer and under the quote. Nothing changes when the
    marking is all there is."""
    body = [ln.strip() for ln in whole.replace("\r\n", "\n").split("\n") if ln.strip()]
    if len(body) < 3 or body[0] != body[-1] or body[0].startswith(">"):
        return text
    mark = body[0]
    if len(mark.split()) > _MARKING_WORDS:
        return text
    lines = text.split("\n")
    if lines and lines[0].strip() == mark:
        del lines[0]
    if lines and lines[-1].strip() == mark:
        del lines[-1]
    kept = "\n".join(lines).strip("\n")
    return kept if kept.strip() else text
