"""The pieces of a reply: every chat message a manager's reply went as.

A long reply, or text with files, goes as several chat messages (the channel's plan:
one step each, a Telegram album one step of several). What the platform says later about
any of them (a failure, a receipt, a reaction) is about the reply. `messages` keeps the
first piece's id, as it always did; `reply_pieces` (migration m015) keeps every piece's,
written in the same transaction that records the step as sent (deliveries.py), so a
delivery resumed after a restart records its later pieces too.

`reply_by_piece` finds a reply by any of its pieces, through the customer's
conversation: index lookups in an archive of any size. The replies sent before m015 are
found by their first piece only (`messages`), as before.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from ..model import Customer


def record(db: sqlite3.Connection, item_id: int, channel_message_ids: Sequence[str]) -> None:
    """The message of outbox row `item_id` went as these chat messages (too)."""
    if not channel_message_ids:
        return
    db.executemany(
        "INSERT OR IGNORE INTO reply_pieces (message_id, conversation_id, channel_message_id)"
        " SELECT m.id, m.conversation_id, ? FROM outbox o JOIN messages m ON m.id = o.message_id"
        " WHERE o.id = ?",
        [(str(piece), item_id) for piece in channel_message_ids],
    )


def reply_by_piece(
    db: sqlite3.Connection, bot: str, customer: Customer, channel_message_id: str
) -> int | None:
    """The id of the reply the bot sent the customer as (among others) the chat message
    `channel_message_id`; None when no reply has such a piece."""
    row = db.execute(
        "SELECT p.message_id FROM customers u"
        " JOIN conversations c ON c.customer_id = u.id AND c.bot = ?"
        " JOIN reply_pieces p ON p.conversation_id = c.id AND p.channel_message_id = ?"
        " WHERE u.channel = ? AND u.external_id = ? ORDER BY p.message_id DESC LIMIT 1",
        (bot, channel_message_id, customer.channel, customer.external_id),
    ).fetchone()
    return row[0] if row else None
