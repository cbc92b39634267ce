"""The SMTP outbox worker: mails what the relay queued, over one connection kept open.

The relay archives a customer's message together with an outbox row (target 'mail') whose
Message-ID is fixed then, and calls notify(). MailOutbox takes the due rows oldest first,
builds each email with the relay's `build`, sends it, and marks it sent right after the
server's 250. While there is work one SMTP connection stays open; after `idle_close`
seconds without work it is closed. With nothing due the worker sleeps until the next row
is due or notify() is called: it never polls.

What a try leads to:
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
retried and the worker waits, on the same schedule, before trying the server again; the
other items keep their place and their counts.

Delivery is at least once. An item is marked sent only after the server's 250, and what
is not marked is sent again later with the same Message-ID (mail clients show such copies
once). So an email is mailed twice only when the server took it but its 250 was not
recorded: the process died, or stop() gave up waiting and cancelled the send, between the
server's acceptance and the commit; or the connection broke after the message went and
before the reply came. The worker sends one email at a time, but records a send while
the next is already going out, so that is at most two emails per such interruption (seen
in the kill -9 trials of tests/e2e/test_crash_safety.py). A normal stop() lets the send
in flight finish and be recorded: nothing is mailed twice.

The password is never logged nor put into an error; addresses and Message-IDs are.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from email.message import EmailMessage, Message
from typing import Any

import aiosmtplib

from ..archive.db import now
from ..archive.deliveries import Deliveries, backoff_delay
from ..model import OutboxItem
from .smtp import (
    Envelope,
    SmtpAuthError,
    SmtpSettings,
    SmtpTlsError,
    describe,
    envelope,
    reply_text,
    smtp_error,
)

log = logging.getLogger("im2mail.outbox")

TARGET = "mail"
PERMANENT_TRIES = 5  # tries before a 5xx reply fails an item
GIVE_WAY_STEP = 0.02  # seconds
MAX_GIVE_WAY = 1.0  # seconds an email waits at most for receiving to quieten
MIN_UPLOAD_RATE = 64 * 1024  # bytes/s: a big email gets this much extra time for its DATA

Built = Envelope | EmailMessage
Build = Callable[[OutboxItem], Built | Awaitable[Built]]


# -- the worker ----------------------------------------------------------------------------------


class MailOutbox:
    """Sends the archive's pending mail deliveries. Lifecycle: start() ... stop().

    `build` turns an outbox item into the email (sync or async): an Envelope, as
    mail/builder.py makes them, which must carry item.email_message_id; or an
    EmailMessage, whose Message-ID header is set to item.email_message_id if it differs.
    `backoff(tries)` gives the seconds before a retry; `clock` the current time (both for
    tests).
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
    ) -> None:
        self._queue = deliveries
        self._busy_elsewhere = busy_elsewhere
        self._settings = settings
        self._password = password
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
        self._client: aiosmtplib.SMTP | None = None
        self._on_connection = 0  # emails sent over the current connection
        self._last_used = 0.0  # loop time
        self._unreachable = 0  # connection failures in a row
        self._pause_until: float | None = None  # loop time: the server is not tried before
        self._in_flight: OutboxItem | None = None
        self._marking: asyncio.Future[bool] | None = None  # the last delivery_sent write
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
        """Take no more work; let the send in flight finish (up to `timeout` seconds,
        default stop_timeout), then close the connection. A send still running then is
        cancelled: its item stays pending and is sent again after a restart."""
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
            item = self._in_flight
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if item is not None:
                log.warning(
                    "stopped during the send of mail #%s %s: it stays pending and is sent "
                    "again after a restart, with the same Message-ID",
                    item.id,
                    item.email_message_id,
                )
            with contextlib.suppress(Exception):
                await self._recorded()
        self._drop_connection()

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
            await self._recorded()
            await self._disconnect()
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
                self._drop_connection()
                await self._sleep(delay, wake_on_notify=False)
                continue
            if self._pause_until is not None:
                await self._sleep(self._pause_until - self._now(), wake_on_notify=False)
                self._pause_until = None
            elif not found:
                await self._wait_for_work()
        await self._recorded()
        await self._disconnect()

    async def _send_due(self) -> bool:
        """One batch of due items; False when none was due."""
        self._wake.clear()  # before the query: a notify() from now on is not lost
        await self._recorded()  # what was sent is marked before the queue is read again
        items = await _in_thread(self._queue.due_deliveries, TARGET, self._clock(), self._batch)
        for item in items:
            if self._stopping or self._pause_until is not None:
                break
            await self._give_way()
            self._in_flight = item
            try:
                await self._deliver(item)
            finally:
                self._in_flight = None
        return bool(items)

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
        """Sleep until the next item is due or notify(); close the connection when idle."""
        due = await _in_thread(self._queue.next_delivery_time, TARGET)
        timeout = None if due is None else (due - self._clock()).total_seconds() + 0.001
        if self._client is not None:
            idle = self._now() - self._last_used
            if idle >= self._idle_close:
                log.info("closing the idle connection to %s", self._settings.address)
                await self._disconnect()
            else:
                timeout = min(timeout or math.inf, self._idle_close - idle)
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

    async def _deliver(self, item: OutboxItem) -> None:
        try:
            ready = await self._make(item)
        except Exception as e:
            await self._give_up(item, f"cannot build the email: {self._text(e)}")
            return
        for last_chance in (False, True):
            try:
                client = await self._connect()
            except Exception as e:
                await self._server_unusable(item, e)
                return
            reused = self._on_connection > 0
            try:
                refused, _ = await client.sendmail(
                    ready.sender, ready.recipients, ready.data, timeout=self._timeout(ready)
                )
            except Exception as e:
                if _dropped(e) or not isinstance(e, aiosmtplib.SMTPResponseException):
                    self._drop_connection()  # lost, closing, timed out, or in doubt
                if reused and not last_chance and _dropped(e):
                    # An idle connection the server closed, or its limit of mails per
                    # connection: once more at once, on a new connection.
                    log.info("%s closed the connection; reconnecting", self._settings.address)
                    continue
                await self._send_failed(item, e)
                return
            self._on_connection += 1
            self._last_used = self._now()
            await self._sent(item, ready, refused)
            return

    async def _make(self, item: OutboxItem) -> Envelope:
        """Build the email in a worker thread (an EmailMessage is turned into bytes there
        too): it takes a while for a big email, which would stall receiving on the event
        loop."""
        result = await asyncio.to_thread(self._build, item)
        if inspect.isawaitable(result):
            result = await result
        if isinstance(result, Envelope):
            return _checked(result, item)
        if not isinstance(result, Message):
            raise TypeError(f"build() returned {type(result).__name__}, not an email")
        return await asyncio.to_thread(_ready, result, item)

    async def _connect(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            return self._client
        self._drop_connection()
        client = self._settings.client(self._password)
        await client.connect()
        if client.is_ehlo_or_helo_needed:
            await client.ehlo()
        if self._settings.local_hostname is None and client.local_hostname:
            # look the FQDN up once, not on every reconnect
            self._settings = replace(self._settings, local_hostname=client.local_hostname)
        self._client, self._on_connection, self._unreachable = client, 0, 0
        self._last_used = self._now()
        who = f" as {self._settings.username}" if self._settings.username else ""
        log.info("connected to %s (%s)%s", self._settings.address, self._settings.security, who)
        return client

    def _timeout(self, ready: Envelope) -> float:
        return self._settings.timeout + len(ready.data) / MIN_UPLOAD_RATE

    async def _sent(self, item: OutboxItem, ready: Envelope, refused: dict[str, Any]) -> None:
        # The write runs while the next email is built and sent (throughput); it is
        # awaited before the next one is marked and before the queue is read again.
        await self._recorded()
        self._marking = asyncio.ensure_future(
            _in_thread(self._queue.delivery_sent, item.id, self._clock())
        )
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

    async def _recorded(self) -> None:
        """Wait for the last delivery_sent write (an archive error is raised here)."""
        marking, self._marking = self._marking, None
        if marking is not None:
            await marking

    async def _send_failed(self, item: OutboxItem, e: Exception) -> None:
        reason = self._text(e)
        if isinstance(e, aiosmtplib.SMTPResponseException) and e.code == 530:
            await self._server_unusable(item, e)  # a login is needed: settings, not mail
        elif isinstance(e, ValueError):  # aiosmtplib's verdict on the email: never sendable
            await self._give_up(item, f"cannot send this email: {reason}")
        elif _permanent(e) and item.attempts + 1 >= self._permanent_tries:
            await self._give_up(item, reason)
        else:
            await self._retry(item, reason)

    async def _server_unusable(self, item: OutboxItem, e: Exception) -> None:
        error = smtp_error(e, self._settings, self._password)
        self._unreachable += 1
        self._pause_until = self._now() + self._backoff(self._unreachable)
        level = logging.ERROR if isinstance(error, SmtpAuthError | SmtpTlsError) else None
        await self._retry(item, error.message, level=level)

    async def _retry(self, item: OutboxItem, reason: str, level: int | None = None) -> None:
        delay = self._backoff(item.attempts + 1)
        when = self._clock() + timedelta(seconds=delay)
        await _in_thread(self._queue.delivery_retry, item.id, reason, when)
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
        await _in_thread(self._queue.delivery_failed, item.id, reason, self._clock())
        log.error(
            "mail #%s %s failed after %d tries: %s",
            item.id,
            item.email_message_id,
            item.attempts + 1,
            reason,
        )

    # -- the connection ------------------------------------------------------------------------

    async def _disconnect(self) -> None:
        """Say goodbye (QUIT) and close."""
        client = self._client
        if client is not None and client.is_connected:
            with contextlib.suppress(Exception):
                await client.quit(timeout=min(self._settings.timeout, 5.0))
        self._drop_connection()

    def _drop_connection(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def _text(self, e: BaseException) -> str:
        return describe(e, self._password)


# -- helpers -----------------------------------------------------------------------------------


async def _in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """Archive calls run in a worker thread: a busy archive never blocks the event loop."""
    return await asyncio.to_thread(fn, *args)


def _ready(message: Message, item: OutboxItem) -> Envelope:
    _ensure_message_id(message, item)
    return envelope(message)


def _checked(built: Envelope, item: OutboxItem) -> Envelope:
    """The email as built, when it has the row's Message-ID: a resend must be the same email."""
    wanted = _wanted_id(item)
    if wanted and built.message_id != wanted:
        raise ValueError(f"built with Message-ID {built.message_id or '(none)'}, not {wanted}")
    return built


def _wanted_id(item: OutboxItem) -> str:
    wanted = (item.email_message_id or "").strip()
    return f"<{wanted}>" if wanted and not wanted.startswith("<") else wanted


def _ensure_message_id(message: Message, item: OutboxItem) -> None:
    wanted = _wanted_id(item)
    if not wanted:
        return
    current = message.get("Message-ID")
    if current is None:
        message["Message-ID"] = wanted
    elif str(current).strip() != wanted:
        log.warning("mail #%s: Message-ID %s replaced by %s", item.id, current, wanted)
        message.replace_header("Message-ID", wanted)


def _permanent(e: BaseException) -> bool:
    if isinstance(e, aiosmtplib.SMTPRecipientsRefused):
        return all(500 <= r.code < 600 for r in e.recipients)
    if isinstance(e, aiosmtplib.SMTPResponseException):
        return 500 <= e.code < 600
    return isinstance(e, aiosmtplib.SMTPNotSupported)  # e.g. SMTPUTF8 needed, not offered


def _dropped(e: BaseException) -> bool:
    if isinstance(e, aiosmtplib.SMTPResponseException):
        return e.code == 421
    return isinstance(e, aiosmtplib.SMTPServerDisconnected)


def _seconds(delay: float) -> str:
    return f"{delay:.1f} s" if delay < 60 else f"{delay / 60:.0f} min"
