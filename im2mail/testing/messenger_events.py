"""What customers do, as the webhook POSTs Meta would send to the app's callback URL, the
dashboard's webhook form (the verification GET), and customers' media at signed CDN URLs
that expire: the test-side half of the Messenger double (messenger_api.py), mixed into
MessengerDouble.

A POST body is {"object": "page", "entry": [{"id": PAGE_ID, "time": ms, "messaging":
[event]}]}, serialized once as Meta does (compact, non-ASCII and "/" escaped), signed
over those exact bytes (X-Hub-Signature-256: sha256=HMAC of the body keyed by the app
secret; X-Hub-Signature: the SHA-1 one) and POSTed once. An event goes out only when the
app has a verified callback URL and the Page is subscribed to the event's field (POST
/me/subscribed_apps), as on Meta; else the Delivery says why not. Meta retries a callback
that did not get 200; the double does not.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import aiohttp

from ..channels import graph
from .messenger_records import EVENT_FIELDS, Delivery, Media, MessengerPage, MessengerUser, now_ms
from .meta import post_signed, verify_callback

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from .streams import Stream

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


def serialize(body: dict[str, Any]) -> bytes:
    """As Meta sends JSON: compact, \\uXXXX for non-ASCII, and "/" escaped as "\\/"."""
    return json.dumps(body, separators=(",", ":")).replace("/", "\\/").encode()


class WebhookPushers:
    """configure_webhook, push_text, push_image, push_postback... of MessengerDouble. Every
    pusher returns the Delivery of its POST."""

    if TYPE_CHECKING:  # provided by MessengerDouble
        deliveries: list[Delivery]
        webhook_timeout: float
        receipt_delay: float
        media_ttl: float
        base_url: str
        _media: dict[str, Media]
        _media_key: bytes
        _session: aiohttp.ClientSession | None

        def _page(self, token: str) -> MessengerPage: ...

        def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None: ...

    # the app dashboard

    async def configure_webhook(self, token: str, url: str, verify_token: str) -> None:
        """Save the callback URL and verify token as the dashboard form does: Meta GETs
        url?hub.mode=subscribe&hub.challenge=...&hub.verify_token=... and wants 200 with the
        challenge as the body; WebhookNotVerified otherwise (nothing saved)."""
        assert self._session is not None, "start() the double first"
        page = self._page(token)
        await verify_callback(self._session, url, verify_token, self.webhook_timeout)
        page.webhook, page.verify_token = url, verify_token

    def subscribe(self, token: str, fields: tuple[str, ...] = tuple(EVENT_FIELDS.values())) -> None:
        """Subscribe the app to the Page's events without a Graph call (a test's shortcut)."""
        page = self._page(token)
        page.subscribed_fields = list(dict.fromkeys([*page.subscribed_fields, *fields]))

    # customers' messages (each one opens the 24-hour window)

    async def push_message(
        self, token: str, user: MessengerUser, message: dict[str, Any], *, mid: str | None = None
    ) -> Delivery:
        """A `message` event with any message object; `mid` is made up when not given."""
        page = self._page(token)
        page.last_wrote[user.id] = time.time()
        message = {"mid": mid or _mid(), **message}
        return await self.push_event(token, self._event(page, user, message=message))

    async def push_text(
        self,
        token: str,
        user: MessengerUser,
        text: str,
        *,
        quick_reply: str | None = None,
        reply_to: str | None = None,
        ref: str | None = None,
    ) -> Delivery:
        """A text; `quick_reply` the payload of a tapped quick reply, `reply_to` the mid
        it answers, `ref` a referral riding on the first message (m.me link, ad)."""
        message: dict[str, Any] = {"text": text}
        if quick_reply is not None:
            message["quick_reply"] = {"payload": quick_reply}
        if reply_to is not None:
            message["reply_to"] = {"mid": reply_to}
        if ref is not None:
            message["referral"] = {"ref": ref, "source": "SHORTLINK", "type": "OPEN_THREAD"}
        return await self.push_message(token, user, message)

    async def push_attachments(
        self, token: str, user: MessengerUser, files: list[tuple[str, bytes | Stream, str, str]]
    ) -> Delivery:
        """One message with several files: (type, data, filename, mime) each, served at
        expiring CDN URLs (several photos sent at once come so)."""
        attachments = [
            {"type": kind, "payload": {"url": self.add_media(data, name, mime, ttl=self.media_ttl)}}
            for kind, data, name, mime in files
        ]
        return await self.push_message(token, user, {"attachments": attachments})

    async def push_image(
        self, token: str, user: MessengerUser, data: bytes = JPEG, filename: str = "photo.jpg"
    ) -> Delivery:
        mime = "image/png" if data.startswith(PNG[:8]) else "image/jpeg"
        return await self.push_attachments(token, user, [("image", data, filename, mime)])

    async def push_file(
        self, token: str, user: MessengerUser, data: bytes, filename: str, mime: str
    ) -> Delivery:
        kind = "video" if mime.startswith("video/") else "audio" if mime.startswith("audio/") \
            else "file"  # fmt: skip
        return await self.push_attachments(token, user, [(kind, data, filename, mime)])

    async def push_location(
        self, token: str, user: MessengerUser, lat: float = 50.450123, long: float = 30.523456
    ) -> Delivery:
        attachment = {"type": "location", "title": "Pinned Location",
                      "payload": {"coordinates": {"lat": lat, "long": long}}}  # fmt: skip
        return await self.push_message(token, user, {"attachments": [attachment]})

    async def push_sticker(
        self, token: str, user: MessengerUser, sticker_id: int = 369239263222822
    ) -> Delivery:
        """A sticker as Meta sends it in its transition: a "sticker" and an "image"."""
        url = self.add_media(PNG + b"sticker", f"{sticker_id}.png", "image/png", ttl=self.media_ttl)
        payload = {"url": url, "sticker_id": sticker_id}
        attachments = [{"type": "sticker", "payload": payload},
                       {"type": "image", "payload": payload}]  # fmt: skip
        return await self.push_message(token, user, {"attachments": attachments})

    async def push_link(
        self, token: str, user: MessengerUser, url: str, title: str = "Shared link"
    ) -> Delivery:
        """A shared link: a "fallback" attachment."""
        attachment = {"type": "fallback", "title": title, "url": url, "payload": None}
        return await self.push_message(token, user, {"text": url, "attachments": [attachment]})

    async def push_postback(
        self,
        token: str,
        user: MessengerUser,
        title: str = "Get Started",
        payload: str = "GET_STARTED",
        *,
        ref: str | None = None,
    ) -> Delivery:
        """A button press; `ref`: the m.me link (or ad) that brought a new customer, which
        Meta puts in the Get Started postback."""
        postback: dict[str, Any] = {"title": title, "payload": payload, "mid": _mid()}
        if ref is not None:
            postback["referral"] = {"ref": ref, "source": "SHORTLINK", "type": "OPEN_THREAD"}
        page = self._page(token)
        page.last_wrote[user.id] = time.time()
        return await self.push_event(token, self._event(page, user, postback=postback))

    async def push_referral(
        self, token: str, user: MessengerUser, ref: str, *, source: str = "SHORTLINK"
    ) -> Delivery:
        """A customer with a thread already came back through m.me/<page>?ref=<ref>."""
        page = self._page(token)
        referral = {"ref": ref, "source": source, "type": "OPEN_THREAD"}
        return await self.push_event(token, self._event(page, user, referral=referral))

    async def push_edit(self, token: str, user: MessengerUser, mid: str, text: str,
                        number: int = 1) -> Delivery:  # fmt: skip
        """The customer edited their message `mid` (the `number`th time: up to five)."""
        page = self._page(token)
        edit = {"mid": mid, "text": text, "num_edit": number}
        return await self.push_event(token, self._event(page, user, message_edit=edit))

    async def push_reaction(
        self, token: str, user: MessengerUser, mid: str, emoji: str = "\u2764\ufe0f",
        *, reaction: str = "love", action: str = "react",
    ) -> Delivery:  # fmt: skip
        """The customer reacted to message `mid` (action "unreact": took it back)."""
        page = self._page(token)
        what = {"reaction": reaction, "emoji": emoji, "action": action, "mid": mid}
        return await self.push_event(token, self._event(page, user, reaction=what))

    # receipts and echoes

    async def push_delivery(self, token: str, user: MessengerUser, mids: list[str]) -> Delivery:
        page = self._page(token)
        delivery = {"mids": list(mids), "watermark": now_ms()}
        event = self._event(page, user, delivery=delivery)
        del event["timestamp"]  # Meta's delivery events carry only the watermark
        return await self.push_event(token, event)

    async def push_read(
        self, token: str, user: MessengerUser, watermark: int | None = None
    ) -> Delivery:
        page = self._page(token)
        read = {"watermark": watermark or now_ms()}
        return await self.push_event(token, self._event(page, user, read=read))

    async def push_echo(self, token: str, user: MessengerUser, text: str) -> Delivery:
        """The Page's own message, echoed back (message_echoes)."""
        page = self._page(token)
        message = {"is_echo": True, "app_id": int(page.app_id), "mid": _mid(), "text": text}
        event = {"sender": {"id": page.id}, "recipient": {"id": user.id},
                 "timestamp": now_ms(), "message": message}  # fmt: skip
        return await self.push_event(token, event)

    # any body

    async def push_event(self, token: str, *events: dict[str, Any]) -> Delivery:
        """POST one body with these messaging events in one entry."""
        page = self._page(token)
        entry = {"id": page.id, "time": now_ms(), "messaging": list(events)}
        body = {"object": "page", "entry": [entry]}
        return await self._post(page, serialize(body), _fields(events))

    async def push_raw(self, token: str, body: bytes, *, signature: str | None = None) -> Delivery:
        """POST any bytes (no field filter); `signature` sent as is (None: the right one)."""
        page = self._page(token)
        return await self._post(page, body, (), forced_signature=signature)

    # customers' media

    def add_media(
        self, data: bytes | Stream, filename: str, mime: str, *, ttl: float = 60.0
    ) -> str:
        """Serve `data` at a CDN-like URL (oh= signature, oe= hex expiry) that answers 403
        after `ttl` seconds or with a bad signature; returns the URL."""
        media_id = secrets.token_hex(12)
        expires_at = time.time() + ttl
        oe = format(int(expires_at) + 1, "X")
        url = (f"{self.base_url}/cdn/{media_id}/{quote(filename)}"
               f"?_nc_cat=1&oh={self._media_signature(media_id, oe)}&oe={oe}")  # fmt: skip
        self._media[media_id] = Media(media_id, data, filename, mime, expires_at, url)
        return url

    def media(self, url: str) -> Media:
        """The media behind an add_media URL; `.downloads` counts the GETs."""
        return self._media[urlsplit(url).path.split("/")[2]]

    def _media_signature(self, media_id: str, oe: str) -> str:
        return "00_" + hmac.new(self._media_key, f"{media_id}:{oe}".encode(),
                                hashlib.sha256).hexdigest()[:40]  # fmt: skip

    # -- internals ---------------------------------------------------------------------------

    def _event(self, page: MessengerPage, user: MessengerUser, **what: Any) -> dict[str, Any]:
        return {"sender": {"id": user.id}, "recipient": {"id": page.id},
                "timestamp": now_ms(), **what}  # fmt: skip

    async def _receipts(self, token: str, user: MessengerUser, mid: str) -> None:
        """auto_receipts: delivered, then read (a watermark)."""
        await asyncio.sleep(self.receipt_delay)
        await self.push_delivery(token, user, [mid])
        await asyncio.sleep(self.receipt_delay)
        await self.push_read(token, user)

    async def _post(
        self,
        page: MessengerPage,
        body: bytes,
        fields: tuple[str, ...],
        *,
        forced_signature: str | None = None,
    ) -> Delivery:
        sign = graph.sign(page.app_secret, body) if forced_signature is None else forced_signature
        delivery = Delivery(page.id, page.webhook, body, sign, None)
        missing = [f for f in fields if f not in page.subscribed_fields]
        if not page.webhook:
            delivery = replace(delivery, error="no callback URL verified")
        elif missing:
            delivery = replace(delivery, error=f"the Page is not subscribed to {missing[0]}")
        else:
            delivery = await self._deliver(page, delivery)
        self.deliveries.append(delivery)
        return delivery

    async def _deliver(self, page: MessengerPage, d: Delivery) -> Delivery:
        assert self._session is not None and d.url
        sha1 = hmac.new(page.app_secret.encode(), d.body, hashlib.sha1).hexdigest()
        status, text, error = await post_signed(
            self._session, d.url, d.body, d.signature, self.webhook_timeout,
            {"X-Hub-Signature": f"sha1={sha1}"},  # the old header, which Meta still sends
        )  # fmt: skip
        return replace(d, status=status, text=text, error=error, at=time.time())


def _fields(events: tuple[dict[str, Any], ...]) -> tuple[str, ...]:
    """The webhook fields a Page must be subscribed to for these events to go out."""
    found = []
    for event in events:
        message = event.get("message")
        if isinstance(message, dict) and message.get("is_echo"):
            found.append(EVENT_FIELDS["echo"])
            continue
        found += [EVENT_FIELDS[k] for k in EVENT_FIELDS if k in event]
    return tuple(dict.fromkeys(found))


def _mid() -> str:
    return "m_" + secrets.token_urlsafe(64)[:86]
