"""The owner's figures, from the archive: first-response times, replies, who is waiting.

Pure: queries and arithmetic; nothing here prints (stats_report.py makes the tables, the
daily digest reads the same Report).

What the figures mean (the README says the same):
- A waiting period starts with a customer's message when none is open, and ends with the
  first manager reply after it that reached the customer. Its first-response time is the
  business time between the two (hours.py: all of it when no [hours] are configured).
- A manager reply is a message to the customer whose author is not im2mail (greetings and
  auto-replies answer nothing) and that reached them: sent by the chat outbox, or
  archived without any delivery at all (history imported from before im2mail), and never
  reported undelivered afterwards (Viber's `failed` callback). A reply whose delivery
  failed, or has not happened yet, is no answer.
- A waiting period counts in the period where it started; a reply where it was written.
  Conversations: those with a customer message or a reply in the period.
- Unanswered now: every conversation with an open waiting period, whatever the period,
  except those of customers the shop blocked (blocking.py) or forgot: nobody is to answer
  them.
- A linked person's conversations (people.py) count as one: their messages are walked
  together in time order (a wait started on one channel ends with a reply on any), a
  response time counts for the channel and source where the wait started, and the
  person is one conversation in each row they were active in.
- Erased messages (forget.py: im2mail forget, archive.keep_messages_days) still count:
  what stats needs of each (direction, time, the reply's manager and fate) is kept in
  forgotten_events and walked with the messages, so the figures of a period stay the same.

Messages are read per conversation in time order (created, then id: history imported
after im2mail started has later ids than the messages it precedes), streamed, and only of
conversations active in the period or possibly waiting now, which the index finds.
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
import sqlite3
import statistics
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..hours import BusinessHours
from ..model import Customer
from .db import dt, ts

if TYPE_CHECKING:
    from .store import Archive

GREETER = "im2mail"  # author of greetings and auto-replies (inbound.GREETER)
NO_SOURCE = "(none)"
KINDS = ("manager", "channel", "source")

# A reply's fate: 'reached' (an answer), 'pending' (its delivery is queued), 'failed'
# (forget.py keeps it too).
FATE = """
CASE WHEN m.direction = 'out' AND m.author != 'im2mail' THEN
  CASE WHEN EXISTS (SELECT 1 FROM outbox x WHERE x.message_id = m.id AND x.kind = 'undelivered')
         THEN 'failed'
       WHEN m.sent IS NOT NULL THEN 'reached'
       WHEN NOT EXISTS (SELECT 1 FROM outbox x WHERE x.message_id = m.id) THEN 'reached'
       WHEN EXISTS (SELECT 1 FROM outbox x WHERE x.message_id = m.id
                    AND x.target = 'channel' AND x.state = 'pending') THEN 'pending'
       ELSE 'failed' END
END"""
_EVENTS_SQL = f"""
SELECT m.conversation_id, m.id, m.direction, m.author, m.created,
       {FATE} AS fate
FROM messages m WHERE m.conversation_id IN (SELECT value FROM json_each(?))
ORDER BY m.conversation_id, m.created, m.id
"""
# What is left of erased messages (forget.py): the same columns, ids below zero.
_FORGOTTEN_SQL = """
SELECT conversation_id, -id, direction, author, created, fate FROM forgotten_events
WHERE conversation_id IN (SELECT value FROM json_each(?))
ORDER BY conversation_id, created, id
"""
# Conversations with a message in [since, until): one index seek each; and those of erased
# messages in it.
_ACTIVE_SQL = """
SELECT c.id FROM conversations c WHERE EXISTS (
  SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.created >= ?1 AND m.created < ?2)
UNION SELECT conversation_id FROM forgotten_events WHERE created >= ?1 AND created < ?2
"""
# Conversations that may be waiting: their newest customer message is at least as new as
# their newest reply that reached them (the walk decides exactly), and from `since` on.
# Both walk back from the conversation's newest message and stop at the first that fits.
_MAYBE_WAITING_SQL = f"""
SELECT id FROM (
  SELECT c.id,
    (SELECT w.created FROM messages w WHERE w.conversation_id = c.id AND w.direction = 'in'
     ORDER BY w.created DESC LIMIT 1) AS last_in,
    (SELECT m.created FROM messages m WHERE m.conversation_id = c.id
     AND m.direction = 'out' AND ({FATE}) = 'reached' ORDER BY m.created DESC LIMIT 1)
     AS last_answer
  FROM conversations c)
WHERE last_in >= ? AND last_in >= coalesce(last_answer, '')
"""
_CONVERSATIONS_SQL = """
SELECT c.id AS conversation_id, c.bot, u.* FROM conversations c
JOIN customers u ON u.id = c.customer_id
WHERE c.id IN (SELECT value FROM json_each(?))
"""


# -- what comes out ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """One row of a table: a manager's, a channel's or a lead source's figures."""

    kind: str  # manager, channel, source
    name: str | None  # the address, channel or source; None: customers with no source
    conversations: int = 0
    replies: int = 0
    responses: int = 0  # waiting periods answered: what median and p90 are of
    median: float | None = None  # seconds of business time
    p90: float | None = None
    unanswered: int = 0  # waiting now (managers: where they were the last to answer)

    @property
    def label(self) -> str:
        return self.name if self.name is not None else NO_SOURCE

    def record(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            self.kind: self.name,
            "conversations": self.conversations,
            "replies": self.replies,
            "responses": self.responses,
            "first_response_median": _seconds(self.median),
            "first_response_p90": _seconds(self.p90),
            "unanswered": self.unanswered,
        }


