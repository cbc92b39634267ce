"""Chat → email: the email the managers get for a customer's message.

Pure functions: the relay passes in the conversation, the message(s), the files (bytes or
links) and the conversation's earlier messages; nothing here touches archive or network.

- From `"Олена Петренко via Telegram" <orders@shop.example>`, Reply-To the same name at
  `orders+<token>@shop.example`, so "Reply" goes back to the chat. Subject
  `[Telegram] Олена Петренко #42` for every email of a conversation, and In-Reply-To /
  References chaining its earlier emails (ours and the managers' replies): Gmail,
  Thunderbird and Apple Mail thread on these; Outlook also on Thread-Topic/Thread-Index.
- Text and HTML alternatives; JPEG/PNG/GIF pictures inline; other files attached; what
  doesn't fit goes as a link, or as a line saying why it is missing.
- Non-ASCII names, subjects and file names are encoded per RFC 2047 / RFC 2231, bodies as
  base64 or quoted-printable: `as_bytes()` is 7-bit with CRLF line ends, as SMTP wants.

The notices im2mail itself writes to managers (mail/notices.py) are built from the same
parts: `thread_headers`, `plain_text`, `set_body`.

Thread-Index, as Outlook writes it (MS-OXOMSG 2.2.1.3 PidTagConversationIndex, read the
way Microsoft's MFCMAPI and libpst decode it), is base64 of
- a 22-byte header: the 6 high bytes, big-endian, of the FILETIME (100 ns ticks since
  1601-01-01 UTC) when the conversation began (the first byte is the 0x01 the spec calls
  reserved, for any date before 2057), then a 16-byte GUID: uuid5 of the conversation's
  routing token, the same for all its emails;
- a 5-byte child block per email since: 1 bit DeltaCode, 31 bits TimeDelta (the email's
  time minus the header time, >> 18; or >> 23 with DeltaCode 1 beyond ~1.7 years), and
  a byte of random/sequence nibbles, here from the email's Message-ID so a resend is
  byte-identical. So email n starts with email n-1's Thread-Index and adds 5 bytes.
"""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.utils import make_msgid

from ..model import KIND_LABELS, Conversation, Customer, Message
from .html_body import Image, Line, chat_html

MiB = 1024 * 1024
MAX_REFERENCES = 20  # References keeps the first email and the newest others
MAX_THREAD_CHILDREN = 40  # beyond this, later emails share the last level
INLINE_IMAGES = frozenset({"image/jpeg", "image/png", "image/gif"})  # every client shows these
NO_PUBLIC_URL = (
    "couldn't be attached (too big) and there is no download link: "
    "set relay.public_url in config.toml to get download links"
)

# 7bit: bodies become base64 or quoted-printable, whichever is shorter; SMTP: CRLF.
POLICY = policy.SMTP.clone(cte_type="7bit")

_THREAD_GUID_NAMESPACE = uuid.UUID("7d6c3f0e-5b1a-4f3e-9a57-1c2b3d4e5f60")
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class MailSettings:
    """What compose needs from config.toml's [mail]."""

    mailbox: str  # mail.address: the From address, and Reply-To with +token
    managers: tuple[str, ...]  # To
    max_attachment_bytes: int = 10 * MiB  # per file; bigger files go as links
    max_total_bytes: int = 18 * MiB  # all files of one email (Gmail takes 25 MB encoded),
    # but never less than max_attachment_bytes: a file that may be attached always can be
    # What mail knows of the messengers, handed in as data (mail never imports channels;
    # the relay reads the channel registry): each one's title ("telegram" -> "Telegram"),
    # and how long after a customer's last message a reply may go, where that is limited.
    titles: Mapping[str, str] = field(default_factory=dict)
    reply_windows: Mapping[str, timedelta] = field(default_factory=dict)

    def title(self, channel: str) -> str:
        """The channel as people write it: "Telegram", "WhatsApp"."""
        return self.titles.get(channel) or channel.title()


