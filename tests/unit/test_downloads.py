"""Customers' files into the blob store (downloads.py), with scripted channels: bounded
(MAX_AT_ONCE), a file the platform won't hand out kept by name and size, a failure that may
pass raised again, the disk work in a pool of its own. (Through the real Telegram channel
and its double, streamed and capped: tests/e2e/test_downloads_telegram.py.)"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from im2mail.channels import ChannelError, FileTooBig, Rejected, RetryLater
from im2mail.model import IncomingFile
from tests.support.waiting import wait_until

MB = 1024 * 1024
LIMIT = 20 * MB  # Telegram's cap on the official server


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


class Slow:
    """A channel whose downloads wait until the test lets them finish."""

    bot = "slow"

    def __init__(self) -> None:
        self.now = self.most = 0
        self.go = asyncio.Event()

    async def fetch(self, file: IncomingFile, limit: int, sink) -> None:
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            await sink.write(file.ref.encode())
            await self.go.wait()
        finally:
            self.now -= 1


async def test_at_most_max_at_once_files_are_fetched_together(downloads):
    slow = Slow()
    files = [IncomingFile(f"file {i}", f"{i}.jpg", "image/jpeg") for i in range(10)]
    fetching = [asyncio.create_task(downloads.fetch(slow, f, LIMIT)) for f in files]
    await wait_until(lambda: slow.now == downloads.at_once)
    await asyncio.sleep(0.05)  # give the others every chance to start: they must not
    assert slow.most == downloads.at_once == 4
    slow.go.set()
    got = await asyncio.gather(*fetching)
    assert [a.size for a in got] == [len(f"file {i}") for i in range(10)]
    assert slow.most == 4


class Refusing:
    bot = "refusing"

    def __init__(self, error: ChannelError) -> None:
        self.error = error

    async def fetch(self, file: IncomingFile, limit: int, sink) -> None:
        await sink.write(b"the first part")
        raise self.error


@pytest.mark.parametrize(
    "refusal",
    [
        FileTooBig("the link expired", reason="the link to the file expired"),
        Rejected("gone", reason="file not found"),  # Telegram's file server: 404
    ],
    ids=["link expired", "file gone"],
)
async def test_a_file_the_platform_wont_hand_out_is_kept_by_name_and_size(
    downloads, archive, refusal
):
    """Not retried for ever: the message is archived, the file named "not downloaded"."""
    file = IncomingFile("https://cdn/x", "фото.jpg", "image/jpeg", size=1234)
    got = await downloads.fetch(Refusing(refusal), file, LIMIT)
    assert (got.filename, got.sha256, got.size) == ("фото.jpg", None, 1234)
    assert files_under(archive.blobs.root) == []


async def test_a_failure_that_may_pass_is_raised_so_the_update_comes_again(downloads, archive):
    file = IncomingFile("https://cdn/x", "фото.jpg", "image/jpeg", size=1234)
    with pytest.raises(ChannelError) as raised:
        await downloads.fetch(Refusing(RetryLater("the media server answered 503")), file, LIMIT)
    assert "фото.jpg" in raised.value.message
    assert files_under(archive.blobs.root) == []


class Pieces:
    """A channel whose file is `count` pieces of 64 KiB."""

    bot = "pieces"

    def __init__(self, count: int) -> None:
        self.count = count

    async def fetch(self, file: IncomingFile, limit: int, sink) -> None:
        for _ in range(self.count):
            await sink.write(b"p" * 65536)


async def test_downloads_go_on_while_the_loops_default_pool_is_busy(downloads, archive):
    """The disk work runs in a pool of the downloads' own, not in the event loop's
    default pool, which every archive call shares: neither can starve the other."""
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
    release = threading.Event()
    busy = loop.run_in_executor(None, release.wait)
    try:
        file = IncomingFile("ref", "a.bin", "application/octet-stream")
        got = await asyncio.wait_for(downloads.fetch(Pieces(16), file, LIMIT), timeout=5)
        assert got.size == 16 * 65536 and got.sha256 is not None
    finally:
        release.set()
        await busy
