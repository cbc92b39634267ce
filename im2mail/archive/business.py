"""Accounts connected to a bot (Telegram Business: the shop owner's personal Telegram,
connected to the shop's bot) and the chats they relay.

- The connection as it is now, one per bot and account (`record`, `by_id`, `connections`):
  a reconnect may bring a new connection id, the account stays the same. Each change
  (connected, disconnected, reply rights removed ...) is also kept in a list (`changes`).
- The people an account chats with are customers of their own (`chat_customer`): the
  same person's chat with the bot is another chat, with other message ids, and replies
  must go back the way they came. `route` says through which connection a conversation's
  replies go, if any.
- A message the platform reports deleted is marked, never erased (`mark_deleted`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from ..model import DELETED, Connection, Customer, Message, OutboxItem
from . import Archive, rows
from .db import dt, ts

_SELECT = "SELECT * FROM business_connections"


@dataclass(frozen=True)
class Route:
    """How a conversation's replies go: through `connection` (None when im2mail has lost
    it: nothing may be sent) to `chat_id`, the customer's chat with the account."""

    connection: Connection | None
    chat_id: str


@dataclass(frozen=True)
class Change:
    """One change of a connection, as recorded."""

    bot: str
    owner_id: str
    connection_id: str
    at: datetime
    change: str


def record(archive: Archive, connection: Connection, at: datetime) -> Connection | None:
    """Keep the connection as the platform reports it now. Returns it as stored, with
    `change` saying what changed ("connected", "disconnected", "reply rights removed",
    ...), or None when nothing did (a repeated update; a new name only is kept quietly)."""
    with archive._transaction() as db:
        row = db.execute(
            f"{_SELECT} WHERE bot = ? AND owner_id = ?", (connection.bot, connection.owner_id)
        ).fetchone()
        before = _connection(row) if row is not None else None
        change = describe(before, connection)
        changed = at if change or before is None else before.changed
        stored = replace(
            connection,
            changed=changed,
            change=change or (before.change if before else ""),
            since=connection.since or (before.since if before else None),
        )
        db.execute(
            "INSERT OR REPLACE INTO business_connections (bot, owner_id, id, owner_name,"
            " owner_username, chat_id, enabled, can_reply, rights, since, changed, change)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (stored.bot, stored.owner_id, stored.id, stored.owner_name, stored.owner_username,
             stored.chat_id, int(stored.enabled), int(stored.can_reply),
             json.dumps(list(stored.rights)), ts(stored.since), ts(stored.changed),
             stored.change),
        )  # fmt: skip
        if not change:
            return None
        db.execute(
            "INSERT INTO business_connection_changes (bot, owner_id, connection_id, at, change)"
            " VALUES (?, ?, ?, ?, ?)",
            (stored.bot, stored.owner_id, stored.id, ts(at), change),
        )
        return stored


def describe(before: Connection | None, now: Connection) -> str:
    """What changed from `before` to `now`, in words; "" when nothing that matters did."""
    if before is None:
        if not now.enabled:
            return "disconnected"
        return "connected" + ("" if now.can_reply else ", without the right to reply")
    if before.enabled != now.enabled:
        return "connected again" if now.enabled else "disconnected"
    if not now.enabled:
        return ""
    out = []
    if before.id != now.id:
        out.append("reconnected")
    if before.can_reply != now.can_reply:
        out.append("reply rights granted" if now.can_reply else "reply rights removed")
    gained = sorted(set(now.rights) - set(before.rights))
    lost = sorted(set(before.rights) - set(now.rights))
    if gained or lost:
        out.append("rights changed: " + ", ".join([*(f"+{r}" for r in gained),
                                                   *(f"-{r}" for r in lost)]))  # fmt: skip
    return "; ".join(out)


def by_id(archive: Archive, bot: str, connection_id: str) -> Connection | None:
    """The bot's connection with this id (the newest id of its account); None: unknown,
    or an id an account used before it reconnected."""
    with archive._reading() as db:
        row = db.execute(f"{_SELECT} WHERE bot = ? AND id = ?", (bot, connection_id)).fetchone()
    return _connection(row) if row is not None else None


def connections(archive: Archive, bot: str | None = None) -> list[Connection]:
    """The connections of one bot or of all, by bot, then the most recently changed first."""
    where, args = (" WHERE bot = ?", (bot,)) if bot is not None else ("", ())
    with archive._reading() as db:
        found = db.execute(f"{_SELECT}{where} ORDER BY bot, changed DESC", args).fetchall()
    return [_connection(r) for r in found]


