"""What customers do, as the callbacks Viber would POST to the bot's webhook, and the media
they send, at signed expiring URLs: the test-side pushers of the Viber REST Bot API double
(viber_api.py), mixed into ViberDouble.

Each callback is serialized once, signed over those exact bytes (X-Viber-Content-Signature:
hex HMAC-SHA256 keyed by the bot's token, what viberbot.Api.verify_signature checks) and
POSTed once; the attempt and the webhook's answer are kept as a Delivery. Real Viber retries
a callback that did not get 200 for about an hour; the double does not, so a test sees
exactly what the relay answered each time.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import secrets
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp

from .viber_records import CHAT_HOSTNAME, JPEG, MP4, PNG, Delivery, Media, ViberUser, _Bot

if TYPE_CHECKING:
    import itertools
    from collections.abc import Callable, Coroutine

    from .streams import Stream
    from .viber_records import Sent

_THUMB = JPEG + b"thumbnail 90x90"


def now_ms() -> int:
    return int(time.time() * 1000)


def signature(token: str, body: bytes) -> str:
    """X-Viber-Content-Signature of a callback body."""
    return hmac.new(token.encode("ascii"), body, hashlib.sha256).hexdigest()


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class CallbackPushers:
    """push_text, push_picture, push_conversation_started... of ViberDouble (see its
    docstring). Every pusher returns the Delivery of its callback."""

    if TYPE_CHECKING:  # provided by ViberDouble
        deliveries: list[Delivery]
        webhook_timeout: float
        receipt_delay: float
        media_ttl: float
        names_need_opt_in: bool
        clock: Callable[[], float]
        base_url: str
        _tokens: itertools.count[int]
        _media: dict[str, Media]
        _media_key: bytes
        _session: aiohttp.ClientSession | None

        def _bot(self, token: str) -> _Bot: ...

        def _record(
            self, bot: _Bot, receiver: str, body: dict[str, Any], data: bytes | None, **kw: Any
        ) -> Sent: ...

        def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None: ...

    # messages (each one subscribes the customer, as writing to a bot does in Viber)

    async def push_message(
        self, token: str, user: ViberUser, message: dict[str, Any], *, silent: bool = False
    ) -> Delivery:
        """A `message` callback with any message object ({"type": "text", ...})."""
        bot = self._bot(token)
        bot.subscribed.add(user.id)
        return await self.push_event(
            token,
            {
                "event": "message",
                "timestamp": now_ms(),
                "chat_hostname": CHAT_HOSTNAME,
                "message_token": next(self._tokens),
                "sender": self._profile(bot, user),
                "message": message,
                "silent": silent,
            },
        )

    async def push_text(
        self, token: str, user: ViberUser, text: str, *, tracking_data: str | None = None
    ) -> Delivery:
        """A text; `tracking_data` is what the bot's last message carried (Viber echoes it)."""
        message: dict[str, Any] = {"type": "text", "text": text}
        if tracking_data is not None:
            message["tracking_data"] = tracking_data
        return await self.push_message(token, user, message)

    async def push_picture(
        self,
        token: str,
        user: ViberUser,
        data: bytes,
        filename: str = "photo.jpg",
        caption: str = "",
    ) -> Delivery:
        mime = "image/png" if data.startswith(PNG[:8]) else "image/jpeg"
        message: dict[str, Any] = {"type": "picture"}
        if caption:
            message["text"] = caption
        message |= {
            "media": self._media_url(data, filename, mime),
            "thumbnail": self._media_url(_THUMB, "thumb.jpg", "image/jpeg"),
            "file_name": filename,
            "size": len(data),
        }
        return await self.push_message(token, user, message)

    async def push_video(
        self,
        token: str,
        user: ViberUser,
        data: bytes = MP4,
        filename: str = "clip.mp4",
        duration: int = 5,
    ) -> Delivery:
        message = {
            "type": "video",
            "media": self._media_url(data, filename, "video/mp4"),
            "thumbnail": self._media_url(_THUMB, "thumb.jpg", "image/jpeg"),
            "file_name": filename,
            "size": len(data),
            "duration": duration,
        }
        return await self.push_message(token, user, message)

    async def push_file(
        self,
        token: str,
        user: ViberUser,
        data: bytes | Stream,
        filename: str,
        mime: str,
        *,
        size: int | None = None,
    ) -> Delivery:
        """A file; `size` is what the callback says (default: the true size)."""
        message = {
            "type": "file",
            "media": self._media_url(data, filename, mime),
            "file_name": filename,
            "size": len(data) if size is None else size,
        }
        return await self.push_message(token, user, message)

    async def push_contact(self, token: str, user: ViberUser, name: str, phone: str) -> Delivery:
        contact = {"name": name, "phone_number": phone}
        return await self.push_message(token, user, {"type": "contact", "contact": contact})

    async def push_location(
        self, token: str, user: ViberUser, lat: float = 50.450123, lon: float = 30.523456
    ) -> Delivery:
        location = {"lat": lat, "lon": lon}
        return await self.push_message(token, user, {"type": "location", "location": location})

    async def push_sticker(self, token: str, user: ViberUser, sticker_id: int = 46105) -> Delivery:
        """A sticker: its id and a PNG of it on the double."""
        media = self._media_url(PNG + b"sticker", f"{sticker_id}.png", "image/png")
        message = {"type": "sticker", "sticker_id": sticker_id, "media": media}
        return await self.push_message(token, user, message)

    async def push_url(self, token: str, user: ViberUser, url: str) -> Delivery:
        return await self.push_message(token, user, {"type": "url", "media": url})

    # the other callbacks

    async def push_conversation_started(
        self,
        token: str,
        user: ViberUser,
        *,
        context: str | None = None,
        subscribed: bool | None = None,
    ) -> Delivery:
        """The customer opened the chat (from a deep link viber://pa?chatURI=...&context=...).
        `subscribed` defaults to whether they are. A 200 answer whose JSON body is a message
        ({"sender": {"name": ...}, "type": "text", "text": ...}) is the welcome message:
        Viber shows it even to an unsubscribed user; it is recorded as a Sent, welcome=True."""
        bot = self._bot(token)
        body: dict[str, Any] = {
            "event": "conversation_started",
            "timestamp": now_ms(),
            "chat_hostname": CHAT_HOSTNAME,
            "message_token": next(self._tokens),
            "type": "open",
        }
        if context is not None:
            body["context"] = context
        body["user"] = self._profile(bot, user)
        body["subscribed"] = user.id in bot.subscribed if subscribed is None else subscribed
        delivery = await self.push_event(token, body)
        answer = delivery.json
        if delivery.status == 200 and isinstance(answer, dict) and answer.get("type"):
            self._record(bot, user.id, answer, None, welcome=True)
        return delivery

    async def push_subscribed(self, token: str, user: ViberUser) -> Delivery:
        """The customer pressed Subscribe (a first message subscribes too, with no callback)."""
        bot = self._bot(token)
        bot.subscribed.add(user.id)
        body = {
            "event": "subscribed",
            "timestamp": now_ms(),
            "chat_hostname": CHAT_HOSTNAME,
            "user": self._profile(bot, user),
            "message_token": next(self._tokens),
        }
        return await self.push_event(token, body)

    async def push_unsubscribed(self, token: str, user: ViberUser) -> Delivery:
        """The customer unsubscribed (or blocked the bot): sends to them now get status 6."""
        self._bot(token).subscribed.discard(user.id)
        return await self._push_user_event(token, "unsubscribed", user)

    async def push_delivered(self, token: str, user: ViberUser, message_token: int) -> Delivery:
        return await self._push_user_event(token, "delivered", user, message_token)

    async def push_seen(self, token: str, user: ViberUser, message_token: int) -> Delivery:
        return await self._push_user_event(token, "seen", user, message_token)

    async def push_failed(
        self,
        token: str,
        user: ViberUser,
        message_token: int,
        desc: str = "failure description",
    ) -> Delivery:
        return await self._push_user_event(token, "failed", user, message_token, desc=desc)

    # any body

    async def push_event(self, token: str, body: dict[str, Any]) -> Delivery:
        """POST a callback (a dict, serialized as Viber does: compact, non-ASCII escaped)."""
        raw = json.dumps(body, separators=(",", ":")).encode()
        return await self._post(self._bot(token), raw, str(body.get("event", "")))

    async def push_raw(
        self, token: str, body: bytes, *, signature: str | None = None, event: str = "raw"
    ) -> Delivery:
        """POST any bytes: a malformed body, or a forged one (`signature` sent as is; None:
        the correct one). Not filtered by event_types."""
        bot = self._bot(token)
        return await self._post(bot, body, event, forced_signature=signature, filtered=False)

    # customers' media

    def add_media(
        self, data: bytes | Stream, filename: str, mime: str, *, ttl: float = 60.0
    ) -> str:
        """Serve `data` at a signed URL that answers 403 after `ttl` seconds (or with a bad
        signature), as Viber's CDN links for customers' media do; returns the URL."""
        media_id = secrets.token_hex(16)
        expires_at = self.clock() + ttl
        expires = str(int(expires_at) + 1)
        url = (
            f"{self.base_url}/media/{media_id}?Expires={expires}"
            f"&Signature={self._media_signature(media_id, expires)}"
        )
        self._media[media_id] = Media(media_id, data, filename, mime, expires_at, url)
        return url

    def media(self, url_or_id: str) -> Media:
        """The media behind an add_media URL (or its id); `.downloads` counts the GETs."""
        media_id = urlsplit(url_or_id).path.rsplit("/", 1)[-1]
        return self._media[media_id]

    def _media_signature(self, media_id: str, expires: str) -> str:
        return hmac.new(
            self._media_key, f"{media_id}:{expires}".encode(), hashlib.sha256
        ).hexdigest()

    # -- internals ---------------------------------------------------------------------------

    def _profile(self, bot: _Bot, user: ViberUser) -> dict[str, Any]:
        if not self.names_need_opt_in:
            return user.profile()
        return user.profile(name=bot.send_name, photo=bot.send_photo)

    def _media_url(self, data: bytes | Stream, filename: str, mime: str) -> str:
        return self.add_media(data, filename, mime, ttl=self.media_ttl)

    async def _push_user_event(
        self,
        token: str,
        event: str,
        user: ViberUser,
        message_token: int | None = None,
        **extra: Any,
    ) -> Delivery:
        body: dict[str, Any] = {"event": event, "timestamp": now_ms()}
        body["chat_hostname"] = CHAT_HOSTNAME
        if message_token is None:  # unsubscribed: user_id first, then its own token
            body |= {"user_id": user.id, "message_token": next(self._tokens)}
        else:
            body |= {"message_token": message_token, "user_id": user.id}
        return await self.push_event(token, body | extra)

    async def _receipts(self, token: str, user: ViberUser, message_token: int) -> None:
        """auto_receipts: the customer's phone got the message, then they read it."""
        await asyncio.sleep(self.receipt_delay)
        await self.push_delivered(token, user, message_token)
        await asyncio.sleep(self.receipt_delay)
        await self.push_seen(token, user, message_token)

    async def _post(
        self,
        bot: _Bot,
        body: bytes,
        event: str,
        *,
        url: str | None = None,
        forced_signature: str | None = None,
        filtered: bool = True,
    ) -> Delivery:
        url = url or bot.webhook
        sign = signature(bot.token, body) if forced_signature is None else forced_signature
        delivery = Delivery(bot.token, event, url, body, sign, None)
        if not url:
            delivery = replace(delivery, error="no webhook set")
        elif filtered and not bot.wants(event):
            delivery = replace(delivery, error="not in the webhook's event_types")
        else:
            delivery = await self._send(delivery)
        self.deliveries.append(delivery)
        return delivery

    async def _send(self, d: Delivery) -> Delivery:
        assert self._session is not None and d.url, "start() the double first"
        headers = {"X-Viber-Content-Signature": d.signature, "Content-Type": "application/json"}
        try:
            async with self._session.post(
                d.url,
                data=d.body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.webhook_timeout),
                ssl=not is_loopback(d.url),  # a test relay's self-signed cert
            ) as response:
                text = await response.text(errors="replace")
                try:
                    parsed = json.loads(text) if text.strip() else None
                except ValueError:
                    parsed = None
                return replace(d, status=response.status, text=text, json=parsed, at=time.time())
        except TimeoutError:
            error = "timeout"
        except aiohttp.ClientError as e:
            error = f"connection failed: {e}"
        return replace(d, error=error, at=time.time())
