"""`im2mail run` under systemd's notify protocol: the notifier's datagrams on a socket
path and an abstract socket, and the real relay in a subprocess, with $NOTIFY_SOCKET
pointing at a datagram socket this test reads, as systemd's would be."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import time

import pytest

from im2mail.relay import sd_notify
from tests.e2e.relay_rig import RelayProcess, write_home

pytestmark = pytest.mark.e2e


class NotifySocket:
    """systemd's end: every datagram received, with the time it came."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setblocking(False)
        self.got: list[tuple[float, str]] = []

    async def wait_for(self, field: str, timeout: float = 20) -> str:
        """The first message (from now on) with `field` as one of its lines."""
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                data = await asyncio.wait_for(loop.sock_recv(self.sock, 4096), left)
            except TimeoutError:
                break
            message = data.decode()
            self.got.append((time.monotonic(), message))
            if field in message.splitlines():
                return message
        raise AssertionError(f"no {field} within {timeout}s; got {[m for _, m in self.got]}")


@pytest.fixture
def notify_socket(monkeypatch):
    with tempfile.TemporaryDirectory(prefix="im2mail-notify-") as folder:
        listener = NotifySocket(os.path.join(folder, "notify"))  # short: AF_UNIX's limit
        monkeypatch.setenv("NOTIFY_SOCKET", listener.sock.getsockname())
        monkeypatch.setenv("WATCHDOG_USEC", "1000000")  # pings every half second
        monkeypatch.delenv("WATCHDOG_PID", raising=False)
        try:
            yield listener
        finally:
            listener.sock.close()


async def test_run_says_ready_pings_the_watchdog_and_says_stopping(
    isolated_home, telegram_api, smtp_server, notify_socket
):
    token = telegram_api.add_bot("shop_bot", "Shop")
    port = write_home(
        isolated_home, api_url=telegram_api.url, token=token, smtp_port=smtp_server.port
    )
    relay = RelayProcess(isolated_home, port)
    try:
        ready = await notify_socket.wait_for("READY=1")
        # systemd starts what comes after im2mail now: the relay must already answer.
        assert await asyncio.to_thread(relay.healthy), relay.log
        assert "STATUS=relaying: 1 bot(s)" in ready.splitlines()

        first = await notify_socket.wait_for("WATCHDOG=1")
        for _ in range(3):
            await notify_socket.wait_for("WATCHDOG=1", timeout=3)
        pings = [at for at, message in notify_socket.got if message == "WATCHDOG=1"]
        assert first == "WATCHDOG=1" and len(pings) >= 4
        assert 0.3 < (pings[-1] - pings[0]) / (len(pings) - 1) < 1.0  # half of 1 s

        stopping = asyncio.create_task(notify_socket.wait_for("STOPPING=1", timeout=10))
        code, seconds = await relay.terminate()
        assert "STATUS=stopping: finishing the work in hand" in (await stopping).splitlines()
        assert code == 0, relay.log
        assert seconds < 5
        assert "relay stopped" in relay.log
    finally:
        relay.kill()


async def test_run_without_a_watchdog_sends_no_pings(
    isolated_home, telegram_api, smtp_server, notify_socket, monkeypatch
):
    """WATCHDOG_PID names another process: that watchdog is not ours to feed."""
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    token = telegram_api.add_bot("shop_bot", "Shop")
    port = write_home(
        isolated_home, api_url=telegram_api.url, token=token, smtp_port=smtp_server.port
    )
    relay = RelayProcess(isolated_home, port)
    try:
        await notify_socket.wait_for("READY=1")
        with pytest.raises(AssertionError, match="no WATCHDOG=1"):
            await notify_socket.wait_for("WATCHDOG=1", timeout=2)
        code, _ = await relay.terminate()
        assert code == 0, relay.log
    finally:
        relay.kill()


@pytest.fixture
def listener():
    """systemd's side: a datagram socket in a short temporary folder (AF_UNIX paths are
    limited to 108 bytes)."""
    with tempfile.TemporaryDirectory(prefix="im2mail-notify-") as folder:
        path = os.path.join(folder, "notify")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(path)
            sock.settimeout(5)
            yield path, sock


def test_notifier_tells_systemd_ready_status_watchdog_and_stopping(listener, monkeypatch):
    path, sock = listener
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    notify = sd_notify.Notifier()
    notify.ready("relaying: 2 bot(s)")
    notify.watchdog()
    notify.status("outbox: 3 emails pending")
    notify.stopping()
    assert [sock.recv(4096).decode() for _ in range(4)] == [
        "READY=1\nSTATUS=relaying: 2 bot(s)",
        "WATCHDOG=1",
        "STATUS=outbox: 3 emails pending",
        "STOPPING=1\nSTATUS=stopping",
    ]


def test_notifier_reaches_an_abstract_socket(monkeypatch):
    name = f"im2mail-test-{os.getpid()}-{id(monkeypatch)}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        sd_notify.Notifier().ready()
        assert sock.recv(4096) == b"READY=1\nSTATUS=running"
