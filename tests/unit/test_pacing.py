"""Polled receiving waits for the mail when it has run far ahead (relay/pacing.py), and
only when waiting lets the mail catch up: never for a slow or dead SMTP server."""

from __future__ import annotations

import asyncio

from im2mail.relay.pacing import AHEAD, COOL_OFF, MAX_WAIT, PROBE, MailPace

STEP = 0.01  # seconds of the fake clock a look takes


class Shop:
    """The relay's counters as the pace reads them, on a fake clock that moves by STEP
    each time the pace reads it: meanwhile the outbox sends `mail_rate` emails a second
    from the backlog."""

    def __init__(self, backlog: int, mail_rate: float) -> None:
        self.time = 1000.0
        self.backlog, self.mail_rate = backlog, mail_rate
        self.sent = self.archived = self.counts = 0
        self._owed = 0.0  # a fraction of an email

    def clock(self) -> float:
        self.tick()
        return self.time

    async def due(self, at_most: int) -> int:
        self.counts += 1
        return min(self.backlog, at_most)

    def receive(self, messages: int, seconds: float) -> None:
        """Receiving stored `messages` in `seconds` (one poll's worth at a time)."""
        self.time += seconds
        self.archived += messages
        self.backlog += messages

    def tick(self) -> None:
        self.time += STEP
        self._owed += self.mail_rate * STEP
        done = min(int(self._owed), self.backlog)
        self._owed -= int(self._owed)
        self.sent += done
        self.backlog -= done

    def pace(self) -> MailPace:
        return MailPace(self.due, lambda: self.sent, lambda: self.archived,
                        clock=self.clock, step=0)  # fmt: skip


async def a_burst(shop: Shop, pace: MailPace, polls: int, stopping: asyncio.Event) -> float:
    """`polls` polls of 100 messages stored in 0.1 s each, a pace.wait() before each;
    the seconds waited in all."""
    waited = 0.0
    for _ in range(polls):
        waited += await pace.wait(stopping)
        shop.receive(100, 0.1)
    return waited


async def test_a_poll_waits_while_the_mail_is_far_behind_and_catches_up():
    shop = Shop(backlog=0, mail_rate=300)  # the mail, given the process, goes 300/s
    pace, stopping = shop.pace(), asyncio.Event()
    waited = await a_burst(shop, pace, polls=30, stopping=stopping)
    assert pace.waits > 0 and waited > 0 and pace.rests == 0
    # the mail was never more than a poll's worth and one poll behind
    assert shop.backlog <= AHEAD + 100
    assert shop.sent >= 3000 - AHEAD - 100


async def test_no_wait_while_the_mail_keeps_up():
    shop = Shop(backlog=AHEAD, mail_rate=0)
    stopping = asyncio.Event()
    assert await shop.pace().wait(stopping) == 0.0


async def test_a_slow_mail_server_does_not_hold_receiving_up():
    """A server far away (20 ms round trips: ~30 emails/s over three connections) is
    what limits the mail, not the process: receiving waits once, for PROBE, then goes
    on at its own pace for COOL_OFF seconds."""
    shop = Shop(backlog=0, mail_rate=30)
    pace, stopping = shop.pace(), asyncio.Event()
    waited = await a_burst(shop, pace, polls=50, stopping=stopping)
    assert pace.rests == 1 and pace.waits == 1
    assert PROBE <= waited < PROBE + 0.1
    assert shop.archived == 5000  # receiving went on: the archive has the whole burst


async def test_a_dead_mail_server_does_not_hold_receiving_up_and_is_tried_again_later():
    shop = Shop(backlog=500, mail_rate=0)  # nothing is sent: the server is down
    pace, stopping = shop.pace(), asyncio.Event()
    shop.receive(100, 0.1)
    assert PROBE <= await pace.wait(stopping) < PROBE + 0.1
    shop.receive(100, 0.1)
    assert await pace.wait(stopping) == 0.0  # resting: waiting did not pay
    shop.time += COOL_OFF
    shop.mail_rate = 300  # the server is back
    assert await pace.wait(stopping) > 0.0
    assert pace.waits == 2 and pace.rests == 1


async def test_a_wait_ends_after_max_wait():
    shop = Shop(backlog=100_000, mail_rate=300)  # a day's outage, mailed now
    waited = await shop.pace().wait(asyncio.Event())
    assert MAX_WAIT <= waited < MAX_WAIT + 0.1


async def test_a_stop_ends_a_wait_at_once():
    shop = Shop(backlog=1000, mail_rate=0)
    stopping = asyncio.Event()
    pace = MailPace(shop.due, lambda: shop.sent, lambda: shop.archived)  # the real clock
    waiting = asyncio.create_task(pace.wait(stopping))
    await asyncio.sleep(0.05)
    stopping.set()
    assert await asyncio.wait_for(waiting, 1) < PROBE


async def test_a_wait_counts_the_archive_again_only_once_the_mail_should_have_caught_up():
    """The due emails are counted in the archive before a wait and then only when the
    emails sent since say the mail is within AHEAD: not at every look (each 10 ms)."""
    shop = Shop(backlog=400, mail_rate=300)
    waited = await shop.pace().wait(asyncio.Event())
    assert 0.9 < waited < 1.2 and shop.backlog <= AHEAD
    assert shop.counts <= 3
