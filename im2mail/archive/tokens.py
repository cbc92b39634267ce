"""Reply tokens: replacing (rotating) a conversation's +token, and the retired ones.

The +token in the Reply-To of a conversation's emails is what lets a reply reach the
customer (mail/routing.py). Everyone who ever received those emails holds it, so when
someone must no longer be able to answer (a manager left the team, an email was forwarded
outside), the token is replaced by a new random one. Emails built afterwards carry the
new one: Reply-To is built when an email is sent. The old token is kept, with when and
why, so that a reply to an older email is recognized (refused, and its author told what
happened) instead of being taken for a forged token.

The Message-IDs of the emails sent before a rotation were in the same hands as the old
token, so they stop being a way in too: `retired_email` tells a reply that names only
those (In-Reply-To/References, no token) from one that answers a newer email.

Automatic rotation (`follow_managers`): the archive remembers the managers the relay
last ran with; when an address has been removed since, every conversation's token is
rotated, because that manager received every conversation's emails.

Reach it as `archive.tokens`; each call is one short transaction.
"""

from __future__ import annotations

import json
import sqlite3
import string
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ..errors import NotFound
from .db import dt, now, ts

if TYPE_CHECKING:
    from .store import Archive

TOKEN_ALPHABET = string.ascii_lowercase + string.digits  # mail servers may lowercase
TOKEN_LENGTH = 12


def new_token() -> str:
    """A new conversation's reply token: random, unguessable, lower case (for `+token`)."""
    import secrets  # only writers make tokens; readers skip the import

    return "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(TOKEN_LENGTH))


MANAGERS_KEY = "managers"  # relay_memory: the managers list of the last run (JSON)
OWNER_ROTATED = "rotated by the owner (im2mail conversations rotate-token)"

# Where an email's Message-ID is ours: an outbox row (the email we sent, at the time it
# went out, or when queued while it has not), else a message (a manager's reply email,
# when it was archived). The earliest rotation after that time retired its token.
_RETIRED_EMAIL_SQL = """
WITH email AS (
    SELECT conversation_id, at FROM (
        SELECT m.conversation_id, 0 AS rank,
               CASE WHEN o.state = 'sent' THEN o.next_try ELSE o.created END AS at
        FROM outbox o JOIN messages m ON m.id = o.message_id WHERE o.email_message_id = ?
        UNION ALL
        SELECT conversation_id, 1, created FROM messages WHERE email_message_id = ?
    ) ORDER BY rank LIMIT 1
)
SELECT r.conversation_id, r.retired, r.reason FROM email e
JOIN retired_tokens r ON r.conversation_id = e.conversation_id AND r.retired > e.at
ORDER BY r.retired LIMIT 1
"""


@dataclass(frozen=True)
class Retired:
    """A token (or an email) that no longer reaches its conversation: since when, and why."""

    conversation_id: int
    when: datetime
    reason: str


@dataclass(frozen=True)
class Rotation:
    """What `follow_managers` found and did at the relay's start."""

    removed: tuple[str, ...]  # addresses in the last run's managers, not in these
    rotated: int  # conversations whose token was replaced


class ReplyTokens:
    def __init__(self, archive: Archive) -> None:
        self._archive = archive

    def rotate(self, conversation_id: int, reason: str, when: datetime | None = None) -> str:
        """Give the conversation a new random token, retiring the old one; the new one.
        NotFound when there is no such conversation."""
        with self._archive._transaction() as db:
            row = db.execute(
                "SELECT token FROM conversations WHERE id = ?", (conversation_id,)
            ).fetchone()
            if row is None:
                raise NotFound(
                    f"no conversation #{conversation_id}",
                    hint="list them with: im2mail conversations",
                )
            return _replace(db, conversation_id, row[0], reason, when or now())

    def rotate_all(self, reason: str, when: datetime | None = None) -> int:
        """Rotate every conversation's token, in one transaction; how many."""
        with self._archive._transaction() as db:
            return _replace_all(db, reason, when or now())

    def retired(self, token: str) -> Retired | None:
        """The retired token's conversation, when and why it was retired; None for a
        token that was never one of ours (or is current)."""
        with self._archive._reading() as db:
            row = db.execute(
                "SELECT conversation_id, retired, reason FROM retired_tokens WHERE token = ?",
                (token.strip().lower(),),
            ).fetchone()
        return _retired(row)

    def retired_email(self, email_message_id: str) -> Retired | None:
        """The rotation that came after the email with this Message-ID (one we sent, or a
        manager's reply) went out; None when the email is newer than its conversation's
        last rotation, or not ours at all."""
        with self._archive._reading() as db:
            row = db.execute(_RETIRED_EMAIL_SQL, (email_message_id, email_message_id)).fetchone()
        return _retired(row)

    def follow_managers(self, managers: tuple[str, ...] | list[str]) -> Rotation:
        """Compare `managers` with those of the last run: when an address was removed,
        rotate every conversation's token. Then remember `managers` for next time. The
        first run (nothing remembered) only remembers."""
        current = sorted({m.strip().lower() for m in managers if m.strip()})
        with self._archive._transaction() as db:
            row = db.execute(
                "SELECT value FROM relay_memory WHERE key = ?", (MANAGERS_KEY,)
            ).fetchone()
            before = _addresses(row[0]) if row else []
            removed = tuple(a for a in before if a not in current)
            rotated = 0
            if removed:
                reason = f"{', '.join(removed)} no longer in mail.managers"
                rotated = _replace_all(db, reason, now())
            db.execute(
                "INSERT INTO relay_memory (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (MANAGERS_KEY, json.dumps(current)),
            )
        return Rotation(removed, rotated)


def retire(db: sqlite3.Connection, conversation_id: int, reason: str, when: datetime) -> None:
    """rotate(), inside a transaction of the archive's own modules (forget.py)."""
    row = db.execute("SELECT token FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
    if row is not None:
        _replace(db, conversation_id, row[0], reason, when)


def _replace(
    db: sqlite3.Connection, conversation_id: int, old: str, reason: str, when: datetime
) -> str:
    token = new_token()
    while db.execute(
        "SELECT 1 FROM conversations WHERE token = ?1 UNION ALL"
        " SELECT 1 FROM retired_tokens WHERE token = ?1",
        (token,),
    ).fetchone():
        token = new_token()  # 1 in 36**12: draw again
    db.execute(
        "INSERT OR IGNORE INTO retired_tokens (token, conversation_id, retired, reason)"
        " VALUES (?, ?, ?, ?)",
        (old, conversation_id, ts(when), reason),
    )
    # The first token stays the thread's key, so Outlook keeps the thread one.
    db.execute(
        "UPDATE conversations SET token = ?, thread_key = coalesce(thread_key, ?) WHERE id = ?",
        (token, old, conversation_id),
    )
    return token


def _replace_all(db: sqlite3.Connection, reason: str, when: datetime) -> int:
    found = db.execute("SELECT id, token FROM conversations ORDER BY id").fetchall()
    for conversation_id, token in found:
        _replace(db, conversation_id, token, reason, when)
    return len(found)


def _retired(row: sqlite3.Row | None) -> Retired | None:
    if row is None:
        return None
    when = dt(row[1])
    assert when is not None
    return Retired(row[0], when, row[2])


def _addresses(value: str) -> list[str]:
    """The remembered managers; a value this version can't read counts as none."""
    try:
        found = json.loads(value)
    except ValueError:
        return []
    return [a for a in found if isinstance(a, str)] if isinstance(found, list) else []
