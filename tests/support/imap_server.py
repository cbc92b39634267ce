"""A real IMAP server for tests: pymap's in-memory backend in a subprocess on a free
loopback port, with one mailbox user. Started and stopped by the `imap_server` fixture."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

USER = "orders@shop.example"
PASSWORD = "imap-test-pass"


@dataclass(frozen=True)
class ImapServer:
    host: str
    port: int
    user: str
    password: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_listening(port: int, proc: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"pymap exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                if s.recv(64).startswith(b"* OK"):
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("pymap did not start listening")


@pytest.fixture
def imap_server() -> Iterator[ImapServer]:
    pymap = shutil.which("pymap") or os.path.join(os.path.dirname(sys.executable), "pymap")
    port = free_port()
    proc = subprocess.Popen(
        [pymap, "--host", "127.0.0.1", "--port", str(port), "--no-tls", "dict",
         "--demo-user", USER, "--demo-password", PASSWORD],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_until_listening(port, proc)
        yield ImapServer("127.0.0.1", port, USER, PASSWORD)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
