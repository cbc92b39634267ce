"""The shop's blocks on customers (relay/blocking.py says what a block does): kept in
customers.blocked_by_shop(_at), apart from customers.blocked, which is the platform's news
that the customer blocked the bot (Archive.set_customer_blocked). Here: setting and
lifting a block, with its notice when a manager's reply asked for it, and who is blocked
now (for `status`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..model import OutboxItem
from . import Archive, rows
from .db import dt, ts


def set_blocked(
    archive: Archive, customer_id: int | None, blocked: bool, *, by: str, at: datetime
) -> bool:
    """Block (blocked=True: by `by`, at `at`) or unblock the customer; whether that
    changed anything (False: it was so already)."""
    with archive._transaction() as db:
        return _set(db, customer_id, blocked, by, at)


def from_reply(
    archive: Archive,
    conversation_id: int,
    customer_id: int | None,
    blocked: bool,
    *,
    by: str,
    at: datetime,
    dedupe_key: str,
    notice: OutboxItem,
) -> bool:
    """Block or unblock as a manager's reply asked, and queue `notice` (to the managers)
    on the conversation's newest customer message, in one transaction with the reply's
    dedupe key. False when that reply was handled before (nothing changes)."""
    with archive._transaction() as db:
        if not rows.mark_seen(db, dedupe_key):
            return False
        _set(db, customer_id, blocked, by, at)
        # The notice's outbox row belongs to a customer's message (not an album's part,
        # whose pending email a later part would take for its own).
        found = db.execute(
            "SELECT id FROM messages WHERE conversation_id = ? AND direction = 'in'"
            " ORDER BY media_group IS NULL DESC, id DESC LIMIT 1",
            (conversation_id,),
        ).fetchone()
        if found is not None:
            rows.insert_outbox(db, found[0], notice)
    return True


def _set(db, customer_id: int | None, blocked: bool, by: str, at: datetime) -> bool:
    if blocked:
        cur = db.execute(
            "UPDATE customers SET blocked_by_shop = ?, blocked_by_shop_at = ?"
            " WHERE id = ? AND blocked_by_shop IS NULL",
            (by, ts(at), customer_id),
        )
    else:
        cur = db.execute(
            "UPDATE customers SET blocked_by_shop = NULL, blocked_by_shop_at = NULL"
            " WHERE id = ? AND blocked_by_shop IS NOT NULL",
            (customer_id,),
        )
    return cur.rowcount == 1


@dataclass(frozen=True)
class Blocked:
    """A conversation whose customer the shop blocked (for `status`)."""

    conversation: int
    customer: str
    by: str
    since: datetime | None

    def record(self) -> dict:
        return {
            "conversation": self.conversation,
            "customer": self.customer,
            "blocked_by": self.by,
            "blocked_since": self.since.isoformat() if self.since else None,
        }


def blocked(archive: Archive) -> list[Blocked]:
    """Every conversation of a blocked customer, the latest blocked first."""
    with archive._reading() as db:
        found = db.execute(
            "SELECT c.id AS conversation_id, u.* FROM conversations c"
            " JOIN customers u ON u.id = c.customer_id WHERE u.blocked_by_shop IS NOT NULL"
            " ORDER BY u.blocked_by_shop_at DESC, c.id"
        ).fetchall()
    return [
        Blocked(
            r["conversation_id"],
            rows.customer_from(r).display_name,
            r["blocked_by_shop"],
            dt(r["blocked_by_shop_at"]),
        )
        for r in found
    ]
