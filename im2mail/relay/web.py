"""The relay's one small HTTP server: webhooks, file links, transcripts, health.

Routes: POST /<channel>/<bot> (webhooks, for every channel in the registry), GET
/<channel>/<bot> (a dashboard's verification handshake, where the relay registered one), GET
/f/<signed id> (files too big to attach), GET /c/<signed id> (a conversation's transcript
page), GET /healthz. The
server knows no platform: the relay registers, per webhook, a check that sees the headers
and raw bytes (secret token, HMAC) and a handler that stores the update. The check runs
before anything parses the body; a failed check is 403 and a log line. The handler's
success is the 200 that tells the platform the update is stored (DESIGN: nothing is
acknowledged before it is stored). A handler may return a JSON object to answer with
(Viber takes a welcome message as the answer to conversation_started).

The server faces the internet, so nobody gets to hold it: a connection must send its
request headers within HEADER_TIMEOUT (also the idle keep-alive), a webhook body within
BODY_TIMEOUT, and beyond MAX_CONNECTIONS open at once a new one is answered 503 and
closed. A file link serves pictures, video, audio and PDF as themselves and everything
else as bytes to download, and never as something a browser would run.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ..channels import CHANNELS
from ..errors import redact
from ..untrusted import OCTET_STREAM, mime_type

log = logging.getLogger("im2mail.web")

DEFAULT_MAX_BODY = 1024 * 1024  # Telegram updates are a few KiB; 1 MiB is plenty
HEADER_TIMEOUT = 10.0  # seconds to send the request line and headers; also the idle keep-alive
BODY_TIMEOUT = 10.0  # seconds to send a webhook body (1 MiB at most) once the headers are in
LINGER = 2.0  # seconds to read and drop an unread body before closing
MAX_CONNECTIONS = 256  # open at once; webhooks need a few dozen (Telegram: 40 at most)
BUSY_LOG_EVERY = 60.0  # seconds between two "connection limit reached" warnings
# Only these are served as what they are; anything else (HTML, SVG, XML, scripts, text a
# browser might sniff as HTML) is application/octet-stream, so it can only be downloaded.
_SERVED_AS_ITSELF = ("image/", "video/", "audio/")
_SCRIPTABLE = ("svg", "xml", "html", "javascript", "ecmascript")
_FILE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "private, no-store",
}
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
_CHANNELS = "|".join(map(re.escape, CHANNELS))  # the routes' first part: a registered name


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
    if host and _valid_host(host):
        changes["host"] = host
    return await handler(request.clone(**changes) if changes else request)


def served_type(mime: str) -> str:
    """The Content-Type a file link answers with: the file's own type (without parameters)
    for pictures, video, audio and PDF that no browser runs script in, else
    application/octet-stream."""
    essence = mime_type(mime)
    subtype = essence.partition("/")[2]
    if essence == "application/pdf":
        return essence
    if essence.startswith(_SERVED_AS_ITSELF) and not any(w in subtype for w in _SCRIPTABLE):
        return essence
    return OCTET_STREAM


_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?")


def _valid_host(host: str) -> bool:
    """Whether a forwarded Host is a host name or address, with a port that can be one
    (anything else — a port over 65535, an open bracket, a byte no host has — would make
    request.url raise, and the request a 500)."""
    match = _HOST.fullmatch(host)
    return match is not None and int(match[2] or 0) <= 65535


class WebServer:
    """aiohttp server with an explicit lifecycle: start() binds, stop() drains and closes."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        max_body: int = DEFAULT_MAX_BODY,
        trust_proxy: bool = False,
        header_timeout: float = HEADER_TIMEOUT,
        body_timeout: float = BODY_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.host, self.port = host, port
        self.header_timeout, self.body_timeout = header_timeout, body_timeout
        self.max_connections = max_connections
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
        """resolve(token) gives the file for a signed link, or None (answered 404). It
        reads the archive, so it runs in a worker thread."""
        self._files = resolve

    def serve_transcripts(self, render: Callable[[str], str | None]) -> None:
        """render(token) gives a transcript page for a signed link, or None (404). It
        reads the archive, so it runs in a worker thread."""
        self._transcripts = render

    async def start(self) -> None:
        self._runner = web.AppRunner(
            self._app,
            access_log=None,
            shutdown_timeout=2.0,
            # aiohttp closes a connection that has not sent a whole request line and
            # headers this long after it opened (or after its last answer): slow headers
            # and idle keep-alives alike. The body has its own limit, in _webhook.
            keepalive_timeout=self.header_timeout,
            lingering_time=LINGER,
            logger=_ServerLog(logging.getLogger("im2mail.web.http"), {}),
        )
        await self._runner.setup()
        site = _CappedSite(self._runner, self.host, self.port, self.max_connections)
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
            async with asyncio.timeout(self.body_timeout):
                body = await request.read()  # aiohttp answers 413 past client_max_size
        except web.HTTPRequestEntityTooLarge:
            log.warning("%s/%s: webhook body over the size limit, refused (413)", channel, bot)
            raise
        except TimeoutError:
            log.warning("%s/%s: webhook body from %s not sent within %g s, closed (408)",
                        channel, bot, request.remote or "?", self.body_timeout)  # fmt: skip
            slow = web.Response(status=408, text="too slow\n")
            slow.force_close()  # what is left of the body is dropped, and the connection
            return slow
        if not _checked(hook.check, request.headers, body):
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
        try:
            challenge = hook.handshake(request.query)
        except Exception:  # whatever a query holds, it is a refusal, not a 500
            challenge = None
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
        # The link is resolved in a worker thread: it reads the archive.
        served = await asyncio.to_thread(self._served, request.match_info["token"])
        if served is None:
            return web.Response(status=404, text="not found\n")
        disposition = f"attachment; filename*=UTF-8''{quote(served.filename, safe='')}"
        headers = {
            **_FILE_HEADERS,
            "Content-Type": served_type(served.mime),
            "Content-Disposition": disposition,
        }
        return web.FileResponse(served.path, headers=headers)

    def _served(self, token: str) -> ServedFile | None:
        served = self._files(token)
        return served if served is not None and served.path.is_file() else None


