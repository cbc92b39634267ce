"""What the relay asks the archive about a conversation's mail thread: the earlier emails
an email continues, the parts of an album, whether a customer is new, a file for a link;
and a manager's recent replies, from which their signature is learned.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from ..model import Attachment, Message, OutboxItem
from . import Archive, people, rows
from .db import dt, ts

HISTORY = 40  # earlier messages an email looks at for its References
SENT_TEXTS = 5  # our emails a reply is checked against (quoted history by its words)


def history(archive: Archive, conversation_id: int, before_id: int) -> list[Message]:
    """The conversation's last messages before `before_id` that were emails (ours or the
    managers' replies), oldest first. A linked customer's conversation: those of every
    conversation of their person (people.py), so that their emails are one thread.
    Read for every email sent, so only what threading needs (id, direction, author, text,
    kind, time, Message-ID): not the payload (`raw` None) nor the files."""
    with archive._reading() as db:
        found = []
        for member in people.person_ids(db, conversation_id):
            found += db.execute(
                "SELECT id, conversation_id, direction, author, text, created, kind,"
                " email_message_id FROM messages WHERE conversation_id = ? AND id < ?"
                " AND email_message_id IS NOT NULL ORDER BY id DESC LIMIT ?",
                (member, before_id, HISTORY),
            ).fetchall()
    found = sorted(found, key=lambda row: row[0], reverse=True)[:HISTORY]
    return [
        Message(conv, direction, author, text, dt(created), kind, email_message_id=mid, id=i)
        for i, conv, direction, author, text, created, kind, mid in reversed(found)
    ]


def album_parts(archive: Archive, message: Message) -> list[Message]:
    """The parts one email carries: the message itself, and for an album the later parts
    that share its email (parts that came too late got an email of their own)."""
    if message.group is None or message.id is None:
        return [message]
    with archive._reading() as db:
        found = db.execute(
            "SELECT * FROM messages WHERE conversation_id = ? AND media_group = ? AND id >= ?"
            " AND (id = ? OR email_message_id IS ?) ORDER BY id",
            (message.conversation_id, message.group, message.id, message.id,
             message.email_message_id),
        ).fetchall()  # fmt: skip
        return rows.messages_from(db, found)


def pending_album_email(archive: Archive, conversation_id: int, group: str) -> str | None:
    """The Message-ID of an album's email not sent yet, which a new part can join (not
    another email hung on one of its parts: a reminder, a flood digest, a notice)."""
    with archive._reading() as db:
        row = db.execute(
            "SELECT o.email_message_id FROM outbox o JOIN messages m ON m.id = o.message_id"
            " WHERE m.conversation_id = ? AND m.media_group = ? AND o.target = 'mail'"
            " AND o.state = 'pending' AND o.kind = 'message' ORDER BY o.id LIMIT 1",
            (conversation_id, group),
        ).fetchone()
    return row[0] if row else None


def is_new(archive: Archive, conversation_id: int) -> bool:
    """Whether the conversation has no message yet (the customer's first contact)."""
    with archive._reading() as db:
        row = db.execute(
            "SELECT 1 FROM messages WHERE conversation_id = ? LIMIT 1", (conversation_id,)
        ).fetchone()
    return row is None


def has_written(archive: Archive, conversation_id: int) -> bool:
    """Whether the customer has sent anything in the conversation."""
    with archive._reading() as db:
        row = db.execute(
            "SELECT 1 FROM messages WHERE conversation_id = ? AND direction = 'in' LIMIT 1",
            (conversation_id,),
        ).fetchone()
    return row is not None


def attachment(archive: Archive, attachment_id: int) -> tuple[Attachment, Path | None] | None:
    """A stored file by id, and where its bytes are (None when it was never downloaded)."""
    with archive._reading() as db:
        row = db.execute(
            "SELECT id, filename, mime, size, sha256 FROM attachments WHERE id = ?",
            (attachment_id,),
        ).fetchone()
    if row is None:
        return None
    found = Attachment(row["filename"], row["mime"], row["size"], row["sha256"], row["id"])
    return found, archive.blob_path(found.sha256) if found.sha256 else None


def notice_once(archive: Archive, conversation_id: int, key: str, item: OutboxItem) -> bool:
    """Queue `item` (a notice to the managers) on the conversation's newest emailed
    message, in its thread, unless `key` was queued before: the dedupe key and the outbox
    row are written together. False when seen before or there is no email to follow."""
    if archive.was_seen(key):
        return False  # the usual case when it repeats: no write lock needed
    with archive._transaction() as db:
        row = db.execute(
            "SELECT max(id) FROM messages WHERE conversation_id = ?"
            " AND email_message_id IS NOT NULL",
            (conversation_id,),
        ).fetchone()
        if row[0] is None or not rows.mark_seen(db, key):
            return False
        rows.insert_outbox(db, row[0], item)
    return True


def sent_by_us(archive: Archive, email_message_id: str) -> bool:
    """Whether the Message-ID is of an email im2mail made (one coming back is a loop)."""
    with archive._reading() as db:
        row = db.execute(
            "SELECT 1 FROM outbox WHERE email_message_id = ? AND target = 'mail' LIMIT 1",
            (email_message_id,),
        ).fetchone()
    return row is not None


def sent_emails(
    archive: Archive, conversation_id: int, email_ids: list[str], limit: int = SENT_TEXTS
) -> list[OutboxItem]:
    """The emails of ours in the conversation a reply answers: those of `email_ids` (its
    In-Reply-To and References, newest first) in that order, or when it names none of
    ours (a client that drops them), the conversation's latest; at most `limit`. A linked
    customer's: of any conversation of their person, whose emails are one thread."""
    with archive._reading() as db:
        # CROSS JOIN keeps outbox the outer loop: looked up by Message-ID, not every
        # message of a long conversation walked (8 ms at 10 000 messages, else 0.1 ms).
        query = (
            "SELECT o.* FROM outbox o CROSS JOIN messages m ON m.id = o.message_id"
            " WHERE o.target = 'mail' AND m.conversation_id IN (SELECT value FROM json_each(?))"
        )
        members = json.dumps(people.person_ids(db, conversation_id))
        wanted = list(dict.fromkeys(email_ids))[: limit * 4]
        found = db.execute(
            f"{query} AND o.email_message_id IN ({','.join('?' * len(wanted))})",
            (members, *wanted),
        ).fetchall() if wanted else []  # fmt: skip
        if found:
            order = {mid: n for n, mid in enumerate(wanted)}
            found.sort(key=lambda r: order[r["email_message_id"]])
        else:  # the conversation's newest messages first, each with its email
            found = db.execute(
                "SELECT o.* FROM messages m JOIN outbox o ON o.message_id = m.id"
                " WHERE m.conversation_id = ? AND o.target = 'mail'"
                " ORDER BY m.id DESC, o.id DESC LIMIT ?",
                (conversation_id, limit * 4),
            ).fetchall()
    items, seen = [], set()
    for row in found:
        if row["email_message_id"] not in seen:  # an album's parts share one email
            seen.add(row["email_message_id"])
            items.append(rows.outbox_from(row))
    return items[:limit]


def colleague_answer(
    archive: Archive, conversation_id: int, author: str, since: datetime
) -> Message | None:
    """Another manager's reply in the conversation at or after `since` and after the
    customer's last message: the same question already answered by a colleague."""
    with archive._reading() as db:
        found = db.execute(
            "SELECT * FROM messages WHERE conversation_id = ? AND direction = 'out'"
            " AND author != ? AND author LIKE '%@%' AND created >= ? AND id > coalesce("
            " (SELECT max(id) FROM messages WHERE conversation_id = ? AND direction = 'in'), 0)"
            " ORDER BY id DESC LIMIT 1",
            (conversation_id, author, ts(since), conversation_id),
        ).fetchall()
        return rows.messages_from(db, found)[0] if found else None


def recent_replies(archive: Archive, author: str, limit: int = 10) -> list[str]:
    """The texts `author` (a manager; the address compared case-insensitively, ASCII)
    sent most recently in any conversation, newest first, each with the signature cut
    from it (`raw["signature"]`) put back below it: what `mail.signatures.learn` reads.

    The index messages_by_author (migration m009) makes it a seek, however few replies
    the manager has sent."""
    with archive._reading() as db:
        found = db.execute(
            "SELECT text, raw FROM messages WHERE author = ? COLLATE NOCASE"
            " AND direction = 'out' AND text <> '' ORDER BY id DESC LIMIT ?",
            (author, limit),
        ).fetchall()
    return [_with_signature(row["text"], row["raw"]) for row in found]


def colleagues_replies(
    archive: Archive, author: str, limit: int = 20, window: int = 5000
) -> list[tuple[str, str]]:
    """(author lower-cased, text) of what the other managers (an address, not `author`)
    sent most recently among the `window` newest messages, newest first, each text with
    its cut signature put back: what a block the shop's mail server adds under every
    reply (a footer, a disclaimer) is learned from before `author` has replies of their
    own (signatures.shared). The window bounds the scan where no one else answers."""
    with archive._reading() as db:
        found = db.execute(
            "SELECT author, text, raw FROM messages"
            " WHERE id > (SELECT coalesce(max(id), 0) FROM messages) - ?"
            " AND direction = 'out' AND text <> '' AND author LIKE '%@%'"
            " AND author <> ? COLLATE NOCASE ORDER BY id DESC LIMIT ?",
            (window, author, limit),
        ).fetchall()
    return [(row["author"].lower(), _with_signature(row["text"], row["raw"])) for row in found]


def _with_signature(text: str, raw: str | None) -> str:
    payload = json.loads(raw) if raw else None
    signature = payload.get("signature") if isinstance(payload, dict) else None
    if isinstance(signature, str) and signature.strip():
        return text + "\n\n" + signature
    return text
