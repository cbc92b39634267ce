"""Customer → archive: what the relay does with one raw update from a messenger.

The update is parsed by its channel, its files fetched, and each message archived with
its outbox row (the email to the managers) in one transaction, under the update's dedupe
key. Only then does the caller acknowledge the update to the platform (confirm the
polling offset, or answer the webhook 200). The first contact gets the owner's greeting:
sent as a message, or, for Viber's conversation_started (a customer who opened the chat
and has not subscribed, whom the bot may not message), as the webhook's answer. A message
that comes while the shop is closed ([hours]) gets the auto-reply, once per conversation
per closed period; when the greeting is due too, both go as one message. In quiet hours
neither is sent.

Updates that carry no message change state: the customer blocked or unblocked the bot
(Viber: unsubscribed, subscribed), a reply was delivered, seen or failed (receipts.py).
Edits and reactions are changes.py's: an edit becomes a new version of its message, with
an email showing both texts; a reaction to a manager's reply a notice to its author.

Chats with an account connected to the bot (Telegram Business) go through business.py
first: connection changes, the owner's own messages and deletions end there; a
customer's message comes back and is archived and mailed here, with no automatic answer.

Abusive customers (flood.py, blocking.py): a message that comes in a flood (more than
relay.flood_per_minute a minute) is archived into the conversation's flood digest instead
of getting an email of its own; a customer the shop blocked is archived and mailed to
nobody, and gets no automatic answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from ..archive import Archive, reactions, receipts, threads
from ..archive.db import now
from ..channels import Channel, ChannelError, MalformedUpdate
from ..config.sections import HoursConfig
from ..hours import BusinessHours
from ..mail.builder import MailSettings
from ..model import Customer, Incoming, IncomingFile, Message, NewAttachment, OutboxItem
from . import business, changes, flood
from .downloads import Downloads

log = logging.getLogger("im2mail.inbound")

BUSY_WINDOW = 0.02  # seconds after an update during which receiving counts as busy
ALBUM_WAIT = timedelta(seconds=2)  # an album's parts arrive one by one: mail them together
GREETER = "im2mail"  # the author of greetings in the archive
# A platform may report a send as delivered, seen or failed before the relay has recorded
# that send (its answer to the send and the callback cross): the reply is looked for again
# after these seconds before the report is taken for one about no reply of ours.
LOOK_AGAIN_AFTER = (0.5, 1.0, 2.0, 4.0)
STARTED = "▶ started the chat with the bot"  # what /start reads as in the email


@dataclass(frozen=True)
class Taken:
    """What became of one update: messages archived, and what to answer the webhook with."""

    stored: int = 0
    answer: dict | None = None


@dataclass(frozen=True)
class IntakeSettings:
    mail: MailSettings  # Message-IDs are made on mail.address's domain
    greeting: str | None = None
    hours: HoursConfig | None = None  # None: always open, no auto-reply, no quiet hours
    flood_per_minute: int = 0  # relay.flood_per_minute; 0: every message gets its email
    reaction_notices: bool = True  # alerts.reactions: a reaction to a reply, told its author
    reaction_batch: timedelta = reactions.BATCH  # one such notice a batch (tests shorten it)


# What became of a customer's message (Intake._archive)
MAILED = "mailed"  # queued for its own email (or an album's)
FLOODED = "flooded"  # in the conversation's flood digest still to go
NEW_DIGEST = "new-digest"  # the first of a flood digest, whose email it queued
BLOCKED = "blocked"  # the shop blocked the customer: no email
LATE = "late"  # an original that came after its edit: in the message's history, no email


class Intake:
    """Archives what customers send. `mail_queued` wakes the mail outbox; `offload` runs
    each message's archive work off the event loop (the relay: in its archive thread)."""

    def __init__(
        self,
        archive: Archive,
        channels: dict[str, Channel],
        settings: IntakeSettings,
        mail_queued: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = now,
        look_again_after: tuple[float, ...] = LOOK_AGAIN_AFTER,
        offload: Callable[..., Awaitable[Any]] = asyncio.to_thread,
    ) -> None:
        self.archive = archive
        self.offload = offload
        self.look_again_after = look_again_after
        self.channels = channels
        self.settings = settings
        self.mail_queued = mail_queued
        self.hours = BusinessHours(settings.hours)
        self.clock = clock  # when "now" is, for business and quiet hours and floods
        self.downloads = Downloads(archive.blobs)  # customers' files: streamed, bounded
        limit = settings.flood_per_minute
        self.flood = flood.FloodGate(limit, flood.seed(archive, limit))
        self.business = business.BusinessChats(archive, settings.mail, self._fetch,
                                               mail_queued, clock)  # fmt: skip
        self._last_update = -1.0  # time.monotonic() of the latest message that queued an email
        self._rechecks: set[asyncio.Task[None]] = set()  # receipts looked for again
        self.archived = 0  # customers' messages stored since the start (pacing.py reads it)

    def busy(self) -> bool:
        """Whether messages that queue emails are coming in right now: the outbox gives
        way meanwhile, so a burst is stored before its emails are made. A flood's or a
        blocked customer's messages queue none and don't count: during a flood the other
        customers' emails go as usual."""
        return time.monotonic() - self._last_update < BUSY_WINDOW

    async def take(self, bot: str, raw: dict, parsed: list[Incoming] | None = None) -> Taken:
        """Archive one raw update of `bot` (`parsed`: what its channel's parse() made of
        it, when the caller has it already). A malformed or uninteresting update is logged
        and stored nowhere: acknowledging it is right, the platform would otherwise send it
        again forever. Archive errors propagate, so the update is not acknowledged."""
        channel = self.channels[bot]
        try:
            incoming = channel.parse(raw) if parsed is None else parsed
        except MalformedUpdate as e:
            log.warning("%s: malformed update ignored: %s", bot, e.message)
            return Taken()
        if not incoming:
            log.info("%s: update %s of no interest", bot, raw.get("update_id", "?"))
        stored, answer = 0, None
        for item in incoming:
            if item.event == "started":
                answer = await self._started(channel, item) or answer
            else:
                stored += await self._one(channel, item)
        self.archived += stored
        return Taken(stored, answer)

    async def _one(self, channel: Channel, item: Incoming) -> int:
        archive = self.archive
        if item.event in receipts.RECEIPTS:  # repeats are harmless: no dedupe row for each
            if not await asyncio.to_thread(self._receipt, item, False):
                self._look_again(item, self._receipt)
            return 0
        if await self.offload(archive.was_seen, item.dedupe_key):
            log.info("%s: %s seen before, dropped", item.bot, item.dedupe_key)
            return 0
        if item.event in ("blocked", "unblocked"):
            await asyncio.to_thread(self._customer_state, item)
            return 0
        if item.event == "failed":
            if not await asyncio.to_thread(self._failed, item, False):
                self._look_again(item, self._failed)
            return 0
        if business.through_connection(item):
            taken = await self.business.take(channel, item)
            if taken is None:
                return 0
            item = taken
        if item.event == "reaction":
            await asyncio.to_thread(self._reaction, item)
            return 0
        item = await self._named(channel, item)
        if item.edited and (edit := await asyncio.to_thread(self._edit, item)) is not None:
            return edit.stored
        files = [await self._fetch(channel, f) for f in item.files]
        stored, first, how = await self.offload(self._archive, item, files)
        if stored is None:
            return 0
        self._log_stored(item, stored, how)
        if how in (MAILED, NEW_DIGEST):
            self._last_update = time.monotonic()
            self.mail_queued()
        if item.chat_id and how not in (BLOCKED, LATE) and item.via is None:
            await self._answer(channel, item, stored.conversation_id, first)
        return 1

    def _edit(self, item: Incoming) -> changes.Edit | None:
        def quiet(conversation_id: int, blocked: bool) -> bool:
            return blocked or self.flood.flooding(conversation_id, item.created, self.clock())

        done = changes.edit(self.archive, item, self.settings.mail, quiet)
        if done is not None and done.mailed:
            self._last_update = time.monotonic()
            self.mail_queued()
        return done

    def _reaction(self, item: Incoming) -> None:
        notices = self.settings.reaction_notices
        if changes.reaction(self.archive, item, self.settings.mail, notices=notices,
                            at=self.clock(), batch=self.settings.reaction_batch):  # fmt: skip
            self.mail_queued()  # due in a minute: the outbox learns when

    def _log_stored(self, item: Incoming, stored: Message, how: str) -> None:
        who, conversation = item.customer.display_name, stored.conversation_id
        if how == MAILED:
            log.info("%s: message %d from %s archived (conversation %d)",
                     item.bot, stored.id, who, conversation)  # fmt: skip
        elif how == LATE:
            return  # changes.py said it
        elif how == NEW_DIGEST:
            log.warning("%s: %s writes more than %d messages a minute (conversation %d): "
                        "message %d and what follows go in one digest email a minute",
                        item.bot, who, self.settings.flood_per_minute, conversation,
                        stored.id)  # fmt: skip
        else:  # one line each at DEBUG: a flood must not flood the log too
            log.debug("%s: message %d from %s archived (conversation %d), %s",
                      item.bot, stored.id, who, conversation,
                      "in the flood digest" if how == FLOODED else "blocked: no email")  # fmt: skip

    async def _named(self, channel: Channel, item: Incoming) -> Incoming:
        """A platform that sends no name with a message (Messenger) is asked once per
        customer (channel.describe); the archive's name is used after that. No answer:
        the message goes on unnamed ("Customer <id>") rather than waiting."""
        given = item.customer
        describe = channel.describe
        if describe is None or given.first_name or given.last_name or given.username:
            return item
        known = await asyncio.to_thread(
            receipts.known_customer, self.archive, given.channel, given.external_id
        )
        if known is not None and (known.first_name or known.last_name or known.username):
            named = replace(given, first_name=known.first_name, last_name=known.last_name,
                            username=known.username)  # fmt: skip
            return replace(item, customer=named)
        try:
            return replace(item, customer=await describe(given))
        except ChannelError as e:
            log.warning("%s: no name for %s: %s", item.bot, given.external_id, e.message)
            return item

    def _customer_state(self, item: Incoming) -> None:
        customer = self._customer(item)
        if customer.id is not None:
            self.archive.set_customer_blocked(customer.id, item.event == "blocked")
        self.archive.mark_seen(item.dedupe_key)
        log.info("%s: %s %s the bot", item.bot, customer.display_name, item.event)

    def _customer(self, item: Incoming) -> Customer:
        """The customer, archived; a callback that names only their id (Viber's
        unsubscribed) leaves what the archive knows of them as it is."""
        given = item.customer
        if not (given.first_name or given.last_name or given.username):
            known = receipts.known_customer(self.archive, given.channel, given.external_id)
            if known is not None:
                return known
        return self.archive.upsert_customer(given)

    def _receipt(self, item: Incoming, last_look: bool = True) -> bool:
        """Whether the message the receipt names was found (and marked)."""
        if item.event is None:
            return True
        if item.channel_message_id is None:  # by watermark: all sent up to its time
            receipts.mark_until(self.archive, item.bot, item.customer, item.event, item.created)
            return True
        return receipts.mark(self.archive, item.bot, item.customer, item.channel_message_id,
                             item.event, item.created) is not None  # fmt: skip

    def _look_again(self, item: Incoming, look: Callable[[Incoming, bool], bool]) -> None:
        """`look` (a receipt's or a failure's) tried again later (LOOK_AGAIN_AFTER): the
        send it names may not be recorded yet."""
        if item.channel_message_id is None:
            return
        again = asyncio.ensure_future(self._again(item, look))
        self._rechecks.add(again)
        again.add_done_callback(self._rechecks.discard)

    async def _again(self, item: Incoming, look: Callable[[Incoming, bool], bool]) -> None:
        for n, delay in enumerate(self.look_again_after, 1):
            await asyncio.sleep(delay)
            if await asyncio.to_thread(look, item, n == len(self.look_again_after)):
                return

    async def rechecked(self) -> None:
        """Wait for the receipts being looked for again (LOOK_AGAIN_AFTER)."""
        await asyncio.gather(*self._rechecks)

    def _failed(self, item: Incoming, last_look: bool = True) -> bool:
        """Whether the failed message was found (its author told, once); when not, and this
        is the `last_look`, the log says so."""
        reason = item.text.strip() or "the platform gave no reason"
        notice_id = self.settings.mail.new_message_id()
        found = None
        if item.channel_message_id is not None:
            found = receipts.failed(
                self.archive, item.bot, item.customer, item.channel_message_id, reason,
                notice_id, item.dedupe_key,
            )  # fmt: skip
        if found is None:
            if last_look:
                log.warning("%s: message %s not delivered (%s); no reply of ours to tell about",
                            item.bot, item.channel_message_id, reason)  # fmt: skip
            return False
        log.error("%s: reply %d not delivered: %s; telling its author", item.bot, found, reason)
        self.mail_queued()
        return True

    async def _started(self, channel: Channel, item: Incoming) -> dict | None:
        """Viber's conversation_started: the customer opened the chat (perhaps from a link
        that names the lead source). Nothing to mail yet; a customer who has not written
        before gets the greeting as the answer, and the archive keeps it."""
        greeting = self.settings.greeting
        if greeting and self.hours.is_quiet(self.clock()):
            log.info("%s: quiet hours, no greeting for %s", item.bot, item.customer.display_name)
            greeting = None
        welcome = channel.welcome

        def store() -> bool:
            customer = self.archive.upsert_customer(item.customer)
            conversation = self.archive.conversation_for(customer, item.bot)
            if not greeting or welcome is None:
                self.archive.mark_seen(item.dedupe_key)
                return False
            if threads.has_written(self.archive, conversation.id):
                return False  # they wrote before: they are subscribed, no welcome needed
            message = Message(conversation.id, "out", GREETER, greeting, now(), sent=now())
            # A repeated callback (our first answer was lost) gets the welcome again, but
            # the archive keeps it once.
            self.archive.add_message(message, dedupe_key=item.dedupe_key)
            return True

        greet = await asyncio.to_thread(store)
        log.info("%s: %s opened the chat%s", item.bot, item.customer.display_name,
                 f" (source: {item.customer.source})" if item.customer.source else "")  # fmt: skip
        return welcome(greeting) if greet and welcome is not None else None

    async def _fetch(self, channel: Channel, file: IncomingFile) -> NewAttachment:
        """The file streamed into the blob store, or known by name and size when it can't
        be had (downloads.py). A failure that may pass is raised: the platform may hand
        the file out later, and a retry of the update gets it then."""
        return await self.downloads.fetch(channel, file, channel.download_limit)

    def _archive(
        self, item: Incoming, files: list[NewAttachment]
    ) -> tuple[Message | None, bool, str]:
        archive = self.archive
        customer = archive.upsert_customer(item.customer)
        conversation = archive.conversation_for(customer, item.bot)
        if (late := changes.late_original(archive, conversation.id, item)) is not None:
            return late, False, LATE
        first = threads.is_new(archive, conversation.id)
        message = Message(
            conversation_id=conversation.id,
            direction="in",
            author=customer.display_name,
            text=STARTED if item.start else item.text,
            created=item.created,
            kind=item.kind,
            channel_message_id=item.channel_message_id,
            raw=item.raw,
            edited=item.edited,
            group=item.group,
        )
        at = self.clock()
        flooding = self.flood.flooding(conversation.id, item.created, at)
        if customer.blocked_by_shop:
            return archive.add_message(message, files, dedupe_key=item.dedupe_key), first, BLOCKED
        if flooding:
            done = flood.store(archive, message, files, dedupe_key=item.dedupe_key, at=at,
                               mail=self.settings.mail)  # fmt: skip
            if done is None:
                return None, first, FLOODED
            self.flood.digest_queued(conversation.id, done.due)
            return done.message, first, NEW_DIGEST if done.new else FLOODED
        email_id = None
        if item.group:
            email_id = threads.pending_album_email(archive, conversation.id, item.group)
        outbox = []
        if email_id is None:
            email_id = self.settings.mail.new_message_id()
            wait = ALBUM_WAIT if item.group else timedelta(0)
            outbox.append(OutboxItem("mail", email_message_id=email_id, next_try=now() + wait))
        message = replace(message, email_message_id=email_id)
        stored = archive.add_message(message, files, outbox=outbox, dedupe_key=item.dedupe_key)
        return stored, first, MAILED

    async def _answer(
        self, channel: Channel, item: Incoming, conversation_id: int, first: bool
    ) -> None:
        """The automatic answers to a customer's message: the greeting on first contact,
        the auto-reply while closed. One message when both are due, so a customer writing at
        night is not met by two bot messages in a row; nothing in quiet hours."""
        at = self.clock()
        greeting = self.settings.greeting if first else None
        closed_key = self._closed_key(conversation_id, at)
        if closed_key and await asyncio.to_thread(self.archive.was_seen, closed_key):
            closed_key = None  # answered already in this closed period
        if not (greeting or closed_key):
            return
        if self.hours.is_quiet(at):
            log.info("%s: quiet hours, no automatic answer to %s", item.bot, item.chat_id)
            return  # not marked: a message after the quiet hours still gets the auto-reply
        auto_reply = self.settings.hours.auto_reply if closed_key and self.settings.hours else None
        text = "\n\n".join(t for t in (greeting, auto_reply) if t)
        await self._send_auto(channel, item, conversation_id, text, closed_key)

    def _closed_key(self, conversation_id: int, at: datetime) -> str | None:
        """The dedupe key of "auto-reply sent in this conversation for this closed period",
        None when open or when there is no auto-reply to send. Kept in the seen table, so a
        restart of the relay does not send it again."""
        hours = self.settings.hours
        if hours is None or not hours.auto_reply:
            return None
        since = self.hours.closed_since(at)
        if since is None:
            return None
        return f"auto-reply:{conversation_id}:{since.isoformat()}"

    async def _send_auto(
        self, channel: Channel, item: Incoming, conversation_id: int, text: str, key: str | None
    ) -> None:
        try:
            ids = await channel.send_text(item.chat_id or "", text)
        except ChannelError as e:
            log.warning("%s: automatic answer to %s not sent: %s", item.bot, item.chat_id,
                        e.message)  # fmt: skip
            return  # not marked: the next message tries again
        message = Message(
            conversation_id, "out", GREETER, text, now(),
            channel_message_id=ids[0] if ids else None, sent=now(),
        )  # fmt: skip
        await asyncio.to_thread(self.archive.add_message, message, dedupe_key=key)
        what = "auto-reply" if key else "greeting"
        log.info("%s: %s sent to %s (conversation %d)", item.bot, what, item.chat_id,
                 conversation_id)  # fmt: skip
