"""The archive as the relay and the CLI use it: opening, safety, writing, reading."""

from __future__ import annotations

import os
import random
import re
import sqlite3
import stat
import time
from pathlib import Path

import pytest

from im2mail.archive import Archive
from im2mail.archive.migrations import MIGRATIONS
from im2mail.errors import ArchiveError, NotFound
from im2mail.model import (
    NOT_SENT,
    UNDELIVERED,
    Customer,
    Message,
    NewAttachment,
    OutboxItem,
    SearchQuery,
)
from tests.support.archive_sql import reading, writing
from tests.support.chats import T0, customer, say


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "archive.db"  # in a folder that is not there yet


@pytest.fixture
def archive_path(path: Path) -> Path:
    return path


def raw(path: Path) -> sqlite3.Connection:
    """A plain connection, as another tool (or a careless user) would open the file."""
    return sqlite3.connect(path, isolation_level=None)


def count(path: Path, table: str) -> int:
    with raw(path) as db:
        return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


# -- opening ----------------------------------------------------------------------------------


def test_migrations_are_applied_once_and_recorded(path: Path) -> None:
    Archive.open(path).close()
    Archive.open(path).close()
    with raw(path) as db:
        rows = db.execute("SELECT name, applied_at FROM _migrations").fetchall()
        mode = db.execute("PRAGMA journal_mode").fetchone()[0]
    assert [name for name, _ in rows] == [fn.__name__ for fn in MIGRATIONS]
    assert rows[0][0] == "m001_initial"
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$", rows[0][1])
    assert mode == "wal"


def test_an_archive_from_a_newer_im2mail_is_refused(path: Path) -> None:
    Archive.open(path).close()
    with raw(path) as db:
        db.execute("INSERT INTO _migrations VALUES ('m099_future', '2030-01-01T00:00:00+00:00')")
    with pytest.raises(ArchiveError) as caught:
        Archive.open(path)
    assert caught.value.message == (
        "archive.db was written by a newer version of im2mail (migration 'm099_future')"
    )
    assert caught.value.hint == "upgrade im2mail: pip install -U im2mail"


def test_a_damaged_file_is_an_archive_error_not_a_traceback(path: Path) -> None:
    path.parent.mkdir()
    path.write_bytes(random.Random(7).randbytes(8192))
    with pytest.raises(ArchiveError) as caught:
        Archive.open(path)
    assert caught.value.message == f"{path} is not an im2mail archive or is damaged"
    assert "backup" in caught.value.hint
    assert not isinstance(caught.value, sqlite3.Error)


def test_another_programs_database_is_not_taken_over(path: Path) -> None:
    path.parent.mkdir()
    with raw(path) as db:
        db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    with pytest.raises(ArchiveError, match="not an im2mail archive"):
        Archive.open(path)
    with raw(path) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"invoices"}


def test_a_directory_in_the_archives_place_is_an_archive_error(path: Path) -> None:
    path.mkdir(parents=True)
    with pytest.raises(ArchiveError) as caught:
        Archive.open(path)
    assert caught.value.message == f"cannot open the archive {path}: it is a directory"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads and writes any file")
def test_an_unreadable_archive_is_an_archive_error(path: Path) -> None:
    Archive.open(path).close()
    path.chmod(0o000)
    with pytest.raises(ArchiveError) as caught:
        Archive.open(path)
    assert caught.value.message == f"cannot open the archive {path}: permission denied"


def test_create_false_on_a_missing_archive_is_not_found_and_creates_nothing(path: Path) -> None:
    assert not Archive.exists(path)
    with pytest.raises(NotFound):
        Archive.open(path, create=False)
    assert not path.exists()


def test_a_new_archive_and_its_blobs_are_private(archive: Archive, path: Path) -> None:
    conv = customer(archive)
    say(archive, conv, "макет", files=[NewAttachment("a.pdf", "application/pdf", b"%PDF-1")])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((path.parent / "blobs").stat().st_mode) == 0o700


