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
import contextlib
import errno
import html
import os
import posixpath
import re
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import jinja2
import nh3
from markupsafe import Markup

from ..archive import Archive, exporting, people
from ..archive.db import now
from ..channels import title
from ..mail.compose import human_size, subject
from ..model import KIND_LABELS, Attachment, Conversation, Message
from ..untrusted import NAME_BYTES, cut_bytes, file_name
from .select import Progress, Selection, file_bytes, stream

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


PARALLEL_FROM = 20_000  # messages: below this one process is quicker than starting more
CHUNKS_PER_WORKER = 8  # smaller pieces: an even load, and a progress bar that moves


def write(
    archive: Archive, selection: Selection, folder: Path, progress: Progress,
    *, versions: bool = False,
) -> int:  # fmt: skip
    """Write the pages into `folder` (an empty, new folder); returns the messages written.
    A big export is shared among worker processes (one per core), each writing the pages
    of its own run of conversations; one conversation is in memory at a time per worker.
    `versions`: edited messages show their earlier texts open (else behind a click)."""
    exported = _stamp(now())
    workers = min(os.cpu_count() or 1, 8)
    if workers < 2 or not selection.everything or selection.messages < PARALLEL_FROM:
        found = stream(archive, selection.conversations, selection.everything, selection.people)
        rows = _pages(archive, found, folder, exported, progress, selection.people, versions)
    else:
        rows = _in_parallel(archive, selection, folder, exported, progress, workers, versions)
    index = _environment().get_template("index.html.j2")
    written = sum(r.messages for r in rows)
    write_private(folder / "index.html", index.render(rows=rows, total=written, exported=exported))
    return written


# No script at all; pictures inline (an export) or also from the relay itself (a transcript)
EXPORT_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
TRANSCRIPT_POLICY = "default-src 'none'; img-src data: 'self'; style-src 'unsafe-inline'"


def _pages(
    archive: Archive,
    found: Iterable[tuple[Conversation, list[Message]]],
    folder: Path,
    exported: str,
    progress: Progress,
    people: Mapping[int, tuple[Conversation, ...]],
    versions: bool = False,
) -> list[Row]:
    page = _environment().get_template("conversation.html.j2")
    files = Files(archive, _Placer(archive, folder / "files").place)
    rows = []
    for conversation, chat in found:
        members = people.get(conversation.id, ())
        shown, last = _chat(chat, files, _labels(members), versions=versions)
        name = f"conversation-{conversation.id}.html"
        text = render_page(page, conversation, shown, exported, index=True, members=members)
        write_private(folder / name, text)
        channels = ", ".join(dict.fromkeys(_channel(c) for c in members or [conversation]))
        rows.append(Row(conversation.id, conversation.customer.display_name, channels,
                        len(chat), last, name))  # fmt: skip
        progress(len(chat))
    return rows


def _in_parallel(
    archive: Archive,
    selection: Selection,
    folder: Path,
    exported: str,
    progress: Progress,
    workers: int,
    versions: bool = False,
) -> list[Row]:
    from concurrent.futures import ProcessPoolExecutor

    chunks = _chunks(archive, selection.conversations, workers * CHUNKS_PER_WORKER)
    where = (archive.path, archive.blobs.root, folder, exported, versions)
    jobs = [(*where, chunk, {c.id: selection.people[c.id] for c in chunk
                             if c.id in selection.people}) for chunk in chunks]  # fmt: skip
    rows: list[Row] = []
    with ProcessPoolExecutor(workers) as pool:
        for done in pool.map(_chunk_pages, jobs):
            rows += done
            progress(sum(r.messages for r in done))
    return rows


def _chunks(
    archive: Archive, conversations: Sequence[Conversation], count: int
) -> list[tuple[Conversation, ...]]:
    """Runs of consecutive conversations holding about the same number of messages."""
    sizes = exporting.sizes(archive)
    total = sum(sizes.values()) or 1
    chunks, current, held = [], [], 0
    for conversation in conversations:
        current.append(conversation)
        held += sizes.get(conversation.id, 0)
        if held >= total / count:
            chunks.append(tuple(current))
            current, held = [], 0
    if current:
        chunks.append(tuple(current))
    return chunks


