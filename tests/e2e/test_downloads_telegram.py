"""Customers' files into the blob store (downloads.py) through the real Telegram channel
and its double: streamed (the Python heap stays small for a 50 MB file), capped (a 2 GB
offer is not fetched; a server that says nothing or lies is cut off at the cap), and
leaving nothing behind when a download breaks or is cancelled. (Bounded at MAX_AT_ONCE,
and the refusals, with scripted channels: tests/unit/test_downloads.py.)"""

from __future__ import annotations

import asyncio
import gc
import time
import tracemalloc

import pytest

from im2mail.channels import ChannelError
from im2mail.channels.telegram.channel import Telegram
from im2mail.mail.builder import MailSettings
from im2mail.model import IncomingFile
from im2mail.relay.intake import Intake, IntakeSettings
from im2mail.testing.streams import Stream
from im2mail.testing.telegram_api import TelegramDouble
from tests.support.archive_sql import reading
from tests.support.waiting import wait_until
from tests.unit.test_downloads import LIMIT, MB, files_under

pytestmark = pytest.mark.e2e


def offered(telegram_api: TelegramDouble, token: str, data, name: str = "video.mp4", **kw):
    """A file the customer sent, as the channel's parse would describe it."""
    file_id = telegram_api.add_file(token, data, **kw)
    announced = telegram_api.file(token, file_id).size
    return IncomingFile(file_id, name, "video/mp4", size=announced)


