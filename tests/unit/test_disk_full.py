"""Disk full while an attachment is written to the blob store: the archive says so in words
a shop owner can act on, and leaves nothing behind (no temporary file, no half-written
blob, no message, no outbox row, no dedupe key, so the relay does not acknowledge the
update and Telegram sends it again); once there is room, the same message is stored whole.

The full disk is simulated inside im2mail/blobs.py (its `os` and tempfile.mkstemp), so
this runs anywhere; tests/e2e/test_crash_safety.py fills a real tiny tmpfs where the
machine lets it mount one.
"""

from __future__ import annotations

import errno
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from im2mail.archive import Archive, blobs
from im2mail.errors import ArchiveError
from im2mail.model import Customer, Message, NewAttachment, OutboxItem
from tests.support.archive_sql import reading

DATA = bytes(range(256)) * 1024  # 256 KiB
KEY = "telegram:shop:update:700000001"
FULL = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class FullDisk:
    """`os` as im2mail.blobs sees it, on a disk with `room` bytes left: a write past it
    writes what fits, then fails with ENOSPC; with `fsync_fails`, writes are buffered and
    the error comes at fsync (delayed allocation, network filesystems)."""

    def __init__(self, room: int, fsync_fails: bool = False) -> None:
        self.room = room
        self.fsync_fails = fsync_fails

    def __getattr__(self, name: str):
        return getattr(os, name)

    def fdopen(self, fd: int, mode: str = "r", *args, **kwargs):
        return _FillingFile(os.fdopen(fd, mode, *args, **kwargs), self)

    def fsync(self, fd: int) -> None:
        if self.fsync_fails:
            raise FULL
        os.fsync(fd)


class _FillingFile:
    def __init__(self, file, disk: FullDisk) -> None:
        self.file, self.disk = file, disk

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.file.close()

    def close(self) -> None:
        self.file.close()

    def write(self, data: bytes) -> int:
        if self.disk.fsync_fails:
            return self.file.write(data)
        fits = data[: self.disk.room]
        self.file.write(fits)
        self.file.flush()  # the part that fitted is on disk: a half-written file
        self.disk.room -= len(fits)
        if len(fits) < len(data):
            raise FULL
        return len(data)

    def flush(self) -> None:
        self.file.flush()

    def fileno(self) -> int:
        return self.file.fileno()


def no_room_for_a_file(*args, **kwargs):
    raise FULL  # out of space (or inodes) before the temporary file exists


def incoming(archive: Archive) -> Message:
    customer = archive.upsert_customer(Customer("telegram", "5000000001", "Олена", "Коваль"))
    conversation = archive.conversation_for(customer, "shop")
    return Message(conversation.id, "in", "Олена Коваль", "Ось макет", datetime.now(UTC),
                   kind="document", email_message_id="<m1@shop.example>")  # fmt: skip


def store(archive: Archive, message: Message) -> Message | None:
    """What the relay's intake does with a customer's document: one call, one transaction."""
    return archive.add_message(
        message,
        [NewAttachment("макет А4.pdf", "application/pdf", DATA)],
        outbox=[OutboxItem("mail", email_message_id=message.email_message_id)],
        dedupe_key=KEY,
    )


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def count(archive: Archive, table: str) -> int:
    with reading(archive) as db:
        return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


@pytest.mark.parametrize(
    "fault",
    ["fills up mid-write", "nothing fits", "fsync reports it", "no room for the file"],
)
def test_disk_full_while_writing_a_blob_is_a_clear_error_and_leaves_nothing(
    archive: Archive, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    if fault == "no room for the file":
        monkeypatch.setattr(tempfile, "mkstemp", no_room_for_a_file)
    else:
        disk = FullDisk(room={"fills up mid-write": 100_000, "nothing fits": 0}.get(fault, 0),
                        fsync_fails=fault == "fsync reports it")  # fmt: skip
        monkeypatch.setattr(blobs, "os", disk)
    message = incoming(archive)

    with pytest.raises(ArchiveError) as raised:
        store(archive, message)

    error = raised.value
    assert "no space left on device" in error.message.lower()
    assert "макет А4.pdf" in error.message and str(archive.blobs.root) in error.message
    assert error.hint is not None and "free disk space" in error.hint
    assert files_under(archive.blobs.root) == []  # no temporary file, no half a blob
    assert count(archive, "messages") == 0 and count(archive, "outbox") == 0
    assert count(archive, "attachments") == 0
    assert not archive.was_seen(KEY)  # so the update is taken again when it comes again

    # The owner frees some space; Telegram sends the update again: stored whole, once.
    monkeypatch.undo()
    stored = store(archive, message)
    assert stored is not None
    (attachment,) = stored.attachments
    assert attachment.sha256 is not None and attachment.size == len(DATA)
    assert archive.blob_path(attachment.sha256).read_bytes() == DATA
    assert files_under(archive.blobs.root) == [archive.blob_path(attachment.sha256)]
    assert count(archive, "messages") == 1 and count(archive, "outbox") == 1
    assert store(archive, message) is None  # and a third delivery is a duplicate
    assert count(archive, "messages") == 1


def test_a_blob_already_stored_needs_no_room(
    archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same file sent again (a forwarded picture) is stored once: a full disk does
    not stop a message whose attachment the store already has."""
    sha = archive.blobs.put(DATA)
    monkeypatch.setattr(blobs, "os", FullDisk(room=0))
    monkeypatch.setattr(tempfile, "mkstemp", no_room_for_a_file)
    stored = store(archive, incoming(archive))
    assert stored is not None and stored.attachments[0].sha256 == sha
    assert files_under(archive.blobs.root) == [archive.blob_path(sha)]


@pytest.mark.parametrize(
    "fault",
    ["fills up mid-write", "nothing fits", "fsync reports it", "no room for the file"],
)
def test_disk_full_while_a_download_streams_in_leaves_nothing(
    archive: Archive, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    """A download is written piece by piece (blobs.BlobWriter): the disk filling up at
    any point removes the part written, and the error reaches the caller (who then does
    not acknowledge the update)."""
    if fault == "no room for the file":
        monkeypatch.setattr(tempfile, "mkstemp", no_room_for_a_file)
    else:
        disk = FullDisk(room={"fills up mid-write": 100_000, "nothing fits": 0}.get(fault, 0),
                        fsync_fails=fault == "fsync reports it")  # fmt: skip
        monkeypatch.setattr(blobs, "os", disk)
    with pytest.raises(OSError) as raised, archive.blobs.writer() as blob:
        for start in range(0, len(DATA), 65536):
            blob.write(DATA[start : start + 65536])
        blob.commit()
    assert raised.value.errno == errno.ENOSPC
    assert files_under(archive.blobs.root) == []
