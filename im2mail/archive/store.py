"""The archive: one SQLite file (WAL) with every message both ways, plus a blob directory.

Writes that belong together happen in one transaction: an incoming message is archived
with its attachments, its index row, its outbox rows and its dedupe key, or not at all.
Readers (tail, search, conversations) never wait for the relay that writes. sqlite3 errors
never leave this module raw: they become ArchiveError with a message and a hint.

Search: the FTS5 table `messages_fts` is contentless (rowid = messages.id) and holds the
normalized text of search.normalize; results show the original text from `messages`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ArchiveError, NotFound, UsageError
from ..model import (
    Attachment,
    Conversation,
    ConversationSummary,
    Customer,
    Entry,
    Message,
    NewAttachment,
    OutboxItem,
    SearchQuery,
)
from . import rows, search
from .blobs import BlobStore, cannot_store
from .db import clean, connect, dt, fits_sqlite, now, translate, ts
from .deliveries import Deliveries
from .tokens import new_token

if TYPE_CHECKING:
    from .tokens import ReplyTokens

BUSY_TIMEOUT = 5.0  # seconds a writer waits for another writer before giving up

_ENTRY_SQL = """
SELECT m.id, m.conversation_id, m.direction, m.author, m.created, m.text, m.kind,
       m.delivered, m.seen, c.bot, u.channel, u.external_id, u.first_name, u.last_name, u.username
FROM {source}
{join} conversations c ON c.id = m.conversation_id
{join} customers u ON u.id = c.customer_id
"""
_RECENT_SQL = _ENTRY_SQL.format(source="messages m", join="JOIN")
_FTS_FIRST = "messages_fts CROSS JOIN messages m ON m.id = messages_fts.rowid"
_IN_HITS = "m.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?)"
_CUSTOMER_SQL = "SELECT * FROM customers WHERE channel = ? AND external_id = ?"
_CONVERSATION_SQL = """
SELECT c.id AS conversation_id, c.bot, c.token, c.thread_key, c.state,
       c.created AS conversation_created, u.*
FROM conversations c JOIN customers u ON u.id = c.customer_id
"""
# waiting_since: the oldest message from the customer after the last answer (im2mail's
# own greetings and auto-replies are no answer, nor a reply that was not sent or came back
# undelivered: the customer got nothing), if any. Each subquery walks the
# (conversation_id, id) index briefly.
_CONVERSATIONS_SQL = """
WITH stats AS (
    SELECT conversation_id, count(*) AS messages, max(id) AS last_id
    FROM messages GROUP BY conversation_id
)
SELECT c.id AS conversation_id, c.bot, c.created AS conversation_created, u.*,
       coalesce(s.messages, 0) AS messages, lm.created AS last_created,
       lm.text AS last_text, lm.kind AS last_kind,
       (SELECT w.created FROM messages w
        WHERE w.conversation_id = c.id AND w.direction = 'in' AND w.id > coalesce((
            SELECT o.id FROM messages o WHERE o.conversation_id = c.id
            AND o.direction = 'out' AND o.author != 'im2mail' AND NOT EXISTS (
                SELECT 1 FROM outbox x WHERE x.message_id = o.id
                AND x.kind IN ('not-sent', 'undelivered'))
            ORDER BY o.id DESC LIMIT 1), 0)
        ORDER BY w.id LIMIT 1) AS waiting_since,
       CASE WHEN u.channel IN (SELECT value FROM json_each(?)) THEN
         (SELECT max(i.created) FROM messages i
          WHERE i.conversation_id = c.id AND i.direction = 'in') END AS last_in
