"""The shop blocks a customer: `im2mail block ID` / `im2mail unblock ID`, or a manager's
reply of only /block (/unblock) to an email about the conversation.

A blocked customer's messages are archived as ever (and acknowledged to the platform only
once stored), but mailed to nobody: no email, no flood digest, no greeting or auto-reply,
no "unanswered" reminder, and the daily digest and `stats` don't count them as waiting.
`conversations` and `status` show who is blocked, by whom and since when. The block is on
the customer, so all their conversations (one per bot) are blocked; it is kept in
customers.blocked_by_shop(_at), apart from customers.blocked, which is the platform's
news that the customer blocked the bot. Unblocking resumes the emails for new messages;
what came meanwhile stays in the archive and is not mailed after the fact.

A /block reply sends nothing to the customer. Instead the managers, all of them, get a
notice in the conversation's thread saying who blocked whom and how to undo it: a block
silences the customer for the whole team, so everyone should know, and anyone can undo it
by replying /unblock. The reply's dedupe key is recorded in the same transaction as the
block and the notice, so reading the email again changes nothing.
"""

from __future__ import annotations

import re
from datetime import datetime

from ..archive import Archive, blocks
from ..mail.builder import MailSettings
from ..model import Conversation, OutboxItem

COMMAND_LINE = "im2mail block"  # who blocked, when it was done on the command line
BLOCK_NOTICE = "blocked"  # outbox kind: to the managers, a manager blocked the customer
UNBLOCK_NOTICE = "unblocked"  # ... unblocked them (note of both: "<manager> [<Message-ID>]")
_COMMAND = re.compile(r"\A\s*/(block|unblock)\s*\Z", re.IGNORECASE)


def command(text: str) -> str | None:
    """The command ("block" or "unblock") when `text` (a reply's own words) is only that command."""
    m = _COMMAND.match(text)
    return m[1].lower() if m else None


def set_blocked(
    archive: Archive, conversation_id: int, blocked: bool, *, by: str, at: datetime
) -> tuple[Conversation, bool]:
    """Block (blocked=True) or unblock the customer of the conversation; the conversation
    afterwards, and whether that changed anything (False: it was so already). NotFound
    (exit 5) for an unknown conversation."""
    conversation = archive.conversation(conversation_id)
    changed = blocks.set_blocked(archive, conversation.customer.id, blocked, by=by, at=at)
    return archive.conversation(conversation_id), changed


def from_reply(
    archive: Archive,
    conversation: Conversation,
    what: str,
    *,
    by: str,
    email_id: str | None,
    dedupe_key: str,
    mail: MailSettings,
    at: datetime,
) -> bool:
    """Do what a manager's reply of only /block or /unblock (`what`) asks, and queue the
    notice to the managers, in one transaction with the reply's dedupe key. False when
    that reply was handled before (nothing changes)."""
    kind = BLOCK_NOTICE if what == "block" else UNBLOCK_NOTICE
    note = f"{by} {email_id or ''}".strip()
    notice = OutboxItem("mail", email_message_id=mail.new_message_id(), kind=kind, note=note)
    return blocks.from_reply(
        archive,
        conversation.id,
        conversation.customer.id,
        what == "block",
        by=by,
        at=at,
        dedupe_key=dedupe_key,
        notice=notice,
    )
