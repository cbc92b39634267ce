"""The parts of a manager's reply email (replies.extract reads them): its leaves in order,
a text part decoded whatever its declared charset, a text's lines that only name one of
its files, and what is wrong with a part's transfer encoding (transfer_encoding.py)."""

from __future__ import annotations

import re
from email.message import Message

from . import transfer_encoding


def decode(part: Message) -> str:
    """A text part's content: its declared charset, else UTF-8, else windows-1251; never
    an exception (broken MIME gives what can be read)."""
    charset = part.get_param("charset")
    if charset and hasattr(part, "get_content"):
        try:
            content = part.get_content()
            if isinstance(content, str):
                return content
        except (LookupError, UnicodeError, ValueError, AssertionError, KeyError):
            pass
    raw = part.get_payload(decode=True)
    if raw is None:
        payload = part.get_payload()
        return payload if isinstance(payload, str) else ""
    for enc in ([str(charset)] if charset else []) + ["utf-8", "windows-1251"]:
        try:
            return raw.decode(enc)
        except (LookupError, UnicodeError):
            continue
    return raw.decode("utf-8", errors="replace")


def is_attachment(part: Message) -> bool:
    return (part.get_content_disposition() or "") == "attachment"


def leaves(msg: Message) -> list[Message]:
    """The parts of `msg` that are no multipart, in order."""
    out: list[Message] = []
    stack = [msg]
    while stack:
        part = stack.pop(0)
        if part.get_content_maintype() == "multipart" and part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, list):
                stack[0:0] = [p for p in payload if isinstance(p, Message)]
            continue
        out.append(part)
    return out


_BRACKETED = re.compile(r"^[ \t]*<[^<>\n]+>[ \t]*$", re.M)


def blank_file_names(text: str, parts: list[Message]) -> str:
    """`text` with a line that only names a file of this message in angle brackets
    ("<logo.png>", "<IMG_0412.jpeg>") left blank: where a client (Apple Mail) marks in
    the text/plain alternative a picture or file its HTML shows. The file itself goes as
    an attachment (or stays out, a signature's); its name is no word of the manager's.
    Blank, not gone: the line numbers stay as they were counted."""
    if not _BRACKETED.search(text):  # before the parts' headers: parsing them costs
        return text
    names = {f"<{name.strip()}>" for part in parts if (name := part.get_filename())}
    return "\n".join("" if line.strip() in names else line for line in text.split("\n"))


def problems(part: Message | None) -> list[str]:
    """What is wrong with the part's transfer encoding, as a list of none or one."""
    if part is None or part.is_multipart():
        return []
    why = transfer_encoding.problem(part)
    return [why] if why else []


_QUOTED_LINE = re.compile(r"^[ \t]*>", re.M)


def continuation(first: Message, parts: list[Message]) -> tuple[str, bool]:
    """The rest of a text/plain body the client split around a file put in its middle
    (Apple Mail sends text, picture, text as parts of a multipart/mixed), when `first`
    holds no quote ("> " lines): the inline text/plain parts after it, each after a
    blank line, up to the one that holds the quote; (that text, False). With no quote
    in any, the texts that come after a file are joined but unsure, (text, True): the
    answer's rest, or a gateway's disclaimer part; the manager is asked. Texts right
    under `first`, no file between (a disclaimer appended), stay out: ("", False)."""
    start = next((n for n, part in enumerate(parts) if part is first), None)
    if start is None or _QUOTED_LINE.search(decode(first)):
        return "", False
    rest: list[str] = []
    after_file = unsure = False
    for part in parts[start + 1 :]:
        if part.get_content_maintype() != "text":
            after_file = True
            continue
        if part.get_content_type() != "text/plain" or is_attachment(part) or part.get_filename():
            continue
        rest.append(decode(part))
        if _QUOTED_LINE.search(rest[-1]):
            return "".join(f"\n\n{text}" for text in rest), False
        unsure = unsure or after_file
    return ("".join(f"\n\n{text}" for text in rest), True) if unsure else ("", False)
