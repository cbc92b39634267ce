"""Reaching the SMTP server: settings, the aiosmtplib client they make, typed errors, and
check_login for `init` and `doctor`. The outbox worker (smtp_outbox.py) sends with these.

security: "starttls" connects in plain text and requires STARTTLS; "tls" is TLS from the
first byte (port 465); "none" is plain text, which config.py allows for loopback hosts
only. Certificates are checked against the system's CAs unless a tls_context is given.
The password is passed beside the settings, never kept in them, and never appears in an
error message: the server's replies are quoted, with the password masked should one echo it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import ssl
from dataclasses import dataclass, field
from email import policy
from email.message import Message
from email.policy import EmailPolicy
from email.utils import getaddresses
from typing import Any

import aiosmtplib

from ..config import ServerConfig
from ..errors import MASK, RuntimeFailure, redact

SECURITY = ("starttls", "tls", "none")

log = logging.getLogger("im2mail.outbox")


@dataclass(frozen=True)
class SmtpSettings:
    """How to reach the SMTP server. The password is passed beside it, never kept here."""

    host: str
    port: int
    security: str = "starttls"  # "starttls" | "tls" (implicit, port 465) | "none"
    username: str = ""  # empty: no login
    timeout: float = 30.0  # seconds: connecting, and each command
    tls_context: ssl.SSLContext | None = field(default=None, compare=False, repr=False)
    local_hostname: str | None = None  # the EHLO name; None: this machine's FQDN

    @classmethod
    def from_config(cls, server: ServerConfig, **options: Any) -> SmtpSettings:
        return cls(server.host, server.port, server.security, server.username, **options)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def client(self, password: str) -> aiosmtplib.SMTP:
        """An unconnected client; connect() also does STARTTLS and the login."""
        if self.security not in SECURITY:
            raise ValueError(f"security must be one of {', '.join(SECURITY)}")
        return aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username or None,
            password=password if self.username else None,
            use_tls=self.security == "tls",
            start_tls=self.security == "starttls",
            tls_context=self.tls_context,
            timeout=self.timeout,
            local_hostname=self.local_hostname,
        )


# -- typed errors: what `init` and `doctor` report ----------------------------------------------


class SmtpError(RuntimeFailure):
    """The SMTP server could not be used (the message says why, the hint what to check)."""


class SmtpHostNotFound(SmtpError):
    """The host name does not resolve."""


class SmtpConnectionRefused(SmtpError):
    """Nothing listens on that host and port."""


class SmtpTlsError(SmtpError):
    """TLS could not be set up: wrong mode for the port, untrusted certificate, no STARTTLS."""


class SmtpAuthError(SmtpError):
    """The server refused the login (535), or offers no login at all."""


class SmtpTimeout(SmtpError):
    """The server did not answer in time."""


async def check_login(settings: SmtpSettings | ServerConfig, password: str) -> None:
    """Connect, set up TLS, log in (when a username is set) and say goodbye, once.
    Raises an SmtpError subclass that names the problem; for `init` and `doctor`."""
    if isinstance(settings, ServerConfig):
        settings = SmtpSettings.from_config(settings)
    client = settings.client(password)
    try:
        await client.connect()
        if client.is_ehlo_or_helo_needed:
            await client.ehlo()
    except Exception as e:
        client.close()
        raise smtp_error(e, settings, password) from e
    with contextlib.suppress(Exception):
        await client.quit()
    client.close()


def smtp_error(exc: BaseException, settings: SmtpSettings, password: str = "") -> SmtpError:
    """The typed error, with a message and a hint, for what went wrong reaching a server."""
    where = f"the SMTP server {settings.address}"
    chain = _chain(exc)
    text = describe(exc, password)
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return SmtpAuthError(
            f"{where} refused the login of {settings.username}: {text}",
            hint="check the SMTP password (re-run: im2mail init); some providers want an "
            "app password",
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code == 530:
        return SmtpAuthError(
            f"{where} wants a login: {text}",
            hint="set mail.smtp.username (re-run: im2mail init)",
        )
    if isinstance(exc, aiosmtplib.SMTPException) and "AUTH extension" in exc.message:
        return SmtpAuthError(
            f"{where} offers no login (AUTH) on this connection",
            hint='use security = "starttls" or "tls", or leave mail.smtp.username empty',
        )
    if isinstance(exc, aiosmtplib.SMTPException) and "STARTTLS extension" in exc.message:
        return SmtpTlsError(
            f"{where} does not offer STARTTLS",
            hint='if the port expects TLS from the start (465), use security = "tls"',
        )
    if any(isinstance(e, socket.gaierror) for e in chain):
        return SmtpHostNotFound(
            f"cannot find the SMTP server '{settings.host}': {_gai_reason(chain)}",
            hint="check mail.smtp.host in config.toml, and this machine's DNS",
        )
    if any(isinstance(e, ssl.SSLError) for e in chain):
        return SmtpTlsError(f"TLS with {where} failed: {_ssl_reason(chain)}", hint=_tls_hint(chain))
    if any(isinstance(e, TimeoutError) for e in chain):
        return SmtpTimeout(
            f"{where} did not answer within {settings.timeout:g} s",
            hint="check host, port and security (a TLS port answers nothing to plain "
            "text), and that a firewall lets the connection through",
        )
    if any(_refused(e) for e in chain):
        return SmtpConnectionRefused(
            f"{where} refused the connection",
            hint="check mail.smtp.host and port (587 for starttls, 465 for tls) and that "
            "the server is running",
        )
    if isinstance(exc, aiosmtplib.SMTPConnectResponseError):
        return SmtpError(f"{where} refused the session: {text}", hint="try again later")
    return SmtpError(f"cannot use {where}: {text}", hint="check the mail.smtp settings")


# -- helpers ---------------------------------------------------------------------------------


def reply_text(code: int, message: str) -> str:
    return f"{code} {' '.join(message.split())}"


def describe(e: BaseException, password: str = "") -> str:
    """One line for a log or an outbox row's last_error: the server's reply when there is
    one, else the exception; the password masked."""
    return _scrub(_describe(e), password)


def _describe(e: BaseException) -> str:
    if isinstance(e, aiosmtplib.SMTPRecipientsRefused):
        refused = "; ".join(
            f"{r.recipient} ({reply_text(r.code, r.message)})" for r in e.recipients
        )
        return f"every recipient was refused: {refused}"
    if isinstance(e, aiosmtplib.SMTPResponseException):
        return f"SMTP {reply_text(e.code, e.message)}"
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _scrub(text: str, password: str) -> str:
    if password:
        text = text.replace(password, MASK)
    return redact(text)


def _chain(exc: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def _refused(e: BaseException) -> bool:
    if isinstance(e, ConnectionRefusedError):
        return True
    # asyncio joins the errors of several addresses (::1, 127.0.0.1) into one OSError
    return isinstance(e, OSError) and f"[Errno {errno.ECONNREFUSED}]" in str(e)


def _gai_reason(chain: list[BaseException]) -> str:
    e = next(e for e in chain if isinstance(e, socket.gaierror))
    return e.strerror or str(e)


def _ssl_reason(chain: list[BaseException]) -> str:
    e = next(e for e in chain if isinstance(e, ssl.SSLError))
    if isinstance(e, ssl.SSLCertVerificationError):
        return e.verify_message or "certificate verify failed"
    return e.reason or str(e)


def _tls_hint(chain: list[BaseException]) -> str:
    e = next(e for e in chain if isinstance(e, ssl.SSLError))
    if isinstance(e, ssl.SSLCertVerificationError):
        return (
            "the server's certificate is not trusted, or not made out to this host name; "
            "use the host name the certificate names"
        )
    return 'security = "tls" is for ports that speak TLS at once (465); 587 wants "starttls"'


@dataclass(frozen=True)
class Envelope:
    """An email as it goes over SMTP: envelope addresses and bytes (mail/builder.py makes
    every email the relay sends as one)."""

    sender: str
    recipients: list[str]
    to: str  # the To header, for the log
    data: bytes
    message_id: str = ""  # with <>


def envelope(message: Message) -> Envelope:
    """Envelope from the headers (Sender or From; To, Cc, Bcc), Bcc dropped, and the bytes
    with CRLF line ends, as aiosmtplib's send_message would make them. Slow for big or
    non-ASCII emails (the email package): call it off the event loop."""
    sender = _addresses(message, "Sender") or _addresses(message, "From")
    recipients = [a for header in ("To", "Cc", "Bcc") for a in _addresses(message, header)]
    if not sender or not recipients:
        raise ValueError("the email has no sender or no recipients")
    del message["Bcc"]
    smtp = message.policy if isinstance(message.policy, EmailPolicy) else policy.SMTP
    data = message.as_bytes(policy=smtp.clone(linesep="\r\n"))
    mid = str(message.get("Message-ID", "")).strip()
    return Envelope(sender[0], recipients, str(message.get("To", "")), data, mid)


def with_message_id(built: Envelope | Message, message_id: str | None) -> Envelope:
    """The email to send for an outbox row whose Message-ID was fixed when it was queued
    (a resend must be the same email): an Envelope as built, which must carry it
    (ValueError if not); a Message gets it (replacing another, with a warning) and is
    made an Envelope, slowly (off the event loop)."""
    wanted = (message_id or "").strip()
    wanted = f"<{wanted}>" if wanted and not wanted.startswith("<") else wanted
    if isinstance(built, Envelope):
        if wanted and built.message_id != wanted:
            raise ValueError(f"built with Message-ID {built.message_id or '(none)'}, not {wanted}")
        return built
    current = built.get("Message-ID")
    if wanted and current is None:
        built["Message-ID"] = wanted
    elif wanted and str(current).strip() != wanted:
        log.warning("Message-ID %s replaced by %s", current, wanted)
        built.replace_header("Message-ID", wanted)
    return envelope(built)


def _addresses(message: Message, header: str) -> list[str]:
    return [addr for _, addr in getaddresses(message.get_all(header, [])) if addr]
