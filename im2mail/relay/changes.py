"""What customers change after the fact: edits of their messages and reactions to the
shop's, as the intake (intake.py) archives them. Called in the intake's worker threads.

An edit of a message in the archive becomes its new text; the earlier one is kept
(archive/edits.py) and the managers get an email in the conversation's thread showing
both (outbox kind EDITED), unless the shop blocked the customer or they are flooding
(relay.flood_per_minute counts edits too): then the archive alone has it. An edit of a
message the archive never had (sent before im2mail ran, or its update lost) is not
found here: the intake archives and mails it as a message of its own, marked edited, as
the managers have never seen it. An original that comes after its edit joins the history.

A reaction is archived on the message it names (archive/reactions.py); one to a manager's
reply gets its author a short notice, at most one a minute per conversation, unless
alerts.reactions is false. A reaction to a message the archive doesn't know (sent
before im2mail, or the part of a long reply after its first message) is logged and
dropped: there is nothing to attach it to.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..archive import Archive, edits, reactions
from ..mail.builder import MailSettings
from ..model import EDITED, REACTED, Incoming, Message, OutboxItem

log = logging.getLogger("im2mail.inbound")


@dataclass(frozen=True)
class Edit:
    """What an edit came to: `stored` messages (0 or 1), and whether an email was queued."""

    stored: int
    mailed: bool


def edit(
    archive: Archive,
    item: Incoming,
    mail: MailSettings,
    quiet: Callable[[int, bool], bool],
) -> Edit | None:
    """An edit (item.edited) of the customer's message item.channel_message_id, as a new
    version of it; None when the archive has no such message (the caller archives the
    edit as a message of its own). `quiet(conversation id, blocked by the shop)`: whether
    it goes without an email."""
    if item.channel_message_id is None:
        return None
    customer = archive.upsert_customer(item.customer)
    conversation = archive.conversation_for(customer, item.bot)
    silent = quiet(conversation.id, customer.blocked_by_shop is not None)
    notice = None if silent else OutboxItem("mail", email_message_id=mail.new_message_id(),
                                            kind=EDITED)  # fmt: skip
    done = edits.add_version(
        archive, conversation.id, item.channel_message_id, item.text, item.created,
        dedupe_key=item.dedupe_key, outbox=notice,
    )  # fmt: skip
    if done is None:
        log.info("%s: %s edited message %s, which the archive doesn't have: archived as a "
                 "message of its own", item.bot, customer.display_name,
                 item.channel_message_id)  # fmt: skip
        return None
    who, number = customer.display_name, done.message.id
    if done.how == edits.SAME:
        log.info("%s: edit of message %d from %s changes nothing", item.bot, number, who)
        return Edit(0, False)
    if done.how == edits.OLDER:
        log.info("%s: an earlier version of message %d from %s came late: kept in its history",
                 item.bot, number, who)  # fmt: skip
        return Edit(1, False)
    mailed = notice is not None
    log.info("%s: %s edited message %d (conversation %d)%s", item.bot, who, number,
             conversation.id, "" if mailed else ": no email")  # fmt: skip
    return Edit(1, mailed)


def late_original(archive: Archive, conversation_id: int, item: Incoming) -> Message | None:
    """The archived message whose edit came before `item`, its original (which is in that
    message's history now: nothing more is to be done); None when `item` is no such one."""
    if item.channel_message_id is None or item.edited or item.start:
        return None
    done = edits.add_version(
        archive, conversation_id, item.channel_message_id, item.text, item.created,
        dedupe_key=item.dedupe_key, original=True,
    )  # fmt: skip
    if done is None:
        return None
    log.info("%s: message %s came after its edit: kept in the history of message %d",
             item.bot, item.channel_message_id, done.message.id)  # fmt: skip
    return done.message


def reaction(
    archive: Archive,
    item: Incoming,
    mail: MailSettings,
    *,
    notices: bool,
    at: datetime,
    batch: timedelta = reactions.BATCH,
) -> bool:
    """The customer's reactions on message item.channel_message_id are now item.reactions;
    whether a notice to a manager was queued (`notices`: alerts.reactions; one a `batch`)."""
    if item.channel_message_id is None:
        return False
    notice = OutboxItem("mail", email_message_id=mail.new_message_id(), kind=REACTED)
    done = reactions.customer_reacted(
        archive, item.bot, item.customer, item.channel_message_id, item.reactions, at,
        dedupe_key=item.dedupe_key, managers=mail.managers, notice=notice if notices else None,
        batch=batch,
    )  # fmt: skip
    who, what = item.customer.display_name, " ".join(item.reactions) or "no reaction"
    if done is None:
        log.info("%s: %s reacted to message %s, which the archive doesn't know: dropped",
                 item.bot, who, item.channel_message_id)  # fmt: skip
        return False
    log.info("%s: %s reacted to message %d: now %s%s", item.bot, who, done.message.id, what,
             f" (telling {done.noticed} within a minute)" if done.noticed else "")  # fmt: skip
    return done.noticed is not None
