"""Schema migrations: an ordered list of named functions, applied once each.

The names applied to an archive are recorded in `_migrations`. Never edit a migration that
has shipped; add a new one at the end. An archive that records a name this code does not
know was written by a newer im2mail and is refused rather than misread.

Each function gets a connection inside an open transaction (BEGIN IMMEDIATE, taken by
`apply`), so it must not commit and must not use executescript (which commits).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

from ..errors import ArchiveError

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append(fn)
    return fn


def _run(db: sqlite3.Connection, statements: str) -> None:
    for statement in statements.split(";\n"):
        if statement.strip():
            db.execute(statement)


@migration
def m001_initial(db: sqlite3.Connection) -> None:
    _run(
        db,
        """
        CREATE TABLE customers (
            id INTEGER PRIMARY KEY,
            channel TEXT NOT NULL,
            external_id TEXT NOT NULL,
            first_name TEXT NOT NULL DEFAULT '',
            last_name TEXT NOT NULL DEFAULT '',
            username TEXT,
            phone TEXT,
            source TEXT,
            blocked INTEGER NOT NULL DEFAULT 0,
            created TEXT NOT NULL,
            match_key TEXT NOT NULL DEFAULT '',  -- folded names/ids for --customer
            UNIQUE (channel, external_id)
        );
        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            customer_id INTEGER NOT NULL REFERENCES customers (id),
            bot TEXT NOT NULL,
            token TEXT NOT NULL UNIQUE,
            state TEXT NOT NULL DEFAULT 'open',
            created TEXT NOT NULL,
            UNIQUE (customer_id, bot)
        );
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations (id),
            direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
            kind TEXT NOT NULL DEFAULT 'text',
            channel_message_id TEXT,
            email_message_id TEXT,
            author TEXT NOT NULL,
            text TEXT NOT NULL DEFAULT '',
            created TEXT NOT NULL,
            sent TEXT,
            delivered TEXT,
            seen TEXT,
            raw TEXT
        );
        CREATE INDEX messages_by_conversation ON messages (conversation_id, id);
        CREATE INDEX messages_by_email_id ON messages (email_message_id)
            WHERE email_message_id IS NOT NULL;
        CREATE INDEX messages_by_channel_id ON messages (conversation_id, channel_message_id)
            WHERE channel_message_id IS NOT NULL;
        CREATE TABLE attachments (
            id INTEGER PRIMARY KEY,
            message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
            filename TEXT NOT NULL,
            mime TEXT NOT NULL,
            size INTEGER NOT NULL,
            sha256 TEXT
        );
        CREATE INDEX attachments_by_message ON attachments (message_id);
        CREATE INDEX attachments_by_blob ON attachments (sha256) WHERE sha256 IS NOT NULL;
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
            target TEXT NOT NULL CHECK (target IN ('mail', 'channel')),
            email_message_id TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_try TEXT NOT NULL,
            last_error TEXT,
            state TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'sent', 'failed')),
            created TEXT NOT NULL
        );
        CREATE INDEX outbox_due ON outbox (state, next_try);
        CREATE INDEX outbox_by_message ON outbox (message_id);
        CREATE INDEX outbox_by_email_id ON outbox (email_message_id)
            WHERE email_message_id IS NOT NULL;
        CREATE TABLE seen (
            key TEXT PRIMARY KEY,
            created TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE VIRTUAL TABLE messages_fts USING fts5 (
            text, customer, files,
            content = '', columnsize = 0,
            tokenize = 'unicode61 remove_diacritics 2'
        )
        """,
    )


@migration
def m002_edited_and_albums(db: sqlite3.Connection) -> None:
    """Edited messages are marked; album parts (Telegram media_group_id) are findable, so
    one email can carry the whole album, also after a restart."""
    _run(
        db,
        """
        ALTER TABLE messages ADD COLUMN edited INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE messages ADD COLUMN media_group TEXT;
        CREATE INDEX messages_by_media_group ON messages (conversation_id, media_group)
            WHERE media_group IS NOT NULL
        """,
    )


@migration
def m003_reply_deliveries(db: sqlite3.Connection) -> None:
    """Managers' replies to customers: an outbox row has a kind (what email or delivery it
    stands for: the customer's message, a notice to a manager), a note (a notice's reason
    or recipients) and progress (steps of a multi-call delivery already done, so a resumed
    delivery sends nothing twice)."""
    _run(
        db,
        """
        ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'message';
        ALTER TABLE outbox ADD COLUMN note TEXT;
        ALTER TABLE outbox ADD COLUMN progress INTEGER NOT NULL DEFAULT 0
        """,
    )


@migration
def m004_step_in_flight(db: sqlite3.Connection) -> None:
    """The step of a delivery being sent right now (NULL when none): after a crash, the
    step that may or may not have reached the platform, which has no way to tell."""
    db.execute("ALTER TABLE outbox ADD COLUMN in_flight INTEGER")


# Indexes only reports read: a bulk load (bulk.py) drops them and builds each once at the
# end, which is much quicker than keeping them up row by row. name -> how to build it.
DEFERRED_INDEXES = {
    "messages_by_conversation_time": (
        "CREATE INDEX IF NOT EXISTS messages_by_conversation_time"
        " ON messages (conversation_id, created)"
    ),
}


@migration
def m005_messages_by_time(db: sqlite3.Connection) -> None:
    """Each conversation's messages in time order: `stats` and the unanswered reminders
    find who is waiting with a seek per conversation instead of reading every message
    (1M messages: 0.2 s instead of 2.5 s; the index adds ~17 % to archive.db)."""
    db.execute(DEFERRED_INDEXES["messages_by_conversation_time"])


@migration
def m006_retired_reply_tokens(db: sqlite3.Connection) -> None:
    """A conversation's reply token can be replaced (rotated): the old ones are kept, with
    when and why, so that a reply to an older email is told apart from a forged token and
    its author can be told what happened. `thread_key` keeps a rotated conversation's
    Outlook Thread-Index the same (it was derived from the first token). `relay_memory`
    holds what the relay must remember between runs (the managers it last ran with)."""
    _run(
        db,
        """
        CREATE TABLE retired_tokens (
            token TEXT PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations (id),
            retired TEXT NOT NULL,
            reason TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX retired_tokens_by_conversation ON retired_tokens (conversation_id, retired);
        ALTER TABLE conversations ADD COLUMN thread_key TEXT;
        CREATE TABLE relay_memory (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        ) WITHOUT ROWID
        """,
    )


@migration
def m007_flood_digests(db: sqlite3.Connection) -> None:
    """A customer's message that came during a flood (relay.flood_per_minute) has no email
    of its own: `flood_digest` is the Message-ID of the digest email that lists it, whose
    outbox row (kind 'flood') is queued with the flood's first such message. So what each
    digest covers is in the archive, also after a crash. Both indexes hold only such
    messages: a digest's messages, and a conversation's latest one (flood.py)."""
    _run(
        db,
        """
        ALTER TABLE messages ADD COLUMN flood_digest TEXT;
        CREATE INDEX messages_by_flood_digest ON messages (flood_digest, id)
            WHERE flood_digest IS NOT NULL;
        CREATE INDEX messages_flooded ON messages (conversation_id, id)
            WHERE flood_digest IS NOT NULL
        """,
    )


@migration
def m008_customers_blocked_by_shop(db: sqlite3.Connection) -> None:
    """The shop blocked a customer (im2mail block, /block): their messages are archived and
    mailed to nobody. Who did it (a manager's address, or the command line) and when; NULL
    when not blocked. Not `customers.blocked`, which is the platform's news that the
    customer blocked the bot."""
    _run(
        db,
        """
        ALTER TABLE customers ADD COLUMN blocked_by_shop TEXT;
        ALTER TABLE customers ADD COLUMN blocked_by_shop_at TEXT
        """,
    )


@migration
def m009_replies_by_author(db: sqlite3.Connection) -> None:
    """Each manager's replies, newest first: a reply's signature is learned from its
    author's last replies (threads.recent_replies). Without it a manager with no or few
    replies costs a scan of every message per reply (1M messages: ~110 ms in memory,
    more from disk); with it, well under a millisecond. Partial: only replies."""
    db.execute(
        "CREATE INDEX IF NOT EXISTS messages_by_author"
        " ON messages(author COLLATE NOCASE, id) WHERE direction = 'out'"
    )


@migration
def m010_edits_and_reactions(db: sqlite3.Connection) -> None:
    """Edits and reactions (edits.py, reactions.py). A customer's edited message keeps its
    latest text in `messages` (edited = 1, `edited_at` when that text was written) and each
    earlier text in `message_versions`. `reactions` holds the emoji on a message: the
    customer's on a reply (direction 'in'), the shop's on the customer's message ('out');
    one row per emoji, `removed` set when taken back, so a thousand toggles stay one row.
    `reaction_batches` holds, per conversation and reply author, when the latest batch of
    reaction notices began: at most one notice a minute goes to each."""
    _run(
        db,
        """
        ALTER TABLE messages ADD COLUMN edited_at TEXT;
        CREATE TABLE message_versions (
            id INTEGER PRIMARY KEY,
            message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
            text TEXT NOT NULL,
            created TEXT NOT NULL
        );
        CREATE INDEX message_versions_by_message ON message_versions (message_id, created);
        CREATE TABLE reactions (
            message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
            direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
            emoji TEXT NOT NULL,
            author TEXT NOT NULL,
            changed TEXT NOT NULL,
            removed TEXT,
            PRIMARY KEY (message_id, direction, emoji)
        ) WITHOUT ROWID;
        CREATE TABLE reaction_batches (
            conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
            author TEXT NOT NULL,
            since TEXT NOT NULL,
            PRIMARY KEY (conversation_id, author)
        ) WITHOUT ROWID
        """,
    )


@migration
def m011_business_connections(db: sqlite3.Connection) -> None:
    """Accounts connected to a bot (Telegram Business: the owner's personal Telegram) and
    their chats. `business_connections` holds each account's connection as it is now, one
    row per bot and account (a reconnect may bring a new connection id); every change is
    kept in `business_connection_changes`. `business_chats` says which customers are the
    people an account chats with (they are customers of their own, apart from the same
    person's chat with the bot, so that replies go back the way they came). A message the
    platform reports deleted is kept and marked: `messages.deleted` is when."""
    _run(
        db,
        """
        CREATE TABLE business_connections (
            bot TEXT NOT NULL,
            owner_id TEXT NOT NULL,
            id TEXT NOT NULL,
            owner_name TEXT NOT NULL DEFAULT '',
            owner_username TEXT,
            chat_id TEXT NOT NULL DEFAULT '',
            enabled INTEGER NOT NULL,
            can_reply INTEGER NOT NULL,
            rights TEXT NOT NULL DEFAULT '[]',
            since TEXT,
            changed TEXT NOT NULL,
            change TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (bot, owner_id)
        ) WITHOUT ROWID;
        CREATE INDEX business_connections_by_id ON business_connections (bot, id);
        CREATE TABLE business_connection_changes (
            id INTEGER PRIMARY KEY,
            bot TEXT NOT NULL,
            owner_id TEXT NOT NULL,
            connection_id TEXT NOT NULL,
            at TEXT NOT NULL,
            change TEXT NOT NULL
        );
        CREATE TABLE business_chats (
            customer_id INTEGER PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
            bot TEXT NOT NULL,
            owner_id TEXT NOT NULL,
            chat_id TEXT NOT NULL
        );
        ALTER TABLE messages ADD COLUMN deleted TEXT
        """,
    )


@migration
def m012_word_forms(db: sqlite3.Connection) -> None:
    """Search that knows word forms: beside messages_fts (the words), messages_forms holds
    each word's key (forms.py: візиток and візитками are візитка). The same columns,
    tokenizer and rowids. Filled for the messages already archived by word_index.backfill
    right after, newest first, in batches that a kill -9 doesn't undo (1,000,000 messages
    in 66 s: BENCHMARKS.md, "Search word forms")."""
    db.execute(
        "CREATE VIRTUAL TABLE messages_forms USING fts5 (text, customer, files,"
        " content = '', columnsize = 0, tokenize = 'unicode61 remove_diacritics 2')"
    )


@migration
def m013_people(db: sqlite3.Connection) -> None:
    """One person across channels (im2mail customers link): customers linked by the owner
    share a row of `people`, their person; NULL: a customer on their own. Linking is
    transitive (people.py), so a person is a set of customers. The contacts customers
    shared (a message of kind 'contact') are indexed: their phone numbers suggest links."""
    _run(
        db,
        """
        CREATE TABLE people (
            id INTEGER PRIMARY KEY,
            created TEXT NOT NULL
        );
        ALTER TABLE customers ADD COLUMN person_id INTEGER REFERENCES people (id);
        CREATE INDEX customers_by_person ON customers (person_id) WHERE person_id IS NOT NULL;
        CREATE INDEX messages_contacts ON messages (conversation_id)
            WHERE kind = 'contact' AND direction = 'in'
        """,
    )


@migration
def m014_forgotten(db: sqlite3.Connection) -> None:
    """Forgetting (im2mail forget, archive.keep_messages_days): a forgotten customer's row
    stays, anonymous (`forgotten`: when), so that its conversations keep their ids; what
    `stats` needs of the erased messages stays in `forgotten_events`: per message its
    conversation, direction, the manager who wrote a reply ('' for the customer's own),
    time and a reply's fate, no text, no name (forget.py)."""
    _run(
        db,
        """
        ALTER TABLE customers ADD COLUMN forgotten TEXT;
        CREATE TABLE forgotten_events (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations (id),
            direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
            author TEXT NOT NULL,
            created TEXT NOT NULL,
            fate TEXT
        );
        CREATE INDEX forgotten_events_by_conversation
            ON forgotten_events (conversation_id, created);
        CREATE INDEX forgotten_events_by_time ON forgotten_events (created)
        """,
    )


@migration
def m015_reply_pieces(db: sqlite3.Connection) -> None:
    """Every chat message a reply went as (pieces.py): a long reply, or text and
    files, goes as several, and what the platform reports later (a failure, a receipt, a
    reaction) may name any of them. `messages.channel_message_id` keeps the first, as
    before; the pieces of replies sent from now on are here, found by their conversation
    and platform id. Nothing to copy: for the replies sent before, only the first was
    known, and `messages` has it."""
    _run(
        db,
        """
        CREATE TABLE reply_pieces (
            message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
            conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
            channel_message_id TEXT NOT NULL,
            PRIMARY KEY (message_id, channel_message_id)
        ) WITHOUT ROWID;
        CREATE INDEX reply_pieces_by_channel_id
            ON reply_pieces (conversation_id, channel_message_id)
        """,
    )


def restore_deferred_indexes(db: sqlite3.Connection) -> list[str]:
    """Build the deferred indexes a bulk load cut short (a crash) left missing; their
    names. Reads only, when none is missing."""
    if "m005_messages_by_time" not in (applied(db) or []):
        return []
    present = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    missing = [name for name in DEFERRED_INDEXES if name not in present]
    for name in missing:
        db.execute(DEFERRED_INDEXES[name])
    return missing


_CREATE_TABLE = (
    "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
)


def applied(db: sqlite3.Connection) -> list[str] | None:
    """Names already applied, in order; None when the table doesn't exist yet."""
    exists = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_migrations'"
    ).fetchone()
    if not exists:
        return None
    return [row[0] for row in db.execute("SELECT name FROM _migrations ORDER BY rowid")]


def pending(db: sqlite3.Connection) -> list[Migration]:
    """Migrations this archive still needs; refuses an archive from a newer im2mail."""
    done = applied(db) or []
    known = {fn.__name__ for fn in MIGRATIONS}
    for name in done:
        if name not in known:
            raise ArchiveError(
                f"archive.db was written by a newer version of im2mail (migration '{name}')",
                hint="upgrade im2mail: pip install -U im2mail",
            )
    return [fn for fn in MIGRATIONS if fn.__name__ not in done]


def apply(db: sqlite3.Connection) -> list[str]:
    """Bring the schema up to date; returns the names applied now.

    Cheap when nothing is pending (a read, no write lock), so opening a busy archive to
    read doesn't wait for the writer. Otherwise the check is repeated under BEGIN IMMEDIATE
    so that two processes opening a new archive at once don't both migrate it.
    """
    if applied(db) is not None and not pending(db):
        restore_deferred_indexes(db)
        return []
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(_CREATE_TABLE)
        names = []
        for fn in pending(db):
            fn(db)
            db.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                (fn.__name__, datetime.now(UTC).isoformat(timespec="seconds")),
            )
            names.append(fn.__name__)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return names
