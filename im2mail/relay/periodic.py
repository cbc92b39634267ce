"""What the running relay does on a schedule of its own (alerts.py: reminders and the
digest; retention.py: erasing old messages): a task started with the relay that runs one
round, waits, and runs again until stopped. A round that fails (a locked archive) is
logged and tried again later, never a crash loop; stop() lets a round in progress finish.
"""

from __future__ import annotations

import asyncio
import contextlib


class Periodic:
    """Lifecycle: start() ... stop(). A subclass sets `task_name`, says when it is
    `enabled` and does one round in `_round()`, which returns the seconds until the next."""

    task_name = "im2mail-periodic"

    def __init__(self) -> None:
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return True

    async def start(self) -> None:
        if self._task is None and self.enabled:
            self._stop.clear()
            self._task = asyncio.create_task(self._run(), name=self.task_name)

    async def stop(self) -> None:
        """Stop; a round in progress finishes (its writes are one transaction each)."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stop.set()
        await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        while not self._stop.is_set():
            wait = await self._round()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), wait)

    async def _round(self) -> float:
        raise NotImplementedError
