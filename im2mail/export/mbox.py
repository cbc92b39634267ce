"""Conversations as an mbox file: one RFC 5322 message per chat message, threaded per
conversation (Message-ID, In-Reply-To, References), with the attachments.

Built as text, not with email.message.EmailMessage: the email package takes about 1.4 ms
a message (~700/s), an archive of a million messages would take half an hour. The format
written here is simple and fixed, so it is written directly: headers in RFC 2047 encoded
words where they are not ASCII, an 8bit UTF-8 body (base64 when a line is too long for
SMTP's 998), files as base64 parts of a multipart/mixed. Lines end in LF, as mbox files
do; a body line starting with "From " (after any ">") gets one more ">" (mboxrd).
Tests read the result back with Python's mailbox and email packages, and with notmuch.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from ..archive import Archive
from ..channels import title
from ..mail.compose import subject
from ..model import KIND_LABELS, Attachment, Conversation, Message
from ..untrusted import file_name, mime_type
from .select import Progress, Selection, file_bytes, stream

HOST = "archive.im2mail.invalid"  # Message-IDs and the customers' stand-in addresses
MAX_REFERENCES = 10
MAX_LINE = 998
ZERO = timedelta(0)
_FROM_LINE = re.compile(r"^(>*From )", re.MULTILINE)

FileReader = Callable[[Attachment], bytes | None]


def write(
    archive: Archive, selection: Selection, path: Path, progress: Progress,
    *, versions: bool = False,
) -> int:  # fmt: skip
    """Write the selection to `path`; returns the number of messages written. An edited
    message is its latest text, marked "(edited)" (and X-Im2mail-Edited), with its earlier
    texts under it with `versions`; reactions close the text."""
    read = functools.partial(file_bytes, archive)
    written = 0
    found = stream(archive, selection.conversations, selection.everything, selection.people)
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for conversation, chat in found:
            members = {c.id: c for c in selection.people.get(conversation.id, ())}
            count = _conversation(out, conversation, chat, read, members, versions)
            written += count
            progress(count)
    return written


def _conversation(
    out,
    conversation: Conversation,
    found: Iterable[Message],
    read: FileReader,
    members: Mapping[int, Conversation] | None = None,
    versions: bool = False,
) -> int:
    """One thread: a conversation's messages, or (`members`: a linked person's
    conversations by id) the person's, each from and to its own customer and bot, with its
    own X-Im2mail-Channel and X-Im2mail-Conversation; `versions`: edited messages' earlier
    texts under them."""
    ids: list[str] = []
    topic = header_text(subject(conversation, title(conversation.channel)))
    count = 0
    parties: dict[int, tuple[str, str]] = {}  # conversation -> its customer, its bot
    for message in found:
        own = (members or {}).get(message.conversation_id, conversation)
        if own.id not in parties:
            parties[own.id] = _parties(own)
        them, shop = parties[own.id]
        mid = f"<{message.id}.{conversation.id}@{HOST}>"
        if message.direction == "in":
            sender, to = them, shop
        elif "@" in message.author:
            sender, to = _address("", message.author), them
        else:
            sender, to = _address(message.author, f"{own.bot}@{HOST}"), them
        head = [
            f"From {sender_of(message)} {_ctime(message)}",
            f"From: {sender}",
            f"To: {to}",
            f"Date: {_rfc5322_date(message.created)}",
            f"Subject: {topic}",
            f"Message-ID: {mid}",
        ]
        if ids:
            head.append(f"In-Reply-To: {ids[-1]}")
            refs = ids if len(ids) <= MAX_REFERENCES else [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
            head.append("References: " + "\n ".join(refs))
        head += [
            f"X-Im2mail-Conversation: {own.id}",
            f"X-Im2mail-Direction: {message.direction}",
            f"X-Im2mail-Channel: {own.channel}",
            "MIME-Version: 1.0",
        ]
        if message.deleted:  # reported deleted in the chat; the archive keeps it
            head.insert(-1, f"X-Im2mail-Deleted: {_rfc5322_date(message.deleted)}")
        if message.edited:
            when = message.edited_at or message.created
            head.insert(-1, f"X-Im2mail-Edited: {_rfc5322_date(when)}")
        out.write("\n".join(head))
        out.write("\n")
        out.write(_body(message, read, versions))
        out.write("\n")
        ids.append(mid)
        count += 1
    return count


def _parties(conversation: Conversation) -> tuple[str, str]:
    """The customer's and the bot's addresses in a conversation's emails."""
    customer, channel = conversation.customer, title(conversation.channel)
    them = _address(customer.display_name, f"{customer.channel}.{customer.external_id}@{HOST}")
    return them, _address(f"{conversation.bot} ({channel} bot)", f"{conversation.bot}@{HOST}")


def sender_of(message: Message) -> str:
    """The envelope sender on the mbox "From " line (no spaces allowed)."""
    author = message.author
    if "@" not in author or not author.isprintable() or " " in author:
        return "im2mail"
    return author


# Dates by hand, from the fields: strftime and email.utils.format_datetime cost more than
# the rest of a message together. Times come from the archive in UTC.
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _utc(moment: datetime) -> datetime:
    return moment if moment.utcoffset() == ZERO else moment.astimezone(UTC)


