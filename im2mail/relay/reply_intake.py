"""Manager → archive: what the relay does with one email in the watched mailbox folder.

The IMAP watcher hands each new email to ReplyIntake.handle (in the watcher's thread). An
email that is a manager's reply to a conversation (mail/routing.py decides, and refuses
auto-replies, loops, strangers and forged tokens) is cut to the manager's own words
(mail/replies.py) and archived as an outgoing message, together with its delivery to the
customer (an outbox row, target 'channel') in one transaction. Only then does handle
answer "done", and the watcher moves the email away: a crash before that leaves it in the
folder to be read again, and the `reply:<Message-ID>` dedupe key keeps a second reading
from sending it twice.

Anything else answers "ignore": the email stays where it is, unread, and a line in the log
says why. A reply with nothing of its own to send (empty, only a quote) is archived with
a notice back to its author instead of a delivery.

A reply in a manager's name that the shop's mail server did not authenticate (kind
"unverified", only with mail.authserv_id set) is not archived either, but the manager it
names (an address in managers, never the email's own From) gets a notice in the thread,
at most one an hour (`unverified:<manager>:<hour>` in the archive's seen table, with the
outbox row): a real manager whose mail setup fails learns why the customer heard nothing,
and an impostor's flood costs the manager one email an hour.

A reply that is only `/t NAME` is a quick reply: the customer gets the [templates] text
NAME (with the reply's files), and the archive keeps that text. An unknown NAME sends
nothing and gets the same kind of notice, listing the templates there are.

A reply that is only /block (or /unblock) blocks the customer (blocking.py): nothing goes
to them, and the managers get a notice.

A reply about a customer linked to others (one person across channels, archive/people.py)
is archived in, and sent to, the person's conversation the customer last wrote in; a
first line `/via NAME` chooses the channel (via.py). A NAME the person can't be reached on
sends nothing: the manager gets the not-sent notice, saying where they can be reached.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, timedelta

from ..archive import Archive, people, threads
from ..archive.db import now
from ..archive.tokens import Retired
from ..mail import routing
from ..mail.builder import MailSettings
from ..mail.replies import Reply, extract
from ..mail.reply import signatures
from ..model import (
    COLLEAGUE,
    NOT_SENT,
    UNVERIFIED,
    Conversation,
    Message,
    NewAttachment,
    OutboxItem,
)
from . import blocking, quick_replies, transcripts, via

log = logging.getLogger("im2mail.replies")

COLLEAGUE_WINDOW = timedelta(minutes=10)  # two answers this close: tell the second manager
NOTHING_TO_SEND = (
    "your email had no text of its own (only quoted text or a signature) and no files, "
    "so nothing was sent; write your answer above the quoted text and send it again"
)


@dataclass(frozen=True)
class ReplySettings:
    mail: MailSettings  # mail.address, the managers
    colleague_window: timedelta = COLLEAGUE_WINDOW
    templates: tuple[tuple[str, str], ...] = ()  # quick replies: [templates] name = text
    authserv_id: str | None = None  # mail.authserv_id: whose Authentication-Results count
    # relay.public_url: its conversation pages (/c/…) are for managers, never a customer
    public_url: str | None = None


class ReplyIntake:
    """Archives managers' replies. `delivery_queued` wakes the chat outbox and
    `mail_queued` the mail outbox; both are callable from any thread. `sent_texts`
    gives the text of our emails a reply answers (conversation id, the reply's
    In-Reply-To and References ids): Mailer.sent_texts."""

    def __init__(
        self,
        archive: Archive,
        settings: ReplySettings,
        delivery_queued: Callable[[], None] = lambda: None,
        mail_queued: Callable[[], None] = lambda: None,
        *,
        sent_texts: Callable[[int, list[str]], list[str]] = lambda conversation, ids: [],
        own_texts: Callable[[int, list[str]], list[str]] = lambda conversation, ids: [],
    ) -> None:
        self.archive = archive
        self.settings = settings
        self.delivery_queued = delivery_queued
        self.mail_queued = mail_queued
        self.sent_texts = sent_texts
        self.own_texts = own_texts

    def handle(self, uid: int, raw: bytes) -> str:
        """ "done" when the email was a reply and is archived (with its delivery or a
        notice); "ignore" otherwise. Archive errors propagate: the email stays for later."""
        try:
            email = routing.parse(raw)
        except Exception as e:  # the parser is lenient: this is rare and never worth a crash
            log.warning("IMAP UID %s: not an email I can read (%s); left alone", uid, e)
            return "ignore"
        retired: list[Retired] = []  # what the route's lookups found retired
        verdict = self._route(email, retired)
        if isinstance(verdict, routing.Refused) and verdict.kind == "retired-token" and retired:
            return self._refuse_retired(uid, verdict, retired[-1], raw)
        if isinstance(verdict, routing.Refused):
            level = logging.INFO if verdict.kind == "not-a-reply" else logging.WARNING
            log.log(level, "IMAP UID %s left alone: %s", uid, verdict.reason)
            if verdict.kind == "unverified":
                self._tell_unverified(verdict)
            return "ignore"
        conversation = self.archive.conversation(verdict.conversation_id)
        try:
            ids = routing.referenced_ids(email)
            sent = self.sent_texts(conversation.id, ids)
            own = self.own_texts(conversation.id, ids)
            signature = signatures.learn(threads.recent_replies(self.archive, verdict.sender))
            if signature is None:  # a first reply: a block ending two colleagues' replies
                colleagues = threads.colleagues_replies(self.archive, verdict.sender)
                signature = signatures.shared(colleagues)  # (a footer the server adds)
            reply = extract(email, sent, signature, own)
        except Exception as e:  # broken MIME beyond what the email package mends
            log.warning("IMAP UID %s from %s: cannot read the reply (%s); left alone",
                        uid, verdict.sender, e)  # fmt: skip
            return "ignore"
        what = None if reply.quoted_only else blocking.command(reply.text)
        if what is not None:
            self._block(verdict, conversation, what, raw)
            return "done"
        stored = self._archive(verdict, conversation, reply, raw)
        if stored is None:
            log.info("IMAP UID %s: reply %s was handled before", uid, verdict.message_id)
        return "done"

    def _route(
        self, email: routing.Email, retired: list[Retired]
    ) -> routing.Routed | routing.Refused:
        archive = self.archive

        def seen(found: Retired | None) -> int | None:
            if found is None:
                return None
            retired.append(found)
            return found.conversation_id

        def by_token(token: str) -> int | None:
            found = archive.conversation_by_token(token)
            return found.id if found else None

        def by_email_id(message_id: str) -> int | None:
            found = archive.conversation_by_email_id(message_id)
            return found.id if found else None

        return routing.route(
            email,
            mailbox=self.settings.mail.mailbox,
            managers=self.settings.mail.managers,
            by_token=by_token,
            by_email_id=by_email_id,
            own_message_id=lambda mid: threads.sent_by_us(archive, mid),
            retired_token=lambda token: seen(archive.tokens.retired(token)),
            retired_email_id=lambda mid: seen(archive.tokens.retired_email(mid)),
            authserv_id=self.settings.authserv_id,
        )

    def _refuse_retired(self, uid: int, verdict: routing.Refused, old: Retired, raw: bytes) -> str:
        """A manager answered an email whose reply address has since been changed: nothing
        goes to the customer; the manager gets a notice in the thread saying why and what
        to do, once (the email is then handled, like a reply)."""
        was, managers = verdict.retired, self.settings.mail.managers
        if was is None or was.sender not in {m.strip().lower() for m in managers}:
            log.warning("IMAP UID %s left alone: %s", uid, verdict.reason)  # never backscatter
            return "ignore"
        key = was.message_id or hashlib.sha256(raw).hexdigest()
        message = Message(
            conversation_id=old.conversation_id,
            direction="out",
            author=was.sender,
            text="",
            created=now(),
            email_message_id=was.message_id or self.settings.mail.new_message_id(),
            raw={"from": was.sender, "from_name": was.sender_name,
                 "message_id": was.message_id or None, "via": was.via,
                 "refused": "retired-token"},
        )  # fmt: skip
        notice = _notice(NOT_SENT, self.settings.mail, retired_note(old))
        stored = self.archive.add_message(message, outbox=[notice], dedupe_key=f"reply:{key}")
        if stored is None:
            log.info("IMAP UID %s: reply %s was handled before", uid, was.message_id)
            return "done"
        log.warning("IMAP UID %s from %s not sent: %s (retired %s: %s); telling the manager",
                    uid, was.sender, verdict.reason, old.when.isoformat(timespec="minutes"),
                    old.reason)  # fmt: skip
        self.mail_queued()
        return "done"

    def _tell_unverified(self, verdict: routing.Refused) -> None:
        """The notice of the module's docstring; `verdict.sender` is a configured manager."""
        if verdict.conversation_id is None or not verdict.sender:
            return
        hour = now().astimezone(UTC).strftime("%Y-%m-%dT%H")
        why = verdict.reason.partition(": ")[2] or verdict.reason
        item = _notice(UNVERIFIED, self.settings.mail, f"{verdict.sender} {why}")
        key = f"unverified:{verdict.sender}:{hour}"
        if threads.notice_once(self.archive, verdict.conversation_id, key, item):
            log.info("told %s that an email in their name was not relayed (conversation %d)",
                     verdict.sender, verdict.conversation_id)  # fmt: skip
            self.mail_queued()

    def _archive(
        self, routed: routing.Routed, conversation: Conversation, reply: Reply, raw: bytes
    ) -> Message | None:
        mail = self.settings.mail
        email_id = routed.message_id or mail.new_message_id()
        # Without a Message-ID, the bytes tell a second reading of the same email apart.
        key = routed.message_id or hashlib.sha256(raw).hexdigest()
        files = [NewAttachment(name, mime, data) for name, mime, data in reply.attachments]
        # quoted text only (nothing of the manager's own found): never sent, files or not
        chosen = via.Via(None, "") if reply.quoted_only else via.split(reply.text)
        target = people.reply_target(self.archive, conversation.id, chosen.name)
        text, problem, quick = self._expand(reply, chosen.text)
        if target is None:  # /via a channel the person has no conversation on
            assert chosen.name is not None
            others = people.conversations_of(self.archive, conversation.id)
            problem, target = via.not_there(chosen.name, others), conversation
        if reply.broken:  # never a part's raw encoding, nor the rest of the reply without it
            problem = broken_note(reply.broken)
        elif reply.unreadable:  # encrypted, opaque-signed: not a word nor a file goes
            problem = unreadable_note(reply.unreadable)
        elif reply.doubt and not quick:
            problem = doubt_note(reply.text)
        elif transcripts.linked_in(text, self.settings.public_url):
            problem = PAGE_LINK
        if problem:
            files = []  # a mistyped quick reply sends nothing, so the manager can redo it whole
        empty = bool(problem) or (not files and (reply.quoted_only or not text.strip()))
        when = now()
        outbox: list[OutboxItem] = []
        if empty:
            outbox.append(_notice(NOT_SENT, mail, problem or NOTHING_TO_SEND))
        else:
            outbox.append(OutboxItem("channel"))
            since = when - self.settings.colleague_window
            earlier = threads.colleague_answer(self.archive, target.id, routed.sender, since)
            if earlier is not None:
                note = f"{earlier.author} {earlier.created.isoformat()}"
                outbox.append(_notice(COLLEAGUE, mail, note))
        message = Message(
            conversation_id=target.id,  # a linked customer: where they last wrote, or /via
            direction="out",
            author=routed.sender,
            text="" if empty else text,
            created=when,
            kind=_kind(text if not empty else "", files),
            email_message_id=email_id,
            raw={
                "from": routed.sender,
                "from_name": routed.sender_name,
                "message_id": routed.message_id or None,
                "via": routed.via,
                "html_only": reply.html_only,
                "quoted_only": reply.quoted_only,
                **({"template": quick.name} if quick else {}),
                **({"via_line": chosen.name} if chosen.name is not None else {}),
                **({"answered": conversation.id} if target.id != conversation.id else {}),
                **({"signature": reply.signature} if reply.signature and not empty else {}),
            },
        )
        stored = self.archive.add_message(message, files, outbox=outbox, dedupe_key=f"reply:{key}")
        if stored is None:
            return None
        who = conversation.customer.display_name
        if problem:
            log.warning("reply from %s to %s (conversation %d): %s; telling the manager",
                        routed.sender, who, conversation.id, problem)  # fmt: skip
        elif empty:
            log.warning("reply from %s to %s (conversation %d) had nothing to send; "
                        "telling the manager", routed.sender, who, conversation.id)  # fmt: skip
        else:
            log.info("reply from %s to %s archived (conversation %d, message %d)",
                     routed.sender, who, target.id, stored.id)  # fmt: skip
            self.delivery_queued()
        if len(outbox) > 1 or empty:
            self.mail_queued()
        return stored

    def _block(
        self, routed: routing.Routed, conversation: Conversation, what: str, raw: bytes
    ) -> None:
        key = routed.message_id or hashlib.sha256(raw).hexdigest()
        done = blocking.from_reply(
            self.archive, conversation, what, by=routed.sender, email_id=routed.message_id,
            dedupe_key=f"reply:{key}", mail=self.settings.mail, at=now(),
        )  # fmt: skip
        who = conversation.customer.display_name
        if done:
            log.warning("%s %sed %s (conversation %d) with a reply of only /%s",
                        routed.sender, what, who, conversation.id, what)  # fmt: skip
            self.mail_queued()

    def _expand(
        self, reply: Reply, text: str
    ) -> tuple[str, str | None, quick_replies.QuickReply | None]:
        """The text the customer is to get (of `text`, the reply's words without a /via
        line), why nothing goes (an unknown template), and the quick reply asked for."""
        if reply.quoted_only:
            return text, None, None
        templates = self.settings.templates
        quick = quick_replies.expand(text, templates)
        if quick is None:
            return text, None, None
        if quick.text is None:
            return "", quick_replies.unknown(quick.name, templates), quick
        return quick.text, None, quick


