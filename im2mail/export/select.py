"""`im2mail export`: conversations out of the archive, as mbox (mbox.py) or as HTML
pages (html.py).

Both read the archive as a stream, conversation by conversation and message by message,
so memory stays flat however big the archive is. Output goes to a temporary name beside
the target and is renamed into place at the end: an export that fails or is interrupted
leaves nothing half-written, and an existing file or folder is replaced only with force.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from ..archive import Archive, exporting
from ..archive.db import fits_sqlite
from ..errors import NotFound
from ..model import Attachment, Conversation, Message

_LIST_THEM = "list them with: im2mail conversations"

Progress = Callable[[int], None]  # called with how many messages were just written


@dataclass(frozen=True)
class Selection:
    """The conversations to export, in order, and how many messages they hold.
    everything: all of the archive's conversations, in id order (read in one scan).
    people: a linked customer's person (archive/people.py) is exported once, as the first
    of their conversations selected: by its id, all of the person's conversations, whose
    messages are shown interleaved by time, each marked with its channel."""

    conversations: tuple[Conversation, ...]
    messages: int
    everything: bool = False
    people: Mapping[int, tuple[Conversation, ...]] = field(default_factory=dict)


def select(archive: Archive, ids: Sequence[int] | None) -> Selection:
    """Conversations by id (in the order given, each once), or all of them (None); a
    linked person's once. NotFound (exit 5) names the first unknown id."""
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
    linked = exporting.people(archive, wanted)
    chosen: list[int] = []
    people: dict[int, tuple[Conversation, ...]] = {}
    covered: set[int] = set()
    for i in wanted:
        if i in covered:
            continue  # a conversation of a person chosen already
        members = linked.get(i)
        if members:
            covered.update(members)
            people[i] = tuple(archive.conversation(m) for m in members)
        chosen.append(i)
    every = sorted(covered | set(chosen))
    count = archive.message_count(every if ids is not None else None)
    return Selection(tuple(archive.conversation(i) for i in chosen), count, ids is None, people)


def stream(
    archive: Archive,
    conversations: Sequence[Conversation],
    everything: bool,
    people: Mapping[int, tuple[Conversation, ...]] | None = None,
) -> Iterator[tuple[Conversation, list[Message]]]:
    """Each conversation with its messages, in the order given (a person's: all of
    theirs, interleaved by time). With everything (the conversations are all there are,
    in id order, maybe a slice of them) the messages come from one scan of the table
    rather than a query per conversation."""
    people = people or {}

    def of(conversation: Conversation) -> list[Message]:
        members = people.get(conversation.id)
        if members:
            return list(exporting.interleaved(archive, [m.id for m in members]))
        return list(exporting.messages(archive, conversation.id))

    if not everything:
        for conversation in conversations:
            yield conversation, of(conversation)
        return
    plain = [c for c in conversations if c.id not in people]
    scanned = exporting.scan(archive, plain[0].id, plain[-1].id) if plain else iter(())
    ahead = next(scanned, None)
    for conversation in conversations:
        if conversation.id in people:
            yield conversation, of(conversation)
            continue
        while ahead is not None and ahead.conversation_id < conversation.id:
            ahead = next(scanned, None)  # a person's, shown on their page
        chat = []
        while ahead is not None and ahead.conversation_id == conversation.id:
            chat.append(ahead)
            ahead = next(scanned, None)
        yield conversation, chat


def file_bytes(archive: Archive, attachment: Attachment) -> bytes | None:
    """An attachment's bytes; None when the archive does not have them (over a download
    limit, or a blob removed by hand): the message is exported all the same."""
    if attachment.sha256 is None:
        return None
    try:
        return archive.blob_path(attachment.sha256).read_bytes()
    except OSError:
        return None
