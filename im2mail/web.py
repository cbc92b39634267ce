"""The relay's one small HTTP server: webhooks, file links, transcripts, health.

Routes: POST /<channel>/<bot> (webhooks: telegram, viber, messenger, whatsapp), GET
/<channel>/<bot> (Meta's verification handshake, where the relay registered one), GET
/f/<signed id> (files too big to attach), GET /c/<signed id> (a conversation's transcript
page), GET /healthz. The
server knows no platform: the relay registers, per webhook, a check that sees the headers
and raw bytes (secret token, HMAC) and a handler that stores the update. The check runs
before anything parses the body; a failed check is 403 and a log line. The handler's
success is the 200 that tells the platform the update is stored (DESIGN: nothing is
acknowledged before it is stored). A handler may return a JSON object to answer with
(Viber takes a welcome message as the answer to conversation_started).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from .errors import redact

log = logging.getLogger("im2mail.web")

DEFAULT_MAX_BODY = 1024 * 1024  # Telegram updates are a few KiB; 1 MiB is plenty
# A transcript holds what customers wrote: no script runs, the signed link in its address
# is not sent to the sites its links lead to, and no cache keeps a copy.
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src data: 'self'; "
    "style-src 'unsafe-inline'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, no-store",
}

Check = Callable[[Mapping[str, str], bytes], bool]
Handler = Callable[[bytes], Awaitable[dict[str, Any] | None]]
# The query of a verification GET -> the text to answer 200 with, or None (403).
Handshake = Callable[[Mapping[str, str]], str | None]
_CHANNELS = "telegram|viber|messenger|whatsapp"


class BadUpdate(Exception):
    """The handler's way to say "this body is not an update" (answered 400)."""


@dataclass(frozen=True)
class ServedFile:
    path: Path
    filename: str
    mime: str


@dataclass(frozen=True)
class _Webhook:
    check: Check
    handle: Handler
    handshake: Handshake | None = None


@web.middleware
async def _forwarded(request: web.Request, handler) -> web.StreamResponse:
    """Behind one's own reverse proxy (relay.trust_proxy): the client, scheme and host it
    names. Anyone can send these headers, so without trust_proxy they mean nothing."""
    changes: dict[str, str] = {}
    client = request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
    if client:
        changes["remote"] = client  # the proxy appends the address it saw: the last one
    scheme = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    if scheme in ("http", "https"):
        changes["scheme"] = scheme
    host = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip()
    if host:
        changes["host"] = host
    return await handler(request.clone(**changes) if changes else request)


class WebServer:
    """aiohttp server with an explicit lifecycle: start() binds, stop() drains and closes."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        max_body: int = DEFAULT_MAX_BODY,
        trust_proxy: bool = False,
    ) -> None:
        self.host, self.port = host, port
        self.ready = False  # /healthz answers 200 only once the relay says so
        self._webhooks: dict[tuple[str, str], _Webhook] = {}
        self._files: Callable[[str], ServedFile | None] = lambda token: None
        self._transcripts: Callable[[str], str | None] = lambda token: None
        middlewares = [_forwarded] if trust_proxy else []
        self._app = web.Application(client_max_size=max_body, middlewares=middlewares)
        self._app.add_routes(
            [
                web.get("/healthz", self._health),
                web.post(f"/{{channel:{_CHANNELS}}}/{{bot}}", self._webhook),
                web.get(f"/{{channel:{_CHANNELS}}}/{{bot}}", self._handshake),
                web.get("/f/{token}", self._file),
                # The name after the token is for platforms that judge a file by its URL's
                # ending (Viber wants .jpg/.png pictures, .mp4 videos); it is not trusted.
                web.get("/f/{token}/{name}", self._file),
                web.get("/c/{token}", self._transcript),
            ]
        )
        self._runner: web.AppRunner | None = None

    def add_webhook(
        self,
        channel: str,
        bot: str,
        check: Check,
        handle: Handler,
        *,
        handshake: Handshake | None = None,
    ) -> None:
        self._webhooks[(channel, bot)] = _Webhook(check, handle, handshake)

    def serve_files(self, resolve: Callable[[str], ServedFile | None]) -> None:
        """resolve(token) gives the file for a signed link, or None (answered 404)."""
        self._files = resolve

    def serve_transcripts(self, render: Callable[[str], str | None]) -> None:
        """render(token) gives a transcript page for a signed link, or None (404). It
        reads the archive, so it runs in a worker thread."""
        self._transcripts = render

    async def start(self) -> None:
        self._runner = web.AppRunner(self._app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:  # a free port was asked for: learn which one
            self.port = self._runner.addresses[0][1]
        log.info("listening on http://%s:%d", self.host, self.port)

    async def stop(self) -> None:
        self.ready = False
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _health(self, request: web.Request) -> web.Response:
        if self.ready:
            return web.json_response({"status": "ok"})
        return web.json_response({"status": "starting"}, status=503)

    async def _webhook(self, request: web.Request) -> web.Response:
        channel, bot = request.match_info["channel"], request.match_info["bot"]
        hook = self._webhooks.get((channel, bot))
        if hook is None:
            return web.Response(status=404, text="no such bot\n")
        try:
            body = await request.read()  # aiohttp answers 413 past client_max_size
        except web.HTTPRequestEntityTooLarge:
            log.warning("%s/%s: webhook body over the size limit, refused (413)", channel, bot)
            raise
        if not hook.check(request.headers, body):
            peer = request.remote or "?"
            log.warning("%s/%s: webhook from %s to %s failed its signature check (403)",
                        channel, bot, peer, request.url)  # fmt: skip
            return web.Response(status=403, text="forbidden\n")
        try:
            answer = await hook.handle(body)
        except BadUpdate as e:
            log.warning("%s/%s: malformed update refused (400): %s", channel, bot, redact(str(e)))
            return web.Response(status=400, text="malformed update\n")
        except Exception as e:
            # Not stored: a non-2xx answer makes the platform deliver the update again.
            log.error("%s/%s: update not stored (500): %s", channel, bot, redact(repr(e)))
            return web.Response(status=500, text="not stored, try again\n")
        if answer is not None:
            return web.json_response(answer)
        return web.Response(text="ok\n")

    async def _handshake(self, request: web.Request) -> web.Response:
        channel, bot = request.match_info["channel"], request.match_info["bot"]
        hook = self._webhooks.get((channel, bot))
        if hook is None or hook.handshake is None:
            return web.Response(status=404, text="no such bot\n")
        challenge = hook.handshake(request.query)
        if challenge is None:
            log.warning("%s/%s: webhook verification from %s refused: wrong verify token (403)",
                        channel, bot, request.remote or "?")  # fmt: skip
            return web.Response(status=403, text="forbidden\n")
        log.info("%s/%s: webhook verified by the platform", channel, bot)
        return web.Response(text=challenge)

    async def _transcript(self, request: web.Request) -> web.Response:
        page = await asyncio.to_thread(self._transcripts, request.match_info["token"])
        if page is None:
            return web.Response(status=404, text="not found\n")
        return web.Response(text=page, content_type="text/html", headers=_PAGE_HEADERS)

    async def _file(self, request: web.Request) -> web.StreamResponse:
        served = self._files(request.match_info["token"])
        if served is None or not served.path.is_file():
            return web.Response(status=404, text="not found\n")
        disposition = f"attachment; filename*=UTF-8''{quote(served.filename)}"
        return web.FileResponse(
            served.path,
            headers={"Content-Type": served.mime, "Content-Disposition": disposition},
        )
