"""The relay's HTTP server against hostile clients, over raw sockets: signature headers of
bytes no one expects (all four channels' real checks), slow headers, a stalled body, more
connections than allowed; and what a file link answers with."""

from __future__ import annotations

import asyncio
import hmac
import logging
import threading
import time
from contextlib import suppress
from pathlib import Path

import aiohttp
import pytest

from im2mail.channels import graph, open_channel
from im2mail.relay.loop import _handshake
from im2mail.relay.web import ServedFile, WebServer
from tests.support.waiting import wait_until

TELEGRAM_TOKEN = "123456789:AAEhBOweik6ad9r_QKt1wHn3x8vLvI-Vmv0"
VIBER_TOKEN = "4453b6ac12345678-e02c5f12174805f9-daec9cbb5448c51f"
META = graph.encode("EAAG" + "t" * 40, "0f" * 16)
WEBHOOK_SECRET = "Zk9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWo"
NOWHERE = "http://127.0.0.1:9"  # nothing listens: no call may go out
# channel -> (its signature header, the bot's stored secret, options)
CHANNELS = {
    "telegram": ("X-Telegram-Bot-Api-Secret-Token", TELEGRAM_TOKEN, {}),
    "viber": ("X-Viber-Content-Signature", VIBER_TOKEN, {}),
    "messenger": ("X-Hub-Signature-256", META, {}),
    "whatsapp": ("X-Hub-Signature-256", META, {"phone_number_id": "106540352242922"}),
}
# What a header may hold on the wire: latin-1, broken UTF-8, valid non-ASCII UTF-8, and
# each after the "sha256=" Meta's header starts with.
ODD_VALUES = [b"\xe9t\xe9", b"\xff\xfe\x80", "секрет".encode(), b"sha256=\xff" + b"a" * 63,
              b"sha256=" + "е".encode() * 32, b"sha256=\xc3"]  # fmt: skip


