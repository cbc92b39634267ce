"""Reading a Telegram Desktop JSON export (result.json), streamed: a file of any size is
read in one pass with flat memory, one message at a time (ijson).

Two shapes exist, both handled:
- one chat ("Export chat history"): {"name", "type", "id", "messages": [...]};
- the whole account ("Export Telegram data"): {"personal_information": {"user_id"},
  "chats": {"list": [{"name", "type", "id", "messages": [...]}, ...]}, "left_chats": ...}.

Only one-to-one chats with people ("personal_chat") are customers; groups, channels,
chats with bots and Saved Messages are counted and left out, and so are service
messages (calls, pins). In a personal chat `id` is the other person's user id, and the
messages they wrote carry `from_id` "user<id>"; the rest are the account owner's.
Telegram Desktop writes a chat's name, type and id before its messages; a file where
they come after is not one of its exports.
"""

from __future__ import annotations

import mimetypes
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import ijson

from ..errors import UsageError
from ..untrusted import file_name, mime_type

PERSONAL = "personal_chat"
_CHAT_BASES = ("", "chats.list.item")  # where a chat object sits in each shape
_SCALARS = ("string", "number", "boolean", "null")
_MEDIA_KINDS = {
    "sticker": "sticker",
    "voice_message": "voice",
    "video_message": "video_note",
    "video_file": "video",
    "audio_file": "audio",
    "animation": "animation",
}


class ExportFormatError(UsageError):
    """The file is not a Telegram Desktop JSON export, or it is damaged."""


@dataclass(frozen=True)
class ExportChat:
    id: str  # the other person's user id
    name: str


@dataclass(frozen=True)
class ExportFile:
    """A file on a message: `path` relative to the export's folder, None when Telegram
    Desktop left it out ("File not included", "File exceeds maximum size")."""

    filename: str
    mime: str
    path: str | None
    size: int | None = None


@dataclass(frozen=True)
class ExportMessage:
    chat: ExportChat
    id: int
    created: datetime
    incoming: bool  # written by the customer, not by the account owner
    author: str
    text: str
    kind: str = "text"
    files: tuple[ExportFile, ...] = ()
    edited: bool = False


@dataclass
class Skipped:
    """What was read and left out, for the summary."""

    chats: Counter[str] = field(default_factory=Counter)  # chat type -> how many
    service: int = 0  # calls, pins, "joined Telegram"
    unreadable: int = 0  # a message without an id or a date


def read(
    path: Path, skipped: Skipped, progress: Callable[[int], None] | None = None
) -> Iterator[ExportMessage]:
    """The customers' messages in `path`, in file order. `progress(n)` gets the bytes
    read so far. Raises ExportFormatError for a file that is not an export."""
    try:
        handle = path.open("rb")
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror or e}") from None
    with handle:
        if path.stat().st_size == 0:
            raise ExportFormatError(f"{path} is empty", hint=_HINT)
        reader = _Counting(handle, progress)
        try:
            yield from _messages(ijson.parse(reader), skipped, path)
        except ijson.JSONError as e:
            raise _damaged(path, reader.offset, e) from None


def _messages(events: Iterator[tuple[str, str, Any]], skipped: Skipped, path: Path):
    first = next(events, None)
    if first is None or first[1] != "start_map":
        raise ExportFormatError(
            f"{path} is not a Telegram Desktop JSON export (it is not a JSON object)",
            hint=_HINT,
        )
    chat: dict[str, Any] = {}
    found = False  # a "messages" array of a chat, or the "chats" of a whole account
    for prefix, event, value in events:
        base, _, key = prefix.rpartition(".")
        if base in _CHAT_BASES and key in ("name", "type", "id") and event in _SCALARS:
            chat[key] = value
        elif prefix == "chats":
            found = True
        elif base in _CHAT_BASES and key == "messages" and event == "start_array":
            found = True
            wanted = _chat(chat, path, skipped)
            item = f"{prefix}.item"
            for message in _array(events, item, build=wanted is not None):
                parsed = _message(wanted, message, skipped) if wanted is not None else None
                if parsed is not None:
                    yield parsed
            chat = {}
    if not found:
        raise ExportFormatError(
            f"{path} is not a Telegram Desktop JSON export (no chat and no messages in it)",
            hint=_HINT,
        )


_HINT = (
    "in Telegram Desktop: open the chat, ⋮ → Export chat history, Format: JSON; "
    "or Settings → Advanced → Export Telegram data, Format: JSON; then give result.json"
)


def _chat(chat: dict[str, Any], path: Path, skipped: Skipped) -> ExportChat | None:
    if "type" not in chat or "id" not in chat:
        raise ExportFormatError(
            f"{path} is not a Telegram Desktop JSON export "
            "(a chat's messages come before its type and id)",
            hint=_HINT,
        )
    if chat["type"] != PERSONAL:
        skipped.chats[str(chat["type"])] += 1
        return None
    return ExportChat(id=str(chat["id"]), name=str(chat.get("name") or "").strip())


