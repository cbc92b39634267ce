"""The SQLite connection under the archive: opening, settings, migrations, the one place
where sqlite3 errors become ArchiveError, and ArchiveBase, which holds the connection for
the archive's query groups. Also how times are stored."""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import ArchiveError
from . import migrations, word_index
from .blobs import BlobStore


class ArchiveBase:
    """An open archive's connection and blob store, under which Archive's query groups
    (conversations.py, messages.py) and the modules of functions (threads, receipts, ...)
    ask their questions. The connection never leaves the archive package: `_reading` and
    `_transaction` are for its own modules only."""

    def __init__(self, db: sqlite3.Connection, path: Path, blobs_dir: Path) -> None:
        self._db = db
        self.path = path
        self.blobs = BlobStore(blobs_dir)
        self._lock = threading.RLock()  # one connection, shared by the relay's threads

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _reading(self) -> _Held:
        """The connection, for reads, under the archive's lock; sqlite3 errors become
        ArchiveError. (A class, not a generator: every question of the relay's passes
        here, twice for a write.)"""
        return _Held(self)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection inside one write transaction (BEGIN IMMEDIATE), committed on
        success; inside another (the same thread holds the lock), a part of it: bulk work
        (an import, a generated archive) commits once for many calls."""
        with self._reading() as db:
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


class _Held:
    """`with archive._reading() as db`: the lock held, sqlite3 errors translated."""

    __slots__ = ("_archive",)

    def __init__(self, archive: ArchiveBase) -> None:
        self._archive = archive

    def __enter__(self) -> sqlite3.Connection:
        self._archive._lock.acquire()
        return self._archive._db

    def __exit__(
        self, kind: type[BaseException] | None, e: BaseException | None, tb: object
    ) -> None:
        self._archive._lock.release()
        if isinstance(e, sqlite3.Error):
            raise archive_error(e, self._archive.path) from e


def connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """A configured, migrated connection (autocommit: transactions are explicit)."""
    if not path.exists():
        create_private_file(path)
    with translate(path):
        db = sqlite3.connect(
            path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
    try:
        with translate(path):
            configure(db, path)
            migrations.apply(db)
            word_index.backfill(db)
    except BaseException:
        db.close()
        raise
    return db


def fetch_all(db: sqlite3.Connection, sql: str, args: Sequence[Any] = ()) -> list[Any]:
    """db.execute(sql, args).fetchall() with text decoded by sqlite3 itself, in C, and
    again with configure()'s replacing decoder only when a value is not UTF-8. That
    decoder is a Python call per value (about 0.3 µs): search reads hundreds at a time.
    Under the archive's lock (the connection's text_factory is set for this query)."""
    safe = db.text_factory
    db.text_factory = str
    try:
        return db.execute(sql, args).fetchall()
    except sqlite3.OperationalError as e:
        if "decode" not in str(e):
            raise
    finally:
        db.text_factory = safe
    return db.execute(sql, args).fetchall()


def create_private_file(path: Path) -> None:
    """A new archive is readable by its owner only: it holds customers' chats and phones."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError as e:
        raise ArchiveError(
            f"cannot create the archive {path}: {e.strerror or e}",
            hint="check that the directory exists and is writable (see: im2mail path)",
        ) from e


def configure(db: sqlite3.Connection, path: Path) -> None:
    # Bad bytes in a text column (written by other tools) never crash a read.
    db.text_factory = functools.partial(str, encoding="utf-8", errors="replace")
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA synchronous = NORMAL")
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if tables and "_migrations" not in tables:
        raise ArchiveError(
            f"{path} is not an im2mail archive (it holds other tables)",
            hint="point IM2MAIL_HOME elsewhere, or move that file away",
        )


@contextlib.contextmanager
def translate(path: Path) -> Iterator[None]:
    """Turn sqlite3 errors into ArchiveError with a message a user can act on."""
    try:
        yield
    except sqlite3.Error as e:
        raise archive_error(e, path) from e


def archive_error(e: sqlite3.Error, path: Path) -> ArchiveError:
    code = (getattr(e, "sqlite_errorcode", None) or 0) & 0xFF
    text = str(e).lower()
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "locked" in text:
        return ArchiveError(
            "archive is locked by another process",
            hint=f"another program holds {path} (a second im2mail run? a sqlite3 shell?);"
            " wait for it or stop it, then try again",
        )
    if code in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT) or "malformed" in text:
        return ArchiveError(
            f"{path} is not an im2mail archive or is damaged",
            hint="restore archive.db from a backup, or move it away to start a new archive",
        )
    if code in (sqlite3.SQLITE_PERM, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN):
        return ArchiveError(
            f"cannot open the archive {path}: {_why_not_open(path, code)}",
            hint=f"check the owner and permissions of {path} and its directory (ls -l)",
        )
    if code == sqlite3.SQLITE_FULL:
        return ArchiveError(f"the disk holding {path} is full", hint="free some space")
    return ArchiveError(f"archive error: {e}", hint=f"the archive is {path}")


def _why_not_open(path: Path, code: int) -> str:
    if path.is_dir():
        return "it is a directory"
    if code == sqlite3.SQLITE_READONLY or not os.access(path, os.R_OK | os.W_OK):
        return "permission denied"
    return "the file or its directory cannot be used"


def now() -> datetime:
    return datetime.now(UTC)


def ts(dt: datetime | None) -> str | None:
    """ISO 8601 in UTC with offset. Text order is time order ('+' sorts before '.').
    A naive datetime is taken as local time, as Python does."""
    if dt is None:
        return None
    dt = dt.astimezone(UTC)
    return dt.isoformat(timespec="microseconds" if dt.microsecond else "seconds")


def dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def clean(text: str) -> str:
    """Text SQLite can store: lone surrogates (broken JSON escapes) become '?'."""
    return text.encode("utf-8", "replace").decode("utf-8")


def fits_sqlite(number: int) -> bool:
    """Whether SQLite can take the integer (a 64-bit one): an id typed beyond that is no
    row's, where sqlite3 would raise OverflowError."""
    return -(2**63) <= number < 2**63