async def exchange(port: int, request: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes, read the whole answer (until the server closes)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()


def post(path: str, header: bytes, body: bytes = b'{"update_id": 1}') -> bytes:
    return (
        (
            f"POST {path} HTTP/1.1\r\nHost: bot.shop.example\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n"
        ).encode()
        + header
        + b"\r\n\r\n"
        + body
    )


HEALTH = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


@pytest.fixture
async def hooked():
    """The server with each channel's real verify_webhook wired as the relay wires it."""
    server = WebServer("127.0.0.1", 0)
    received: list[bytes] = []

    async def handle(body: bytes) -> None:
        received.append(body)

    channels = []
    for name, (_, secret, options) in CHANNELS.items():
        channel = open_channel(name, "shop", secret, NOWHERE, **options)
        channels.append(channel)
        server.add_webhook(
            name,
            "shop",
            lambda headers, body, c=channel: c.verify_webhook(headers, body, WEBHOOK_SECRET),
            handle,
            handshake=_handshake(name, WEBHOOK_SECRET),
        )
    await server.start()
    yield server, received
    await server.stop()
    for channel in channels:
        with suppress(Exception):
            await channel.stop()


@pytest.mark.parametrize("channel", list(CHANNELS))
@pytest.mark.parametrize("value", ODD_VALUES, ids=lambda v: v.hex()[:16])
async def test_a_signature_header_of_odd_bytes_is_403_not_500(hooked, channel, value, caplog):
    server, received = hooked
    header_name = CHANNELS[channel][0].encode()
    caplog.set_level(logging.DEBUG)

    answer = await exchange(server.port, post(f"/{channel}/shop", header_name + b": " + value))

    assert status(answer) == 403, answer
    assert received == []
    assert "failed its signature check" in caplog.text
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


@pytest.mark.parametrize("channel", list(CHANNELS))
async def test_the_right_secret_still_gets_in(hooked, channel):
    """The same checks pass a genuine update: the refusals above are not of everything."""
    server, received = hooked
    body = b'{"update_id": 1}'
    header = CHANNELS[channel][0]
    value = {
        "telegram": WEBHOOK_SECRET,
        "viber": hmac.new(VIBER_TOKEN.encode(), body, "sha256").hexdigest(),
    }.get(channel) or graph.sign(graph.credentials(META, "x").app_secret, body)

    answer = await exchange(server.port, post(f"/{channel}/shop", f"{header}: {value}".encode()))

    assert status(answer) == 200 and received == [body]


async def test_a_header_aiohttp_cannot_parse_is_one_log_line_without_a_traceback(hooked, caplog):
    server, received = hooked
    caplog.set_level(logging.DEBUG)
    request = post("/telegram/shop", b"X-Telegram-Bot-Api-Secret-Token: a\x00b")

    answer = await exchange(server.port, request)

    assert status(answer) == 400 and received == []
    (line,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert line.getMessage().startswith("bad HTTP request from 127.0.0.1 refused (400 ")
    assert line.exc_info is None and "\\x00" not in line.getMessage()


@pytest.mark.parametrize(
    "query", [b"hub.verify_token=%FF%FE", b"hub.verify_token=\xff\xfe", b"hub.verify_token=%C3"]
)
async def test_meta_s_verification_get_with_an_odd_token_is_403(hooked, query, caplog):
    server, _ = hooked
    caplog.set_level(logging.DEBUG)
    request = (
        b"GET /whatsapp/shop?hub.mode=subscribe&hub.challenge=42&" + query + b" HTTP/1.1\r\n"
        b"Host: x\r\nConnection: close\r\n\r\n"
    )

    answer = await exchange(server.port, request)

    assert status(answer) in (400, 403) and not answer.endswith(b"42")
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


# -- slow and many clients ---------------------------------------------------------------------


@pytest.fixture
async def strict(caplog):
    """A server with second-scale limits, and a Telegram-style hook counting updates."""
    server = WebServer("127.0.0.1", 0, header_timeout=1.0, body_timeout=1.0, max_connections=4)
    received: list[bytes] = []

    async def handle(body: bytes) -> None:
        received.append(body)

    server.add_webhook("telegram", "shop", lambda h, b: True, handle)
    await server.start()
    yield server, received
    await server.stop()


async def closed_after(reader: asyncio.StreamReader, dribble, limit: float) -> tuple[float, bytes]:
    """Keep `dribble()`ing until the server closes; (seconds it took, what it answered)."""
    start, answer = time.monotonic(), b""
    while time.monotonic() - start < limit:
        with suppress(ConnectionError):
            dribble()
        try:
            chunk = await asyncio.wait_for(reader.read(1024), 0.2)
        except TimeoutError:
            continue
        except ConnectionError:
            break
        if not chunk:
            break
        answer += chunk
    return time.monotonic() - start, answer


async def test_slow_headers_are_cut_off(strict):
    """Slowloris: a request line, then a header line now and then, never the blank line."""
    server, received = strict
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"POST /telegram/shop HTTP/1.1\r\nHost: x\r\n")

    took, _ = await closed_after(reader, lambda: writer.write(b"X-Pad: 1\r\n"), limit=10)

    writer.close()
    assert took < 5.0  # header_timeout is 1 s (the rest: slack for a busy machine)
    assert received == []


async def test_a_stalled_body_is_answered_408_and_closed(strict, caplog):
    """Headers sent, then the body a byte at a time: closed within body_timeout and the
    short linger, and nothing reaches the handler."""
    server, received = strict
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    head = post("/telegram/shop", b"X-Pad: 1", body=b"").replace(b"Length: 0", b"Length: 5000")
    writer.write(head + b"{")

    took, answer = await closed_after(reader, lambda: writer.write(b" "), limit=15)

    writer.close()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert took < 1.0 + 2.0 + 3.0  # body timeout, linger, slack for a busy machine
    assert received == []
    assert "not sent within 1 s, closed (408)" in caplog.text


async def test_connections_beyond_the_cap_are_refused_and_idle_ones_do_not_stay(strict):
    server, _ = strict
    idle = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(4)]

    over = await exchange(server.port, HEALTH)
    assert status(over) == 503

    # The idle ones are closed by the server (no request in header_timeout): room again.
    for reader, _ in idle:
        assert await asyncio.wait_for(reader.read(), 5.0) == b""
    server.ready = True
    again = await exchange(
        server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert status(again) == 200
    for _, writer in idle:
        writer.close()


async def test_many_clients_at_once_never_exceed_the_cap(strict):
    """40 webhook posts at once while the handler is busy: exactly 4 (the cap) are taken,
    the others are refused 503 straight away; the 4 complete once the handler moves on."""
    server, _ = strict
    busy, release = [], asyncio.Event()

    async def slow(body: bytes) -> None:
        busy.append(body)
        await release.wait()

    server.add_webhook("telegram", "slow", lambda h, b: True, slow)
    request = post("/telegram/slow", b"X-Pad: 1")
    answers = [asyncio.create_task(exchange(server.port, request)) for _ in range(40)]
    refused = []
    for done in asyncio.as_completed(answers):
        refused.append(status(await done))
        if len(refused) == 36:
            break
    assert refused == [503] * 36 and len(busy) == 4
    release.set()
    assert sorted([status(await a) for a in answers]) == [200] * 4 + [503] * 36


# -- file links --------------------------------------------------------------------------------


@pytest.fixture
async def files_server():
    server = WebServer("127.0.0.1", 0)
    await server.start()
    yield server
    await server.stop()


@pytest.mark.parametrize(
    ("stored", "served"),
    [
        ("image/png", "image/png"),
        ("IMAGE/JPEG", "image/jpeg"),
        ("video/mp4", "video/mp4"),
        ("audio/ogg; codecs=opus", "audio/ogg"),
        ("application/pdf; name=x.pdf", "application/pdf"),
        ("image/svg+xml", "application/octet-stream"),  # a picture that runs script
        ("text/html", "application/octet-stream"),
        ("text/html; charset=utf-8", "application/octet-stream"),
        ("application/xhtml+xml", "application/octet-stream"),
        ("text/xml", "application/octet-stream"),
        ("application/javascript", "application/octet-stream"),
        ("text/plain", "application/octet-stream"),  # some browsers still sniff it
        ("video/x-svg+xml", "application/octet-stream"),
        ("image/png\r\nX-Evil: 1", "application/octet-stream"),
        ("", "application/octet-stream"),
    ],
)
async def test_file_links_serve_only_media_and_pdf_as_themselves(
    files_server, tmp_path, stored, served
):
    blob = tmp_path / "blob"
    blob.write_bytes(b"<svg onload=alert(1)>")
    files_server.serve_files(lambda token: ServedFile(blob, "a\r\nX-Evil: 1.html", stored))
    url = f"http://127.0.0.1:{files_server.port}/f/t"
    async with aiohttp.ClientSession() as http, http.get(url) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == served
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Content-Security-Policy"] == "sandbox"
        assert "X-Evil" not in r.headers
        assert r.headers["Content-Disposition"] == (
            "attachment; filename*=UTF-8''a%0D%0AX-Evil%3A%201.html"
        )


async def test_a_file_link_is_resolved_off_the_event_loop(files_server, tmp_path):
    """Resolving a link reads the archive: in a worker thread, so a slow read does not
    hold up the webhooks and health checks meanwhile."""
    blob = tmp_path / "blob"
    blob.write_bytes(b"%PDF")
    threads: list[threading.Thread] = []
    released = threading.Event()

    def resolve(token: str) -> ServedFile:
        threads.append(threading.current_thread())
        released.wait(10)  # a busy archive, until the health check has been answered
        return ServedFile(Path(blob), "a.pdf", "application/pdf")

    files_server.serve_files(resolve)
    files_server.ready = True
    base = f"http://127.0.0.1:{files_server.port}"
    async with aiohttp.ClientSession() as http:
        download = asyncio.create_task(http.get(f"{base}/f/t"))
        await wait_until(lambda: threads)  # the link is being resolved
        started = time.monotonic()
        async with http.get(f"{base}/healthz") as r:
            assert r.status == 200
        assert time.monotonic() - started < 1.5
        released.set()
        async with await download as r:
            assert await r.read() == b"%PDF"
    assert threads and threads[0] is not threading.main_thread()


@pytest.mark.parametrize(
    "host", [b"x:99999999", b"\xff\xfe", b"[::1", b"a b", b"bot.shop.example:0x1"]
)
async def test_a_forwarded_host_that_makes_no_url_is_ignored_not_a_500(host, caplog):
    """Behind a trusted proxy the relay believes X-Forwarded-Host; one that is no host
    must not turn a refusal into a 500 with a traceback."""
    server = WebServer("127.0.0.1", 0, trust_proxy=True)
    server.add_webhook("telegram", "shop", lambda h, b: False, _ignore)
    await server.start()
    try:
        answer = await exchange(
            server.port,
            post("/telegram/shop", b"X-Forwarded-Host: " + host + b"\r\nX-Forwarded-For: \xff"),
        )
    finally:
        await server.stop()
    assert status(answer) == 403
    (line,) = [r.getMessage() for r in caplog.records if "signature check" in r.getMessage()]
    assert "to http://bot.shop.example/telegram/shop" in line
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_json_nested_too_deep_is_a_malformed_update_not_a_500():
    """A signed body of 100,000 nested brackets: refused 400 (BadUpdate), where a 500
    would make the platform send it again and again."""
    from im2mail.relay.loop import Relay
    from im2mail.relay.web import BadUpdate

    relay = Relay.__new__(Relay)  # the body is judged before anything of the relay is used
    with pytest.raises(BadUpdate, match="not JSON"):
        await relay._take_webhook("shop", b"[" * 100_000 + b"]" * 100_000)


async def _ignore(body: bytes) -> None:
    return None
