"""The chat outbox worker: delivers managers' replies to customers through their bot.

reply_intake.py archives a reply with an outbox row (target 'channel'); ChatOutbox takes the
due rows oldest first and sends each through the conversation's channel, as the steps
`channel.plan` makes of it (text pieces, pictures, files: one platform call each). Each
step done is recorded before the next is sent, with the chat messages it went as (what
the platform reports later about any of them is the reply's: archive/pieces.py), so a
delivery resumed after a crash or a retry sends nothing twice. A crash between a step's
call and its record leaves that one step in doubt (recorded as in flight before the
call): sent again (at least once, the default) or, with relay.in_doubt = "notify", not
sent again and its author told (at most once, never silently).

What a try leads to:
- every step sent                 -> sent; the other managers get a team notice
- RetryLater (429 with retry_after, 5xx, timeouts), a bot that is not running, a bad
  token                           -> retried after retry_after or backoff_delay(tries),
                                     until `max_tries`, then as below
- Blocked, Rejected, FileTooBig, a file gone from the archive, a bot no longer configured
                                  -> failed; the manager who wrote it gets a notice in the
                                     thread that quotes the platform's reason
- more steps than relay.max_reply_messages (checked before the first step goes)
                                  -> failed, nothing sent; its author is told why and what
                                     to do instead (a file for a long text)
- a chat of a connected account (Telegram Business) whose connection is disabled or may
  not reply (business.sender)     -> failed, nothing sent; its author is told why
A reply of only one emoji goes as a reaction to the customer's last message where the
channel can set one (reacting.py); recorded as sent, the emoji on that message.
Messages to one chat are paced `pace` seconds apart (Telegram: about one per second).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..archive import Archive, reactions
from ..archive.db import now
from ..archive.deliveries import backoff_delay
from ..channels import Blocked, ChannelError, FileTooBig, OutgoingFile, Rejected, Step
from ..mail.builder import MailSettings
from ..model import IN_DOUBT, NOT_SENT, TEAM, UNDELIVERED, Conversation, Message, OutboxItem
from . import business, reacting

log = logging.getLogger("im2mail.sender")

TARGET = "channel"
MAX_TRIES = 8  # 5 s, 15 s, 1 min, 5 min, 15 min, 30 min, 30 min: about 1.5 hours
PACE = 1.0  # seconds between messages to one chat


@dataclass(frozen=True)
class SenderSettings:
    mail: MailSettings  # the managers; notices' Message-IDs are made on mail.address's domain
    bots: frozenset[str]  # configured bot names: a reply to another bot can never go
    sign_replies: bool = False
    resend_in_doubt: bool = True  # relay.in_doubt: "resend" (True) or "notify" (False)
    max_messages: int = 8  # relay.max_reply_messages: a reply planned as more is not sent


class GiveUp(Exception):
    """The delivery cannot succeed; `reason` goes to the manager."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ChatOutbox:
    """Sends the archive's pending channel deliveries. Lifecycle: start() ... stop().

    `channels` maps bot names to started channels; the relay fills it as bots start.
    """

    def __init__(
        self,
        archive: Archive,
        channels: Mapping[str, object],
        settings: SenderSettings,
        mail_queued: Callable[[], None] = lambda: None,
        *,
        backoff: Callable[[int], float] = backoff_delay,
        max_tries: int = MAX_TRIES,
        pace: float = PACE,
        batch: int = 50,
        clock: Callable[[], datetime] = now,
    ) -> None:
        self.archive = archive
        self.channels = channels
        self.settings = settings
        self.mail_queued = mail_queued
        self._backoff = backoff
        self._max_tries = max_tries
        self._pace = pace
        self._batch = batch
        self._clock = clock  # when "now" is, for what is due and when to retry (tests move it)
        self._last_sent: dict[str, float] = {}  # chat -> time.monotonic() of the last send
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self.delivered = 0

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        self._wake.set()
        self._task = asyncio.create_task(self._run(), name="im2mail-chat-outbox")

    async def stop(self, timeout: float = 10.0) -> None:
        """Take no more work; let the step being sent finish and be recorded."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            log.warning("stopped during a reply's delivery: it resumes after a restart")

    def notify(self) -> None:
        """A reply was queued: look now. Callable from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._wake.set)

    async def flush(self) -> int:
        """Deliver what is due now (for `run --once`); returns how many went out."""
        self._loop = asyncio.get_running_loop()
        before = self.delivered
        while await self._deliver_due():
            pass
        return self.delivered - before

    # -- the loop ----------------------------------------------------------------------------

    async def _run(self) -> None:
        trouble = 0
        while not self._stopping:
            try:
                await self._deliver_due()
                trouble = 0
                due = await asyncio.to_thread(self.archive.deliveries.next_delivery_time, TARGET)
            except Exception as e:  # the archive: locked, disk full. Never a crash loop.
                trouble += 1
                log.error("chat outbox: %s; trying again", e)
                due = self._clock() + timedelta(seconds=self._backoff(trouble))
            timeout = None if due is None else max(0.0, (due - self._clock()).total_seconds())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _deliver_due(self) -> bool:
        """One batch of due deliveries; False when none went out or was tried."""
        self._wake.clear()
        queue = self.archive.deliveries
        items = await asyncio.to_thread(queue.due_deliveries, TARGET, self._clock(), self._batch)
        for item in items:
            if self._stopping:
                break
            await self._deliver(item)
        return bool(items)

    # -- one delivery ------------------------------------------------------------------------

    async def _deliver(self, item: OutboxItem) -> None:
        queue = self.archive.deliveries
        try:
            reply, conversation = await asyncio.to_thread(self._load, item)
            channel = self._channel(conversation)
            chat, send, via = await business.sender(self.archive, channel, conversation)
            # A bot sets reactions only in its own chats, not in a connected account's.
            if item.progress == 0 and item.in_flight is None and via is None:
                reacted = await reacting.react(channel, self.archive, reply, conversation)
                if reacted is not None:
                    await self._reacted(item, reply, conversation, *reacted)
                    return
            files = await asyncio.to_thread(self._files, reply)
            steps = channel.plan(self._text(reply), files)
            if item.progress == 0 and item.in_flight is None:  # not once part of it went
                self._check_length(steps)
            first = reply.channel_message_id
            skipped: list[int] = []
            ids: list[str] = []  # the chat messages the step went as
            for number in range(item.progress, len(steps)):
                ids = []
                if number == item.in_flight and self._skip_in_doubt(reply, number):
                    skipped.append(number)
                else:
                    await self._wait_turn(chat)
                    await asyncio.to_thread(queue.delivery_sending, item.id, number)
                    ids = await send(chat, steps[number])
                    self._last_sent[chat] = time.monotonic()
                    first = first or (ids[0] if ids else None)
                if number + 1 < len(steps):
                    await asyncio.to_thread(
                        queue.delivery_progress, item.id, number + 1, first, ids
                    )
        except (TooLong, business.NotSent) as e:
            await self._failed(item, e.reason, NOT_SENT)
            return
        except GiveUp as e:
            await self._failed(item, e.reason)
            return
        except Blocked as e:
            await asyncio.to_thread(self._mark_blocked, item)
            await self._failed(item, e.reason)
            return
        except (Rejected, FileTooBig) as e:
            await self._failed(item, e.reason)
            return
        except ChannelError as e:
            in_doubt = getattr(e, "maybe_sent", False) and not self.settings.resend_in_doubt
            await self._retry(item, e.reason, getattr(e, "seconds", None), in_doubt=in_doubt)
            return
        except _NotRunning as e:
            await self._retry(item, str(e), None)
            return
        then = self._team_notice(reply)
        if skipped:
            then.append(self._in_doubt_notice(skipped, len(steps)))
        await asyncio.to_thread(
            queue.delivery_sent, item.id, self._clock(), channel_message_id=first, pieces=ids,
            then=then,
        )  # fmt: skip
        self.delivered += 1
        log.info("reply %d from %s delivered to %s in %s (%d message(s))",
                 reply.id, reply.author, conversation.customer.display_name, conversation.bot,
                 len(steps))  # fmt: skip
        if then:
            self.mail_queued()

    async def _reacted(self, item: OutboxItem, reply: Message, conversation: Conversation,
                       target: Message, emoji: str) -> None:  # fmt: skip
        then = self._team_notice(reply)
        assert item.id is not None and target.id is not None
        await asyncio.to_thread(reactions.shop_reacted, self.archive, item.id, reply, target.id,
                                emoji, self._clock(), then=then)  # fmt: skip
        self.delivered += 1
        log.info("reply %d from %s set as a reaction %s on message %d of %s in %s", reply.id,
                 reply.author, emoji, target.id, conversation.customer.display_name,
                 conversation.bot)  # fmt: skip
        if then:
            self.mail_queued()

    def _load(self, item: OutboxItem) -> tuple[Message, Conversation]:
        if item.message_id is None:
            raise GiveUp(f"outbox row {item.id} names no message")
        reply = self.archive.message(item.message_id)
        return reply, self.archive.conversation(reply.conversation_id)

    def _channel(self, conversation: Conversation):
        bot = conversation.bot
        channel = self.channels.get(bot)
        if channel is not None:
            return channel
        if bot not in self.settings.bots:
            raise GiveUp(f"the bot '{bot}' is no longer configured, so nothing can reach them")
        raise _NotRunning(f"bot '{bot}' is not running")

    def _files(self, reply: Message) -> list[OutgoingFile]:
        files = []
        for a in reply.attachments:
            if a.sha256 is None:
                raise GiveUp(f"the file {a.filename} was not kept, so it cannot be sent")
            try:
                data = self.archive.blob_path(a.sha256).read_bytes()
            except OSError as e:
                raise GiveUp(f"the file {a.filename} is missing from the archive ({e})") from e
            files.append((a.filename, a.mime, data))
        return files

    def _text(self, reply: Message) -> str:
        text = reply.text.strip()
        if not self.settings.sign_replies or not text:
            return text
        raw = reply.raw or {}
        name = (raw.get("from_name") or "").strip() or reply.author.partition("@")[0]
        return f"{text}\n\n— {name}"

    def _check_length(self, steps: list[Step]) -> None:
        """TooLong when the reply would become more chat messages than allowed: as many as
        the channel's plan has steps (a piece of text, a file, a Telegram album)."""
        limit = self.settings.max_messages
        if len(steps) <= limit:
            return
        texts = sum(1 for step in steps if not step.files)
        files = len(steps) - texts
        parts = [f"{texts} of text" if texts else "", f"{files} with files" if files else ""]
        advice = []
        if texts > 1:
            advice.append("put the long text in a file (.txt or .pdf) attached to a short reply")
        if files > 1:
            advice.append("send the files over several replies, or packed into one .zip")
        raise TooLong(
            f"it would have become {len(steps)} separate chat messages "
            f"({' and '.join(p for p in parts if p)}); im2mail sends at most {limit} for one "
            "reply (relay.max_reply_messages), so nothing was sent. To send it: "
            f"{' and '.join(advice) or 'split it over several shorter replies'}."
        )

    async def _wait_turn(self, chat: str) -> None:
        last = self._last_sent.get(chat)
        if last is not None:
            wait = self._pace - (time.monotonic() - last)
            if wait > 0:
                await asyncio.sleep(wait)

    def _team_notice(self, reply: Message) -> list[OutboxItem]:
        author = reply.author.lower()
        others = [m for m in self.settings.mail.managers if m.lower() != author]
        if not others:
            return []
        note = ",".join(others)
        mid = self.settings.mail.new_message_id()
        return [OutboxItem("mail", email_message_id=mid, kind=TEAM, note=note)]

    def _skip_in_doubt(self, reply: Message, number: int) -> bool:
        """The relay stopped while step `number` was being sent: the platform may or may not
        have it, and neither Telegram nor Viber can be asked. Sent again (the customer may
        get it twice) unless relay.in_doubt is "notify" (not sent again; the author is told)."""
        if self.settings.resend_in_doubt:
            log.warning(
                "reply #%s: sending part %d again; it was being sent when im2mail stopped, "
                "so the customer may get it twice", reply.id, number + 1,
            )  # fmt: skip
            return False
        log.warning(
            "reply #%s: part %d was being sent when im2mail stopped; not sending it again "
            '(relay.in_doubt = "notify"), telling its author', reply.id, number + 1,
        )  # fmt: skip
        return True

    def _in_doubt_notice(self, skipped: list[int], steps: int) -> OutboxItem:
        parts = ", ".join(str(n + 1) for n in skipped)
        what = "your reply" if steps == 1 else f"part {parts} of {steps} of your reply"
        return OutboxItem(
            "mail", email_message_id=self.settings.mail.new_message_id(), kind=IN_DOUBT,
            note=what,
        )  # fmt: skip

    def _mark_blocked(self, item: OutboxItem) -> None:
        _, conversation = self._load(item)
        if conversation.customer.id is not None:
            self.archive.set_customer_blocked(conversation.customer.id, True)

    async def _failed(self, item: OutboxItem, reason: str, kind: str = UNDELIVERED) -> None:
        """Give the delivery up; its author gets a notice of `kind` quoting `reason`."""
        notice = OutboxItem(
            "mail",
            email_message_id=self.settings.mail.new_message_id(),
            kind=kind,
            note=reason,
        )
        queue = self.archive.deliveries
        await asyncio.to_thread(
            queue.delivery_failed, item.id, reason, self._clock(), then=[notice]
        )
        log.error("reply #%s not delivered: %s; telling its author", item.message_id, reason)
        self.mail_queued()

    async def _retry(
        self, item: OutboxItem, reason: str, seconds: float | None, *, in_doubt: bool = False
    ) -> None:
        """Try again later; `in_doubt`: the step may have gone out (a timeout after the
        request left) and stays marked in flight, so the next try treats it as a crash's."""
        tries = item.attempts + 1
        if tries >= self._max_tries:
            await self._failed(item, f"still failing after {tries} tries: {reason}")
            return
        delay = seconds if seconds is not None else self._backoff(tries)
        when: datetime = self._clock() + timedelta(seconds=delay)
        await asyncio.to_thread(
            self.archive.deliveries.delivery_retry, item.id, reason, when, in_flight=in_doubt
        )
        log.warning("reply #%s not delivered (try %d): %s; next try in %.0f s",
                    item.message_id, tries, reason, delay)  # fmt: skip


class TooLong(GiveUp):
    """The reply would become more chat messages than relay.max_reply_messages."""


class _NotRunning(Exception):
    """The bot is configured but did not start (its token refused, the API unreachable)."""