@dataclass(frozen=True)
class FilePart:
    """A file of the message, as the relay has it.

    Give `data` when the bytes are at hand and `link` (a signed /f/ URL) when
    relay.public_url is set; compose attaches what fits the limits and links the rest.
    A file with neither is named with its size and the reason: `note` when the caller
    knows it (say, the platform's own download limit), else the relay.public_url hint.
    """

    filename: str
    mime: str
    size: int
    data: bytes | None = None
    link: str | None = None
    note: str | None = None


def new_message_id(mailbox: str) -> str:
    """A fresh Message-ID on the mailbox's domain: `<…im2mail@shop.example>`."""
    return make_msgid(idstring="im2mail", domain=_split(mailbox)[1])


def subject(conversation: Conversation, channel_title: str) -> str:
    """`[Telegram] Олена Петренко #42`: the same for every email of the conversation."""
    customer = conversation.customer
    return f"[{channel_title}] {clean(customer.display_name)} #{conversation.id}"


def compose(
    parts: Sequence[Message],
    conversation: Conversation,
    *,
    settings: MailSettings,
    message_id: str,
    history: Sequence[Message] = (),
    files: Sequence[FilePart] = (),
    edited: bool = False,
    transcript: str | None = None,
) -> EmailMessage:
    """The email for one customer message, or for an album (several `parts` sharing a
    media_group_id, in order), to the managers.

    `message_id` was fixed when the outbox row was made (`new_message_id`), so a resend
    is the same email. `history` is the conversation's earlier messages, oldest first;
    those with an `email_message_id` (our emails and the managers' replies) are the thread
    this email continues. `edited`: the part is a new version of an earlier message (a
    Telegram `edited_message`); the email says "(edited)". `transcript`: a link to the
    whole conversation as a web page (for a manager who joins late).
    """
    if not parts:
        raise ValueError("compose needs at least one message")
    customer = conversation.customer
    to = [Address(addr_spec=a) for a in settings.managers]
    title = settings.title(customer.channel)
    sender = _from(customer, settings.mailbox, title)
    msg = thread_headers(conversation, settings, sender, to, message_id, history, parts[0].created)

    placed = _place(files, settings, message_id)
    texts = _texts(parts, has_files=bool(files))
    name, details = clean(customer.display_name), _details(customer, title)
    window = settings.reply_windows.get(customer.channel)
    if window is not None:
        closes = parts[-1].created.astimezone(UTC) + window
        details.append(f"reply by {closes:%a %d %b %H:%M} UTC")
    footer = f"Reply to this email to answer in {title}."
    file_lines = [
        p.line.text + (f"; download: {p.line.link}" if p.line.link else "") for p in placed
    ]
    shown = ["(edited) " + (texts[0] if texts else ""), *texts[1:]] if edited else texts
    links = [f"The whole conversation: {transcript}"] if transcript else []
    plain = plain_text(
        [name, " · ".join(details)], *([t] for t in shown), file_lines, ["-- ", footer, *links]
    )
    html = chat_html(
        title=msg["Subject"],
        name=name,
        details=details,
        texts=texts,
        edited=edited,
        images=[Image(p.cid, p.name) for p in placed if p.how == "inline"],
        files=[p.line for p in placed if p.how != "inline"],
        footer=footer,
        transcript=transcript,
    )
    set_body(msg, plain, html, placed)
    return msg


# -- headers -------------------------------------------------------------------------------


