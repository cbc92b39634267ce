"""What `im2mail export` reads (export/): which conversations there are, and their
messages as a stream, in batches of BATCH, so that memory stays flat however big the
archive is. Messages come without the raw platform payload, which no export shows, and
with the reactions on them and the earlier texts of the edited ones (a read each per
batch, only when a batch has any).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import replace

from ..model import Attachment, Message
from . import Archive, edits, reactions
from .db import dt

BATCH = 2000  # messages read per query round trip

_COLUMNS = (
    "id, conversation_id, direction, author, text, created, kind, channel_message_id,"
    " email_message_id, sent, delivered, seen, edited, media_group, deleted, edited_at"
)


def conversation_ids(archive: Archive) -> list[int]:
    """Every conversation's id, in order (but those of forgotten customers: forget.py)."""
    with archive._reading() as db:
        return [r[0] for r in db.execute(
            "SELECT c.id FROM conversations c JOIN customers u ON u.id = c.customer_id"
            " WHERE u.forgotten IS NULL ORDER BY c.id"
        )]  # fmt: skip


def known_conversations(archive: Archive, ids: Sequence[int]) -> set[int]:
    """Those of `ids` that are conversations' (each id must fit SQLite's integers)."""
    with archive._reading() as db:
        return {
            r[0]
            for r in db.execute(
                f"SELECT id FROM conversations WHERE id IN ({','.join('?' * len(ids))})", ids
            )
        }


def sizes(archive: Archive) -> dict[int, int]:
    """Each conversation's number of messages (conversations with none are left out)."""
    with archive._reading() as db:
        return dict(db.execute("SELECT conversation_id, count(*) FROM messages GROUP BY 1"))


def messages(archive: Archive, conversation_id: int) -> Iterator[Message]:
    """The conversation's messages, oldest first, with their attachments, read in batches."""
    last = 0
    while True:
        with archive._reading() as db:
            found = db.execute(
                f"SELECT {_COLUMNS} FROM messages WHERE conversation_id = ? AND id > ?"
                " ORDER BY id LIMIT ?",
                (conversation_id, last, BATCH),
            ).fetchall()
            batch = _batch(db, found)
        yield from batch
        if len(found) < BATCH:
            return
        last = found[-1][0]


def interleaved(archive: Archive, conversation_ids: Sequence[int]) -> Iterator[Message]:
    """The messages of several conversations (a linked person's, people.py) interleaved
    by time (then id), read in batches."""
    after: tuple[str, int] = ("", 0)
    scope = json.dumps(sorted(conversation_ids))
    while True:
        with archive._reading() as db:
            found = db.execute(
                f"SELECT {_COLUMNS} FROM messages WHERE conversation_id IN"
                " (SELECT value FROM json_each(?)) AND (created, id) > (?, ?)"
                " ORDER BY created, id LIMIT ?",
                (scope, *after, BATCH),
            ).fetchall()
            files = _attachments(db, [r[0] for r in found]) if found else {}
        yield from (_message(r, files) for r in found)
        if len(found) < BATCH:
            return
        after = (found[-1][5], found[-1][0])


def people(archive: Archive, conversation_ids: Sequence[int]) -> dict[int, list[int]]:
    """For those of the conversations whose customer is linked to others: the ids of
    every conversation of their person (people.py), by id."""
    from .people import people_of

    with archive._reading() as db:
        return people_of(db, conversation_ids)


def scan(archive: Archive, first: int, last: int) -> Iterator[Message]:
    """Messages of conversations first..last, by conversation then id, in batches: one
    walk of the table, for an export of everything (or a run of conversations of it)."""
    after = (first, 0)
    while True:
        with archive._reading() as db:
            found = db.execute(
                f"SELECT {_COLUMNS} FROM messages WHERE conversation_id <= ?"
                " AND (conversation_id, id) > (?, ?) ORDER BY conversation_id, id LIMIT ?",
                (last, *after, BATCH),
            ).fetchall()
            batch = _batch(db, found)
        yield from batch
        if len(found) < BATCH:
            return
        after = (found[-1][1], found[-1][0])


def _batch(db, found: list) -> list[Message]:
    """The rows as messages, with their files, reactions and earlier texts."""
    if not found:
        return []
    ids = [r[0] for r in found]
    files = _attachments(db, ids)
    batch = [_message(r, files) for r in found]
    edited = [m.id for m in batch if m.edited and m.id is not None]
    earlier = edits.versions_of(db, edited) if edited else {}
    emoji = reactions.reactions_of(db, ids) if reactions.any_between(db, ids) else {}
    if not (earlier or emoji):
        return batch
    return [replace(m, versions=tuple(earlier.get(m.id or 0, ())),
                    reactions=tuple(emoji.get(m.id or 0, ()))) for m in batch]  # fmt: skip


def _message(r: tuple, files: dict[int, tuple[Attachment, ...]]) -> Message:
    return Message(
        r[1], r[2], r[3], r[4], dt(r[5]), r[6], r[7], r[8], dt(r[9]),
        dt(r[10]), dt(r[11]), None, files.get(r[0], ()), r[0], bool(r[12]), r[13],
        deleted=dt(r[14]), edited_at=dt(r[15]),
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
