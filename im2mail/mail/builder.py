"""The one email builder: every email im2mail sends is made here, and every Message-ID.

`MailBuilder(settings)` has a method per email: `message` (a customer's message or album),
`edited` (the customer changed one), the notices about a manager's reply (`undelivered`,
`team_notice`, `colleague_warning`, `in_doubt`, `unverified`, `reacted`), `reminder`,
`digest`, `flood_digest`, `block_notice` and `deleted_notice`. A chat with an account
connected to the bot (Telegram Business) names the account with the channel: "Telegram
(business: @iryna_shop)". Their words come from compose.py, notices.py, changes.py,
reminders.py and abuse.py; the headers and the
MIME are written here, and the result is an `Envelope`: envelope addresses and the bytes
SMTP sends (7-bit, CRLF). The relay hands in everything else as data: the conversation,
its history, the files, the links. `MailSettings` is the one settings value for it all:
the mailbox, the managers, the size limits and what the channels call themselves.

Every email about a conversation is in its thread, the way each client threads:
- From `"Олена Петренко via Telegram" <orders@shop.example>` (the customer's emails and
  flood digests) or `"im2mail" <orders@shop.example>` (the rest, with Auto-Submitted:
  auto-generated, RFC 3834); Reply-To the customer's name at `orders+<token>@...`, so
  "Reply" goes back to the chat. Subject `[Telegram] Олена Петренко #42`, the same for
  every email of a conversation (Gmail threads on it too).
- In-Reply-To / References after its earlier emails, ours and the managers' replies
  (Gmail, Thunderbird, Apple Mail); Thread-Topic / Thread-Index (Outlook).
- Message-IDs are fixed when the outbox row is made (`new_message_id`), so a resend is
  the same email; a day's digest has one derived from the day.
- A customer linked to others (one person across channels) has one thread for all of
  their conversations: `conversation.thread` (the person's first conversation) gives the
  Subject and the Thread-Index, and the history the relay hands in holds the emails of
  all of them; From and Reply-To stay the conversation's own.

The headers are written by headers.py (RFC 2047 words, folding, Thread-Index), the parts
by mime.py: the email package's object tree is not built at all, which made an email cost
milliseconds (BENCHMARKS.md "Building one email").
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING

from ..model import Conversation, Message, Reaction
from . import abuse, changes, headers, mime, notices, reminders
from .compose import Content, FilePart, MiB, Placed, clean, place, subject
from .compose import channel_title as _channel_title
from .compose import message as _message_words
from .smtp import Envelope

if TYPE_CHECKING:
    from ..archive.stats import Report
    from ..config import MailConfig

SENDER_NAME = "im2mail"  # From of the emails im2mail writes on its own


@dataclass(frozen=True)
class MailSettings:
    """The mail im2mail sends: config.toml's [mail], and the channels' titles and reply
    windows as the channel registry gives them (the relay passes them in; mail/ knows no
    channel). One value, held by every part of the relay that makes emails or mints
    their Message-IDs."""

    mailbox: str  # mail.address: the From address, and Reply-To with +token
    managers: tuple[str, ...]  # To
    max_attachment_bytes: int = 10 * MiB  # per file; bigger files go as links
    max_total_bytes: int = 18 * MiB  # all files of one email (Gmail takes 25 MB encoded),
    # but never less than max_attachment_bytes: a file that may be attached always can be
    titles: Mapping[str, str] = field(default_factory=dict)  # channel -> "Telegram"
    # channel -> how long after a customer's last message an answer may still reach them
    reply_windows: Mapping[str, timedelta] = field(default_factory=dict)

    @classmethod
    def from_config(
        cls,
        mail: MailConfig,
        *,
        titles: Mapping[str, str] | None = None,
        reply_windows: Mapping[str, timedelta] | None = None,
    ) -> MailSettings:
        return cls(mail.address, mail.managers, mail.max_attachment_bytes,
                   titles=dict(titles or {}), reply_windows=dict(reply_windows or {}))  # fmt: skip

    def new_message_id(self) -> str:
        """A fresh Message-ID on the mailbox's domain."""
        return new_message_id(self.mailbox)


