"""Model values to rows and back: customers, messages with attachments, and each message's
row in the search index. Functions take a connection inside the caller's transaction."""

from __future__ import annotations

import functools
import json
import re
import sqlite3
from collections.abc import Sequence
from typing import Any

from ..errors import ArchiveError
from ..model import (
    Attachment,
    Conversation,
    ConversationSummary,
    Customer,
    Entry,
    Message,
    OutboxItem,
    display_name,
)
from . import search, word_index
from .db import clean, dt, fetch_all, now, ts


def customer_from(row: sqlite3.Row) -> Customer:
    return Customer(
        channel=row["channel"],
        external_id=row["external_id"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        username=row["username"],
        phone=row["phone"],
        source=row["source"],
        blocked=bool(row["blocked"]),
        id=row["id"],
        blocked_by_shop=row["blocked_by_shop"],
        blocked_by_shop_at=dt(row["blocked_by_shop_at"]),
        person=row["person_id"],
        forgotten=dt(row["forgotten"]),
    )


def conversation_from(row: sqlite3.Row) -> Conversation:
    """A row of a conversation (`conversation_id`, bot, token, thread_key, state,
    `conversation_created`) joined with its customer's."""
    return Conversation(
        id=row["conversation_id"],
        customer=customer_from(row),
        bot=row["bot"],
        token=row["token"],
        state=row["state"],
        thread_key=row["thread_key"],
        created=dt(row["conversation_created"]),
    )


def customer_index(c: Customer) -> str:
    """What the index's `customer` column holds for this customer (before normalizing)."""
    return search.customer_text(c.first_name, c.last_name, c.username)


def insert_customer(db: sqlite3.Connection, c: Customer) -> None:
    db.execute(
        "INSERT INTO customers (channel, external_id, first_name, last_name, username, phone,"
        " source, blocked, created, match_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (c.channel, c.external_id, clean(c.first_name), clean(c.last_name), c.username,
         c.phone, c.source, int(c.blocked), ts(now()), match_key(c)),
    )  # fmt: skip


def update_customer(db: sqlite3.Connection, before: Customer, c: Customer) -> None:
    """New names and username; phone and source only when given."""
    after = Customer(
        c.channel, c.external_id, clean(c.first_name), clean(c.last_name), c.username,
        c.phone or before.phone, c.source or before.source, before.blocked, before.id,
    )  # fmt: skip
    db.execute(
        "UPDATE customers SET first_name = ?, last_name = ?, username = ?, phone = ?,"
        " source = ?, match_key = ? WHERE id = ?",
        (after.first_name, after.last_name, after.username, after.phone, after.source,
         match_key(after), before.id),
    )  # fmt: skip


# --customer: a case-insensitive substring of the name, @username, external id or phone
# (a phone also by its digits alone), found in SQL through the folded customers.match_key.
CUSTOMER_MATCH_SQL = """
SELECT c.id FROM conversations c JOIN customers u ON u.id = c.customer_id
WHERE instr(u.match_key, ?) > 0 OR (? <> '' AND instr(u.match_key, ?) > 0) ORDER BY c.id
"""


def match_key(c: Customer) -> str:
    fields = [f"{c.first_name} {c.last_name}".strip(), c.external_id]
    if c.username:
        fields.append("@" + c.username)
    if c.phone:
        fields += [c.phone, re.sub(r"\D", "", c.phone)]
    return _fold("\n".join(fields))


def match_args(needle: str) -> tuple[str, str, str]:
    """The parameters of CUSTOMER_MATCH_SQL for what the user typed."""
    digits = re.sub(r"\D", "", needle)
    digits = digits if len(digits) >= 3 else ""
    return _fold(needle.strip()), digits, digits


def _fold(text: str) -> str:
    return text.casefold().replace("ё", "е")


def mark_seen(db: sqlite3.Connection, key: str) -> bool:
    cur = db.execute("INSERT OR IGNORE INTO seen (key, created) VALUES (?, ?)", (key, ts(now())))
    return cur.rowcount == 1


