"""Archive → email: the email an outbox row stands for, built when it is sent.

The outbox row fixed the Message-ID when the message was archived; everything else
(the thread so far, the album's parts, the files and their links) is read now, so a
resend after a restart is the same email.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage

from . import signing, threads
from .archive import Archive
from .db import now
from .mail.compose import FilePart, MailSettings, compose
from .model import Attachment, OutboxItem

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
        )

    def _file(self, a: Attachment) -> FilePart:
        if a.sha256 is None:
            return FilePart(a.filename, a.mime, a.size, note=NOT_DOWNLOADED)
        data = None
        if a.size <= self.settings.max_attachment_bytes:
            data = self.archive.blob_path(a.sha256).read_bytes()
        return FilePart(a.filename, a.mime, a.size, data=data, link=self.link(a))

    def link(self, a: Attachment) -> str | None:
        if not self.links.public_url or a.id is None:
            return None
        token = signing.sign(self.links.signing_key, signing.FILE, a.id, now() + LINK_LIFETIME)
        return f"{self.links.public_url}/f/{token}"
