"""The outbox's connections to the SMTP server: lanes, each one kept-open connection that
carries one email at a time, and which waiting email goes over which lane next.
mail/smtp_outbox.py runs the sends and decides what a try leads to.

A lane reuses its connection while it works and is closed after `idle_close` seconds
without an email. A send that finds its used connection closed by the server (an idle
timeout, a limit of mails per connection: a 421 or a closed socket) is made again at once
on a new connection, once. A lane that cannot connect raises CannotConnect; so does one
whose new connection is refused with 421 at MAIL FROM or RCPT (servers say "421 too many
concurrent sessions" at any command, not only in the greeting): the email did not go.
(A server that says so at MAIL FROM is asked once per further lane: the next lane may
open once the one before has connected, before its MAIL FROM is answered.)

Lanes.next() picks the first waiting email of a conversation with none in flight (so a
conversation's emails go one at a time, in queue order) and free() its lane: an idle one
whose connection is open
(the lowest first, so traffic keeps to few connections and the others go idle and close);
else a new connection, when none is open, or when every open one is busy and at least
BACKLOG emails wait for one (opening a connection costs round trips too: for one waiting
email it does not pay), no other is being opened (`opened` is set once it is), and the
server has not refused more (`cap`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import aiosmtplib

from ..model import OutboxItem
from .smtp import Envelope, SmtpSettings

log = logging.getLogger("im2mail.outbox")

BACKLOG = 2  # emails waiting for a lane before another connection is opened


class CannotConnect(Exception):
    """Connecting (or TLS, or the login) failed; the cause is the server's error."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


class Lanes:
    """Up to `count` lanes to the server of `settings` (its EHLO name is looked up once
    and shared). `now` is the event loop's clock."""

    def __init__(
        self, settings: SmtpSettings, password: str, count: int, now: Callable[[], float]
    ) -> None:
        if count < 1:
            raise ValueError("the outbox needs at least one lane")
        self.settings = settings
        self._password = password
        self._now = now
        self.all = [Lane(self, n) for n in range(count)]
        self.cap = count  # lowered while the server refuses more connections
        self.unreachable = 0  # failures to reach the server in a row, for the backoff
        self.opened = asyncio.Event()  # set when a lane has connected (the outbox clears it)

    def next(self, waiting: list[OutboxItem]) -> tuple[Lane | None, OutboxItem | None]:
        """The first of `waiting` (in queue order) whose conversation has no email in
        flight, and the lane to take it (None: wait for a busy one)."""
        busy = {conversation(item) for item in self.in_flight()}
        ready = [item for item in waiting if conversation(item) not in busy]
        if not ready:
            return None, None
        return self.free(len(ready)), ready[0]

    def next_up(self, waiting: list[OutboxItem]) -> list[OutboxItem]:
        """The emails of `waiting` that go next, in order: the first of each conversation
        with none in flight."""
        seen = {conversation(item) for item in self.in_flight()}
        found = []
        for item in waiting:
            key = conversation(item)
            if key not in seen:
                seen.add(key)
                found.append(item)
        return found

    def free(self, waiting: int) -> Lane | None:
        """The lane for the next email, with `waiting` emails ready to go (it included);
        None: wait for a busy one."""
        idle = [lane for lane in self.all if lane.item is None]
        for lane in idle:
            if lane.open:
                return lane
        busy = [lane for lane in self.all if lane.item is not None]
        if not busy:
            return idle[0]
        # one new connection at a time, once the others are up: a server's refusal of
        # one more is then told from one that cannot be used
        if idle and len(busy) < self.cap and waiting >= BACKLOG:
            return idle[0] if all(lane.open for lane in busy) else None
        return None

    def connecting(self) -> bool:
        """Whether a lane is connecting: free() opens no other meanwhile."""
        return any(lane.item is not None and not lane.open for lane in self.all)

    def has_room(self) -> bool:
        """Whether free() would give a lane to a backlog: more emails could go now."""
        return self.free(BACKLOG) is not None

    def in_flight(self) -> list[OutboxItem]:
        """The emails being sent."""
        return [lane.item for lane in self.all if lane.item is not None]

    def open_besides(self, lane: Lane) -> int:
        return sum(1 for other in self.all if other is not lane and other.open)

    def refused_more(self, lane: Lane, reason: str) -> None:
        """`lane` could not connect while others are open: no more than those until the
        queue is empty (the outbox resets `cap` then)."""
        self.cap = self.open_besides(lane)
        log.info(
            "%s took no connection beyond %d (%s); going on with those",
            self.settings.address,
            self.cap,
            reason,
        )

    async def close_idle(self, idle_close: float) -> float | None:
        """QUIT the connections idle for `idle_close` seconds; the seconds until the next
        open one would be (None: none is open)."""
        left: list[float] = []
        for lane in self.all:
            if not lane.open or lane.item is not None:
                continue
            idle = self._now() - lane.last_used
            if idle >= idle_close:
                log.info("closing the idle connection to %s", self.settings.address)
                await lane.close()
            else:
                left.append(idle_close - idle)
        return min(left) if left else None

    async def close_all(self) -> None:
        for lane in self.all:
            await lane.close()

    def drop_all(self) -> None:
        for lane in self.all:
            lane.drop()

    def connected(self, client: aiosmtplib.SMTP) -> None:
        self.unreachable = 0
        self.opened.set()
        if self.settings.local_hostname is None and client.local_hostname:
            # look the FQDN up once, not on every reconnect
            self.settings = replace(self.settings, local_hostname=client.local_hostname)

    def client(self) -> aiosmtplib.SMTP:
        return self.settings.client(self._password)


