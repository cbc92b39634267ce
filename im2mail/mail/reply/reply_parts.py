"""The parts of a manager's reply email (replies.extract reads them): its leaves in order,
a text part decoded whatever its declared charset (charsets.py) and without invisible
characters (invisible.py), the rest of a body its client split around a file
(continuation), the mail inside a gateway's wrapper, a text's lines that only name one
of its files, and what is wrong with a part's transfer encoding (transfer_encoding.py)."""

from __future__ import annotations

import re
from email.message import Message

from . import charsets, enriched, invisible, transfer_encoding

_RICH = ("text/enriched", "text/richtext")


def decode(part: Message) -> str:
    """A text part's content, without invisible characters: its declared charset, unless
    the bytes can't be in it (then UTF-8, else windows-1251) or it is a Latin-1 label
    on other bytes (charsets.relabelled); never an exception (broken MIME gives what can
    be read). A text/enriched part comes as plain text."""
    text = _decoded(part)
    kind = _raw(part, "content-type").lower()  # cheaper than get_content_type()
    if kind.startswith(_RICH):
        text = enriched.to_text(text, richtext=kind.startswith("text/richtext"))
    return invisible.strip(text)


def _decoded(part: Message) -> str:
    charset = part.get_param("charset")
    if charset and hasattr(part, "get_content"):
        try:
            content = part.get_content()  # bytes the charset can't have come as U+FFFD
            if isinstance(content, str) and "\ufffd" not in content:
                if content.isascii() or not charsets.is_latin1(str(charset)):
                    return content
                raw = part.get_payload(decode=True)
                fixed = charsets.relabelled(raw, str(charset)) if raw else None
                return content if fixed is None else fixed
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


def rich_text(found: list[Message]) -> Message | None:
    """The first text/enriched (or text/richtext) part that is no attached file: the
    mail's text when it has neither text/plain nor HTML."""
    for part in found:
        if part.get_content_type() in _RICH and not is_attachment(part) and not part.get_filename():
            return part
    return None


def unwrapped(message: Message) -> Message:
    """The mail itself when a gateway wrapped it: a multipart/mixed whose message/rfc822
    part has the same Message-ID as the wrapper (a spam filter's report_safe, a
    scanner's "original message attached"). The wrapper's own text (a report) is no
    word of the manager's."""
    if not _raw(message, "content-type").lower().startswith("multipart/mixed"):
        return message
    payload = message.get_payload()
    for part in payload if isinstance(payload, list) else []:
        if part.get_content_type() == "message/rfc822" and part.is_multipart():
            inner = part.get_payload(0)
            own = _raw(message, "message-id")
            if isinstance(inner, Message) and own and _raw(inner, "message-id") == own:
                return unwrapped(inner)
    return message


def _raw(message: Message, header: str) -> str:
    """A header's raw value, stripped (the parsed header objects of policy.default cost
    ten times more)."""
    for name, value in message.raw_items():
        if name.lower() == header:
            return str(value).strip()
    return ""


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
