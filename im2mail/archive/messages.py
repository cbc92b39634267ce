"""Messages: Archive's questions about what was said. Storing a message (with its files,
outbox rows and dedupe key, in one transaction), many at once (bulk.py), and reading them
back: one by id, the latest (`tail`), the new ones as they come (`tail -f`), and search.

Search: the FTS5 table `messages_fts` is contentless (rowid = messages.id) and holds the
normalized text of search.normalize; `messages_forms` beside it holds the words' keys
(word forms: forms.py, word_index.py). Results show the original text from `messages`.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from ..errors import NotFound, UsageError
from ..model import Attachment, Customer, Entry, Message, NewAttachment, OutboxItem, SearchQuery
from . import forms, rows, search, word_index
from .blobs import cannot_store
from .db import ArchiveBase, clean, dt, fetch_all, ts

_ENTRY_SQL = """
SELECT m.id, m.conversation_id, m.direction, m.author, m.created, m.text, m.kind,
       m.delivered, m.seen, m.deleted, m.edited, c.bot, u.channel, u.external_id,
       u.first_name, u.last_name, u.username
FROM {source}
{join} conversations c ON c.id = m.conversation_id
{join} customers u ON u.id = c.customer_id
"""
_RECENT_SQL = _ENTRY_SQL.format(source="messages m", join="JOIN")
_BY_ID = f"{_RECENT_SQL} WHERE m.id IN (SELECT value FROM json_each(?)) ORDER BY m.id DESC"
_ENTRY_IDS = """
SELECT m.id FROM {source}
CROSS JOIN conversations c ON c.id = m.conversation_id
CROSS JOIN customers u ON u.id = c.customer_id
"""
# {fts}: messages_fts (the words) or messages_forms (their keys: word_index.py)
_FTS_FIRST = "{fts} CROSS JOIN messages m ON m.id = {fts}.rowid"
_IN_HITS = "m.id IN (SELECT rowid FROM {fts} WHERE {fts} MATCH ?)"
EXACT, FORMS = "messages_fts", "messages_forms"


class Messages(ArchiveBase):
    """Archive's questions about messages: storing, reading, searching."""

    # -- storing -----------------------------------------------------------------------------

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

    def mark_seen(self, key: str) -> bool:
        """Record a dedupe key; False when it was already there."""
        with self._transaction() as db:
            return rows.mark_seen(db, key)

    def was_seen(self, key: str) -> bool:
        with self._reading() as db:
            return db.execute("SELECT 1 FROM seen WHERE key = ?", (key,)).fetchone() is not None

    def reindex(self) -> int:
        """Rebuild the search indexes from the archive (after a change to search.normalize)."""
        with self._transaction() as db:
            db.execute("INSERT INTO messages_fts (messages_fts) VALUES ('delete-all')")
            word_index.clear(db)
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

    # -- reading -----------------------------------------------------------------------------

    def message(self, id: int) -> Message:
        with self._reading() as db:
            found = db.execute("SELECT * FROM messages WHERE id = ?", (id,)).fetchall()
            if not found:
                raise NotFound(f"no message #{id}")
            return rows.messages_from(db, found)[0]

    def last_message_id(self) -> int:
        with self._reading() as db:
            return db.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()[0]

    def message_count(self, conversation_ids: Sequence[int] | None = None) -> int:
        """How many messages the archive holds, or the conversations with these ids."""
        with self._reading() as db:
            if conversation_ids is None:
                return db.execute("SELECT count(*) FROM messages").fetchone()[0]
            total = 0
            for start in range(0, len(conversation_ids), 500):
                chunk = conversation_ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                total += db.execute(
                    f"SELECT count(*) FROM messages WHERE conversation_id IN ({marks})", chunk
                ).fetchone()[0]
            return total

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
            with self._reading() as db:
                version = (db.execute("PRAGMA data_version").fetchone()[0], db.total_changes)
            if version != seen_version:
                seen_version = version
                for entry in self.entries_after(last, conversation_id):
                    last = entry.message_id
                    yield entry
            if stop is not None and stop():
                return
            time.sleep(poll_interval)

    def search(self, q: SearchQuery) -> list[Entry]:
        """Messages matching q, each with a snippet and highlight spans: those where the
        words match as written (after folding) newest first, then, unless q.exact, those
        where they match by word forms (forms.py), newest first."""
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
        exact = self._hit_rows(EXACT, parsed.match, where, fts_first, q.limit)
        if q.exact or len(exact) >= q.limit:
            return self._found(parsed.terms, exact, [])
        # The newest `limit` word-form hits hold at most len(exact) exact ones, so the
        # newest limit - len(exact) others among them, which are all that is shown.
        more = self._hit_rows(FORMS, forms.match(parsed.terms), where, fts_first, q.limit)
        seen = {row[0] for row in exact}
        extra = [row for row in more if row[0] not in seen][: q.limit - len(exact)]
        return self._found(parsed.terms, exact, extra)

    def _hit_rows(
        self, fts: str, match: str, where: list[tuple[str, Any]], fts_first: bool, limit: int
    ) -> list[sqlite3.Row]:
        """The newest `limit` messages of index `fts` matching, under the filters: rows
        of _ENTRY_SQL, newest first."""
        if not fts_first:
            # A few customers' messages: read those newest first, keep the ones that hit.
            where = [*where, (_IN_HITS.format(fts=fts), match)]
            sql = _ENTRY_SQL.format(source="messages m", join="JOIN") + _where(where)
            with self._reading() as db:
                return fetch_all(db, f"{sql} ORDER BY m.id DESC LIMIT ?", _args(where, limit))
        # CROSS JOIN keeps the FTS table outermost: it walks the hits by rowid and stops
        # at the limit instead of collecting every hit.
        where = [(f"{fts} MATCH ?", match), *where]
        source = _FTS_FIRST.format(fts=fts)
        with self._reading() as db:
            if fts == EXACT:
                # FTS5 walks hits oldest first for about half what newest first costs
                # (BENCHMARKS.md, "Query time at 1M, second pass"): when there are no more
                # than `limit` (a rare word, words that never meet), one such walk finds
                # them all; else it stops at limit + 1 and the newest are asked for.
                ids = _ENTRY_IDS.format(source=source) + _where(where)
                found = db.execute(f"{ids} ORDER BY {fts}.rowid LIMIT ?", _args(where, limit + 1))
                few = [row[0] for row in found]
                if len(few) <= limit:
                    return fetch_all(db, _BY_ID, (json.dumps(few),)) if few else []
            sql = _ENTRY_SQL.format(source=source, join="CROSS JOIN") + _where(where)
            return fetch_all(db, f"{sql} ORDER BY {fts}.rowid DESC LIMIT ?", _args(where, limit))

    def _found(
        self, terms: tuple[search.Term, ...], exact: list[sqlite3.Row], extra: list[sqlite3.Row]
    ) -> list[Entry]:
        """Search results: the rows as Entries with their snippets (`extra`: hits by word
        forms, highlighted by their keys)."""
        with self._reading() as db:
            names = rows.file_names_of(db, [r[0] for r in (*exact, *extra)])
        find = search.highlighter(terms)
        found = [_entry(r, names.get(r[0], ()), terms, find) for r in exact]
        if extra:
            find = forms.highlighter(terms)
            found += [_entry(r, names.get(r[0], ()), terms, find) for r in extra]
        return found

    def _conversations_of_customer(self, needle: str) -> tuple[list[int], bool]:
        """Conversations whose customer matches needle, and whether they hold so many of
        the messages (a quarter or more) that walking the search hits is the faster way."""
        with self._reading() as db:
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
        with self._reading() as db:
            found = db.execute(sql, args).fetchall()
            names = rows.file_names_of(db, [r[0] for r in found])
        return [rows.entry_from(r, names.get(r[0], ())) for r in found]


