"""`im2mail vacuum`: attachment files past the retention go (the messages stay), files no
message names go once they are old enough, archive.db is compacted."""

from __future__ import annotations

import os
import time
from datetime import timedelta

from im2mail.archive import Archive
from im2mail.archive.vacuum import vacuum
from im2mail.model import NewAttachment, OutboxItem, SearchQuery
from tests.conftest import VALID_CONFIG, run_cli
from tests.support.archive_sql import writing
from tests.support.chats import T0, customer, say

NOW = T0 + timedelta(days=100)
OLD_SCAN = b"\xff\xd8\xff old scan of a layout " * 400
NEW_SCAN = b"\xff\xd8\xff new scan of a layout " * 400
PRICE = b"%PDF-1.4 price list" * 100


def jpeg(name: str, data: bytes) -> NewAttachment:
    return NewAttachment(name, "image/jpeg", data)


def shop_with_files(archive: Archive):
    """An old message with a scan, the same price list sent long ago and last week, and a
    new scan: ids of (old, old price, new price, new scan)."""
    conv = customer(archive)
    old = say(archive, conv, "Ось макет", files=[jpeg("old.jpg", OLD_SCAN)])
    old_price = say(archive, conv, "Прайс", direction="out", minutes=5,
                    files=[NewAttachment("price.pdf", "application/pdf", PRICE)])  # fmt: skip
    new_price = say(archive, conv, "Прайс ще раз", direction="out", minutes=60 * 24 * 95,
                    files=[NewAttachment("price.pdf", "application/pdf", PRICE)])  # fmt: skip
    new = say(archive, conv, "Новий макет", minutes=60 * 24 * 96,
              files=[jpeg("new.jpg", NEW_SCAN)])  # fmt: skip
    return old, old_price, new_price, new


def blob_of(archive: Archive, message_id: int):
    (a,) = archive.message(message_id).attachments
    return a.sha256


def test_files_past_the_retention_go_and_their_messages_stay(archive):
    old, old_price, new_price, new = shop_with_files(archive)
    old_blob = archive.blob_path(blob_of(archive, old.id))
    price_blob = archive.blob_path(blob_of(archive, new_price.id))
    done = vacuum(archive, 30, now=NOW)
    assert done.attachments == 2  # the old scan and the old copy of the price list
    assert done.files == 1 and done.freed == len(OLD_SCAN)
    assert not old_blob.exists()
    assert price_blob.exists()  # sent again last week: still named
    assert archive.blob_path(blob_of(archive, new.id)).exists()
    kept = archive.message(old.id)
    assert kept.text == "Ось макет"
    (a,) = kept.attachments
    assert (a.filename, a.size, a.sha256) == ("old.jpg", len(OLD_SCAN), None)
    assert blob_of(archive, old_price.id) is None
    assert old.id in [e.message_id for e in archive.recent(10)]  # still in the archive


def test_keep_files_days_zero_keeps_every_file(archive):
    old, *_ = shop_with_files(archive)
    done = vacuum(archive, 0, now=NOW)
    assert (done.cutoff, done.attachments, done.files) == (None, 0, 0)
    assert archive.blob_path(blob_of(archive, old.id)).exists()


def test_a_pending_delivery_keeps_its_files(archive):
    conv = customer(archive)
    from im2mail.model import Message

    message = Message(conv.id, "in", "Олена", "Ось файл", T0)
    stored = archive.add_message(message, [jpeg("wait.jpg", OLD_SCAN)],
                                 outbox=[OutboxItem("mail", email_message_id="<w@x>")])  # fmt: skip
    vacuum(archive, 30, now=NOW)
    assert blob_of(archive, stored.id) is not None
    assert archive.blob_path(blob_of(archive, stored.id)).exists()


def test_files_no_message_names_go_only_when_old(archive):
    shop_with_files(archive)
    folder = archive.blobs.root / "ab"
    folder.mkdir(exist_ok=True)
    stray = folder / ("ab" + "0" * 62)  # left by a crash between a blob and its row
    stray.write_bytes(b"x" * 1000)
    hour_ago = time.time() - 2 * 3600
    os.utime(stray, (hour_ago, hour_ago))
    fresh = folder / ("ab" + "1" * 62)  # a message being stored right now
    fresh.write_bytes(b"y" * 10)
    done = vacuum(archive, 0, now=NOW)
    assert not stray.exists() and fresh.exists()
    assert (done.files, done.freed) == (1, 1000)


def test_a_dry_run_changes_nothing_and_tells_the_same(archive):
    old, *_ = shop_with_files(archive)
    dry = vacuum(archive, 30, now=NOW, dry_run=True)
    assert (dry.attachments, dry.files, dry.freed) == (2, 1, len(OLD_SCAN))
    assert blob_of(archive, old.id) is not None
    assert archive.blob_path(blob_of(archive, old.id)).exists()
    real = vacuum(archive, 30, now=NOW)
    assert (real.attachments, real.files, real.freed) == (dry.attachments, dry.files, dry.freed)


def test_compaction_gives_the_space_of_deleted_rows_back(archive):
    conv = customer(archive)
    for i in range(300):
        say(archive, conv, f"Повідомлення {i} " + "довгий текст " * 200)
    with writing(archive) as db:
        db.execute("INSERT INTO messages_fts (messages_fts) VALUES ('delete-all')")
        db.execute("DELETE FROM messages")
    done = vacuum(archive, 0, now=NOW)
    assert done.archive_after < done.archive_before / 4


def test_the_command_reads_the_retention_from_config(isolated_home, archive):
    (isolated_home / "config.toml").write_text(
        VALID_CONFIG + "\n[archive]\nkeep_files_days = 30\n", encoding="utf-8"
    )
    shop_with_files(archive)  # all of it from early 2026: long past 30 days by now
    result = run_cli("vacuum")
    assert result.code == 0, result.err
    assert "dropped the files of 4 attachment(s)" in result.err  # all are older than 30 d
    assert "deleted 3 file(s)" in result.err
    assert "archive.db:" in result.err
    assert result.out == ""


def test_the_command_override_and_dry_run(isolated_home, archive):
    (isolated_home / "config.toml").write_text(VALID_CONFIG, encoding="utf-8")
    shop_with_files(archive)
    result = run_cli("vacuum", "--keep-files-days", "1", "--dry-run")
    assert result.code == 0, result.err
    assert "would drop the files of 4 attachment(s)" in result.err
    assert "would delete 3 file(s)" in result.err


def test_a_negative_retention_in_config_is_a_config_error(isolated_home, archive):
    (isolated_home / "config.toml").write_text(
        VALID_CONFIG + "\n[archive]\nkeep_files_days = -1\n", encoding="utf-8"
    )
    result = run_cli("vacuum")
    assert result.code == 3
    assert "archive.keep_files_days" in result.err


def _index_rows(archive: Archive) -> dict[str, int]:
    with writing(archive) as db:
        return {
            name: db.execute(f"SELECT count(*) FROM {name}_data").fetchone()[0]
            for name in ("messages_fts", "messages_forms")
        }


def test_vacuum_merges_the_search_indexes_of_an_archive_grown_message_by_message(archive):
    conv = customer(archive)
    for n in range(120):  # as the relay stores them: one transaction each
        say(archive, conv, f"Замовлення {n}: візитки і банери", minutes=n)
    grown = _index_rows(archive)
    vacuum(archive, 0, now=NOW)
    merged = _index_rows(archive)
    assert all(merged[name] < grown[name] for name in grown), (grown, merged)
    assert len(archive.search(SearchQuery("візиток", limit=200))) == 120  # by its forms
