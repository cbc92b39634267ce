"""The parts of a manager's reply email (replies.extract reads them): its leaves in order,
a text part decoded whatever its declared charset (charsets.py) and without invisible
characters (invisible.py), a body split by its client into several text parts, the mail
inside a gateway's wrapper, a text's lines that only name one of its files, and what is
wrong with a part's transfer encoding (transfer_encoding.py)."""

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


def body_text(part: Message, message: Message) -> str:
    """The decoded text of `part` and of the text parts its client split the body into:
    in a multipart/mixed, Apple Mail (plain text format) sends the text, a file placed in
    it (disposition inline), and the text after the file as the next text/plain part.
    Such a following part is joined only when a file stands between it and the text
    (RFC 2046 §5.1.3: inline parts of a mixed are shown one after the other)."""
    text = decode(part)
    parent = _parent(message, part) if message.is_multipart() else None
    if parent is None or not _raw(parent, "content-type").lower().startswith("multipart/mixed"):
        return text
    siblings = parent.get_payload()
    after, placed = siblings[siblings.index(part) + 1 :], False
    for sibling in after:
        if _is_body_text(sibling, part.get_content_type()):
            if not placed:
                break
            text += decode(sibling)
            placed = False
        elif sibling.get_filename() and not is_attachment(sibling):
            placed = True  # a file shown where it sits in the text
        else:
            break
    return text


def _is_body_text(part: Message, kind: str) -> bool:
    return part.get_content_type() == kind and not part.get_filename() and not is_attachment(part)


def _parent(message: Message, target: Message) -> Message | None:
    stack = [message]
    while stack:
        part = stack.pop()
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list):
            if any(p is target for p in payload):
                return part
            stack.extend(p for p in payload if isinstance(p, Message))
    return None


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
