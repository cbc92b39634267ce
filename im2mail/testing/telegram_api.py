"""A Telegram Bot API test double: a real HTTP server on loopback (aiohttp.web).

It speaks the shapes of the real server, so im2mail runs its real code path against it:
methods at `/bot<token>/<method>` (GET or POST; query string, JSON, form or multipart),
files at `/file/bot<token>/<file_path>`, answers `{"ok": true, "result": ...}` or
`{"ok": false, "error_code": N, "description": "...", "parameters": {...}}`.

Test side, in plain Python (the tests' `telegram_api` fixture starts one):

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

The pieces: telegram_records.py (the records tests read, per-bot state), telegram_updates.py
(the update builders, push_text...), telegram_methods.py (the Bot API methods),
telegram_business.py (Telegram Business: connections, their chats and methods); this module
is the server (HTTP, error injection, webhook delivery) and re-exports their public names.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from typing import Any

import aiohttp
from aiohttp import web

from .loopback import LoopbackServer
from .streams import Stream
from .telegram_business import Account, BusinessAccounts
from .telegram_methods import CAPTION_LIMIT, TEXT_LIMIT, WEBHOOK_CONFLICT, BotApiMethods
from .telegram_records import (
    DESCRIPTIONS,
    NOT_BY_DEFAULT,
    ApiError,
    Call,
    Delivery,
    Sent,
    StoredFile,
    Upload,
    User,
    _Bot,
    _Fault,
)
from .telegram_updates import JPEG, CustomerUpdates

__all__ = [  # every public name of this module before it was split
    "BAD_GATEWAY_PAGE",
    "CAPTION_LIMIT",
    "DESCRIPTIONS",
    "DOWNLOAD_LIMIT",
    "JPEG",
    "NOT_BY_DEFAULT",
    "TEXT_LIMIT",
    "UPLOAD_LIMIT",
    "WEBHOOK_CONFLICT",
    "ApiError",
    "Call",
    "Delivery",
    "Sent",
    "StoredFile",
    "TelegramDouble",
    "Upload",
    "User",
]

DOWNLOAD_LIMIT = 20 * 1024 * 1024  # getFile refuses bigger files
UPLOAD_LIMIT = 50 * 1024 * 1024  # bigger requests get 413
BAD_GATEWAY_PAGE = (  # what nginx in front of the Bot API answers: HTML, not JSON
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
# How the Bot API reads form values (JSON bodies come typed already).
_INT_PARAMS = {"offset", "limit", "timeout", "max_connections", "message_thread_id",
               "reply_to_message_id", "duration", "width", "height", "message_id"}  # fmt: skip
_JSON_PARAMS = {"allowed_updates", "media", "entities", "caption_entities", "reply_markup",
                "link_preview_options", "reply_parameters", "reaction"}  # fmt: skip
_BOOL_PARAMS = {"drop_pending_updates", "disable_notification", "protect_content",
                "has_spoiler", "disable_content_type_detection", "is_big"}  # fmt: skip


# -- the double ------------------------------------------------------------------------------


class TelegramDouble(LoopbackServer, CustomerUpdates, BotApiMethods, BusinessAccounts):
    """The server plus its test-side API. `url` is what im2mail calls api_url."""

    def __init__(
        self,
        *,
        webhook_attempts: int = 3,
        webhook_retry_delay: float = 0.05,
        webhook_timeout: float = 5.0,
    ) -> None:
        super().__init__()
        self.webhook_attempts = webhook_attempts
        self.webhook_retry_delay = webhook_retry_delay
        self.webhook_timeout = webhook_timeout
        self.download_limit = DOWNLOAD_LIMIT
        self.upload_limit = UPLOAD_LIMIT
        self.log: list[Call] = []
        self.deliveries: list[Delivery] = []
        self._bots: dict[str, _Bot] = {}
        self._users: dict[int, User] = {}
        self._sent: list[tuple[str, Sent]] = []
        self._accounts: dict[str, Account] = {}  # business connections, by id
        # (token, chat, message id) -> the reactions on it: the bot's (setMessageReaction),
        # and the customers' (push_reaction), as ReactionType objects
        self._bot_reactions: dict[tuple[str, int, int], list[dict[str, Any]]] = {}
        self._customer_reactions: dict[tuple[str, int, int], list[dict[str, Any]]] = {}
        self._faults: list[_Fault] = []
        self._update_ids = itertools.count(700_000_001)
        self._ids = itertools.count(1)

    # lifecycle (start, close, async with: LoopbackServer)

    @property
    def url(self) -> str:
        """The api_url for im2mail: the server's root."""
        return self.base_url

    @property
    def max_body(self) -> int:  # type: ignore[override]
        return self.upload_limit + 1024 * 1024

    def _routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)

    def _before_close(self) -> None:
        for bot in self._bots.values():
            bot.wake_poller()

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
        data: bytes | Stream,
        file_path: str | None = None,
        size: int | None = None,
        kind: str = "document",
    ) -> str:
        """Store a file the bot can getFile and download; returns its file_id. `size` is
        what Telegram announces (default len(data)): set it to fake a huge file, or make
        `data` a Stream (served piece by piece, never held)."""
        return self._bot(token).store(data, file_path, size, kind).file_id

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

    def reactions_set(self, chat_id: int | str, token: str | None = None) -> dict[int, list[str]]:
        """The bot's reactions (setMessageReaction) on the chat's messages: message id ->
        emoji (empty: removed again)."""
        return {
            message: [r.get("emoji", r.get("type", "")) for r in reaction]
            for (t, chat, message), reaction in self._bot_reactions.items()
            if chat == int(chat_id) and (token is None or t == token)
        }

    def webhook(self, token: str) -> dict[str, Any] | None:
        """The webhook as set (url, secret_token, allowed_updates, ...), or None."""
        return self._bot(token).webhook

    def pending_updates(self, token: str) -> list[dict[str, Any]]:
        """Updates Telegram still holds for the bot (not confirmed, not delivered)."""
        return list(self._bot(token).pending)

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

    # pushing updates (push_text, push_photo... are CustomerUpdates', telegram_updates.py)

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
        stored.downloads += 1
        if isinstance(stored.data, Stream):
            return await stored.data.serve(request, "application/octet-stream")
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
