"""Archive upkeep (`im2mail vacuum`): the retention of attachment files, then compaction.

Retention (`[archive] keep_files_days`, 0 = keep forever) drops the files of messages
older than that many days: the attachment rows stay (name, type, size: emails, exports and
`tail` show "not kept"), only the bytes go. A blob is deleted once no kept attachment
names it (the same file sent again last week keeps it). Messages with a delivery still
pending keep their files. Blob files that no attachment names at all (left by a crash
between a blob's write and its row's commit) are deleted too, but only when older than
an hour, so a relay storing a message right now never loses its file.

Then SQLite's VACUUM rewrites archive.db without the free pages, and the WAL is
checkpointed and truncated. VACUUM holds the write lock for its duration: a running relay
waits, and what it could not store meanwhile its platform delivers again.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from . import Archive, word_index
from .db import ts

ORPHAN_AGE = 3600.0  # seconds: a blob younger than this may be a message being stored


@dataclass(frozen=True)
class Cleanup:
    """What vacuum did (or, with dry_run, would do)."""

    cutoff: datetime | None  # files of messages before this were dropped; None: kept all
    attachments: int  # attachment rows whose file was dropped
    files: int  # blob files deleted (dropped by retention, or named by nothing)
    freed: int  # bytes of those files
    archive_before: int  # bytes of archive.db (+ WAL) before
    archive_after: int  # ... and after


def vacuum(
    archive: Archive,
    keep_files_days: int,
    *,
    now: datetime,
    dry_run: bool = False,
    step: Callable[[str], None] = lambda what: None,
) -> Cleanup:
    """Apply the retention, delete unnamed blobs, compact. `step` hears what is next."""
    before = _archive_bytes(archive.path)
    cutoff = now - timedelta(days=keep_files_days) if keep_files_days > 0 else None
    if cutoff is not None:
        step("dropping the files of messages before " + cutoff.date().isoformat())
    dropped, retired, named = _retire(archive, cutoff, dry_run)
    step("looking for files no message names")
    doomed = [archive.blob_path(sha) for sha in sorted(retired)]
    doomed += _unnamed_blobs(archive.blobs.root, named | retired, time.time() - ORPHAN_AGE)
    files, freed = 0, 0
    for path in doomed:
        with contextlib.suppress(FileNotFoundError):
            size = path.stat().st_size
            if not dry_run:
                path.unlink()
            files, freed = files + 1, freed + size
    if not dry_run:
        # An archive grown message by message keeps its search indexes in many segments,
        # which every newest-first search walks in turn; one merge makes them one again.
        step("merging the search indexes")
        with archive._transaction() as db:
            word_index.merge(db)
        step("compacting archive.db")
        with archive._reading() as db:
            db.execute("VACUUM")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return Cleanup(cutoff, dropped, files, freed, before, _archive_bytes(archive.path))


# Attachments of messages older than the cutoff with no delivery still pending.
_OLD_ATTACHMENTS = """
SELECT a.id, a.sha256 FROM attachments a JOIN messages m ON m.id = a.message_id
WHERE a.sha256 IS NOT NULL AND m.created < ?
  AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.message_id = m.id AND o.state = 'pending')
"""
_NAMED = "SELECT DISTINCT sha256 FROM attachments WHERE sha256 IS NOT NULL"


class _DryRun(Exception):
    """Raised inside the transaction to roll a dry run back."""


def _retire(
    archive: Archive, cutoff: datetime | None, dry_run: bool
) -> tuple[int, set[str], set[str]]:
    """Drop the files of old messages from their rows: (rows changed, the blobs no row
    names any more, the blobs still named). A dry run computes the same and rolls back."""
    result: tuple[int, set[str], set[str]] = (0, set(), set())
    with contextlib.suppress(_DryRun), archive._transaction() as db:
        old = db.execute(_OLD_ATTACHMENTS, (ts(cutoff),)).fetchall() if cutoff else []
        db.executemany("UPDATE attachments SET sha256 = NULL WHERE id = ?",
                       [(row[0],) for row in old])  # fmt: skip
        named = {row[0] for row in db.execute(_NAMED)}
        result = (len(old), {row[1] for row in old} - named, named)
        if dry_run:
            raise _DryRun
    return result


def _unnamed_blobs(root: Path, named: set[str], older_than: float) -> list[Path]:
    return list(_walk_unnamed(root, named, older_than))


def _walk_unnamed(root: Path, named: set[str], older_than: float) -> Iterator[Path]:
    if not root.is_dir():
        return
    for folder in sorted(root.iterdir()):
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.name in named:
                continue
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < older_than:
                    yield path


def _archive_bytes(path: Path) -> int:
    total = 0
    for suffix in ("", "-wal"):
        with contextlib.suppress(FileNotFoundError):
            total += os.stat(f"{path}{suffix}").st_size
    return total
