"""Customers' files, from the platforms into the blob store, without holding up the relay.

A file streams from its channel (channels/media.py) into a blob being written
(blobs.BlobWriter): the disk work runs in a small thread pool of its own, never in the
event loop's default pool that the archive calls share, and at most MAX_AT_ONCE files are
fetched at a time, so a huge or slow download neither stalls other customers' messages
nor the outboxes. No file is ever whole in memory.

What becomes of one file:
  fetched within its channel's cap        an attachment whose blob is stored (sha256)
  over the cap (announced, or cut off
  once the bytes passed it), a link that
  expired, a file the platform refuses    known by name and size only: "not downloaded"
  a failure that may pass (network, 5xx,
  a download broken midway, a full disk)  raised: the update is not acknowledged, and is
                                          taken again when the platform sends it again
Whatever was written of a file that is not kept is removed (also on a cancelled download).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from ..archive.blobs import cannot_store
from ..channels import ChannelError, FileTooBig, Rejected, RetryLater
from ..model import IncomingFile, NewAttachment

if TYPE_CHECKING:
    from ..archive.blobs import BlobStore, BlobWriter
    from ..channels import Channel

log = logging.getLogger("im2mail.downloads")

MAX_AT_ONCE = 4  # files fetched at the same time, over all bots


class Downloads:
    """fetch() files for the intake; abort() cancels those in progress (a stopping
    relay: their updates are not acknowledged, so they come again), close() at the end."""

    def __init__(self, blobs: BlobStore, at_once: int = MAX_AT_ONCE) -> None:
        self.blobs = blobs
        self.at_once = at_once
        self._slots = asyncio.Semaphore(at_once)
        self._pool = ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="im2mail-files")
        self._running: set[asyncio.Task[NewAttachment]] = set()
        self._stopped = False

    async def fetch(self, channel: Channel, file: IncomingFile, limit: int) -> NewAttachment:
        """The file as an attachment to archive: stored, or known by name and size when it
        can't be had (see the module docstring). ChannelError or ArchiveError: try later."""
        if self._stopped:
            raise RetryLater(f"{file.filename} not fetched: the relay is stopping")
        task = asyncio.ensure_future(self._fetch(channel, file, limit))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return await task

    def abort(self) -> None:
        self._stopped = True  # and none starts after this
        for task in list(self._running):
            task.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _fetch(self, channel: Channel, file: IncomingFile, limit: int) -> NewAttachment:
        async with self._slots:
            blob = self.blobs.writer()
            try:
                await channel.fetch(file, limit, _BlobSink(blob, self._pool, file.filename))
                sha = await self._disk(blob.commit, file.filename)
                return NewAttachment(file.filename, file.mime, size=blob.size, sha256=sha)
            except FileTooBig as e:
                log.warning("%s: %s not downloaded: %s", channel.bot, file.filename, e.message)
                size = e.size if e.size is not None else file.size
                return NewAttachment(file.filename, file.mime, None, size)
            except Rejected as e:  # the platform won't hand it out, now or later
                log.warning("%s: %s not downloaded: %s", channel.bot, file.filename, e.message)
                return NewAttachment(file.filename, file.mime, None, file.size)
            except ChannelError as e:
                raise ChannelError(f"cannot fetch {file.filename}: {e.message}") from e
            finally:
                blob.discard()  # what was not committed; waits for a write still running

    async def _disk(self, step, name: str):
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, step)
        except OSError as e:
            raise cannot_store(self.blobs.root, name, e) from e


class _BlobSink:
    """The channels.Sink that writes into a blob, in the downloads' own pool."""

    def __init__(self, blob: BlobWriter, pool: ThreadPoolExecutor, name: str) -> None:
        self.blob, self.pool, self.name = blob, pool, name

    async def write(self, piece: bytes) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(self.pool, self.blob.write, piece)
        except OSError as e:
            raise cannot_store(self.blob.store.root, self.name, e) from e
