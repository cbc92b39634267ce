"""Transcript links: a conversation as a web page served by the relay at
<public_url>/c/<signed conversation id>, so that a manager who joins a conversation late
reads all of it from any email of its thread. The page is the one `export --format html`
writes, except that pictures and files come from the relay's signed /f/ links instead of
being copied beside it. Links expire after LINK_LIFETIME, like file links in emails."""

from __future__ import annotations

from datetime import timedelta

from .. import signing
from ..archive import Archive
from ..archive.db import now
from ..errors import NotFound
from ..model import Attachment

LINK_LIFETIME = timedelta(days=30)


def link(public_url: str, key: str, conversation_id: int) -> str:
    token = signing.sign(key, signing.CONVERSATION, conversation_id, now() + LINK_LIFETIME)
    return f"{public_url.rstrip('/')}/c/{token}"


def linked_in(text: str, public_url: str | None) -> bool:
    """Whether `text` holds a link to a conversation page (a quoted email's footer that no
    rule cut, or pasted), whatever its scheme or case: a manager's reply with one is not
    sent, the page shows the whole conversation to whoever has the link."""
    if not public_url:
        return False
    bare = public_url.split("://", 1)[-1].rstrip("/").lower()
    return bool(bare) and f"{bare}/c/" in text.lower()


class Transcripts:
    """render(token): the page of the conversation a valid link names, else None (404)."""

    def __init__(self, archive: Archive, key: str) -> None:
        self.archive = archive
        self.key = key

    def render(self, token: str) -> str | None:
        from ..export.html import transcript

        value = signing.verify(self.key, signing.CONVERSATION, token)
        if value is None or not value.isdigit():
            return None
        try:
            conversation = self.archive.conversation(int(value))
        except NotFound:
            return None  # signed for a conversation this archive no longer has
        return transcript(self.archive, conversation, self._file)

    def _file(self, a: Attachment) -> str | None:
        if a.id is None:
            return None
        token = signing.sign(self.key, signing.FILE, a.id, now() + LINK_LIFETIME)
        # Relative to /c/<token>: right whatever path public_url puts the relay under.
        return f"../f/{token}"
