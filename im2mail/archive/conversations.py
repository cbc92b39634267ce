"""Customers and their conversations (one per customer and bot): Archive's questions about
who writes. A conversation is made on first contact, with its random reply token.

The listing (`im2mail conversations`) shows each conversation's last message and since
when its customer waits for an answer, if they do.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from ..errors import ArchiveError, NotFound
from ..model import Connection, Conversation, ConversationSummary, Customer
from . import rows
from .db import ArchiveBase, fits_sqlite, now, ts

_CUSTOMER_SQL = "SELECT * FROM customers WHERE channel = ? AND external_id = ?"
_CONVERSATION_SQL = """
SELECT c.id AS conversation_id, c.bot, c.token, c.thread_key, c.state,
       c.created AS conversation_created, u.*, b.owner_id AS via_owner,
       k.owner_name AS via_name, k.owner_username AS via_username
FROM conversations c JOIN customers u ON u.id = c.customer_id
LEFT JOIN business_chats b ON b.customer_id = c.customer_id
LEFT JOIN business_connections k ON k.bot = b.bot AND k.owner_id = b.owner_id
"""
# waiting_since: the oldest message from the customer after the last answer (im2mail's
# own greetings and auto-replies are no answer, nor a reply that was not sent or came back
# undelivered: the customer got nothing), if any; a linked customer's last answer is the
# last in any conversation of their person (people.py). Each subquery walks the
# (conversation_id, id) index briefly.
_ANSWER = """o.direction = 'out' AND o.author != 'im2mail' AND NOT EXISTS (
    SELECT 1 FROM outbox x WHERE x.message_id = o.id AND x.kind IN ('not-sent', 'undelivered'))"""
_CONVERSATIONS_SQL = f"""
WITH stats AS (
    SELECT conversation_id, count(*) AS messages, max(id) AS last_id
    FROM messages GROUP BY conversation_id
)
SELECT c.id AS conversation_id, c.bot, c.created AS conversation_created, u.*,
       coalesce(s.messages, 0) AS messages, lm.created AS last_created,
       lm.text AS last_text, lm.kind AS last_kind,
       (SELECT w.created FROM messages w
        WHERE w.conversation_id = c.id AND w.direction = 'in' AND w.id > coalesce(
          CASE WHEN u.person_id IS NULL THEN (
            SELECT o.id FROM messages o WHERE o.conversation_id = c.id AND {_ANSWER}
            ORDER BY o.id DESC LIMIT 1)
          ELSE (
            SELECT max(o.id) FROM messages o WHERE o.conversation_id IN (
              SELECT c2.id FROM customers u2 JOIN conversations c2 ON c2.customer_id = u2.id
              WHERE u2.person_id = u.person_id) AND {_ANSWER}) END, 0)
        ORDER BY w.id LIMIT 1) AS waiting_since,
       CASE WHEN u.channel IN (SELECT value FROM json_each(?)) THEN
         (SELECT max(i.created) FROM messages i
          WHERE i.conversation_id = c.id AND i.direction = 'in') END AS last_in,
       (SELECT json_group_array(c2.id) FROM customers u2
        JOIN conversations c2 ON c2.customer_id = u2.id
        WHERE u2.person_id = u.person_id AND c2.id <> c.id) AS linked
