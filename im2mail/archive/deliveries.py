"""The delivery queue: the archive's outbox table, as the sending workers use it.

An outbox row is made in the same transaction as its message (Archive.add_message with
outbox=...). A worker (mail/smtp_outbox.py for email, the channel sender for messengers) takes
the rows that are due, tries each, and records what happened; every call here is one short
transaction. Reach it as `archive.deliveries`.

A row's life: pending -> sent, or pending -> failed (given up: a permanent refusal after
the retry budget, or data that cannot be sent). `attempts` counts the tries made, the
successful or final one included. `next_try` is, while pending, the earliest time of the
next try; once sent or failed, the time that happened (the table has no other time
column). Sent rows stay: they are part of the archive.

backoff_delay is the retry schedule every worker uses.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..model import OutboxItem
from . import pieces as pieces_of
from .db import clean, dt, now, ts
from .rows import insert_outbox, outbox_from

if TYPE_CHECKING:
    from .store import Archive

PENDING, SENT, FAILED = "pending", "sent", "failed"
MAX_ERROR_CHARS = 1000  # a server's reply can be long; status shows one line of it

# 5 s, 15 s, 1 min, 5 min, 15 min, then every 30 min.
BACKOFF_STEPS: tuple[float, ...] = (5.0, 15.0, 60.0, 300.0, 900.0, 1800.0)
BACKOFF_JITTER = 0.2
# An email refused for a day (a 4xx the server keeps giving it alone: too big for today's
# quota, a scanner that chokes on it) stops holding its conversation's later emails back:
# order is kept through greylisting and outages, not at the cost of a silent conversation.
HOLD_AT_MOST = timedelta(hours=24)


def backoff_delay(
    attempts: int,
    *,
    steps: Sequence[float] = BACKOFF_STEPS,
    jitter: float = BACKOFF_JITTER,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after `attempts` failed tries (1 after the first failure) before
    the next: steps[attempts - 1], the last step repeating, spread by up to ±jitter (a
    fraction) so that items that failed together don't all come back at the same moment."""
    if not steps:
        raise ValueError("backoff needs at least one step")
    base = steps[min(max(attempts, 1), len(steps)) - 1]
    return max(0.0, base * (1 + jitter * (2 * rand() - 1)))


