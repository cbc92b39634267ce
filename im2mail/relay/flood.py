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
from datetime import datetime, timedelta

from ..archive import Archive, floods
from ..archive.floods import Covered, Seed, Stored
from ..mail.builder import MailSettings
from ..model import Message, NewAttachment

WINDOW = timedelta(minutes=1)  # "a minute" of relay.flood_per_minute
EVERY = timedelta(minutes=1)  # a conversation's digests are at least this far apart
SHOWN = 30  # messages a digest lists from the start of its flood, and as many from the end
_SWEEP_EVERY = 4096  # checks between sweeps of conversations quiet for a while


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
        return floods.seed(archive, conversation_id, since, limit)

    return read


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
    return floods.store(
        archive,
        message,
        files,
        dedupe_key=dedupe_key,
        at=at,
        every=every,
        new_digest=mail.new_message_id,
    )


def covered(archive: Archive, digest: str, shown: int = SHOWN) -> Covered | None:
    """What the digest with this Message-ID lists (the first and last `shown` of its
    messages in full); None when no message names it."""
    return floods.covered(archive, digest, shown)
