"""`im2mail forget` killed with SIGKILL midway (archive/forget.py): the archive holds the
customer as before, or forgotten, never half of it. Each trial starts from the same
archive (a customer with 30,000 messages and 60 files, another with 2,000), runs
`python -m im2mail forget` as a subprocess and kills it: at a random moment of its run,
or the moment its transaction has begun writing (the WAL grows: pages of the erasure are
on disk, not committed). Then the archive is opened as the next command would open it,
and every trace of the customer is counted: their messages, their words in the search
index (fts5vocab), their name, the anonymous events kept for stats, and their files. A
file left by a kill after the commit is deleted by `vacuum` once it is an hour old."""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from im2mail.archive import Archive
from im2mail.archive.forget import forget
from im2mail.home import paths
from im2mail.model import Message, NewAttachment
from tests.conftest import REPO, run_cli
from tests.support.archive_sql import index_terms, reading
from tests.support.chats import T0, customer

pytestmark = pytest.mark.e2e

HERS, HIS, FILE_EVERY = 30_000, 2_000, 500
WORD = "унікалія"  # only in her messages and her name
TRIALS = 8


def build(where) -> None:
    """The archive every trial starts from: Олена (conversation 1) and Ігор (2)."""
    with Archive.open(where.archive, where.blobs) as archive:
        olena = customer(archive, "Олена", WORD, phone="+380671234567")
        igor = customer(archive, "Ігор", "Петренко")

        def items():
            for n in range(HERS):
                files = []
                if n % FILE_EVERY == 0:
                    files = [
                        NewAttachment(f"макет{n}.png", "image/png", b"\x89PNG" + b"%d" % n * 40)
                    ]
                way = "in" if n % 3 else "out"
                author = "Олена" if way == "in" else "anna@shop.example"
                text = f"повідомлення {n}: візитки {WORD}"
                yield Message(olena.id, way, author, text, T0 + timedelta(seconds=n)), files
            for n in range(HIS):
                yield Message(igor.id, "in", "Ігор", f"ігорове {n}", T0 + timedelta(seconds=n)), []

        archive.add_many(items())
    db = sqlite3.connect(where.archive)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def state(where) -> tuple[str, dict]:
    """'before' or 'after' (anything else fails the test), with what was counted."""
    # Opened as the next command opens it (a WAL left by the kill is recovered).
    with Archive.open(where.archive, where.blobs) as archive, reading(archive) as db:
        one = lambda sql, *args: db.execute(sql, args).fetchone()[0]  # noqa: E731
        counted = {
            "messages": one("SELECT count(*) FROM messages WHERE conversation_id = 1"),
            "his": one("SELECT count(*) FROM messages WHERE conversation_id = 2"),
            "events": one("SELECT count(*) FROM forgotten_events"),
            "named": one("SELECT count(*) FROM customers WHERE last_name = ?", WORD),
            "attachments": one("SELECT count(*) FROM attachments"),
            "integrity": one("PRAGMA quick_check"),
        }
        terms = index_terms(db)
    counted["indexed"] = terms.get(WORD, 0)
    counted["his_indexed"] = terms.get("ігорове", 0)
    counted["files"] = sum(1 for p in where.blobs.rglob("*") if p.is_file())
    assert counted["integrity"] == "ok"
    assert (counted["his"], counted["his_indexed"]) == (HIS, HIS)  # Ігор is never touched
    before = (HERS, HERS, 1, 0, HERS // FILE_EVERY)
    after = (0, 0, 0, HERS, 0)
    found = (counted["messages"], counted["indexed"], counted["named"], counted["events"],
             counted["attachments"])  # fmt: skip
    if found == before:
        assert counted["files"] == HERS // FILE_EVERY  # not one of her files went early
        return "before", counted
    assert found == after, f"half-forgotten: {counted}"
    return "after", counted


def forget_process() -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "im2mail", "forget", "1"],
        cwd=REPO, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def restore(pristine: Path, where) -> None:
    for path in (where.archive, Path(f"{where.archive}-wal"), Path(f"{where.archive}-shm")):
        path.unlink(missing_ok=True)
    shutil.rmtree(where.blobs, ignore_errors=True)
    shutil.copy2(pristine / "archive.db", where.archive)
    shutil.copytree(pristine / "blobs", where.blobs)


def kill_when_writing(process: subprocess.Popen, wal: Path, timeout: float = 30) -> bool:
    """SIGKILL once the WAL holds more than a few pages (the erasure is being written);
    False when the process ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if wal.exists() and wal.stat().st_size > 256 * 1024:
            process.kill()
            process.wait()
            return True
        time.sleep(0.002)
    process.wait()
    return False


# Busies a core for a minute: at most two such groups run at once, each on one worker
# (pyproject's addopts), so the other workers' tests keep their timing.
@pytest.mark.xdist_group("cpu-a")
def test_forget_killed_midway_leaves_the_customer_whole_or_forgotten(isolated_home, tmp_path):
    where = paths()
    build(where)
    pristine = tmp_path / "pristine"
    pristine.mkdir()
    shutil.copy2(where.archive, pristine / "archive.db")
    shutil.copytree(where.blobs, pristine / "blobs")
    assert state(where)[0] == "before"

    # How long a whole run takes here, and that it ends "after".
    started = time.monotonic()
    done = forget_process()
    assert done.wait(timeout=60) == 0, done.stderr.read().decode() if done.stderr else ""
    duration = time.monotonic() - started
    assert state(where)[0] == "after"

    seed = int(os.environ.get("IM2MAIL_CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    outcomes = []
    for trial in range(TRIALS):
        restore(pristine, where)
        process = forget_process()
        if trial % 2 == 0:  # the moment the transaction is writing
            assert kill_when_writing(process, Path(f"{where.archive}-wal")), f"seed {seed}"
            outcome, _ = state(where)
            assert outcome == "before", f"seed {seed}: killed mid-transaction, yet {outcome}"
        else:  # anywhere in its run, start-up included
            time.sleep(rng.uniform(0, duration))
            process.kill()
            process.wait()
            outcome, _ = state(where)
        outcomes.append(outcome)
    print(f"seed {seed}: {outcomes}")

    # A kill after the commit, before the files went: vacuum deletes them later.
    restore(pristine, where)
    with Archive.open(where.archive, where.blobs) as archive:
        forget(archive, 1)  # the rows, committed...
    shutil.rmtree(where.blobs)
    shutil.copytree(pristine / "blobs", where.blobs)  # ...and the files, as a kill left them
    assert state(where)[0] == "after"
    assert sum(1 for p in where.blobs.rglob("*") if p.is_file()) == HERS // FILE_EVERY
    hour_ago = time.time() - 2 * 3600
    for path in where.blobs.rglob("*"):
        if path.is_file():
            os.utime(path, (hour_ago, hour_ago))
    result = run_cli("vacuum", "--keep-files-days", "0", "--keep-messages-days", "0")
    assert result.code == 0, result.err
    assert f"deleted {HERS // FILE_EVERY} file(s)" in result.err
    assert sum(1 for p in where.blobs.rglob("*") if p.is_file()) == 0
