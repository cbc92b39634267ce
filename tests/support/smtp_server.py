"""A real SMTP server (aiosmtpd) on a free loopback port, with faults on demand.

It runs its own event loop in a thread, so the same server serves plain tests, async tests
(it never shares their loop) and programs the test starts as subprocesses.

    server = SmtpServer()          # port 0: a free port, kept across stop()/start()
    server.start()
    ... send to server.host, server.port ...
    server.messages                # list[Received], in the order they were accepted
    server.close()

Faults, each settable at any time from the test:
    stop() / start()               refuse connections (open ones are dropped), then serve again
    fail_next(451, count=3)        answer the end of DATA with this code for the next N mails
                                   (421 also closes the connection, as servers do)
    drop_next(count=1)             close the connection at the end of DATA, no reply
    drop_next(1, accepted=True)    ... after taking the mail (it is in `messages`): the
                                   client cannot know it went
    stall_next(count=1)            say nothing at the end of DATA of the next N mails, until
                                   the client gives up (its timeout) and leaves: one stuck
                                   connection while the others work
    reject_recipient(addr, 550)    refuse one recipient at RCPT, accept the others
    require_auth(user, password)   offer AUTH (PLAIN, LOGIN; over plain text on loopback)
                                   and answer 530 to MAIL before a successful login
    delay = 0.2                    seconds the server takes at the end of DATA before it
                                   decides (a client that leaves meanwhile sent nothing)
    reply_delay = 0.2              seconds between accepting a mail (it is in `messages`)
                                   and saying 250: the window where a client that stops
                                   does not know the mail went
    hang = True                    accept connections and never say anything (timeouts)
    rtt = 0.02                     seconds added before every reply (the greeting, each
                                   command's, the end of DATA's): a server far away
    max_sessions = 2               sessions beyond this many open at once are greeted with
                                   421 and closed, as a server's limit per client does
    limit_at = "mail"              ... are greeted with 220 and answer MAIL FROM with "421
                                   too many concurrent sessions", then close (as some do)
Counters: `sessions` (connections accepted), `open_sessions` (open now), `peak_sessions`
(the most open at once; sessions beyond max_sessions not counted), `refused_at_mail`.
TLS: SmtpServer(tls="tls") speaks implicit TLS, tls="starttls" offers and requires
STARTTLS; both with a self-signed certificate for 127.0.0.1/localhost that
`server.client_tls_context()` trusts.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import ipaddress
import logging
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from im2mail.testing.mail_servers import free_port as free_port  # one for all servers

HOST = "127.0.0.1"

# aiosmtpd logs a deprecation of its own on every successful AUTH; it is not ours to fix.
logging.getLogger("mail.log").addFilter(lambda r: "login_data is deprecated" not in r.msg)


@dataclass(frozen=True)
class Received:
    """One accepted mail: the envelope and the message (parsed with policy.default when
    first looked at, so that the server itself stays fast)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes = field(repr=False)

    @cached_property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def message_id(self) -> str | None:
        value = self.message["Message-ID"]
        return str(value).strip() if value is not None else None


