"""Archive → email: the email an outbox row stands for, built when it is sent.

One place for every kind of row: the customer's message (or album) and its edits, the
notices about a manager's reply (reactions to it too), reminders and the digest
(alerts.py), flood digests (flood.py) and block notices (blocking.py). Each reads what
its email says from the archive now and hands it to mail/builder.py, which writes the
email; the links (files, the transcript page) are made here, where the signing key and
the public URL are.

The outbox row fixed the Message-ID when the message was archived; everything else
(the thread so far, the album's parts, the files and their links) is read now, so a
resend after a restart is the same email.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from .. import signing
from ..archive import Archive, edits, people, reactions, threads
from ..archive.db import now
from ..config.sections import HoursConfig
from ..hours import BusinessHours
from ..mail.builder import MailBuilder, MailSettings
from ..mail.compose import FilePart
from ..mail.reply import quoted_history
from ..mail.smtp import Envelope
from ..model import (
    COLLEAGUE,
    DELETED,
    EDITED,
    FLOOD,
    IN_DOUBT,
    MESSAGE,
    NOT_SENT,
    REACTED,
    TEAM,
    UNDELIVERED,
    UNVERIFIED,
    Attachment,
    Conversation,
    Message,
    OutboxItem,
)
from . import alerts, blocking, flood, transcripts

log = logging.getLogger("im2mail.replies")

LINK_LIFETIME = timedelta(days=30)
NOT_DOWNLOADED = "not downloaded: over the messenger's download limit for bots"
_LATEST = 1 << 62  # a message id after every other: the whole thread so far


@dataclass(frozen=True)
class LinkSettings:
    public_url: str | None  # relay.public_url; None: no links
    signing_key: str


class Mailer:
    """build(item) for the mail outbox. `hours` are the shop's ([hours]: business time in
    reminders, the digest's day, the zone of a flood digest's times), `digest_to` who gets
    the digest, `flood_per_minute` the limit a flood digest names, `reaction_batch` how long
    the batch of reactions a notice is about lasts; `clock` gives the time (tests)."""

    def __init__(
        self,
        archive: Archive,
        settings: MailSettings,
        links: LinkSettings,
        *,
        hours: HoursConfig | None = None,
        digest_to: tuple[str, ...] = (),
        flood_per_minute: int = 0,
        reaction_batch: timedelta = reactions.BATCH,
        clock: Callable[[], datetime] = now,
        read_files: bool = True,
    ) -> None:
        self.archive = archive
        self.settings = settings
        self.links = links
        self.builder = MailBuilder(settings)
        self.hours = BusinessHours(hours)
        self.digest_to = digest_to
        self.flood_per_minute = flood_per_minute
        self.reaction_batch = reaction_batch
        self.clock = clock
        self.read_files = read_files  # False: the text of an email, its files unread
        notice = self._notice
        self._kinds: dict[str, Callable[[OutboxItem, Message, Conversation], Envelope]] = {
            MESSAGE: self._message,
            EDITED: self._edited,
            REACTED: self._reacted,
            alerts.REMINDER: self._reminder,
            FLOOD: self._flood,
            blocking.BLOCK_NOTICE: self._block,
            blocking.UNBLOCK_NOTICE: self._block,
            DELETED: self._deleted,
            **dict.fromkeys((UNDELIVERED, NOT_SENT, IN_DOUBT, TEAM, UNVERIFIED, COLLEAGUE), notice),
        }

    def build(self, item: OutboxItem) -> Envelope:
        if item.kind == alerts.DIGEST:
            return self._digest(item)
        make = self._kinds.get(item.kind)
        if make is None:
            raise ValueError(f"outbox row {item.id}: unknown kind of email '{item.kind}'")
        if item.message_id is None or item.email_message_id is None:
            raise ValueError(f"outbox row {item.id} names no message or Message-ID")
        message = self.archive.message(item.message_id)
        conversation = self.archive.conversation(message.conversation_id)
        # A linked customer's emails continue their person's thread (archive/people.py).
        return make(item, message, people.threaded(self.archive, conversation))

    def sent_texts(self, conversation_id: int, email_ids: list[str]) -> list[str]:
        """The text of our emails a manager's reply answers (threads.sent_emails), as the
        builder makes them again: the ground truth of what quoted history looks like.
        Files are not read (only words count); an email that can no longer be built is
        left out; a not-sent notice counts without its note, which may show what the
        manager wrote."""
        texts = []
        # Its files are not read: only the words count, and a file can be megabytes.
        words_only = Mailer(
            self.archive, self.settings, self.links, hours=self.hours.config,
            digest_to=self.digest_to, flood_per_minute=self.flood_per_minute,
            clock=self.clock, read_files=False,
        )  # fmt: skip
        for item in threads.sent_emails(self.archive, conversation_id, email_ids):
            if item.kind == NOT_SENT:  # its note may show the manager's own unsent words
                item = replace(item, note="")
            try:
                texts.append(quoted_history.plain_text(words_only.build(item).data))
            except Exception as e:  # the check is a safety net: it must not stop a reply
                log.info("conversation %d: email %s not rebuilt to check a reply against (%s)",
                         conversation_id, item.email_message_id, e)  # fmt: skip
        return texts

    def own_texts(self, conversation_id: int, email_ids: list[str]) -> list[str]:
        """The managers' replies that our emails a reply answers quote (notices that a
        reply was not delivered, was in doubt, or that a colleague answered): their words
        in a new reply are no quoted history to hold back (an unverified sender's are not
        a manager's, and count)."""
        kinds = (UNDELIVERED, NOT_SENT, IN_DOUBT, TEAM, COLLEAGUE)
        texts = []
        for item in threads.sent_emails(self.archive, conversation_id, email_ids):
            if item.kind in kinds and item.message_id is not None:
                texts.append(self.archive.message(item.message_id).text)
        return texts

    # -- the customer's messages -----------------------------------------------------------

    def _message(self, item: OutboxItem, message: Message, conversation: Conversation) -> Envelope:
        assert item.email_message_id is not None
        parts = threads.album_parts(self.archive, message)
        return self.builder.message(
            parts,
            conversation,
            message_id=item.email_message_id,
            history=threads.history(self.archive, conversation.id, parts[0].id or 0),
            files=[self._file(a) for part in parts for a in part.attachments],
            edited=message.edited,
            transcript=self.transcript(conversation),
        )

    def _edited(self, item: OutboxItem, message: Message, conversation: Conversation) -> Envelope:
        """The customer's edit: the text it replaced (the version the row's note names)
        and the one it made (the next version, or the message's text when none came
        after), whatever edits came since."""
        assert item.email_message_id is not None
        earlier = edits.versions(self.archive, message.id or 0)
        at = next((i for i, v in enumerate(earlier) if str(v.id) == item.note), None)
        if at is None:
            raise ValueError(f"outbox row {item.id}: no earlier text {item.note!r} of the message")
        after = earlier[at + 1] if at + 1 < len(earlier) else None
        return self.builder.edited(
            message,
            conversation,
            before=earlier[at].text,
            after=after.text if after else message.text,
            message_id=item.email_message_id,
            date=(after.created if after else message.edited_at) or self.clock(),
            history=threads.history(self.archive, conversation.id, _LATEST),
            transcript=self.transcript(conversation),
        )

    def _reacted(self, item: OutboxItem, reply: Message, conversation: Conversation) -> Envelope:
        """The reactions of one batch (the row's note: its author and when it began) to
        the author's replies in the conversation."""
        assert item.email_message_id is not None
        author, _, since = (item.note or "").partition(" ")
        began = datetime.fromisoformat(since)
        batch = reactions.reaction_batch(self.archive, conversation.id, author, began,
                                         self.reaction_batch)  # fmt: skip
        replies = list(batch.replies) or [(reply, ())]
        return self.builder.reacted(
            replies,
            conversation,
            to=author,
            message_id=item.email_message_id,
            date=self.clock(),
            history=threads.history(self.archive, conversation.id, _LATEST),
        )

    def _flood(self, item: OutboxItem, first: Message, conversation: Conversation) -> Envelope:
        assert item.email_message_id is not None
        found = flood.covered(self.archive, item.email_message_id)
        if found is None:
            raise ValueError(f"outbox row {item.id}: no message is in this flood digest")
        return self.builder.flood_digest(
            conversation,
            found.head,
            found.tail,
            count=found.count,
            files=found.files,
            limit=self.flood_per_minute,
            message_id=item.email_message_id,
            date=self.clock(),
            zone=self.hours.zone,
            history=threads.history(self.archive, conversation.id, _LATEST),
            transcript=self.transcript(conversation),
        )

    # -- about a manager's reply -----------------------------------------------------------

    def _notice(self, item: OutboxItem, reply: Message, conversation: Conversation) -> Envelope:
        """A notice about a manager's reply, in the conversation's thread."""
        assert item.email_message_id is not None
        common = {
            "message_id": item.email_message_id,
            "date": self.clock(),
            "history": threads.history(self.archive, conversation.id, reply.id or 0),
        }
        note, build = item.note or "", self.builder
        if item.kind in (UNDELIVERED, NOT_SENT):
            ours = item.kind == NOT_SENT
            return build.undelivered(reply, conversation, reason=note, ours=ours, **common)
        if item.kind == IN_DOUBT:
            return build.in_doubt(reply, conversation, what=note, **common)
        if item.kind == TEAM:
            name = str((reply.raw or {}).get("from_name") or "")
            to = [a for a in note.split(",") if a.strip()]
            return build.team_notice(reply, conversation, to=to, author_name=name, **common)
        if item.kind == UNVERIFIED:
            manager, _, why = note.partition(" ")
            return build.unverified(reply, conversation, manager=manager, why=why, **common)
        colleague, _, when = note.partition(" ")  # COLLEAGUE
        at = datetime.fromisoformat(when) if when else reply.created
        return build.colleague_warning(
            reply, conversation, colleague=colleague, colleague_at=at, **common
        )

    def _block(self, item: OutboxItem, _: Message, conversation: Conversation) -> Envelope:
        assert item.email_message_id is not None
        by, _, answering = (item.note or "").partition(" ")
        return self.builder.block_notice(
            conversation,
            blocked=item.kind == blocking.BLOCK_NOTICE,
            by=by or "a manager",
            answering=answering or None,
            message_id=item.email_message_id,
            date=self.clock(),
            history=threads.history(self.archive, conversation.id, _LATEST),
        )

    def _deleted(self, item: OutboxItem, first: Message, conversation: Conversation) -> Envelope:
        """Messages of a connected account's chat were deleted (relay/business.py): the
        note names them all, by archive id."""
        assert item.email_message_id is not None
        ids = [int(i) for i in (item.note or "").split(",") if i.strip().isdigit()]
        messages = [self.archive.message(i) for i in ids] or [first]
        return self.builder.deleted_notice(
            messages, conversation, message_id=item.email_message_id, date=self.clock(),
            history=threads.history(self.archive, conversation.id, _LATEST),
        )  # fmt: skip

    # -- on the relay's own schedule -------------------------------------------------------

    def _reminder(self, item: OutboxItem, first: Message, conversation: Conversation) -> Envelope:
        assert item.email_message_id is not None
        at = self.clock()
        business = None
        if not self.hours.always_open:
            business = timedelta(seconds=self.hours.open_seconds(first.created, at))
        return self.builder.reminder(
            conversation,
            alerts.waiting_since(self.archive, first),
            waited=at - first.created,
            business=business,
            message_id=item.email_message_id,
            date=at,
            history=threads.history(self.archive, conversation.id, _LATEST),
            transcript=self.transcript(conversation),
        )

    def _digest(self, item: OutboxItem) -> Envelope:
        try:
            day = date.fromisoformat(item.note or "")
        except ValueError:
            raise ValueError(f"outbox row {item.id}: no day for the digest") from None
        at = self.clock()
        report = alerts.day_report(self.archive, self.hours, day, at, self.settings.managers)
        zone = getattr(self.hours.zone, "key", None) or str(self.hours.zone)
        return self.builder.digest(report, day, to=self.digest_to, date=at, zone_label=zone)

    # -- links -----------------------------------------------------------------------------

    def _file(self, a: Attachment) -> FilePart:
        if a.sha256 is None:
            return FilePart(a.filename, a.mime, a.size, note=NOT_DOWNLOADED)
        data = None
        if self.read_files and a.size <= self.settings.max_attachment_bytes:
            data = self.archive.blob_path(a.sha256).read_bytes()
        return FilePart(a.filename, a.mime, a.size, data=data, link=self.link(a))

    def transcript(self, conversation: Conversation) -> str | None:
        """The link to the whole conversation as a web page, when the relay is public."""
        if not self.links.public_url or conversation.id is None:
            return None
        return transcripts.link(self.links.public_url, self.links.signing_key, conversation.id)

    def link(self, a: Attachment) -> str | None:
        if not self.links.public_url or a.id is None:
            return None
        token = signing.sign(self.links.signing_key, signing.FILE, a.id, now() + LINK_LIFETIME)
        return f"{self.links.public_url}/f/{token}"
