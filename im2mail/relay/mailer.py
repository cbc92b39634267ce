"""Archive → email: the email an outbox row stands for, built when it is sent.

The outbox row fixed the Message-ID when the message was archived; everything else
(the thread so far, the album's parts, the files and their links) is read now, so a
resend after a restart is the same email.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

from .. import signing
from ..archive import Archive, threads
from ..archive.db import now
from ..mail.compose import FilePart, MailSettings, compose
from ..mail.notices import (
    compose_colleague_warning,
    compose_in_doubt,
    compose_team_notice,
    compose_undelivered,
    compose_unverified,
)
from ..model import (
    COLLEAGUE,
    IN_DOUBT,
    MESSAGE,
    NOT_SENT,
    TEAM,
    UNDELIVERED,
    UNVERIFIED,
    Attachment,
    Conversation,
    Message,
    OutboxItem,
)
from . import transcripts

LINK_LIFETIME = timedelta(days=30)
NOT_DOWNLOADED = "not downloaded: over the messenger's download limit for bots"


@dataclass(frozen=True)
class LinkSettings:
    public_url: str | None  # relay.public_url; None: no links
    signing_key: str


class Mailer:
    """build(item) for the mail outbox."""

    def __init__(self, archive: Archive, settings: MailSettings, links: LinkSettings) -> None:
        self.archive = archive
        self.settings = settings
        self.links = links

    def build(self, item: OutboxItem) -> EmailMessage:
        if item.message_id is None or item.email_message_id is None:
            raise ValueError(f"outbox row {item.id} names no message or Message-ID")
        message = self.archive.message(item.message_id)
        conversation = self.archive.conversation(message.conversation_id)
        if item.kind != MESSAGE:
            return self._notice(item, message, conversation)
        parts = threads.album_parts(self.archive, message)
        files = [self._file(a) for part in parts for a in part.attachments]
        return compose(
            parts,
            conversation,
            settings=self.settings,
            message_id=item.email_message_id,
            history=threads.history(self.archive, conversation.id, parts[0].id or 0),
            files=files,
            edited=message.edited,
            transcript=self.transcript(conversation),
        )

    def _notice(self, item: OutboxItem, reply: Message, conversation: Conversation) -> EmailMessage:
        """A notice about a manager's reply, in the conversation's thread."""
        assert item.email_message_id is not None
        common = {
            "settings": self.settings,
            "message_id": item.email_message_id,
            "date": now(),
            "history": threads.history(self.archive, conversation.id, reply.id or 0),
        }
        note = item.note or ""
        if item.kind in (UNDELIVERED, NOT_SENT):
            ours = item.kind == NOT_SENT
            return compose_undelivered(reply, conversation, reason=note, ours=ours, **common)
        if item.kind == IN_DOUBT:
            return compose_in_doubt(reply, conversation, what=note, **common)
        if item.kind == TEAM:
            name = str((reply.raw or {}).get("from_name") or "")
            to = [a for a in note.split(",") if a.strip()]
            return compose_team_notice(reply, conversation, to=to, author_name=name, **common)
        if item.kind == UNVERIFIED:
            manager, _, why = note.partition(" ")
            return compose_unverified(reply, conversation, manager=manager, why=why, **common)
        if item.kind == COLLEAGUE:
            colleague, _, when = note.partition(" ")
            at = datetime.fromisoformat(when) if when else reply.created
            return compose_colleague_warning(
                reply, conversation, colleague=colleague, colleague_at=at, **common
            )
        raise ValueError(f"outbox row {item.id}: unknown kind of email '{item.kind}'")

    def _file(self, a: Attachment) -> FilePart:
        if a.sha256 is None:
            return FilePart(a.filename, a.mime, a.size, note=NOT_DOWNLOADED)
        data = None
        if a.size <= self.settings.max_attachment_bytes:
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
