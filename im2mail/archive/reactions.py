"""Reactions: emoji on messages, the customer's on the shop's replies and the shop's on the
customer's messages (a manager's reply of only one emoji, sent as a reaction).

The platforms report the customer's whole set of reactions on a message each time it
changes (Telegram's new_reaction; Messenger and WhatsApp allow one: react or unreact), so
`customer_reacted` makes the archive's set that one: each emoji a row, set again or
marked removed (never deleted), so a customer toggling a reaction a thousand times leaves
one row, not a thousand.

A reaction to a manager's reply (one of `managers`) may queue a notice to that manager
(kind REACTED): in one transaction with the reaction, at most one per `batch` (a minute)
per conversation and manager. The first reaction of a batch queues the notice, due when
the batch ends, with its start in the note; the ones that come before it is due join it,
and the notice, built when due, lists what changed in the batch (reaction_batch).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from ..model import REACTED, Customer, Message, OutboxItem, Reaction
from . import Archive, pieces, rows
from .db import dt, ts
from .deliveries import SENT, _queue_after, _settle

MAX_EMOJI = 32  # code points: the longest emoji (flags with tags, joined families) fit
BATCH = timedelta(minutes=1)


@dataclass(frozen=True)
class Reacted:
    """What customer_reacted did: the message reacted to, whether its set of reactions
    changed, and the manager a notice was queued for (None: no new notice)."""

    message: Message
    changed: bool
    noticed: str | None = None


@dataclass(frozen=True)
class Batch:
    """The reactions a notice is about: the replies reacted to in the batch, oldest first,
    each with its reactions changed then (those taken back have `removed` set)."""

    replies: tuple[tuple[Message, tuple[Reaction, ...]], ...]


def customer_reacted(
    archive: Archive,
    bot: str,
    customer: Customer,
    channel_message_id: str,
    emoji: Sequence[str],
    when: datetime,
    *,
    dedupe_key: str,
    managers: Collection[str] = (),
    notice: OutboxItem | None = None,
    batch: timedelta = BATCH,
) -> Reacted | None:
    """The customer's reactions on the message `channel_message_id` of their conversation
    with `bot` (a reply: any of the chat messages it went as, pieces.py) are now `emoji`
    (none: taken back), as of `when`. With `notice` (an outbox row, kind REACTED), a
    reply by one of `managers` gets its author's notice queued, unless one of this batch
    is queued already. None when the archive has no such message
    or the update was stored before: only the dedupe key is written then."""
    # An emoji is a few code points; a platform's longer "emoji" is cut, not stored whole.
    wanted = list(dict.fromkeys(e[:MAX_EMOJI] for e in emoji if e))
    with archive._transaction() as db:
        if not rows.mark_seen(db, dedupe_key):
            return None
        found = db.execute(
            "SELECT m.* FROM customers u"
            " JOIN conversations c ON c.customer_id = u.id AND c.bot = ?"
            " JOIN messages m ON m.conversation_id = c.id AND m.channel_message_id = ?"
            " WHERE u.channel = ? AND u.external_id = ?"
            " ORDER BY m.direction = 'out' DESC, m.id DESC LIMIT 1",
            (bot, channel_message_id, customer.channel, customer.external_id),
        ).fetchall()
        if (
            not found
            and (reply := pieces.reply_by_piece(db, bot, customer, channel_message_id)) is not None
        ):
            found = db.execute("SELECT * FROM messages WHERE id = ?", (reply,)).fetchall()
        if not found:
            return None
        message = rows.messages_from(db, found)[0]
        assert message.id is not None
        changed = _set(db, message.id, "in", customer.display_name, wanted, when)
        author = message.author.strip().lower()
        ours = message.direction == "out" and author in {m.strip().lower() for m in managers}
        if not (changed and ours and notice is not None):
            return Reacted(message, changed)
        if not _new_batch(db, message.conversation_id, author, when, batch):
            return Reacted(message, changed)
        item = replace(notice, kind=REACTED, note=f"{author} {ts(when)}", next_try=when + batch)
        rows.insert_outbox(db, message.id, item)
        return Reacted(message, changed, author)


def shop_reacted(
    archive: Archive,
    item_id: int,
    reply: Message,
    target_id: int,
    emoji: str,
    when: datetime,
    *,
    then: Sequence[OutboxItem] = (),
) -> bool:
    """The manager's `reply` (outbox row `item_id`) went as a reaction `emoji` on the
    customer's message `target_id`: the delivery is sent, the reply's kind "reaction",
    the emoji on the message; `then` queued as after any delivery. False when the row was
    not pending (nothing changed)."""
    with archive._transaction() as db:
        if not _settle(db, item_id, SENT, when, None):
            return False
        db.execute("UPDATE messages SET kind = 'reaction', sent = coalesce(sent, ?)"
                   " WHERE id = ?", (ts(when), reply.id))  # fmt: skip
        db.execute(
            "UPDATE reactions SET removed = ?, changed = ? WHERE message_id = ?"
            " AND direction = 'out' AND removed IS NULL AND emoji <> ?",
            (ts(when), ts(when), target_id, emoji),
        )  # a bot sets one reaction: the new one replaces the shop's others
        _set_one(db, target_id, "out", reply.author, emoji, when)
        _queue_after(db, item_id, then)
        return True


def last_from_customer(archive: Archive, conversation_id: int) -> Message | None:
    """The customer's newest message that the platform knows by an id (a reaction's
    target), or None."""
    with archive._reading() as db:
        found = db.execute(
            "SELECT * FROM messages WHERE conversation_id = ? AND direction = 'in'"
            " AND channel_message_id IS NOT NULL ORDER BY id DESC LIMIT 1",
            (conversation_id,),
        ).fetchall()
        return rows.messages_from(db, found)[0] if found else None


def reactions_of(
    db: sqlite3.Connection, ids: Sequence[int], *, removed: bool = False
) -> dict[int, list[Reaction]]:
    """The reactions on these messages now (with `removed`, those taken back too), in the
    order they were set, by message id (those with any)."""
    out: dict[int, list[Reaction]] = {}
    if not ids:
        return out
    gone = "" if removed else " AND removed IS NULL"
    for row in db.execute(
        "SELECT message_id, emoji, direction, author, changed, removed FROM reactions"
        f" WHERE message_id IN (SELECT value FROM json_each(?)){gone} ORDER BY changed",
        (json.dumps(list(ids)),),
    ):
        out.setdefault(row[0], []).append(_reaction(row))
    return out


def with_reactions(archive: Archive, messages: Sequence[Message]) -> list[Message]:
    """The messages with the reactions on them now. One indexed read of the (small)
    reactions table for the range of their ids; nothing more when none has any."""
    ids = [m.id for m in messages if m.id is not None]
    if not ids:
        return list(messages)
    with archive._reading() as db:
        if (
            db.execute(
                "SELECT 1 FROM reactions WHERE message_id BETWEEN ? AND ? LIMIT 1",
                (min(ids), max(ids)),
            ).fetchone()
            is None
        ):
            return list(messages)
        found = reactions_of(db, ids)
    return [replace(m, reactions=tuple(found.get(m.id or 0, ()))) for m in messages]


def any_between(db: sqlite3.Connection, ids: Sequence[int]) -> bool:
    """Whether any message from the least to the greatest of `ids` has a reaction row:
    one seek in the reactions table's key, so that readers of many messages (exports)
    pay nothing while there are none."""
    return (
        db.execute(
            "SELECT 1 FROM reactions WHERE message_id BETWEEN ? AND ? LIMIT 1",
            (min(ids), max(ids)),
        ).fetchone()
        is not None
    )


def reaction_batch(
    archive: Archive, conversation_id: int, author: str, since: datetime, batch: timedelta = BATCH
) -> Batch:
    """What a notice (kind REACTED) about `author`'s replies tells: the customer's
    reactions on them set or taken back from `since` for `batch`."""
    with archive._reading() as db:
        found = db.execute(
            "SELECT DISTINCT m.* FROM reactions r JOIN messages m ON m.id = r.message_id"
            " WHERE m.conversation_id = ? AND m.author = ? COLLATE NOCASE"
            " AND m.direction = 'out' AND r.direction = 'in' AND r.changed >= ?"
            " AND r.changed < ? ORDER BY m.id",
            (conversation_id, author, ts(since), ts(since + batch)),
        ).fetchall()
        replies = rows.messages_from(db, found)
        every = reactions_of(db, [m.id for m in replies if m.id is not None], removed=True)
    return Batch(tuple(
        (reply, tuple(r for r in every.get(reply.id or 0, ()) if r.direction == "in"
                      and since <= r.changed < since + batch))
        for reply in replies
    ))  # fmt: skip


# -- rows --------------------------------------------------------------------------------------


def _set(
    db: sqlite3.Connection, message_id: int, direction: str, author: str, emoji: list[str],
    when: datetime,
) -> bool:  # fmt: skip
    """Make the message's reactions of `direction` exactly `emoji`; whether any changed."""
    now = {row[0] for row in db.execute(
        "SELECT emoji FROM reactions WHERE message_id = ? AND direction = ? AND removed IS NULL",
        (message_id, direction),
    )}  # fmt: skip
    gone = now - set(emoji)
    for e in gone:
        db.execute(
            "UPDATE reactions SET removed = ?, changed = ? WHERE message_id = ?"
            " AND direction = ? AND emoji = ?",
            (ts(when), ts(when), message_id, direction, e),
        )
    for e in emoji:
        if e not in now:
            _set_one(db, message_id, direction, author, e, when)
    return bool(gone) or any(e not in now for e in emoji)


