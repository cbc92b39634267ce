"""Records of the Telegram Bot API double (telegram_api.py): what the tests read (User,
Upload, Call, Sent, Delivery, StoredFile), the error a method answers with (ApiError) and
the double's state for one bot (_Bot, with the files it holds) and for a fault (_Fault).
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from .streams import Stream

# With no allowed_updates set, Telegram sends every type but these.
NOT_BY_DEFAULT = ("chat_member", "message_reaction", "message_reaction_count")

DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running",
    413: "Request Entity Too Large",
    500: "Internal Server Error",
}
_FILES = {  # kind: (file_id prefix, file_path folder, extension), as the real server makes them
    "photo": ("AgACAgIAAxkBAAI", "photos", ".jpg"),
    "document": ("BQACAgIAAxkBAAI", "documents", ""),
    "video": ("BAACAgIAAxkBAAI", "videos", ".mp4"),
    "voice": ("AwACAgIAAxkBAAI", "voice", ".oga"),
    "audio": ("CQACAgIAAxkBAAI", "music", ".mp3"),
    "sticker": ("CAACAgIAAxkBAAI", "stickers", ".webp"),
    "animation": ("CgACAgIAAxkBAAI", "animations", ".mp4"),
    "video_note": ("DQACAgIAAxkBAAI", "video_notes", ".mp4"),
}


@dataclass(frozen=True)
class User:
    """A Telegram user (a customer); `chat` is their private chat with any bot."""

    id: int
    first_name: str
    last_name: str = ""
    username: str | None = None
    language_code: str = "uk"

    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        data["language_code"] = self.language_code
        return data

    def chat(self) -> dict[str, Any]:
        data = {k: v for k, v in self.json().items() if k not in ("is_bot", "language_code")}
        return {**data, "type": "private"}


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request."""

    field: str
    filename: str | None
    content_type: str
    data: bytes


@dataclass
class Call:
    """One request the bot made."""

    token: str
    method: str  # as the client spelled it
    http_method: str
    params: dict[str, Any]
    files: dict[str, Upload]
    status: int = 0
    response: Any = None
    at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class Sent:
    """One message the bot sent (an album gives one per item)."""

    method: str  # sendMessage, sendPhoto, sendDocument, sendMediaGroup
    chat_id: int
    message_id: int
    kind: str  # text, photo, document
    text: str  # text or caption
    file: Upload | None
    media_group_id: str | None
    message: dict[str, Any]  # as the API returned it
    business_connection_id: str | None = None  # sent as a connected account (Business)


@dataclass(frozen=True)
class Delivery:
    """One attempt to POST an update to the webhook."""

    token: str
    update_id: int
    url: str
    attempt: int
    status: int | None  # None: no HTTP answer (refused, timed out)
    secret: str | None  # the secret header that was sent
    error: str | None = None


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes | Stream
    size: int
    downloads: int = 0  # GETs of /file/bot<token>/<file_path>

    def json(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
        }


@dataclass
class _Fault:
    method: str  # lower case, "*" for any
    token: str | None
    status: int | None
    description: str | None
    retry_after: int | None
    delay: float
    times: int
    skip: int = 0  # matching calls to let through first


class ApiError(Exception):
    def __init__(self, code: int, description: str | None = None, **parameters: Any) -> None:
        super().__init__(code, description)
        self.code = code
        self.description = description or DESCRIPTIONS.get(code, "Bad Request")
        self.parameters = parameters


@dataclass
class _Bot:
    token: str
    id: int
    username: str
    first_name: str
    pending: list[dict[str, Any]] = field(default_factory=list)  # not confirmed yet
    allowed_updates: list[str] | None = None
    webhook: dict[str, Any] | None = None
    last_error: tuple[int, str] | None = None
    revoked: bool = False
    business: bool = False  # business mode is on (an account connected it)
    blocked_by: set[int] = field(default_factory=set)
    files: dict[str, StoredFile] = field(default_factory=dict)
    poller: asyncio.Future[ApiError | None] | None = None
    delivering: asyncio.Lock = field(default_factory=asyncio.Lock)
    message_ids: dict[int, itertools.count[int]] = field(default_factory=dict)

    def store(
        self, data: bytes | Stream, file_path: str | None, size: int | None, kind: str
    ) -> StoredFile:
        """Keep a file as the real server would name it; `size` is what Telegram announces."""
        prefix, folder, ext = _FILES.get(kind, _FILES["document"])
        file_id = prefix + secrets.token_urlsafe(48)
        file_path = file_path or f"{folder}/file_{len(self.files)}{ext}"
        size = len(data) if size is None else size
        stored = StoredFile(file_id, "AQAD" + secrets.token_urlsafe(9), file_path, data, size)
        self.files[file_id] = stored
        return stored

    def user(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }

    def next_message_id(self, chat_id: int) -> int:
        return next(self.message_ids.setdefault(chat_id, itertools.count(1)))

    def has_message(self, chat_id: int, message_id: int) -> bool:
        """Whether the chat has a message with that id (customer's or bot's): every id up
        to the last one handed out."""
        counter = self.message_ids.get(chat_id)
        if counter is None:
            return False
        last = next(counter)  # the ids are a count: put this one back as the next
        self.message_ids[chat_id] = itertools.count(last)
        return 0 < message_id < last

    def wants(self, update_type: str) -> bool:
        if self.allowed_updates is None:
            return update_type not in NOT_BY_DEFAULT
        return update_type in self.allowed_updates

    def wake_poller(self, outcome: ApiError | None = None) -> None:
        if self.poller is not None and not self.poller.done():
            self.poller.set_result(outcome)
