"""A real Postfix and Dovecot on loopback for end-to-end tests (issue 8, part 4): the
`real_mta` session fixture starts both from Debian's packages and yields where they
listen and who may log in.

What it sets up, all under one fresh directory (a `mkdtemp` in $IM2MAIL_MTA_DIR, else in
the system's temp dir), removed at the end:

- Postfix, its own instance: `postfix -c <dir>/postfix/etc` with its own main.cf,
  master.cf, queue and data directories. It listens on 127.0.0.1:<free port> only, accepts
  mail from 127.0.0.0/8 without login, knows one virtual domain (shop.test) with the
  addresses below, `recipient_delimiter = +` (orders+token@ goes to orders@), and hands
  everything to Dovecot's LMTP over a unix socket in the directory. Nothing is relayed
  elsewhere, local delivery is disabled, it logs to <dir>/postfix.log (no syslog needed).
- Dovecot, its own instance: `dovecot -F -c <dir>/dovecot/dovecot.conf` with its own
  base_dir (sockets, pid) and state_dir. IMAP on 127.0.0.1:<free port>, no TLS, plain
  login allowed (loopback only), users and passwords in a passwd-file, LMTP with
  `recipient_delimiter = +`, Maildirs under <dir>/mail owned by a dedicated numeric uid
  that no account on the machine has (the first free one from 5000 up; no user is created).

How it keeps away from the machine's real mail setup: it writes nothing outside its
directory (not /etc/postfix, not /etc/dovecot, not /var/spool/postfix, not /run/dovecot, no
user account), uses ports nobody listens on, and leaves a Postfix or Dovecot the machine
may already run alone (separate queue, pid files, base_dir and instance name). It needs
only what the packages install: the programs and their service accounts (postfix,
postdrop, dovecot, dovenull).

When it runs: it starts daemons as root, so it runs only when asked to — in CI (`CI=true`,
as `.ci/run` is run) or with `IM2MAIL_REAL_MTA=1`; `IM2MAIL_REAL_MTA=0` turns it off even in
CI. Otherwise, and when not root, when the packages are missing (`apt-get install postfix
dovecot-imapd dovecot-lmtpd`, which .ci/run does), or when a daemon does not come up, the
tests that use it are skipped with the reason (and the daemons' log tails).
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from im2mail.testing.mail_servers import ImapServer, free_port

HOST = "127.0.0.1"
DOMAIN = "shop.test"
ORDERS, ANNA, PETRO = (f"{name}@{DOMAIN}" for name in ("orders", "anna", "petro"))
PASSWORDS = {ORDERS: "orders-mta-pass", ANNA: "anna-mta-pass", PETRO: "petro-mta-pass"}

OPT_IN = "IM2MAIL_REAL_MTA"
PARENT_DIR = "IM2MAIL_MTA_DIR"
POSTFIX = "/usr/sbin/postfix"
DOVECOT = "/usr/sbin/dovecot"
NEEDED_FILES = {
    POSTFIX: "postfix",
    "/usr/lib/postfix/sbin/lmtp": "postfix",
    DOVECOT: "dovecot-core",
    "/usr/lib/dovecot/imap": "dovecot-imapd",
    "/usr/lib/dovecot/lmtp": "dovecot-lmtpd",
}
NEEDED_USERS = ("postfix", "dovecot", "dovenull")
NEEDED_GROUPS = ("postdrop",)
START_TIMEOUT = 20.0


@dataclass(frozen=True)
class RealMta:
    """Where the running Postfix (SMTP) and Dovecot (IMAP) listen, and the mailboxes."""

    host: str
    smtp_port: int
    imap_port: int
    passwords: dict[str, str]  # address -> password, one mailbox each
    root: Path = field(repr=False)

    @property
    def addresses(self) -> list[str]:
        return list(self.passwords)

    def imap(self, address: str) -> ImapServer:
        """The IMAP login of one mailbox, shaped like the pymap fixture's."""
        return ImapServer(self.host, self.imap_port, address, self.passwords[address])

    def log_tail(self, lines: int = 30) -> str:
        return _log_tails(self.root, lines)


_OFF = {"0", "false", "no"}


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def not_available() -> str | None:
    """Why the real MTA can't or mustn't run here, or None when it can."""
    opt_in = os.environ.get(OPT_IN, "").strip().lower()
    in_ci = os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}
    if opt_in in {"0", "false", "no"}:
        return f"the real Postfix/Dovecot test is turned off ({OPT_IN}={opt_in})"
    if opt_in not in {"1", "true", "yes"} and not in_ci:
        return (
            "the real Postfix/Dovecot test runs only in CI (CI=true) or with "
            f"{OPT_IN}=1: it starts mail daemons as root (own config, loopback only)"
        )
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "the real Postfix/Dovecot test needs root (it starts the daemons as root)"
    missing = sorted({pkg for path, pkg in NEEDED_FILES.items() if not os.access(path, os.X_OK)})
    for name in NEEDED_USERS:
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            continue
        missing.append(f"user {name}")
    for name in NEEDED_GROUPS:
        with contextlib.suppress(KeyError):
            grp.getgrnam(name)
            continue
        missing.append(f"group {name}")
    if missing:
        return (
            f"Postfix/Dovecot not installed (missing: {', '.join(missing)}); "
            "apt-get install postfix dovecot-imapd dovecot-lmtpd (.ci/run does)"
        )
    return None


