"""File bodies the API doubles serve without ever holding them: a huge file, a slow one
(each piece after a pause, as over a bad link), one whose server hangs up midway, one
served without Content-Length (so only the bytes tell how big it is).

A Stream stands wherever a double takes a file's bytes (add_file, push_document,
add_media...). Its size is what the double announces unless told otherwise, so a test
can make a platform lie: announce 1 KB and stream 30 MB.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from aiohttp import web

PIECE = 64 * 1024
_PATTERN = bytes(range(256)) * (PIECE // 256)


@dataclass(frozen=True)
class Stream:
    size: int  # bytes the body has
    drip: float = 0.0  # seconds before each piece
    piece: int = PIECE
    hang_up_after: int | None = None  # bytes sent before the connection drops
    content_length: bool = True  # False: chunked, the size said nowhere in HTTP

    def __len__(self) -> int:
        return self.size

    def startswith(self, prefix: bytes | tuple[bytes, ...]) -> bool:
        return self.head(64).startswith(prefix)

    def head(self, count: int) -> bytes:
        return next(self.pieces(), b"")[:count]

    def pieces(self, upto: int | None = None) -> Iterator[bytes]:
        """The body in pieces (of at most `piece` bytes), up to `upto` bytes of it."""
        left = self.size if upto is None else min(upto, self.size)
        while left > 0:
            count = min(self.piece, left)
            yield (_PATTERN * (count // len(_PATTERN) + 1))[:count]
            left -= count

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for piece in self.pieces():
            digest.update(piece)
        return digest.hexdigest()

    def bytes(self) -> bytes:
        """The whole body (small streams only: a test's expected value)."""
        return b"".join(self.pieces())

    async def serve(self, request: web.Request, content_type: str) -> web.StreamResponse:
        """Write the body to `request`'s response piece by piece, with the drip and the
        hang-up this stream was made with."""
        response = web.StreamResponse(headers={"Content-Type": content_type})
        if self.content_length:
            response.content_length = self.size
        else:
            response.enable_chunked_encoding()
        await response.prepare(request)
        sent = 0
        for piece in self.pieces(self.hang_up_after):
            if self.drip:
                await asyncio.sleep(self.drip)
            await response.write(piece)
            sent += len(piece)
        if self.hang_up_after is not None and sent < self.size:
            if request.transport is not None:
                request.transport.close()  # the client sees the body end early
            return response
        await response.write_eof()
        return response


def body(data: bytes | Stream) -> bytes:
    """`data` as bytes, for a double's bookkeeping of small files (a Stream says so)."""
    if isinstance(data, Stream):
        raise TypeError("a Stream is served piece by piece; it has no bytes to keep")
    return data


def sha256_digest(data: bytes | Stream) -> bytes:
    """The raw SHA-256 of a body, bytes or Stream (which is hashed piece by piece)."""
    if isinstance(data, Stream):
        return bytes.fromhex(data.sha256())
    return hashlib.sha256(data).digest()
