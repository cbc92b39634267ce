"""A WhatsApp Cloud API test double: a real HTTP server on loopback (aiohttp.web).

It speaks the Graph API shapes of developers.facebook.com's Cloud API reference, so the
WhatsApp channel runs its real code path against `url` (http://127.0.0.1:<port>/v21.0):

  GET  /v21.0/<phone_number_id>?fields=...   the number (verified_name, display_phone_number)
  POST /v21.0/<phone_number_id>/messages     text, image, video, audio, document, sticker
  POST /v21.0/<phone_number_id>/media        multipart upload -> {"id"}
  GET  /v21.0/<media id>                     {"url", "mime_type", "sha256", "file_size", ...}
  GET  /whatsapp_business/attachments/?mid=  the bytes, with the token, until the URL expires

with the token as `Authorization: Bearer`. Failures are Graph errors: HTTP 4xx/5xx with
{"error": {"message", "type", "code", "error_data": {"messaging_product", "details"},
"fbtrace_id"}}: a bad or revoked token 401 code 190; an id the token can't see code 100
(subcode 33); a message to a customer who last wrote more than 24 hours ago (or never)
131047 "Re-engagement message" (real WhatsApp may instead accept it and send a `failed`
status with 131047 later); more sends a second than `throughput` allows 130429.

Test side, in plain Python:

    shop = whatsapp.add_number("Друкарня")      # .token, .app_secret, .secret, .phone_number_id
    olena = whatsapp.customer("Олена")
    await whatsapp.set_webhook(shop, relay_url, verify_token)  # Meta's GET check first
    await whatsapp.push_text(shop, olena, "Привіт!")            # signed, opens the 24 h window
    assert whatsapp.sent_messages(olena.wa_id)[0].text == "..."
    whatsapp.age(shop, olena, hours=25)                          # the window closes
    whatsapp.fail("messages", 131000)                            # the next send fails

Not modelled: templates, interactive messages the bot sends, media by link, read marks
(POST messages with "status": "read"), business profiles, webhook retries.

The pieces: whatsapp_records.py (records, errors, limits), whatsapp_events.py (the
webhook pushers and signing); this module is the server and its test-side API.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import secrets
import time
from typing import Any

from aiohttp import web

from .loopback import LoopbackServer
from .streams import Stream, sha256_digest
from .whatsapp_events import WebhookPushers, WebhookRefused
from .whatsapp_records import (
    API_VERSION,
    CAPTION_LIMIT,
    ERRORS,
    JPEG,
    MEDIA_LIMITS,
    MEDIA_TYPES,
    MEDIA_URL_TTL,
    MP4,
    OGG,
    PNG,
    TEXT_LIMIT,
    WINDOW,
    Call,
    Delivery,
    GraphError,
    Media,
    Number,
    Sent,
    Upload,
    WaUser,
    _Fault,
    digits,
    no_object,
    param_error,
    wamid,
)

__all__ = ["API_VERSION", "ERRORS", "JPEG", "MP4", "OGG", "PNG", "Call", "Delivery",
           "GraphError", "Media", "Number", "Sent", "Upload", "WaUser", "WebhookRefused",
           "WhatsAppDouble"]  # fmt: skip

SEND_TYPES = ("text", "image", "video", "audio", "document", "sticker")


class WhatsAppDouble(LoopbackServer, WebhookPushers):
    """The server plus its test-side API. `url` is the api_url (the Graph base with its
    version). auto_receipts: after each accepted message, push sent, delivered and read
    statuses for it (receipt_delay apart). media_url_ttl: seconds a media URL works.
    throughput: messages a second a number may send (None: no limit)."""

    max_body = 101 * 1024 * 1024  # documents up to 100 MB

    def __init__(
        self,
        *,
        auto_receipts: bool = False,
        receipt_delay: float = 0.05,
        webhook_timeout: float = 5.0,
        media_url_ttl: float = MEDIA_URL_TTL,
        throughput: int | None = None,
    ) -> None:
        super().__init__()
        self.auto_receipts = auto_receipts
        self.receipt_delay = receipt_delay
        self.webhook_timeout = webhook_timeout
        self.media_url_ttl = media_url_ttl
        self.throughput = throughput
        self.log: list[Call] = []
        self.deliveries: list[Delivery] = []
        self.uploads: list[Upload] = []
        self._numbers: dict[str, Number] = {}
        self._users: dict[str, WaUser] = {}
        self._media: dict[str, Media] = {}
        self._sent: list[Sent] = []
        self._faults: list[_Fault] = []

    @property
    def url(self) -> str:
        return f"{self.base_url}/{API_VERSION}" if self.base_url else ""

    def _routes(self, app: web.Application) -> None:
        app.router.add_get("/whatsapp_business/attachments/", self._download)
        app.router.add_route("*", "/{version}/{path:.+}", self._graph)

    # numbers, customers

    def add_number(
        self,
        verified_name: str = "Друкарня «Аркуш»",
        display_phone_number: str = "+380 44 123 4567",
        *,
        same_app_as: Number | None = None,
        auto_receipts: bool | None = None,
    ) -> Number:
        """A business number with a Cloud API token and its app's secret (`.secret` is what
        im2mail keeps). `same_app_as`: one more number of that app (same token, app secret,
        business account and webhook), as one app serving several numbers."""
        app = same_app_as
        number = Number(
            phone_number_id=digits(15),
            display_phone_number=display_phone_number,
            verified_name=verified_name,
            waba_id=app.waba_id if app else digits(15),
            token=app.token if app else "EAAG" + secrets.token_urlsafe(150).replace("-", "x"),
            app_secret=app.app_secret if app else secrets.token_hex(16),
            webhook=app.webhook if app else None,
            verify_token=app.verify_token if app else None,
            auto_receipts=auto_receipts,
        )
        self._numbers[number.phone_number_id] = number
        return number

    def revoke(self, number: Number) -> None:
        """The token stops working (expired, or the system user removed): 401, code 190."""
        for other in self._numbers.values():
            if other.token == number.token:
                other.revoked = True

    def customer(self, name: str = "Олена Коваль", wa_id: str | None = None) -> WaUser:
        """A WhatsApp user (wa_id: a Ukrainian mobile number by default)."""
        user = WaUser(wa_id or "38067" + digits(7), name)
        self._users[user.wa_id] = user
        return user

    def open_window(self, number: Number, user: WaUser) -> None:
        """As if the customer had just written (no webhook): replies may go for 24 hours."""
        number.last_in[user.wa_id] = time.time()

    def age(self, number: Number, user: WaUser, hours: float = 25.0) -> None:
        """The customer's last message moves `hours` into the past (25: the window closes)."""
        if user.wa_id in number.last_in:
            number.last_in[user.wa_id] -= hours * 3600

    # what the bot did

    def calls(self, path: str | None = None) -> list[Call]:
        """Calls whose path (after the version) ends with `path`, e.g. "messages"."""
        return [c for c in self.log if path is None or c.path.endswith(path)]

    def sent_messages(self, wa_id: str | None = None) -> list[Sent]:
        return [s for s in self._sent if wa_id is None or s.to == wa_id]

    # error injection: "messages", "media" (uploads), "get" (numbers, media URLs),
    # "download" (media bytes), or "*" (any Graph call)

    def fail(
        self,
        what: str,
        code: int,
        *,
        message: str | None = None,
        details: str | None = None,
        subcode: int | None = None,
        status: int | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` calls answer Graph error `code` (ERRORS words the known ones:
        190, 100, 130429, 131047, 131026, 131053, 131000, 131056, 4, 80007)."""
        error = GraphError(code, message, details=details, subcode=subcode, status=status)
        self._faults.append(_Fault(what, error, None, 0.0, times))

    def fail_http(self, what: str, http_status: int, times: int = 1) -> None:
        """The next `times` calls get `http_status` with a page that is not JSON."""
        self._faults.append(_Fault(what, None, http_status, 0.0, times))

    def delay(self, what: str, seconds: float, times: int = 1) -> None:
        self._faults.append(_Fault(what, None, None, seconds, times))

    def _fault(self, what: str) -> _Fault | None:
        for fault in self._faults:
            if fault.what == what or (fault.what == "*" and what != "download"):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    # -- HTTP --------------------------------------------------------------------------------

    async def _graph(self, request: web.Request) -> web.Response:
        path = request.match_info["path"].strip("/")
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None
        token = token or request.query.get("access_token")
        call = Call(request.method, path, token, None)
        self.log.append(call)
        parts = path.split("/")
        what = "get" if request.method == "GET" else parts[-1] if len(parts) == 2 else "post"
        try:
            if request.method == "POST":
                call.body = await self._read_body(request, what)
            fault = self._fault(what)
            if fault is not None:
                await asyncio.sleep(fault.delay)
                if fault.http_status is not None:
                    call.http_status = fault.http_status
                    return web.Response(status=fault.http_status, text="Service Unavailable",
                                        content_type="text/html")  # fmt: skip
                if fault.error is not None:
                    raise fault.error
            if request.path.split("/")[1] != API_VERSION:
                raise GraphError(2635, "(#2635) You are calling a deprecated version of the "
                                 "Graph API.")  # fmt: skip
            numbers = self._numbers_of(token)
            if request.method == "GET" and len(parts) == 1:
                answer = self._get(parts[0], numbers, request.query.get("fields", ""))
            elif request.method == "POST" and len(parts) == 2 and what in ("messages", "media"):
                number = numbers.get(parts[0])
                if number is None:
                    raise no_object(parts[0], "post")
                handler = self._message if what == "messages" else self._upload
                answer = handler(number, call.body)
            else:
                raise no_object(parts[0], request.method.lower())
        except GraphError as e:
            call.http_status, call.response = e.status, e.body()
            return web.json_response(call.response, status=e.status)
        call.response = answer
        return web.json_response(answer, dumps=lambda o: json.dumps(o, ensure_ascii=False))

    async def _read_body(self, request: web.Request, what: str) -> Any:
        if what != "media":
            try:
                return json.loads(await request.read() or b"null")
            except ValueError:
                raise param_error("the request body is not JSON") from None
        fields: dict[str, Any] = {}
        try:
            reader = await request.multipart()
            async for part in reader:
                if part.name == "file":
                    mime = part.headers.get("Content-Type", "application/octet-stream")
                    fields["file"] = (part.filename or "", mime, await part.read(decode=False))
                elif part.name:
                    fields[part.name] = await part.text()
        except (AssertionError, ValueError, KeyError):
            raise param_error("the upload is not multipart/form-data") from None
        return fields

    def _numbers_of(self, token: str | None) -> dict[str, Number]:
        numbers = {i: n for i, n in self._numbers.items() if token and n.token == token}
        if not numbers or any(n.revoked for n in numbers.values()):
            raise GraphError(190, status=401)
        return numbers

    def _get(self, ident: str, numbers: dict[str, Number], fields: str) -> dict[str, Any]:
        number = numbers.get(ident)
        if number is not None:
            info = {"verified_name": number.verified_name, "code_verification_status":
                    "VERIFIED", "display_phone_number": number.display_phone_number,
                    "quality_rating": "GREEN", "platform_type": "CLOUD_API",
                    "throughput": {"level": "STANDARD"}}  # fmt: skip
            wanted = [f.strip() for f in fields.split(",") if f.strip()] or list(info)
            return {**{k: info[k] for k in wanted if k in info}, "id": number.phone_number_id}
        media = self._media.get(ident)
        if media is None or media.phone_number_id not in numbers:
            raise no_object(ident)
        media.url_key = secrets.token_hex(16)
        media.url_expires = time.time() + self.media_url_ttl
        url = (f"{self.base_url}/whatsapp_business/attachments/?mid={media.id}"
               f"&ext={int(media.url_expires)}&hash={media.url_key}")  # fmt: skip
        sha = base64.b64encode(sha256_digest(media.data)).decode()
        size = len(media.data) if media.size is None else media.size
        return {"url": url, "mime_type": media.mime, "sha256": sha,
                "file_size": size, "id": media.id,
                "messaging_product": "whatsapp"}  # fmt: skip

    async def _download(self, request: web.Request) -> web.Response:
        """A customer's media at the URL GET /<media id> gave: with the token, in time."""
        fault = self._fault("download")
        if fault is not None:
            await asyncio.sleep(fault.delay)
            if fault.http_status is not None:
                return web.Response(status=fault.http_status, text="Error")
        media = self._media.get(request.query.get("mid", ""))
        if media is None or not hmac.compare_digest(request.query.get("hash", ""), media.url_key):
            return web.Response(status=404, text="Not Found")
        auth = request.headers.get("Authorization", "")
        number = self._numbers[media.phone_number_id]
        if auth != f"Bearer {number.token}" or number.revoked:
            return web.Response(status=401, text="Unauthorized")
        if time.time() > media.url_expires:
            return web.Response(status=404, text="URL signature expired")
        media.downloads += 1
        if isinstance(media.data, Stream):
            return await media.data.serve(request, media.mime)
        return web.Response(body=media.data, content_type=media.mime)

    # -- methods -----------------------------------------------------------------------------

    def _upload(self, number: Number, form: dict[str, Any]) -> dict[str, Any]:
        if form.get("messaging_product") != "whatsapp":
            raise param_error("messaging_product is required")
        if "file" not in form or not form.get("type"):
            raise param_error("file and type are required")
        filename, mime, data = form["file"]
        if len(data) > MEDIA_LIMITS["document"]:
            raise GraphError(131053, details="The file is larger than 100 MB.")
        upload = Upload(digits(16), number.phone_number_id, form["type"], filename, mime, data)
        self.uploads.append(upload)
        return {"id": upload.id}

    def _message(self, number: Number, p: Any) -> dict[str, Any]:
        if not isinstance(p, dict) or p.get("messaging_product") != "whatsapp":
            raise param_error("The parameter messaging_product is required.")
        to, kind = p.get("to"), p.get("type", "text")
        if not isinstance(to, str) or not to.lstrip("+").isdigit():
            raise param_error("The parameter to is required.")
        if kind not in SEND_TYPES or not isinstance(p.get(kind), dict):
            raise param_error(f"Param {kind} must be one of {list(SEND_TYPES)}, with its object.")
        content, media = p[kind], None
        if kind == "text":
            body = content.get("body")
            if not isinstance(body, str) or not body.strip() or len(body) > TEXT_LIMIT:
                raise param_error(f"Param text['body'] must be 1 to {TEXT_LIMIT} characters.")
        else:
            media = self._check_media(number, kind, content)
        self._check_window(number, to.lstrip("+"))
        self._check_throughput(number)
        sent = Sent(
            id=wamid(),
            phone_number_id=number.phone_number_id,
            to=to.lstrip("+"),
            type=kind,
            text=content.get("body") if kind == "text" else content.get("caption"),
            media=media,
            filename=content.get("filename"),
            preview_url=content.get("preview_url") if kind == "text" else None,
            body=p,
        )
        self._sent.append(sent)
        receipts = number.auto_receipts if number.auto_receipts is not None else self.auto_receipts
        user = self._users.get(sent.to)
        if receipts and user is not None:
            self._spawn(self._receipts(number, user, sent.id))
        return {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": sent.to}],
                "messages": [{"id": sent.id}]}  # fmt: skip

    def _check_media(self, number: Number, kind: str, content: dict[str, Any]) -> Upload:
        if "link" in content:
            raise param_error("media by link is not modelled by the double; upload it")
        upload = next((u for u in self.uploads if u.id == content.get("id")), None)
        if upload is None or upload.phone_number_id != number.phone_number_id:
            raise param_error(f"Param {kind}['id'] is not a valid media id.")
        caption = content.get("caption")
        if caption is not None and (kind in ("audio", "sticker") or not isinstance(caption, str)
                                    or len(caption) > CAPTION_LIMIT):  # fmt: skip
            raise param_error(f"Param {kind}['caption'] is not allowed or too long.")
        if "filename" in content and kind != "document":
            raise param_error(f"Param {kind}['filename'] is not allowed.")
        mime = upload.type.split(";")[0].strip().lower()
        if kind in MEDIA_TYPES and mime not in MEDIA_TYPES[kind]:
            raise GraphError(131053, details=f"Unsupported {kind} type {mime}.")
        if len(upload.data) > MEDIA_LIMITS[kind]:
            raise GraphError(131053, details=f"The {kind} is larger than its limit.")
        return upload

    def _check_window(self, number: Number, wa_id: str) -> None:
        last = number.last_in.get(wa_id)
        if last is None or time.time() - last > WINDOW:
            raise GraphError(131047)

    def _check_throughput(self, number: Number) -> None:
        now = time.time()
        number.sends = [t for t in number.sends if now - t < 1.0]
        if self.throughput is not None and len(number.sends) >= self.throughput:
            raise GraphError(130429)
        number.sends.append(now)