def _rfc5322_date(moment: datetime) -> str:
    d = _utc(moment)
    return (f"{_DAYS[d.weekday()]}, {d.day:02d} {_MONTHS[d.month - 1]} {d.year:04d} "
            f"{d.hour:02d}:{d.minute:02d}:{d.second:02d} +0000")  # fmt: skip


def _ctime(message: Message) -> str:
    """The date on the "From " line, as asctime() writes it."""
    d = _utc(message.created)
    return (f"{_DAYS[d.weekday()]} {_MONTHS[d.month - 1]} {d.day:2d} "
            f"{d.hour:02d}:{d.minute:02d}:{d.second:02d} {d.year:04d}")  # fmt: skip


def _body(message: Message, read: FileReader, versions: bool = False) -> str:
    text = message.text
    if not text.strip():
        text = f"({KIND_LABELS.get(message.kind, message.kind)})" if not message.attachments else ""
    text = _changes(message, text, versions)
    found = [(a, read(a)) for a in message.attachments]
    missing = [a for a, data in found if data is None]
    if missing:
        text += "".join(
            f"\n[file not kept: {file_name(a.filename) or 'file'}, {a.size} bytes]" for a in missing
        )
    files = [(a, data) for a, data in found if data is not None]
    if not files:
        return _text_part(text) + "\n"
    boundary = f"=_im2mail_{message.id}_{len(files)}"
    parts = [
        f'Content-Type: multipart/mixed; boundary="{boundary}"\n\n',
        f"--{boundary}\n",
        _text_part(text),
    ]
    for attachment, data in files:
        parts.append(f"\n--{boundary}\n")
        parts.append(_file_part(attachment, data))
    parts.append(f"\n--{boundary}--\n")
    return "".join(parts)


def _changes(message: Message, text: str, versions: bool) -> str:
    """The text with what changed around it: "(edited) " before an edited message's text
    (its earlier texts after it, with `versions`), the reactions on it after."""
    if message.edited:
        text = f"(edited) {text}"
        if versions and message.versions:
            was = [f"[{_rfc5322_date(v.created)}]\n{v.text}" for v in message.versions]
            text += "\n\nEarlier versions:\n" + "\n\n".join(was)
    if message.reactions:
        shown = ", ".join(f"{r.emoji} {r.author}" for r in message.reactions)
        text += f"\n\nReactions: {shown}"
    return text


def _text_part(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.isascii() and all(len(line) <= MAX_LINE for line in text.split("\n")):
        return f"Content-Type: text/plain; charset=us-ascii\n\n{_escape(text)}\n"
    if max((len(line.encode()) for line in text.split("\n")), default=0) <= MAX_LINE:
        return (
            "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
            f"{_escape(text)}\n"
        )
    encoded = base64.encodebytes(text.encode()).decode("ascii")
    return (
        f"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n{encoded}"
    )


def _file_part(attachment: Attachment, data: bytes) -> str:
    return (
        f"Content-Type: {mime_type(attachment.mime)}\n"
        f"Content-Disposition: attachment;{disposition_name(attachment.filename)}\n"
        "Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(data).decode("ascii")
    )


_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._()+,-]{0,59}")
_SECTION = 54  # characters of a percent-encoded name per line: lines stay under 78


def disposition_name(name: str) -> str:
    """The filename parameter: a plain name quoted, any other in RFC 2231's encoding
    (UTF-8, percent-escaped, in numbered sections on lines of their own when long). Only
    ASCII letters, digits and "%" come out of the escaping, so no name — with a CR/LF, a
    quote, a "From " line or 300 bytes of emoji — can end the header or the message."""
    name = file_name(name) or "file"
    if _PLAIN_NAME.fullmatch(name):
        return f' filename="{name}"'
    encoded = quote(name, safe="")
    if len(encoded) <= _SECTION:
        return f" filename*=utf-8''{encoded}"
    sections, start = [], 0
    while start < len(encoded):
        end = min(start + _SECTION, len(encoded))
        while "%" in encoded[end - 2 : end] and end < len(encoded):
            end -= 1  # never split a %XX escape
        sections.append(encoded[start:end])
        start = end
    head = f"\n filename*0*=utf-8''{sections[0]}"
    return head + "".join(f";\n filename*{n}*={part}" for n, part in enumerate(sections[1:], 1))


def _escape(text: str) -> str:
    """mboxrd: a line that would read as a message separator gets one more ">"."""
    return _FROM_LINE.sub(r">\1", text) if "From " in text else text


# -- headers -------------------------------------------------------------------------------


def header_text(value: str) -> str:
    """A header value as ASCII: as is when it is, else RFC 2047 encoded words (UTF-8,
    base64), each under 76 characters, split between characters."""
    value = " ".join(value.split())  # no line breaks or tabs from user text
    if value.isascii():
        return value
    words, chunk = [], b""
    for char in value:
        data = char.encode()
        if len(chunk) + len(data) > 45:
            words.append(chunk)
            chunk = b""
        chunk += data
    words.append(chunk)
    return "\n ".join(f"=?utf-8?b?{base64.b64encode(w).decode('ascii')}?=" for w in words)


def _address(name: str, address: str) -> str:
    if not name:
        return f"<{address}>"
    if name.isascii():
        safe = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{" ".join(safe.split())}" <{address}>'
    return f"{header_text(name)} <{address}>"
