"""Floods in the archive (relay/flood.py decides what is a flood): a flood's messages name
their digest email (messages.flood_digest, its Message-ID), whose outbox row (kind FLOOD)
is queued on the first of them, due a minute later. Here: what the flood gate needs to
know of a conversation it has not met, storing a flood's message in its digest, what a
digest lists, and who is flooding now (for `status`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from ..model import FLOOD, Message, NewAttachment, OutboxItem
from . import Archive, rows
from .db import dt, ts

# The conversation's newest message that came in a flood (the partial index holds only those)
_LATEST_SQL = (
    "SELECT flood_digest FROM messages WHERE conversation_id = ? AND flood_digest IS NOT NULL"
    " ORDER BY id DESC LIMIT 1"
)
_DIGEST_SQL = "SELECT state, next_try FROM outbox WHERE email_message_id = ? AND kind = ?"


@dataclass(frozen=True)
class Seed:
    """What the archive knows of a conversation the gate has not seen in this process."""

    times: tuple[datetime, ...] = ()  # the customer's messages of the last minute, in order
    digest_due: datetime | None = None  # when its digest still to go is due, if it has one


def seed(archive: Archive, conversation_id: int, since: datetime, limit: int) -> Seed:
    """The times of the conversation's last `limit` + 1 customer messages after `since`,
    and when its digest still to go is due."""
    with archive._reading() as db:
        found = db.execute(
            "SELECT created FROM messages WHERE conversation_id = ? AND direction = 'in'"
            " AND created > ? ORDER BY created DESC LIMIT ?",
            (conversation_id, ts(since), limit + 1),
        ).fetchall()
        latest = db.execute(_LATEST_SQL, (conversation_id,)).fetchone()
        due = None
        if latest is not None:
            row = db.execute(_DIGEST_SQL, (latest[0], FLOOD)).fetchone()
            if row is not None and row["state"] == "pending":
                due = dt(row["next_try"])
    times = tuple(t for t in (dt(r[0]) for r in reversed(found)) if t is not None)
    return Seed(times, due)


@dataclass(frozen=True)
class Stored:
    """A flood's message as archived, and the digest it is in."""

    message: Message
    digest: str  # the digest's Message-ID
    due: datetime  # when the digest goes (at the earliest)
    new: bool  # this message started the digest (its outbox row was queued with it)


def store(
    archive: Archive,
    message: Message,
    files: Sequence[NewAttachment],
    *,
    dedupe_key: str | None,
    at: datetime,
    every: timedelta,
    new_digest: Callable[[], str],
) -> Stored | None:
    """Archive a flood's message with its files and dedupe key, in the conversation's
    digest still to go at `at`, else in a new one (Message-ID from new_digest()) due
    `every` later, queued with it: one transaction. None when the dedupe key was seen
    before (nothing is written)."""
    if dedupe_key is not None and archive.was_seen(dedupe_key):
        return None
    files_stored = archive.store_files(files)
    with archive._transaction() as db:
        if dedupe_key is not None and not rows.mark_seen(db, dedupe_key):
            return None
        digest, due = _open_digest(db, message.conversation_id, at)
        new = digest is None or due is None
        if new:
            digest, due = new_digest(), at + every
        message = replace(message, email_message_id=None, flood_digest=digest)
        message_id, attachments = rows.insert_message(db, message, files_stored)
        if new:
            item = OutboxItem("mail", email_message_id=digest, next_try=due, kind=FLOOD)
            rows.insert_outbox(db, message_id, item)
    stored = replace(message, id=message_id, attachments=attachments)
    return Stored(stored, digest, due, new)


def _open_digest(db, conversation_id: int, at: datetime) -> tuple[str | None, datetime | None]:
    """The conversation's digest that is still to go at `at`: its Message-ID and due time."""
    latest = db.execute(_LATEST_SQL, (conversation_id,)).fetchone()
    if latest is None:
        return None, None
    row = db.execute(_DIGEST_SQL, (latest[0], FLOOD)).fetchone()
    if row is None or row["state"] != "pending":
        return None, None
    due = dt(row["next_try"])
    if due is None or due <= at:
        return None, None  # the outbox may be building it: the next message starts another
    return latest[0], due


# -- what a digest lists -------------------------------------------------------------------------


@dataclass(frozen=True)
class Covered:
    """The messages one digest is about (the first and last `shown` of them in full)."""

    count: int
    files: int
    first_at: datetime
    last_at: datetime
    head: tuple[Message, ...]
    tail: tuple[Message, ...]  # after head, without overlap; empty when head has them all

    @property
    def left_out(self) -> int:
        return self.count - len(self.head) - len(self.tail)


def covered(archive: Archive, digest: str, shown: int) -> Covered | None:
    """What the digest with this Message-ID lists; None when no message names it."""
    with archive._reading() as db:
        count, first, last = db.execute(
            "SELECT count(*), min(created), max(created) FROM messages WHERE flood_digest = ?",
            (digest,),
        ).fetchone()
        if not count:
            return None
        files = db.execute(
            "SELECT count(*) FROM attachments WHERE message_id IN"
            " (SELECT id FROM messages WHERE flood_digest = ?)",
            (digest,),
        ).fetchone()[0]
        head_rows = db.execute(
            "SELECT * FROM messages WHERE flood_digest = ? ORDER BY id LIMIT ?", (digest, shown)
        ).fetchall()
        after = head_rows[-1]["id"]
        tail_rows = db.execute(
            "SELECT * FROM messages WHERE flood_digest = ? AND id > ? ORDER BY id DESC LIMIT ?",
            (digest, after, shown),
        ).fetchall()
        head = rows.messages_from(db, head_rows)
        tail = rows.messages_from(db, list(reversed(tail_rows)))
    first_at, last_at = dt(first), dt(last)
    assert first_at is not None and last_at is not None
    return Covered(count, files, first_at, last_at, tuple(head), tuple(tail))


# -- who floods now ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Flooding:
    """A conversation whose digest is still to go (for `status`)."""

    conversation: int
    customer: str
    messages: int  # in the digest so far
    since: datetime  # the first of them
    due: datetime

    def record(self) -> dict:
        return {
            "conversation": self.conversation,
            "customer": self.customer,
            "messages": self.messages,
            "since": self.since.isoformat(),
            "digest_due": self.due.isoformat(),
        }


def flooding(archive: Archive) -> list[Flooding]:
    """Conversations with a digest still to go, the earliest due first."""
    with archive._reading() as db:
        found = db.execute(
            "SELECT o.email_message_id, o.next_try, m.conversation_id, u.* FROM outbox o"
            " JOIN messages m ON m.id = o.message_id"
            " JOIN conversations c ON c.id = m.conversation_id"
            " JOIN customers u ON u.id = c.customer_id"
            " WHERE o.state = 'pending' AND o.kind = ? ORDER BY o.next_try",
            (FLOOD,),
        ).fetchall()
        out = []
        for row in found:
            count, since = db.execute(
                "SELECT count(*), min(created) FROM messages WHERE flood_digest = ?",
                (row["email_message_id"],),
            ).fetchone()
            due, first = dt(row["next_try"]), dt(since)
            if due is None or first is None:
                continue
            name = rows.customer_from(row).display_name
            out.append(Flooding(row["conversation_id"], name, count, first, due))
    return out