def _chunk_pages(
    job: tuple[Path, Path, Path, str, bool, tuple[Conversation, ...], dict],
) -> list[Row]:
    """In a worker process: the pages of one run of conversations."""
    path, blobs, folder, exported, versions, conversations, people = job
    with Archive.open(path, blobs, create=False) as archive:
        found = stream(archive, conversations, True, people)
        return _pages(archive, found, folder, exported, lambda n: None, people, versions)


def render_page(
    page: jinja2.Template,
    conversation: Conversation,
    shown: Markup,
    exported: str,
    *,
    index: bool,
    members: Sequence[Conversation] = (),
) -> str:
    """A conversation's page around its messages (from _chat). `index`: a page of an
    export, beside index.html; else a transcript the relay serves on its own. `members`:
    a linked person's conversations, all on the page."""
    every = members or [conversation]
    numbers = ", ".join(f"#{c.id}" for c in every)
    return page.render(
        title=subject(conversation, _channel(conversation)),
        conversation=conversation,
        numbers=f"conversation{'s' if len(every) > 1 else ''} {numbers}",
        customer=conversation.customer,
        details=[d for c in every for d in _details(c)],
        chat=shown,
        lang="uk",
        exported=exported,
        index=index,
        policy=EXPORT_POLICY if index else TRANSCRIPT_POLICY,
    )


def transcript(archive: Archive, conversation: Conversation, link: Linker) -> str:
    """One conversation as a web page for the relay to serve (/c/<signed id>): the page
    of an export, except that files and large pictures are `link`s to the relay."""
    files = Files(archive, link, inline=False)
    members = people.conversations_of(archive, conversation.id)
    if len(members) > 1:  # a linked person: all of their conversations
        found = exporting.interleaved(archive, [m.id for m in members])
        shown, _ = _chat(found, files, _labels(members))
    else:
        members = []
        shown, _ = _chat(exporting.messages(archive, conversation.id or 0), files)
    page = _environment().get_template("conversation.html.j2")
    return render_page(page, conversation, shown, _stamp(now()), index=False, members=members)


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("im2mail.export", "templates"),
        autoescape=True,  # every value, whatever the template's name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
    )


# A message as the page shows it. Formatted here rather than in the template: a Jinja loop
# costs ~50 µs a message, this ~5 µs, and a million messages must export in seconds.
# Every value is escaped (html.escape) or, for the text, sanitized (message_html).
_DAY = '<p class="day">{day}</p>\n'
_MESSAGE = (
    '<div class="msg {side}" id="m{id}">\n<p class="author">{author}{channel}</p>\n'
    '{body}<p class="meta">{time}{marks}</p>\n</div>\n'
)
_CHANNEL = ' <span class="channel">· {channel}</span>'  # a linked person's: where it was
_TEXT = '<div class="text">{html}</div>\n'
_IMAGE = '<img src="data:{mime};base64,{data}" alt="{name}">\n'
_IMAGE_LINK = '<img src="{href}" alt="{name}">\n'
_FILE_LINK = '<p class="file">📎 <a href="{href}">{name}</a> <span>{size}</span></p>\n'
_FILE = '<p class="file">📎 {name} <span>{size}</span></p>\n'
_MARKS = ' <span class="marks" title="{title}">{marks}</span>'
_DELETED = ' <span class="deleted" title="deleted {when}">deleted</span>'
# An edited message: its earlier texts behind the mark (open with export --versions).
_EDITED = '<p class="edited">edited</p>\n'
_VERSIONS = '<details class="versions"{open}><summary>edited</summary>\n{was}</details>\n'
_WAS = '<p class="was"><span>{time}</span>\n{html}</p>\n'
_REACTIONS = '<p class="reactions" title="{title}">{emoji}</p>\n'