class Deliveries:
    """Queue operations on the outbox table of one open archive."""

    def __init__(self, archive: Archive) -> None:
        self._archive = archive

    def due_deliveries(
        self, target: str, now: datetime, limit: int, *, after: int = 0, in_order: bool = False
    ) -> list[OutboxItem]:
        """Pending rows of `target` ('mail' or 'channel') whose next_try has come, oldest
        (first queued) first, at most `limit`, only those queued after row `after`; each
        with its message's conversation_id (a worker that sends several at once keeps a
        conversation's in order). `in_order`: a row waits while an earlier row of its
        conversation awaits a retry (tried, pending, not due yet), so the conversation's
        rows go in queue order; a row given up (failed), or queued more than HOLD_AT_MOST
        ago, holds nothing."""
        with self._archive._reading() as db:
            found = db.execute(
                "SELECT o.*, m.conversation_id FROM outbox o JOIN messages m"
                " ON m.id = o.message_id WHERE o.state = ? AND o.target = ? AND o.next_try <= ?"
                " AND o.id > ? ORDER BY o.id LIMIT ?",
                (PENDING, target, ts(now), after, limit),
            ).fetchall()
            held = dict(
                db.execute(
                    "SELECT m.conversation_id, min(o.id) FROM outbox o JOIN messages m"
                    " ON m.id = o.message_id WHERE o.state = ? AND o.target = ?"
                    " AND o.next_try > ? AND o.attempts > 0 AND o.created > ?"
                    " GROUP BY m.conversation_id",
                    (PENDING, target, ts(now), ts(now - HOLD_AT_MOST)),
                ).fetchall()
                if in_order and found
                else ()
            )
        items = [outbox_from(row) for row in found]
        if held:
            items = [i for i in items if (i.id or 0) < held.get(i.conversation_id, 1 << 62)]
        return items

    def delivery_sent(
        self,
        item_id: int,
        when: datetime,
        *,
        channel_message_id: str | None = None,
        pieces: Sequence[str] = (),
        then: Sequence[OutboxItem] = (),
    ) -> bool:
        """The item went out at `when` (counted as a try). The message's `sent` time is
        set too, unless it had one, and its channel_message_id (a reply's first message in
        the chat); `pieces`: the chat messages its last step went as (pieces.py). `then`:
        deliveries this one leads to (a notice to the other managers), queued for the same
        message in the same transaction. False when the row was not pending (nothing
        changed)."""
        with self._archive._transaction() as db:
            done = _settle(db, item_id, SENT, when, None)
            if done:
                _mark_message(db, item_id, ts(when), channel_message_id)
                pieces_of.record(db, item_id, pieces)
                _queue_after(db, item_id, then)
            return done

    def delivery_sending(self, item_id: int, step: int | None) -> bool:
        """Step `step` of the item is about to be sent (None: no step is). Committed before
        the platform is called, so that after a crash the step in doubt is known."""
        with self._archive._transaction() as db:
            cur = db.execute(
                "UPDATE outbox SET in_flight = ? WHERE id = ? AND state = ?",
                (step, item_id, PENDING),
            )
            return cur.rowcount == 1

    def delivery_progress(
        self,
        item_id: int,
        progress: int,
        channel_message_id: str | None = None,
        pieces: Sequence[str] = (),
    ) -> bool:
        """`progress` steps of the item are done (a resumed delivery starts after them);
        the message gets channel_message_id if it had none, and `pieces` (the chat
        messages the step just done went as: pieces.py). False when not pending."""
        with self._archive._transaction() as db:
            cur = db.execute(
                "UPDATE outbox SET progress = ?, in_flight = NULL WHERE id = ? AND state = ?",
                (progress, item_id, PENDING),
            )
            if cur.rowcount == 1 and channel_message_id is not None:
                _mark_message(db, item_id, None, channel_message_id)
            if cur.rowcount == 1:
                pieces_of.record(db, item_id, pieces)
            return cur.rowcount == 1

    def delivery_retry(
        self, item_id: int, error: str, next_try: datetime, *, in_flight: bool = False
    ) -> bool:
        """A try failed in a way worth retrying: count it, keep the error, try again at
        next_try. `in_flight`: the step tried stays marked as maybe sent. False when the
        row was not pending."""
        keep = "in_flight" if in_flight else "NULL"
        with self._archive._transaction() as db:
            cur = db.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_try = ?,"
                f" in_flight = {keep} WHERE id = ? AND state = ?",
                (_error(error), ts(next_try), item_id, PENDING),
            )
            return cur.rowcount == 1

    def delivery_failed(
        self,
        item_id: int,
        error: str,
        when: datetime | None = None,
        *,
        then: Sequence[OutboxItem] = (),
    ) -> bool:
        """Give the item up (counted as a try) with the reason; `then` (a notice to the
        manager) is queued for the same message in the same transaction. False when the
        row was not pending."""
        with self._archive._transaction() as db:
            done = _settle(db, item_id, FAILED, when or now(), error)
            if done:
                _queue_after(db, item_id, then)
            return done

    def count_due(self, target: str, now: datetime, at_most: int) -> int:
        """How many pending rows of `target` are due now, counted up to `at_most` (a
        backlog's size, for pacing: the count stops there, so a long queue costs no more
        than a short one)."""
        with self._archive._reading() as db:
            (count,) = db.execute(
                "SELECT count(*) FROM (SELECT 1 FROM outbox WHERE state = ? AND target = ?"
                " AND next_try <= ? LIMIT ?)",
                (PENDING, target, ts(now), at_most),
            ).fetchone()
        return count

    def next_delivery_time(self, target: str) -> datetime | None:
        """When the earliest pending row of `target` is due (maybe already past); None
        when nothing is pending. A worker sleeps until then, or until notified."""
        with self._archive._reading() as db:
            row = db.execute(
                "SELECT next_try FROM outbox WHERE state = ? AND target = ?"
                " ORDER BY next_try LIMIT 1",
                (PENDING, target),
            ).fetchone()
        return dt(row[0]) if row else None

    def outbox_counts(self, target: str | None = None) -> dict[str, Any]:
        """The backlog for `status` and `doctor`, for one target or both:
        pending (count), retrying (pending rows tried before), failed (count),
        oldest_pending (when the oldest pending row was queued), next_try (the earliest
        pending next_try), last_error (the error of the newest pending row that has one,
        else of the newest failed row; None if neither)."""
        where, args = ("", ()) if target is None else (" AND target = ?", (target,))
        with self._archive._reading() as db:
            counts = db.execute(
                "SELECT count(*), count(nullif(attempts, 0)), min(created), min(next_try)"
                f" FROM outbox WHERE state = ?{where}",
                (PENDING, *args),
            ).fetchone()
            failed = db.execute(
                f"SELECT count(*) FROM outbox WHERE state = ?{where}", (FAILED, *args)
            ).fetchone()[0]
            error = db.execute(
                "SELECT last_error FROM outbox WHERE state IN (?, ?)"
                f" AND last_error IS NOT NULL{where} ORDER BY state = ? DESC, id DESC LIMIT 1",
                (PENDING, FAILED, *args, PENDING),
            ).fetchone()
        return {
            "pending": counts[0],
            "retrying": counts[1],
            "failed": failed,
            "oldest_pending": dt(counts[2]),
            "next_try": dt(counts[3]),
            "last_error": error[0] if error else None,
        }


def _settle(
    db: sqlite3.Connection, item_id: int, state: str, when: datetime, error: str | None
) -> bool:
    cur = db.execute(
        "UPDATE outbox SET state = ?, attempts = attempts + 1, next_try = ?, in_flight = NULL,"
        " last_error = coalesce(?, last_error) WHERE id = ? AND state = ?",
        (state, ts(when), _error(error) if error is not None else None, item_id, PENDING),
    )
    return cur.rowcount == 1


def _mark_message(
    db: sqlite3.Connection, item_id: int, sent: str | None, channel_message_id: str | None
) -> None:
    """The item's message: its sent time and channel message id, each unless it had one."""
    db.execute(
        "UPDATE messages SET sent = coalesce(sent, ?),"
        " channel_message_id = coalesce(channel_message_id, ?)"
        " WHERE id = (SELECT message_id FROM outbox WHERE id = ?)",
        (sent, channel_message_id, item_id),
    )


def _queue_after(db: sqlite3.Connection, item_id: int, then: Sequence[OutboxItem]) -> None:
    if not then:
        return
    (message_id,) = db.execute("SELECT message_id FROM outbox WHERE id = ?", (item_id,)).fetchone()
    for item in then:
        insert_outbox(db, message_id, item)


def _error(text: str) -> str:
    text = clean(text).strip() or "unknown error"
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"
