"""Polled receiving keeps pace with mail: during a burst a poll waits while the mail is
far behind, so the managers' mailbox fills as the archive does, not after it.

Why: the relay is one Python process, so storing updates and mailing them share one
interpreter, and while a burst comes in the outbox gives way to receiving
(mail/smtp_outbox.py, `busy_elsewhere`). Left alone, a burst of thousands was all stored
before the first hundreds were mailed: the managers waited for the whole burst. A poll
that waits instead loses nothing and risks nothing: the platform keeps what was not
fetched (Telegram: 24 hours), and nothing is acknowledged before it is stored. Webhooks
are pushed by the platform and are never made to wait.

The rules:
- Before a poll, the due emails are counted in the archive (up to COUNT_UP_TO). With more
  than AHEAD, the poll waits until at most AHEAD are left; at most MAX_WAIT seconds at a
  time, so a poll always comes (new customers' first messages, receipts, the greeting
  and auto-replies are not held up for long).
- Waiting must pay. After PROBE seconds of it, the mail must have gone at least WORTH
  times as fast as receiving stored messages before the wait (and gone at all).
  Otherwise the SMTP server is what limits the mail (a distant server's round trips,
  its rate limit, an outage: then nothing is sent at all), waiting would only hold up
  the archive, and receiving does not wait again for COOL_OFF seconds.
- A stop ends a wait at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

log = logging.getLogger("im2mail.relay")

AHEAD = 100  # emails due before a poll waits: one poll's worth (getUpdates brings 100)
MAX_WAIT = 5.0  # seconds a poll waits at most
STEP = 0.01  # seconds between looks at the mail's progress while waiting
PROBE = 0.5  # seconds of waiting after which the mail's pace is judged
WORTH = 0.1  # the mail must go at least this fraction of receiving's pace while waiting
COOL_OFF = 60.0  # seconds receiving does not wait after waiting did not pay
RECENT = 2.0  # seconds over which receiving's pace is measured
COUNT_UP_TO = 10 * AHEAD  # the due emails are counted this far (a bounded, indexed count)


class MailPace:
    """Makes polls wait for the mail (see the module). `due(at_most)` counts the emails
    due now, up to at_most; `sent()` the emails sent so far; `archived()` the messages
    stored so far; `clock` is monotonic seconds and `step` the seconds between looks
    while waiting (both for tests)."""

    def __init__(
        self,
        due: Callable[[int], Awaitable[int]],
        sent: Callable[[], int],
        archived: Callable[[], int],
        *,
        clock: Callable[[], float] = time.monotonic,
        step: float = STEP,
    ) -> None:
        self._due, self._sent, self._archived, self._clock = due, sent, archived, clock
        self._step = step
        # (clock(), archived()) at the polls since receiving last waited, RECENT at most
        self._samples: deque[tuple[float, int]] = deque([(clock(), archived())])
        self._rest_until = float("-inf")  # clock(): no waiting before then (it did not pay)
        self.waits = 0  # polls that waited
        self.rests = 0  # times waiting did not pay

    async def wait(self, stopping: asyncio.Event) -> float:
        """Wait, if the mail is far behind, before the next poll; the seconds waited."""
        start = self._clock()
        receiving = self._receiving(start)
        if start < self._rest_until or stopping.is_set():
            return 0.0
        left = await self._due(COUNT_UP_TO)
        if left <= AHEAD:
            return 0.0
        sent_before = counted_at = self._sent()
        self.waits += 1
        judged = False
        while left > AHEAD and not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self._step)
            waited = self._clock() - start
            if not judged and waited >= PROBE:
                judged = True
                mailing = (self._sent() - sent_before) / waited
                if not mailing or mailing < WORTH * receiving:
                    self._rest_until = self._clock() + COOL_OFF
                    self.rests += 1
                    log.debug(
                        "the mail went %.0f emails/s while receiving waited, receiving %.0f "
                        "messages/s before: the mail server is what limits the mail, "
                        "receiving does not wait for it for %.0f s",
                        mailing, receiving, COOL_OFF,
                    )  # fmt: skip
                    break
            if waited >= MAX_WAIT:
                break
            if left - (self._sent() - counted_at) <= AHEAD:  # caught up by now: count again
                counted_at = self._sent()
                left = await self._due(COUNT_UP_TO)
        self._samples.clear()  # receiving's pace is measured anew, from the end of the wait
        self._receiving(self._clock())
        return self._clock() - start

    def _receiving(self, now: float) -> float:
        """Messages stored a second in the last RECENT seconds of receiving unhindered."""
        samples = self._samples
        samples.append((now, self._archived()))
        while len(samples) > 1 and now - samples[0][0] > RECENT:
            samples.popleft()
        (first, count), (_, latest) = samples[0], samples[-1]
        return (latest - count) / max(now - first, STEP)
