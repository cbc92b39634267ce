"""A Sink (channels.Sink) for tests of a channel's fetch: it keeps what it is given."""

from __future__ import annotations

from typing import Any


class Collected:
    """The pieces a download wrote, in order (small test files only)."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []

    async def write(self, piece: bytes) -> None:
        self.pieces.append(piece)

    @property
    def data(self) -> bytes:
        return b"".join(self.pieces)


async def fetched(channel: Any, file: Any, limit: int) -> bytes:
    """What `channel.fetch(file, limit, sink)` wrote, as bytes."""
    sink = Collected()
    await channel.fetch(file, limit, sink)
    return sink.data
