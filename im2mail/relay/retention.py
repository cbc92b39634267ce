"""archive.keep_messages_days in the running relay: the messages older than that many days
are erased (archive/forget.py: as `im2mail forget` erases a customer, a customer left
with no message is forgotten) when the relay starts, and then once a day, like the
alerts' looks (alerts.py) on the relay's own schedule. `im2mail run --once` (from cron)
erases at each run; `im2mail vacuum` does the same from the command line.

Each batch of messages is one transaction, short enough for the relay's own writes to
go on meanwhile; files go once their batch is committed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from ..archive import Archive
from ..archive.db import now
from ..archive.forget import Erasure, by_age
from ..errors import redact
from .periodic import Periodic

log = logging.getLogger("im2mail.retention")

INTERVAL = 24 * 3600.0  # seconds between erasures (the first is at start)
RETRY = 3600.0  # after a failure (a locked archive): an hour later


class Retention(Periodic):
    """Erases old messages. Lifecycle: start() ... stop(); `check(at)` does it once."""

    task_name = "im2mail-retention"

    def __init__(
        self,
        archive: Archive,
        keep_days: int,
        *,
        clock: Callable[[], datetime] = now,
        interval: float = INTERVAL,
    ) -> None:
        self.archive = archive
        self.keep_days = keep_days
        self.clock = clock
        self.interval = interval
        super().__init__()

    @property
    def enabled(self) -> bool:
        return self.keep_days > 0

    async def _round(self) -> float:
        try:
            await asyncio.to_thread(self.check, self.clock())
        except Exception as e:  # a locked archive: later. Never a crash loop.
            wait = min(RETRY, self.interval)
            log.error("retention: %s; trying again in %.0f s", redact(str(e)), wait)
            return wait
        return self.interval

    def check(self, at: datetime) -> Erasure | None:
        """Erase what is older than keep_days at `at`; what went (None: disabled)."""
        done = by_age(self.archive, self.keep_days, at=at)
        if done is not None and done.messages:
            log.info(
                "erased %d message(s) older than %d days, %d file(s); %d customer(s) with no "
                "message left forgotten",
                done.messages, self.keep_days, done.files, len(done.customers),
            )  # fmt: skip
        return done
