"""Forgetting: a customer erased on request (`im2mail forget ID`), or every message older
than `archive.keep_messages_days` (from `vacuum` and the running relay).

What goes, for each message erased: its row with its text and the platform's payload,
its receipts (delivered, seen), its attachment rows and its row in the search index, and
its deliveries not made yet (they are dropped: nothing more goes to or about the
customer). A file goes when no message left names it. A forgotten customer keeps a row,
anonymous: no name, username, phone or platform id (their id becomes `forgotten:<n>`,
so their next message, if any, makes a new customer), marked `forgotten`, out of any
person they were linked to; their conversations keep their ids (old emails name them),
with new reply tokens, so a reply to an email about them reaches no one (its author is
told why). The lead source stays: it is the shop's campaign, not the customer's.

What stays, anonymous, is what `stats` counts (stats.py): per message its conversation,
direction, time, the manager of a reply and whether it reached them, in
forgotten_events. So the figures of any period stay the same, except that a forgotten
customer is no longer waiting for anyone.

What can't go: the emails the managers already got about the customer (and the replies
they sent), in the shop's mailbox; the result counts them so the command can say so.

Crash-safe: a customer is erased in one SQLite transaction (a kill midway leaves the
archive as it was before), and their files are deleted only after it commits. A kill
between the commit and the deletion leaves files no message names; `im2mail vacuum`
deletes such files (those an hour old). By age, messages go in batches of BATCH, each
one transaction: every message is erased whole or not at all, and a customer is
anonymized in the batch that erases their last message. Messages with a delivery still
pending are not erased by age (they are next time). Pages freed are zeroed
(secure_delete), the search index is merged so that no erased word stays in its pages,
and the WAL is checkpointed (`_purge`); `vacuum` then gives the space back.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta

from ..errors import NotFound
from ..model import Customer
from . import Archive, people, rows, stats, tokens, word_index
from .db import fits_sqlite, now, ts

BATCH = 2000  # messages erased by age per transaction
FORGOTTEN = "the customer was forgotten (im2mail forget)"  # why their reply tokens went
_CHUNK = 500  # ids per query


@dataclass(frozen=True)
class Erasure:
    """What was erased (or, with dry_run, would be)."""

    customers: people.Members = ()  # forgotten, as they were, each with a conversation id
    conversations: tuple[int, ...] = ()  # those the messages were erased from
    threads: people.Members = ()  # forget: each of those with its customer as they were
    messages: int = 0  # and as many rows of the search index
    attachments: int = 0
    receipts: int = 0  # messages that had a delivered or seen time
    cancelled: int = 0  # deliveries not made yet, dropped
    files: int = 0  # blob files deleted (no message names them any more)
    freed: int = 0  # their bytes
    kept_files: int = 0  # files other messages still name, kept
    emails: int = 0  # emails about them the managers already got (in the mailbox)
    replies: int = 0  # the managers' own replies (in the mailbox too)
    cutoff: datetime | None = None  # by age: messages before this

    def __add__(self, other: Erasure) -> Erasure:
        counts = {f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)
                  if f.name not in ("customers", "conversations", "threads", "cutoff")}  # fmt: skip
        return Erasure(
            self.customers + other.customers,
            tuple(sorted(set(self.conversations) | set(other.conversations))),
            self.threads + other.threads,
            cutoff=self.cutoff or other.cutoff,
            **counts,
        )


class _DryRun(Exception):
    """Raised inside the transaction to roll a dry run back."""


def forget(
    archive: Archive, conversation_id: int, *, at: datetime | None = None, dry_run: bool = False
) -> Erasure:
    """Erase the customer of the conversation, with every customer linked to them (one
    person, people.py), in one transaction; then delete the files only they named.
    NotFound (exit 5) for an unknown conversation."""
    at = at or now()
    result, doomed = Erasure(), set[str]()
    with contextlib.suppress(_DryRun), _erasing(archive) as db:
        customers = _person(db, conversation_id)
        ids = _conversations(db, [c.id for _, c in customers if c.id is not None])
        by_id = {c.id: c for _, c in customers}
        threads = tuple((r[0], by_id[r[1]]) for r in db.execute(
            "SELECT id, customer_id FROM conversations WHERE id IN (SELECT value FROM"
            " json_each(?)) ORDER BY id", (json.dumps(ids),),
        ))  # fmt: skip
        found = [r[0] for r in db.execute(
            "SELECT id FROM messages WHERE conversation_id IN (SELECT value FROM json_each(?))"
            " ORDER BY id", (json.dumps(ids),),
        )]  # fmt: skip
        result, shas = _erase(db, found)
        _anonymize(db, [c for _, c in customers], at)
        result = replace(result, customers=customers, conversations=tuple(ids), threads=threads)
        doomed = shas - _named(db, shas)
        result = replace(result, kept_files=len(shas) - len(doomed))
        if dry_run:
            raise _DryRun
    if result.messages and not dry_run:
        _purge(archive)
    return _with_files(archive, result, doomed, dry_run)


def erase_older(
    archive: Archive,
    cutoff: datetime,
    *,
    at: datetime | None = None,
    dry_run: bool = False,
    batch: int = BATCH,
) -> Erasure:
    """Erase the messages created before `cutoff` (those with no delivery pending), a
    batch per transaction; a customer left without any message is forgotten. A dry run
    is one transaction, rolled back."""
    at = at or now()
    total, doomed, last = Erasure(cutoff=cutoff), set[str](), 0
    outer = _erasing(archive) if dry_run else contextlib.nullcontext()
    with contextlib.suppress(_DryRun), outer:
        while True:
            with _erasing(archive) as db:  # in a dry run: a part of the outer one
                found = [r[0] for r in db.execute(_OLD_SQL, (last, ts(cutoff), batch))]
                if not found:
                    break
                part, shas = _erase(db, found)
                emptied = _emptied(db, part.conversations)
                _anonymize(db, [c for _, c in emptied], at)
                gone = shas - _named(db, shas)
                part = replace(part, customers=emptied, kept_files=len(shas) - len(gone))
            if not dry_run:  # this batch is committed: its files can go
                part = _with_files(archive, part, gone, dry_run=False)
            doomed |= gone
            total, last = total + part, found[-1]
        if dry_run:
            raise _DryRun
    if dry_run:
        return _with_files(archive, total, doomed, dry_run=True)
    if total.messages:
        _purge(archive)
    return total


def by_age(
    archive: Archive, keep_days: int, *, at: datetime | None = None, dry_run: bool = False
) -> Erasure | None:
    """archive.keep_messages_days: erase the messages older than `keep_days` days
    (erase_older); None when it is 0 (keep them all)."""
    if keep_days <= 0:
        return None
    at = at or now()
    return erase_older(archive, at - timedelta(days=keep_days), at=at, dry_run=dry_run)


_OLD_SQL = """
SELECT m.id FROM messages m WHERE m.id > ? AND m.created < ?
  AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.message_id = m.id AND o.state = 'pending')