def test_a_held_lock_is_an_archive_error_after_the_busy_timeout(path: Path) -> None:
    Archive.open(path).close()
    holder = raw(path)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")  # what a crashed/hung tool can leave
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO seen VALUES ('x', 'y')")
    began = time.monotonic()
    with pytest.raises(ArchiveError) as caught:
        Archive.open(path, busy_timeout=0.2)
    assert time.monotonic() - began < 2
    assert caught.value.message == "archive is locked by another process"
    assert caught.value.hint
    holder.execute("ROLLBACK")
    holder.close()


def test_a_writer_waits_for_another_writer_but_readers_never_do(path: Path) -> None:
    with Archive.open(path, busy_timeout=0.2) as archive:
        conv = customer(archive)
        say(archive, conv, "перше")
        writer = raw(path)
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("INSERT INTO seen VALUES ('k', 'v')")
        assert [e.text for e in archive.recent()] == ["перше"]  # reading goes on
        with pytest.raises(ArchiveError, match="locked by another process"):
            say(archive, conv, "друге")
        writer.execute("COMMIT")
        writer.close()
        say(archive, conv, "друге")
        assert [e.text for e in archive.recent()] == ["перше", "друге"]


# -- writing ----------------------------------------------------------------------------------


def test_a_duplicate_update_is_archived_once(archive: Archive, path: Path) -> None:
    conv = customer(archive)
    message = Message(conv.id, "in", "Олена", "Добрий день", T0)
    first = archive.add_message(message, dedupe_key="telegram:shop:update:17")
    again = archive.add_message(message, dedupe_key="telegram:shop:update:17")
    assert first is not None and first.id is not None
    assert again is None
    assert count(path, "messages") == 1
    assert archive.mark_seen("imap:1:55") is True
    assert archive.mark_seen("imap:1:55") is False


def test_a_failure_mid_message_leaves_nothing_behind(archive: Archive, path: Path) -> None:
    conv = customer(archive)
    with raw(path) as db:  # the outbox row, written last, fails
        db.execute(
            "CREATE TRIGGER boom BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'boom'); END"
        )
    message = Message(conv.id, "in", "Олена", "незвичайнеслово у повідомленні", T0)
    files = [NewAttachment("макет.pdf", "application/pdf", b"%PDF-1.4 data")]
    with pytest.raises(ArchiveError):
        archive.add_message(
            message, files, outbox=[OutboxItem("mail", "<a@b>")], dedupe_key="telegram:shop:1"
        )
    for table in ("messages", "attachments", "outbox", "seen"):
        assert count(path, table) == 0, table
    assert archive.search(SearchQuery("незвичайнеслово")) == []
    assert archive.search(SearchQuery("макет")) == []
    with raw(path) as db:
        db.execute("DROP TRIGGER boom")
    stored = archive.add_message(
        message, files, outbox=[OutboxItem("mail", "<a@b>")], dedupe_key="telegram:shop:1"
    )
    assert stored is not None and stored.attachments[0].filename == "макет.pdf"
    assert count(path, "outbox") == 1
    assert [e.message_id for e in archive.search(SearchQuery("незвичайнеслово"))] == [stored.id]


def test_identical_attachments_share_one_blob(archive: Archive, path: Path) -> None:
    conv = customer(archive)
    data = b"%PDF-1.4\n" + bytes(range(256)) * 4
    one = say(archive, conv, "ось", files=[NewAttachment("price.pdf", "application/pdf", data)])
    two = say(archive, conv, "ще раз", files=[NewAttachment("копія.pdf", "application/pdf", data)])
    sha = one.attachments[0].sha256
    assert sha is not None and two.attachments[0].sha256 == sha
    blob = archive.blob_path(sha)
    assert blob == path.parent / "blobs" / sha[:2] / sha
    assert blob.read_bytes() == data
    files = [p for p in (path.parent / "blobs").rglob("*") if p.is_file()]
    assert files == [blob]
    assert one.attachments[0].size == len(data)


