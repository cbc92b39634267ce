"""What a messenger says later about messages the shop sent: delivered, seen, failed.

Viber calls back with the message_token of a message when it reaches the customer's phone
(delivered), when they open it (seen), or when it could not be delivered at all (failed).
The archive keeps the times on the reply (`tail` and `export` show them); a failure also
queues a notice to the manager who wrote the reply, as a refusal at send time does.

A reply sent in several messages is found by any of them (pieces.py): a receipt or a
failure of its second message is the reply's, as one of its first is. Receipts of
messages the archive doesn't know (a welcome message, a message from before im2mail)
change nothing.
"""

from __future__ import annotations

from datetime import datetime

from ..model import UNDELIVERED, Customer, OutboxItem
from . import Archive, pieces, rows
from .db import ts

RECEIPTS = ("delivered", "seen")


def known_customer(archive: Archive, channel: str, external_id: str) -> Customer | None:
    """The archived customer, without touching it (a callback that names only the id
    must not blank their name)."""
    return archive.customer(channel, external_id)


def _reply_id(db, bot: str, customer: Customer, channel_message_id: str) -> int | None:
    """The message the bot sent the customer under that id (its first chat message, else
    any of a reply's pieces). Found through the customer's conversation, so that every
    step is an index lookup in an archive of any size."""
    row = db.execute(
        "SELECT m.id FROM customers u"
        " JOIN conversations c ON c.customer_id = u.id AND c.bot = ?"
        " JOIN messages m ON m.conversation_id = c.id AND m.channel_message_id = ?"
        " WHERE u.channel = ? AND u.external_id = ? AND m.direction = 'out'"
        " ORDER BY m.id DESC LIMIT 1",
        (bot, channel_message_id, customer.channel, customer.external_id),
    ).fetchone()
    return row[0] if row else pieces.reply_by_piece(db, bot, customer, channel_message_id)


def mark(
    archive: Archive,
    bot: str,
    customer: Customer,
    channel_message_id: str,
    receipt: str,
    when: datetime,
) -> int | None:
    """Record that the bot's message reached the customer (`receipt` "delivered") or was
    read ("seen", which implies delivered). The first time counts: a repeated callback
    changes nothing. Returns the archived message's id, None when it is not ours."""
    if receipt not in RECEIPTS:
        raise ValueError(f"not a receipt: {receipt!r}")
    with archive._transaction() as db:
        message_id = _reply_id(db, bot, customer, channel_message_id)
        if message_id is None:
            return None
        stamp = ts(when)
        db.execute(
            f"UPDATE messages SET {receipt} = coalesce({receipt}, ?) WHERE id = ?",
            (stamp, message_id),
        )
        if receipt == "seen":
            db.execute(
                "UPDATE messages SET delivered = coalesce(delivered, ?) WHERE id = ?",
                (stamp, message_id),
            )
    return message_id


def mark_until(
    archive: Archive, bot: str, customer: Customer, receipt: str, until: datetime
) -> int:
    """A receipt by time (Messenger's watermarks: everything the bot sent the customer up
    to `until`): each such message not yet marked gets `until`. Returns how many."""
    if receipt not in RECEIPTS:
        raise ValueError(f"not a receipt: {receipt!r}")
    stamp = ts(until)
    with archive._transaction() as db:
        ids = [row[0] for row in db.execute(
            "SELECT m.id FROM customers u"
            " JOIN conversations c ON c.customer_id = u.id AND c.bot = ?"
            " JOIN messages m ON m.conversation_id = c.id"
            f" WHERE u.channel = ? AND u.external_id = ? AND m.direction = 'out'"
            f" AND m.sent IS NOT NULL AND m.sent <= ? AND m.{receipt} IS NULL",
            (bot, customer.channel, customer.external_id, stamp),
        )]  # fmt: skip
        for message_id in ids:
            db.execute(f"UPDATE messages SET {receipt} = ? WHERE id = ?", (stamp, message_id))
            if receipt == "seen":
                db.execute("UPDATE messages SET delivered = coalesce(delivered, ?) WHERE id = ?",
                           (stamp, message_id))  # fmt: skip
    return len(ids)


def failed(
    archive: Archive,
    bot: str,
    customer: Customer,
    channel_message_id: str,
    reason: str,
    notice_message_id: str,
    dedupe_key: str,
) -> int | None:
    """The platform could not deliver the bot's message: queue the notice to the reply's
    author (email Message-ID `notice_message_id`), once per `dedupe_key`. Returns the
    reply's id; None when the message is not a reply of ours or the callback came before."""
    with archive._transaction() as db:
        message_id = _reply_id(db, bot, customer, channel_message_id)
        if message_id is None or not rows.mark_seen(db, dedupe_key):
            return None
        notice = OutboxItem(
            "mail", email_message_id=notice_message_id, kind=UNDELIVERED, note=reason
        )
        rows.insert_outbox(db, message_id, notice)
    return message_id