ORDER BY m.id LIMIT ?
"""


@contextlib.contextmanager
def _erasing(archive: Archive):
    """A write transaction that zeroes the pages it frees (the erased text does not
    linger in the file's free pages)."""
    with archive._transaction() as db:
        db.execute("PRAGMA secure_delete = ON")
        try:
            yield db
        finally:
            db.execute("PRAGMA secure_delete = OFF")


def _purge(archive: Archive) -> None:
    """After an erasure: the search indexes (the words and their forms) merged into one
    segment each, so the words of the erased messages leave their pages too (a
    contentless FTS5 table records a deletion beside what it deletes until segments
    merge; 1M messages: a few seconds), with the pages they free zeroed; then the WAL
    checkpointed, so no copy of an erased page stays in it (best effort: a reader of an
    old snapshot keeps it until the next checkpoint)."""
    with _erasing(archive) as db:
        word_index.merge(db)
    with archive._reading() as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


# -- the rows -----------------------------------------------------------------------------------


def _erase(db: sqlite3.Connection, ids: Sequence[int]) -> tuple[Erasure, set[str]]:
    """Erase the messages `ids` (index rows, attachments, deliveries with them) and keep
    their events for stats; what went, and the files they named."""
    result, shas, conversations = Erasure(), set[str](), set[int]()
    cache: dict[int, str] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = json.dumps(list(ids[start : start + _CHUNK]))
        found = db.execute(
            "SELECT id, conversation_id, text, delivered IS NOT NULL OR seen IS NOT NULL"
            " FROM messages WHERE id IN (SELECT value FROM json_each(?))",
            (chunk,),
        ).fetchall()
        names = rows.file_names_of(db, [r[0] for r in found])
        for message_id, conversation_id, text, _ in found:
            customer = rows.indexed_customer(db, conversation_id, cache)
            rows.index_row(db, message_id, text, customer, names.get(message_id, []), delete=True)
            conversations.add(conversation_id)
        db.execute(_EVENTS_INSERT.format(fate=stats.FATE), (chunk,))
        counts = db.execute(_COUNTS_SQL, {"ids": chunk}).fetchone()
        shas |= {r[0] for r in db.execute(
            "SELECT DISTINCT sha256 FROM attachments WHERE sha256 IS NOT NULL"
            " AND message_id IN (SELECT value FROM json_each(?))", (chunk,),
        )}  # fmt: skip
        db.execute("DELETE FROM messages WHERE id IN (SELECT value FROM json_each(?))", (chunk,))
        result += Erasure(
            messages=len(found),
            receipts=sum(1 for r in found if r[3]),
            attachments=counts["attachments"],
            cancelled=counts["cancelled"],
            emails=counts["emails"],
            replies=counts["replies"],
        )
    return replace(result, conversations=tuple(sorted(conversations))), shas


# Per message: its conversation, direction, the manager of a reply ('' for the customer's:
# their name goes), time and fate (a delivery not made now never will be: failed).
_EVENTS_INSERT = """
INSERT INTO forgotten_events (conversation_id, direction, author, created, fate)
SELECT conversation_id, direction, author, created,
       CASE fate WHEN 'pending' THEN 'failed' ELSE fate END
FROM (SELECT m.conversation_id, m.direction, m.created, {fate} AS fate,
             CASE WHEN m.direction = 'out' THEN m.author ELSE '' END AS author
      FROM messages m WHERE m.id IN (SELECT value FROM json_each(?)) ORDER BY m.id)
"""
_COUNTS_SQL = """
SELECT
  (SELECT count(*) FROM attachments WHERE message_id IN (SELECT value FROM json_each(:ids)))
    AS attachments,
  (SELECT count(*) FROM outbox WHERE state = 'pending'
     AND message_id IN (SELECT value FROM json_each(:ids))) AS cancelled,
  (SELECT count(DISTINCT email_message_id) FROM outbox WHERE target = 'mail' AND state = 'sent'
     AND message_id IN (SELECT value FROM json_each(:ids))) AS emails,
  (SELECT count(*) FROM messages WHERE direction = 'out' AND email_message_id IS NOT NULL
     AND author LIKE '%@%' AND id IN (SELECT value FROM json_each(:ids))) AS replies
"""


def _anonymize(db: sqlite3.Connection, customers: Iterable[Customer], at: datetime) -> None:
    """The customers' rows without what names them; out of their people; their
    conversations with new reply tokens."""
    for c in customers:
        db.execute(
            "UPDATE customers SET first_name = '', last_name = '', username = NULL,"
            " phone = NULL, external_id = 'forgotten:' || id, match_key = '', blocked = 0,"
            " blocked_by_shop = NULL, blocked_by_shop_at = NULL, person_id = NULL,"
            " forgotten = coalesce(forgotten, ?) WHERE id = ?",
            (ts(at), c.id),
        )
        # A chat with a connected account (Telegram Business) names the person's chat id.
        db.execute("DELETE FROM business_chats WHERE customer_id = ?", (c.id,))
        if c.person is not None:
            left = db.execute(
                "SELECT count(*) FROM customers WHERE person_id = ?", (c.person,)
            ).fetchone()[0]
            if left < 2:  # a person of one is no person
                db.execute("UPDATE customers SET person_id = NULL WHERE person_id = ?", (c.person,))
                db.execute("DELETE FROM people WHERE id = ?", (c.person,))
        for conversation in _conversations(db, [c.id] if c.id is not None else []):
            tokens.retire(db, conversation, FORGOTTEN, at)


def _person(db: sqlite3.Connection, conversation_id: int) -> people.Members:
    """The customer of the conversation, and everyone linked to them."""
    row = None
    if fits_sqlite(conversation_id):
        row = db.execute(
            "SELECT u.* FROM conversations c JOIN customers u ON u.id = c.customer_id"
            " WHERE c.id = ?",
            (conversation_id,),
        ).fetchone()
    if row is None:
        raise NotFound(
            f"no conversation #{conversation_id}", hint="list them with: im2mail conversations"
        )
    ids = people.person_ids(db, conversation_id)
    found = db.execute(
        "SELECT min(c.id) AS conversation, u.* FROM conversations c"
        " JOIN customers u ON u.id = c.customer_id"
        " WHERE c.id IN (SELECT value FROM json_each(?)) GROUP BY u.id ORDER BY 1",
        (json.dumps(ids),),
    ).fetchall()
    return tuple((r["conversation"], rows.customer_from(r)) for r in found)


def _conversations(db: sqlite3.Connection, customer_ids: Sequence[int]) -> list[int]:
    """Every conversation of the customers (one per bot), by id."""
    return [r[0] for r in db.execute(
        "SELECT id FROM conversations WHERE customer_id IN (SELECT value FROM json_each(?))"
        " ORDER BY id", (json.dumps(list(customer_ids)),),
    )]  # fmt: skip


def _emptied(
    db: sqlite3.Connection, conversations: Sequence[int]
) -> tuple[tuple[int, Customer], ...]:
    """The customers of these conversations (not forgotten yet) who have no message left
    in any conversation."""
    found = db.execute(
        "SELECT min(c.id) AS conversation, u.* FROM conversations c"
        " JOIN customers u ON u.id = c.customer_id"
        " WHERE c.id IN (SELECT value FROM json_each(?)) AND u.forgotten IS NULL"
        " AND NOT EXISTS (SELECT 1 FROM conversations c2 JOIN messages m"
        "   ON m.conversation_id = c2.id WHERE c2.customer_id = u.id)"
        " GROUP BY u.id ORDER BY 1",
        (json.dumps(list(conversations)),),
    ).fetchall()
    return tuple((r["conversation"], rows.customer_from(r)) for r in found)


def _named(db: sqlite3.Connection, shas: set[str]) -> set[str]:
    """Those of `shas` an attachment still names."""
    return {r[0] for r in db.execute(
        "SELECT DISTINCT sha256 FROM attachments WHERE sha256 IN (SELECT value FROM json_each(?))",
        (json.dumps(sorted(shas)),),
    )} if shas else set()  # fmt: skip


# -- the files ----------------------------------------------------------------------------------


def _with_files(archive: Archive, result: Erasure, doomed: set[str], dry_run: bool) -> Erasure:
    """Delete the blob files no message names any more (after the commit), or with
    dry_run only measure them; the result with their count and size."""
    files = freed = 0
    for sha in sorted(doomed):
        path = archive.blob_path(sha)
        with contextlib.suppress(FileNotFoundError):
            size = path.stat().st_size
            if not dry_run:
                with archive._reading() as db:
                    if _named(db, {sha}):  # stored again meanwhile (the relay)
                        continue
                path.unlink()
            files, freed = files + 1, freed + size
    return replace(result, files=result.files + files, freed=result.freed + freed)
