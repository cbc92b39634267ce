"""A real IMAP server for tests: pymap's in-memory backend in a subprocess on a free
loopback port, with one mailbox user (im2mail.testing.mail_servers starts it). Started and
stopped by the `imap_server` fixture."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from im2mail.testing import mail_servers
from im2mail.testing.mail_servers import ImapServer, free_port, stop_pymap

__all__ = [
    "PASSWORD",
    "USER",
    "ImapServer",
    "free_port",
    "imap_server",
    "start_pymap",
    "stop_pymap",
]

USER = "orders@shop.example"
PASSWORD = "imap-test-pass"


def start_pymap(port: int) -> subprocess.Popen:
    """pymap on 127.0.0.1:port with the one user, once it answers."""
    return mail_servers.start_pymap(port, USER, PASSWORD)


@pytest.fixture
def imap_server() -> Iterator[ImapServer]:
    port = free_port()
    proc = start_pymap(port)
    try:
        yield ImapServer("127.0.0.1", port, USER, PASSWORD)
    finally:
        stop_pymap(proc)
