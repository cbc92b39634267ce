"""The one email builder: every email im2mail sends is made here, and every Message-ID.

`MailBuilder(settings)` has a method per email: `message` (a customer's message or album),
the notices about a manager's reply (`undelivered`, `team_notice`, `colleague_warning`,
`in_doubt`, `unverified`), `reminder`, `digest`, `flood_digest` and `block_notice`. Their
words come from compose.py, notices.py, reminders.py and abuse.py; the headers and the
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

Encoding a header (RFC 2047 words for a Cyrillic name, quoting, folding) is what the email
package spends its time on, so a header with words in it is encoded once per value and
remembered (`_header`): a conversation's From, Reply-To, Subject and Thread-Topic, the
managers' To. The rest (Message-IDs, dates, Thread-Index) is ASCII we write ourselves,
and the parts are written by mime.py.

Thread-Index, as Outlook writes it (MS-OXOMSG 2.2.1.3 PidTagConversationIndex, read the
way Microsoft's MFCMAPI and libpst decode it), is base64 of
- a 22-byte header: the 6 high bytes, big-endian, of the FILETIME (100 ns ticks since
  1601-01-01 UTC) when the conversation began (the first byte is the 0x01 the spec calls
  reserved, for any date before 2057), then a 16-byte GUID: uuid5 of the conversation's
  routing token, the same for all its emails;
- a 5-byte child block per email since: 1 bit DeltaCode, 31 bits TimeDelta (the email's
  time minus the header time, >> 18; or >> 23 with DeltaCode 1 beyond ~1.7 years), and
  a byte of random/sequence nibbles, here from the email's Message-ID so a resend is
  byte-identical. So email n starts with email n-1's Thread-Index and adds 5 bytes.
It is written on one line, as Outlook writes it: folded, the email package would turn it
into RFC 2047 words, which Outlook does not read there.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from email import policy
from email.headerregistry import Address
from email.utils import format_datetime, make_msgid
from functools import lru_cache
from typing import TYPE_CHECKING

from ..model import Conversation, Message
from . import abuse, mime, notices, reminders
from .compose import Content, FilePart, MiB, clean, place, subject
from .compose import channel_title as _channel_title
from .compose import message as _message_words
from .smtp import Envelope

if TYPE_CHECKING:
    from ..archive.stats import Report
    from ..config import MailConfig

MAX_REFERENCES = 20  # References keeps the first email and the newest others
MAX_THREAD_CHILDREN = 40  # beyond this, later emails share the last level
SENDER_NAME = "im2mail"  # From of the emails im2mail writes on its own
# A Message-ID we write as it is: printable ASCII without spaces or angle brackets inside
# (a manager's mail program may have made it; anything else is left out of the threading).
_MSG_ID = re.compile(r"<[!-;=?-~]{1,900}>")
# Headers are folded and RFC 2047-encoded as the email package does it for SMTP
_POLICY = policy.SMTP.clone(cte_type="7bit")
_THREAD_GUID_NAMESPACE = uuid.UUID("7d6c3f0e-5b1a-4f3e-9a57-1c2b3d4e5f60")
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)


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
            conversation, head, tail, channel=self._title(conversation),
            title=self.subject(conversation), count=count, files=files, limit=limit, zone=zone,
            transcript=transcript,
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
        to_line, to_addresses = _addresses("To", tuple(("", a) for a in recipients))
        head = [
            _addresses("From", (self._as_im2mail(),))[0],
            to_line,
            _header("Subject", title),
            f"Date: {format_datetime(date)}\r\n",
            f"Message-ID: {message_id}\r\n",
            "Auto-Submitted: auto-generated\r\n",
            "X-Auto-Response-Suppress: OOF, AutoReply\r\n",
        ]
        return self._finish(head, words, message_id, to_addresses)

    # -- the parts -----------------------------------------------------------------------------

    def subject(self, conversation: Conversation) -> str:
        return subject(conversation, self.settings.titles)

    def _title(self, conversation: Conversation) -> str:
        return _channel_title(conversation.customer.channel, self.settings.titles)

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
        message_id = _message_id(message_id)
        earlier = _earlier(history, exclude=message_id)
        started = conversation.created or (earlier[0][1] if earlier else date)
        title = self.subject(conversation)
        reply_to = self._as_customer(conversation)[0], self._reply_address(conversation)
        to_line, to_addresses = _addresses("To", tuple(("", a) for a in to))
        head = [
            _addresses("From", (sender,))[0],
            to_line,
            _header("Subject", title),
            _addresses("Reply-To", (reply_to,))[0],
            f"Date: {format_datetime(date)}\r\n",
            f"Message-ID: {message_id}\r\n",
        ]
        ids = [mid for mid, _ in earlier if _MSG_ID.fullmatch(mid)]
        if ids:
            head.append(f"In-Reply-To: {ids[-1]}\r\n")
            head.append(_folded_ids("References", _capped(ids)))
        key = conversation.thread_key or conversation.token
        head += [
            _header("Thread-Topic", title),
            f"Thread-Index: {thread_index(key, started, [*earlier, (message_id, date)])}\r\n",
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
        body = mime.multipart(
            "alternative", [mime.text(words.plain, "plain"), mime.text(words.html, "html")],
            f"{message_id}/alternative",
        )  # fmt: skip
        inline = [p for p in words.files if p.how == "inline" and p.file.data is not None]
        if inline:
            pictures = [mime.file(p.file.data, p.mime, p.name, "inline", p.cid) for p in inline]  # type: ignore[arg-type]
            body = mime.multipart("related", [body, *pictures], f"{message_id}/related",
                                  ' type="multipart/alternative";')  # fmt: skip
        attached = [p for p in words.files if p.how == "attached" and p.file.data is not None]
        if attached:
            files = [mime.file(p.file.data, p.mime, p.name, "attachment") for p in attached]  # type: ignore[arg-type]
            body = mime.multipart("mixed", [body, *files], f"{message_id}/mixed")
        top = "".join(head) + "MIME-Version: 1.0\r\n" + body[0]
        data = top.encode("ascii") + mime.CRLF + body[1]
        return Envelope(self._local + "@" + self._domain, list(to), ", ".join(to), data, message_id)


# -- headers ------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _header(name: str, value: str) -> str:
    """`Name: value` as the email package folds and encodes it for SMTP, CRLF-ended: once
    per value (the cost of a Cyrillic header is in here)."""
    if len(value.splitlines()) > 1:
        raise ValueError(f"a {name} header can't hold a line break")
    return _POLICY.header_factory(name, value).fold(policy=_POLICY)


@lru_cache(maxsize=1024)
def _addresses(name: str, people: tuple[tuple[str, str], ...]) -> tuple[str, tuple[str, ...]]:
    """An address header of (display name, address) pairs, once per value, and the
    addresses as the envelope takes them. A malformed address raises ValueError."""
    found = [Address(display_name=n, addr_spec=a.strip()) for n, a in people]
    header = _POLICY.header_factory(name, found)
    return header.fold(policy=_POLICY), tuple(a.addr_spec for a in found)


def _message_id(value: str) -> str:
    mid = value.strip()
    if not mid.startswith("<"):
        mid = f"<{mid}>"
    if not _MSG_ID.fullmatch(mid):
        raise ValueError(f"not a Message-ID: {value!r}")
    return mid


def _folded_ids(name: str, ids: Sequence[str]) -> str:
    """`Name: <a> <b> ...`, a new line when the next one would pass 78 characters."""
    lines, line = [], f"{name}:"
    for mid in ids:
        if len(line) + 1 + len(mid) > mime.MAX_LINE and line != f"{name}:":
            lines.append(line)
            line = ""
        line += f" {mid}"
    return "\r\n".join([*lines, line]) + "\r\n"


def _earlier(history: Sequence[Message], exclude: str) -> list[tuple[str, datetime]]:
    """(Message-ID, time) of each earlier email, once each (an album's parts share one)."""
    seen, out = {exclude}, []
    for message in history:
        mid = message.email_message_id
        if mid and mid not in seen:
            seen.add(mid)
            out.append((mid, message.created))
    return out


def _capped(ids: list[str]) -> list[str]:
    """References as RFC 5322 §3.6.4 suggests trimming: the first and the newest ones."""
    return ids if len(ids) <= MAX_REFERENCES else [ids[0], *ids[-(MAX_REFERENCES - 1) :]]


def thread_index(token: str, started: datetime, emails: Sequence[tuple[str, datetime]]) -> str:
    """Outlook's Thread-Index for the last of `emails` ((Message-ID, time), oldest first)
    in the conversation with this routing token that began at `started`."""
    header_time = _filetime(started) >> 16
    guid = uuid.uuid5(_THREAD_GUID_NAMESPACE, token)
    blocks = [header_time.to_bytes(6, "big"), guid.bytes]
    chosen = list(emails)
    if len(chosen) > MAX_THREAD_CHILDREN:
        chosen = [*chosen[: MAX_THREAD_CHILDREN - 1], chosen[-1]]
    for mid, when in chosen:
        delta = max(0, _filetime(when) - (header_time << 16))
        word = delta >> 18 if delta < 1 << 49 else 1 << 31 | min(delta >> 23, (1 << 31) - 1)
        blocks.append(word.to_bytes(4, "big") + hashlib.sha256(mid.encode()).digest()[:1])
    return base64.b64encode(b"".join(blocks)).decode("ascii")


def _filetime(moment: datetime) -> int:
    delta = moment - _FILETIME_EPOCH
    return (delta.days * 86400 + delta.seconds) * 10**7 + delta.microseconds * 10


def _split(mailbox: str) -> tuple[str, str]:
    local, at, domain = mailbox.strip().rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"not a mail address: {mailbox!r}")
    return local, domain
