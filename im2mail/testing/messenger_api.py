"""A Messenger Platform (Graph API) test double: a real HTTP server on loopback.

It speaks the shapes of https://developers.facebook.com/docs/messenger-platform, so the
Messenger channel runs its real code path (GraphClient, pointed at `url`) against it:
`/<version>/<path>` with the Page token as `Authorization: Bearer` (or `access_token`),
parameters in the query, a JSON body, a form or a multipart form; errors as HTTP 4xx with
{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}. Paths:

  GET  me (or <page id>)     the Page: id, name (and username when asked for and set)
  POST me/messages           the Send API; a multipart one uploads the file (`filedata`)
  POST/GET/DELETE me/subscribed_apps   the app's subscription to the Page's events
  GET  <PSID>                the customer's profile (first_name, last_name, ...)

Other paths answer code 2500 ("Unknown path components"), as Graph does.

As on Meta, the Send API refuses: a bad or revoked token (190); a PSID that never wrote to
this Page (100 / 2018001, PSIDs are per Page); a customer who blocked the Page (551 /
1545041); messaging_type RESPONSE or UPDATE more than 24 hours after the customer's last
message, and MESSAGE_TAG + HUMAN_AGENT more than 7 days after it (10 / 2018278); text
over 2000 characters, text and attachment together, files over 25 MB (100).

Test side, in plain Python:

    page = messenger.add_page("Друкарня")           # .secret: the keyring value
    await messenger.configure_webhook(page.token, url, "verify-me")   # the dashboard form
    olena = messenger.customer("Олена", "Коваль")
    await messenger.push_text(page.token, olena, "Скільки коштують візитки?")
    messenger.age(page.token, olena, hours=30)      # close the 24-hour window
    messenger.fail("me/messages", 613)              # the next send: rate limited
    assert messenger.sent_messages(olena.id)[0].text == "..."

Not modelled: templates, quick replies and buttons in sends, sender actions, personas,
the handover protocol, rate limits (except as injected faults), webhook retries.
The pieces: messenger_records.py (records, errors, limits), messenger_events.py (webhook
POSTs, the dashboard's verification, customers' media); this module is the server.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import time
from typing import Any

import aiohttp
from aiohttp import web

from .loopback import LoopbackServer
from .messenger_events import JPEG, MP4, PNG, WebhookPushers
from .messenger_records import (
    API_VERSION,
    ATTACHMENT_TYPES,
    FILE_LIMIT,
    HUMAN_AGENT_WINDOW,
    MESSAGING_TYPES,
    TAGS,
    TEXT_LIMIT,
    WEBHOOK_FIELDS,
    WINDOW,
    Call,
    Delivery,
    Fault,
    GraphError,
    Media,
    MessengerPage,
    MessengerUser,
    Sent,
    bad_param,
    bad_token,
    message_id,
    no_user,
    outside_window,
    page_id,
    page_token,
    psid,
    unavailable,
)
from .meta import WebhookNotVerified
from .streams import Stream

__all__ = ["API_VERSION", "FILE_LIMIT", "JPEG", "MP4", "PNG", "TEXT_LIMIT", "Call", "Delivery",
           "GraphError", "Media", "MessengerDouble", "MessengerPage", "MessengerUser", "Sent",
           "WebhookNotVerified"]  # fmt: skip

_Upload = tuple[str, str, bytes]  # filename, mime, data


class MessengerDouble(LoopbackServer, WebhookPushers):
    """The server plus its test-side API. `url` (http://127.0.0.1:<port>/v21.0) is the
    api_url. auto_receipts: after each accepted send, push a delivery, then a read."""

    max_body = FILE_LIMIT + 1024 * 1024

    def __init__(
        self,
        *,
        auto_receipts: bool = False,
        receipt_delay: float = 0.05,
        webhook_timeout: float = 5.0,
        media_ttl: float = 60.0,
    ) -> None:
        super().__init__()
        self.auto_receipts = auto_receipts
        self.receipt_delay = receipt_delay
        self.webhook_timeout = webhook_timeout
        self.media_ttl = media_ttl
        self.log: list[Call] = []
        self.deliveries: list[Delivery] = []
        self._pages: dict[str, MessengerPage] = {}  # by token
        self._users: dict[str, MessengerUser] = {}
        self._media: dict[str, Media] = {}
        self._sent: list[Sent] = []
        self._faults: list[Fault] = []
        self._media_key = secrets.token_bytes(16)

    @property
    def url(self) -> str:
        """The api_url for im2mail: the Graph base with its version."""
        return f"{self.base_url}/{API_VERSION}" if self.base_url else ""

    def _routes(self, app: web.Application) -> None:
        app.router.add_get("/cdn/{id}/{name}", self._download)
        app.router.add_route("*", "/{version}/{path:.*}", self._api)

    # pages, customers

    def add_page(
        self,
        name: str = "Друкарня",
        username: str | None = "drukarnia",
        *,
        auto_receipts: bool | None = None,
    ) -> MessengerPage:
        """A new Page with its app: `.token`, `.app_secret`, `.secret` (both, as JSON)."""
        app_id = str(secrets.randbelow(9 * 10**14) + 10**14)
        page = MessengerPage(
            page_id(), name, username, page_token(), secrets.token_hex(16), app_id, auto_receipts
        )
        self._pages[page.token] = page
        return page

    def page(self, token: str) -> MessengerPage:
        return self._page(token)

    def revoke(self, token: str) -> None:
        """The token stops working: every call answers 190."""
        self._page(token).revoked = True

    def customer(self, first_name: str = "Олена", last_name: str = "") -> MessengerUser:
        user = MessengerUser(psid(), first_name, last_name)
        self._users[user.id] = user
        return user

    def age(self, token: str, user: MessengerUser, *, hours: float = 25.0) -> None:
        """Move the customer's last message to the Page `hours` further back (closing the
        24-hour window after 24, the human agent one after 168)."""
        page = self._page(token)
        wrote = page.last_wrote.get(user.id)
        if wrote is None:
            raise KeyError("this customer never wrote to the Page; push a message first")
        page.last_wrote[user.id] = wrote - hours * 3600

    def block(self, token: str, user: MessengerUser) -> None:
        """The customer blocks the Page: sends to them answer 551."""
        self._page(token).blocked.add(user.id)

    # what the Page did

    def calls(self, path: str | None = None, method: str | None = None) -> list[Call]:
        return [c for c in self.log if (path is None or c.path == path)
                and (method is None or c.method == method)]  # fmt: skip

    def sent_messages(self, user_id: str | None = None) -> list[Sent]:
        return [s for s in self._sent if user_id is None or s.recipient == user_id]

    def uploads(self, user_id: str | None = None) -> list[Sent]:
        return [s for s in self.sent_messages(user_id) if s.data is not None]

    # error injection ("me/messages", "me", "me/subscribed_apps", "*"; "media": CDN)

    def fail(
        self,
        path: str,
        code: int,
        subcode: int | None = None,
        *,
        message: str | None = None,
        kind: str = "OAuthException",
        http_status: int = 400,
        times: int = 1,
    ) -> None:
        """The next `times` calls of `path` answer this Graph error, e.g. 613 (rate limit),
        10 / 2018278 (outside the window), 551 / 1545041 (not available)."""
        error = GraphError(code, message or f"(#{code}) An error occurred", subcode, kind=kind,
                           http_status=http_status)  # fmt: skip
        self._faults.append(Fault(path, None, error, None, None, 0.0, times))

    def fail_http(self, path: str, http_status: int, times: int = 1, *, body: str | None = None):
        """The next `times` calls of `path` get `http_status` with a non-JSON body."""
        self._faults.append(Fault(path, None, None, http_status, body, 0.0, times))

    def delay(self, path: str, seconds: float, times: int = 1) -> None:
        self._faults.append(Fault(path, None, None, None, None, seconds, times))

    # -- internals ---------------------------------------------------------------------------

    def _page(self, token: str) -> MessengerPage:
        try:
            return self._pages[token]
        except KeyError:
            raise KeyError("no such Page in the double; use add_page()") from None

    def _fault(self, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.path == path or (fault.path == "*" and path != "media"):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    # -- HTTP --------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        params, upload = await _read(request)
        token = _bearer(request) or params.pop("access_token", None)
        page = self._pages.get(token) if isinstance(token, str) else None
        path = request.match_info["path"].strip("/")
        if page is not None and path.split("/")[0] == page.id:
            path = "/".join(["me", *path.split("/")[1:]])
        call = Call(request.method, path, token if isinstance(token, str) else None, params)
        self.log.append(call)
        fault = self._fault(path)
        try:
            if fault is not None:
                await asyncio.sleep(fault.delay)
                if fault.http_status is not None:
                    call.http_status = fault.http_status
                    return web.Response(status=fault.http_status, text=fault.body or "Error")
                if fault.error is not None:
                    raise fault.error
            if page is None or page.revoked:
                raise bad_token()
            answer = await self._dispatch(request.method, path, page, params, upload)
        except GraphError as e:
            call.http_status, call.response = e.http_status, e.body()
            return web.json_response(call.response, status=e.http_status)
        call.response = answer
        return web.json_response(answer, dumps=lambda o: json.dumps(o, ensure_ascii=False))

    async def _dispatch(
        self,
        method: str,
        path: str,
        page: MessengerPage,
        p: dict[str, Any],
        upload: _Upload | None,
    ) -> dict[str, Any]:
        if path == "me" and method == "GET":
            return self._me(page, p)
        if path == "me/messages" and method == "POST":
            return self._send(page, p, upload)
        if path == "me/subscribed_apps":
            return self._subscribed_apps(method, page, p)
        user = self._users.get(path)
        if user is not None and method == "GET" and user.id in page.last_wrote:
            fields = str(p.get("fields", "")).split(",")
            return user.profile([f.strip() for f in fields if f.strip()])
        if method == "GET" and path.isdigit():
            words = (
                f"Unsupported get request. Object with ID '{path}' does not exist, cannot "
                "be loaded due to missing permissions, or does not support this operation."
            )
            raise GraphError(100, words, 33, kind="GraphMethodException")
        raise GraphError(2500, f"Unknown path components: /{path}")

    def _me(self, page: MessengerPage, p: dict[str, Any]) -> dict[str, Any]:
        fields = [f.strip() for f in str(p.get("fields") or "name,id").split(",")]
        known = {"id": page.id, "name": page.name, "username": page.username}
        return {f: known[f] for f in fields if known.get(f) is not None}

    def _subscribed_apps(self, method: str, page: MessengerPage, p: dict[str, Any]) -> dict:
        if method == "GET":
            apps = [{"link": "https://shop.example/", "name": "im2mail", "id": page.app_id,
                     "subscribed_fields": list(page.subscribed_fields)}]  # fmt: skip
            return {"data": apps if page.subscribed_fields else []}
        if method == "DELETE":
            page.subscribed_fields = []
            return {"success": True}
        if method != "POST":
            raise GraphError(100, "(#100) Unsupported method")
        fields = p.get("subscribed_fields")
        if isinstance(fields, str):
            fields = [f.strip() for f in fields.split(",") if f.strip()]
        if not fields or not isinstance(fields, list):
            raise bad_param("The parameter subscribed_fields is required.")
        unknown = [f for f in fields if f not in WEBHOOK_FIELDS]
        if unknown:
            known = ", ".join(WEBHOOK_FIELDS)
            raise bad_param(
                f'Param subscribed_fields must be one of {{{known}}} - got "{unknown[0]}"'
            )
        page.subscribed_fields = list(dict.fromkeys(fields))
        return {"success": True}

    def _send(self, page: MessengerPage, p: dict[str, Any], upload: _Upload | None) -> dict:
        recipient = _json_param(p, "recipient")
        if not isinstance(recipient, dict) or not recipient.get("id"):
            raise bad_param("param recipient must be non-empty.")
        to = str(recipient["id"])
        kind, tag = p.get("messaging_type"), p.get("tag")
        if kind not in MESSAGING_TYPES:
            raise bad_param("param messaging_type must be one of {RESPONSE, UPDATE, "
                            "MESSAGE_TAG}")  # fmt: skip
        if kind == "MESSAGE_TAG" and tag not in TAGS:
            raise bad_param(f"Param tag must be one of {{{', '.join(TAGS)}}}")
        message = _json_param(p, "message")
        if not isinstance(message, dict) or not message:
            raise bad_param("param message must be non-empty.")
        if to not in self._users or to not in page.last_wrote:
            raise no_user()
        if to in page.blocked:
            raise unavailable()
        since = time.time() - page.last_wrote[to]
        limit = HUMAN_AGENT_WINDOW if kind == "MESSAGE_TAG" and tag == "HUMAN_AGENT" else WINDOW
        if (kind != "MESSAGE_TAG" or tag == "HUMAN_AGENT") and since > limit:
            raise outside_window()  # other tags are not bound to a window
        text, attachment = message.get("text"), message.get("attachment")
        if (text is None) == (attachment is None):
            raise bad_param("Only one of text or attachment can be specified in message")
        data = name = mime = None
        if text is not None:
            if not isinstance(text, str) or not text:
                raise bad_param("param message[text] must be a non-empty UTF-8 encoded string")
            if len(text) > TEXT_LIMIT:
                raise bad_param(f"Length of param message[text] must be less than or equal "
                                f"to {TEXT_LIMIT}")  # fmt: skip
        else:
            a_type = attachment.get("type") if isinstance(attachment, dict) else None
            payload = attachment.get("payload") if isinstance(attachment, dict) else None
            if a_type not in ATTACHMENT_TYPES or not isinstance(payload, dict):
                raise bad_param("param message[attachment][type] must be one of {image, "
                                "video, audio, file, template}")  # fmt: skip
            if upload is not None:
                name, mime, data = upload
                if len(data) > FILE_LIMIT:
                    raise GraphError(100, "(#100) Upload attachment failure.")
            elif not (payload.get("url") or payload.get("attachment_id")):
                raise bad_param("Incomplete attachment: a url, an attachment_id or filedata "
                                "is required")  # fmt: skip
        sent = Sent(page.id, to, kind, tag if isinstance(tag, str) else None, text,
                    attachment.get("type") if attachment else None, data, name, mime,
                    message_id(), p)  # fmt: skip
        self._sent.append(sent)
        if page.auto_receipts or (page.auto_receipts is None and self.auto_receipts):
            self._spawn(self._receipts(page.token, self._users[to], sent.message_id))
        return {"recipient_id": to, "message_id": sent.message_id}

    async def _download(self, request: web.Request) -> web.Response:
        """A customer's media (add_media), as Meta's CDN serves it: signed, expiring."""
        fault = self._fault("media")
        if fault is not None:
            await asyncio.sleep(fault.delay)
            if fault.http_status is not None:
                return web.Response(status=fault.http_status, text=fault.body or "Error")
        media = self._media.get(request.match_info["id"])
        if media is None:
            return web.Response(status=404, text="Not Found")
        oe = request.query.get("oe", "")
        if not hmac.compare_digest(
            request.query.get("oh", ""), self._media_signature(media.id, oe)
        ):
            return web.Response(status=403, text="Bad URL hash")
        if time.time() > media.expires_at:
            return web.Response(status=403, text="URL signature expired")
        media.downloads += 1
        if isinstance(media.data, Stream):
            return await media.data.serve(request, media.mime)
        return web.Response(body=media.data, content_type=media.mime)


async def _read(request: web.Request) -> tuple[dict[str, Any], _Upload | None]:
    """The request's parameters (query + body) and an uploaded `filedata`."""
    params: dict[str, Any] = dict(request.query)
    upload = None
    ctype = request.content_type
    if ctype == "multipart/form-data":
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
                continue
            if part.filename is not None:
                data = bytes(await part.read())
                if part.name == "filedata":
                    mime = part.headers.get("Content-Type", "application/octet-stream")
                    upload = (part.filename, mime, data)
            else:
                params[part.name] = await part.text()
    elif ctype == "application/x-www-form-urlencoded":
        params.update(await request.post())
    elif request.can_read_body:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            body = {}
        if isinstance(body, dict):
            params.update(body)
    return params, upload


def _bearer(request: web.Request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() in ("bearer", "oauth") else None


def _json_param(p: dict[str, Any], key: str) -> Any:
    """A parameter Graph takes as JSON: a dict in a JSON body, a JSON string in a form."""
    value = p.get(key)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise bad_param(f"param {key} must be a JSON object") from None
    return value
