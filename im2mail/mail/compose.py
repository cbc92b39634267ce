"""Chat → email, the words: what the managers' email about a customer's message says.

Pure functions: builder.py passes in the conversation, the message(s), the files (bytes or
links) and the channel's title; the headers, the MIME parts and the bytes are builder.py's.

- Text and HTML alternatives; JPEG/PNG/GIF pictures inline; other files attached; what
  doesn't fit goes as a link, or as a line saying why it is missing (`place`).
- Every customer value is cut to fit and rid of control characters (`clean`); the HTML
  escapes it (html_body.py).

The other emails' words (notices.py, reminders.py, abuse.py) are made of the same parts:
`Content`, `clean`, `plain_text`, `subject`.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta

from ..model import KIND_LABELS, Conversation, Customer, Message
from .html_body import Image, Line, chat_html

MiB = 1024 * 1024
INLINE_IMAGES = frozenset({"image/jpeg", "image/png", "image/gif"})  # every client shows these
NO_PUBLIC_URL = (
    "couldn't be attached (too big) and there is no download link: "
    "set relay.public_url in config.toml to get download links"
)


@dataclass(frozen=True)
class FilePart:
    """A file of the message, as the relay has it.

    Give `data` when the bytes are at hand and `link` (a signed /f/ URL) when
    relay.public_url is set; the email attaches what fits the limits and links the rest.
    A file with neither is named with its size and the reason: `note` when the caller
    knows it (say, the platform's own download limit), else the relay.public_url hint.
    """

    filename: str
    mime: str
    size: int
    data: bytes | None = None
    link: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class Placed:
    """A file as the email carries it."""

    file: FilePart
    name: str  # safe to show and to put in a header
    line: Line  # what the body says about it
    how: str  # "inline" (a picture in the body), "attached", "link" or "missing"
    cid: str = ""  # Content-ID of an inline picture, without <>
    mime: str = "application/octet-stream"  # the checked type it is sent as


@dataclass(frozen=True)
class Content:
    """What an email says: its text and HTML alternatives, and the files it carries."""

    plain: str
    html: str
    files: Sequence[Placed] = ()


def channel_title(channel: str, titles: Mapping[str, str]) -> str:
    """The channel as people write it ("Telegram", "WhatsApp"), from the channels' own
    titles; a channel without one is capitalised."""
    return titles.get(channel) or channel.title()


def subject(conversation: Conversation, channel: str) -> str:
    """`[Telegram] Олена Петренко #42`: the same for every email of the conversation
    (`channel`: the channel's title)."""
    customer = conversation.customer
    return f"[{channel}] {clean(customer.display_name)} #{conversation.id}"


def message(
    parts: Sequence[Message],
    conversation: Conversation,
    *,
    channel: str,
    title: str,
    placed: Sequence[Placed] = (),
    window: timedelta | None = None,
    edited: bool = False,
    transcript: str | None = None,
) -> Content:
    """The words of the email for one customer message, or an album (`parts`, in order):
    `channel` is the channel's title, `title` the email's subject (the HTML's title),
    `placed` the files as `place` put them. `window`: how long after their last message
    the customer can still be answered (Meta's channels), said as "reply by". `edited`:
    the part is a new version of an earlier message; the email says "(edited)".
    `transcript`: a link to the whole conversation as a web page."""
    if not parts:
        raise ValueError("an email needs at least one message")
    customer = conversation.customer
    texts = _texts(parts, has_files=bool(placed))
    name, details = clean(customer.display_name), _details(customer, channel)
    if window is not None:
        closes = parts[-1].created.astimezone(UTC) + window
        details.append(f"reply by {closes:%a %d %b %H:%M} UTC")
    footer = f"Reply to this email to answer in {channel}."
    file_lines = [
        p.line.text + (f"; download: {p.line.link}" if p.line.link else "") for p in placed
    ]
    shown = ["(edited) " + (texts[0] if texts else ""), *texts[1:]] if edited else texts
    links = [f"The whole conversation: {transcript}"] if transcript else []
    plain = plain_text(
        [name, " · ".join(details)], *([t] for t in shown), file_lines, ["-- ", footer, *links]
    )
    html = chat_html(
        title=title,
        name=name,
        details=details,
        texts=texts,
        edited=edited,
        images=[Image(p.cid, p.name) for p in placed if p.how == "inline"],
        files=[p.line for p in placed if p.how != "inline"],
        footer=footer,
        transcript=transcript,
    )
    return Content(plain, html, placed)


def clean(text: str, limit: int = 80) -> str:
    """Text fit for a header: control and format characters (newlines, bidi overrides)
    become spaces, runs of spaces one, and it is cut to `limit` characters."""
    if not text.isprintable():  # else it has none of them (the usual case: skip the walk)
        chars = (" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in text)
        text = "".join(chars)
    cleaned = " ".join(text.split())
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


def _details(customer: Customer, channel: str) -> list[str]:
    """The line under the name: channel, @username, phone, lead source, when known."""
    details = [channel]
    if customer.username and customer.display_name != f"@{customer.username}":
        details.append(f"@{clean(customer.username)}")
    if customer.phone:
        details.append(clean(customer.phone))
    if customer.source:
        details.append(f"source: {clean(customer.source)}")
    return details


# -- files ---------------------------------------------------------------------------------


def place(
    files: Sequence[FilePart],
    *,
    max_attachment_bytes: int,
    max_total_bytes: int,
    message_id: str,
    domain: str,
) -> list[Placed]:
    """Attach what fits the per-file and per-email limits, in order; link or explain the
    rest. A file that may be attached always can be: the email's budget is never less
    than max_attachment_bytes."""
    placed = []
    budget = max(max_total_bytes, max_attachment_bytes)
    # Short Content-IDs (a long one gets folded, which some clients misread), unique per email
    tag = hashlib.sha256(message_id.encode()).hexdigest()[:12]
    for index, file in enumerate(files):
        name = _filename(file)
        size = len(file.data) if file.data is not None else file.size
        label = f"{name} ({human_size(size)})"
        mime = _mime(file.mime)
        if file.data is not None and size <= min(max_attachment_bytes, budget):
            budget -= size
            if mime in INLINE_IMAGES:
                cid = f"part{index + 1}.{tag}@{domain}"
                placed.append(Placed(file, name, Line(f"Picture: {label}"), "inline", cid, mime))
            else:
                placed.append(Placed(file, name, Line(f"Attached: {label}"), "attached", "", mime))
        elif file.link:
            line = Line(f"{label} — too big to attach", file.link)
            placed.append(Placed(file, name, line, "link", "", mime))
        else:
            why = clean(file.note, 300) if file.note else NO_PUBLIC_URL
            placed.append(Placed(file, name, Line(f"{label} — {why}"), "missing", "", mime))
    return placed


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