def _set_one(
    db: sqlite3.Connection, message_id: int, direction: str, author: str, emoji: str,
    when: datetime,
) -> None:  # fmt: skip
    db.execute(
        "INSERT INTO reactions (message_id, direction, emoji, author, changed) VALUES"
        " (?, ?, ?, ?, ?) ON CONFLICT (message_id, direction, emoji) DO UPDATE SET"
        " author = excluded.author, changed = excluded.changed, removed = NULL",
        (message_id, direction, emoji, author, ts(when)),
    )


def _new_batch(
    db: sqlite3.Connection, conversation_id: int, author: str, when: datetime, batch: timedelta
) -> bool:
    """Whether a reaction at `when` starts a new batch of notices for `author` in the
    conversation (none is running: the last began a batch or more ago); if so, it does."""
    row = db.execute(
        "SELECT since FROM reaction_batches WHERE conversation_id = ? AND author = ?",
        (conversation_id, author),
    ).fetchone()
    if row is not None and (since := dt(row[0])) is not None and when < since + batch:
        return False
    db.execute(
        "INSERT INTO reaction_batches (conversation_id, author, since) VALUES (?, ?, ?)"
        " ON CONFLICT (conversation_id, author) DO UPDATE SET since = excluded.since",
        (conversation_id, author, ts(when)),
    )
    return True


def _reaction(row: sqlite3.Row | tuple) -> Reaction:
    return Reaction(row[1], row[2], row[3], dt(row[4]), dt(row[5]))  # type: ignore[arg-type]