def broken_note(broken: tuple[str, ...]) -> str:
    """Why a reply with parts im2mail can't decode was not sent, naming the parts."""
    return (
        "part of your email could not be decoded, so nothing was sent (the customer would "
        f"have got garbled text or a damaged file): {'; '.join(broken)}. This happens when "
        "an email is damaged on its way or a mail program encodes it wrongly; send it "
        "again, attaching the files afresh."
    )


PAGE_LINK = (
    "your answer holds a link to this conversation's page on im2mail's server (\"The whole "
    'conversation" in our emails), which shows the whole conversation to anyone who has '
    "it; it is meant for the shop's managers, so nothing was sent. Send your answer again "
    "without that link."
)


def unreadable_note(why: str) -> str:
    """Why a reply im2mail cannot read (encrypted, signed around its text, files in
    winmail.dat) was not sent, and how to send it."""
    return (
        f"your email could not be read, so nothing was sent to the customer: {why}. Send "
        "your answer again as an ordinary email: not encrypted, signed (if at all) with a "
        "clear-text signature, in HTML or plain text format rather than Rich Text."
    )


def doubt_note(text: str) -> str:
    """Why a reply that may hold quoted history was not sent, what would have gone, and
    how to send it."""
    return (
        "your answer could not be told apart from the quoted history under it (it repeats "
        "the text of an earlier email of this conversation), so nothing was sent, lest the "
        "customer get the history too. This is what would have been sent:\n\n"
        f"{text.strip()}\n\n"
        "To send your answer, reply to this notice with only your own words (delete the "
        "quoted text), or put /send alone on the first line to send your text as it is."
    )


def retired_note(old: Retired) -> str:
    """Why a reply to an older email was not sent, and what to do instead."""
    when = old.when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"the reply address of this conversation was changed on {when} ({old.reason}), "
        "and your email answered an email from before that, so it was not sent. Reply to "
        "the newest email of this conversation instead (replying to this notice works too)."
    )


def _notice(kind: str, mail: MailSettings, note: str) -> OutboxItem:
    return OutboxItem("mail", email_message_id=mail.new_message_id(), kind=kind, note=note)


def _kind(text: str, files: list[NewAttachment]) -> str:
    if text.strip() or not files:
        return "text"
    return "photo" if all(f.mime.startswith("image/") for f in files) else "document"