FROM conversations c
JOIN customers u ON u.id = c.customer_id
LEFT JOIN stats s ON s.conversation_id = c.id
LEFT JOIN messages lm ON lm.id = s.last_id
ORDER BY coalesce(lm.created, c.created) DESC, c.id DESC
"""


class Archive:
    """An open archive. Use `Archive.open(path)`, as a context manager or with close()."""

    def __init__(self, db: sqlite3.Connection, path: Path, blobs_dir: Path) -> None:
        self._db = db
        self.path = path
        self.blobs = BlobStore(blobs_dir)
        self._lock = threading.RLock()  # one connection, shared by the relay's threads

    # -- lifecycle -------------------------------------------------------------------------

    @staticmethod
    def exists(path: Path) -> bool:
        return Path(path).is_file()

    @classmethod
    def open(
        cls,
        path: Path,
        blobs_dir: Path | None = None,
        *,
        create: bool = True,
        busy_timeout: float = BUSY_TIMEOUT,
    ) -> Archive:
        """Open (and create or migrate) the archive. create=False: NotFound if absent."""
        path = Path(path)
        if not create and not path.exists():
            raise NotFound(
                f"no archive at {path}",
                hint="the archive is created when im2mail runs; see: im2mail path",
            )
        db = connect(path, busy_timeout)
        return cls(db, path, Path(blobs_dir) if blobs_dir else path.parent / "blobs")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _use(self) -> Iterator[sqlite3.Connection]:
        with self._lock, translate(self.path):
            yield self._db

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; inside another (the same thread holds the lock), a part
        of it: bulk work (an import, a generated archive) commits once for many calls."""
        with self._use() as db:
            if db.in_transaction:
                yield db
                return
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            if db.in_transaction:
                db.execute("COMMIT")

    # Hooks for modules that keep their queries beside the archive's (deliveries.py):
    # the same lock, sqlite3-to-ArchiveError translation and BEGIN IMMEDIATE transactions.
    def reading(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """The connection, for reads, under the archive's lock."""
        return self._use()

    def transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """The connection inside one write transaction, committed on success."""
        return self._transaction()

    @functools.cached_property
    def deliveries(self) -> Deliveries:
        """The delivery queue (the outbox table) that the sending workers use."""
        return Deliveries(self)

    @functools.cached_property
    def tokens(self) -> ReplyTokens:
        """Rotating conversations' reply tokens, and the retired ones (reply_tokens.py)."""
        from .tokens import ReplyTokens

        return ReplyTokens(self)

    def blob_path(self, sha256: str) -> Path:
        return self.blobs.path(sha256)

    # -- customers and conversations -------------------------------------------------------

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
                    self._reindex_customer(db, before, after)
            return rows.customer_from(db.execute(_CUSTOMER_SQL, key).fetchone())

    def customer(self, channel: str, external_id: str) -> Customer | None:
        with self._use() as db:
            row = db.execute(_CUSTOMER_SQL, (channel, external_id)).fetchone()
        return rows.customer_from(row) if row is not None else None

    def set_customer_blocked(self, customer_id: int, blocked: bool) -> None:
        with self._transaction() as db:
            db.execute("UPDATE customers SET blocked = ? WHERE id = ?", (int(blocked), customer_id))

    def conversation_for(self, customer: Customer, bot: str) -> Conversation:
        """The customer's conversation with this bot, created on first contact."""
        if customer.id is None:
            customer = self.upsert_customer(customer)
        where = "c.customer_id = ? AND c.bot = ?"
        found = self._conversation_where(where, customer.id, bot)
        if found is not None:
            return found  # the usual case: no write lock needed
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
        with self._use() as db:
            row = db.execute(
                "SELECT conversation_id FROM messages WHERE email_message_id = ?"
                " UNION ALL SELECT m.conversation_id FROM outbox o"
                " JOIN messages m ON m.id = o.message_id WHERE o.email_message_id = ? LIMIT 1",
                (email_message_id, email_message_id),
            ).fetchone()
        return self.conversation(row[0]) if row else None

    def _conversation_where(self, where: str, *args: Any) -> Conversation | None:
        with self._use() as db:
            row = db.execute(f"{_CONVERSATION_SQL} WHERE {where}", args).fetchone()
        if row is None:
            return None
        return Conversation(
            id=row["conversation_id"],
            customer=rows.customer_from(row),
            bot=row["bot"],
            token=row["token"],
            state=row["state"],
            thread_key=row["thread_key"],
            created=dt(row["conversation_created"]),
        )

    # -- messages ----------------------------------------------------------------------------

    def add_message(
        self,
        message: Message,
        attachments: Sequence[NewAttachment] = (),
        *,
        outbox: Sequence[OutboxItem] = (),
        dedupe_key: str | None = None,
    ) -> Message | None:
        """Archive one message with its attachments, outbox rows and dedupe key, all in one
        transaction. None when dedupe_key was seen before (then nothing is written)."""
        if dedupe_key is not None and self.was_seen(dedupe_key):
            return None
        files = self.store_files(attachments)
        with self._transaction() as db:
            if dedupe_key is not None and not rows.mark_seen(db, dedupe_key):
                return None  # another process stored it meanwhile; nothing written
            message_id, stored = rows.insert_message(db, message, files)
            for item in outbox:
                rows.insert_outbox(db, message_id, item)
        created = dt(ts(message.created))  # as stored: UTC
        return replace(message, text=clean(message.text), created=created, id=message_id,
                       attachments=stored)  # fmt: skip

    def add_many(self, items: Iterable[Any], *, batch: int = 5000) -> int:
        """Archive many (message, attachments[, dedupe key]), `batch` per transaction
        (imports, generated archives), no outbox. Returns how many were added. See bulk.py."""
        from .bulk import add_many

        return add_many(self, items, batch=batch)

    def store_files(
        self, attachments: Sequence[NewAttachment], *, sync: bool = True
    ) -> list[Attachment]:
        """The attachments' bytes into the blob store (sync=False: the caller syncs a
        batch at once), as the Attachments to archive with their message."""
        out = []
        for a in attachments:
            sha = a.sha256
            if sha is None and a.data is not None:
                try:
                    sha = self.blobs.put(a.data, sync=sync)
                except OSError as e:
                    raise cannot_store(self.blobs.root, a.filename, e) from e
            size = len(a.data) if a.data is not None and a.sha256 is None else (a.size or 0)
            out.append(Attachment(clean(a.filename), a.mime, size, sha))
        return out

    def message(self, id: int) -> Message:
        with self._use() as db:
            found = db.execute("SELECT * FROM messages WHERE id = ?", (id,)).fetchall()
            if not found:
                raise NotFound(f"no message #{id}")
            return rows.messages_from(db, found)[0]

    def mark_seen(self, key: str) -> bool:
        """Record a dedupe key; False when it was already there."""
        with self._transaction() as db:
            return rows.mark_seen(db, key)

    def was_seen(self, key: str) -> bool:
        with self._use() as db:
            return db.execute("SELECT 1 FROM seen WHERE key = ?", (key,)).fetchone() is not None

    def reindex(self) -> int:
        """Rebuild the search index from the archive (after a change to search.normalize)."""
        with self._transaction() as db:
            db.execute("INSERT INTO messages_fts (messages_fts) VALUES ('delete-all')")
            count = 0
            for message_id, text, first, last, username in db.execute(
                "SELECT m.id, m.text, u.first_name, u.last_name, u.username FROM messages m"
                " JOIN conversations c ON c.id = m.conversation_id"
                " JOIN customers u ON u.id = c.customer_id"
            ):
                customer = rows.customer_index(Customer("", "", first, last, username))
                rows.index_row(db, message_id, text, customer, rows.file_names(db, message_id))
                count += 1
            return count

    def _reindex_customer(self, db: sqlite3.Connection, before: Customer, after: Customer) -> None:
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

    # -- reading -----------------------------------------------------------------------------

    def last_message_id(self) -> int:
        with self._use() as db:
            return db.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()[0]

    def recent(self, limit: int = 20, conversation_id: int | None = None) -> list[Entry]:
        """The last `limit` messages, oldest first (what `tail` prints)."""
        where, args = _conversation_filter(conversation_id)
        sql = f"{_RECENT_SQL}{where} ORDER BY m.id DESC LIMIT ?"
        return list(reversed(self._entries(sql, (*args, limit))))

    def entries_after(self, message_id: int, conversation_id: int | None = None) -> list[Entry]:
        where, args = _conversation_filter(conversation_id, "m.id > ?", message_id)
        sql = f"{_RECENT_SQL}{where} ORDER BY m.id"
        return self._entries(sql, args)

    def follow(
        self,
        after_id: int,
        conversation_id: int | None = None,
        poll_interval: float = 0.25,
        stop: Callable[[], bool] | None = None,
    ) -> Iterator[Entry]:
        """Yield messages newer than after_id as they are archived, by any process, until
        stop() returns True. Polls PRAGMA data_version, which is cheap."""
        last, seen_version = after_id, None
        while True:
            with self._use() as db:
                version = (db.execute("PRAGMA data_version").fetchone()[0], db.total_changes)
            if version != seen_version:
                seen_version = version
                for entry in self.entries_after(last, conversation_id):
                    last = entry.message_id
                    yield entry
            if stop is not None and stop():
                return
            time.sleep(poll_interval)

    def conversations(
        self, reply_windows: Mapping[str, timedelta] | None = None
    ) -> list[ConversationSummary]:
        """Every conversation, the most recently active first. `reply_windows`: the
        channels that limit how long after a customer's last message a reply may go, with
        that time (channels.reply_windows()); their conversations say when it closes."""
        windows = reply_windows or {}
        with self._use() as db:
            found = db.execute(_CONVERSATIONS_SQL, (json.dumps(list(windows)),)).fetchall()
        return [replace(s, reply_window=windows.get(s.channel))
                for s in map(rows.summary_from, found)]  # fmt: skip

    def search(self, q: SearchQuery) -> list[Entry]:
        """Messages matching q, newest first, each with a snippet and highlight spans."""
        parsed = search.parse_query(q.text)
        if q.limit < 1:
            raise UsageError("--limit must be at least 1")
        where: list[tuple[str, Any]] = []
        if q.channel:
            where.append(("u.channel = ?", q.channel.lower()))
        if q.since:
            where.append(("m.created >= ?", ts(q.since)))
        if q.until:
            where.append(("m.created <= ?", ts(q.until)))
        fts_first = True
        if q.customer:
            ids, fts_first = self._conversations_of_customer(q.customer)
            if not ids:
                return []
            where.append(("m.conversation_id IN (SELECT value FROM json_each(?))", json.dumps(ids)))
        if fts_first:
            # CROSS JOIN keeps the FTS table outermost: it walks rowids newest first and
            # stops at the limit instead of collecting every hit.
            source, join, order = _FTS_FIRST, "CROSS JOIN", "messages_fts.rowid"
            where.insert(0, ("messages_fts MATCH ?", parsed.match))
        else:
            # A few customers' messages: read those newest first, keep the ones that hit.
            source, join, order = "messages m", "JOIN", "m.id"
            where.append((_IN_HITS, parsed.match))
        sql = (
            _ENTRY_SQL.format(source=source, join=join)
            + " WHERE "
            + " AND ".join(clause for clause, _ in where)
        )
        sql += f" ORDER BY {order} DESC LIMIT ?"
        entries = self._entries(sql, (*(value for _, value in where), q.limit))
        return [_with_snippet(e, parsed.terms) for e in entries]

    def _conversations_of_customer(self, needle: str) -> tuple[list[int], bool]:
        """Conversations whose customer matches needle, and whether they hold so many of
        the messages (a quarter or more) that walking the search hits is the faster way."""
        with self._use() as db:
            ids = [r[0] for r in db.execute(rows.CUSTOMER_MATCH_SQL, rows.match_args(needle))]
            if not ids:
                return [], True
            total = db.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()[0]
            many = total // 4
            theirs = db.execute(
                "SELECT count(*) FROM (SELECT 1 FROM messages WHERE conversation_id IN"
                " (SELECT value FROM json_each(?)) LIMIT ?)",
                (json.dumps(ids), many + 1),
            ).fetchone()[0]
        return ids, theirs > many

    def _entries(self, sql: str, args: Sequence[Any]) -> list[Entry]:
        with self._use() as db:
            found = db.execute(sql, args).fetchall()
            names = rows.file_names_of(db, [r[0] for r in found])
        return [rows.entry_from(r, names.get(r[0], ())) for r in found]


# -- helpers ---------------------------------------------------------------------------------


def _conversation_filter(
    conversation_id: int | None, cond: str | None = None, *args: Any
) -> tuple[str, tuple[Any, ...]]:
    conds, values = ([cond], list(args)) if cond else ([], [])
    if conversation_id is not None:
        conds.append("m.conversation_id = ?")
        values.append(conversation_id)
    return (" WHERE " + " AND ".join(conds) if conds else ""), tuple(values)


def _with_snippet(entry: Entry, terms: tuple[search.Term, ...]) -> Entry:
    text = entry.text
    if not search.match_spans(text, terms) and entry.attachments:
        names = ", ".join(entry.attachments)
        if search.match_spans(names, terms) or not text.strip():
            text = names
    snippet, spans = search.snippet(text, terms)
    return replace(entry, snippet=snippet, highlights=spans)