_MESSAGE_INSERT = (
    "INSERT INTO messages (id, conversation_id, direction, kind, channel_message_id,"
    " email_message_id, author, text, created, sent, delivered, seen, raw, edited,"
    " media_group, flood_digest, edited_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
_ATTACHMENT_INSERT = (
    "INSERT INTO attachments (message_id, filename, mime, size, sha256) VALUES (?, ?, ?, ?, ?)"
)
_FTS_INSERT = "INSERT INTO messages_fts (rowid, text, customer, files) VALUES (?, ?, ?, ?)"


def _message_values(message_id: int | None, m: Message, text: str) -> tuple:
    raw = json.dumps(m.raw, ensure_ascii=False) if m.raw is not None else None
    return (message_id, m.conversation_id, m.direction, m.kind, m.channel_message_id,
            m.email_message_id, clean(m.author), text, ts(m.created), ts(m.sent),
            ts(m.delivered), ts(m.seen), clean(raw) if raw is not None else None,
            int(m.edited), m.group, m.flood_digest, ts(m.edited_at))  # fmt: skip


def insert_message(
    db: sqlite3.Connection, m: Message, files: Sequence[Attachment]
) -> tuple[int, tuple[Attachment, ...]]:
    """Insert a message, its attachment rows and its index row; returns the new id and the
    attachments with their ids."""
    text = clean(m.text)
    message_id = db.execute(_MESSAGE_INSERT, _message_values(None, m, text)).lastrowid
    stored = []
    for a in files:
        cur = db.execute(_ATTACHMENT_INSERT, (message_id, a.filename, a.mime, a.size, a.sha256))
        stored.append(Attachment(a.filename, a.mime, a.size, a.sha256, cur.lastrowid))
    customer = indexed_customer(db, m.conversation_id, None, refuse_forgotten=m.direction == "in")
    index_row(db, message_id, text, customer, [a.filename for a in files])
    return message_id, tuple(stored)


def insert_many(
    db: sqlite3.Connection, chunk: Sequence[tuple[Message, Sequence[Attachment]]]
) -> None:
    """insert_message for a batch, inside the caller's write transaction: ids are handed
    out here and each table gets one executemany (a third of the time of row-by-row)."""
    first = db.execute("SELECT coalesce(max(id), 0) + 1 FROM messages").fetchone()[0]
    customers: dict[int, str] = {}
    messages, attachments, index = [], [], []
    for message_id, (m, files) in enumerate(chunk, first):
        text = clean(m.text)
        messages.append(_message_values(message_id, m, text))
        attachments += [(message_id, a.filename, a.mime, a.size, a.sha256) for a in files]
        customer = indexed_customer(db, m.conversation_id, customers)
        index.append(_index_values(message_id, text, customer, [a.filename for a in files]))
    db.executemany(_MESSAGE_INSERT, messages)
    db.executemany(_ATTACHMENT_INSERT, attachments)
    db.executemany(_FTS_INSERT, index)
    word_index.add(db, index)


def indexed_customer(
    db: sqlite3.Connection,
    conversation_id: int,
    cache: dict[int, str] | None,
    *,
    refuse_forgotten: bool = False,
) -> str:
    """What the index's `customer` column holds for the conversation's messages.
    refuse_forgotten: ArchiveError when its customer was forgotten (forget.py), e.g. while
    their message was on its way in: the update is not acknowledged, and when the
    platform sends it again it makes a new customer."""
    if cache is not None and conversation_id in cache:
        return cache[conversation_id]
    row = db.execute(
        "SELECT u.* FROM conversations c JOIN customers u ON u.id = c.customer_id WHERE c.id = ?",
        (conversation_id,),
    ).fetchone()
    if row is None:
        raise ArchiveError(f"no conversation #{conversation_id} to add a message to")
    if refuse_forgotten and row["forgotten"] is not None:
        raise ArchiveError(
            f"the customer of conversation #{conversation_id} was forgotten meanwhile",
            hint="their message comes again and is archived as a new customer's",
        )
    value = customer_index(customer_from(row))
    if cache is not None:
        cache[conversation_id] = value
    return value


def insert_outbox(db: sqlite3.Connection, message_id: int, item: OutboxItem) -> None:
    db.execute(
        "INSERT INTO outbox (message_id, target, email_message_id, attempts, next_try,"
        " last_error, state, created, kind, note, progress)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (message_id, item.target, item.email_message_id, item.attempts,
         ts(item.next_try or now()), item.last_error, item.state, ts(now()), item.kind,
         item.note, item.progress),
    )  # fmt: skip


def message_from(row: sqlite3.Row, files: Sequence[sqlite3.Row]) -> Message:
    return Message(
        conversation_id=row["conversation_id"], direction=row["direction"],
        author=row["author"], text=row["text"], created=dt(row["created"]), kind=row["kind"],
        channel_message_id=row["channel_message_id"],
        email_message_id=row["email_message_id"], sent=dt(row["sent"]),
        delivered=dt(row["delivered"]), seen=dt(row["seen"]),
        raw=json.loads(row["raw"]) if row["raw"] else None,
        attachments=tuple(
            Attachment(f["filename"], f["mime"], f["size"], f["sha256"], f["id"]) for f in files
        ),
        id=row["id"], edited=bool(row["edited"]), group=row["media_group"],
        flood_digest=row["flood_digest"], deleted=dt(row["deleted"]),
        edited_at=dt(row["edited_at"]),
    )  # fmt: skip