@dataclass(frozen=True)
class Waiting:
    """A conversation whose customer waits for an answer now."""

    conversation: int
    channel: str
    bot: str
    customer: str
    source: str | None
    manager: str | None  # the last manager who answered them, if any
    since: datetime  # the customer message that started the wait
    message: int  # its id
    waited: float  # seconds since then
    business: float  # seconds of business time since then

    def record(self) -> dict[str, Any]:
        return {
            "kind": "unanswered",
            "conversation": self.conversation,
            "channel": self.channel,
            "bot": self.bot,
            "customer": self.customer,
            "source": self.source,
            "manager": self.manager,
            "waiting_since": self.since.isoformat(),
            "waiting_seconds": _seconds(self.waited),
            "business_seconds": _seconds(self.business),
        }


@dataclass(frozen=True)
class Report:
    since: datetime
    until: datetime
    now: datetime
    messages: int  # customer messages and replies in the period
    managers: tuple[Figures, ...] = ()
    channels: tuple[Figures, ...] = ()
    sources: tuple[Figures, ...] = ()
    unanswered: tuple[Waiting, ...] = ()  # longest wait first

    @property
    def empty(self) -> bool:
        return not self.messages and not self.unanswered

    def records(self) -> Iterator[dict[str, Any]]:
        """The --json lines: managers, channels, sources, then who is waiting."""
        for row in (*self.managers, *self.channels, *self.sources, *self.unanswered):
            yield row.record()


# -- the computation ---------------------------------------------------------------------------


def report(
    archive: Archive,
    hours: BusinessHours,
    since: datetime,
    until: datetime,
    now: datetime,
    managers: Sequence[str] = (),
) -> Report:
    """The figures of [since, until) and who waits at `now`. `managers` (mail.managers)
    get a row even when idle."""
    with archive._reading() as db:
        active = [r[0] for r in db.execute(_ACTIVE_SQL, (ts(since), ts(until)))]
        maybe = [r[0] for r in db.execute(_MAYBE_WAITING_SQL, ("",))]
        tally = _Tally(hours, since, until, now)
        _walk(db, set(active) | set(maybe), tally, pending_answers=False)
    return tally.report({_manager(m) for m in managers})


def waiting_now(
    archive: Archive, hours: BusinessHours, now: datetime, since: datetime
) -> list[Waiting]:
    """Conversations whose wait started at or after `since` and is still open at `now`,
    counting a reply whose delivery is queued as an answer (for reminders: the customer
    is about to get it)."""
    with archive._reading() as db:
        scope = {r[0] for r in db.execute(_MAYBE_WAITING_SQL, (ts(since),))}
        tally = _Tally(hours, now, now, now)
        _walk(db, scope, tally, pending_answers=True)
    return [w for w in tally.waiting if w.since >= since]


@dataclass(frozen=True)
class _Conversation:
    id: int
    bot: str
    channel: str
    customer: str
    source: str | None
    blocked: bool = False  # by the shop
    forgotten: bool = False  # im2mail forget: nobody can answer them


def _walk(db: sqlite3.Connection, scope: set[int], tally: _Tally, *, pending_answers: bool) -> None:
    """Tally the conversations of `scope`, a linked person's (people.py) as one: their
    messages interleaved by time, with those of the other conversations of the person."""
    from .people import people_of

    linked = people_of(db, scope)
    ids = sorted(scope | {c for members in linked.values() for c in members})
    info = _conversations(db, ids)
    held: dict[int, list[tuple]] = defaultdict(list)  # a person's first conversation: events
    for conversation_id, events in _events(db, ids):
        c = info[conversation_id]
        members = linked.get(conversation_id)
        if members is None:
            tally.unit(c.id, ((c, *e[1:]) for e in events), pending_answers=pending_answers)
        else:
            held[members[0]] += [(c, *e[1:]) for e in events]
    for first, events in held.items():
        events.sort(key=lambda e: (e[4], e[1] > 0, abs(e[1])))  # created, then id
        tally.unit(("person", first), events, pending_answers=pending_answers)


def _conversations(db: sqlite3.Connection, ids: list[int]) -> dict[int, _Conversation]:
    from .rows import customer_from

    found = {}
    for row in db.execute(_CONVERSATIONS_SQL, (json.dumps(ids),)):
        c: Customer = customer_from(row)
        found[row["conversation_id"]] = _Conversation(
            row["conversation_id"],
            row["bot"],
            c.channel,
            c.display_name,
            c.source or None,
            blocked=c.blocked_by_shop is not None,
            forgotten=c.forgotten is not None,
        )
    return found


