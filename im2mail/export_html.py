"""Conversations as web pages: one self-contained page per conversation (styles inside,
pictures inline as data: URIs, other files copied beside it under files/ and linked) and
an index.html listing them.

Everything a customer or manager wrote is untrusted. Jinja2 escapes every value; message
text is turned into HTML here (escaped, then web addresses made links) and then passed
through nh3 (the ammonia sanitizer) allowing only <a href="http(s)://…">, so nothing but a
plain link can come out of it. Each page also carries a Content-Security-Policy that
allows no script at all.
"""

from __future__ import annotations

import base64
import re
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from pathlib import Path
from urllib.parse import quote

import jinja2
import nh3
from markupsafe import Markup, escape

from .archive import Archive
from .db import now
from .export import Progress, Selection, messages
from .mail.compose import human_size, subject
from .model import CHANNEL_TITLES, KIND_LABELS, Attachment, Conversation, Message

INLINE_IMAGE_LIMIT = 5 * 1024 * 1024  # bigger pictures are linked, not embedded
INLINE_IMAGES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_URL = re.compile(r"\bhttps?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]»”’]")
_ALLOWED = {"a"}
_ATTRIBUTES = {"a": {"href"}}
_SCHEMES = {"http", "https"}


@dataclass(frozen=True)
class Row:
    id: int
    customer: str
    channel: str
    messages: int
    last: str
    href: str


def write(archive: Archive, selection: Selection, folder: Path, progress: Progress) -> int:
    """Write the pages into `folder` (an empty, new folder); returns the messages written."""
    env = _environment()
    page, index = env.get_template("conversation.html.j2"), env.get_template("index.html.j2")
    exported = now().astimezone().strftime("%Y-%m-%d %H:%M")
    files = folder / "files"
    rows, written = [], 0
    for conversation in selection.conversations:
        counter = _Counter(messages(archive, conversation.id))
        shown = (_shown(m, archive, files) for m in counter)
        days = ((day, list(items)) for day, items in groupby(shown, key=lambda s: s.day))
        name = f"conversation-{conversation.id}.html"
        with (folder / name).open("w", encoding="utf-8") as out:
            stream = page.generate(
                title=subject(conversation),
                conversation=conversation,
                customer=conversation.customer,
                details=_details(conversation),
                days=days,
                lang="uk",
                exported=exported,
            )
            out.writelines(stream)
        rows.append(Row(conversation.id, conversation.customer.display_name,
                        _channel(conversation), counter.count, counter.last, name))  # fmt: skip
        written += counter.count
        progress(counter.count)
    (folder / "index.html").write_text(
        index.render(rows=rows, total=written, exported=exported), encoding="utf-8"
    )
    return written


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("im2mail", "templates"),
        autoescape=True,  # every value, whatever the template's name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
    )


class _Counter:
    """Passes messages through, counting them and keeping the last one's time."""

    def __init__(self, found: Iterable[Message]) -> None:
        self._found = found
        self.count = 0
        self.last = ""

    def __iter__(self) -> Iterator[Message]:
        for message in self._found:
            self.count += 1
            self.last = _local(message.created).strftime("%Y-%m-%d %H:%M")
            yield message


@dataclass(frozen=True)
class _Shown:
    """One message as the page shows it."""

    id: int
    side: str  # customer | shop
    author: str
    text: Markup
    images: list[dict[str, str]]
    files: list[dict[str, str | None]]
    day: str
    time: str
    marks: str
    marks_title: str


def _shown(message: Message, archive: Archive, files: Path) -> _Shown:
    images, others = [], []
    for a in message.attachments:
        data = _read(archive, a)
        if data is not None and a.mime in INLINE_IMAGES and len(data) <= INLINE_IMAGE_LIMIT:
            encoded = base64.b64encode(data).decode("ascii")
            images.append({"src": f"data:{a.mime};base64,{encoded}", "name": a.filename})
        else:
            href = _copy(archive, a, files) if data is not None else None
            size = human_size(a.size) + ("" if data is not None else ", not kept")
            others.append({"name": a.filename, "href": href, "size": size})
    text = message.text
    if not text.strip() and not message.attachments:
        text = f"({KIND_LABELS.get(message.kind, message.kind)})"
    local = _local(message.created)
    marks, title = _marks(message)
    return _Shown(
        id=message.id or 0,
        side="customer" if message.direction == "in" else "shop",
        author=message.author,
        text=message_html(text),
        images=images,
        files=others,
        day=local.strftime("%Y-%m-%d"),
        time=local.strftime("%H:%M"),
        marks=marks,
        marks_title=title,
    )


def message_html(text: str) -> Markup:
    """Message text as safe HTML: escaped, web addresses as links, then sanitized."""
    escaped = str(escape(text.strip()))
    linked = _URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)
    clean = nh3.clean(
        linked, tags=_ALLOWED, attributes=_ATTRIBUTES, url_schemes=_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )  # fmt: skip
    return Markup(clean)


def _marks(message: Message) -> tuple[str, str]:
    """Ticks on the shop's messages, as messengers show them: sent ✓, delivered/seen ✓✓."""
    if message.direction == "in":
        return "", ""
    if message.seen:
        return "✓✓", f"seen {_local(message.seen):%Y-%m-%d %H:%M}"
    if message.delivered:
        return "✓✓", f"delivered {_local(message.delivered):%Y-%m-%d %H:%M}"
    if message.sent:
        return "✓", f"sent {_local(message.sent):%Y-%m-%d %H:%M}"
    return "⏱", "not sent"


def _details(conversation: Conversation) -> list[str]:
    c = conversation.customer
    out = [_channel(conversation)]
    out += [f"@{c.username}"] if c.username else []
    out += [c.phone] if c.phone else []
    out += [f"source: {c.source}"] if c.source else []
    return out


def _channel(conversation: Conversation) -> str:
    return CHANNEL_TITLES.get(conversation.channel, conversation.channel)


def _local(moment: datetime) -> datetime:
    return moment.astimezone()


def _read(archive: Archive, a: Attachment) -> bytes | None:
    if a.sha256 is None:
        return None
    try:
        return archive.blob_path(a.sha256).read_bytes()
    except OSError:
        return None


def _copy(archive: Archive, a: Attachment, files: Path) -> str:
    """The file under files/<sha256>/<name> (copied once), as a link relative to the page."""
    name = _safe_name(a.filename)
    target = files / (a.sha256 or "x") / name
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(archive.blob_path(a.sha256 or ""), target)
    return f"files/{a.sha256}/{quote(name)}"


def _safe_name(name: str) -> str:
    """A file name that stays one path segment on every system."""
    cleaned = re.sub(r'[\\/:*?"<>|\x00-\x1f]', "_", name).strip(" .")
    return cleaned[:120] or "file"
