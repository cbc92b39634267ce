"""Emails built ahead of their turn, while the lanes send the ones before them.

A lane's email used to be built when the lane took it: the lane waited for a worker
thread (reading the thread's history from the archive, writing the headers) before its
MAIL FROM, then for the server, then for the record of the send. Builds now start for the
next emails due to go (the first waiting one of each conversation with none in flight,
as many as there are lanes) while the lanes are busy, so a lane that comes free usually
finds its next email ready. A build is the same whenever it is made (the Message-ID and
everything the email says are read from the archive, as for a resend), so building early
changes no email. What is not sent this round (the conversation must wait for a retry,
the outbox stops) is dropped and built again when its turn comes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from ..model import OutboxItem
from .smtp import Envelope


class Builds:
    """`make(item)` started early for up to `ahead` items; take() their result."""

    def __init__(self, make: Callable[[OutboxItem], Awaitable[Envelope]], ahead: int) -> None:
        self._make = make
        self._ahead = ahead
        self._started: dict[int | None, asyncio.Future[Envelope]] = {}

    def start(self, next_up: list[OutboxItem]) -> None:
        """Build the first of `next_up` (in the order they will go) not built yet, so
        that at most `ahead` wait built or building."""
        for item in next_up:
            if len(self._started) >= self._ahead:
                return
            if item.id not in self._started:
                self._started[item.id] = asyncio.ensure_future(self._make(item))

    async def take(self, item: OutboxItem) -> Envelope:
        """The item's email: built ahead, or built now. Raises what the build raised."""
        started = self._started.pop(item.id, None)
        return await (started if started is not None else self._make(item))

    async def drop(self) -> None:
        """Forget the builds not taken (those running are cancelled, their errors
        ignored: the item is built again, and fails then, when its turn comes)."""
        started, self._started = self._started, {}
        for build in started.values():
            build.cancel()
        for build in started.values():
            with contextlib.suppress(BaseException):
                await build
