"""The SMTP outbox worker: mails what the relay queued, over a few connections kept open.

The relay archives a customer's message together with an outbox row (target 'mail') whose
Message-ID is fixed then, and calls notify(). MailOutbox takes the due rows oldest first,
builds each email with the relay's `build`, sends it, and marks it sent right after the
server's 250. With nothing due the worker sleeps until the next row is due or notify() is
called: it never polls.

Lanes (mail/smtp_lanes.py): up to `lanes` SMTP connections, each carrying one email at a
time (an email costs a round trip per command: MAIL, RCPT per manager, DATA, the text).
While the queue is short one connection does all; another is opened only with a backlog;
one unused for `idle_close` seconds is closed. The next emails are built while the lanes
send (mail/outbox_builds.py). Why 3 by default: most servers allow a client several
connections (Postfix's smtpd_client_connection_count_limit is 50); one that refuses a
further connection while others are open (421 at the greeting, or at MAIL FROM) is taken
at its word: the email waits, its try not counted, for an open lane, and no more are
opened until the queue is empty. A conversation never has two emails in flight, and its
emails go in queue order (other conversations' go beside them): while one waits for its
retry, its later ones wait behind it (managers read a conversation in order, and a reply
threads under the email before it); one given up (failed) holds nothing. While sends are
under way the queue is read again for what was queued since, so a stuck connection (a
server that never answers the end of DATA) holds up only its own conversation until its
timeout.

What a try leads to (for each email, whichever lane carries it):
- 250 (accepted)                    -> sent; recipients the server refused are logged
- 4xx; connection refused or lost; TLS, login or DNS trouble; timeout
                                    -> retried after backoff_delay(tries), without limit
- 5xx                               -> retried until the item has had `permanent_tries`
                                       tries (a misconfigured server can say 5xx for a
                                       while), then failed with the server's reply
- 530 (a login is needed)           -> like a server that cannot be used, below
- 421, or a connection closed, on a connection that already carried mail (an idle
  timeout, a limit of mails per connection)
                                    -> sent again at once on a new connection, then as above
- build() raises, or the email cannot be sent as built (no recipient, a bad address)
                                    -> failed at once with the error
When the server cannot be used at all (connect, TLS, login), the item that found out is
retried and every lane waits, on the same schedule, before trying the server again (the
sends already under way finish); the other items keep their place and their counts.

Delivery is at least once. An item is marked sent only after the server's 250, and what
is not marked is sent again later with the same Message-ID (mail clients show such copies
once). So an email is mailed twice only when the server took it but its 250 was not
recorded: the process died, or stop() gave up waiting and cancelled the send, between the
server's acceptance and the commit; or the connection broke after the message went and
before the reply came. A lane records each send before it takes the next email, so such
an interruption mails at most one email twice per lane: at most `lanes` (3) in all, one
with a single lane (seen in the kill -9 trials of tests/e2e/test_crash_safety.py). A
normal stop() lets every send in flight finish and be recorded: nothing is mailed twice.

The password is never logged nor put into an error; addresses and Message-IDs are.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from email.message import EmailMessage, Message
from typing import Any

import aiosmtplib

from ..archive.db import now
from ..archive.deliveries import Deliveries, backoff_delay
from ..model import OutboxItem
from .outbox_builds import Builds
from .smtp import (
    Envelope,
    SmtpAuthError,
    SmtpSettings,
    SmtpTlsError,
    describe,
    reply_text,
    smtp_error,
    with_message_id,
)
from .smtp_lanes import CannotConnect, Lane, Lanes, conversation, permanent

log = logging.getLogger("im2mail.outbox")

TARGET = "mail"
LANES = 3  # connections at most (the module's docstring says why 3)
PERMANENT_TRIES = 5  # tries before a 5xx reply fails an item
GIVE_WAY_STEP = 0.02  # seconds
MAX_GIVE_WAY = 1.0  # seconds an email waits at most for receiving to quieten
MIN_UPLOAD_RATE = 64 * 1024  # bytes/s: a big email gets this much extra time for its DATA

Built = Envelope | EmailMessage
Build = Callable[[OutboxItem], Built | Awaitable[Built]]


class MailOutbox:
    """Sends the archive's pending mail deliveries. Lifecycle: start() ... stop().

    `build` turns an outbox item into the email (sync or async): an Envelope, as
    mail/builder.py makes them, which must carry item.email_message_id; or an
    EmailMessage, whose Message-ID header is set to item.email_message_id if it differs.
    `backoff(tries)` gives the seconds before a retry; `clock` the current time (both for
    tests). `lanes`: SMTP connections at most (1: one email at a time).
    """

    def __init__(
        self,
        deliveries: Deliveries,
        settings: SmtpSettings,
        password: str,
        build: Build,
        *,
        backoff: Callable[[int], float] = backoff_delay,
        permanent_tries: int = PERMANENT_TRIES,
        idle_close: float = 30.0,
        stop_timeout: float = 10.0,
        batch: int = 100,
        clock: Callable[[], datetime] = now,
        busy_elsewhere: Callable[[], bool] | None = None,
        lanes: int = LANES,
        offload: Callable[..., Awaitable[Any]] = asyncio.to_thread,
    ) -> None:
        self._queue = deliveries
        self._in_thread = offload  # archive calls and builds: never on the event loop
        self._busy_elsewhere = busy_elsewhere
        self._settings = settings
        self._password = password
        self._lanes = Lanes(settings, password, lanes, self._now)
        self._build = build
        self._backoff = backoff
        self._permanent_tries = permanent_tries
        self._idle_close = idle_close
        self._stop_timeout = stop_timeout
        self._batch = batch
        self._clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()  # notify() or stop()
        self._stop = asyncio.Event()  # stop() only
        self._stopping = False
        self._pause_until: float | None = None  # loop time: the server is not tried before
        self._sends: dict[asyncio.Task[bool], Lane] = {}  # the lanes at work
        self._writes: set[asyncio.Future[bool]] = set()  # delivery_sent writes under way
        self._held: set[object] = set()  # conversations whose email awaits a retry (this round)
        self._builds = Builds(self._make, lanes)  # the next emails, built while lanes send
        self.sent = 0  # emails accepted by the server since this worker was made

    def __repr__(self) -> str:
        return f"<MailOutbox {self._settings.address} sent={self.sent}>"

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the loop in a task of the running event loop."""
        if self._task is not None:
            raise RuntimeError("the outbox is already running")
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        self._stop.clear()
        self._wake.set()  # look at the queue at once
        self._task = asyncio.create_task(self._run(), name="im2mail-outbox")

    async def stop(self, timeout: float | None = None) -> None:
        """Take no more work; let the sends in flight finish and be recorded (up to
        `timeout` seconds, default stop_timeout), then close the connections. A send still
        running then is cancelled: its item stays pending and is sent again after a
        restart."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._stop.set()
        self._wake.set()
        done, _ = await asyncio.wait(
            {task}, timeout=self._stop_timeout if timeout is None else timeout
        )
        if not done:
            items = self._lanes.in_flight()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            for item in items:
                log.warning(
                    "stopped during the send of mail #%s %s: it stays pending and is sent "
                    "again after a restart, with the same Message-ID",
                    item.id,
                    item.email_message_id,
                )
            # a write the cancelled sends began is let finish (its thread runs anyway)
            await asyncio.gather(*self._writes, return_exceptions=True)
        self._lanes.drop_all()

    async def __aenter__(self) -> MailOutbox:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def notify(self) -> None:
        """Something was queued: look now. Callable from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return  # not started: start() looks at the queue anyway
        try:
            same = asyncio.get_running_loop() is loop
        except RuntimeError:
            same = False
        if same:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    async def flush(self) -> int:
        """Send what is due now and return how many went out (for `run --once`); for a
        worker that was not started."""
        if self._task is not None:
            raise RuntimeError("flush() is for an outbox that is not running")
        self._loop = asyncio.get_running_loop()
        before = self.sent
        try:
            while True:
                count = self.sent
                if not await self._send_due() or self._pause_until or self.sent == count:
                    break
        finally:
            self._pause_until = None
            await self._lanes.close_all()
        return self.sent - before

    # -- the loop ------------------------------------------------------------------------------

    async def _run(self) -> None:
        trouble = 0
        while not self._stopping:
            try:
                found = await self._send_due()
                trouble = 0
            except Exception as e:  # the archive: locked, disk full. Never a crash loop.
                trouble += 1
                delay = self._backoff(trouble)
                log.error("outbox: %s; trying again in %s", self._text(e), _seconds(delay))
                self._lanes.drop_all()
                await self._sleep(delay, wake_on_notify=False)
                continue
            if self._pause_until is not None:
                await self._sleep(self._pause_until - self._now(), wake_on_notify=False)
                self._pause_until = None
            elif not found:
                await self._wait_for_work()
        await self._lanes.close_all()

    async def _send_due(self) -> bool:
        """Send the due items over the lanes; return once no lane can take one more and
        every send has ended and been recorded. While sends run, the queue is read again
        for what came since (a notify(), or rows beyond the batch), so a slow or stuck
        send holds up its own conversation only. Each item is tried once per call at
        most. False when none was due."""
        self._wake.clear()  # before the query: a notify() from now on is not lost
        self._held.clear()  # from here on the archive knows of the earlier retries
        due = functools.partial(self._queue.due_deliveries, in_order=True)
        items = await self._in_thread(due, TARGET, self._clock(), self._batch)
        if not items:
            self._lanes.cap = len(self._lanes.all)  # a new burst may try more connections
        await self._lanes.close_idle(self._idle_close)  # a long one on fewer lanes
        waiting = list(items)
        last = max((item.id or 0 for item in items), default=0)  # the newest row read
        more = len(items) >= self._batch  # rows beyond the batch may be due
        fresh = False  # a send ended since the queue was read
        trouble: BaseException | None = None  # an archive error: raised once all ended
        try:
            while waiting or self._sends:
                go = trouble is None and not self._stopping and self._pause_until is None
                self._lanes.opened.clear()  # a connection made from now on is seen below
                lane, item = self._lanes.next(waiting) if go else (None, None)
                if lane is not None and item is not None:
                    await self._give_way()
                    if self._stopping or self._pause_until is not None:
                        continue  # no new send: the ones under way end
                    waiting.remove(item)
                    lane.item = item
                    self._sends[asyncio.create_task(self._deliver(lane, item))] = lane
                    continue
                if not self._sends:
                    break
                room = go and item is None and self._lanes.has_room()  # a lane, no email
                room = room and len(waiting) < self._batch  # a conversation's long queue
                if room and (self._wake.is_set() or (more and fresh)):
                    self._wake.clear()
                    since = functools.partial(due, after=last)
                    found = await self._in_thread(since, TARGET, self._clock(), self._batch)
                    last = max((i.id or 0 for i in found), default=last)
                    more, fresh = len(found) >= self._batch, False
                    waiting += self._unheld(found)  # newer than those read: queue order holds
                    continue
                wake = [self._wake] if room else []
                if go and item is not None and self._lanes.connecting():
                    wake.append(self._lanes.opened)  # then one more lane may open
                if go and not (self._busy_elsewhere and self._busy_elsewhere()):
                    self._builds.start(self._lanes.next_up(waiting))
                ended, error = await self._ended(waiting, wake)
                fresh, trouble = fresh or ended, trouble or error
                if self._held:  # an email now awaits its retry: its later ones wait too
                    waiting = self._unheld(waiting)
        except asyncio.CancelledError:  # stop() gave up waiting: cancel the sends
            for send in self._sends:
                send.cancel()
            await asyncio.gather(*self._sends, return_exceptions=True)
            for lane in self._sends.values():
                lane.item = None
            self._sends.clear()
            raise
        finally:
            await self._builds.drop()  # not sent this round: built again when due
        if trouble is not None:
            raise trouble
        return bool(items)

    def _unheld(self, items: list[OutboxItem]) -> list[OutboxItem]:
        return [item for item in items if conversation(item) not in self._held]

    async def _ended(
        self, waiting: list[OutboxItem], wake: list[asyncio.Event]
    ) -> tuple[bool, BaseException | None]:
        """Wait for a send to end, or for one of the `wake` events; an item its lane could
        not take goes back in its place (queue order). Returns whether a send ended, and
        the archive's error, if one ended with it."""
        waiters = {asyncio.ensure_future(event.wait()) for event in wake}
        try:
            done, _ = await asyncio.wait(
                {*self._sends, *waiters}, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()
        trouble = None
        ended = False
        for send in done - waiters:
            ended = True
            lane = self._sends.pop(send)  # type: ignore[arg-type]
            item, lane.item = lane.item, None
            if send.exception() is not None:
                trouble = trouble or send.exception()
            elif not send.result():
                assert item is not None
                bisect.insort(waiting, item, key=lambda i: i.id or 0)
        return ended, trouble

    async def _give_way(self) -> None:
        """Let receiving go first while a burst is coming in: an update is stored (and
        acknowledged) before the emails are made, which cost the CPU far more. Bounded,
        so mail is never starved: at most MAX_GIVE_WAY seconds per email."""
        waited = 0.0
        while (
            self._busy_elsewhere is not None
            and waited < MAX_GIVE_WAY
            and not self._stopping
            and self._busy_elsewhere()
        ):
            await asyncio.sleep(GIVE_WAY_STEP)
            waited += GIVE_WAY_STEP

    async def _wait_for_work(self) -> None:
        """Sleep until the next item is due or notify(); close connections when idle."""
        due = await self._in_thread(self._queue.next_delivery_time, TARGET)
        timeout = None if due is None else (due - self._clock()).total_seconds() + 0.001
        close = await self._lanes.close_idle(self._idle_close)
        if close is not None:
            timeout = close if timeout is None else min(timeout, close)
        await self._sleep(timeout, wake_on_notify=True)

    async def _sleep(self, seconds: float | None, *, wake_on_notify: bool) -> None:
        if seconds is not None and seconds <= 0:
            return
        event = self._wake if wake_on_notify else self._stop
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)

    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    # -- one item ------------------------------------------------------------------------------

    async def _deliver(self, lane: Lane, item: OutboxItem) -> bool:
        """Build and send one item over `lane` and record what happened. False: the lane
        could not connect while others are open (the server's limit of connections): the
        item goes back to wait for one of them, this try not counted."""
        try:
            ready = await self._builds.take(item)
        except Exception as e:
            await self._give_up(item, f"cannot build the email: {self._text(e)}")
            return True
        try:
            refused = await lane.send(ready, self._timeout(ready))
        except CannotConnect as e:
            if self._lanes.open_besides(lane):  # the server's limit of connections
                self._lanes.refused_more(lane, self._text(e.cause))
                return False
            if self._pause_until is not None:  # another lane found out: not counted
                return False
            await self._server_unusable(item, e.cause)
            return True
        except Exception as e:
            await self._send_failed(item, e)
            return True
        await self._sent(item, ready, refused)
        return True

    async def _make(self, item: OutboxItem) -> Envelope:
        """Build the email in a worker thread (an EmailMessage is turned into bytes there
        too): it takes a while for a big email, which would stall receiving on the event
        loop."""
        result = await self._in_thread(self._build, item)
        if inspect.isawaitable(result):
            result = await result
        if isinstance(result, Envelope):
            return with_message_id(result, item.email_message_id)
        if not isinstance(result, Message):
            raise TypeError(f"build() returned {type(result).__name__}, not an email")
        return await self._in_thread(with_message_id, result, item.email_message_id)

    def _timeout(self, ready: Envelope) -> float:
        return self._settings.timeout + len(ready.data) / MIN_UPLOAD_RATE

    async def _sent(self, item: OutboxItem, ready: Envelope, refused: dict[str, Any]) -> None:
        """Record the send before the lane takes another email (the other lanes go on
        meanwhile). Shielded: a stop() that cancels the send lets the write finish."""
        sent = self._in_thread(self._queue.delivery_sent, item.id, self._clock())
        write = asyncio.ensure_future(sent)
        self._writes.add(write)
        write.add_done_callback(self._writes.discard)
        self.sent += 1
        if refused:
            log.warning(
                "mail #%s %s sent, but the server refused %s",
                item.id,
                item.email_message_id,
                "; ".join(f"{to} ({reply_text(r.code, r.message)})" for to, r in refused.items()),
            )
        elif log.isEnabledFor(logging.INFO):
            log.info("mail #%s %s sent to %s", item.id, item.email_message_id, ready.to)
        await asyncio.shield(write)

    async def _send_failed(self, item: OutboxItem, e: Exception) -> None:
        reason = self._text(e)
        if isinstance(e, aiosmtplib.SMTPResponseException) and e.code == 530:
            await self._server_unusable(item, e)  # a login is needed: settings, not mail
        elif isinstance(e, ValueError):  # aiosmtplib's verdict on the email: never sendable
            await self._give_up(item, f"cannot send this email: {reason}")
        elif permanent(e) and item.attempts + 1 >= self._permanent_tries:
            await self._give_up(item, reason)
        else:
            await self._retry(item, reason)

    async def _server_unusable(self, item: OutboxItem, e: Exception) -> None:
        error = smtp_error(e, self._settings, self._password)
        if self._pause_until is None:  # once per pause, however many lanes found out
            self._lanes.unreachable += 1
            self._pause_until = self._now() + self._backoff(self._lanes.unreachable)
        level = logging.ERROR if isinstance(error, SmtpAuthError | SmtpTlsError) else None
        await self._retry(item, error.message, level=level)

    async def _retry(self, item: OutboxItem, reason: str, level: int | None = None) -> None:
        self._held.add(conversation(item))  # its later emails wait for it
        delay = self._backoff(item.attempts + 1)
        when = self._clock() + timedelta(seconds=delay)
        await self._in_thread(self._queue.delivery_retry, item.id, reason, when)
        log.log(
            level or logging.WARNING,
            "mail #%s %s not sent (try %d): %s; next try in %s",
            item.id,
            item.email_message_id,
            item.attempts + 1,
            reason,
            _seconds(delay),
        )

    async def _give_up(self, item: OutboxItem, reason: str) -> None:
        await self._in_thread(self._queue.delivery_failed, item.id, reason, self._clock())
        log.error(
            "mail #%s %s failed after %d tries: %s",
            item.id,
            item.email_message_id,
            item.attempts + 1,
            reason,
        )

    def _text(self, e: BaseException) -> str:
        return describe(e, self._password)


def _seconds(delay: float) -> str:
    return f"{delay:.1f} s" if delay < 60 else f"{delay / 60:.0f} min"
