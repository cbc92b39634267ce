"""Accounts connected to a bot (Telegram Business): the shop owner connects the bot to
their personal account, and the chats people have with that account are relayed like
chats with the bot, with replies going out as the account.

What `BusinessChats.take` does with what the channel parsed (intake.py hands it every
Incoming that came through a connection):
- a connection update (connected, disconnected, rights changed): kept in the archive
  (archive/business.py) and logged; `status` and `bot list` show it.
- a message of a chat through a connection im2mail knows and that is enabled: the person
  is a customer of their own (archive/business.chat_customer) and the message goes on to
  the intake's usual way (archived, mailed to the managers), without greeting or
  auto-reply: the account is a person's, not the bot's.
- the owner's own message, written on their phone: archived as an answer to the customer
  (out, by the owner); the managers get the team notice a colleague's reply gets, so that
  nobody answers again unknowingly.
- messages the platform reports deleted: marked in the archive, never erased, and the
  managers told in the conversation's thread.
- anything through a connection that is disabled (the owner disconnected the bot) is
  logged and dropped: the owner took the bot out of their private chats, and expects
  the shop's mailbox and archive to stop getting them. A connection im2mail has not heard
  of is asked of the platform first (the connection update may have come before this
  version of im2mail, or was lost).

`sender` is the chat outbox's side: how a conversation's replies go (through which
connection, into which chat), refusing before anything is sent while the connection is
disabled or lacks the right to reply.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime

from ..archive import Archive, business
from ..archive.db import now
from ..channels import Channel, Rejected, Step
from ..mail.builder import MailSettings
from ..model import (
    TEAM,
    Connection,
    Conversation,
    Incoming,
    IncomingFile,
    Message,
    NewAttachment,
    OutboxItem,
)

log = logging.getLogger("im2mail.business")

Fetch = Callable[[Channel, IncomingFile], Awaitable[NewAttachment]]
Send = Callable[[str, Step], Awaitable[list[str]]]


class NotSent(Exception):
    """A reply that may not go through its connection now; `reason` goes to its author."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def through_connection(item: Incoming) -> bool:
    """Whether the intake hands `item` to BusinessChats.take."""
    return item.via is not None or item.event == "connection"