def thread_headers(
    conversation: Conversation,
    settings: MailSettings,
    sender: Address,
    to: Sequence[Address],
    message_id: str,
    history: Sequence[Message],
    date: datetime,
) -> EmailMessage:
    """The headers every email of a conversation has: From `sender`, To `to`, the
    conversation's Subject and +token Reply-To, and threading after the emails of `history`."""
    earlier = _earlier(history, exclude=message_id)
    started = conversation.created or (earlier[0][1] if earlier else date)
    msg = EmailMessage(policy=POLICY)
    msg["From"] = sender
    msg["To"] = to
    title = settings.title(conversation.customer.channel)
    topic = subject(conversation, title)
    msg["Subject"] = topic
    local, domain = _split(settings.mailbox)
    reply_to = f"{local}+{conversation.token}@{domain}"
    msg["Reply-To"] = _from(conversation.customer, reply_to, title)
    msg["Date"] = date
    msg["Message-ID"] = message_id
    if earlier:
        msg["In-Reply-To"] = earlier[-1][0]
        msg["References"] = " ".join(_capped([m for m, _ in earlier]))
    msg["Thread-Topic"] = topic
    key = conversation.thread_key or conversation.token
    msg["Thread-Index"] = thread_index(key, started, [*earlier, (message_id, date)])
    msg["X-Im2mail-Conversation"] = str(conversation.id)
    msg["X-Auto-Response-Suppress"] = "OOF, AutoReply"  # Exchange: no out-of-office to us
    return msg


def _earlier(history: Sequence[Message], exclude: str) -> list[tuple[str, datetime]]:
    """(Message-ID, time) of each earlier email, once each (an album's parts share one)."""
    seen, out = {exclude}, []
    for message in history:
        mid = message.email_message_id
        if mid and mid not in seen:
            seen.add(mid)
            out.append((mid, message.created))
    return out


def _capped(ids: list[str]) -> list[str]:
    """References as RFC 5322 §3.6.4 suggests trimming: the first and the newest ones."""
    return ids if len(ids) <= MAX_REFERENCES else [ids[0], *ids[-(MAX_REFERENCES - 1) :]]


def thread_index(token: str, started: datetime, emails: Sequence[tuple[str, datetime]]) -> str:
    """Outlook's Thread-Index for the last of `emails` ((Message-ID, time), oldest first)
    in the conversation with this routing token that began at `started`."""
    header_time = _filetime(started) >> 16
    guid = uuid.uuid5(_THREAD_GUID_NAMESPACE, token)
    blocks = [header_time.to_bytes(6, "big"), guid.bytes]
    chosen = list(emails)
    if len(chosen) > MAX_THREAD_CHILDREN:
        chosen = [*chosen[: MAX_THREAD_CHILDREN - 1], chosen[-1]]
    for mid, when in chosen:
        delta = max(0, _filetime(when) - (header_time << 16))
        word = delta >> 18 if delta < 1 << 49 else 1 << 31 | min(delta >> 23, (1 << 31) - 1)
        blocks.append(word.to_bytes(4, "big") + hashlib.sha256(mid.encode()).digest()[:1])
    return base64.b64encode(b"".join(blocks)).decode("ascii")


def _filetime(moment: datetime) -> int:
    delta = moment - _FILETIME_EPOCH
    return (delta.days * 86400 + delta.seconds) * 10**7 + delta.microseconds * 10


def _from(customer: Customer, address: str, channel_title: str) -> Address:
    name = f"{clean(customer.display_name)} via {channel_title}"
    return Address(display_name=name, addr_spec=address)


def _split(mailbox: str) -> tuple[str, str]:
    local, at, domain = mailbox.strip().rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"not a mail address: {mailbox!r}")
    return local, domain


