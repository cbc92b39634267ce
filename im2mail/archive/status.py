"""What `status` and `doctor` read of the archive (ops/status.py, ops/doctor/): each bot's
activity, what the outbox failed lately and its last error, and the database's integrity.
Who is blocked and who floods are blocks.py's and floods.py's; the backlog is
`archive.deliveries.outbox_counts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from . import Archive
from .db import dt, ts
from .rows import customer_from

# The newest in (or out) message of each of the bot's conversations, by the
# (conversation_id, id) index: a few rows per conversation, not a scan of all messages.
_LAST_SQL = """
SELECT m.created, u.* FROM conversations c
JOIN messages m ON m.id = (SELECT max(id) FROM messages
                           WHERE conversation_id = c.id AND direction = ?)
JOIN customers u ON u.id = c.customer_id
WHERE c.bot = ? ORDER BY m.created DESC LIMIT 1
"""
_ERROR_SQL = """
SELECT last_error, target, state FROM outbox
WHERE last_error IS NOT NULL AND (state = 'failed' OR (state = 'pending' AND attempts > 0))
ORDER BY id DESC LIMIT 1
"""


@dataclass(frozen=True)
class Activity:
    """A bot's conversations and its latest message each way."""

    conversations: int
    last_in: datetime | None
    last_in_customer: str | None  # who wrote it
    last_out: datetime | None


@dataclass(frozen=True)
class OutboxError:
    """The error of the newest outbox row that failed or is being retried, as recorded."""

    text: str
    target: str  # "mail" or "channel"
    failed: bool  # given up; else being retried


def activity(archive: Archive, bot: str) -> Activity:
    with archive._reading() as db:
        count = db.execute("SELECT count(*) FROM conversations WHERE bot = ?", (bot,))
        last_in = db.execute(_LAST_SQL, ("in", bot)).fetchone()
        last_out = db.execute(_LAST_SQL, ("out", bot)).fetchone()
        return Activity(
            conversations=count.fetchone()[0],
            last_in=dt(last_in["created"]) if last_in else None,
            last_in_customer=customer_from(last_in).display_name if last_in else None,
            last_out=dt(last_out["created"]) if last_out else None,
        )


def failed_since(archive: Archive, since: datetime) -> int:
    """Outbox rows given up at or after `since`."""
    with archive._reading() as db:
        return db.execute(
            "SELECT count(*) FROM outbox WHERE state = 'failed' AND next_try >= ?", (ts(since),)
        ).fetchone()[0]


def last_error(archive: Archive) -> OutboxError | None:
    with archive._reading() as db:
        row = db.execute(_ERROR_SQL).fetchone()
    if row is None:
        return None
    return OutboxError(row["last_error"], row["target"], row["state"] == "failed")


def quick_check(archive: Archive) -> list[str]:
    """SQLite's PRAGMA quick_check: ["ok"] when intact, else what is damaged. ArchiveError
    when a page is too broken for it to walk."""
    with archive._reading() as db:
        return [row[0] for row in db.execute("PRAGMA quick_check")]
