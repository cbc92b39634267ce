"""Floods: a customer who writes more than relay.flood_per_minute messages a minute.

Every message is archived as always, and acknowledged only once stored; what changes is
the email. A message that comes in a flood gets no email of its own: it is archived with
`flood_digest`, the Message-ID of a digest email that lists it, in the same transaction as
the digest's outbox row (kind FLOOD) when it is the first of that digest, due a minute
later. Messages that come before it is due join it; the outbox sends it when due, in the
conversation's thread, listing every message that joined. So the managers get at most one
email a minute about the flood, and what each digest covers is in the archive: after a
crash, the pending digest row and the messages that name it are there to send.

Joining is safe against the outbox: a message joins only a digest whose time has not come
(checked in its write transaction), and the outbox reads a row only once it is due, after
that transaction, so the email it builds lists every message that joined.

The gate (FloodGate) decides in memory, at the cost of a dict lookup and a deque append
per message: the archive is asked once per conversation and process (the messages of the
last minute and a digest still to go, so a restart in the middle of a flood keeps it
one). A message is part of a flood when more than `limit` of the conversation's messages
were written within the minute up to it (the platform's times: a backlog delivered at
once after a pause of the relay is no flood), or while the conversation's digest is still
to go, so a flood's messages stay together and in order. Once the digest has gone and the
customer writes at most `limit` a minute again, emails are one per message again.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from ..archive import Archive, rows
from ..archive.db import dt, ts
from ..mail.builder import MailSettings
from ..model import Message, NewAttachment, OutboxItem

FLOOD = "flood"  # outbox kind: to the managers, a digest of a flood's messages (on the first)
WINDOW = timedelta(minutes=1)  # "a minute" of relay.flood_per_minute
EVERY = timedelta(minutes=1)  # a conversation's digests are at least this far apart
SHOWN = 30  # messages a digest lists from the start of its flood, and as many from the end
_SWEEP_EVERY = 4096  # checks between sweeps of conversations quiet for a while

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


class FloodGate:
    """Which customer messages come in a flood. Thread-safe (intake archives in threads).

    `limit` is relay.flood_per_minute (0: no flood is ever seen); `seed(conversation, since)`
    reads what the archive knows of a conversation the first time the gate meets it."""

    def __init__(self, limit: int, seed: Callable[[int, datetime], Seed] | None = None) -> None:
        self.limit = limit
        self._seed = seed
        self._lock = threading.Lock()
        self._recent: dict[int, deque[datetime]] = {}  # conversation -> its last limit+1 times
        self._due: dict[int, datetime] = {}  # conversation -> its digest still to go
        self._known: set[int] = set()  # conversations met (or seeded) in this process
        self._checks = 0

    def flooding(self, conversation_id: int, written: datetime, at: datetime) -> bool:
        """Count a customer's message written at `written`, arriving at `at`; whether it
        is part of a flood (then it goes in the digest)."""
        if self.limit <= 0:
            return False
        if conversation_id not in self._known and self._seed is not None:
            seed = self._seed(conversation_id, written - WINDOW)  # outside the lock: a query
            with self._lock:
                if conversation_id not in self._known:
                    self._recent[conversation_id] = deque(seed.times, maxlen=self.limit + 1)
                    if seed.digest_due is not None:
                        self._due[conversation_id] = seed.digest_due
        with self._lock:
            self._known.add(conversation_id)
            times = self._recent.get(conversation_id)
            if times is None:
                times = self._recent[conversation_id] = deque(maxlen=self.limit + 1)
            times.append(written)
            while times and times[0] <= written - WINDOW:
                times.popleft()
            due = self._due.get(conversation_id)
            if due is not None and due <= at:
                del self._due[conversation_id]
                due = None
            self._checks += 1
            if self._checks % _SWEEP_EVERY == 0:
                self._sweep(written, at)
            return len(times) > self.limit or due is not None

    def digest_queued(self, conversation_id: int, due: datetime) -> None:
        """The conversation's messages go in a digest due at `due`: until then, every
        message of it is part of the flood."""
        with self._lock:
            self._due[conversation_id] = due

    def _sweep(self, written: datetime, at: datetime) -> None:
        """Forget the times of conversations silent for a while (they stay known: nothing
        of theirs happened meanwhile that the archive would have to tell)."""
        old = written - 2 * WINDOW
        for conversation_id in [c for c, t in self._recent.items() if not t or t[-1] < old]:
            del self._recent[conversation_id]
        for conversation_id in [c for c, due in self._due.items() if due <= at]:
            del self._due[conversation_id]


def seed(archive: Archive, limit: int) -> Callable[[int, datetime], Seed]:
    """FloodGate's `seed` reading this archive."""

    def read(conversation_id: int, since: datetime) -> Seed:
        with archive.reading() as db:
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

    return read


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
    files: Sequence[NewAttachment] = (),
    *,
    dedupe_key: str | None,
    at: datetime,
    mail: MailSettings,
    every: timedelta = EVERY,
) -> Stored | None:
    """Archive a flood's message with its files and dedupe key, in the conversation's
    digest still to go at `at`, else in a new one due `every` later, queued with it: one
    transaction. None when the dedupe key was seen before (nothing is written)."""
    if dedupe_key is not None and archive.was_seen(dedupe_key):
        return None
    files_stored = archive.store_files(files)
    with archive.transaction() as db:
        if dedupe_key is not None and not rows.mark_seen(db, dedupe_key):
            return None
        digest, due = _open_digest(db, message.conversation_id, at)
        new = digest is None or due is None
        if new:
            digest, due = mail.new_message_id(), at + every
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
    """The messages one digest is about (the first and last SHOWN of them in full)."""

    count: int
    files: int
    first_at: datetime
    last_at: datetime
    head: tuple[Message, ...]
    tail: tuple[Message, ...]  # after head, without overlap; empty when head has them all

    @property
    def left_out(self) -> int:
        return self.count - len(self.head) - len(self.tail)


def covered(archive: Archive, digest: str, shown: int = SHOWN) -> Covered | None:
    """What the digest with this Message-ID lists; None when no message names it."""
    with archive.reading() as db:
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


def flooding(db) -> list[Flooding]:
    """Conversations with a digest still to go, the earliest due first (a connection of
    Archive.reading())."""
    found = db.execute(
        "SELECT o.email_message_id, o.next_try, m.conversation_id, u.* FROM outbox o"
        " JOIN messages m ON m.id = o.message_id JOIN conversations c ON c.id = m.conversation_id"
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
