"""The archive: the only owner of SQLite.

Everything im2mail keeps lives here: the database (WAL, migrations recorded in a table),
its rows turned into model values, full-text search with folding for Ukrainian and
Russian, attachment files stored once by hash, the outbox of pending deliveries, email
threads, receipts, reply tokens, the queries behind `stats`, `vacuum` and bulk loads.
Other packages ask `Archive` named questions and get model values back; no SQL, no
sqlite3 and no connection leaves this package.
"""

from .store import Archive
from .tokens import new_token

__all__ = ["Archive", "new_token"]