def _conversation_filter(
    conversation_id: int | None, cond: str | None = None, *args: Any
) -> tuple[str, tuple[Any, ...]]:
    conds, values = ([cond], list(args)) if cond else ([], [])
    if conversation_id is not None:
        conds.append("m.conversation_id = ?")
        values.append(conversation_id)
    return (" WHERE " + " AND ".join(conds) if conds else ""), tuple(values)


def _where(where: list[tuple[str, Any]]) -> str:
    return " WHERE " + " AND ".join(clause for clause, _ in where) if where else ""


def _args(where: list[tuple[str, Any]], limit: int) -> tuple[Any, ...]:
    return (*(value for _, value in where), limit)


def _entry(
    row: sqlite3.Row,
    names: Sequence[str],
    terms: tuple[search.Term, ...],
    find: Callable[[str], search.Spans],
) -> Entry:
    """A search hit as an Entry with its snippet and highlights (`find`: the words that
    hit, or, when none is in the text, the file names that do)."""
    text = row[5]  # _ENTRY_SQL's m.text
    spans = find(text)
    if not spans and names:
        joined = ", ".join(names)
        named = find(joined)
        if named or not text.strip():
            text, spans = joined, named
    snippet, highlights = search.snippet(text, terms, spans=spans)
    return rows.entry_from(row, names, snippet=snippet, highlights=highlights)
