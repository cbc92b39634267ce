"""Edits: the customer changed a message they had sent. The archive keeps every version.

A message keeps its latest text in `messages.text` (the one search, tail and exports
show, with `edited` set and `edited_at` the time it was written); each earlier text is a
row of `message_versions`, with the time it was written. Versions are ordered by those
times, the platform's, not by when they reached us: an edit may come before its original
(a webhook retried later, a relay that was down) or before an earlier edit.

`add_version` takes one version of a message known by its channel message id, in one
transaction with the update's dedupe key and, when the version is the newest, the outbox
row of the email that tells the managers (its note names the earlier text's row, so the
email shows the text before and after this edit, whatever comes later):

- the newest text: the message takes it, its text before goes to the versions;
- an older one (an original, or an edit, that came late): into the versions only, quietly;
- a text the message has or had: nothing but the dedupe key.

A version of a message the archive doesn't have (never archived: sent before im2mail, or
its update lost) is None: the relay archives it as a message of its own, marked edited.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from ..model import Entry, Message, OutboxItem, Version
from . import Archive, reactions, rows
from .db import clean, dt, ts

NEWEST, OLDER, SAME = "newest", "older", "same"


@dataclass(frozen=True)
class Versioned:
    """What add_version did: `how` NEWEST (the message's text now), OLDER (kept in the
    history), SAME (nothing new, or the update was stored before); the message as it is
    after, and the row of the text the newest replaced (None unless NEWEST)."""

    how: str
    message: Message
    earlier_id: int | None = None


def add_version(
    archive: Archive,
    conversation_id: int,
    channel_message_id: str,
    text: str,
    created: datetime,
    *,
    dedupe_key: str,
    original: bool = False,
    outbox: OutboxItem | None = None,
) -> Versioned | None:
    """Record `text`, written at `created`, as a version of the customer's message
    `channel_message_id` of the conversation (see the module). `original`: the message
    itself, not an edit: it only counts when an edit came first (an unedited message
    with that id is left alone: None). `outbox` is queued on the message when the text is
    the newest, its note set to the earlier text's row. None when there is no such
    message: nothing is written."""
    text = clean(text)
    if original and not _edited(archive, conversation_id, channel_message_id):
        return None  # every new message asks: a read, no write lock
    with archive._transaction() as db:
        found = db.execute(
            "SELECT * FROM messages WHERE conversation_id = ? AND channel_message_id = ?"
            " AND direction = 'in' ORDER BY id LIMIT 1",
            (conversation_id, channel_message_id),
        ).fetchall()
        if not found or (original and not found[0]["edited"]):
            return None
        message = rows.messages_from(db, found)[0]
        if not rows.mark_seen(db, dedupe_key):
            return Versioned(SAME, message)
        latest = message.edited_at or message.created
        known = text == message.text or _had(db, message.id, text, created)
        if known:
            return Versioned(SAME, message)
        assert message.id is not None
        if original or created < latest:  # an edit in the same second is the newer
            _keep(db, message.id, text, created)
            if created < message.created:  # the original, later than its edit
                db.execute("UPDATE messages SET created = ? WHERE id = ?",
                           (ts(created), message.id))  # fmt: skip
                message = replace(message, created=created)
            return Versioned(OLDER, message)
        earlier = _keep(db, message.id, message.text, latest)
        db.execute(
            "UPDATE messages SET text = ?, edited = 1, edited_at = ? WHERE id = ?",
            (text, ts(created), message.id),
        )
        _reindex(db, message, text)
        if outbox is not None:
            rows.insert_outbox(db, message.id, replace(outbox, note=str(earlier)))
        return Versioned(NEWEST, replace(message, text=text, edited=True, edited_at=created),
                         earlier)  # fmt: skip


def versions(archive: Archive, message_id: int) -> list[Version]:
    """The message's earlier texts, oldest first ([] when it was never edited)."""
    with archive._reading() as db:
        return versions_of(db, [message_id]).get(message_id, [])


def versions_of(db: sqlite3.Connection, ids: Sequence[int]) -> dict[int, list[Version]]:
    """Earlier texts of these messages, oldest first, by message id (those with any)."""
    out: dict[int, list[Version]] = {}
    for row in db.execute(
        "SELECT id, message_id, text, created FROM message_versions WHERE message_id IN"
        " (SELECT value FROM json_each(?)) ORDER BY message_id, created, id",
        (json.dumps(list(ids)),),
    ):
        out.setdefault(row[1], []).append(Version(row[2], dt(row[3]), row[0]))  # type: ignore[arg-type]
    return out


def with_versions(archive: Archive, messages: Sequence[Message]) -> list[Message]:
    """The messages with their earlier texts (only edited ones can have any)."""
    edited = [m.id for m in messages if m.edited and m.id is not None]
    if not edited:
        return list(messages)
    with archive._reading() as db:
        found = versions_of(db, edited)
    return [replace(m, versions=tuple(found.get(m.id or 0, ()))) for m in messages]


def _edited(archive: Archive, conversation_id: int, channel_message_id: str) -> bool:
    with archive._reading() as db:
        return (
            db.execute(
                "SELECT 1 FROM messages WHERE conversation_id = ? AND channel_message_id = ?"
                " AND direction = 'in' AND edited = 1 LIMIT 1",
                (conversation_id, channel_message_id),
            ).fetchone()
            is not None
        )


def _had(db: sqlite3.Connection, message_id: int | None, text: str, created: datetime) -> bool:
    """Whether this version is in the history already (a repeated update)."""
    return (
        db.execute(
            "SELECT 1 FROM message_versions WHERE message_id = ? AND text = ? AND created = ?",
            (message_id, text, ts(created)),
        ).fetchone()
        is not None
    )


def _keep(db: sqlite3.Connection, message_id: int, text: str, created: datetime) -> int:
    cur = db.execute(
        "INSERT INTO message_versions (message_id, text, created) VALUES (?, ?, ?)",
        (message_id, text, ts(created)),
    )
    return cur.lastrowid or 0


def _reindex(db: sqlite3.Connection, message: Message, text: str) -> None:
    """The search index holds the latest text: the old row out, the new one in."""
    assert message.id is not None
    customer = rows.indexed_customer(db, message.conversation_id, None)
    files = rows.file_names(db, message.id)
    rows.index_row(db, message.id, message.text, customer, files, delete=True)
    rows.index_row(db, message.id, text, customer, files)


def detailed(archive: Archive, entries: Sequence[Entry], *, versions: bool = False) -> list[Entry]:
    """`tail`'s entries with the reactions on them now and, with `versions`, the earlier
    texts of the edited ones. Two small reads; none when nothing is edited or reacted to."""
    ids = [e.message_id for e in entries]
    if not ids:
        return list(entries)
    edited = [e.message_id for e in entries if e.edited] if versions else []
    with archive._reading() as db:
        found = reactions.reactions_of(db, ids) if reactions.any_between(db, ids) else {}
        earlier = versions_of(db, edited) if edited else {}
    return [
        replace(e, reactions=tuple(found.get(e.message_id, ())),
                versions=tuple(earlier.get(e.message_id, ())))
        for e in entries
    ]  # fmt: skip