def changes(archive: Archive, limit: int = 20) -> list[Change]:
    """The latest changes of every connection, newest first."""
    with archive._reading() as db:
        found = db.execute(
            "SELECT bot, owner_id, connection_id, at, change FROM business_connection_changes"
            " ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
    return [Change(r[0], r[1], r[2], dt(r[3]) or datetime.min, r[4]) for r in found]


def chat_customer(
    archive: Archive, connection: Connection, person: Customer, chat_id: str
) -> Customer:
    """The customer who is `person` (as the platform names them) chatting with the
    connected account: archived apart from their chat with the bot, under the external id
    `<their id>@<the account's id>`."""
    customer = archive.upsert_customer(replace(person, external_id=_scoped(connection, person)))
    with archive._transaction() as db:
        db.execute(
            "INSERT OR REPLACE INTO business_chats (customer_id, bot, owner_id, chat_id)"
            " VALUES (?, ?, ?, ?)",
            (customer.id, connection.bot, connection.owner_id, chat_id),
        )
    return customer


def route(archive: Archive, conversation_id: int) -> Route | None:
    """Through which connection the conversation's replies go; None: a chat with the bot."""
    with archive._reading() as db:
        row = db.execute(
            "SELECT b.chat_id AS route_chat, k.* FROM conversations c"
            " JOIN business_chats b ON b.customer_id = c.customer_id"
            " LEFT JOIN business_connections k ON k.bot = b.bot AND k.owner_id = b.owner_id"
            " WHERE c.id = ?",
            (conversation_id,),
        ).fetchone()
    if row is None:
        return None
    connection = _connection(row) if row["bot"] is not None else None
    return Route(connection, row["route_chat"])


def mark_deleted(
    archive: Archive,
    connection: Connection,
    person: Customer,
    channel_message_ids: Sequence[str],
    at: datetime,
    *,
    dedupe_key: str,
    notice_id: str | None = None,
) -> list[Message]:
    """Mark the messages with these platform ids in the account's chat with `person` (as
    the platform names them; a reply sent as several chat messages by any of them)
    deleted at `at`, every archived version of each, keeping them; with `notice_id`,
    queue the email that tells the managers (kind DELETED, on the first of them), in the
    same transaction. Returns the newest version of each message
    marked now ([] for ids the archive doesn't know, those marked before, and a repeated
    update). A chat the archive doesn't have stays unknown: nothing is created."""
    ids = [str(i) for i in channel_message_ids]
    with archive._transaction() as db:
        if not rows.mark_seen(db, dedupe_key) or not ids:
            return []
        marks = ",".join("?" * len(ids))
        # a reply sent as several chat messages is named by any of them (pieces.py)
        found = db.execute(
            f"SELECT m.id, m.channel_message_id FROM customers u"
            f" JOIN conversations c ON c.customer_id = u.id AND c.bot = ?"
            f" JOIN messages m ON m.conversation_id = c.id"
            f" WHERE u.channel = ? AND u.external_id = ? AND m.deleted IS NULL"
            f" AND (m.channel_message_id IN ({marks}) OR m.id IN (SELECT p.message_id"
            f" FROM reply_pieces p WHERE p.conversation_id = c.id"
            f" AND p.channel_message_id IN ({marks}))) ORDER BY m.id",
            (connection.bot, person.channel, _scoped(connection, person), *ids, *ids),
        ).fetchall()
        if not found:
            return []
        db.executemany(
            "UPDATE messages SET deleted = ? WHERE id = ?", [(ts(at), r[0]) for r in found]
        )
        newest = sorted({r[1]: r[0] for r in found}.values())  # the last version of each
        if notice_id is not None:
            note = ",".join(str(i) for i in newest)
            item = OutboxItem("mail", email_message_id=notice_id, kind=DELETED, note=note)
            rows.insert_outbox(db, newest[0], item)
        marks = ",".join("?" * len(newest))
        return rows.messages_from(
            db, db.execute(f"SELECT * FROM messages WHERE id IN ({marks})", newest).fetchall()
        )


def _scoped(connection: Connection, person: Customer) -> str:
    return f"{person.external_id}@{connection.owner_id}"


def _connection(row: sqlite3.Row) -> Connection:
    return Connection(
        bot=row["bot"], id=row["id"], owner_id=row["owner_id"], owner_name=row["owner_name"],
        owner_username=row["owner_username"], chat_id=row["chat_id"],
        enabled=bool(row["enabled"]), can_reply=bool(row["can_reply"]),
        rights=tuple(json.loads(row["rights"] or "[]")), since=dt(row["since"]),
        changed=dt(row["changed"]), change=row["change"],
    )  # fmt: skip