def clean(text: str, limit: int = 80) -> str:
    """Text fit for a header: control and format characters (newlines, bidi overrides)
    become spaces, runs of spaces one, and it is cut to `limit` characters."""
    chars = (" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in text)
    cleaned = " ".join("".join(chars).split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def _texts(parts: Sequence[Message], *, has_files: bool) -> list[str]:
    """Each part's text; a part without text says what it is ("(voice message)"), except
    a photo or document whose file the email already shows."""
    texts = []
    for part in parts:
        text = part.text.strip()
        if not text and not (has_files and part.kind in ("photo", "document")):
            text = f"({KIND_LABELS.get(part.kind, part.kind)})"
        texts.append(text)
    return [t for t in texts if t]


def plain_text(*paragraphs: Sequence[str]) -> str:
    """Paragraphs of lines, a blank line between them, empty ones left out."""
    return "\n\n".join("\n".join(p) for p in paragraphs if p) + "\n"


def _details(customer: Customer, channel_title: str) -> list[str]:
    """The line under the name: channel, @username, phone, lead source, when known."""
    details = [channel_title]
    if customer.username and customer.display_name != f"@{customer.username}":
        details.append(f"@{clean(customer.username)}")
    if customer.phone:
        details.append(clean(customer.phone))
    if customer.source:
        details.append(f"source: {clean(customer.source)}")
    return details


# -- files and body ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Placed:
    file: FilePart
    name: str  # safe to show and to put in a header
    line: Line  # what the body says about it
    how: str  # "inline" (a picture in the body), "attached", "link" or "missing"
    cid: str = ""  # Content-ID of an inline picture, without <>


def _place(files: Sequence[FilePart], settings: MailSettings, message_id: str) -> list[_Placed]:
    """Attach what fits the per-file and per-email limits, in order; link or explain the rest."""
    placed = []
    budget = max(settings.max_total_bytes, settings.max_attachment_bytes)
    # Short Content-IDs (a long one gets folded, which some clients misread), unique per email
    tag, domain = hashlib.sha256(message_id.encode()).hexdigest()[:12], _split(settings.mailbox)[1]
    for index, file in enumerate(files):
        name = _filename(file)
        size = len(file.data) if file.data is not None else file.size
        label = f"{name} ({human_size(size)})"
        if file.data is not None and size <= min(settings.max_attachment_bytes, budget):
            budget -= size
            if _mime(file.mime) in INLINE_IMAGES:
                cid = f"part{index + 1}.{tag}@{domain}"
                placed.append(_Placed(file, name, Line(f"Picture: {label}"), "inline", cid))
            else:
                placed.append(_Placed(file, name, Line(f"Attached: {label}"), "attached"))
        elif file.link:
            line = Line(f"{label} — too big to attach", file.link)
            placed.append(_Placed(file, name, line, "link"))
        else:
            why = clean(file.note, 300) if file.note else NO_PUBLIC_URL
            placed.append(_Placed(file, name, Line(f"{label} — {why}"), "missing"))
    return placed


def set_body(msg: EmailMessage, plain: str, html: str, placed: Sequence[_Placed] = ()) -> None:
    """multipart/alternative (text, HTML); with pictures, that inside a multipart/related
    (Outlook's layout: text-only clients still list the pictures); files make it mixed."""
    inline = [p for p in placed if p.how == "inline"]
    if not inline:
        msg.set_content(plain)
        msg.add_alternative(html, subtype="html")
    else:
        alternative = MIMEPart(policy=POLICY)
        alternative.set_content(plain)
        alternative.add_alternative(html, subtype="html")
        msg.make_related()
        msg.set_param("type", "multipart/alternative")  # RFC 2387: the root part's type
        msg.attach(alternative)
        for p in inline:
            kind = _mime(p.file.mime).split("/")
            msg.add_related(
                p.file.data, *kind, cid=f"<{p.cid}>", filename=p.name, disposition="inline"
            )
    for p in placed:
        if p.how == "attached":
            msg.add_attachment(p.file.data, *_mime(p.file.mime).split("/"), filename=p.name)
    for part in msg.walk():
        del part["MIME-Version"]  # the stdlib puts one on some parts, none on others
        if part.get_filename():
            part.set_param("name", part.get_filename())  # older clients read this one
    msg["MIME-Version"] = "1.0"


_MIME = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")


def _mime(mime: str) -> str:
    """The type as given when it is a plain leaf type, else application/octet-stream."""
    mime = mime.strip().lower()
    if not _MIME.match(mime) or mime.startswith(("multipart/", "message/")):
        return "application/octet-stream"
    return mime


def _filename(file: FilePart) -> str:
    """The customer's file name without any path, control characters or leading dots."""
    name = clean(file.filename.replace("\\", "/").rsplit("/", 1)[-1], 120).lstrip(". ")
    return name or "file"


def human_size(size: int) -> str:
    """245 KB, 12.3 MB: as file managers show sizes (1024-based)."""
    if size < 1024:
        return f"{size} B"
    return f"{size / 1024:.0f} KB" if size < MiB else f"{size / MiB:.1f} MB"
