"""Customers' files, fetched the same way by every channel: over HTTP on a session of
their own (apart from the bot's API calls, so a slow download holds up no reply), piece by
piece into a Sink, and cut off at the channel's cap.

A size the server announces (Content-Length) over the cap is not fetched at all; a server
that announces nothing, or less than it sends, is cut off once the bytes pass the cap.
Either way the result is FileTooBig, and the sink's owner drops what it was given.

  HTTP 2xx                         the body, into the sink
  a `gone` status                  the channel's error (links that expired: FileTooBig)
  5xx, 429, no connection,
  a stall longer than `timeout`,
  a body cut short, DEADLINE hit   RetryLater (the update is taken again later)
  another 4xx                      Rejected
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping
from pathlib import Path

import aiohttp

from ..errors import redact
from .base import ChannelError, FileTooBig, Rejected, RetryLater, Sink

PIECE = 64 * 1024  # bytes read at a time
DEADLINE = 15 * 60.0  # seconds one download may take in all (100 MB at ~110 KB/s)
EXPIRED = frozenset({403, 404, 410})  # CDN links (Viber, Meta) answer so once they expire


def too_big(who: str, name: str, size: int | None, limit: int, *, cut: bool = False) -> FileTooBig:
    """FileTooBig for a file over `limit`: announced at `size`, or (cut=True) cut off
    after `size` bytes had come, more than the limit, so `size` is a lower bound."""
    over = "unknown size" if size is None else f"{'more than ' if cut else ''}{size} bytes"
    return FileTooBig(f"{who}: {name} is too big ({over}, limit {limit})", size=size,
                      limit=limit, reason="file is too big")  # fmt: skip


def link_expired(who: str, name: str, status: int) -> FileTooBig:
    """The platform's link no longer serves the file: it is kept by name only."""
    return FileTooBig(f"{who}: the link to {name} expired (HTTP {status})",
                      reason="the link to the file expired before it was fetched")  # fmt: skip


class MediaClient:
    """One bot's downloads. `timeout` bounds connecting and each wait for more bytes;
    DEADLINE bounds a whole download. close() when the bot stops."""

    def __init__(self, who: str, timeout: float = 10.0) -> None:
        self.who = who
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            times = aiohttp.ClientTimeout(
                total=DEADLINE, connect=self._timeout, sock_read=self._timeout
            )
            self._session = aiohttp.ClientSession(timeout=times)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def download(
        self,
        url: str,
        name: str,
        limit: int,
        sink: Sink,
        *,
        headers: Mapping[str, str] | None = None,
        gone: Collection[int] = EXPIRED,
        gone_error: Callable[[str, str, int], ChannelError] = link_expired,
    ) -> int:
        """GET `url` into `sink`; the bytes written. `name` (the file's name) is what
        messages call it: the URL may hold a token and is never quoted."""
        who = self.who
        try:
            async with self._open().get(url, headers=headers, allow_redirects=True) as response:
                status = response.status
                if status in gone:
                    raise gone_error(who, name, status)
                if status >= 500 or status == 429:
                    raise RetryLater(f"{who}: {name}: the media server answered {status}")
                if status >= 400:
                    reason = f"the file could not be fetched (HTTP {status})"
                    raise Rejected(f"{who}: {name}: {reason}", reason=reason)
                announced = response.content_length
                if announced is not None and announced > limit:
                    raise too_big(who, name, announced, limit)
                received = 0
                async for piece in response.content.iter_chunked(PIECE):
                    received += len(piece)
                    if received > limit:
                        raise too_big(who, name, received, limit, cut=True)
                    await sink.write(piece)
                return received
        except TimeoutError:
            raise RetryLater(f"{who}: {name}: the download stalled or took longer than "
                             f"{DEADLINE / 60:g} minutes") from None  # fmt: skip
        except aiohttp.ClientError as e:
            raise RetryLater(f"{who}: could not download {name}: {describe(e)}") from None


async def copy_local(path: str, who: str, name: str, limit: int, sink: Sink) -> int:
    """A file a local Bot API server (--local) hands out as a path on this machine, into
    `sink` with the same cap; read in a worker thread, piece by piece."""
    try:
        source = await asyncio.to_thread(Path(path).open, "rb")
    except OSError as e:
        raise Rejected(f"{who}: {name}: cannot read {path}: {e.strerror or e}",
                       reason="file not found") from None  # fmt: skip
    received = 0
    try:
        while piece := await asyncio.to_thread(source.read, PIECE):
            received += len(piece)
            if received > limit:
                raise too_big(who, name, received, limit, cut=True)
            await sink.write(piece)
    except OSError as e:
        raise RetryLater(f"{who}: {name}: reading {path} failed: {e.strerror or e}") from None
    finally:
        source.close()
    return received


def describe(e: BaseException) -> str:
    return redact(f"{type(e).__name__}: {e}".rstrip(": "))
