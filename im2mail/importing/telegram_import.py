"""History from before im2mail: a Telegram Desktop export into the archive, so search,
export and stats cover it.

Each person the export's account talked to becomes (or is found as) a Telegram customer,
by user id: the one a bot sees too, so search by name or id finds both histories. Their
imported messages go into a conversation of their own, under the bot name
`telegram-export`: they were not written to a bot, no reply can go back that way, and a
live conversation keeps its order (the archive orders a conversation's messages by
arrival) and its "who is waiting" right. Nothing is mailed: no outbox rows.

Safe to repeat: each message is recorded under `tgexport:<chat>:<message id>:<time>` in
the archive's `seen` table, in the transaction that adds it, so a second run (or one after
an interrupted run) adds only what is missing, without reading the files again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ..archive import Archive
from ..archive.blobs import CHUNK as PIECE
from ..archive.blobs import BlobWriter, cannot_store
from ..model import IN, OUT, Customer, Message, NewAttachment
from .telegram_export import ExportChat, ExportFile, ExportFormatError, ExportMessage, Skipped, read

IMPORTED_BOT = "telegram-export"  # the conversations' bot name
MAX_FILE = 50 * 1024 * 1024  # a bigger file is kept by name and size only
BATCH = 2000


@dataclass
class ImportResult:
    added: int = 0
    already: int = 0  # in the archive from an earlier run
    chats: set[str] = field(default_factory=set)  # chats with a message added or found
    files: int = 0  # stored
    left_out: int = 0  # Telegram Desktop did not include it (export settings, size)
    missing: int = 0  # named in result.json but not in its folder, or over MAX_FILE
    skipped: Skipped = field(default_factory=Skipped)


def import_export(
    archive: Archive, path: Path, progress: Callable[[int], None] | None = None
) -> ImportResult:
    """Import `path` (result.json); `progress(n)` gets the bytes read so far. A file that
    turns out damaged midway keeps what was read before the damage, then raises."""
    result = ImportResult()
    folder = path.resolve().parent
    conversations: dict[str, int] = {}
    damage: list[ExportFormatError] = []

    def messages() -> Iterator[ExportMessage]:
        try:
            yield from read(path, result.skipped, progress)
        except ExportFormatError as e:
            damage.append(e)  # ends the stream here, so the last batch is stored too

    def items() -> Iterator[tuple[Message, list[NewAttachment], str]]:
        for m in messages():
            result.chats.add(m.chat.id)
            key = f"tgexport:{m.chat.id}:{m.id}:{int(m.created.timestamp())}"
            if archive.was_seen(key):
                result.already += 1
                continue
            if m.chat.id not in conversations:
                conversations[m.chat.id] = _conversation(archive, m.chat)
            files = [_attachment(archive, folder, f, result) for f in m.files]
            yield _message(conversations[m.chat.id], m), files, key

    result.added = archive.add_many(items(), batch=BATCH)
    if damage:
        e = damage[0]
        if result.added or result.already:
            e.message += f" ({result.added} message(s) before that point were added)"
        raise e
    return result


def _conversation(archive: Archive, chat: ExportChat) -> int:
    """The customer as the archive knows them (a bot's name for them wins over the name
    in the exporter's contacts), else as the export names them."""
    customer = archive.customer("telegram", chat.id)
    if customer is None:
        customer = Customer("telegram", chat.id, first_name=chat.name)
    return archive.conversation_for(customer, IMPORTED_BOT).id


def _message(conversation_id: int, m: ExportMessage) -> Message:
    return Message(
        conversation_id=conversation_id,
        direction=IN if m.incoming else OUT,
        author=m.author,
        text=m.text,
        created=m.created,
        kind=m.kind,
        sent=None if m.incoming else m.created,
        delivered=None if m.incoming else m.created,
        edited=m.edited,
    )


def _attachment(
    archive: Archive, folder: Path, f: ExportFile, result: ImportResult
) -> NewAttachment:
    """The export's file copied into the blob store piece by piece (a video is not read
    into memory whole); one that is not in the folder, or unreadable, is noted by name.
    The blob is not synced here: add_many syncs before the rows naming it commit."""
    if f.path is None:
        result.left_out += 1
        return NewAttachment(f.filename, f.mime, size=f.size)
    where = (folder / f.path).resolve()
    try:
        if not where.is_relative_to(folder):  # "../../etc/passwd" in a crafted file
            raise FileNotFoundError
        size = where.stat().st_size
        if size > MAX_FILE:
            result.missing += 1
            return NewAttachment(f.filename, f.mime, size=size)
        with where.open("rb") as source, archive.blobs.writer() as blob:
            sha = _copy(archive, source, blob, f.filename)
    except OSError:
        result.missing += 1
        return NewAttachment(f.filename, f.mime, size=f.size)
    result.files += 1
    return NewAttachment(f.filename, f.mime, size=blob.size, sha256=sha)


def _copy(archive: Archive, source: BinaryIO, blob: BlobWriter, name: str) -> str:
    """`source` into `blob`; its sha256. A read that fails is an OSError (the file is
    noted as missing); the store failing (a full disk) an ArchiveError, which stops the
    import rather than pass for a missing file."""
    while piece := source.read(PIECE):
        try:
            blob.write(piece)
        except OSError as e:
            raise cannot_store(archive.blobs.root, name, e) from e
    try:
        return blob.commit(sync=False)
    except OSError as e:
        raise cannot_store(archive.blobs.root, name, e) from e
