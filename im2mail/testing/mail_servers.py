"""The mail side's stand-ins, on loopback: a real IMAP server (pymap's in-memory backend,
in a subprocess) with the shop mailbox, an SMTP server (aiosmtpd) that keeps what it is
sent, what a manager's Gmail puts in the mailbox on Reply, and a caught mail's lines as
the demo prints them. `im2mail demo` runs on them; the test suite starts pymap with them
too."""

from __future__ import annotations

import collections
import os
import random
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

HOST = "127.0.0.1"
Mail = EmailMessage  # a mail as the servers here hand it out
# pymap has a console script but no __main__; its entry point works from any interpreter.
_PYMAP = "import sys; from pymap.main import main; sys.exit(main())"


def free_port(host: str = HOST) -> int:
    """A port nothing listens on now (for a server that is down at first), chosen below
    the kernel's range of ports for outgoing connections, so no client socket can take it
    before its server binds it; each pytest-xdist worker picks in a slice of its own, and a
    port is not handed out twice in a row. The kernel's choice when that range is too low."""
    low = _ephemeral_floor()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    slice_ = (int(worker) if worker.isdigit() else 0) % _SLICES
    start = _PORTS_FROM + slice_ * _SLICE
    if start + _SLICE <= low:
        for _ in range(100):
            port = random.randrange(start, start + _SLICE)
            if port in _recent:
                continue
            try:
                with socket.socket() as s:
                    s.bind((host, port))
            except OSError:
                continue
            _recent.append(port)
            return port
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


_PORTS_FROM, _SLICE, _SLICES = 20000, 3000, 4  # 20000-31999: below Linux's 32768
_recent: collections.deque[int] = collections.deque(maxlen=256)


def _ephemeral_floor() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768 if sys.platform.startswith("linux") else 49152


# -- IMAP: pymap ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ImapServer:
    host: str
    port: int
    user: str
    password: str


def start_pymap(port: int, user: str, password: str, timeout: float = 20) -> subprocess.Popen:
    """pymap on 127.0.0.1:port with one user, returned once it greets with `* OK`."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _PYMAP, "--host", HOST, "--port", str(port), "--no-tls",
         "dict", "--demo-user", user, "--demo-password", password],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_for_greeting(port, proc, timeout)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc


def _wait_for_greeting(port: int, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"pymap exited with {proc.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5) as s:
                if s.recv(64).startswith(b"* OK"):
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"pymap did not answer on port {port} within {timeout:g} s")


def stop_pymap(proc: subprocess.Popen, sig: int | None = None) -> None:
    """Stop it (SIGTERM unless `sig`), killing it if it takes more than 5 s."""
    if proc.poll() is None:
        if sig is None:
            proc.terminate()
        else:
            proc.send_signal(sig)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def append(server: ImapServer, email: EmailMessage, folder: str = "INBOX") -> None:
    """Put a mail in the mailbox, as a mail client does (APPEND)."""
    from imapclient import IMAPClient

    with IMAPClient(server.host, port=server.port, ssl=False, timeout=5) as client:
        client.login(server.user, server.password)
        client.append(folder, email.as_bytes())


# -- SMTP: aiosmtpd -------------------------------------------------------------------------


@dataclass(frozen=True)
class Caught:
    """One mail the SMTP server accepted."""

    rcpt_tos: tuple[str, ...]
    message: EmailMessage


class MailCatcher:
    """An SMTP server on a free loopback port (its own thread) that keeps every mail.

    with MailCatcher() as smtp: ... smtp.port ... smtp.messages
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[Caught] = []
        self._lock = threading.Lock()
        self._controller = None

    def start(self) -> MailCatcher:
        from aiosmtpd.controller import Controller

        self._controller = Controller(
            self, hostname=HOST, port=self.port, enable_SMTPUTF8=True, ready_timeout=10
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> MailCatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd's handler hook
        data = envelope.original_content or envelope.content or b""
        parsed = message_from_bytes(data, policy=policy.default)
        with self._lock:
            self.messages.append(Caught(tuple(envelope.rcpt_tos), parsed))  # type: ignore[arg-type]
        return "250 2.0.0 OK queued"

    def received(self) -> list[Caught]:
        with self._lock:
            return list(self.messages)


# -- what a manager's mail client sends -----------------------------------------------------


def gmail_reply(
    original: EmailMessage,
    text: str,
    *,
    sender: str,
    date: datetime | None = None,
    **headers: str,
) -> EmailMessage:
    """What Gmail sends when a manager presses Reply: to the Reply-To address, threaded,
    the original quoted under an attribution line. `sender` is the From header ("Name
    <addr>" or an address); `headers` replace any header (underscores for dashes)."""
    quoted = original.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    when = original["Date"].datetime if original["Date"] else datetime.now(UTC)
    reply = EmailMessage()
    reply["From"] = sender
    reply["To"] = str(original["Reply-To"])
    reply["Subject"] = "Re: " + str(original["Subject"])
    reply["Date"] = format_datetime(date or when)
    reply["Message-ID"] = make_msgid(domain="mail.gmail.com")
    reply["In-Reply-To"] = original["Message-ID"]
    reply["References"] = original["Message-ID"]
    for name, value in headers.items():
        del reply[name.replace("_", "-")]
        reply[name.replace("_", "-")] = value
    attribution = f"On {when:%a, %d %b %Y} at {when:%H:%M}, {original['From']} wrote:"
    body = f"{text}\n\n{attribution}\n"
    reply.set_content(body + "".join(f"> {line}\n" for line in quoted.splitlines()))
    return reply


# -- what a mail shows (the demo prints it) -----------------------------------------------


def first_lines(msg: EmailMessage, count: int = 3) -> list[str]:
    body = msg.get_body(("plain",))
    text = body.get_content() if body is not None else ""
    return [f"│ {line.strip()}" for line in text.splitlines() if line.strip()][:count]


def email_lines(msg: EmailMessage, *, body: bool = True) -> list[str]:
    lines = [f"From: {msg['From']}", f"To: {msg['To']}", f"Reply-To: {msg['Reply-To']}",
             f"Subject: {msg['Subject']}"]  # fmt: skip
    return lines + (first_lines(msg) if body else [])


def pictures(msg: EmailMessage) -> list[str]:
    parts: list[Any] = [p for p in msg.walk() if p.get_content_maintype() == "image"]
    return [
        f"picture: {p.get_filename() or 'unnamed'} ({p.get_content_type()}, "
        f"{len(p.get_payload(decode=True) or b'')} bytes, {p.get_content_disposition()})"
        for p in parts
    ]


def reply_lines(reply: EmailMessage) -> list[str]:
    text = reply.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    quoted = sum(1 for line in text.splitlines() if line.startswith(">"))
    return [f"From: {reply['From']}", f"To: {reply['To']}", f"Subject: {reply['Subject']}",
            *first_lines(reply, 1), f"│ … and below, Gmail's quote ({quoted} lines)"]  # fmt: skip