def _events(db: sqlite3.Connection, ids: list[int]) -> Iterator[tuple[int, Iterable]]:
    """(conversation id, its messages in time order), streamed from one query; with what
    is left of its erased messages (ids below zero), when it has any."""
    if not ids:
        return iter(())
    scope = json.dumps(ids)
    rows: Iterable = db.execute(_EVENTS_SQL, (scope,))
    if db.execute("SELECT 1 FROM forgotten_events LIMIT 1").fetchone() is not None:
        erased = db.execute(_FORGOTTEN_SQL, (scope,))
        rows = heapq.merge(rows, erased, key=lambda r: (r[0], r[4], r[1] > 0, abs(r[1])))
    return itertools.groupby(rows, key=lambda r: r[0])


@dataclass
class _Group:
    conversations: set[int] = field(default_factory=set)
    replies: int = 0
    times: list[float] = field(default_factory=list)
    unanswered: int = 0

    def figures(self, kind: str, name: str | None) -> Figures:
        times = sorted(self.times)
        return Figures(
            kind,
            name,
            conversations=len(self.conversations),
            replies=self.replies,
            responses=len(times),
            median=statistics.median(times) if times else None,
            p90=times[math.ceil(0.9 * len(times)) - 1] if times else None,
            unanswered=self.unanswered,
        )


class _Tally:
    """Walks each conversation's messages and adds them up per manager, channel, source."""

    def __init__(self, hours: BusinessHours, since: datetime, until: datetime, now: datetime):
        self.hours, self.since, self.until, self.now = hours, since, until, now
        self.managers: dict[str, _Group] = defaultdict(_Group)
        self.channels: dict[str, _Group] = defaultdict(_Group)
        self.sources: dict[str | None, _Group] = defaultdict(_Group)
        self.waiting: list[Waiting] = []
        self.messages = 0

    def _within(self, moment: datetime) -> bool:
        return self.since <= moment < self.until

    def _groups(self, c: _Conversation) -> tuple[_Group, _Group]:
        return self.channels[c.channel], self.sources[c.source]

    def unit(self, key: object, events: Iterable, *, pending_answers: bool) -> None:
        """One conversation's events (key: its id), or a linked person's (their
        conversations' events interleaved by time): (conversation, message id,
        direction, author, created, fate) each."""
        started: tuple[datetime, int, _Conversation] | None = None  # the wait open now
        last_manager = None
        answers = ("reached", "pending") if pending_answers else ("reached",)
        for c, message_id, direction, author, created, fate in events:
            groups = self._groups(c)
            when = dt(created)
            assert when is not None
            within = self._within(when)
            if direction == "in":
                if started is None:
                    started = (when, message_id, c)
                if within:
                    self.messages += 1
                    for g in groups:
                        g.conversations.add(key)
                continue
            if fate not in answers:
                continue  # im2mail's own message, or a reply that did not reach them
            author = _manager(author)
            manager = self.managers[author]
            if within and fate == "reached":
                self.messages += 1
                for g in (manager, *groups):
                    g.replies += 1
                    g.conversations.add(key)
            if started is not None:
                if self._within(started[0]) and fate == "reached":
                    seconds = self.hours.open_seconds(started[0], when)
                    for g in (manager, *self._groups(started[2])):  # where they wrote
                        g.times.append(seconds)
                started = None
            last_manager = author
        if started is None or started[2].blocked or started[2].forgotten:
            return
        c = started[2]
        for g in self._groups(c):
            g.unanswered += 1
        if last_manager is not None:
            self.managers[last_manager].unanswered += 1
        self.waiting.append(
            Waiting(
                c.id, c.channel, c.bot, c.customer, c.source, last_manager,
                since=started[0], message=started[1],
                waited=max(0.0, (self.now - started[0]).total_seconds()),
                business=self.hours.open_seconds(started[0], self.now),
            )
        )  # fmt: skip

    def report(self, managers: set[str]) -> Report:
        for manager in managers:
            self.managers.setdefault(manager, _Group())  # a configured manager has a row

        def table(kind: str, groups: dict) -> tuple[Figures, ...]:
            rows = [g.figures(kind, name) for name, g in groups.items()]
            rows = [r for r in rows if r.conversations or r.unanswered or r.name in managers]
            return tuple(sorted(rows, key=lambda r: (-r.conversations, r.label)))

        return Report(
            since=self.since,
            until=self.until,
            now=self.now,
            messages=self.messages,
            managers=table("manager", self.managers),
            channels=table("channel", self.channels),
            sources=table("source", self.sources),
            unanswered=tuple(sorted(self.waiting, key=lambda w: (w.since, w.conversation))),
        )


def _manager(author: str) -> str:
    """Addresses in any case are one manager; a name (imported history) stays as written."""
    author = author.strip()
    return author.lower() if "@" in author else author


def _seconds(value: float | None) -> int | None:
    return None if value is None else round(value)