class MtaInstance:
    """Postfix and Dovecot configured in and run from `root`; start() then stop()."""

    def __init__(self, root: Path, passwords: dict[str, str] | None = None) -> None:
        self.root = root
        self.passwords = dict(passwords or PASSWORDS)
        self.smtp_port = free_port()
        self.imap_port = free_port()
        self.uid = free_uid()
        self.postfix_dir = root / "postfix" / "etc"
        self.dovecot_conf = root / "dovecot" / "dovecot.conf"
        self.lmtp_socket = root / "dovecot" / "run" / "lmtp"
        self._dovecot: subprocess.Popen | None = None
        self._postfix_started = False

    def start(self) -> RealMta:
        """Write the configs, start both, wait until SMTP, IMAP and LMTP answer. Raises
        RuntimeError (with the log tails) when they don't."""
        self._write_dovecot()
        self._write_postfix()
        with (self.root / "dovecot.out").open("wb") as out:
            self._dovecot = subprocess.Popen(
                [DOVECOT, "-F", "-c", str(self.dovecot_conf)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        started = subprocess.run(
            [POSTFIX, "-c", str(self.postfix_dir), "start"],
            capture_output=True, text=True, timeout=START_TIMEOUT,
        )  # fmt: skip
        self._postfix_started = started.returncode == 0
        if not self._postfix_started:
            raise RuntimeError(f"postfix start exited {started.returncode}: {started.stderr}")
        deadline = time.monotonic() + START_TIMEOUT
        for what, ready in (
            ("Dovecot LMTP socket", lambda: self.lmtp_socket.exists()),
            ("Dovecot IMAP greeting", lambda: _greets(self.imap_port, b"* OK")),
            ("Postfix SMTP greeting", lambda: _greets(self.smtp_port, b"220 ")),
        ):
            while not ready():
                if self._dovecot.poll() is not None:
                    raise RuntimeError(f"dovecot exited {self._dovecot.returncode}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no {what} within {START_TIMEOUT:g} s")
                time.sleep(0.05)
        return RealMta(HOST, self.smtp_port, self.imap_port, self.passwords, self.root)

    def stop(self) -> None:
        """Stop both (Postfix first: it delivers into Dovecot); safe to call twice."""
        if self._postfix_started:
            self._postfix_started = False
            try:
                subprocess.run(
                    [POSTFIX, "-c", str(self.postfix_dir), "stop"],
                    capture_output=True, timeout=15,
                )  # fmt: skip
            except subprocess.TimeoutExpired:
                _kill_master(self.root / "postfix" / "spool" / "pid" / "master.pid")
        proc, self._dovecot = self._dovecot, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    # -- configuration ------------------------------------------------------------------------

    def _write_dovecot(self) -> None:
        d = self.root / "dovecot"
        (d / "run").mkdir(parents=True)
        (d / "state").mkdir()
        mail = self.root / "mail"
        mail.mkdir(mode=0o700)
        os.chown(mail, self.uid, self.uid)
        passwd = d / "passwd"
        passwd.write_text(
            "".join(f"{address}:{{PLAIN}}{pw}\n" for address, pw in self.passwords.items())
        )
        # Dovecot's auth process (user dovecot) reads it; nobody else needs to.
        os.chown(passwd, 0, grp.getgrnam("dovecot").gr_gid)
        passwd.chmod(0o640)
        u = self.uid
        self.dovecot_conf.write_text(f"""\
# im2mail's test instance (tests/support/real_mta.py); nothing outside {self.root}.
instance_name = im2mail-test-{self.imap_port}
base_dir = {d}/run
state_dir = {d}/state
log_path = {self.root}/dovecot.log
protocols = imap lmtp
listen = {HOST}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
first_valid_uid = {u}
last_valid_uid = {u}
first_valid_gid = {u}
last_valid_gid = {u}
mail_location = maildir:~/Maildir
recipient_delimiter = +
lmtp_save_to_detail_mailbox = no
namespace inbox {{
  inbox = yes
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {passwd}
}}
userdb {{
  driver = static
  args = uid={u} gid={u} home={mail}/%d/%n
}}
service imap-login {{
  inet_listener imap {{
    address = {HOST}
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
}}
""")

    def _write_postfix(self) -> None:
        p = self.root / "postfix"
        self.postfix_dir.mkdir(parents=True)
        (p / "spool").mkdir()  # `postfix start` makes the queue's subdirectories
        (p / "data").mkdir()
        os.chown(p / "data", pwd.getpwnam("postfix").pw_uid, -1)
        mailboxes = self.postfix_dir / "vmailbox"
        mailboxes.write_text("".join(f"{address} ok\n" for address in self.passwords))
        (self.postfix_dir / "main.cf").write_text(f"""\
# im2mail's test instance (tests/support/real_mta.py); nothing outside {self.root}.
compatibility_level = 3.6
queue_directory = {p}/spool
data_directory = {p}/data
maillog_file = {self.root}/postfix.log
maillog_file_prefixes = {self.root}
myhostname = mta.{DOMAIN}
mydomain = {DOMAIN}
myorigin = {DOMAIN}
mydestination =
inet_interfaces = {HOST}
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains =
relayhost =
local_transport = error:local delivery is disabled
default_transport = error:this test instance delivers to {DOMAIN} only
alias_maps =
alias_database =
recipient_delimiter = +
virtual_mailbox_domains = {DOMAIN}
virtual_mailbox_maps = texthash:{mailboxes}
virtual_transport = lmtp:unix:{self.lmtp_socket}
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
biff = no
""")
        services = [
            f"{HOST}:{self.smtp_port} inet n - n - - smtpd",
            "pickup unix n - n 60 1 pickup",
            "cleanup unix n - n - 0 cleanup",
            "qmgr unix n - n 300 1 qmgr",
            "rewrite unix - - n - - trivial-rewrite",
            "bounce unix - - n - 0 bounce",
            "defer unix - - n - 0 bounce",
            "trace unix - - n - 0 bounce",
            "verify unix - - n - 1 verify",
            "flush unix n - n 1000? 0 flush",
            "proxymap unix - - n - - proxymap",
            "showq unix n - n - - showq",
            "error unix - - n - - error",
            "retry unix - - n - - error",
            "discard unix - - n - - discard",
            "lmtp unix - - n - - lmtp",
            "anvil unix - - n - 1 anvil",
            "scache unix - - n - 1 scache",
            "postlog unix-dgram n - n - 1 postlogd",
        ]
        (self.postfix_dir / "master.cf").write_text("\n".join(services) + "\n")


def free_uid(start: int = 5000) -> int:
    """The first uid (and the same gid) from `start` up that no account or group has."""
    for uid in range(start, start + 10_000):
        try:
            pwd.getpwuid(uid)
            continue
        except KeyError:
            pass
        try:
            grp.getgrgid(uid)
            continue
        except KeyError:
            return uid
    raise RuntimeError(f"no free uid in {start}..{start + 10_000}")


@contextlib.contextmanager
def running_mta() -> Iterator[RealMta]:
    """Start Postfix and Dovecot in a fresh directory; stop them and remove it after.
    Raises RuntimeError with the daemons' log tails when they don't start."""
    parent = os.environ.get(PARENT_DIR) or None
    if parent:
        Path(parent).mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="im2mail-mta-", dir=parent))
    root.chmod(0o755)  # the daemons' own users (postfix, dovecot, dovenull) go through it
    # Config values can't hold spaces; a unix socket's path has at most 107 bytes.
    if any(c.isspace() for c in str(root)) or len(str(root)) > 70:
        root.rmdir()
        raise RuntimeError(f"{PARENT_DIR} makes {root}: needs a short path without spaces")
    instance = MtaInstance(root)
    try:
        try:
            mta = instance.start()
        except (OSError, RuntimeError, subprocess.SubprocessError) as e:
            instance.stop()
            raise RuntimeError(f"{e}\n{_log_tails(root)}") from e
        yield mta
    finally:
        instance.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def real_mta() -> Iterator[RealMta]:
    """Postfix (SMTP) and Dovecot (IMAP) on loopback for the whole session; skips the
    test with the reason when they can't or mustn't run here (see the module's doc)."""
    # In CI, .ci/run installed everything: a missing piece or a failed start is a failure
    # there, not a skip that would hide the test for good.
    give_up = pytest.fail if _in_ci() and os.environ.get(OPT_IN, "") not in _OFF else pytest.skip
    reason = not_available()
    if reason:
        give_up(reason)
    try:
        context = running_mta()
        mta = context.__enter__()
    except RuntimeError as e:
        give_up(f"Postfix/Dovecot did not start: {e}")
    try:
        yield mta
    finally:
        context.__exit__(None, None, None)


def _greets(port: int, greeting: bytes) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1) as s:
            s.settimeout(2)
            return s.recv(512).startswith(greeting)
    except OSError:
        return False


def _kill_master(pid_file: Path) -> None:
    with contextlib.suppress(OSError, ValueError):
        os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)


def _log_tails(root: Path, lines: int = 15) -> str:
    parts = []
    for name in ("postfix.log", "dovecot.log", "dovecot.out"):
        path = root / name
        text = path.read_text(errors="replace") if path.exists() else ""
        tail = "\n".join(text.splitlines()[-lines:]) or "(empty)"
        parts.append(f"--- {name} (last {lines} lines) ---\n{tail}")
    return "\n".join(parts)
