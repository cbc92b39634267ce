"""The relay's HTTP server: health, webhook checks before parsing, Meta's verification
GET, size limit, file links."""

from __future__ import annotations

import json

import aiohttp
import pytest

from im2mail.relay.loop import _handshake
from im2mail.relay.web import BadUpdate, ServedFile, WebServer

SECRET = "s3cr3t-token"


@pytest.fixture
async def server():
    srv = WebServer("127.0.0.1", 0, max_body=64 * 1024)
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


def url(srv: WebServer, path: str) -> str:
    return f"http://127.0.0.1:{srv.port}{path}"


def telegram_hook(srv: WebServer, received: list, fail: Exception | None = None) -> None:
    def check(headers, body):
        return headers.get("X-Telegram-Bot-Api-Secret-Token") == SECRET

    async def handle(body: bytes) -> None:
        if fail is not None:
            raise fail
        received.append(json.loads(body))

    srv.add_webhook("telegram", "shop", check, handle)


async def test_health_is_503_until_ready(server, http):
    async with http.get(url(server, "/healthz")) as r:
        assert r.status == 503
    server.ready = True
    async with http.get(url(server, "/healthz")) as r:
        assert r.status == 200
        assert (await r.json())["status"] == "ok"


async def test_webhook_with_the_secret_is_handled(server, http):
    received: list = []
    telegram_hook(server, received)
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with http.post(
        url(server, "/telegram/shop"), json={"update_id": 7}, headers=headers
    ) as r:
        assert r.status == 200
    assert received == [{"update_id": 7}]


@pytest.mark.parametrize("headers", [{}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}])
async def test_webhook_without_the_secret_is_403_and_not_parsed(server, http, headers, caplog):
    received: list = []
    telegram_hook(server, received)
    async with http.post(url(server, "/telegram/shop"), data=b"{not json", headers=headers) as r:
        assert r.status == 403
    assert received == []
    assert "failed its signature check" in caplog.text


async def test_unknown_bot_is_404(server, http):
    async with http.post(url(server, "/telegram/nobody"), json={}) as r:
        assert r.status == 404


async def test_oversize_body_is_413(server, http):
    received: list = []
    telegram_hook(server, received)
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    body = b'{"update_id": 1, "pad": "' + b"x" * 100_000 + b'"}'
    async with http.post(url(server, "/telegram/shop"), data=body, headers=headers) as r:
        assert r.status == 413
    assert received == []


async def test_malformed_update_is_400(server, http):
    telegram_hook(server, [], fail=BadUpdate("no update_id"))
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with http.post(url(server, "/telegram/shop"), json={"x": 1}, headers=headers) as r:
        assert r.status == 400


async def test_store_failure_is_500_so_the_platform_retries(server, http, caplog):
    telegram_hook(server, [], fail=OSError("disk full"))
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with http.post(
        url(server, "/telegram/shop"), json={"update_id": 1}, headers=headers
    ) as r:
        assert r.status == 500
    assert "disk full" in caplog.text


async def test_signed_file_links(server, http, tmp_path):
    blob = tmp_path / "blob"
    blob.write_bytes(b"%PDF-1.4 big file")
    server.serve_files(
        lambda token: (
            ServedFile(blob, "макет А4.pdf", "application/pdf") if token == "good" else None
        )
    )
    async with http.get(url(server, "/f/good")) as r:
        assert r.status == 200
        assert await r.read() == b"%PDF-1.4 big file"
        assert r.headers["Content-Type"] == "application/pdf"
        assert "filename*=UTF-8''%D0%BC%D0%B0%D0%BA%D0%B5%D1%82" in r.headers["Content-Disposition"]
    async with http.get(url(server, "/f/forged")) as r:
        assert r.status == 404


# -- behind a reverse proxy ---------------------------------------------------------------------

PROXIED = {
    "X-Forwarded-For": "203.0.113.9, 198.51.100.20",  # a client's claim, then what nginx saw
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "bot.shop.example",
}


@pytest.mark.parametrize("trust", [False, True])
async def test_forwarded_headers_count_only_when_the_proxy_is_trusted(http, caplog, trust):
    server = WebServer("127.0.0.1", 0, trust_proxy=trust)
    await server.start()
    try:
        telegram_hook(server, [])
        async with http.post(url(server, "/telegram/shop"), data=b"{}", headers=PROXIED) as r:
            assert r.status == 403
    finally:
        await server.stop()
    (line,) = [r.getMessage() for r in caplog.records if "signature check" in r.getMessage()]
    if trust:
        assert "from 198.51.100.20 to https://bot.shop.example/telegram/shop" in line
    else:  # anyone can send these headers: the real peer and the URL as requested
        assert f"from 127.0.0.1 to http://127.0.0.1:{server.port}/telegram/shop" in line
        assert "203.0.113.9" not in line and "198.51.100.20" not in line


async def test_a_viber_webhook_body_over_the_limit_is_413_before_any_check(server, http):
    checked: list = []
    server.add_webhook("viber", "vshop", lambda h, b: checked.append(b) or True, _ignore)
    async with http.post(url(server, "/viber/vshop"), data=b"x" * (65 * 1024)) as r:
        assert r.status == 413
    assert checked == []


async def _ignore(body: bytes) -> None:
    return None


async def test_the_relay_answers_meta_s_verification_get(server):
    async def handle(body: bytes) -> None:
        return None

    server.add_webhook("whatsapp", "wa", lambda h, b: True, handle,
                       handshake=_handshake("whatsapp", "vt-123"))  # fmt: skip
    server.add_webhook("telegram", "tg", lambda h, b: True, handle,
                       handshake=_handshake("telegram", "vt-123"))  # fmt: skip
    base = f"http://127.0.0.1:{server.port}"
    query = {"hub.mode": "subscribe", "hub.verify_token": "vt-123", "hub.challenge": "8841"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/whatsapp/wa", params=query) as r:
            assert (r.status, await r.text()) == (200, "8841")
        wrong = {**query, "hub.verify_token": "guess"}
        async with http.get(f"{base}/whatsapp/wa", params=wrong) as r:
            assert r.status == 403
        async with http.get(f"{base}/telegram/tg", params=query) as r:
            assert r.status == 404  # Telegram has no such check: nothing to answer
        async with http.get(f"{base}/messenger/nobody", params=query) as r:
            assert r.status == 404
