"""SQL on a test's archive, for what no named question of the archive answers: a test
that looks at the rows it expects, or sets up a state no product path makes (a delivery
marked sent, bytes no platform sends). Test code only: product code asks the archive
named questions (tests/unit/test_layout.py).

Both use the archive's own connection under its lock, as the archive's modules do, so a
test sees the archive's writes at once and its writes join the archive's transaction.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager

from im2mail.archive import Archive


def reading(archive: Archive) -> AbstractContextManager[sqlite3.Connection]:
    """The connection, for reads."""
    return archive._reading()


def writing(archive: Archive) -> AbstractContextManager[sqlite3.Connection]:
    """The connection inside one write transaction, committed on success. Calls of the
    archive inside it are part of it (one commit for many, as a bulk load does)."""
    return archive._transaction()


def index_terms(db: sqlite3.Connection, index: str = "messages_fts") -> dict[str, int]:
    """The words a search index holds (messages_fts; messages_forms: the word forms'
    keys), each with how many messages hold it (fts5vocab over the contentless table):
    what a test of erasure looks for."""
    db.execute(
        f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.terms_{index}"
        f" USING fts5vocab(main, {index}, 'row')"
    )
    return dict(db.execute(f"SELECT term, doc FROM temp.terms_{index}"))