def test_an_attachment_not_downloaded_keeps_name_and_size(archive: Archive) -> None:
    conv = customer(archive)
    big = say(archive, conv, "", files=[NewAttachment("video.mp4", "video/mp4", None, 80_000_000)])
    assert big.attachments[0].sha256 is None
    assert archive.message(big.id).attachments[0].size == 80_000_000


def test_a_stored_message_reads_back_the_same(archive: Archive) -> None:
    conv = customer(archive)
    message = Message(
        conv.id, "out", "anna@shop.example", "Готово", T0, kind="text",
        channel_message_id="77", email_message_id="<r1@shop.example>",
        raw={"text": "Готово", "nested": [1, 2]},
    )  # fmt: skip
    stored = archive.add_message(message)
    assert stored is not None
    again = archive.message(stored.id)
    assert again == stored
    assert again.created.utcoffset() is not None
    with pytest.raises(NotFound):
        archive.message(999)


def test_customer_update_keeps_what_the_platform_did_not_send(archive: Archive) -> None:
    c = archive.upsert_customer(
        Customer("telegram", "42", "Олена", "", "olena", "+380671234567", "qr-shop")
    )
    again = archive.upsert_customer(Customer("telegram", "42", "Олена", "Шевчук", "olena_k"))
    assert again.id == c.id
    assert (again.last_name, again.username) == ("Шевчук", "olena_k")
    assert (again.phone, again.source) == ("+380671234567", "qr-shop")
    archive.set_customer_blocked(c.id, True)
    assert archive.upsert_customer(Customer("telegram", "42", "Олена")).blocked is True


def test_conversations_are_found_by_id_token_and_message_id(archive: Archive) -> None:
    conv = customer(archive)
    assert archive.conversation_for(conv.customer, "shop") == conv
    assert re.fullmatch(r"[a-z0-9]{12}", conv.token)
    assert archive.conversation_by_token(conv.token.upper()) == conv
    assert archive.conversation_by_token("nosuchtoken0") is None
    other = archive.conversation_for(conv.customer, "second-bot")
    assert other.id != conv.id and other.token != conv.token
    archive.add_message(
        Message(conv.id, "in", "Олена", "hi", T0), outbox=[OutboxItem("mail", "<m1@shop>")]
    )
    assert archive.conversation_by_email_id("<m1@shop>") == conv
    with pytest.raises(NotFound) as caught:
        archive.conversation(4242)
    assert caught.value.message == "no conversation #4242"
    assert caught.value.hint == "list them with: im2mail conversations"


# -- reading ----------------------------------------------------------------------------------


def test_recent_is_the_last_n_oldest_first(archive: Archive) -> None:
    a, b = customer(archive, "Олена"), customer(archive, "Тарас", "Мельник")
    for i in range(5):
        say(archive, a if i % 2 else b, f"m{i}", minutes=i)
    assert [e.text for e in archive.recent(3)] == ["m2", "m3", "m4"]
    assert [e.text for e in archive.recent(10, conversation_id=a.id)] == ["m1", "m3"]
    first = archive.recent(5)[0]
    assert [e.text for e in archive.entries_after(first.message_id)] == ["m1", "m2", "m3", "m4"]
    assert archive.last_message_id() == archive.recent(1)[0].message_id
    entry = archive.recent(1)[0]
    assert (entry.channel, entry.bot, entry.customer) == ("telegram", "shop", "Тарас Мельник")
    assert entry.created == T0.replace(minute=4)


def test_conversations_show_who_is_waiting_for_an_answer(archive: Archive) -> None:
    waiting = customer(archive, "Олена")
    answered = customer(archive, "Тарас")
    silent = customer(archive, "Ірина")
    say(archive, waiting, "перше", minutes=1)
    say(archive, waiting, "відповідь", direction="out", minutes=2)
    say(archive, waiting, "а ще", minutes=3)
    say(archive, answered, "питання", minutes=4)
    say(archive, answered, "відповідь", direction="out", minutes=5)
    say(archive, waiting, "алло?", minutes=6)
    rows = archive.conversations()
    # Most recent activity first; the silent one was started just now (after T0).
    assert [r.id for r in rows] == [silent.id, waiting.id, answered.id]
    by_id = {r.id: r for r in rows}
    assert by_id[waiting.id].waiting_since == T0.replace(minute=3)
    assert by_id[waiting.id].last_text == "алло?"
    assert by_id[waiting.id].messages == 4
    assert by_id[answered.id].waiting_since is None
    assert by_id[silent.id].waiting_since is None
    assert by_id[silent.id].last_message_at is None and by_id[silent.id].messages == 0