FROM conversations c
JOIN customers u ON u.id = c.customer_id
LEFT JOIN stats s ON s.conversation_id = c.id
LEFT JOIN messages lm ON lm.id = s.last_id
WHERE u.forgotten IS NULL
ORDER BY coalesce(lm.created, c.created) DESC, c.id DESC
"""


class Conversations(ArchiveBase):
    """Archive's questions about customers and conversations."""

    # -- customers -----------------------------------------------------------------------------

    def upsert_customer(self, c: Customer) -> Customer:
        """Insert or update by (channel, external_id). Names and username follow the
        platform; phone and source are kept when the new value is None; blocked is kept
        (see set_customer_blocked). The customer's index rows follow a new name."""
        key = (c.channel, c.external_id)
        with self._transaction() as db:
            old = db.execute(_CUSTOMER_SQL, key).fetchone()
            if old is None:
                rows.insert_customer(db, c)
            else:
                before = rows.customer_from(old)
                rows.update_customer(db, before, c)
                after = rows.customer_from(db.execute(_CUSTOMER_SQL, key).fetchone())
                if rows.customer_index(before) != rows.customer_index(after):
                    _reindex_customer(db, before, after)
            return rows.customer_from(db.execute(_CUSTOMER_SQL, key).fetchone())

    def customer(self, channel: str, external_id: str) -> Customer | None:
        """The archived customer; None when unknown."""
        with self._reading() as db:
            row = db.execute(_CUSTOMER_SQL, (channel, external_id)).fetchone()
        return rows.customer_from(row) if row is not None else None

    def set_customer_blocked(self, customer_id: int, blocked: bool) -> None:
        """The platform's news that the customer blocked the bot (or unblocked it); the
        shop's own blocks are blocks.py's."""
        with self._transaction() as db:
            db.execute("UPDATE customers SET blocked = ? WHERE id = ?", (int(blocked), customer_id))

    # -- conversations -------------------------------------------------------------------------

    def conversation_for(self, customer: Customer, bot: str) -> Conversation:
        """The customer's conversation with this bot, created on first contact."""
        if customer.id is None:
            customer = self.upsert_customer(customer)
        where = "c.customer_id = ? AND c.bot = ?"
        found = self._conversation_where(where, customer.id, bot)
        if found is not None:
            return found  # the usual case: no write lock needed
        from .tokens import new_token  # only on first contact: not at every start-up

        with self._transaction() as db:
            token = new_token()
            while db.execute("SELECT 1 FROM conversations WHERE token = ?", (token,)).fetchone():
                token = new_token()  # 1 in 36**12: draw again
            db.execute(
                "INSERT INTO conversations (customer_id, bot, token, created)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (customer_id, bot) DO NOTHING",
                (customer.id, bot, token, ts(now())),
            )
        found = self._conversation_where(where, customer.id, bot)
        if found is None:
            raise ArchiveError(f"could not create a conversation for bot '{bot}'")
        return found

    def conversation(self, id: int) -> Conversation:
        found = self._conversation_where("c.id = ?", id) if fits_sqlite(id) else None
        if found is None:
            raise NotFound(f"no conversation #{id}", hint="list them with: im2mail conversations")
        return found

    def conversation_by_token(self, token: str) -> Conversation | None:
        return self._conversation_where("c.token = ?", token.strip().lower())

    def conversation_by_email_id(self, email_message_id: str) -> Conversation | None:
        """The conversation an email Message-ID of ours (or a reply's) belongs to."""
        with self._reading() as db:
            row = db.execute(
                "SELECT conversation_id FROM messages WHERE email_message_id = ?"
                " UNION ALL SELECT m.conversation_id FROM outbox o"
                " JOIN messages m ON m.id = o.message_id WHERE o.email_message_id = ? LIMIT 1",
                (email_message_id, email_message_id),
            ).fetchone()
        return self.conversation(row[0]) if row else None

    def conversations(
        self, reply_windows: Mapping[str, timedelta] | None = None
    ) -> list[ConversationSummary]:
        """Every conversation, the most recently active first. `reply_windows`: the
        channels that limit how long after a customer's last message a reply may go, with
        that time (channels.reply_windows()); their conversations say when it closes."""
        windows = reply_windows or {}
        with self._reading() as db:
            found = db.execute(_CONVERSATIONS_SQL, (json.dumps(list(windows)),)).fetchall()
        return [replace(s, reply_window=windows.get(s.channel))
                for s in map(rows.summary_from, found)]  # fmt: skip

    def _conversation_where(self, where: str, *args: Any) -> Conversation | None:
        with self._reading() as db:
            row = db.execute(f"{_CONVERSATION_SQL} WHERE {where}", args).fetchone()
        if row is None:
            return None
        return replace(rows.conversation_from(row), via=_via(row))


def _via(row: sqlite3.Row) -> str | None:
    """The connected account a conversation is with, as people name it (a Telegram
    Business chat, archive/business.py); None for a chat with the bot."""
    if row["via_owner"] is None:
        return None
    account = Connection(row["bot"], "", row["via_owner"], row["via_name"] or "",
                         row["via_username"])  # fmt: skip
    return account.label


def _reindex_customer(db: sqlite3.Connection, before: Customer, after: Customer) -> None:
    """The customer's messages are found by their name: a new name, new index rows."""
    old, new = rows.customer_index(before), rows.customer_index(after)
    found = db.execute(
        "SELECT m.id, m.text FROM messages m JOIN conversations c"
        " ON c.id = m.conversation_id WHERE c.customer_id = ?",
        (after.id,),
    ).fetchall()
    for message_id, text in found:
        files = rows.file_names(db, message_id)
        rows.index_row(db, message_id, text, old, files, delete=True)
        rows.index_row(db, message_id, text, new, files)
