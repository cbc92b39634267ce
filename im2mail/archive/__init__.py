"""The archive: the only owner of SQLite.

Everything im2mail keeps lives here: the database (WAL, migrations recorded in a table),
its rows turned into model values, full-text search with folding for Ukrainian and
Russian, attachment files stored once by hash, the outbox of pending deliveries, email
threads, receipts, reply tokens, the queries behind `stats`, `status`, `export`,
`vacuum` and bulk loads.

Other packages ask named questions and get model values back (or small dataclasses of
the module that answers); no SQL, no sqlite3 and no connection leaves this package.
The questions, by concern:

- `Archive` (store.py) and what hangs off it: customers and conversations
  (conversations.py), messages stored, read and searched (messages.py), the delivery
  queue (`archive.deliveries`, deliveries.py), reply tokens (`archive.tokens`, tokens.py);
- modules of functions taking the open archive: threads (a conversation's mail thread),
  receipts (delivered, seen, failed), alerts (reminders, the digest), floods and blocks,
  people (customers linked into one person), forget (erasing a customer, or messages by
  age), stats (the owner's figures), status (`status`, `doctor`), exporting, vacuum, bulk;
  pieces.py (every chat message a reply went as) is what deliveries, receipts and
  reactions share.

Under them: db.py (the connection, which the modules here reach through ArchiveBase's
private hooks), migrations.py, rows.py (rows <-> model values), search.py, blobs.py.
"""

from .store import Archive

__all__ = ["Archive"]