class BusinessChats:
    """The intake's part for connected accounts; `mail_queued` wakes the mail outbox."""

    def __init__(
        self,
        archive: Archive,
        mail: MailSettings,
        fetch: Fetch,
        mail_queued: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = now,
    ) -> None:
        self.archive = archive
        self.mail = mail
        self.fetch = fetch
        self.mail_queued = mail_queued
        self.clock = clock

    async def take(self, channel: Channel, item: Incoming) -> Incoming | None:
        """`item` for the intake's usual way (its customer the one of the account's
        chat), or None when it was handled here (or dropped) and nothing more is to do."""
        if item.event == "connection":
            await asyncio.to_thread(self._connection, item)
            return None
        connection = await self._known(channel, item)
        if connection is None:
            return None
        if item.event == "deleted":
            await asyncio.to_thread(self._deleted, connection, item)
            return None
        chat = item.chat_id or item.customer.external_id
        customer = await asyncio.to_thread(
            business.chat_customer, self.archive, connection, item.customer, chat
        )
        item = replace(item, customer=customer)
        if item.author is not None:
            await self._owners(channel, connection, item)
            return None
        return item

    # -- connections ---------------------------------------------------------------------------

    def _connection(self, item: Incoming) -> None:
        if item.connection is not None:
            self._record(item.connection)
        self.archive.mark_seen(item.dedupe_key)

    def _record(self, connection: Connection) -> Connection | None:
        stored = business.record(self.archive, connection, self.clock())
        if stored is None:
            return None
        rights = ""
        if stored.enabled and "reply" not in stored.change:
            rights = " (can reply)" if stored.can_reply else " (cannot reply)"
        line = "%s: business account %s (%s): %s%s"
        args = (stored.bot, stored.label, stored.owner_id, stored.change, rights)
        if not stored.enabled or "removed" in stored.change:
            log.warning(line, *args)
        else:
            log.info(line, *args)
        return stored

    async def _known(self, channel: Channel, item: Incoming) -> Connection | None:
        """The enabled connection the item came through; None (logged, the update marked
        done) when there is none. A connection im2mail never heard of is asked of the
        platform; a failure that may pass is raised (the update comes again)."""
        via = item.via or ""
        found = await asyncio.to_thread(business.by_id, self.archive, item.bot, via)
        if found is None and channel.connection is not None:
            try:
                learned = await channel.connection(via)
            except Rejected as e:
                log.warning("%s: business connection %s is unknown to the platform (%s)",
                            item.bot, via, e.reason)  # fmt: skip
            else:
                await asyncio.to_thread(self._record, learned)
                found = await asyncio.to_thread(business.by_id, self.archive, item.bot, via)
        what = "deleted messages" if item.event == "deleted" else "a message"
        if found is None:
            log.warning("%s: %s through the unknown business connection %s, not archived",
                        item.bot, what, via)  # fmt: skip
        elif not found.enabled:
            log.warning("%s: %s through the connection of %s, who has disconnected the bot: "
                        "not archived", item.bot, what, found.label)  # fmt: skip
            found = None
        if found is None:
            await asyncio.to_thread(self.archive.mark_seen, item.dedupe_key)
        return found

    # -- the account's chats -------------------------------------------------------------------

    async def _owners(self, channel: Channel, connection: Connection, item: Incoming) -> None:
        """The owner wrote to the customer from their own phone: an answer, archived as the
        owner's; the managers get the team notice (not for an edit: the first version's
        notice told them)."""
        files = [await self.fetch(channel, f) for f in item.files]

        def store() -> Message | None:
            conversation = self.archive.conversation_for(item.customer, item.bot)
            message = Message(
                conversation.id, "out", item.author or connection.label, item.text,
                item.created, kind=item.kind, channel_message_id=item.channel_message_id,
                sent=item.created, raw=item.raw, edited=item.edited, group=item.group,
            )  # fmt: skip
            outbox = []
            if self.mail.managers and not item.edited:
                notice = self.mail.new_message_id()
                note = ",".join(self.mail.managers)
                outbox.append(OutboxItem("mail", email_message_id=notice, kind=TEAM, note=note))
            return self.archive.add_message(
                message, files, outbox=outbox, dedupe_key=item.dedupe_key
            )

        stored = await asyncio.to_thread(store)
        if stored is None:
            return
        log.info("%s: %s wrote to %s from their own account (message %d, conversation %d)",
                 item.bot, connection.label, item.customer.display_name, stored.id,
                 stored.conversation_id)  # fmt: skip
        if not item.edited:
            self.mail_queued()

    def _deleted(self, connection: Connection, item: Incoming) -> None:
        notice = self.mail.new_message_id() if self.mail.managers else None
        found = business.mark_deleted(
            self.archive, connection, item.customer, item.message_ids, self.clock(),
            dedupe_key=item.dedupe_key, notice_id=notice,
        )  # fmt: skip
        if not found:
            log.info("%s: %d message(s) deleted in %s's chat with %s; none of them archived",
                     item.bot, len(item.message_ids), connection.label,
                     item.customer.display_name)  # fmt: skip
            return
        log.info("%s: %d message(s) deleted in %s's chat with %s: marked (conversation %d)",
                 item.bot, len(found), connection.label, item.customer.display_name,
                 found[0].conversation_id)  # fmt: skip
        if notice is not None:
            self.mail_queued()


async def sender(
    archive: Archive, channel: Channel, conversation: Conversation
) -> tuple[str, Send, str | None]:
    """Where a reply in `conversation` goes, how each step is sent and through which
    connection (None: the customer's chat with the bot); for a connected account's chat,
    through its connection. NotSent when the connection may not be used now: nothing at all
    is sent then."""
    found = await asyncio.to_thread(business.route, archive, conversation.id)
    if found is None:
        return conversation.customer.external_id, channel.send_step, None
    name = conversation.customer.display_name
    connection = found.connection
    send_via = getattr(channel, "send_via", None)
    if connection is None or send_via is None:
        raise NotSent(
            f"this chat is with an account connected to bot '{conversation.bot}', and "
            "im2mail no longer knows that connection, so nothing was sent"
        )
    why = connection.refusal
    if why is not None:
        raise NotSent(
            f"{why}, so nothing was sent to {name}. Answer them from that account yourself, "
            "or have its owner connect the bot again, with the right to reply (README: "
            "business chats)"
        )
    via = connection.id
    return found.chat_id, lambda chat, step: send_via(via, chat, step), via
