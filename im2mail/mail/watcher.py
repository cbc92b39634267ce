"""The IMAP side: for now, the live login check that `init` and `doctor` make.

imapclient is blocking; callers in the event loop run these in a worker thread.
"""

from __future__ import annotations

import contextlib
import socket
import ssl

from ..config import ImapConfig
from ..errors import RuntimeFailure

TIMEOUT = 15.0


def check_login(settings: ImapConfig, password: str, *, timeout: float = TIMEOUT) -> set[str]:
    """Connect, log in and look for the folder; returns the server's capabilities.
    Raises RuntimeFailure that says which step failed: DNS, refused, TLS, login, folder."""
    from imapclient import IMAPClient
    from imapclient.exceptions import IMAPClientError, LoginError

    where = f"IMAP server {settings.host}:{settings.port}"
    try:
        client = IMAPClient(
            settings.host, port=settings.port, ssl=settings.security == "tls", timeout=timeout
        )
        if settings.security == "starttls":
            client.starttls(ssl.create_default_context())
    except OSError as e:
        raise connection_error(where, settings.security, e) from None
    except IMAPClientError as e:
        raise RuntimeFailure(f"{where} does not speak IMAP as expected: {e}") from None
    try:
        try:
            client.login(settings.username, password)
        except LoginError as e:
            raise RuntimeFailure(
                f"{where} refused the login for {settings.username}: {_text(e)}",
                hint="check the IMAP username and password (some providers want an app password)",
            ) from None
        if not client.folder_exists(settings.folder):
            raise RuntimeFailure(
                f"{where} has no folder '{settings.folder}'",
                hint="set mail.imap.folder to an existing folder (usually INBOX)",
            )
        return {c.decode("ascii", "replace").upper() for c in client.capabilities()}
    except (OSError, IMAPClientError) as e:
        raise RuntimeFailure(f"{where}: connection lost during the check: {e}") from None
    finally:
        with contextlib.suppress(Exception):  # the result matters, not a clean goodbye
            client.logout()


def connection_error(where: str, security: str, e: OSError) -> RuntimeFailure:
    """A RuntimeFailure that names the step a connection failed at: DNS, refused, TLS,
    timeout. Shared by the IMAP and SMTP checks."""
    if isinstance(e, socket.gaierror):
        return RuntimeFailure(
            f"cannot find {where}: the name does not resolve", hint="check the host name"
        )
    if isinstance(e, ConnectionRefusedError):
        return RuntimeFailure(
            f"{where} refused the connection", hint="check the host and port, and the firewall"
        )
    if isinstance(e, ssl.SSLError | ssl.CertificateError):
        return RuntimeFailure(
            f"TLS with {where} failed: {e}",
            hint='"tls" is for ports like 993/465, "starttls" for 143/587; check the security '
            "setting",
        )
    if isinstance(e, TimeoutError | socket.timeout):
        return RuntimeFailure(
            f"{where} did not answer in time", hint="check the host, port and firewall"
        )
    return RuntimeFailure(f"cannot connect to {where}: {e}")


def _text(e: Exception) -> str:
    text = str(e)
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return text