def _checked(check: Check, headers: Mapping[str, str], body: bytes) -> bool:
    """A webhook's signature check; one that raises on what it was sent (a header of
    undecodable bytes, say) has refused it: 403, not 500."""
    try:
        return bool(check(headers, body))
    except Exception as e:
        log.warning("webhook signature check failed on its input: %s", type(e).__name__)
        return False


class _ServerLog(logging.LoggerAdapter):
    """aiohttp's own log of the connections it serves. A request it cannot parse (a NUL
    or a bare CR in a header, a scanner's garbage) is the sender's mistake: one warning
    line naming the peer, not an error with a traceback quoting what was sent."""

    def exception(self, msg, *args, exc_info=True, **kwargs) -> None:
        error = exc_info if isinstance(exc_info, BaseException) else sys.exc_info()[1]
        if isinstance(error, HttpProcessingError):
            peer = args[0] if args else "?"
            self.logger.warning("bad HTTP request from %s refused (%s %s)",
                                peer, error.code or 400, type(error).__name__)  # fmt: skip
            return
        self.logger.error(msg, *args, exc_info=exc_info, **kwargs)


class _CappedSite(web.BaseSite):
    """A TCP site that serves at most `limit` connections at once: one more is answered
    503 and closed at once, and a warning says so (once a minute at most)."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, limit: int) -> None:
        super().__init__(runner)
        self._host, self._port, self._limit = host, port, limit
        self.open = 0
        self._refused, self._warned = 0, -BUSY_LOG_EVERY

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._connection, self._host, self._port)

    def _connection(self) -> asyncio.Protocol:
        """Called by asyncio for each accepted connection, before it is used: counting
        here is exact however many arrive at once."""
        server = self._runner.server
        if self.open >= self._limit or server is None:
            self._busy()
            return _Busy()
        self.open += 1
        return _Counted(server(), self)

    def _busy(self) -> None:
        self._refused += 1
        now = time.monotonic()
        if now - self._warned >= BUSY_LOG_EVERY:
            log.warning("%d connections open, the most allowed: refused %d new one(s) (503)",
                        self._limit, self._refused)  # fmt: skip
            self._warned, self._refused = now, 0


class _Counted(asyncio.Protocol):
    """aiohttp's protocol for one connection, counted while it is open."""

    def __init__(self, inner: asyncio.Protocol, site: _CappedSite) -> None:
        self._inner, self._site = inner, site

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._site.open -= 1
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class _Busy(asyncio.Protocol):
    """A connection over the limit: told so, and closed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(
            b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 5\r\n"
            b"Content-Length: 0\r\n\r\n"
        )
        transport.close()