def _array(events: Iterator[tuple[str, str, Any]], item: str, build: bool) -> Iterator[Any]:
    """The items of the array just opened, each built whole (one message at a time);
    build=False: passed over, each item None."""
    for prefix, event, value in events:
        if event == "end_array" and prefix == item[: -len(".item")]:
            return
        builder = ijson.ObjectBuilder()
        builder.event(event, value)
        depth = 1 if event in ("start_map", "start_array") else 0
        while depth:
            prefix, event, value = next(events)
            if build:
                builder.event(event, value)
            if event in ("start_map", "start_array"):
                depth += 1
            elif event in ("end_map", "end_array"):
                depth -= 1
        yield builder.value if build else None


def _message(chat: ExportChat, m: Any, skipped: Skipped) -> ExportMessage | None:
    if not isinstance(m, dict):
        skipped.unreadable += 1
        return None
    if m.get("type") != "message":
        skipped.service += 1
        return None
    created = _when(m)
    if not isinstance(m.get("id"), int) or created is None:
        skipped.unreadable += 1
        return None
    incoming = m.get("from_id") == f"user{chat.id}"
    author = str(m.get("from") or (chat.name if incoming else "")).strip()
    kind, text, files = _content(m)
    return ExportMessage(
        chat=chat,
        id=m["id"],
        created=created,
        incoming=incoming,
        author=author or ("Customer" if incoming else "Shop"),
        text=text,
        kind=kind,
        files=files,
        edited="edited" in m,
    )


def _when(m: dict[str, Any]) -> datetime | None:
    """date_unixtime (exports since 2021) is exact; the older `date` is the exporting
    computer's local time, taken here as this machine's."""
    try:
        if m.get("date_unixtime") is not None:
            return datetime.fromtimestamp(int(m["date_unixtime"]), UTC)
        return datetime.fromisoformat(str(m["date"])).astimezone(UTC)
    except (KeyError, ValueError, TypeError, OverflowError, OSError):
        return None


def _content(m: dict[str, Any]) -> tuple[str, str, tuple[ExportFile, ...]]:
    text = _text(m.get("text"))
    if isinstance(m.get("photo"), str):
        return "photo", text, (_file(m, m["photo"], "image/jpeg", m.get("photo_file_size")),)
    if isinstance(m.get("file"), str):
        kind = _MEDIA_KINDS.get(str(m.get("media_type")), "document")
        if kind == "sticker" and not text:
            text = str(m.get("sticker_emoji") or "")
        return kind, text, (_file(m, m["file"], None, m.get("file_size")),)
    contact = m.get("contact_information")
    if isinstance(contact, dict):
        words = (contact.get(k) for k in ("first_name", "last_name", "phone_number"))
        return "contact", " ".join(str(w) for w in words if w), ()
    place = m.get("location_information")
    if isinstance(place, dict):
        where = f"📍 {place.get('latitude')}, {place.get('longitude')}"
        return "location", "\n".join(p for p in (text, where) if p), ()
    poll = m.get("poll")
    if isinstance(poll, dict):
        answers = [str(a.get("text", "")) for a in poll.get("answers", []) if isinstance(a, dict)]
        return "text", "\n".join([str(poll.get("question", "")), *answers]).strip(), ()
    return "text", text, ()


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(p if isinstance(p, str) else str(p.get("text", "")) for p in value
                       if isinstance(p, str | dict))  # fmt: skip
    return ""


def _file(m: dict[str, Any], where: str, mime: str | None, size: Any) -> ExportFile:
    left_out = where.startswith("(")  # "(File not included. Change data exporting settings…)"
    name = file_name(m.get("file_name"))  # what the sender's app called it: untrusted
    if not name:
        name = file_name(PurePosixPath(where).name) if not left_out else ""
        name = name or f"file-{m.get('id')}"
    given = m.get("mime_type") or mime or mimetypes.guess_type(name)[0]
    return ExportFile(
        filename=name,
        mime=mime_type(given),
        path=None if left_out else where,
        size=size if isinstance(size, int) and size >= 0 else None,
    )


class _Counting:
    """A binary file that reports how far it has been read."""

    def __init__(self, handle: BinaryIO, progress: Callable[[int], None] | None) -> None:
        self._handle, self._progress, self.offset = handle, progress, 0

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self.offset += len(data)
        if self._progress is not None:
            self._progress(self.offset)
        return data


def _damaged(path: Path, offset: int, e: Exception) -> ExportFormatError:
    if isinstance(e, ijson.IncompleteJSONError) and "premature EOF" in str(e):
        return ExportFormatError(
            f"{path} ends early, at byte {offset}: the export is incomplete or still being written",
            hint="export again, or wait for Telegram Desktop to finish, then run this again "
            "(messages already imported are not added twice)",
        )
    return ExportFormatError(
        f"{path} is not a Telegram Desktop JSON export (not valid JSON near byte {offset}: "
        f"{str(e).strip()[:120]})",
        hint=_HINT,
    )
