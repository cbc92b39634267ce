"""The word-form index: `messages_forms`, an FTS5 table beside `messages_fts` with the same
columns (text, customer, files), holding each word's key (forms.py) where messages_fts holds
the word. A search asks messages_fts first (exact forms rank first) and then this one.

Like messages_fts it is contentless (rowid = messages.id), so a row is removed by giving
the keys it was added with. Those keys depend on forms.VERSION (the rules and the
dictionaries), recorded in relay_memory: an archive indexed under another version has its
word-form index emptied and filled again.

Filling it for messages archived before it existed (migration m012, or a new VERSION) is
a backfill, newest messages first, BACKFILL_BATCH per transaction. relay_memory's
PENDING_KEY holds the id below which messages are not in it yet: it moves down with each
batch in that batch's transaction, so a backfill cut short (kill -9) goes on from there on
the next open, and rows below it are neither removed nor re-added by edits meanwhile (the
backfill adds them as they are then). Functions take a connection; `backfill` runs its own
transactions, the others run inside the caller's.
"""

from __future__ import annotations

import functools
import sqlite3
import time

from . import forms, search

PENDING_KEY = "word_forms_pending_below"
VERSION_KEY = "word_forms_version"
BACKFILL_BATCH = 5000
# A load or backfill of this many messages ends by merging the search indexes it filled
# into one segment each (FTS5 'optimize': about a second each at 1M). Search walks hits
# newest first, which FTS5 does segment by segment: at 1M, one segment instead of nine
# made those walks up to 2.5x quicker (BENCHMARKS.md, "Query time at 1M, second pass").
OPTIMIZE_AFTER = 10_000
SEARCH_INDEXES = ("messages_fts", "messages_forms")
_INSERT = "INSERT INTO messages_forms (rowid, text, customer, files) VALUES (?, ?, ?, ?)"
_DELETE = (
    "INSERT INTO messages_forms (messages_forms, rowid, text, customer, files)"
    " VALUES ('delete', ?, ?, ?, ?)"
)


def values(message_id: int, text: str, customer: str, files: str) -> tuple[int, str, str, str]:
    """A row of messages_forms from the normalized columns of messages_fts's row."""
    names = forms.index_text(files) if files else ""
    return (message_id, forms.index_text(text), _customer_keys(customer), names)


@functools.lru_cache(maxsize=4096)
def _customer_keys(customer: str) -> str:
    """The same for every message of a conversation: worth remembering in bulk imports."""
    return forms.index_text(customer)


def merge(db: sqlite3.Connection, indexes: tuple[str, ...] = SEARCH_INDEXES) -> None:
    """Merge each of the search indexes into one segment (inside the caller's transaction)."""
    for name in indexes:
        db.execute(f"INSERT INTO {name} ({name}) VALUES ('optimize')")


def pending_below(db: sqlite3.Connection) -> int:
    """Messages with an id below this are not in messages_forms yet (0: none)."""
    row = db.execute("SELECT value FROM relay_memory WHERE key = ?", (PENDING_KEY,)).fetchone()
    return int(row[0]) if row else 0


def add(db: sqlite3.Connection, rows: list[tuple[int, str, str, str]]) -> None:
    """Index rows (message id, normalized text, customer, files), skipping the messages a
    backfill has still to reach."""
    below = pending_below(db)
    db.executemany(_INSERT, [values(*row) for row in rows if row[0] >= below])


def remove(db: sqlite3.Connection, row: tuple[int, str, str, str]) -> None:
    """Drop a message's row, given the normalized columns it was added with."""
    if row[0] >= pending_below(db):
        db.execute(_DELETE, values(*row))


def clear(db: sqlite3.Connection) -> None:
    """Empty it, as indexed under the current version (Archive.reindex fills it again)."""
    db.execute("INSERT INTO messages_forms (messages_forms) VALUES ('delete-all')")
    db.execute("DELETE FROM relay_memory WHERE key = ?", (PENDING_KEY,))
    _set(db, VERSION_KEY, forms.VERSION)


def start_over(db: sqlite3.Connection) -> None:
    """Empty it and have the backfill fill it from the newest message down."""
    db.execute("INSERT INTO messages_forms (messages_forms) VALUES ('delete-all')")
    top = db.execute("SELECT coalesce(max(id), 0) + 1 FROM messages").fetchone()[0]
    _set(db, PENDING_KEY, str(top))
    _set(db, VERSION_KEY, forms.VERSION)


def _set(db: sqlite3.Connection, key: str, value: str) -> None:
    db.execute(
        "INSERT INTO relay_memory (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def _version(db: sqlite3.Connection) -> str | None:
    row = db.execute("SELECT value FROM relay_memory WHERE key = ?", (VERSION_KEY,)).fetchone()
    return row[0] if row else None


_BATCH_SQL = """
SELECT m.id, m.text, u.first_name, u.last_name, u.username,
       (SELECT group_concat(filename, ' ') FROM
           (SELECT filename FROM attachments a WHERE a.message_id = m.id ORDER BY a.id))
FROM messages m JOIN conversations c ON c.id = m.conversation_id
JOIN customers u ON u.id = c.customer_id
WHERE m.id < ? ORDER BY m.id DESC LIMIT ?
"""


def backfill(db: sqlite3.Connection, *, batch: int | None = None) -> int:
    """Bring messages_forms up to date (version, then the messages it lacks), batch by
    batch, each in its own transaction; how many messages it added. A read or two when
    there is nothing to do."""
    if db.in_transaction:
        return 0  # inside someone's transaction: the next open does it
    if _version(db) == forms.VERSION and not pending_below(db):
        return 0
    batch = batch or BACKFILL_BATCH
    added = 0
    while True:
        db.execute("BEGIN IMMEDIATE")
        try:
            if _version(db) != forms.VERSION:
                start_over(db)
            done = _next_batch(db, batch)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        if done is None:
            if added >= OPTIMIZE_AFTER:
                db.execute("BEGIN IMMEDIATE")
                try:
                    merge(db, ("messages_forms",))
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
            return added
        added += done
        time.sleep(0)  # let another thread of this process in between batches


def _next_batch(db: sqlite3.Connection, batch: int) -> int | None:
    below = pending_below(db)
    if below <= 1:
        db.execute("DELETE FROM relay_memory WHERE key = ?", (PENDING_KEY,))
        return None
    found = db.execute(_BATCH_SQL, (below, batch)).fetchall()
    rows = []
    for message_id, text, first, last, username, files in found:
        customer = search.customer_text(first, last, username)
        rows.append(
            values(message_id, search.normalize(text), search.normalize(customer),
                   search.normalize(files or ""))
        )  # fmt: skip
    db.executemany(_INSERT, rows)
    lowest = found[-1][0] if len(found) == batch else 1
    _set(db, PENDING_KEY, str(lowest))
    return len(rows)