def _chat(
    found: Iterable[Message], files: Files, labels: Mapping[int, str] | None = None,
    *, versions: bool = False,
) -> tuple[Markup, str]:  # fmt: skip
    """The conversation's messages as HTML, and when the last one was. `labels`: a linked
    person's conversations by id, what each message is marked with (its channel);
    `versions`: the earlier texts of edited messages shown open (else behind their
    "edited" mark)."""
    out: list[str] = []
    day, last = "", None
    for message in found:
        local = message.created.astimezone()
        today = local.date().isoformat()
        if today != day:
            out.append(_DAY.format(day=today))
            day = today
        out.append(_message(message, local, files, labels, versions))
        last = message.created
    # Every piece was built from escaped or sanitized values (see _MESSAGE).
    return Markup("".join(out)), _stamp(last) if last else ""


def _message(
    message: Message, local: datetime, files: Files, labels: Mapping[int, str] | None = None,
    versions: bool = False,
) -> str:  # fmt: skip
    body = []
    text = message.text
    if not text.strip() and not message.attachments:
        text = f"({KIND_LABELS.get(message.kind, message.kind)})"
    if text.strip():
        body.append(_TEXT.format(html=message_html(text)))
    for a in message.attachments:
        body.append(files.shown(a))
    if message.edited:
        body.append(_edited(message, versions))
    if message.reactions:
        body.append(_reactions(message))
    marks, title = _marks(message)
    shown = _MARKS.format(title=_escape(title), marks=marks) if marks else ""
    if message.deleted:  # the platform reported it deleted; the archive keeps it
        shown += _DELETED.format(when=_escape(_stamp(message.deleted)))
    return _MESSAGE.format(
        side="customer" if message.direction == "in" else "shop",
        id=message.id or 0,
        author=_escape(message.author),
        channel=_CHANNEL.format(channel=_escape(labels[message.conversation_id]))
        if labels and message.conversation_id in labels
        else "",
        body="".join(body),
        time=f"{local.hour:02d}:{local.minute:02d}",
        marks=shown,
    )


Linker = Callable[[Attachment], "str | None"]  # a file's href, or None: not available


class Files:
    """Attachments on the pages: pictures inline (or, not `inline`, from `link` too), other
    files by `link`."""

    def __init__(self, archive: Archive, link: Linker, *, inline: bool = True) -> None:
        self.archive = archive
        self.link = link
        self.inline = inline

    def shown(self, a: Attachment) -> str:
        picture = a.mime in INLINE_IMAGES and a.size <= INLINE_IMAGE_LIMIT
        if picture and not self.inline and a.sha256 is not None:
            href = self.link(a)
            if href is not None:
                return _IMAGE_LINK.format(href=_escape(href), name=_escape(a.filename))
        data = file_bytes(self.archive, a) if picture and self.inline else None
        if data is not None and len(data) <= INLINE_IMAGE_LIMIT:
            encoded = base64.b64encode(data).decode("ascii")
            return _IMAGE.format(mime=a.mime, data=encoded, name=_escape(a.filename))
        size = human_size(a.size)
        href = self.link(a) if a.sha256 is not None else None
        if href is None:
            return _FILE.format(name=_escape(a.filename), size=_escape(size + ", not kept"))
        return _FILE_LINK.format(href=_escape(href), name=_escape(a.filename), size=size)


class _Placer:
    """An export's files under files/ (each once), linked relative to the pages."""

    def __init__(self, archive: Archive, folder: Path) -> None:
        self.archive = archive
        self.folder = folder
        self.placed: dict[tuple[str, str], str] = {}  # (sha256, name) -> href

    def place(self, a: Attachment) -> str | None:
        """The file as files/<hash>-<name>, a private copy of the blob (not a hard link:
        a later chmod or edit of the export must not reach the archive), as a link
        relative to the page; None when the archive does not have it. A name this file
        system refuses gives way to a plain one: a name never fails the export."""
        if a.sha256 is None:
            return None
        key = (a.sha256, a.filename)
        if key in self.placed:
            return self.placed[key]
        source = self.archive.blob_path(a.sha256)
        if not source.is_file():
            return None  # a blob removed by hand: the message is still exported
        self.folder.mkdir(mode=0o700, exist_ok=True)
        prefix = f"{a.sha256[:12]}-"
        name = prefix + _safe_name(a.filename, NAME_BYTES - len(prefix))
        try:
            _place_copy(source, self.folder / name)
        except OSError as e:
            if not _refused_name(e):
                raise
            name = prefix + "file" + _plain_extension(a.filename)
            _place_copy(source, self.folder / name)
        href = self.placed[key] = f"files/{quote(name)}"
        return href