def new_message_id(mailbox: str) -> str:
    """A fresh Message-ID on the mailbox's domain: `<…im2mail@shop.example>`."""
    return make_msgid(idstring="im2mail", domain=_split(mailbox)[1])


def digest_message_id(mailbox: str, day: date) -> str:
    """The digest's Message-ID, the same for every try of one day's digest (a resend after
    a crash is recognised as the same email), unguessable from outside."""
    domain = mailbox.rpartition("@")[2]
    tag = hashlib.sha256(f"{mailbox}:{day.isoformat()}".encode()).hexdigest()[:16]
    return f"<digest-{day.isoformat()}.{tag}.im2mail@{domain}>"


class MailBuilder:
    """Every email im2mail sends, as bytes for SMTP. Thread-safe (the outbox builds in
    worker threads): it keeps nothing but the settings."""

    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings
        self._local, self._domain = _split(settings.mailbox)

    # -- the customer's messages -------------------------------------------------------------

    def message(
        self,
        parts: Sequence[Message],
        conversation: Conversation,
        *,
        message_id: str,
        history: Sequence[Message] = (),
        files: Sequence[FilePart] = (),
        edited: bool = False,
        transcript: str | None = None,
    ) -> Envelope:
        """The email for one customer message, or for an album (several `parts` sharing a
        media_group_id, in order), to the managers.

        `message_id` was fixed when the outbox row was made, so a resend is the same email.
        `history` is the conversation's earlier messages, oldest first; those with an
        `email_message_id` (our emails and the managers' replies) are the thread this
        email continues. `files` are attached, shown inline or linked as they fit the
        limits. `edited`: the part is a new version of an earlier message (a Telegram
        `edited_message`). `transcript`: a link to the whole conversation as a web page.
        """
        if not parts:
            raise ValueError("an email needs at least one message")
        s = self.settings
        placed = place(files, max_attachment_bytes=s.max_attachment_bytes,
                       max_total_bytes=s.max_total_bytes, message_id=message_id,
                       domain=self._domain)  # fmt: skip
        window = s.reply_windows.get(conversation.customer.channel)
        words = _message_words(
            parts, conversation, **self._about(conversation), placed=placed, window=window,
            edited=edited, transcript=transcript,
        )  # fmt: skip
        return self._in_thread(words, conversation, self._as_customer(conversation), s.managers,
                               message_id, history, parts[0].created)  # fmt: skip

    def edited(
        self, message: Message, conversation: Conversation, *, before: str, after: str,
        message_id: str, date: datetime, history: Sequence[Message] = (),
        transcript: str | None = None,
    ) -> Envelope:  # fmt: skip
        """To the managers: the customer changed `message` from `before` to `after`. From
        the customer, like their messages, in the thread as an answer to the message's own
        email (when it had one)."""
        words = changes.edited(message, conversation, **self._about(conversation),
                               before=before, after=after, transcript=transcript)  # fmt: skip
        thread = [m for m in history if m.email_message_id != message.email_message_id]
        if message.email_message_id:
            thread.append(message)
        return self._in_thread(words, conversation, self._as_customer(conversation),
                               self.settings.managers, message_id, thread, date)  # fmt: skip

    def flood_digest(
        self,
        conversation: Conversation,
        head: Sequence[Message],
        tail: Sequence[Message],
        *,
        count: int,
        files: int,
        limit: int,
        message_id: str,
        date: datetime,
        zone: tzinfo,
        history: Sequence[Message] = (),
        transcript: str | None = None,
    ) -> Envelope:
        """One email for `count` messages of a flood (abuse.py): it stands for the
        customer's own emails, so it comes from them, like those."""
        words = abuse.flood_digest(
            conversation, head, tail, **self._about(conversation), count=count, files=files,
            limit=limit, zone=zone, transcript=transcript,
        )  # fmt: skip
        return self._in_thread(words, conversation, self._as_customer(conversation),
                               self.settings.managers, message_id, history, date)  # fmt: skip

    # -- about a manager's reply -------------------------------------------------------------

    def undelivered(
        self, reply: Message, conversation: Conversation, *, reason: str, ours: bool = False,
        message_id: str, date: datetime, history: Sequence[Message] = (),
    ) -> Envelope:  # fmt: skip
        """To the reply's author: it did not reach the customer (notices.py). `history` is
        the conversation's messages; the reply may be among them."""
        words = notices.undelivered(reply, conversation, **self._about(conversation),
                                    reason=reason, ours=ours)  # fmt: skip
        return self._answering(words, reply, conversation, [reply.author], message_id, date,
                               history)  # fmt: skip

    def team_notice(
        self, reply: Message, conversation: Conversation, *, to: Sequence[str],
        author_name: str = "", message_id: str, date: datetime, history: Sequence[Message] = (),
    ) -> Envelope:  # fmt: skip
        """To the other managers (`to`): `reply.author` answered the customer."""
        recipients = [a.strip() for a in to if a.strip()]
        if not recipients:
            raise ValueError("a team notice needs at least one recipient")
        words = notices.team_notice(reply, conversation, **self._about(conversation),
                                    author_name=author_name)  # fmt: skip
        return self._answering(words, reply, conversation, recipients, message_id, date, history)

    def colleague_warning(
        self, reply: Message, conversation: Conversation, *, colleague: str,
        colleague_at: datetime, message_id: str, date: datetime, history: Sequence[Message] = (),
    ) -> Envelope:  # fmt: skip
        """To the reply's author: `colleague` had answered the customer first."""
        words = notices.colleague_warning(reply, conversation, **self._about(conversation),
                                          colleague=colleague, colleague_at=colleague_at,
                                          now=date)  # fmt: skip
        return self._answering(words, reply, conversation, [reply.author], message_id, date,
                               history)  # fmt: skip

    def in_doubt(
        self, reply: Message, conversation: Conversation, *, what: str, message_id: str,
        date: datetime, history: Sequence[Message] = (),
    ) -> Envelope:  # fmt: skip
        """To the reply's author: `what` may not have reached the customer."""
        words = notices.in_doubt(reply, conversation, **self._about(conversation), what=what)
        return self._answering(words, reply, conversation, [reply.author], message_id, date,
                               history)  # fmt: skip

    def unverified(
        self, last: Message, conversation: Conversation, *, manager: str, why: str,
        message_id: str, date: datetime, history: Sequence[Message] = (),
    ) -> Envelope:  # fmt: skip
        """To `manager`: an email in their name was not relayed. In the thread after
        `last`, the conversation's newest email."""
        words = notices.unverified(conversation, **self._about(conversation), manager=manager,
                                   why=why)  # fmt: skip
        return self._answering(words, last, conversation, [manager], message_id, date, history)

    def reacted(
        self, replies: Sequence[tuple[Message, Sequence[Reaction]]], conversation: Conversation,
        *, to: str, message_id: str, date: datetime, history: Sequence[Message] = (),
    ) -> Envelope:  # fmt: skip
        """To `to`, the author of `replies`: the customer reacted to them (each with the
        reactions changed; removed ones were taken back). An answer to the first reply."""
        if not replies:
            raise ValueError("a reaction notice needs a reply")
        words = changes.reacted(replies, conversation, **self._about(conversation))
        return self._answering(words, replies[0][0], conversation, [to], message_id, date,
                               history)  # fmt: skip

    def block_notice(
        self, conversation: Conversation, *, blocked: bool, by: str, answering: str | None,
        message_id: str, date: datetime, history: Sequence[Message] = (),
    ) -> Envelope:  # fmt: skip
        """To the managers: `by` (an address) blocked the customer (`blocked`) or unblocked
        them. `answering` is the Message-ID of by's /block email, which the notice answers
        (None when it had none)."""
        words = abuse.block_notice(conversation, **self._about(conversation), blocked=blocked,
                                   by=by)  # fmt: skip
        thread = list(history)
        if answering:
            thread = [m for m in thread if m.email_message_id != answering]
            thread.append(Message(conversation.id, "out", by, "", date, email_message_id=answering))
        return self._in_thread(words, conversation, self._as_im2mail(), self.settings.managers,
                               message_id, thread, date, automatic=True)  # fmt: skip

    def deleted_notice(
        self, messages: Sequence[Message], conversation: Conversation, *, message_id: str,
        date: datetime, history: Sequence[Message] = (),
    ) -> Envelope:  # fmt: skip
        """To the managers: `messages` were deleted in the chat (notices.deleted). In the
        thread after the conversation's emails so far."""
        if not messages:
            raise ValueError("a notice of deleted messages needs the messages")
        words = notices.deleted(messages, conversation, **self._about(conversation))
        return self._in_thread(words, conversation, self._as_im2mail(), self.settings.managers,
                               message_id, history, date, automatic=True)  # fmt: skip

    # -- on the relay's own schedule -----------------------------------------------------------

    def reminder(
        self, conversation: Conversation, waiting: Sequence[Message], *, waited: timedelta,
        business: timedelta | None, message_id: str, date: datetime,
        history: Sequence[Message] = (), transcript: str | None = None,
    ) -> Envelope:  # fmt: skip
        """To the managers: the customer has written `waiting` and nobody has answered for
        `waited` (reminders.py). It continues the thread after the last email of `history`."""
        words = reminders.reminder(conversation, waiting, **self._about(conversation),
                                   waited=waited, business=business,
                                   transcript=transcript)  # fmt: skip
        return self._in_thread(words, conversation, self._as_im2mail(), self.settings.managers,
                               message_id, history, date, automatic=True)  # fmt: skip

    def digest(
        self, report: Report, day: date, *, to: Sequence[str], date: datetime, zone_label: str
    ) -> Envelope:
        """The figures of `day` (report covers it) and who is waiting now, to `to`. In no
        thread, with no +token address: a reply to it reaches no customer."""
        recipients = [a.strip() for a in to if a.strip()]
        if not recipients:
            raise ValueError("a digest needs at least one recipient")
        title = reminders.digest_subject(report, day)
        words = reminders.digest(report, day, title=title, zone_label=zone_label,
                                 titles=self.settings.titles)  # fmt: skip
        message_id = digest_message_id(self.settings.mailbox, day)
        to_line, to_addresses = headers.address_list("To", tuple(recipients))
        head = [
            headers.mailbox("From", *self._as_im2mail()),
            to_line,
            headers.unstructured("Subject", title),
            f"Date: {format_datetime(date)}\r\n",
            f"Message-ID: {message_id}\r\n",
            "Auto-Submitted: auto-generated\r\n",
            "X-Auto-Response-Suppress: OOF, AutoReply\r\n",
        ]
        return self._finish(head, words, message_id, to_addresses)

    # -- the parts -----------------------------------------------------------------------------

    def subject(self, conversation: Conversation) -> str:
        """The thread's Subject: a linked customer's conversation has its person's first
        conversation's (`conversation.thread`), so their emails are one thread."""
        thread = conversation.thread or conversation
        return subject(thread, self._title(thread))

    def _title(self, conversation: Conversation) -> str:
        title = _channel_title(conversation.customer.channel, self.settings.titles)
        return f"{title} (business: {conversation.via})" if conversation.via else title

    def _about(self, conversation: Conversation) -> dict[str, str]:
        return {"channel": self._title(conversation), "title": self.subject(conversation)}

    def _as_customer(self, conversation: Conversation) -> tuple[str, str]:
        name = f"{clean(conversation.customer.display_name)} via {self._title(conversation)}"
        return name, self.settings.mailbox

    def _as_im2mail(self) -> tuple[str, str]:
        return SENDER_NAME, self.settings.mailbox

    def _answering(
        self, words: Content, reply: Message, conversation: Conversation, to: Sequence[str],
        message_id: str, date: datetime, history: Sequence[Message],
    ) -> Envelope:  # fmt: skip
        """A notice: in the thread as an answer to the manager's email `reply`, automatic."""
        # The manager's email goes last, so In-Reply-To and the end of References point at it.
        thread = [m for m in history if m.email_message_id != reply.email_message_id]
        return self._in_thread(words, conversation, self._as_im2mail(), to, message_id,
                               [*thread, reply], date, automatic=True)  # fmt: skip

    def _in_thread(
        self,
        words: Content,
        conversation: Conversation,
        sender: tuple[str, str],
        to: Sequence[str],
        message_id: str,
        history: Sequence[Message],
        date: datetime,
        *,
        automatic: bool = False,
    ) -> Envelope:
        """The email with the headers every email of a conversation has: From `sender`
        ((name, address)), To `to`, the conversation's Subject and +token Reply-To, and
        threading after the emails of `history`."""
        message_id = headers.message_id(message_id)
        earlier = _earlier(history, exclude=message_id)
        thread = conversation.thread or conversation  # a linked person's first conversation
        started = thread.created or (earlier[0][1] if earlier else date)
        title = self.subject(conversation)
        reply_name = self._as_customer(conversation)[0]
        to_line, to_addresses = headers.address_list("To", tuple(to))
        head = [
            headers.mailbox("From", *sender),
            to_line,
            headers.unstructured("Subject", title),
            headers.mailbox("Reply-To", reply_name, self._reply_address(conversation)),
            f"Date: {format_datetime(date)}\r\n",
            f"Message-ID: {message_id}\r\n",
        ]
        ids = [mid for mid, _ in earlier if headers.is_message_id(mid)]
        if ids:
            head.append(f"In-Reply-To: {ids[-1]}\r\n")
            head.append(headers.references(ids))
        key = thread.thread_key or thread.token
        index = headers.thread_index(key, started, [*earlier, (message_id, date)])
        head += [
            headers.unstructured("Thread-Topic", title),
            f"Thread-Index: {index}\r\n",
            f"X-Im2mail-Conversation: {conversation.id}\r\n",
            "X-Auto-Response-Suppress: OOF, AutoReply\r\n",  # Exchange: no out-of-office to us
        ]
        if automatic:
            head.append("Auto-Submitted: auto-generated\r\n")
        return self._finish(head, words, message_id, to_addresses)

    def _reply_address(self, conversation: Conversation) -> str:
        return f"{self._local}+{conversation.token}@{self._domain}"

    def _finish(
        self, head: list[str], words: Content, message_id: str, to: tuple[str, ...]
    ) -> Envelope:
        """Headers, then the body: multipart/alternative (text, HTML); with pictures, that
        inside a multipart/related (Outlook's layout: text-only clients still list the
        pictures); files make it multipart/mixed."""
        if not to:
            raise ValueError("the email has no recipients")
        body = mime.multipart(
            "alternative", [mime.text(words.plain, "plain"), mime.text(words.html, "html")],
            f"{message_id}/alternative",
        )  # fmt: skip
        pictures = [mime.file(_data(p), p.mime, p.name, "inline", p.cid)
                    for p in words.files if p.how == "inline"]  # fmt: skip
        if pictures:
            body = mime.multipart("related", [body, *pictures], f"{message_id}/related",
                                  ' type="multipart/alternative";')  # fmt: skip
        files = [mime.file(_data(p), p.mime, p.name, "attachment")
                 for p in words.files if p.how == "attached"]  # fmt: skip
        if files:
            body = mime.multipart("mixed", [body, *files], f"{message_id}/mixed")
        top = "".join(head) + "MIME-Version: 1.0\r\n" + body[0]
        data = top.encode("ascii") + mime.CRLF + body[1]
        return Envelope(f"{self._local}@{self._domain}", list(to), ", ".join(to), data, message_id)


def _data(placed: Placed) -> bytes:
    if placed.file.data is None:  # place() attaches only what it has the bytes of
        raise ValueError(f"no bytes for {placed.name}")
    return placed.file.data


# -- the thread -------------------------------------------------------------------------------


def _earlier(history: Sequence[Message], exclude: str) -> list[tuple[str, datetime]]:
    """(Message-ID, time) of each earlier email, once each (an album's parts share one)."""
    seen, out = {exclude}, []
    for message in history:
        mid = message.email_message_id
        if mid and mid not in seen:
            seen.add(mid)
            out.append((mid, message.created))
    return out


def _split(mailbox: str) -> tuple[str, str]:
    local, at, domain = mailbox.strip().rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"not a mail address: {mailbox!r}")
    return local, domain
