"""A real IMAP server for tests: pymap's in-memory backend in a subprocess on a free
loopback port, with one mailbox user (im2mail.testing.mail_servers starts it). Started and
stopped by the `imap_server` fixture. CuttableLink puts a link between a client and the
server whose connections a test can cut."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator

import pytest

from im2mail.testing import mail_servers
from im2mail.testing.mail_servers import ImapServer, free_port, stop_pymap

__all__ = [
    "PASSWORD",
    "USER",
    "CuttableLink",
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


class CuttableLink:
    """A TCP link from a free loopback port to an IMAP server, for connection faults: cut()
    drops every connection through it at once (a NAT timeout, a router restart, a server
    that lost its clients: the client sees the connection close, mid-IDLE or not), and
    while `refusing` is set new connections are closed as soon as they are made. It also
    counts the IDLE commands the client sends (`idles`, once passed on), and can run
    `before_idle()` (once) just before passing the next one on: whatever it does to the
    mailbox happens after the client's last look and before it starts to wait.

        link = CuttableLink(pymap_port)     # the client connects to link.port
        link.cut(); link.refusing = True ... link.refusing = False
        link.close()
    """

    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.target = (host, target_port)
        self.refusing = False
        self.connections = 0  # made through the link so far
        self.idles = 0
        self.before_idle: Callable[[], object] | None = None
        self._listener = socket.create_server((host, 0))
        self.port: int = self._listener.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name="imap-link", daemon=True).start()

    def cut(self) -> None:
        """Close every connection through the link now."""
        with self._lock:
            sockets, self._open = self._open, set()
        for sock in sockets:
            _close(sock)

    def close(self) -> None:
        _close(self._listener)
        self.cut()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            try:
                if self.refusing:
                    raise OSError("refusing")
                server = socket.create_connection(self.target, timeout=5)
                server.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._open |= {client, server}
                self.connections += 1
            for source, sink in ((client, server), (server, client)):
                pump = threading.Thread(
                    target=self._pump, args=(source, sink, source is client), daemon=True
                )
                pump.start()

    def _pump(self, source: socket.socket, sink: socket.socket, upstream: bool) -> None:
        try:
            while data := source.recv(65536):
                idle = upstream and data.upper().endswith(b" IDLE\r\n")
                if idle and self.before_idle is not None:
                    hook, self.before_idle = self.before_idle, None
                    hook()
                sink.sendall(data)
                if idle:
                    self.idles += 1
        except OSError:
            pass
        with self._lock:
            self._open -= {source, sink}
        _close(source)
        _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv(), close() does not
    sock.close()