def test_a_greeting_or_auto_reply_is_no_answer(archive: Archive) -> None:
    conv = customer(archive)
    say(archive, conv, "/start", minutes=1)
    say(archive, conv, "Вітаємо!", direction="out", author="im2mail", minutes=1)
    say(archive, conv, "Скільки коштують візитки?", minutes=2)
    say(archive, conv, "Ми зараз не працюємо", direction="out", author="im2mail", minutes=2)
    (row,) = archive.conversations()
    assert row.waiting_since == T0.replace(minute=1)  # still waiting for a manager
    say(archive, conv, "450 грн", direction="out", minutes=3)
    (row,) = archive.conversations()
    assert row.waiting_since is None


def test_a_reply_that_did_not_reach_the_customer_is_no_answer(archive: Archive) -> None:
    """A manager's reply im2mail refused to send (a retired address, too long, broken
    encoding) or that came back undelivered leaves the customer waiting."""
    conv = customer(archive)
    say(archive, conv, "Скільки коштують візитки?", minutes=1)
    for minutes, kind in ((2, NOT_SENT), (3, UNDELIVERED)):
        notice = OutboxItem("mail", email_message_id=f"<n{minutes}@x>", kind=kind, note="why")
        reply = Message(conv.id, "out", "anna@shop.example", "", T0.replace(minute=minutes))
        assert archive.add_message(reply, outbox=[notice]) is not None
        (row,) = archive.conversations()
        assert row.waiting_since == T0.replace(minute=1)
    say(archive, conv, "450 грн", direction="out", minutes=4)
    (row,) = archive.conversations()
    assert row.waiting_since is None


def test_a_never_answered_conversation_waits_since_its_first_message(archive: Archive) -> None:
    conv = customer(archive)
    say(archive, conv, "є хто?", minutes=10)
    say(archive, conv, "алло", minutes=20)
    (row,) = archive.conversations()
    assert row.waiting_since == T0.replace(minute=10)
    assert row.record()["waiting_since"] == "2026-01-05T09:10:00+00:00"


def test_bytes_that_are_not_utf8_do_not_break_reading(archive: Archive, path: Path) -> None:
    conv = customer(archive)
    say(archive, conv, "зламаний текст")
    with raw(path) as db:
        db.execute("UPDATE messages SET text = CAST(x'd0ff20d0b0' AS TEXT)")
        db.execute(
            "INSERT INTO messages (conversation_id, direction, author, text, created)"
            " VALUES (?, 'in', CAST(x'ff' AS TEXT), CAST(x'c3' AS TEXT), ?)",
            (conv.id, "2026-01-05T10:00:00+00:00"),
        )
    texts = [e.text for e in archive.recent()]
    assert texts[0].startswith("\ufffd") and "а" in texts[0]
    assert texts[1] == "\ufffd"
    hits = archive.search(SearchQuery("зламаний"))  # the index still has the old words
    assert len(hits) == 1 and hits[0].snippet is not None
    assert archive.conversations()[0].last_text == "\ufffd"


def test_times_are_stored_in_utc_with_offset(archive: Archive, path: Path) -> None:
    conv = customer(archive)
    say(archive, conv, "x", minutes=0.5)
    with raw(path) as db:
        (created,) = db.execute("SELECT created FROM messages").fetchone()
    assert created == "2026-01-05T09:00:30+00:00"
    assert os.path.exists(str(path) + "-wal")


