"""The shop blocks a customer: `im2mail block ID` / `im2mail unblock ID`, or a manager's
reply of only /block (/unblock) to an email about the conversation.

A blocked customer's messages are archived as ever (and acknowledged to the platform only
once stored), but mailed to nobody: no email, no flood digest, no greeting or auto-reply,
no "unanswered" reminder, and the daily digest and `stats` don't count them as waiting.
`conversations` and `status` show who is blocked, by whom and since when. The block is on
the customer, so all their conversations (one per bot) are blocked; it is kept in
customers.blocked_by_shop(_at), apart from customers.blocked, which is the platform's
news that the customer blocked the bot. Unblocking resumes the emails for new messages;
what came meanwhile stays in the archive and is not mailed after the fact.

A /block reply sends nothing to the customer. Instead the managers, all of them, get a
notice in the conversation's thread saying who blocked whom and how to undo it: a block
silences the customer for the whole team, so everyone should know, and anyone can undo it
by replying /unblock. The reply's dedupe key is recorded in the same transaction as the
block and the notice, so reading the email again changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from ..archive import Archive, rows
from ..archive.db import dt, ts
from ..mail.builder import MailSettings
from ..model import Conversation, OutboxItem

COMMAND_LINE = "im2mail block"  # who blocked, when it was done on the command line
BLOCK_NOTICE = "blocked"  # outbox kind: to the managers, a manager blocked the customer
UNBLOCK_NOTICE = "unblocked"  # ... unblocked them (note of both: "<manager> [<Message-ID>]")
_COMMAND = re.compile(r"\A\s*/(block|unblock)\s*\Z", re.IGNORECASE)


def command(text: str) -> str | None:
    """The command ("block" or "unblock") when `text` (a reply's own words) is only that command."""
    m = _COMMAND.match(text)
    return m[1].lower() if m else None


def set_blocked(
    archive: Archive, conversation_id: int, blocked: bool, *, by: str, at: datetime
) -> tuple[Conversation, bool]:
    """Block (blocked=True) or unblock the customer of the conversation; the conversation
    afterwards, and whether that changed anything (False: it was so already). NotFound
    (exit 5) for an unknown conversation."""
    conversation = archive.conversation(conversation_id)
    with archive.transaction() as db:
        changed = _set(db, conversation.customer.id, blocked, by, at)
    return archive.conversation(conversation_id), changed


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


def from_reply(
    archive: Archive,
    conversation: Conversation,
    what: str,
    *,
    by: str,
    email_id: str | None,
    dedupe_key: str,
    mail: MailSettings,
    at: datetime,
) -> bool:
    """Do what a manager's reply of only /block or /unblock (`what`) asks, and queue the
    notice to the managers, in one transaction with the reply's dedupe key. False when
    that reply was handled before (nothing changes)."""
    with archive.transaction() as db:
        if not rows.mark_seen(db, dedupe_key):
            return False
        _set(db, conversation.customer.id, what == "block", by, at)
        # The notice's outbox row belongs to a customer's message (not an album's part,
        # whose pending email a later part would take for its own).
        found = db.execute(
            "SELECT id FROM messages WHERE conversation_id = ? AND direction = 'in'"
            " ORDER BY media_group IS NULL DESC, id DESC LIMIT 1",
            (conversation.id,),
        ).fetchone()
        if found is not None:
            kind = BLOCK_NOTICE if what == "block" else UNBLOCK_NOTICE
            note = f"{by} {email_id or ''}".strip()
            item = OutboxItem("mail", email_message_id=mail.new_message_id(), kind=kind,
                              note=note)  # fmt: skip
            rows.insert_outbox(db, found[0], item)
    return True


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


def blocked(db) -> list[Blocked]:
    """Every conversation of a blocked customer, the latest blocked first (a connection of
    Archive.reading())."""
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
