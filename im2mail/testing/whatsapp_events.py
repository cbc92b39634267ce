"""What customers do, as the webhooks Meta would POST to the app's callback URL, and the
media they send: the test-side pushers of the WhatsApp Cloud API double (whatsapp_api.py),
mixed into WhatsAppDouble.

set_webhook() first does what saving the dashboard form does: a GET with hub.mode,
hub.verify_token and hub.challenge, which must answer 200 with the challenge. Each webhook
is then serialized once as Meta does (compact, non-ASCII escaped), signed over those bytes
(X-Hub-Signature-256: sha256=<HMAC-SHA256 keyed by the app secret>) and POSTed once; the
attempt and the answer are kept as a Delivery. Meta retries failed deliveries for days;
the double does not, so a test sees exactly what the relay answered each time.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import aiohttp

from ..channels.graph import sign
from .meta import WebhookNotVerified, post_signed, verify_callback
from .streams import Stream, sha256_digest
from .whatsapp_records import JPEG, MP4, OGG, Delivery, Media, Number, WaUser, wamid

if TYPE_CHECKING:
    from collections.abc import Coroutine


WebhookRefused = WebhookNotVerified  # the name the WhatsApp tests use


class WebhookPushers:
    """set_webhook, push_text, push_image, push_status... of WhatsAppDouble. Every pusher
    returns the Delivery of its webhook."""

    if TYPE_CHECKING:  # provided by WhatsAppDouble
        deliveries: list[Delivery]
        webhook_timeout: float
        receipt_delay: float
        _numbers: dict[str, Number]
        _media: dict[str, Media]
        _session: aiohttp.ClientSession | None

        def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None: ...

    async def set_webhook(self, number: Number, url: str, verify_token: str) -> None:
        """Save the app's callback URL and verify token, as in the dashboard: Meta GETs the
        URL with a challenge first and keeps the URL only if it is echoed with 200. The
        URL serves every number of the app (those sharing its app secret)."""
        assert self._session is not None, "start() the double first"
        await verify_callback(self._session, url, verify_token, self.webhook_timeout)
        for other in self._numbers.values():
            if other.app_secret == number.app_secret:
                other.webhook, other.verify_token = url, verify_token

    # messages (each one opens the customer's 24-hour window)

    async def push_message(
        self,
        number: Number,
        user: WaUser,
        message: dict[str, Any],
        *,
        context: dict[str, Any] | None = None,
        referral: dict[str, Any] | None = None,
        ident: str | None = None,
    ) -> Delivery:
        """A customer's message of any type: `message` holds "type" and its object."""
        now = time.time()
        number.last_in[user.wa_id] = now
        body: dict[str, Any] = {"from": user.wa_id, "id": ident or wamid(),
                                "timestamp": str(int(now))}  # fmt: skip
        if context is not None:
            body["context"] = context
        if referral is not None:
            body["referral"] = referral
        body |= message
        value = {**self._value(number), "contacts": [user.contact()], "messages": [body]}
        return await self.push_value(number, value, "message")

    async def push_text(self, number: Number, user: WaUser, text: str, **kw: Any) -> Delivery:
        return await self.push_message(number, user, {"type": "text", "text": {"body": text}},
                                       **kw)  # fmt: skip

    async def push_image(
        self, number: Number, user: WaUser, data: bytes = JPEG, mime: str = "image/jpeg",
        caption: str = "",
    ) -> Delivery:  # fmt: skip
        return await self._push_media(number, user, "image", data, mime, caption=caption)

    async def push_video(
        self, number: Number, user: WaUser, data: bytes = MP4, caption: str = ""
    ) -> Delivery:
        return await self._push_media(number, user, "video", data, "video/mp4", caption=caption)

    async def push_audio(
        self, number: Number, user: WaUser, data: bytes = OGG, *, voice: bool = True
    ) -> Delivery:
        """A voice note (voice=True, recorded in WhatsApp) or an audio file."""
        mime = "audio/ogg; codecs=opus" if voice else "audio/mpeg"
        return await self._push_media(number, user, "audio", data, mime, voice=voice)

    async def push_document(
        self, number: Number, user: WaUser, data: bytes | Stream, filename: str,
        mime: str = "application/pdf", caption: str = "",
    ) -> Delivery:  # fmt: skip
        return await self._push_media(number, user, "document", data, mime, caption=caption,
                                      filename=filename)  # fmt: skip

    async def push_sticker(self, number: Number, user: WaUser) -> Delivery:
        data = b"RIFF\x1a\x00\x00\x00WEBPVP8 sticker"
        return await self._push_media(number, user, "sticker", data, "image/webp",
                                      animated=False)  # fmt: skip

    async def push_location(
        self, number: Number, user: WaUser, latitude: float = 50.450123,
        longitude: float = 30.523456, name: str = "", address: str = "",
    ) -> Delivery:  # fmt: skip
        place: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
        if name:
            place["name"] = name
        if address:
            place["address"] = address
        return await self.push_message(number, user, {"type": "location", "location": place})

    async def push_contact(self, number: Number, user: WaUser, name: str, phone: str) -> Delivery:
        card = {"name": {"formatted_name": name, "first_name": name.split()[0]},
                "phones": [{"phone": phone, "wa_id": "".join(c for c in phone if c.isdigit()),
                            "type": "CELL"}]}  # fmt: skip
        return await self.push_message(number, user, {"type": "contacts", "contacts": [card]})

    async def push_reaction(
        self, number: Number, user: WaUser, message_id: str, emoji: str = "👍"
    ) -> Delivery:
        """A reaction to a message (emoji "" takes it back)."""
        reaction = {"message_id": message_id, "emoji": emoji}
        return await self.push_message(number, user, {"type": "reaction", "reaction": reaction})

    async def push_edit(self, number: Number, user: WaUser, original: str, text: str) -> Delivery:
        """The customer edited their text message `original` (a wamid): WhatsApp sends this
        only for numbers that also use the WhatsApp Business app (Coexistence)."""
        new = {"type": "text", "text": {"body": text}}
        edit = {"original_message_id": original, "message": new}
        return await self.push_message(number, user, {"type": "edit", "edit": edit})

    async def push_unsupported(self, number: Number, user: WaUser) -> Delivery:
        error = {"code": 131051, "title": "Message type unknown",
                 "message": "Message type unknown",
                 "error_data": {"details": "Message type is currently not supported."}}  # fmt: skip
        return await self.push_message(number, user, {"type": "unsupported", "errors": [error]})

    # statuses of the bot's messages

    async def push_status(
        self,
        number: Number,
        user: WaUser,
        message_id: str,
        status: str,
        errors: list[dict[str, Any]] | None = None,
    ) -> Delivery:
        """sent, delivered, read or failed (with `errors`, as Meta words them)."""
        body: dict[str, Any] = {"id": message_id, "status": status,
                                "timestamp": str(int(time.time())),
                                "recipient_id": user.wa_id}  # fmt: skip
        if status != "failed":
            body["pricing"] = {"billable": True, "pricing_model": "PMP",
                               "category": "service"}  # fmt: skip
        if errors is not None:
            body["errors"] = errors
        value = {**self._value(number), "statuses": [body]}
        return await self.push_value(number, value, "status")

    # any body

    async def push_value(self, number: Number, value: dict[str, Any], kind: str) -> Delivery:
        """POST one change (`value` of field "messages") in the envelope Meta uses."""
        envelope = {"object": "whatsapp_business_account",
                    "entry": [{"id": number.waba_id,
                               "changes": [{"value": value, "field": "messages"}]}]}  # fmt: skip
        raw = json.dumps(envelope, separators=(",", ":")).encode()
        return await self._post(number, raw, kind)

    async def push_raw(
        self, number: Number, body: bytes, *, signature: str | None = None
    ) -> Delivery:
        """POST any bytes: a malformed body, or a forged one (`signature` sent as is;
        None: the correct one)."""
        return await self._post(number, body, "raw", forced_signature=signature)

    # customers' media

    def add_media(
        self, number: Number, data: bytes | Stream, mime: str, *, size: int | None = None
    ) -> str:
        """A customer's file on WhatsApp's servers; returns its media id (what a webhook
        carries). GET /<id> hands out a download URL that expires, and the file's size
        (`size`, default the true one)."""
        media_id = str(secrets.randbelow(9 * 10**15) + 10**15)
        self._media[media_id] = Media(media_id, number.phone_number_id, data, mime, size)
        return media_id

    def media(self, media_id: str) -> Media:
        return self._media[media_id]

    # -- internals ---------------------------------------------------------------------------

    def _value(self, number: Number) -> dict[str, Any]:
        return {"messaging_product": "whatsapp",
                "metadata": {"display_phone_number": number.digits,
                             "phone_number_id": number.phone_number_id}}  # fmt: skip

    async def _push_media(
        self, number: Number, user: WaUser, kind: str, data: bytes | Stream, mime: str, **extra: Any
    ) -> Delivery:
        media_id = self.add_media(number, data, mime.split(";")[0])
        sha = base64.b64encode(sha256_digest(data)).decode()
        media: dict[str, Any] = {"mime_type": mime, "sha256": sha, "id": media_id}
        media |= {k: v for k, v in extra.items() if v not in ("", None)}
        return await self.push_message(number, user, {"type": kind, kind: media})

    async def _receipts(self, number: Number, user: WaUser, message_id: str) -> None:
        """auto_receipts: sent, the customer's phone got it, then they read it."""
        for status in ("sent", "delivered", "read"):
            await asyncio.sleep(self.receipt_delay)
            await self.push_status(number, user, message_id, status)

    async def _post(
        self, number: Number, body: bytes, kind: str, *, forced_signature: str | None = None
    ) -> Delivery:
        signature = sign(number.app_secret, body) if forced_signature is None else forced_signature
        delivery = Delivery(number.phone_number_id, kind, number.webhook, body, signature, None)
        if not number.webhook:
            delivery = replace(delivery, error="no webhook set")
        else:
            delivery = await self._deliver(delivery)
        self.deliveries.append(delivery)
        return delivery

    async def _deliver(self, d: Delivery) -> Delivery:
        assert self._session is not None and d.url, "start() the double first"
        status, text, error = await post_signed(
            self._session, d.url, d.body, d.signature, self.webhook_timeout
        )
        return replace(d, status=status, text=text, error=error, at=time.time())
