"""`im2mail export`: conversations out of the archive, as mbox (mbox.py) or as HTML
pages (html.py).

Both read the archive as a stream, conversation by conversation and message by message,
so memory stays flat however big the archive is. Output goes to a temporary name beside
the target and is renamed into place at the end: an export that fails or is interrupted
leaves nothing half-written, and an existing file or folder is replaced only with force.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from ..archive import Archive, exporting
from ..archive.db import fits_sqlite
from ..errors import NotFound
from ..model import Attachment, Conversation, Message

_LIST_THEM = "list them with: im2mail conversations"

Progress = Callable[[int], None]  # called with how many messages were just written


@dataclass(frozen=True)
class Selection:
    """The conversations to export, in order, and how many messages they hold.
    everything: all of the archive's conversations, in id order (read in one scan)."""

    conversations: tuple[Conversation, ...]
    messages: int
    everything: bool = False


def select(archive: Archive, ids: Sequence[int] | None) -> Selection:
    """Conversations by id (in the order given, each once), or all of them (None).
    NotFound (exit 5) names the first unknown id."""
    if ids is None:
        wanted = exporting.conversation_ids(archive)
    else:
        wanted = list(dict.fromkeys(ids))
        beyond = [i for i in wanted if not fits_sqlite(i)]
        if beyond:
            raise NotFound(f"no conversation #{beyond[0]}", hint=_LIST_THEM)
        known = exporting.known_conversations(archive, wanted)
        missing = [i for i in wanted if i not in known]
        if missing:
            raise NotFound(f"no conversation #{missing[0]}", hint=_LIST_THEM)
    count = archive.message_count(wanted if ids is not None else None)
    return Selection(tuple(archive.conversation(i) for i in wanted), count, ids is None)


def stream(
    archive: Archive, conversations: Sequence[Conversation], everything: bool
) -> Iterator[tuple[Conversation, list[Message]]]:
    """Each conversation with its messages, in the order given. With everything (the
    conversations are all there are, in id order, maybe a slice of them) the messages come
    from one scan of the table rather than a query per conversation."""
    if not everything:
        for conversation in conversations:
            yield conversation, list(exporting.messages(archive, conversation.id))
        return
    found: dict[int, list[Message]] = {}
    pending = iter(conversations)
    current = next(pending, None)
    for message in (
        exporting.scan(archive, conversations[0].id, conversations[-1].id) if conversations else ()
    ):
        while current is not None and current.id < message.conversation_id:
            yield current, found.pop(current.id, [])
            current = next(pending, None)
        found.setdefault(message.conversation_id, []).append(message)
    while current is not None:
        yield current, found.pop(current.id, [])
        current = next(pending, None)


def file_bytes(archive: Archive, attachment: Attachment) -> bytes | None:
    """An attachment's bytes; None when the archive does not have them (over a download
    limit, or a blob removed by hand): the message is exported all the same."""
    if attachment.sha256 is None:
        return None
    try:
        return archive.blob_path(attachment.sha256).read_bytes()
    except OSError:
        return None
