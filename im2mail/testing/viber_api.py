"""A Viber REST Bot API test double: a real HTTP server on loopback (aiohttp.web).

It speaks the shapes of https://developers.viber.com/docs/api/rest-bot-api/, so im2mail runs
its real code path (viberbot, pointed at `url`) against it: `POST /pa/<method>` with a JSON
body and the token in `auth_token` (or the X-Viber-Auth-Token header); every answer is HTTP
200 with `{"status": 0, "status_message": "ok", ...}` or, on failure, a non-zero status
named as Viber names it (STATUS). Methods: set_webhook, get_account_info, send_message,
get_user_details; others get 404, as a wrong URL does on Viber.

Test side, in plain Python:

    token = viber.add_bot("Друкарня")
    olena = viber.customer("Олена")
    await viber.push_text(token, olena, "Привіт! Скільки коштують візитки?")
    ...                                   # the relay's webhook got a signed callback
    assert viber.sent_messages(olena.id)[0].text == "..."
    viber.fail("send_message", 12)        # the next send_message: tooManyRequests

As on Viber: set_webhook first POSTs a signed `webhook` callback to the URL and fails with
invalidUrl (1) unless it gets 200; a customer can be messaged only once subscribed (a
`subscribed` callback or any message of theirs), else receiverNotSubscribed (6); pictures,
videos and files are downloaded from the URL the bot gives, at once (a picture must be a
JPEG or PNG of at most 1 MB), and refused with badData (3) when they cannot be: real Viber
may instead accept such a message and send a `failed` callback later. Customers' media
live on the double at signed URLs that expire (add_media), like Viber's CDN links, so a
test proves the relay downloads them at once.

Not modelled: broadcast_message, get_online, post, keyboards' layout, the 30 kB request
limit, callback retries (one attempt per push; see viber_events.py).

The pieces: viber_records.py (records, statuses, limits), viber_events.py (the callback
pushers, signing, webhook delivery); this module is the server and its test-side API.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from .loopback import LoopbackServer
from .streams import Stream
from .viber_events import CallbackPushers, is_loopback, now_ms
from .viber_records import (  # fmt: skip
    CHAT_HOSTNAME,
    DEFAULT_EVENT_TYPES,
    FILE_LIMIT,
    FORBIDDEN_EXTENSIONS,
    JPEG,
    MEDIA_LIMITS,
    MP4,
    PICTURE_LIMIT,
    PNG,
    STATUS,
    TEXT_LIMIT,
    VIDEO_LIMIT,
    Call,
    Delivery,
    Media,
    Sent,
    ViberError,
    ViberUser,
    _Bot,
    _Fault,
    account_id,
    bot_token,
    check_content,
    check_envelope,
    message_tokens,
    user_id,
)

__all__ = [  # the public names of viber_api, viber_records and viber_events
    "BAD_GATEWAY_PAGE", "DEFAULT_EVENT_TYPES", "FILE_LIMIT", "FORBIDDEN_EXTENSIONS", "JPEG",
    "MP4", "PICTURE_LIMIT", "PNG", "STATUS", "TEXT_LIMIT", "VIDEO_LIMIT", "Call", "Delivery",
    "Media", "Sent", "ViberDouble", "ViberError", "ViberUser",
]  # fmt: skip

BAD_GATEWAY_PAGE = (  # what a proxy in front of the API answers: HTML, not JSON
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
DETAILS_WINDOW = 12 * 3600  # get_user_details: at most `user_details_limit` calls per user


REQUEST_LIMIT = 30 * 1024  # bytes of one API request


class ViberDouble(LoopbackServer, CallbackPushers):
    """The server plus its test-side API. `url` (http://127.0.0.1:<port>/pa) is the api_url.

    auto_receipts: after each accepted send_message, push `delivered` then `seen` for it
    (receipt_delay apart). names_need_opt_in: callbacks carry the customer's name and
    avatar only if set_webhook asked with send_name / send_photo, as Viber does for bots
    since its privacy change (off by default, so plain viberbot.set_webhook gets names).
    """

    def __init__(
        self,
        *,
        auto_receipts: bool = False,
        receipt_delay: float = 0.05,
        webhook_timeout: float = 5.0,
        media_ttl: float = 60.0,
        names_need_opt_in: bool = False,
        user_details_limit: int | None = 2,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.clock = clock  # epoch seconds, for links' expiry and rate windows (tests move it)
        self.auto_receipts = auto_receipts
        self.receipt_delay = receipt_delay
        self.webhook_timeout = webhook_timeout
        self.media_ttl = media_ttl
        self.names_need_opt_in = names_need_opt_in
        self.user_details_limit = user_details_limit
        self.download_timeout = 10.0
        self.log: list[Call] = []
        self.deliveries: list[Delivery] = []
        self._bots: dict[str, _Bot] = {}
        self._users: dict[str, ViberUser] = {}
        self._media: dict[str, Media] = {}
        self._sent: list[Sent] = []
        self._faults: list[_Fault] = []
        self._tokens = message_tokens()
        self._media_key = secrets.token_bytes(16)

    # lifecycle (start, close, async with: LoopbackServer)

    @property
    def url(self) -> str:
        """The api_url for im2mail: the REST API base, /pa included."""
        return f"{self.base_url}/pa" if self.base_url else ""

    def _routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/pa/{method}", self._api)
        app.router.add_get("/media/{id}", self._download)

    # bots, customers, media

    def add_bot(
        self,
        name: str = "Друкарня",
        uri: str = "drukarnia",
        avatar: str | None = None,
        *,
        token: str | None = None,
        auto_receipts: bool | None = None,
    ) -> str:
        """A new bot (a Viber account); returns its token, shaped like a real one.
        `auto_receipts` overrides the double's setting for this bot."""
        token = token or bot_token()
        self._bots[token] = _Bot(token, account_id(), name, uri, avatar, auto_receipts)
        return token

    def revoke(self, token: str) -> None:
        """The token stops working: every call answers invalidAuthToken (2)."""
        self._bot(token).revoked = True

    def customer(
        self,
        name: str = "Олена",
        *,
        language: str = "uk",
        country: str = "UA",
        avatar: str | None = None,
    ) -> ViberUser:
        """A Viber user; not subscribed to any bot until they write or subscribe."""
        user = ViberUser(user_id(), name, language, country, avatar)
        self._users[user.id] = user
        return user

    def subscribe(self, token: str, user: ViberUser) -> None:
        """Subscribe `user` to the bot without any callback (a test's shortcut)."""
        self._bot(token).subscribed.add(user.id)

    def is_subscribed(self, token: str, user_id: str) -> bool:
        return user_id in self._bot(token).subscribed

    # what the bot did

    def calls(self, method: str | None = None, token: str | None = None) -> list[Call]:
        return [
            c
            for c in self.log
            if (method is None or c.method == method) and (token is None or c.token == token)
        ]

    def sent_messages(self, user_id: str | None = None, token: str | None = None) -> list[Sent]:
        return [
            s
            for s in self._sent
            if (user_id is None or s.receiver == user_id) and (token is None or s.token == token)
        ]

    def webhook(self, token: str) -> dict[str, Any] | None:
        """The webhook as set (url, event_types, send_name, send_photo), or None."""
        bot = self._bot(token)
        if not bot.webhook:
            return None
        return {"url": bot.webhook, "event_types": list(bot.event_types),
                "send_name": bot.send_name, "send_photo": bot.send_photo}  # fmt: skip

    # error injection (method "*": any method; "media": downloads of add_media URLs)

    def fail(
        self,
        method: str,
        status: int,
        *,
        message: str | None = None,
        times: int = 1,
        token: str | None = None,
    ) -> None:
        """The next `times` calls of `method` answer Viber `status` (HTTP 200), e.g. 12
        tooManyRequests, 6 receiverNotSubscribed, 7 publicAccountBlocked."""
        self._faults.append(_Fault(method, token, status, message, None, None, 0.0, times))

    def fail_http(
        self,
        method: str,
        http_status: int,
        times: int = 1,
        *,
        body: str | None = None,
        token: str | None = None,
    ) -> None:
        """The next `times` calls of `method` get `http_status` with a non-JSON body (an
        nginx page for 502, plain text otherwise), as a proxy in front of Viber answers."""
        self._faults.append(_Fault(method, token, None, None, http_status, body, 0.0, times))

    def delay(
        self, method: str, seconds: float, times: int = 1, *, token: str | None = None
    ) -> None:
        """The next `times` calls of `method` are answered (normally) only after `seconds`."""
        self._faults.append(_Fault(method, token, None, None, None, None, seconds, times))

    # -- internals ---------------------------------------------------------------------------

    def _bot(self, token: str) -> _Bot:
        try:
            return self._bots[token]
        except KeyError:
            raise KeyError("no such bot in the double; use add_bot()") from None

    def _fault(self, method: str, token: str | None) -> _Fault | None:
        for fault in self._faults:
            if fault.method in ("*", method) and fault.token in (None, token):
                if method == "media" and fault.method == "*":
                    continue
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _record(
        self, bot: _Bot, receiver: str, body: dict[str, Any], data: bytes | None, **kw: Any
    ) -> Sent:
        sender = body.get("sender") if isinstance(body.get("sender"), dict) else {}
        sent = Sent(
            token=bot.token,
            receiver=receiver,
            type=str(body.get("type")),
            text=body.get("text"),
            media=body.get("media"),
            data=data,
            file_name=body.get("file_name"),
            size=body.get("size"),
            duration=body.get("duration"),
            sender_name=str(sender.get("name", "")),
            sender_avatar=sender.get("avatar"),
            tracking_data=body.get("tracking_data"),
            message_token=next(self._tokens),
            body=body,
            **kw,
        )
        self._sent.append(sent)
        return sent

    # -- HTTP --------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        raw = await request.read()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            body = None
        params = dict(body) if isinstance(body, dict) else {}
        in_body = params.pop("auth_token", None)
        token = request.headers.get("X-Viber-Auth-Token") or in_body
        call = Call(token if isinstance(token, str) else None, method, params)
        self.log.append(call)
        handler = getattr(self, f"_m_{method}", None)
        if request.method != "POST" or handler is None:
            call.http_status = 404 if handler is None else 405
            return web.Response(status=call.http_status, text="Not Found")
        fault = self._fault(method, call.token)
        try:
            if fault is not None:
                await asyncio.sleep(fault.delay)
                if fault.http_status is not None:
                    call.http_status = fault.http_status
                    return _http_error(fault.http_status, fault.body)
                if fault.status is not None:
                    raise ViberError(fault.status, fault.message)
            if not isinstance(body, dict) or len(raw) > REQUEST_LIMIT:
                raise ViberError(3)  # Viber: "maximum total JSON size of the request is 30kb"
            bot = self._bots.get(call.token or "")
            if bot is None or bot.revoked:
                raise ViberError(2)
            answer = {"status": 0, "status_message": "ok", **await handler(bot, params)}
        except ViberError as e:
            answer = {"status": e.status, "status_message": e.message}
        call.status, call.response = answer["status"], answer
        dumps = lambda o: json.dumps(o, ensure_ascii=False)  # noqa: E731
        return web.json_response(answer, dumps=dumps)

    async def _download(self, request: web.Request) -> web.Response:
        """A customer's media (add_media), as Viber's CDN serves it: signed, expiring."""
        fault = self._fault("media", None)
        if fault is not None:
            await asyncio.sleep(fault.delay)
            if fault.http_status is not None:
                return _http_error(fault.http_status, fault.body)
        media = self._media.get(request.match_info["id"])
        if media is None:
            return web.Response(status=404, text="Not Found")
        expires = request.query.get("Expires", "")
        good = self._media_signature(media.id, expires)
        if not hmac.compare_digest(request.query.get("Signature", ""), good):
            return web.Response(status=403, text="AccessDenied: bad signature")
        if self.clock() > media.expires_at:
            return web.Response(status=403, text="AccessDenied: Request has expired")
        if request.method == "GET":
            media.downloads += 1
        if isinstance(media.data, Stream):
            return await media.data.serve(request, media.mime)
        return web.Response(body=media.data, content_type=media.mime)

    # -- methods -----------------------------------------------------------------------------

    async def _m_set_webhook(self, bot: _Bot, p: dict[str, Any]) -> dict[str, Any]:
        url, event_types = p.get("url"), p.get("event_types")
        if not isinstance(url, str):
            raise ViberError(4)
        if event_types is not None and (
            not isinstance(event_types, list) or not all(isinstance(e, str) for e in event_types)
        ):
            raise ViberError(3)
        if url == "":
            bot.webhook = None
            return {"chat_hostname": CHAT_HOSTNAME, "event_types": list(bot.event_types)}
        scheme = urlsplit(url).scheme
        if not (scheme == "https" or (scheme == "http" and is_loopback(url))):
            raise ViberError(1)
        check = {"event": "webhook", "timestamp": now_ms(), "chat_hostname": CHAT_HOSTNAME,
                 "message_token": next(self._tokens)}  # fmt: skip
        raw = json.dumps(check, separators=(",", ":")).encode()
        if not (await self._post(bot, raw, "webhook", url=url)).ok:
            raise ViberError(1)
        bot.webhook = url
        bot.event_types = list(DEFAULT_EVENT_TYPES if event_types is None else event_types)
        bot.send_name, bot.send_photo = bool(p.get("send_name")), bool(p.get("send_photo"))
        return {"chat_hostname": CHAT_HOSTNAME, "event_types": list(bot.event_types)}

    async def _m_get_account_info(self, bot: _Bot, p: dict[str, Any]) -> dict[str, Any]:
        return bot.account_info()

    async def _m_get_user_details(self, bot: _Bot, p: dict[str, Any]) -> dict[str, Any]:
        uid = p.get("id")
        if not uid:
            raise ViberError(4)
        user = self._users.get(uid) if isinstance(uid, str) else None
        if user is None:
            raise ViberError(5)
        now = self.clock()
        recent = [t for t in bot.detail_calls.get(uid, []) if now - t < DETAILS_WINDOW]
        if self.user_details_limit is not None and len(recent) >= self.user_details_limit:
            raise ViberError(12)
        bot.detail_calls[uid] = [*recent, now]
        return {"chat_hostname": CHAT_HOSTNAME, "user": user.details()}

    async def _m_send_message(self, bot: _Bot, p: dict[str, Any]) -> dict[str, Any]:
        check_envelope(p)
        receiver = p["receiver"]
        if receiver not in self._users:
            raise ViberError(5)
        if receiver not in bot.subscribed:
            raise ViberError(6)
        check_content(p)
        data = None
        if p["type"] in MEDIA_LIMITS:
            data = await self._fetch(p["media"], MEDIA_LIMITS[p["type"]])
            if p["type"] == "picture" and not data.startswith((JPEG[:3], PNG[:8])):
                raise ViberError(3)
        sent = self._record(bot, receiver, p, data)
        if bot.auto_receipts or (bot.auto_receipts is None and self.auto_receipts):
            self._spawn(self._receipts(bot.token, self._users[receiver], sent.message_token))
        return {"message_token": sent.message_token, "chat_hostname": CHAT_HOSTNAME,
                "billing_status": 1}  # fmt: skip

    async def _fetch(self, url: str, limit: int) -> bytes:
        """Download media as Viber does before it accepts the message."""
        assert self._session is not None
        if urlsplit(url).scheme not in ("http", "https"):
            raise ViberError(3)
        chunks, total = [], 0
        try:
            async with self._session.get(
                url, timeout=aiohttp.ClientTimeout(total=self.download_timeout)
            ) as response:
                if response.status != 200:
                    raise ViberError(3)
                async for chunk in response.content.iter_chunked(64 * 1024):
                    total += len(chunk)
                    if total > limit:
                        raise ViberError(3)
                    chunks.append(chunk)
        except (aiohttp.ClientError, TimeoutError):
            raise ViberError(3) from None
        return b"".join(chunks)


def _http_error(status: int, body: str | None) -> web.Response:
    if body is None and status == 502:
        return web.Response(status=502, text=BAD_GATEWAY_PAGE, content_type="text/html")
    return web.Response(status=status, text=body or f"{status} {_REASONS.get(status, 'Error')}")


_REASONS = {500: "Internal Server Error", 503: "Service Unavailable", 504: "Gateway Timeout",
            429: "Too Many Requests", 403: "Forbidden", 404: "Not Found"}  # fmt: skip
