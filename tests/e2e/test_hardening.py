"""`im2mail run` against hostile input, with its real settings: a customer whose name
would forge a log line, webhook signature headers of odd bytes, and slow clients (the
limits `run` uses by default: headers within 10 s, a body within 10 s more)."""

from __future__ import annotations

import asyncio
import re
import time
from contextlib import suppress

import pytest

from im2mail.relay.web import BODY_TIMEOUT, HEADER_TIMEOUT, LINGER
from tests.e2e.relay_rig import start_relay, write_home

pytestmark = pytest.mark.e2e

ENTRY = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ", re.MULTILINE)
FORGED = "2026-12-07 10:00:00,000 INFO im2mail.relay: relay stopped"


async def test_a_customer_name_cannot_forge_a_log_line(isolated_home, telegram_api, smtp_server):
    token = telegram_api.add_bot()
    port = write_home(isolated_home, api_url=telegram_api.url, token=token,
                      smtp_port=smtp_server.port)  # fmt: skip
    process = await start_relay(isolated_home, port)
    try:
        mallory = telegram_api.customer(f"Олена\n{FORGED}\x1b[2K", "Коваль")
        await telegram_api.push_text(token, mallory, "Добрий день")
        await smtp_server.wait_for(1, timeout=10)
        await telegram_api.push_member(token, mallory, "kicked")
        await telegram_api.wait_until(lambda: "blocked the bot" in process.log, timeout=10)
    finally:
        process.kill()
    log = process.log
    assert f"Олена\\n{FORGED}\\x1b[2K Коваль blocked the bot" in log
    assert not re.search(f"^{re.escape(FORGED)}", log, re.MULTILINE)


async def raw(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return answer


async def seconds_until_closed(port: int, first: bytes, more: bytes, limit: float) -> float:
    """Send `first`, then `more` every 0.3 s; how long until the relay closes on us."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(first)
    started = time.monotonic()
    while time.monotonic() - started < limit:
        with suppress(ConnectionError):
            writer.write(more)
        try:
            chunk = await asyncio.wait_for(reader.read(1024), 0.3)
        except TimeoutError:
            continue
        except ConnectionError:
            break
        if not chunk:
            break
    writer.close()
    return time.monotonic() - started


async def test_webhooks_refuse_odd_signatures_and_slow_clients(
    isolated_home, telegram_api, smtp_server
):
    token = telegram_api.add_bot()
    port = write_home(isolated_home, api_url=telegram_api.url, token=token,
                      smtp_port=smtp_server.port, mode="webhook")  # fmt: skip
    process = await start_relay(isolated_home, port)
    try:
        body = b'{"update_id": 5}'
        head = (
            b"POST /telegram/shop HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
        )
        for value in (b"\xff\xfe\x80", b"\xe9t\xe9", "секрет".encode()):
            answer = await raw(port, head + b"X-Telegram-Bot-Api-Secret-Token: " + value
                               + b"\r\n\r\n" + body)  # fmt: skip
            assert answer.startswith(b"HTTP/1.1 403 "), answer
        answer = await raw(port, head + b"X-Telegram-Bot-Api-Secret-Token: \x00\r\n\r\n" + body)
        assert answer.startswith(b"HTTP/1.0 400 ")

        stalled = head.replace(b"%d" % len(body), b"9000") + b"\r\n{"
        slow_headers, stalled_body = await asyncio.gather(
            seconds_until_closed(port, b"POST /telegram/shop HTTP/1.1\r\n", b"X-A: 1\r\n", 30),
            seconds_until_closed(port, stalled, b" ", 30),
        )
        assert slow_headers < HEADER_TIMEOUT + 4
        assert stalled_body < BODY_TIMEOUT + LINGER + 4
        assert process.healthy()
    finally:
        process.kill()
    log = process.log
    assert log.count("failed its signature check (403)") == 3
    assert "bad HTTP request from 127.0.0.1 refused (400" in log
    assert "not sent within 10 s, closed (408)" in log
    assert "Traceback" not in log
    entries = [line for line in log.splitlines() if not line.startswith("warning: ")]
    assert all(ENTRY.match(line) for line in entries), log  # one line each, nothing else
    assert smtp_server.messages == []