class SmtpServer:
    def __init__(self, host: str = HOST, port: int = 0, *, tls: str | None = None) -> None:
        if tls not in (None, "tls", "starttls"):
            raise ValueError(f"tls: None, 'tls' or 'starttls', not {tls!r}")
        self.host = host
        self.port = port
        self.tls = tls
        self.messages: list[Received] = []
        self.sessions = 0  # connections accepted
        self.refused_at_mail = 0  # sessions beyond max_sessions told 421 at MAIL FROM
        self.open_sessions = 0  # SMTP sessions open now
        self.peak_sessions = 0  # the most open at once
        self.delay = 0.0
        self.reply_delay = 0.0
        self.rtt = 0.0
        self.max_sessions: int | None = None
        self.limit_at = "greeting"  # or "mail": where a session beyond max_sessions hears 421
        self.hang = False
        self._faults: list[tuple[int, str]] = []  # (code, text); 0/-1: drop; -2: stall
        self._rejected: dict[str, tuple[int, str]] = {}
        self._auth: tuple[str, str] | None = None
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._transports: set[asyncio.BaseTransport] = set()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> SmtpServer:
        """Listen (again); returns once the port accepts connections."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(
                target=self._loop.run_forever, name=f"smtp-server-{id(self)}", daemon=True
            )
            self._thread.start()
        if self._server is None:
            self._call(self._listen())
        return self

    def stop(self) -> None:
        """Refuse connections from now on and drop the open ones (start() serves again)."""
        if self._loop is not None and self._server is not None:
            self._call(self._unlisten())

    def close(self) -> None:
        """Stop and end the server's thread."""
        self.stop()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            assert self._thread is not None
            self._thread.join(5)
            self._loop.close()
            self._loop = self._thread = None

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def connections(self) -> int:
        """Connections open now."""
        return len(self._transports)

    # -- faults ------------------------------------------------------------------------------

    def fail_next(self, code: int, count: int = 1, text: str | None = None) -> None:
        """Answer the end of DATA of the next `count` mails with `code` (not accepted)."""
        text = text or _DEFAULT_TEXT.get(code, "Error: try again later")
        with self._lock:
            self._faults += [(code, text)] * count

    def drop_next(self, count: int = 1, *, accepted: bool = False) -> None:
        """Close the connection at the end of DATA of the next `count` mails (no reply);
        `accepted`: after taking each mail (it is in `messages`, the client can't know)."""
        with self._lock:
            self._faults += [(-1 if accepted else 0, "")] * count

    def stall_next(self, count: int = 1) -> None:
        """Never answer the end of DATA of the next `count` mails (not accepted): the
        session waits until the client leaves."""
        with self._lock:
            self._faults += [(-2, "")] * count

    def reject_recipient(self, address: str, code: int = 550, text: str | None = None) -> None:
        self._rejected[address.lower()] = (code, text or "5.1.1 No such user here")

    def require_auth(self, username: str, password: str) -> None:
        self._auth = (username, password)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
        self._rejected.clear()
        self.delay = self.reply_delay = self.rtt = 0.0
        self.max_sessions = None
        self.limit_at = "greeting"
        self.hang = False

    # -- what arrived ------------------------------------------------------------------------

    def message_ids(self) -> list[str | None]:
        return [m.message_id for m in list(self.messages)]

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """In an async test: wait until `count` mails have arrived (AssertionError if not)."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.messages)} of {count} mails arrived")
            await asyncio.sleep(0.01)
        return list(self.messages)

    def wait_for_blocking(self, count: int, timeout: float = 10.0) -> list[Received]:
        """The same for a plain test (e.g. one driving a subprocess)."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.messages)} of {count} mails arrived")
            time.sleep(0.01)
        return list(self.messages)

    def client_tls_context(self) -> ssl.SSLContext:
        """A client context that trusts this server's certificate (and only it)."""
        return ssl.create_default_context(cadata=_certificate()[0].decode())

    # -- inside the server's loop ------------------------------------------------------------

    def _call(self, coro: Any) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _listen(self) -> None:
        tls = _server_context() if self.tls == "tls" else None
        self._server = await asyncio.get_running_loop().create_server(
            self._protocol, self.host, self.port, ssl=tls, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _unlisten(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for transport in list(self._transports):
            transport.abort()
        self._transports.clear()
        if server is not None:
            await server.wait_closed()

    def _protocol(self) -> asyncio.Protocol:
        self.sessions += 1
        if self.hang:
            return _Silent(self._transports)
        over = self.max_sessions is not None and self.open_sessions >= self.max_sessions
        if over and self.limit_at == "greeting":
            return _Silent(self._transports, b"421 4.7.0 Too many connections from you\r\n")
        kwargs: dict[str, Any] = {}
        if self.tls == "starttls":
            kwargs.update(tls_context=_server_context(), require_starttls=True)
        if self._auth is not None:
            kwargs.update(authenticator=self._authenticate, auth_require_tls=False)
        if not over:  # counted here: a limit holds for connections made at once
            self.open_sessions += 1
            self.peak_sessions = max(self.peak_sessions, self.open_sessions)
        session = _Session(
            self, _Handler(self), hostname="localhost", enable_SMTPUTF8=True, **kwargs
        )
        session.over_limit = over
        return session

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and self._auth is not None
            and (data.login.decode(), data.password.decode()) == self._auth
        )
        return AuthResult(success=ok, handled=False)

    def _next_fault(self) -> tuple[int, str] | None:
        with self._lock:
            return self._faults.pop(0) if self._faults else None


_DEFAULT_TEXT = {
    421: "4.3.2 Service shutting down, closing connection",
    450: "4.2.0 Mailbox busy, try again later",
    451: "4.3.0 Local error in processing, try again later",
    452: "4.3.1 Insufficient system storage",
    550: "5.7.1 Message rejected as spam",
    552: "5.3.4 Message too big",
    554: "5.6.0 Transaction failed: message refused",
}


class _Session(SMTP):
    """aiosmtpd's SMTP protocol, with its transport known to the server (stop drops it)."""

    def __init__(self, owner: SmtpServer, handler: Any, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._owner = owner
        self._mine: list[asyncio.BaseTransport] = []  # the TCP one, then TLS over it
        self.over_limit = False  # beyond max_sessions: MAIL FROM is answered 421

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._mine.append(transport)
        self._owner._transports.add(transport)
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._mine and not self.over_limit:
            self._owner.open_sessions -= 1
        self._owner._transports.difference_update(self._mine)
        self._mine = []
        super().connection_lost(exc)

    async def push(self, status: Any) -> None:
        """Every reply, its last line `rtt` seconds late: the round trip to a far server."""
        rtt = self._owner.rtt
        line = status.encode() if isinstance(status, str) else status
        if rtt and line[3:4] != b"-":
            await asyncio.sleep(rtt)
        await super().push(status)


class _Silent(asyncio.Protocol):
    """Accepts a connection and never answers; or says `greeting` and closes it."""

    def __init__(self, transports: set[asyncio.BaseTransport], greeting: bytes = b"") -> None:
        self._transports = transports
        self._transport: asyncio.BaseTransport | None = None
        self._greeting = greeting

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._transports.add(transport)
        if self._greeting:
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(self._greeting)
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transports.discard(self._transport)  # type: ignore[arg-type]


class _Handler:
    def __init__(self, owner: SmtpServer) -> None:
        self.owner = owner

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        if self.owner._auth is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        if getattr(server, "over_limit", False):
            self.owner.refused_at_mail += 1
            _close_soon(server, at_once=False)
            return "421 4.7.0 Too many concurrent sessions, try again later"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        refusal = self.owner._rejected.get(address.lower())
        if refusal is not None:
            return f"{refusal[0]} {refusal[1]}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        owner = self.owner
        if owner.delay:
            await asyncio.sleep(owner.delay)
        fault = owner._next_fault()
        data = envelope.original_content or envelope.content or b""
        assert isinstance(data, bytes)
        if fault is not None:
            code, text = fault
            if code == -2:  # stuck: aiosmtpd cancels this when the client leaves
                await asyncio.sleep(3600)
            if code == -1:  # taken, then the connection drops before the 250
                owner.messages.append(
                    Received(str(envelope.mail_from), tuple(envelope.rcpt_tos), data)
                )
            if code <= 0 or code == 421:
                _close_soon(server, at_once=code <= 0)
            return f"{code} {text}" if code > 0 else "451 dropped"
        owner.messages.append(Received(str(envelope.mail_from), tuple(envelope.rcpt_tos), data))
        if owner.reply_delay:
            await asyncio.sleep(owner.reply_delay)
        return "250 2.0.0 OK queued"


def _close_soon(server: SMTP, *, at_once: bool) -> None:
    transport = server.transport
    if transport is None:
        return
    if at_once:
        transport.abort()  # nothing more goes out, the reply included
    else:
        asyncio.get_running_loop().call_later(0.05, transport.close)


# -- a self-signed certificate for TLS tests ---------------------------------------------------


@cache
def _certificate() -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) for localhost and 127.0.0.1, made once per process."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = _dt.datetime.now(_dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(days=1))
        .not_valid_after(now + _dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@cache
def _server_context() -> ssl.SSLContext:
    cert, key = _certificate()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as tmp:  # load_cert_chain reads files only
        cert_file, key_file = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
        cert_file.write_bytes(cert)
        key_file.write_bytes(key)
        context.load_cert_chain(cert_file, key_file)
    return context
