"""Long polling (a Polling channel's poll(): Telegram's getUpdates) with customers side
by side: one customer's update that takes long (a big file arriving slowly) holds up no
one else.

Each polled update is taken (archived) in a task of its own, in order per customer: a
customer's next update waits for their previous one, and is not taken when that one
failed, so their messages reach the archive and the managers in the order they were
written. An update is confirmed once stored, and the channel moves the offset only past
an unbroken run of confirmed ones (nothing is acknowledged before it is stored).

While an update is still being taken, the platform hands it out again on every poll (its
offset can't move past it), so polls come every PACE seconds instead of waiting: new
updates of other customers are seen within PACE. A failed update is taken again after
RETRY_PAUSE. While the mail is far behind, a poll waits for it first (pacing.py).
Cancelling run() lets the updates being stored finish first; downloads in
progress are ended by whoever stops the relay (Downloads.abort), and their updates,
never confirmed, come again after the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..channels import ChannelError, MalformedUpdate, Polling, RetryLater
from ..errors import redact
from ..model import Incoming
from .pacing import MailPace

log = logging.getLogger("im2mail.relay")

POLL_TIMEOUT = 25.0  # seconds a long poll waits
RETRY_PAUSE = 5.0  # after a failed poll or a failed store
PACE = 0.25  # seconds between polls while an update is still being taken
RETRY_PACE = 1.0  # ... while only failed updates wait for their retry


class NotTaken(Exception):
    """An update left for later: its customer's earlier update was not stored."""


class Poller:
    """Polls one bot's channel and hands each new update to `take`; see the module."""

    def __init__(
        self,
        name: str,
        channel: Polling,
        take: Callable[..., Awaitable[Any]],
        stopping: asyncio.Event,
        pace: MailPace | None = None,
    ) -> None:
        self.name, self.channel, self._take, self._stopping = name, channel, take, stopping
        self._pace = pace  # a poll waits while the mail is far behind (pacing.py)
        self._taking: dict[int, asyncio.Task[None]] = {}  # update id -> its task
        self._last: dict[str, asyncio.Task[None]] = {}  # customer -> their latest update's
        self._again_at: dict[int, float] = {}  # update id -> time.monotonic() to retry it
        self._progress = asyncio.Event()  # an update was taken (or failed)

    async def run(self) -> None:
        """Until cancelled (then the updates being taken are waited for)."""
        try:
            while not self._stopping.is_set():
                await self._round()
        finally:
            await self.settle()

    async def once(self) -> bool:
        """One poll without waiting, everything it brought taken: `run --once`. False
        when the poll or an update failed."""
        ok = await self._poll(timeout=0)
        failed = await self.settle()
        return ok and not failed

    async def settle(self) -> int:
        """Wait for the updates being taken; how many of them failed."""
        tasks = list(self._taking.values())
        results = await asyncio.gather(*tasks, return_exceptions=True)
        return sum(1 for r in results if isinstance(r, BaseException))

    async def _round(self) -> None:
        if self._pace is not None:
            await self._pace.wait(self._stopping)
        busy = bool(self._taking or self._again_at)
        if not await self._poll(timeout=0 if busy else POLL_TIMEOUT):
            await self._pause(RETRY_PAUSE)
            return
        if self._taking or self._again_at:
            self._progress.clear()
            pace = PACE if self._taking else RETRY_PACE
            with contextlib.suppress(TimeoutError):  # a finished update moves the offset
                await asyncio.wait_for(self._progress.wait(), timeout=pace)

    async def _poll(self, timeout: float) -> bool:
        try:
            updates = await self.channel.poll(timeout=timeout)
        except RetryLater as e:
            log.warning("bot %s: %s asks to wait: %s", self.name, self.channel.spec.title,
                        redact(e.message))  # fmt: skip
            await self._pause(e.seconds or RETRY_PAUSE)
            return True
        except ChannelError as e:
            log.error("bot %s: polling failed: %s", self.name, redact(e.message))
            return False
        now = time.monotonic()
        handed = {self.channel.update_id(raw) for raw in updates}
        # A failed update the platform no longer hands out (Telegram keeps them 24 hours)
        # is gone.
        self._again_at = {i: at for i, at in self._again_at.items() if i in handed}
        for raw in updates:
            update_id = self.channel.update_id(raw)
            if update_id in self._taking or self._again_at.get(update_id, 0) > now:
                continue
            self._again_at.pop(update_id, None)
            self._start(update_id, raw)
        return True

    def _start(self, update_id: int, raw: dict[str, Any]) -> None:
        parsed = self._parsed(raw)
        # who the update is from: its order is kept among theirs (None: no one)
        customer = next((i.customer.external_id for i in parsed or ()), None)
        before = self._last.get(customer) if customer else None
        task = asyncio.create_task(self._take_after(before, raw, parsed))
        self._taking[update_id] = task
        if customer:
            self._last[customer] = task
        task.add_done_callback(lambda done: self._done(update_id, customer, done))

    async def _take_after(
        self,
        before: asyncio.Task[None] | None,
        raw: dict[str, Any],
        parsed: list[Incoming] | None,
    ) -> None:
        if before is not None:
            await asyncio.wait([before])
            if before.cancelled() or before.exception() is not None:
                raise NotTaken
        if parsed is None:  # malformed: take() says so
            await self._take(self.name, raw)
        else:
            await self._take(self.name, raw, parsed)
        self.channel.confirm(raw)

    def _done(self, update_id: int, customer: str | None, task: asyncio.Task[None]) -> None:
        del self._taking[update_id]
        if customer and self._last.get(customer) is task:
            del self._last[customer]
        self._progress.set()
        if task.cancelled():
            return
        error = task.exception()
        if error is None:
            return
        self._again_at[update_id] = time.monotonic() + RETRY_PAUSE
        if not isinstance(error, NotTaken):
            log.error("bot %s: update %s not stored, will retry: %s",
                      self.name, update_id, redact(repr(error)))  # fmt: skip

    def _parsed(self, raw: dict[str, Any]) -> list[Incoming] | None:
        """The update parsed once, here, and handed to take() (parsing is most of what
        receiving costs in CPU); None when malformed."""
        try:
            return self.channel.parse(raw)
        except MalformedUpdate:
            return None

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