def test_an_archive_made_by_the_first_release_is_upgraded(path: Path) -> None:
    """An archive with only m001 gets m002's columns, and its messages read back."""
    from im2mail.archive.migrations import m001_initial

    path.parent.mkdir(parents=True, exist_ok=True)
    with raw(path) as db:
        db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        m001_initial(db)
        db.execute("INSERT INTO _migrations VALUES ('m001_initial', '2026-11-01T00:00:00+00:00')")
        db.commit()
    with Archive.open(path) as archive:
        conversation = customer(archive)
        stored = archive.add_message(
            Message(conversation.id, "in", "Олена", "part 1", T0, edited=True, group="alb1")
        )
        again = archive.message(stored.id)
    assert (again.edited, again.group) == (True, "alb1")


# -- bulk work in one transaction -------------------------------------------------------------


def test_calls_inside_a_transaction_commit_with_it_or_not_at_all(archive, path):
    with writing(archive):
        kept = customer(archive, "Оксана", "Мельник")
        say(archive, kept, "перше")
        assert count(path, "messages") == 0  # not committed yet: another reader sees none
    assert count(path, "messages") == 1
    with pytest.raises(RuntimeError), writing(archive):
        lost = customer(archive, "Ігор", "Бондар")
        say(archive, lost, "друге")
        raise RuntimeError("the import failed halfway")
    assert count(path, "messages") == 1
    assert [c.customer for c in archive.conversations()] == ["Оксана Мельник"]


def indexes(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}


def test_a_bulk_load_rebuilds_the_report_index_and_a_crash_mid_load_heals_on_open(tmp_path):
    path = tmp_path / "archive.db"
    with Archive.open(path) as archive:
        conv = customer(archive)
        made = (Message(conv.id, "in", "Олена", f"№{i}", T0) for i in range(50))
        assert archive.add_many(((m, []) for m in made), batch=7) == 50
        with reading(archive) as db:
            plan = " ".join(r[3] for r in db.execute(
                "EXPLAIN QUERY PLAN SELECT id FROM messages WHERE conversation_id = 1"
                " AND created >= '2026' ORDER BY created"))  # fmt: skip
    assert "messages_by_conversation_time" in indexes(path)
    assert "messages_by_conversation_time" in plan
    with sqlite3.connect(path) as db:  # as a load killed midway leaves it
        db.execute("DROP INDEX messages_by_conversation_time")
    with Archive.open(path):
        pass
    assert "messages_by_conversation_time" in indexes(path)


def segments(path: Path, index: str) -> int:
    with sqlite3.connect(path) as db:
        return db.execute(f"SELECT count(DISTINCT segid) FROM {index}_idx").fetchone()[0]


def test_a_big_load_leaves_each_search_index_in_one_segment(tmp_path, monkeypatch):
    from im2mail.archive import word_index

    path = tmp_path / "archive.db"
    monkeypatch.setattr(word_index, "OPTIMIZE_AFTER", 40)
    with Archive.open(path) as archive:
        conv = customer(archive)
        small = (Message(conv.id, "in", "Олена", f"Візитки №{i}", T0) for i in range(30))
        archive.add_many(((m, []) for m in small), batch=7)  # below it: left as it is
        assert segments(path, "messages_fts") > 1
        big = (Message(conv.id, "in", "Олена", f"Візиток №{i}", T0) for i in range(40))
        archive.add_many(((m, []) for m in big), batch=7)
        assert segments(path, "messages_fts") == segments(path, "messages_forms") == 1
        found = [e.text for e in archive.search(SearchQuery("візитки", limit=31))]
    assert found[:30] == [f"Візитки №{i}" for i in reversed(range(30))]
    assert found[30] == "Візиток №39"


def test_a_load_that_fails_midway_keeps_what_went_in_and_the_index(tmp_path):
    path = tmp_path / "archive.db"
    with Archive.open(path) as archive:
        conv = customer(archive)

        def broken():
            for i in range(12):
                yield Message(conv.id, "in", "Олена", f"№{i}", T0), []
            raise ValueError("a bad line in the export")

        with pytest.raises(ValueError):
            archive.add_many(broken(), batch=5)
        assert len(archive.recent(100)) == 10  # two whole batches
    assert "messages_by_conversation_time" in indexes(path)
