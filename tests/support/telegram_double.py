"""A Telegram Bot API test double: a real HTTP server on loopback (aiohttp.web).

It speaks the shapes of the real server, so im2mail runs its real code path against it:
methods at `/bot<token>/<method>` (GET or POST; query string, JSON, form or multipart),
files at `/file/bot<token>/<file_path>`, answers `{"ok": true, "result": ...}` or
`{"ok": false, "error_code": N, "description": "...", "parameters": {...}}`.

Test side, in plain Python (see the `telegram_api` fixture):

    token = tg.add_bot("shop_bot")
    olena = tg.customer("Олена", "Коваль", username="olena_k")
    await tg.push_text(token, olena, "Привіт! Скільки коштують візитки?")
    ...                                   # the code under test polls or gets a webhook
    assert tg.sent_messages(olena.id)[0].text == "..."
    tg.fail("sendMessage", 429, retry_after=7)   # the next sendMessage gets flood control

Updates get increasing update_ids and the fields Telegram fills in. While a webhook is
set, a pushed update is POSTed to it at once (with X-Telegram-Bot-Api-Secret-Token) and
retried a few times on failure; every attempt is recorded in `deliveries`. Updates whose
type the bot's allowed_updates excludes are dropped, as Telegram does.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

DOWNLOAD_LIMIT = 20 * 1024 * 1024  # getFile refuses bigger files
UPLOAD_LIMIT = 50 * 1024 * 1024  # bigger requests get 413
TEXT_LIMIT = 4096  # counted in code points (measured on the real API)
CAPTION_LIMIT = 1024
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
BAD_GATEWAY_PAGE = (  # what nginx in front of the Bot API answers: HTML, not JSON
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
# How the Bot API reads form values (JSON bodies come typed already).
_INT_PARAMS = {"offset", "limit", "timeout", "max_connections", "message_thread_id",
               "reply_to_message_id", "duration", "width", "height"}  # fmt: skip
_JSON_PARAMS = {"allowed_updates", "media", "entities", "caption_entities", "reply_markup",
                "link_preview_options", "reply_parameters"}  # fmt: skip
_BOOL_PARAMS = {"drop_pending_updates", "disable_notification", "protect_content",
                "has_spoiler", "disable_content_type_detection"}  # fmt: skip
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
_MEDIA_FIELDS: dict[str, dict[str, Any]] = {
    "video": {"duration": 5, "width": 640, "height": 360, "mime_type": "video/mp4"},
    "voice": {"duration": 3, "mime_type": "audio/ogg"},
    "audio": {"duration": 95, "performer": "Гурт", "title": "Пісня", "mime_type": "audio/mpeg"},
    "video_note": {"duration": 4, "length": 240},
    "animation": {"duration": 2, "width": 320, "height": 240, "file_name": "giphy.mp4",
                  "mime_type": "video/mp4"},
    "sticker": {"width": 512, "height": 512, "emoji": "👍", "set_name": "ShopStickers",
                "is_animated": False, "is_video": False, "type": "regular"},
}  # fmt: skip
_MEDIA_BYTES = {"video": b"\x00\x00\x00\x18ftypmp42", "voice": b"OggS voice",
                "sticker": b"RIFF\x00\x00\x00\x00WEBPVP8 ", "document": b"%PDF-1.4"}  # fmt: skip
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"  # a JPEG's start


# -- records the tests read ---------------------------------------------------------------


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
    data: bytes
    size: int

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
    blocked_by: set[int] = field(default_factory=set)
    files: dict[str, StoredFile] = field(default_factory=dict)
    poller: asyncio.Future[ApiError | None] | None = None
    delivering: asyncio.Lock = field(default_factory=asyncio.Lock)
    message_ids: dict[int, itertools.count[int]] = field(default_factory=dict)

    def user(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }

    def next_message_id(self, chat_id: int) -> int:
        return next(self.message_ids.setdefault(chat_id, itertools.count(1)))

    def wants(self, update_type: str) -> bool:
        if self.allowed_updates is None:
            return update_type not in NOT_BY_DEFAULT
        return update_type in self.allowed_updates

    def wake_poller(self, outcome: ApiError | None = None) -> None:
        if self.poller is not None and not self.poller.done():
            self.poller.set_result(outcome)


# -- the double ------------------------------------------------------------------------------


class TelegramDouble:
    """The server plus its test-side API. `url` is what im2mail calls api_url."""

    def __init__(
        self,
        *,
        webhook_attempts: int = 3,
        webhook_retry_delay: float = 0.05,
        webhook_timeout: float = 5.0,
    ) -> None:
        self.webhook_attempts = webhook_attempts
        self.webhook_retry_delay = webhook_retry_delay
        self.webhook_timeout = webhook_timeout
        self.download_limit = DOWNLOAD_LIMIT
        self.upload_limit = UPLOAD_LIMIT
        self.url = ""
        self.log: list[Call] = []
        self.deliveries: list[Delivery] = []
        self._bots: dict[str, _Bot] = {}
        self._users: dict[int, User] = {}
        self._sent: list[tuple[str, Sent]] = []
        self._faults: list[_Fault] = []
        self._update_ids = itertools.count(700_000_001)
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    # lifecycle

    async def start(self) -> TelegramDouble:
        app = web.Application(client_max_size=self.upload_limit + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        self._session = aiohttp.ClientSession()
        return self

    async def close(self) -> None:
        for bot in self._bots.values():
            bot.wake_poller()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> TelegramDouble:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # bots, users, files

    def add_bot(
        self, username: str = "shop_bot", first_name: str = "Shop", token: str | None = None
    ) -> str:
        """A new bot; returns its token (shaped like a real one)."""
        bot_id = 7_000_000_000 + len(self._bots) + 1
        token = token or f"{bot_id}:AA{secrets.token_urlsafe(25)[:33]}"
        self._bots[token] = _Bot(token, bot_id, username, first_name)
        return token

    def revoke(self, token: str) -> None:
        """The token stops working: every call gets 401 Unauthorized."""
        self._bot(token).revoked = True

    def customer(
        self,
        first_name: str = "Олена",
        last_name: str = "",
        username: str | None = None,
        language_code: str = "uk",
    ) -> User:
        """A Telegram user who has started the bots (so they may write to them)."""
        user = User(5_000_000_000 + next(self._ids), first_name, last_name, username, language_code)
        self._users[user.id] = user
        return user

    def add_file(
        self,
        token: str,
        data: bytes,
        file_path: str | None = None,
        size: int | None = None,
        kind: str = "document",
    ) -> str:
        """Store a file the bot can getFile and download; returns its file_id. `size` is
        what Telegram announces (default len(data)): set it to fake a huge file."""
        return self._store(self._bot(token), data, file_path, size, kind).file_id

    def file(self, token: str, file_id: str) -> StoredFile:
        return self._bot(token).files[file_id]

    # what the bot did

    def calls(self, method: str | None = None, token: str | None = None) -> list[Call]:
        return [
            c
            for c in self.log
            if (method is None or c.method.lower() == method.lower())
            and (token is None or c.token == token)
        ]

    def sent_messages(
        self, chat_id: int | str | None = None, token: str | None = None
    ) -> list[Sent]:
        return [
            s
            for t, s in self._sent
            if (chat_id is None or s.chat_id == int(chat_id)) and (token is None or t == token)
        ]

    def webhook(self, token: str) -> dict[str, Any] | None:
        """The webhook as set (url, secret_token, allowed_updates, ...), or None."""
        return self._bot(token).webhook

    def pending_updates(self, token: str) -> list[dict[str, Any]]:
        """Updates Telegram still holds for the bot (not confirmed, not delivered)."""
        return list(self._bot(token).pending)

    async def wait_until(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Wait until predicate() is truthy (and return it); fail the test after timeout."""
        deadline = time.monotonic() + timeout
        while not (value := predicate()):
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout} s")
            await asyncio.sleep(0.01)
        return value

    async def wait_for_sent(
        self, chat_id: int | str, count: int = 1, timeout: float = 5.0
    ) -> list[Sent]:
        await self.wait_until(lambda: len(self.sent_messages(chat_id)) >= count, timeout)
        return self.sent_messages(chat_id)

    # error injection

    def fail(
        self,
        method: str,
        status: int,
        description: str | None = None,
        *,
        retry_after: int | None = None,
        times: int = 1,
        skip: int = 0,
        token: str | None = None,
        delay: float = 0.0,
    ) -> None:
        """The next `times` calls of `method` ("*": any) fail with `status`: 403 blocked,
        429 (retry_after, default 5), 400, 409, 500, 502 (an HTML page, like nginx)...
        `skip`: let that many matching calls succeed first; `delay`: answer late.
        Method "download" stands for file downloads (/file/bot<token>/<path>)."""
        if status == 429:
            retry_after = retry_after or 5
            description = description or f"Too Many Requests: retry after {retry_after}"
        self._faults.append(
            _Fault(method.lower(), token, status, description, retry_after, delay, times, skip)
        )

    def delay(
        self, method: str, seconds: float, *, times: int = 1, token: str | None = None
    ) -> None:
        """The next `times` calls of `method` are answered (normally) only after `seconds`:
        longer than the client's read timeout, that is a timeout."""
        self._faults.append(_Fault(method.lower(), token, None, None, None, seconds, times))

    # pushing updates

    async def push_update(self, token: str, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update (update_id added if missing); with a webhook set, deliver it now.
        Returns the update as Telegram would send it."""
        bot = self._bot(token)
        update = {"update_id": next(self._update_ids), **update}
        if not bot.wants(next((k for k in update if k != "update_id"), "")):
            return update
        bot.pending.append(update)
        if bot.webhook:
            await self._deliver(bot, update)
        else:
            bot.wake_poller()
        return update

    async def push_message(self, token: str, user: User, **content: Any) -> dict[str, Any]:
        """A message from `user` with any content fields (text=..., location=...)."""
        return await self.push_update(token, {"message": self.message(token, user, **content)})

    def message(self, token: str, user: User, **content: Any) -> dict[str, Any]:
        """A Message object from `user` in their private chat (not pushed)."""
        return {
            "message_id": self._bot(token).next_message_id(user.id),
            "from": user.json(),
            "chat": user.chat(),
            "date": int(time.time()),
            **content,
        }

    async def push_text(
        self, token: str, user: User, text: str, entities: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """A text message; a leading /command gets its bot_command entity."""
        if entities is None and text.startswith("/"):
            entities = [{"offset": 0, "length": len(text.split()[0]), "type": "bot_command"}]
        extra = {"entities": entities} if entities else {}
        return await self.push_message(token, user, text=text, **extra)

    async def push_start(
        self, token: str, user: User, payload: str | None = None
    ) -> dict[str, Any]:
        """The customer pressed Start, from a deep link t.me/<bot>?start=<payload> or not."""
        return await self.push_text(token, user, f"/start {payload}" if payload else "/start")

    async def push_photo(
        self,
        token: str,
        user: User,
        data: bytes = JPEG + b"photo",
        caption: str = "",
        media_group_id: str | None = None,
        size: int | None = None,
    ) -> dict[str, Any]:
        """A photo in three sizes, as Telegram makes them; the largest holds `data`."""
        return await self.push_message(
            token, user, **self._photo(token, data, caption, media_group_id, size)
        )

    async def push_album(
        self,
        token: str,
        user: User,
        count: int = 3,
        caption: str = "",
        photos: list[bytes] | None = None,
    ) -> list[dict[str, Any]]:
        """`count` photo messages sharing one media_group_id; the caption on the first."""
        group = str(13_000_000_000_000_000 + next(self._ids))
        photos = photos or [JPEG + f"album photo {i}".encode() for i in range(count)]
        return [
            await self.push_photo(token, user, data, caption if i == 0 else "", group)
            for i, data in enumerate(photos)
        ]

    async def push_document(
        self, token: str, user: User, data: bytes = b"%PDF-1.4 invoice", **fields: Any
    ) -> dict[str, Any]:
        """A document (default: invoice.pdf, application/pdf); fields as for push_file."""
        fields = {"file_name": "invoice.pdf", "mime_type": "application/pdf", **fields}
        return await self.push_file(token, user, "document", data, **fields)

    async def push_file(
        self,
        token: str,
        user: User,
        kind: str,
        data: bytes | None = None,
        caption: str = "",
        size: int | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """A message with one file of `kind`: document, video, voice, audio, animation,
        video_note, sticker. Realistic fields come by default (duration, mime_type, a
        sticker's emoji and set_name...); `fields` add to or override them (file_name=...,
        is_animated=True). `size` is the size Telegram announces (default: len(data))."""
        fields = {**_MEDIA_FIELDS.get(kind, {}), **fields}
        data = _MEDIA_BYTES.get(kind, b"data") if data is None else data
        stored = self._store(self._bot(token), data, None, size, kind)
        content: dict[str, Any] = {kind: {**stored.json(), **fields}}
        if kind == "animation":  # Telegram sends a GIF as both
            keep = ("file_name", "mime_type")
            content["document"] = {**stored.json(), **{k: fields[k] for k in keep}}
        if caption:
            content["caption"] = caption
        return await self.push_message(token, user, **content)

    async def push_contact(
        self,
        token: str,
        user: User,
        phone: str = "380671234567",
        own: bool = True,
        first_name: str | None = None,
    ) -> dict[str, Any]:
        """A shared contact; `own`: the customer's own number (the request_contact button)."""
        contact: dict[str, Any] = {
            "phone_number": phone,
            "first_name": first_name or user.first_name,
        }
        if own:
            contact["user_id"] = user.id
            if user.last_name:
                contact["last_name"] = user.last_name
        return await self.push_message(token, user, contact=contact)

    async def push_location(
        self, token: str, user: User, latitude: float = 50.450123, longitude: float = 30.523456
    ) -> dict[str, Any]:
        return await self.push_message(
            token, user, location={"latitude": latitude, "longitude": longitude}
        )

    async def push_venue(
        self,
        token: str,
        user: User,
        title: str = "Друкарня «Аркуш»",
        address: str = "вул. Хрещатик, 1, Київ",
        latitude: float = 50.4501,
        longitude: float = 30.5234,
    ) -> dict[str, Any]:
        location = {"latitude": latitude, "longitude": longitude}
        venue = {"location": location, "title": title, "address": address}
        return await self.push_message(token, user, location=location, venue=venue)

    async def push_edit(self, token: str, original: dict[str, Any], text: str) -> dict[str, Any]:
        """The customer edited the message of an earlier update (text or caption)."""
        message = dict(original.get("message") or original["edited_message"])
        message["edit_date"] = int(time.time())
        message["caption" if "caption" in message else "text"] = text
        return await self.push_update(token, {"edited_message": message})

    async def push_member(self, token: str, user: User, status: str) -> dict[str, Any]:
        """my_chat_member: "kicked" (the customer blocked the bot; sends to them now get 403)
        or "member" (unblocked)."""
        bot = self._bot(token)
        if status == "kicked":
            bot.blocked_by.add(user.id)
        else:
            bot.blocked_by.discard(user.id)
        old = "member" if status == "kicked" else "kicked"

        def member(s: str) -> dict[str, Any]:
            return {"user": bot.user(), "status": s, **({"until_date": 0} if s == "kicked" else {})}

        change = {
            "chat": user.chat(),
            "from": user.json(),
            "date": int(time.time()),
            "old_chat_member": member(old),
            "new_chat_member": member(status),
        }
        return await self.push_update(token, {"my_chat_member": change})

    async def flush_webhook(self, token: str) -> None:
        """Deliver the pending updates to the webhook now (Telegram does it on its own)."""
        bot = self._bot(token)
        for update in list(bot.pending):
            if bot.webhook and update in bot.pending:
                await self._deliver(bot, update)

    # -- internals ---------------------------------------------------------------------------

    def _bot(self, token: str) -> _Bot:
        try:
            return self._bots[token]
        except KeyError:
            raise KeyError("no such bot in the double; use add_bot()") from None

    def _store(
        self, bot: _Bot, data: bytes, file_path: str | None, size: int | None, kind: str
    ) -> StoredFile:
        prefix, folder, ext = _FILES.get(kind, _FILES["document"])
        file_id = prefix + secrets.token_urlsafe(48)
        file_path = file_path or f"{folder}/file_{len(bot.files)}{ext}"
        size = len(data) if size is None else size
        stored = StoredFile(file_id, "AQAD" + secrets.token_urlsafe(9), file_path, data, size)
        bot.files[file_id] = stored
        return stored

    def _photo(
        self,
        token: str,
        data: bytes,
        caption: str = "",
        media_group_id: str | None = None,
        size: int | None = None,
    ) -> dict[str, Any]:
        bot = self._bot(token)
        sizes = []
        variants = (
            ((90, 67), b"thumb", None),
            ((320, 240), b"medium", None),
            ((1280, 960), data, size),
        )
        for (w, h), blob, announced in variants:
            file = self._store(bot, blob, None, announced, "photo")
            sizes.append({**file.json(), "width": w, "height": h})
        content: dict[str, Any] = {"photo": sizes}
        if caption:
            content["caption"] = caption
        if media_group_id:
            content["media_group_id"] = media_group_id
        return content

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, bot: _Bot, update: dict[str, Any]) -> None:
        async with bot.delivering:
            for attempt in range(1, self.webhook_attempts + 1):
                hook = bot.webhook
                if not hook or update not in bot.pending:
                    return
                secret = hook.get("secret_token")
                headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
                status, error = None, None
                try:
                    assert self._session is not None
                    async with self._session.post(
                        hook["url"],
                        json=update,
                        headers=headers,
                        timeout=aiohttp.ClientTimeout(total=self.webhook_timeout),
                    ) as response:
                        status, reason = response.status, response.reason
                except TimeoutError:
                    error = "Read timeout expired"
                except aiohttp.ClientError:
                    error = "Connection refused"
                self.deliveries.append(
                    Delivery(
                        bot.token, update["update_id"], hook["url"], attempt, status, secret, error
                    )
                )
                if status is not None and 200 <= status < 300:
                    bot.pending.remove(update)
                    return
                error = error or f"Wrong response from the webhook: {status} {reason}"
                bot.last_error = (int(time.time()), error)
                if attempt < self.webhook_attempts:
                    await asyncio.sleep(self.webhook_retry_delay * attempt)

    # -- HTTP --------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        try:
            params, files = await _read_params(request)
        except ApiError as e:
            return _error(e)
        call = Call(token, method, request.method, params, files)
        self.log.append(call)
        bot = self._bots.get(token)
        try:
            if bot is None or bot.revoked:
                raise ApiError(401)
            handler = getattr(self, f"_m_{method.lower()}", None)
            if handler is None:
                raise ApiError(404)
            fault = self._fault(method, token)
            if fault is not None:
                await asyncio.sleep(fault.delay)
                if fault.status == 502:
                    call.status = 502
                    return web.Response(status=502, text=BAD_GATEWAY_PAGE, content_type="text/html")
                if fault.status is not None:
                    extra = {"retry_after": fault.retry_after} if fault.retry_after else {}
                    raise ApiError(fault.status, fault.description, **extra)
            result = await handler(bot, params, files)
        except ApiError as e:
            call.status, call.response = e.code, e.description
            return _error(e)
        call.status, call.response = 200, result
        body: dict[str, Any] = {"ok": True, "result": result}
        if method.lower() in ("setwebhook", "deletewebhook"):
            body["description"] = "Webhook was set" if bot.webhook else "Webhook was deleted"
        return _json(200, body)

    async def _download(self, request: web.Request) -> web.Response:
        bot = self._bots.get(request.match_info["token"])
        if bot is None or bot.revoked:
            return _error(ApiError(401))
        fault = self._fault("download", bot.token)
        if fault is not None:
            await asyncio.sleep(fault.delay)
            if fault.status is not None:
                return _error(ApiError(fault.status, fault.description))
        path = request.match_info["path"]
        stored = next((f for f in bot.files.values() if f.file_path == path), None)
        if stored is None:
            return _error(ApiError(404))
        return web.Response(body=stored.data, content_type="application/octet-stream")

    def _fault(self, method: str, token: str) -> _Fault | None:
        for fault in self._faults:
            if fault.method in ("*", method.lower()) and fault.token in (None, token):
                if fault.skip > 0:
                    fault.skip -= 1
                    return None
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    # -- methods (named _m_<lower-case method>; Bot API method names are case-insensitive) --

    async def _m_getme(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        return {
            **bot.user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _m_getupdates(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        if bot.webhook:
            raise ApiError(409, WEBHOOK_CONFLICT)
        if "allowed_updates" in params:
            bot.allowed_updates = params["allowed_updates"] or None
        offset = params.get("offset")
        if isinstance(offset, int) and offset > 0:
            bot.pending = [u for u in bot.pending if u["update_id"] >= offset]
        elif isinstance(offset, int) and offset < 0:
            bot.pending = bot.pending[offset:]
        limit = min(max(params.get("limit") or 100, 1), 100)
        timeout = max(params.get("timeout") or 0, 0)
        bot.wake_poller(ApiError(409))  # "terminated by other getUpdates request"
        if not bot.pending and timeout:
            bot.poller = asyncio.get_running_loop().create_future()
            waiter = bot.poller
            done, _ = await asyncio.wait({waiter}, timeout=timeout)
            if done and isinstance(waiter.result(), ApiError):
                raise waiter.result()  # type: ignore[misc]
        return bot.pending[:limit]

    async def _m_setwebhook(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        url = params.get("url") or ""
        if not url:
            return await self._m_deletewebhook(bot, params, files)
        if not url.startswith(("https://", "http://")):
            raise ApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        secret = params.get("secret_token")
        if secret is not None and not _valid_secret(secret):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            bot.pending.clear()
        if "allowed_updates" in params:
            bot.allowed_updates = params["allowed_updates"] or None
        bot.webhook = {
            "url": url,
            "secret_token": secret,
            "max_connections": params.get("max_connections", 40),
            "allowed_updates": bot.allowed_updates,
        }
        bot.last_error = None
        bot.wake_poller(ApiError(409, "Conflict: terminated by setWebhook request"))
        if bot.pending:
            self._spawn(self.flush_webhook(bot.token))
        return True

    async def _m_deletewebhook(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        if params.get("drop_pending_updates"):
            bot.pending.clear()
        bot.webhook = None
        return True

    async def _m_getwebhookinfo(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        info: dict[str, Any] = {
            "url": "",
            "has_custom_certificate": False,
            "pending_update_count": len(bot.pending),
        }
        if bot.webhook:
            info.update(
                url=bot.webhook["url"],
                max_connections=bot.webhook["max_connections"],
                ip_address="127.0.0.1",
            )
            if bot.webhook["allowed_updates"]:
                info["allowed_updates"] = bot.webhook["allowed_updates"]
        if bot.last_error:
            info["last_error_date"], info["last_error_message"] = bot.last_error
        return info

    async def _m_sendmessage(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        chat_id = self._chat(bot, params)
        text = str(params.get("text") or "").strip()
        if not text:
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > TEXT_LIMIT:
            raise ApiError(400, "Bad Request: message is too long")
        extra = {"entities": params["entities"]} if params.get("entities") else {}
        return self._sent_message(bot, "sendMessage", chat_id, "text", text, None, None, extra)

    async def _m_sendphoto(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        return self._send_file(bot, "sendPhoto", "photo", params, files)

    async def _m_senddocument(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        return self._send_file(bot, "sendDocument", "document", params, files)

    async def _m_sendmediagroup(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        chat_id = self._chat(bot, params)
        media = params.get("media")
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise ApiError(400, "Bad Request: wrong number of media in the album")  # wording ~
        kinds = {m.get("type") for m in media}
        if "document" in kinds and kinds != {"document"}:
            raise ApiError(400, "Bad Request: documents can't be mixed with other media types")
        group = str(13_000_000_000_000_000 + next(self._ids))
        items = [(m["type"], _input_file(bot, m.get("media"), files, m["type"]), m) for m in media]
        for kind, upload, item in items:
            self._check_file(kind, upload, item.get("caption") or "")
        return [
            self._sent_message(
                bot, "sendMediaGroup", chat_id, kind, item.get("caption") or "", upload, group
            )
            for kind, upload, item in items
        ]

    async def _m_getfile(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        stored = bot.files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if stored.size > self.download_limit:
            raise ApiError(400, "Bad Request: file is too big")
        return {**stored.json(), "file_path": stored.file_path}

    def _chat(self, bot: _Bot, params: dict[str, Any]) -> int:
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int) or chat_id not in self._users:
            raise ApiError(400, "Bad Request: chat not found")
        if chat_id in bot.blocked_by:
            raise ApiError(403)
        return chat_id

    def _send_file(
        self, bot: _Bot, method: str, kind: str, params: dict[str, Any], files: dict[str, Upload]
    ) -> Any:
        chat_id = self._chat(bot, params)
        upload = _input_file(bot, params.get(kind), files, kind, field_name=kind)
        caption = str(params.get("caption") or "").strip()
        self._check_file(kind, upload, caption)
        return self._sent_message(bot, method, chat_id, kind, caption, upload, None)

    def _check_file(self, kind: str, upload: Upload, caption: str) -> None:
        if len(caption) > CAPTION_LIMIT:
            raise ApiError(400, "Bad Request: message caption is too long")
        if len(upload.data) > self.upload_limit:
            raise ApiError(413)
        if kind == "photo" and not upload.data.startswith((b"\xff\xd8\xff", b"\x89PNG")):
            raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")

    def _sent_message(
        self,
        bot: _Bot,
        method: str,
        chat_id: int,
        kind: str,
        text: str,
        upload: Upload | None,
        group: str | None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        user = self._users[chat_id]
        message: dict[str, Any] = {
            "message_id": bot.next_message_id(chat_id),
            "from": bot.user(),
            "chat": user.chat(),
            "date": int(time.time()),
        }
        if group:
            message["media_group_id"] = group
        if kind == "text":
            message.update(text=text, **(extra or {}))
        else:
            assert upload is not None
            stored = self._store(bot, upload.data, None, None, kind)
            if kind == "photo":
                message["photo"] = [{**stored.json(), "width": 1280, "height": 960}]
            else:
                message["document"] = {
                    **stored.json(),
                    "file_name": upload.filename or "file",
                    "mime_type": upload.content_type,
                }
            if text:
                message["caption"] = text
        self._sent.append(
            (
                bot.token,
                Sent(method, chat_id, message["message_id"], kind, text, upload, group, message),
            )
        )
        return message


def _valid_secret(secret: Any) -> bool:
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
    return isinstance(secret, str) and 1 <= len(secret) <= 256 and set(secret) <= allowed


def _input_file(
    bot: _Bot, value: Any, files: dict[str, Upload], kind: str, field_name: str | None = None
) -> Upload:
    """An InputFile parameter: an uploaded part (by field name or attach://<name>), or the
    file_id of a file the bot knows."""
    if isinstance(value, str) and value.startswith("attach://"):
        upload = files.get(value.removeprefix("attach://"))
    elif field_name and field_name in files:
        upload = files[field_name]
    elif isinstance(value, str) and value in bot.files:
        stored = bot.files[value]
        upload = Upload(
            kind, stored.file_path.rsplit("/", 1)[-1], "application/octet-stream", stored.data
        )
    else:
        upload = None
    if upload is None:
        raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
    return upload


async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, Upload]]:
    """Parameters from the query string and the body (JSON, form or multipart), typed the
    way the Bot API reads them."""
    raw: dict[str, Any] = dict(request.query)
    files: dict[str, Upload] = {}
    if request.can_read_body:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise ApiError(400, "Bad Request: can't parse JSON") from None
            if isinstance(body, dict):
                raw.update(body)
        else:
            for name, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    files[name] = Upload(
                        name, value.filename, value.content_type, value.file.read()
                    )
                else:
                    raw[name] = value
    return {name: _typed(name, value) for name, value in raw.items()}, files


def _typed(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        if name in _JSON_PARAMS:
            return json.loads(value)
        if name in _INT_PARAMS or (name == "chat_id" and value.lstrip("-").isdigit()):
            return int(value)
    except ValueError:
        raise ApiError(400, f"Bad Request: can't parse {name}") from None
    if name in _BOOL_PARAMS:
        return value.lower() == "true"
    return value


def _error(e: ApiError) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": e.code, "description": e.description}
    if e.parameters:
        body["parameters"] = e.parameters
    return _json(e.code, body)


def _json(status: int, body: Any) -> web.Response:
    return web.json_response(body, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


@pytest.fixture
async def telegram_api() -> AsyncIterator[TelegramDouble]:
    """A running Telegram Bot API double on a free loopback port; `.url` is the api_url."""
    async with TelegramDouble() as double:
        yield double
