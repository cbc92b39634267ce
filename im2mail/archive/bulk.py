"""Bulk loading: many messages into the archive at once (a history import, a generated
archive), `batch` per transaction, with no outbox rows. An item may carry a dedupe key
(message, attachments, key): recorded with its message, and a key seen before skips it.

What keeps a million messages quick (benches/archive_scale.py):
- Blob files are synced once per batch, before the rows that name them are committed.
- SQLite's page cache is larger while it runs: the indexes of a big archive (Message-IDs
  land anywhere in theirs) then stay in memory (1M messages: 11 % less time).
- The indexes only reports read (migrations.DEFERRED_INDEXES) are dropped for the load
  and built once at the end: kept up row by row, the one on (conversation, time) made a
  1M build 28 % slower (50.9 s instead of 39.8 s); built once, it takes about a second.
  A load cut short by a crash leaves it missing, and the next open builds it again
  (migrations.restore_deferred_indexes).
- The search indexes (messages_fts, messages_forms) are merged into one segment each
  once a load of word_index.OPTIMIZE_AFTER messages or more is in (about 2 s at 1M):
  search's newest-first walks are then up to 2.5x quicker.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ..model import Attachment, Message, NewAttachment
from . import rows, word_index
from .migrations import DEFERRED_INDEXES, restore_deferred_indexes

if TYPE_CHECKING:
    from .store import Archive

BULK_CACHE_KIB = 64 * 1024  # SQLite's page cache during a load (the default is 2 MiB)


Item = tuple[Message, Sequence[NewAttachment]] | tuple[Message, Sequence[NewAttachment], str]


def add_many(archive: Archive, items: Iterable[Item], *, batch: int) -> int:
    """Archive `items` (message, attachments[, dedupe key]); returns how many were added."""
    count, chunk = 0, []
    with archive._transaction() as db:
        cache = db.execute("PRAGMA cache_size").fetchone()[0]
        db.execute(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")
        for name in DEFERRED_INDEXES:
            db.execute(f"DROP INDEX IF EXISTS {name}")
    try:
        for message, attachments, *key in items:
            files = archive.store_files(attachments, sync=False)
            chunk.append((message, files, key[0] if key else None))
            if len(chunk) >= batch:
                count += _insert(archive, chunk)
                chunk = []
        count += _insert(archive, chunk)
        if count >= word_index.OPTIMIZE_AFTER:
            with archive._transaction() as db:
                word_index.merge(db)
        return count
    finally:
        with archive._transaction() as db:
            restore_deferred_indexes(db)
            db.execute(f"PRAGMA cache_size = {int(cache)}")


def _insert(archive: Archive, chunk: list[tuple[Message, list[Attachment], str | None]]) -> int:
    if any(files for _, files, _ in chunk):
        os.sync()  # the blobs are on disk before rows that name them are committed
    with archive._transaction() as db:
        fresh = [(m, files) for m, files, key in chunk if key is None or rows.mark_seen(db, key)]
        rows.insert_many(db, fresh)
    return len(fresh)