async def test_a_50_mb_file_streams_to_disk_with_a_small_heap(
    telegram_api, token, channel, downloads, archive
):
    telegram_api.download_limit = 2000 * MB  # a local Bot API server hands out large files
    stream = Stream(50 * MB)
    file = offered(telegram_api, token, stream)
    gc.collect()
    tracemalloc.start()
    try:
        got = await downloads.fetch(channel, file, 60 * MB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Both sides count here, the double's server too: neither holds the file.
    assert peak < 4 * MB, f"the heap peaked at {peak / MB:.1f} MB"
    assert (got.data, got.size, got.sha256) == (None, 50 * MB, stream.sha256())
    assert archive.blob_path(got.sha256).stat().st_size == 50 * MB
    assert files_under(archive.blobs.root) == [archive.blob_path(got.sha256)]


async def test_a_2_gb_offer_is_not_fetched_at_all(telegram_api, token, channel, downloads):
    telegram_api.download_limit = 2000 * MB
    file = offered(telegram_api, token, b"%PDF tiny", name="архів.zip", size=2 * 1024 * MB)
    got = await downloads.fetch(channel, file, LIMIT)
    assert (got.filename, got.data, got.sha256, got.size) == ("архів.zip", None, None, 2048 * MB)
    assert telegram_api.calls("getFile") == [] and telegram_api.file(token, file.ref).downloads == 0


async def test_a_size_only_getfile_tells_is_checked_before_downloading(
    telegram_api, token, channel, downloads, archive
):
    telegram_api.download_limit = 2000 * MB
    file_id = telegram_api.add_file(token, b"x" * 1000, size=30 * MB)  # the update said nothing
    got = await downloads.fetch(channel, IncomingFile(file_id, "a.mp4", "video/mp4"), LIMIT)
    assert (got.sha256, got.size) == (None, 30 * MB)
    assert len(telegram_api.calls("getFile")) == 1
    assert telegram_api.file(token, file_id).downloads == 0
    assert files_under(archive.blobs.root) == []


@pytest.mark.parametrize("content_length", [False, True], ids=["no length", "true length"])
async def test_a_server_that_lies_is_cut_off_at_the_cap_and_nothing_is_kept(
    telegram_api, token, channel, downloads, archive, content_length
):
    """getFile says 1000 bytes; the file server sends 30 MB, with no Content-Length
    (only the bytes tell) or with a true one (refused before the body is read)."""
    stream = Stream(30 * MB, content_length=content_length)
    file = offered(telegram_api, token, stream, size=1000)
    started = time.monotonic()
    got = await downloads.fetch(channel, file, LIMIT)
    assert (got.data, got.sha256) == (None, None)
    assert got.size is not None and got.size > LIMIT  # at least what came before the cut
    assert files_under(archive.blobs.root) == []  # no temporary file, no half a blob
    assert telegram_api.file(token, file.ref).downloads == 1
    assert time.monotonic() - started < 10


async def test_a_download_broken_midway_leaves_nothing_and_is_taken_again(
    telegram_api, token, channel, archive
):
    """The server hangs up after 1 MB of 5: the update is not acknowledged (as any
    failure that may pass), nothing is kept; when Telegram sends it again it is stored."""
    intake = Intake(
        archive, {"shop": channel}, IntakeSettings(MailSettings("orders@shop.example", ()))
    )
    olena = telegram_api.customer("Олена", "Коваль")
    broken = Stream(5 * MB, hang_up_after=MB)
    update = await telegram_api.push_document(token, olena, broken, file_name="макет.pdf")
    with pytest.raises(ChannelError) as raised:
        await intake.take("shop", update)
    assert "макет.pdf" in raised.value.message
    assert files_under(archive.blobs.root) == []
    assert not archive.was_seen(f"telegram:shop:update:{update['update_id']}")
    assert archive.message_count() == 0
    # The file server is well again; the same update comes again.
    stored = telegram_api.file(token, update["message"]["document"]["file_id"])
    stored.data = Stream(5 * MB)
    assert (await intake.take("shop", update)).stored == 1
    with reading(archive) as db:
        sha, size = db.execute("SELECT sha256, size FROM attachments").fetchone()
    assert (sha, size) == (Stream(5 * MB).sha256(), 5 * MB)
    intake.downloads.close()


async def test_a_cancelled_download_leaves_nothing(
    telegram_api, token, channel, downloads, archive
):
    file = offered(telegram_api, token, Stream(4 * MB, drip=0.05))
    fetching = asyncio.create_task(downloads.fetch(channel, file, LIMIT))
    await wait_until(lambda: files_under(archive.blobs.root))  # bytes are arriving
    downloads.abort()
    with pytest.raises(asyncio.CancelledError):
        await fetching
    assert files_under(archive.blobs.root) == []


async def test_the_intake_uses_each_bots_own_cap(telegram_api, token, archive):
    """max_download_mb (config.toml, for a local Bot API server) is the bot's cap."""
    olena = telegram_api.customer("Олена")
    async with Telegram("shop", token, telegram_api.url, max_download_mb=1) as small:
        intake = Intake(
            archive, {"shop": small}, IntakeSettings(MailSettings("orders@shop.example", ()))
        )
        update = await telegram_api.push_document(token, olena, Stream(2 * MB), file_name="a.pdf")
        assert (await intake.take("shop", update)).stored == 1
        intake.downloads.close()
    with reading(archive) as db:
        rows = db.execute("SELECT filename, size, sha256 FROM attachments").fetchall()
    assert [tuple(r) for r in rows] == [("a.pdf", 2 * MB, None)]
    assert telegram_api.calls("getFile") == []  # the update said 2 MB: not asked for


async def test_a_local_bot_api_server_names_a_file_on_this_machine(
    telegram_api, token, channel, downloads, archive, tmp_path
):
    """A local Bot API server started with --local answers getFile with a path on its
    own disk: the file is copied from there in pieces, under the same cap."""
    telegram_api.download_limit = 2000 * MB
    on_disk = tmp_path / "telegram-bot-api" / "documents" / "file_7.pdf"
    on_disk.parent.mkdir(parents=True)
    on_disk.write_bytes(Stream(3 * MB).bytes())
    file_id = telegram_api.add_file(token, b"", file_path=str(on_disk), size=3 * MB)
    got = await downloads.fetch(
        channel, IncomingFile(file_id, "макет.pdf", "application/pdf"), LIMIT
    )
    assert (got.size, got.sha256) == (3 * MB, Stream(3 * MB).sha256())
    small = await downloads.fetch(
        channel, IncomingFile(file_id, "макет.pdf", "application/pdf"), 2 * MB
    )
    assert (small.sha256, small.size) == (None, 3 * MB)  # getFile said 3 MB: not copied
    unannounced = telegram_api.add_file(token, b"", file_path=str(on_disk), size=0)
    cut = await downloads.fetch(
        channel, IncomingFile(unannounced, "макет.pdf", "application/pdf"), 2 * MB
    )
    assert cut.sha256 is None and cut.size is not None and cut.size > 2 * MB
    assert files_under(archive.blobs.root) == [archive.blob_path(got.sha256)]
