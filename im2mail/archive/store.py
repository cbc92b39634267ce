"""The archive: one SQLite file (WAL) with every message both ways, plus a blob directory.

Writes that belong together happen in one transaction: an incoming message is archived
with its attachments, its index row, its outbox rows and its dedupe key, or not at all.
Readers (tail, search, conversations) never wait for the relay that writes. sqlite3 errors
never leave the archive raw: they become ArchiveError with a message and a hint (db.py).

Archive is the façade: its own questions come in groups by concern, each in a module
beside this one (conversations.py: customers and conversations; messages.py: storing,
reading and searching messages), and two more hang off it (`archive.deliveries`, the
outbox queue; `archive.tokens`, reply tokens). The other concerns are modules of
functions that take the open archive: threads, receipts, alerts, floods, blocks, stats,
status, exporting, vacuum. Each question returns model values; no connection leaves.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import NotFound
from .conversations import Conversations
from .db import connect
from .deliveries import Deliveries
from .messages import Messages

if TYPE_CHECKING:
    from .tokens import ReplyTokens

BUSY_TIMEOUT = 5.0  # seconds a writer waits for another writer before giving up


class Archive(Conversations, Messages):
    """An open archive. Use `Archive.open(path)`, as a context manager or with close()."""

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

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the parts that hang off it --------------------------------------------------------

    @functools.cached_property
    def deliveries(self) -> Deliveries:
        """The delivery queue (the outbox table) that the sending workers use."""
        return Deliveries(self)

    @functools.cached_property
    def tokens(self) -> ReplyTokens:
        """Rotating conversations' reply tokens, and the retired ones (tokens.py)."""
        from .tokens import ReplyTokens

        return ReplyTokens(self)

    def blob_path(self, sha256: str) -> Path:
        return self.blobs.path(sha256)