def messages_from(db: sqlite3.Connection, found: Sequence[sqlite3.Row]) -> list[Message]:
    """Messages of `found` (rows of the messages table) with their attachments."""
    ids = [r["id"] for r in found]
    files: dict[int, list[sqlite3.Row]] = {i: [] for i in ids}
    if ids:
        marks = ",".join("?" * len(ids))
        for f in db.execute(
            f"SELECT id, message_id, filename, mime, size, sha256 FROM attachments"
            f" WHERE message_id IN ({marks}) ORDER BY id",
            ids,
        ):
            files[f["message_id"]].append(f)
    return [message_from(r, files[r["id"]]) for r in found]


def entry_from(
    row: sqlite3.Row,
    attachments: Sequence[str],
    snippet: str | None = None,
    highlights: tuple[tuple[int, int], ...] = (),
) -> Entry:
    """A row of archive._ENTRY_SQL as an Entry (a search hit's with its snippet). Read by
    position (the SELECT's order), which is quicker than by name: search makes 20 at once."""
    (id, conversation_id, direction, author, created, text, kind, delivered, seen, deleted,
     edited, bot, channel, external_id, first_name, last_name, username) = row  # fmt: skip
    return Entry(
        message_id=id, conversation_id=conversation_id, direction=direction, author=author,
        created=dt(created), text=text, kind=kind, bot=bot, channel=channel,
        customer=display_name(first_name, last_name, username, external_id),
        attachments=tuple(attachments),
        delivered=dt(delivered), seen=dt(seen), deleted=dt(deleted), edited=bool(edited),
        snippet=snippet, highlights=highlights,
    )  # fmt: skip


def summary_from(row: sqlite3.Row) -> ConversationSummary:
    """A row of archive._CONVERSATIONS_SQL as a ConversationSummary."""
    last_text = row["last_text"] or (f"[{row['last_kind']}]" if row["last_kind"] else "")
    customer = customer_from(row)
    return ConversationSummary(
        id=row["conversation_id"], channel=row["channel"], bot=row["bot"],
        customer=customer.display_name, source=row["source"],
        last_message_at=dt(row["last_created"]), last_text=last_text,
        waiting_since=dt(row["waiting_since"]), messages=row["messages"],
        last_in_at=dt(row["last_in"]), blocked_by_shop=customer.blocked_by_shop,
        blocked_by_shop_at=customer.blocked_by_shop_at,
        linked=tuple(sorted(json.loads(row["linked"] or "[]"))),
    )  # fmt: skip


def index_row(
    db: sqlite3.Connection,
    message_id: int,
    text: str,
    customer: str,
    files: list[str],
    *,
    delete: bool = False,
) -> None:
    """Add (or, with the same values as when added, remove) a message's index rows: its
    words in messages_fts, their keys in messages_forms (word_index.py)."""
    row = _index_values(message_id, text, customer, files)
    if delete:
        db.execute(
            "INSERT INTO messages_fts (messages_fts, rowid, text, customer, files)"
            " VALUES ('delete', ?, ?, ?, ?)",
            row,
        )
        word_index.remove(db, row)
    else:
        db.execute(_FTS_INSERT, row)
        word_index.add(db, [row])


def _index_values(message_id: int, text: str, customer: str, files: list[str]) -> tuple:
    names = search.normalize(" ".join(files)) if files else ""
    return (message_id, search.normalize(text), _normalized_customer(customer), names)


@functools.lru_cache(maxsize=4096)
def _normalized_customer(customer: str) -> str:
    """The same for every message of a conversation: worth remembering in bulk imports."""
    return search.normalize(customer)


def file_names(db: sqlite3.Connection, message_id: int) -> list[str]:
    rows = db.execute(
        "SELECT filename FROM attachments WHERE message_id = ? ORDER BY id", (message_id,)
    )
    return [r[0] for r in rows]


def file_names_of(db: sqlite3.Connection, ids: list[int]) -> dict[int, list[str]]:
    names: dict[int, list[str]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = fetch_all(
            db,
            "SELECT message_id, filename FROM attachments WHERE message_id IN"
            f" ({','.join('?' * len(chunk))}) ORDER BY id",
            chunk,
        )
        for message_id, filename in rows:
            names.setdefault(message_id, []).append(filename)
    return names


def outbox_from(row: sqlite3.Row) -> OutboxItem:
    return OutboxItem(
        target=row["target"],
        email_message_id=row["email_message_id"],
        id=row["id"],
        message_id=row["message_id"],
        attempts=row["attempts"],
        next_try=dt(row["next_try"]),
        last_error=row["last_error"],
        state=row["state"],
        kind=row["kind"],
        note=row["note"],
        progress=row["progress"],
        in_flight=row["in_flight"],
        conversation_id=_column(row, "conversation_id"),
    )


def _column(row: sqlite3.Row, name: str) -> Any:
    """A column that only some queries select (None where absent). Not `name in row`:
    that looks among a Row's values, not its keys."""
    try:
        return row[name]
    except IndexError:
        return None