def _place_copy(source: Path, target: Path) -> None:
    with contextlib.suppress(FileExistsError):  # placed by another worker process
        _copy(source, target)


def _copy(source: Path, target: Path) -> None:
    """A copy only the owner can read (0600, like the archive's blobs)."""
    with source.open("rb") as src:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(src, out, 1024 * 1024)


def _refused_name(e: OSError) -> bool:
    """Whether the file system refused the name itself (too long, a character it does
    not take), rather than the write (no space, no permission)."""
    return e.errno in (errno.ENAMETOOLONG, errno.EINVAL, errno.EILSEQ)


def write_private(path: Path, text: str) -> None:
    """A page of the export, readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def _escape(value: object) -> str:
    return html.escape(str(value), quote=True)


def message_html(text: str) -> Markup:
    """Message text as safe HTML: escaped, web addresses as links, then sanitized. Text
    without a web address is escaped text and nothing else: no markup to sanitize."""
    escaped = _escape(text.strip())
    if "://" not in escaped:
        return Markup(escaped)
    linked = _URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)
    clean = nh3.clean(
        linked, tags=_ALLOWED, attributes=_ATTRIBUTES, url_schemes=_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )  # fmt: skip
    return Markup(clean)


def _edited(message: Message, open_: bool) -> str:
    """The "edited" mark, with the earlier texts behind it (when the archive has them)."""
    if not message.versions:
        return _EDITED
    was = "".join(
        _WAS.format(time=_escape(_stamp(v.created)), html=message_html(v.text or "(empty)"))
        for v in message.versions
    )
    return _VERSIONS.format(open=" open" if open_ else "", was=was)


def _reactions(message: Message) -> str:
    emoji = " ".join(_escape(r.emoji) for r in message.reactions)
    title = ", ".join(f"{r.emoji} {r.author}" for r in message.reactions)
    return _REACTIONS.format(emoji=emoji, title=_escape(title))


def _marks(message: Message) -> tuple[str, str]:
    """Ticks on the shop's messages, as messengers show them: sent ✓, delivered/seen ✓✓."""
    if message.direction == "in":
        return "", ""
    if message.seen:
        return "✓✓", f"seen {_stamp(message.seen)}"
    if message.delivered:
        return "✓✓", f"delivered {_stamp(message.delivered)}"
    if message.sent:
        return "✓", f"sent {_stamp(message.sent)}"
    return "⏱", "not sent"


def _details(conversation: Conversation) -> list[str]:
    c = conversation.customer
    out = [_channel(conversation)]
    out += [f"@{c.username}"] if c.username else []
    out += [c.phone] if c.phone else []
    out += [f"source: {c.source}"] if c.source else []
    out += [f"business: {conversation.via}"] if conversation.via else []
    return out


def _channel(conversation: Conversation) -> str:
    return title(conversation.channel)


def _labels(members: Sequence[Conversation]) -> dict[int, str] | None:
    """What a linked person's messages are marked with: their conversation's channel (and
    bot, when the person has two conversations on one channel)."""
    if not members:
        return None
    twice = {c.channel for c in members if sum(m.channel == c.channel for m in members) > 1}
    return {c.id: _channel(c) + (f" ({c.bot})" if c.channel in twice else "") for c in members}


def _stamp(moment: datetime) -> str:
    local = moment.astimezone()
    return f"{local.date().isoformat()} {local.hour:02d}:{local.minute:02d}"


def _safe_name(name: str, limit: int) -> str:
    """A file name that stays one path segment on every system, in at most `limit`
    UTF-8 bytes (its extension kept)."""
    cleaned = re.sub(r'[\\/:*?"<>|]', "_", file_name(name)).strip(" .")
    return cut_bytes(cleaned, limit) or "file"


def _plain_extension(name: str) -> str:
    extension = posixpath.splitext(file_name(name))[1]
    return extension if re.fullmatch(r"\.[A-Za-z0-9]{1,10}", extension) else ""
