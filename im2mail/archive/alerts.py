"""What the relay's alerts (relay/alerts.py) ask of the archive: queue a reminder about a
waiting customer or the daily digest, each once (its dedupe key is recorded with its
outbox row, in one transaction), and the messages a reminder lists. Who waits, and the
digest's figures, are stats.py's.
"""

from __future__ import annotations

from datetime import datetime

from ..model import Message, OutboxItem
from . import Archive, rows
from .db import ts


def queue_reminder(archive: Archive, message_id: int, key: str, item: OutboxItem) -> bool:
    """Queue `item` on the customer's message that started a wait, once per `key`, and
    only when that message was emailed (history imported from before im2mail has no
    thread to remind in). False when queued before, or not emailed."""
    if archive.was_seen(key):
        return False  # the usual case: no write lock needed
    with archive._transaction() as db:
        row = db.execute("SELECT email_message_id FROM messages WHERE id = ?", (message_id,))
        emailed = (row.fetchone() or (None,))[0] is not None
        if not emailed or not rows.mark_seen(db, key):
            return False
        rows.insert_outbox(db, message_id, item)
    return True


def queue_digest(archive: Archive, key: str, item: OutboxItem) -> bool:
    """Queue the digest `item` once per `key`, on the newest customer message whose own
    email went (the digest's row changes nothing for it), else the newest message. False
    when queued before, or when the archive has no message (nothing to tell)."""
    if archive.was_seen(key):
        return False
    with archive._transaction() as db:
        found = (
            db.execute(
                "SELECT max(id) FROM messages WHERE direction = 'in' AND sent IS NOT NULL"
            ).fetchone()[0]
            or db.execute("SELECT max(id) FROM messages").fetchone()[0]
        )
        if not rows.mark_seen(db, key) or found is None:
            return False
        rows.insert_outbox(db, found, item)
    return True


def waiting_messages(archive: Archive, conversation_id: int, since: datetime) -> list[Message]:
    """The customer's messages in the conversation from `since` on (the one that started
    the wait, and those after it), in time order."""
    with archive._reading() as db:
        found = db.execute(
            "SELECT * FROM messages WHERE conversation_id = ? AND direction = 'in'"
            " AND created >= ? ORDER BY created, id",
            (conversation_id, ts(since)),
        ).fetchall()
        return rows.messages_from(db, found)
