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

from tests.support.smtp_server import free_port  # one definition for all servers

USER = "orders@shop.example"
PASSWORD = "imap-test-pass"


@dataclass(frozen=True)
class ImapServer:
    host: str
    port: int
    user: str
    password: str


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


def start_pymap(port: int) -> subprocess.Popen:
    """pymap on 127.0.0.1:port with the one user, once it answers."""
    pymap = shutil.which("pymap") or os.path.join(os.path.dirname(sys.executable), "pymap")
    proc = subprocess.Popen(
        [pymap, "--host", "127.0.0.1", "--port", str(port), "--no-tls", "dict",
         "--demo-user", USER, "--demo-password", PASSWORD],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_until_listening(port, proc)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc


def stop_pymap(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    proc.send_signal(sig)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def imap_server() -> Iterator[ImapServer]:
    port = free_port()
    proc = start_pymap(port)
    try:
        yield ImapServer("127.0.0.1", port, USER, PASSWORD)
    finally:
        stop_pymap(proc)