class Lane:
    """One connection; `item` is the email it is sending (None: idle)."""

    def __init__(self, lanes: Lanes, number: int) -> None:
        self._lanes = lanes
        self.number = number
        self.item: OutboxItem | None = None
        self._client: aiosmtplib.SMTP | None = None
        self._on_connection = 0  # emails sent over the current connection
        self.last_used = 0.0  # loop time

    def __repr__(self) -> str:
        return f"<Lane {self.number} {'open' if self.open else 'closed'} item={self.item}>"

    @property
    def open(self) -> bool:
        return self._client is not None and self._client.is_connected

    async def send(self, ready: Envelope, timeout: float) -> dict[str, Any]:
        """Send one email; the recipients refused (the others took it). Raises
        CannotConnect, or aiosmtplib's error of the send."""
        for last_chance in (False, True):
            try:
                client = await self._connect()
            except Exception as e:
                raise CannotConnect(e) from e
            reused = self._on_connection > 0
            try:
                refused, _ = await client.sendmail(
                    ready.sender, ready.recipients, ready.data, timeout=timeout
                )
            except Exception as e:
                if dropped(e) or not isinstance(e, aiosmtplib.SMTPResponseException):
                    self.drop()  # lost, closing, timed out, or in doubt
                if reused and not last_chance and dropped(e):
                    # An idle connection the server closed, or its limit of mails per
                    # connection: once more at once, on a new connection.
                    log.info("%s closed the connection; reconnecting", self._lanes.settings.address)
                    continue
                if refused_session(e):  # nothing of the email went: as if at the greeting
                    raise CannotConnect(e) from e
                raise
            self._on_connection += 1
            self.last_used = self._lanes._now()
            return refused
        raise AssertionError("unreachable")  # pragma: no cover

    async def _connect(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            return self._client
        self.drop()
        client = self._lanes.client()
        try:
            await client.connect()
            if client.is_ehlo_or_helo_needed:
                await client.ehlo()
        except BaseException:
            client.close()
            raise
        self._lanes.connected(client)
        self._client, self._on_connection = client, 0
        self.last_used = self._lanes._now()
        settings = self._lanes.settings
        who = f" as {settings.username}" if settings.username else ""
        log.info("connected to %s (%s)%s", settings.address, settings.security, who)
        return client

    async def close(self) -> None:
        """Say goodbye (QUIT) and close."""
        client = self._client
        if client is not None and client.is_connected:
            with contextlib.suppress(Exception):
                await client.quit(timeout=min(self._lanes.settings.timeout, 5.0))
        self.drop()

    def drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()


def conversation(item: OutboxItem) -> object:
    """What keeps items in order: the conversation (each item its own when not known)."""
    return item.conversation_id if item.conversation_id is not None else ("item", item.id)


def dropped(e: BaseException) -> bool:
    """The server closed the connection (421, or the socket)."""
    if isinstance(e, aiosmtplib.SMTPResponseException):
        return e.code == 421
    return isinstance(e, aiosmtplib.SMTPServerDisconnected)


def refused_session(e: BaseException) -> bool:
    """A 421 before the email went (at MAIL FROM or RCPT, e.g. "421 too many concurrent
    sessions"): the server will not take mail over this new connection, as if it had said
    421 at the greeting."""
    refused = aiosmtplib.SMTPSenderRefused | aiosmtplib.SMTPRecipientRefused
    return isinstance(e, refused) and e.code == 421


def permanent(e: BaseException) -> bool:
    """The server refused for good (5xx; every recipient 5xx), or lacks what it needs."""
    if isinstance(e, aiosmtplib.SMTPRecipientsRefused):
        return all(500 <= r.code < 600 for r in e.recipients)
    if isinstance(e, aiosmtplib.SMTPResponseException):
        return 500 <= e.code < 600
    return isinstance(e, aiosmtplib.SMTPNotSupported)  # e.g. SMTPUTF8 needed, not offered
