"""The IMAP side: the live login check that `init` and `doctor` make, and the
MailboxWatcher that hands new mail in the watched folder to the relay.

imapclient is blocking; callers in the event loop run check_login in a worker thread, and
MailboxWatcher runs its own loop in a thread of its own.

MailboxWatcher in short (contract: ../shared/DESIGN.md "Email side", "Reliability rules"):

- Messages are addressed by UID only, fetched with BODY.PEEK[] (never sets \\Seen).
- Dedupe rule: every message the callback has answered for gets the key
  `imap:<folder>:<uidvalidity>:<uid>` in the archive's `seen` table, recorded right after
  handle() returned "done" or "ignore" (never before, never when it raised). On each
  (re)connect the whole folder is listed by UID and every UID whose key is already there is
  skipped, so a restart, a reconnect or a UIDVALIDITY change never hands a message over
  twice. Between catch-ups within a session only `UID <last+1>:*` is searched. A "done"
  message also gets `imap:<folder>:msgid:<Message-ID>`, so that after a UIDVALIDITY change
  a handled reply still in the folder (processed_folder "", or a failed move) is not
  handed over again: it is recorded and moved/flagged without calling handle().
- "done": the message is moved to processed_folder (created if missing; MOVE when offered,
  else COPY + \\Deleted + UID EXPUNGE of that UID when UIDPLUS is offered, plain EXPUNGE
  otherwise), or flagged \\Seen in place when processed_folder is "". "ignore": untouched.
- Waiting: IDLE when offered (re-issued every IDLE_RESCAN seconds with a search in
  between, so news a server failed to announce waits at most that long; checked every
  IDLE_CHECK seconds so stop() is prompt), else NOOP polling every poll_interval seconds.
  Connection drops: reconnect with exponential backoff (1 s .. 60 s).
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from email.parser import BytesHeaderParser
from typing import Literal, Protocol

from ..config import ImapConfig
from ..errors import RuntimeFailure

TIMEOUT = 15.0
IDLE_RESCAN = 60.0  # leave IDLE and search anyway: news a server failed to announce
QUICK_RESCAN = 1.0  # after handling mail: see _session
IDLE_CHECK = 0.25
POLL_INTERVAL = 30.0
BACKOFF_START = 1.0
BACKOFF_MAX = 60.0

log = logging.getLogger("im2mail.watcher")

Outcome = Literal["done", "ignore"]
Handler = Callable[[int, bytes], Outcome]


def check_login(settings: ImapConfig, password: str, *, timeout: float = TIMEOUT) -> set[str]:
    """Connect, log in and look for the folder; returns the server's capabilities.
    Raises RuntimeFailure that says which step failed: DNS, refused, TLS, login, folder."""
    return _logged_in(settings, password, timeout, lambda client: _capabilities(client))


def recent_headers(
    settings: ImapConfig, password: str, *, count: int = 40, timeout: float = TIMEOUT
) -> list[bytes]:
    """The header sections of the newest `count` emails in the folder, newest first
    (`doctor` and `init` read Authentication-Results from them). The folder is opened
    read-only and read with BODY.PEEK: nothing is marked seen. Raises as check_login."""

    def read(client) -> list[bytes]:
        client.select_folder(settings.folder, readonly=True)
        uids = sorted(client.search("ALL"))[-count:] if count > 0 else []
        if not uids:
            return []
        fetched = client.fetch(uids, ["BODY.PEEK[HEADER]"])
        return [fetched[u].get(b"BODY[HEADER]") or b"" for u in reversed(uids) if u in fetched]

    return _logged_in(settings, password, timeout, read)


def _capabilities(client) -> set[str]:
    return {c.decode("ascii", "replace").upper() for c in client.capabilities()}


def _logged_in(settings: ImapConfig, password: str, timeout: float, then: Callable):
    """Connect, log in, check the folder exists, return `then(client)`, log out."""
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
        return then(client)
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


# -- the watcher ---------------------------------------------------------------------------


class SeenStore(Protocol):
    """What the watcher needs of the archive (im2mail.archive.Archive fits)."""

    def mark_seen(self, key: str) -> bool: ...
    def was_seen(self, key: str) -> bool: ...


class MailboxWatcher:
    """Watches settings.folder and calls handle(uid, raw) for each message not handled yet.

    handle runs in the watcher's thread and must return "done" (a reply that was relayed
    and whose send is recorded: move or flag it) or "ignore" (leave it untouched, unread).
    The asyncio side can bridge with asyncio.run_coroutine_threadsafe(coro, loop).result().
    If handle raises, the message is not recorded and is offered again after a reconnect
    or restart.
    """

    def __init__(
        self,
        settings: ImapConfig,
        password: str,
        seen: SeenStore,
        handle: Handler,
        *,
        poll_interval: float = POLL_INTERVAL,
        use_idle: bool = True,
        timeout: float = TIMEOUT,
        backoff_start: float = BACKOFF_START,
        backoff_max: float = BACKOFF_MAX,
    ) -> None:
        self.settings = settings
        self._password = password
        self._seen = seen
        self._handle = handle
        self.poll_interval = poll_interval
        self.use_idle = use_idle
        self.timeout = timeout
        self.backoff_start = backoff_start
        self.backoff_max = backoff_max
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = None
        self._caps: set[str] = set()
        self.uidvalidity: int | None = None
        self._last_uid = 0
        self._processed_ready = False
        self.ready = threading.Event()  # set while connected and waiting for new mail
        self.sessions = 0  # successful logins so far (for health checks and tests)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("watcher already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="im2mail-imap", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the loop to end and wait for it (IDLE is checked every IDLE_CHECK s)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("IMAP watcher did not stop within %.1f s", timeout)

    def check_once(self) -> None:
        """One pass in the caller's thread (`run --once`): connect, hand over what is
        new, disconnect. Connection errors propagate."""
        try:
            self._connect()
            while self._catch_up():
                pass
        finally:
            self._disconnect()

    def key(self, uid: int, uidvalidity: int | None = None) -> str:
        """The dedupe key of one message in the `seen` table."""
        validity = self.uidvalidity if uidvalidity is None else uidvalidity
        return f"imap:{self.settings.folder}:{validity}:{uid}"

    # -- the loop --------------------------------------------------------------------------

    def _run(self) -> None:
        from imapclient.exceptions import IMAPClientError

        where = f"{self.settings.host}:{self.settings.port}"
        backoff = self.backoff_start
        while not self._stop.is_set():
            try:
                self._connect()
                backoff = self.backoff_start
                self._session()
            except (OSError, IMAPClientError, imaplib.IMAP4.error) as e:
                if self._stop.is_set():
                    break
                log.warning(
                    "IMAP %s: %s: %s; reconnecting in %.0f s",
                    where,
                    type(e).__name__,
                    _text(e),
                    backoff,
                )
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.backoff_max)
            except Exception:
                if self._stop.is_set():
                    break
                log.exception("IMAP watcher failed; restarting in %.0f s", backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.backoff_max)
            finally:
                self.ready.clear()
                self._disconnect()
        log.info("IMAP watcher stopped")

    def _connect(self) -> None:
        from imapclient import IMAPClient

        s = self.settings
        client = IMAPClient(s.host, port=s.port, ssl=s.security == "tls", timeout=self.timeout)
        self._client = client
        with contextlib.suppress(OSError):  # notices a half-open connection while idling
            client.socket().setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if s.security == "starttls":
            client.starttls(ssl.create_default_context())
        client.login(s.username, self._password)
        self.sessions += 1
        caps = {c.decode("ascii", "replace").upper() for c in client.capabilities()}
        self._caps = caps
        selected = client.select_folder(s.folder, readonly=False)
        validity = int(selected[b"UIDVALIDITY"])
        if self.uidvalidity is not None and validity != self.uidvalidity:
            log.warning(
                "UIDVALIDITY of %s changed from %s to %s: rescanning the folder",
                s.folder,
                self.uidvalidity,
                validity,
            )
        self.uidvalidity = validity
        self._last_uid = 0  # every (re)connect rescans by UID; seen keys skip the handled
        self._processed_ready = False
        log.info(
            "IMAP watching %s on %s:%s as %s (UIDVALIDITY %s, %s)",
            s.folder,
            s.host,
            s.port,
            s.username,
            validity,
            "IDLE" if self._idle_ok() else f"polling every {self.poll_interval:g} s",
        )

    def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.logout()
            with contextlib.suppress(Exception):
                client.shutdown()

    def _idle_ok(self) -> bool:
        return self.use_idle and "IDLE" in self._caps

    def _session(self) -> None:
        found = self._catch_up()
        fresh = True  # just (re)connected
        while not self._stop.is_set():
            self.ready.set()
            # Right after handling mail or (re)connecting, look again soon: mail that came
            # in the moments before IDLE may have been announced (EXISTS) in the answer to
            # a SEARCH, FETCH or MOVE, which imapclient does not return, or together with
            # IDLE's go-ahead, where idle_check does not look, or not at all (pymap's IDLE
            # reports only what changes after it began). Either way IDLE would not tell us.
            wait = QUICK_RESCAN if found or fresh else None
            fresh = False
            if self._idle_ok():
                self._idle(wait or IDLE_RESCAN)
            else:
                if self._stop.wait(wait or self.poll_interval):
                    break
                self._client.noop()
            if not self._stop.is_set():
                found = self._catch_up()

    def _idle(self, longest: float) -> None:
        """IDLE until the server says anything (new mail, flags, expunges: then we search)
        or `longest` seconds pass. Not imapclient's idle_check: it reads the socket
        without blocking and drops the connection when a line arrives in two pieces
        (imapclient issue #519, seen with pymap and reported with Dovecot). Here we only
        wait until something is there; idle_done() then reads the lines whole."""
        client = self._client
        client.idle()
        started = time.monotonic()
        clean = False
        try:
            while not self._stop.is_set() and time.monotonic() - started < longest:
                if self._server_spoke(IDLE_CHECK):
                    break
            clean = not self._stop.is_set()
        finally:
            if clean:
                client.idle_done()
            else:  # stopping, or the connection is gone: the error that got us here counts
                with contextlib.suppress(Exception):
                    client.idle_done()

    def _server_spoke(self, timeout: float) -> bool:
        """Whether the server sent something, waiting up to `timeout` seconds. Lines can
        already sit in a read buffer (they came in one piece with IDLE's go-ahead),
        where waiting on the socket would not see them: those count too."""
        sock = self._client.socket()
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        reader = getattr(getattr(self._client, "_imap", None), "file", None)
        if reader is not None:
            sock.setblocking(False)  # peek must not wait for the network
            try:
                if reader.peek(1):
                    return True
            except OSError:  # nothing there (BlockingIOError, SSLWantReadError)
                pass
            finally:
                sock.settimeout(self.timeout)
        readable, _, _ = select.select([sock], [], [], timeout)
        return bool(readable)

    def _catch_up(self) -> int:
        """Hand over every message with a UID above the last one looked at; how many."""
        client = self._client
        criteria = ["UID", f"{self._last_uid + 1}:*"] if self._last_uid else ["ALL"]
        uids = sorted(u for u in client.search(criteria) if u > self._last_uid)
        for uid in uids:
            if self._stop.is_set():
                break
            self._one(uid)
            self._last_uid = uid
        return len(uids)

    def _one(self, uid: int) -> None:
        key = self.key(uid)
        if self._seen.was_seen(key):
            return
        fetched = self._client.fetch([uid], ["BODY.PEEK[]"])
        if uid not in fetched:  # expunged meanwhile
            return
        raw = fetched[uid][b"BODY[]"]
        done_key = self._message_id_key(raw)
        if done_key is not None and self._seen.was_seen(done_key):
            # Handled under an earlier UIDVALIDITY (or copied back): not handed over again.
            log.info("IMAP UID %s was handled before (same Message-ID); not again", uid)
            self._dispose(uid)
            self._seen.mark_seen(key)
            return
        try:
            outcome = self._handle(uid, raw)
        except Exception:
            log.exception("handling IMAP message UID %s failed; it stays where it is", uid)
            return
        if outcome not in ("done", "ignore"):
            log.error("handler returned %r for UID %s; treating it as not handled", outcome, uid)
            return
        if outcome == "done" and done_key is not None:
            # Message-ID key first: if the move fails, the next scan finds this UID not
            # recorded, recognizes the Message-ID and retries the move without handle().
            self._seen.mark_seen(done_key)
            self._dispose(uid)
            self._seen.mark_seen(key)
        else:
            self._seen.mark_seen(key)
            if outcome == "done":
                self._dispose(uid)
        log.info("IMAP UID %s handed over: %s", uid, outcome)

    def _message_id_key(self, raw: bytes) -> str | None:
        """The second dedupe key of a handled message: its Message-ID, which survives a
        UIDVALIDITY change (a handled reply kept in place must not be relayed again)."""
        try:
            headers = BytesHeaderParser().parsebytes(raw)
            message_id = (headers.get("Message-ID") or "").strip()
        except Exception:  # a header too broken to read: the UID key alone
            return None
        return f"imap:{self.settings.folder}:msgid:{message_id}" if message_id else None

    def _dispose(self, uid: int) -> None:
        from imapclient import DELETED, SEEN

        client, target = self._client, self.settings.processed_folder
        if not target:
            client.add_flags([uid], [SEEN], silent=True)
            return
        if not self._processed_ready:
            if not client.folder_exists(target):
                client.create_folder(target)
                log.info("created IMAP folder %s", target)
            self._processed_ready = True
        if "MOVE" in self._caps:
            client.move([uid], target)
            return
        client.copy([uid], target)
        client.add_flags([uid], [DELETED], silent=True)
        if "UIDPLUS" in self._caps:
            client.expunge([uid])
        else:
            client.expunge()
