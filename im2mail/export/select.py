"""`im2mail export`: conversations out of the archive, as mbox (export_mbox.py) or as HTML
pages (export_html.py).

Both read the archive as a stream, conversation by conversation and message by message,
so memory stays flat however big the archive is. Output goes to a temporary name beside
the target and is renamed into place at the end: an export that fails or is interrupted
leaves nothing half-written, and an existing file or folder is replaced only with force.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from ..archive import Archive
from ..archive.db import dt, fits_sqlite
from ..errors import NotFound
from ..model import Attachment, Conversation, Message

BATCH = 2000  # messages read per query round trip
_LIST_THEM = "list them with: im2mail conversations"

Progress = Callable[[int], None]  # called with how many messages were just written


@dataclass(frozen=True)
class Selection:
    """The conversations to export, in order, and how many messages they hold.
    everything: all of the archive's conversations, in id order (read in one scan)."""

    conversations: tuple[Conversation, ...]
    messages: int
    everything: bool = False


def select(archive: Archive, ids: Sequence[int] | None) -> Selection:
    """Conversations by id (in the order given, each once), or all of them (None).
    NotFound (exit 5) names the first unknown id."""
    with archive.reading() as db:
        if ids is None:
            wanted = [r[0] for r in db.execute("SELECT id FROM conversations ORDER BY id")]
        else:
            wanted = list(dict.fromkeys(ids))
            beyond = [i for i in wanted if not fits_sqlite(i)]
            if beyond:
                raise NotFound(f"no conversation #{beyond[0]}", hint=_LIST_THEM)
            known = {
                r[0]
                for r in db.execute(
                    f"SELECT id FROM conversations WHERE id IN ({','.join('?' * len(wanted))})",
                    wanted,
                )
            }
            missing = [i for i in wanted if i not in known]
            if missing:
                raise NotFound(f"no conversation #{missing[0]}", hint=_LIST_THEM)
        count = _count(db, wanted if ids is not None else None)
    return Selection(tuple(archive.conversation(i) for i in wanted), count, ids is None)


def _count(db, ids: list[int] | None) -> int:
    if ids is None:
        return db.execute("SELECT count(*) FROM messages").fetchone()[0]
    total = 0
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        total += db.execute(
            f"SELECT count(*) FROM messages WHERE conversation_id IN ({marks})", chunk
        ).fetchone()[0]
    return total


_COLUMNS = (
    "id, conversation_id, direction, author, text, created, kind, channel_message_id,"
    " email_message_id, sent, delivered, seen, edited, media_group"
)


def messages(archive: Archive, conversation_id: int) -> Iterator[Message]:
    """The conversation's messages, oldest first, with their attachments, read in batches
    (without the raw platform payload, which no export shows)."""
    last = 0
    while True:
        with archive.reading() as db:
            found = db.execute(
                f"SELECT {_COLUMNS} FROM messages WHERE conversation_id = ? AND id > ?"
                " ORDER BY id LIMIT ?",
                (conversation_id, last, BATCH),
            ).fetchall()
            files = _attachments(db, [r[0] for r in found]) if found else {}
        yield from (_message(r, files) for r in found)
        if len(found) < BATCH:
            return
        last = found[-1][0]


def stream(
    archive: Archive, conversations: Sequence[Conversation], everything: bool
) -> Iterator[tuple[Conversation, list[Message]]]:
    """Each conversation with its messages, in the order given. With everything (the
    conversations are all there are, in id order, maybe a slice of them) the messages come
    from one scan of the table rather than a query per conversation."""
    if not everything:
        for conversation in conversations:
            yield conversation, list(messages(archive, conversation.id))
        return
    found: dict[int, list[Message]] = {}
    pending = iter(conversations)
    current = next(pending, None)
    for message in (
        _scan(archive, conversations[0].id, conversations[-1].id) if conversations else ()
    ):
        while current is not None and current.id < message.conversation_id:
            yield current, found.pop(current.id, [])
            current = next(pending, None)
        found.setdefault(message.conversation_id, []).append(message)
    while current is not None:
        yield current, found.pop(current.id, [])
        current = next(pending, None)


def _scan(archive: Archive, first: int, last: int) -> Iterator[Message]:
    """Messages of conversations first..last, by conversation then id, in batches."""
    after = (first, 0)
    while True:
        with archive.reading() as db:
            found = db.execute(
                f"SELECT {_COLUMNS} FROM messages WHERE conversation_id <= ?"
                " AND (conversation_id, id) > (?, ?) ORDER BY conversation_id, id LIMIT ?",
                (last, *after, BATCH),
            ).fetchall()
            files = _attachments(db, [r[0] for r in found]) if found else {}
        yield from (_message(r, files) for r in found)
        if len(found) < BATCH:
            return
        after = (found[-1][1], found[-1][0])


def _message(r: tuple, files: dict[int, tuple[Attachment, ...]]) -> Message:
    return Message(
        r[1], r[2], r[3], r[4], dt(r[5]), r[6], r[7], r[8], dt(r[9]),
        dt(r[10]), dt(r[11]), None, files.get(r[0], ()), r[0], bool(r[12]), r[13],
    )  # fmt: skip


def _attachments(db, ids: list[int]) -> dict[int, tuple[Attachment, ...]]:
    out: dict[int, list[Attachment]] = {}
    marks = ",".join("?" * len(ids))
    for f in db.execute(
        "SELECT id, message_id, filename, mime, size, sha256 FROM attachments"
        f" WHERE message_id IN ({marks}) ORDER BY id",
        ids,
    ):
        out.setdefault(f[1], []).append(Attachment(f[2], f[3], f[4], f[5], f[0]))
    return {k: tuple(v) for k, v in out.items()}


def file_bytes(archive: Archive, attachment: Attachment) -> bytes | None:
    """An attachment's bytes; None when the archive does not have them (over a download
    limit, or a blob removed by hand): the message is exported all the same."""
    if attachment.sha256 is None:
        return None
    try:
        return archive.blob_path(attachment.sha256).read_bytes()
    except OSError:
        return None
