"""`im2mail demo`: the whole round trip on this machine, with nothing configured.

A home of its own (config.toml and a credentials folder; the user's config and keyring
are never read or written), local servers on loopback (pymap for the shop mailbox, an
aiosmtpd server for outgoing mail, the Telegram Bot API double), and the real relay as
`im2mail run` in a subprocess. demo_script.py then plays customers and managers and shows
each hop as it happens; the archive stays in the home for `search`, `tail`, `export`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ..errors import ConfigError, RuntimeFailure

MARK = "# made by `im2mail demo`: a demo home, rewritten by every demo run\n"
SHOP = "orders@shop.example"
BOT = "shop"
HOP_TIMEOUT = 15.0
START_TIMEOUT = 20.0
LOG = "relay.log"
_LEFTOVERS = ("archive.db", "archive.db-wal", "archive.db-shm", "blobs", "credentials", LOG)
T = TypeVar("T")


# -- the home -------------------------------------------------------------------------------


def prepare_home(home: Path | None) -> Path:
    """A fresh temporary folder, or `home`: empty, new, or a demo home from an earlier run
    (started afresh). Anything else is refused untouched (ConfigError, exit 3)."""
    if home is None:
        return Path(tempfile.mkdtemp(prefix="im2mail-demo-"))
    home = home.expanduser().absolute()
    config = home / "config.toml"
    hint = "give an empty or new folder to --home, or leave it out for a temporary one"
    if home.exists() and not home.is_dir():
        raise ConfigError(f"--home {home} is not a folder", hint=hint)
    if config.exists():
        if not _made_by_demo(config):
            raise ConfigError(f"{config} was not made by im2mail demo; not touching it", hint)
        for name in _LEFTOVERS:  # the earlier demo's archive: its update ids would repeat
            path = home / name
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    elif (home / "archive.db").exists():
        raise ConfigError(f"{home} holds an archive that im2mail demo did not make", hint)
    home.mkdir(parents=True, exist_ok=True)
    return home


def _made_by_demo(config: Path) -> bool:
    try:
        with config.open(encoding="utf-8") as f:
            return f.readline() == MARK
    except (OSError, UnicodeDecodeError):
        return False


def write_home(
    home: Path, *, managers: list[str], smtp_port: int, imap_port: int, imap_password: str,
    listen_port: int, api_url: str, token: str, greeting: str,
) -> Path:  # fmt: skip
    """config.toml for the local servers and the secrets as credential files (the way
    systemd hands them over); returns the credentials folder."""
    (home / "config.toml").write_text(
        f"""{MARK}
[mail]
address = "{SHOP}"
managers = [{", ".join(f'"{m}"' for m in managers)}]

[mail.smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
username = ""

[mail.imap]
host = "127.0.0.1"
port = {imap_port}
security = "none"
username = "{SHOP}"

[relay]
listen = "127.0.0.1:{listen_port}"
greeting = "{greeting}"

[[bots]]
name = "{BOT}"
channel = "telegram"
mode = "polling"
api_url = "{api_url}"
""",
        encoding="utf-8",
    )
    credentials = home / "credentials"
    credentials.mkdir(mode=0o700, exist_ok=True)
    values = {
        "smtp": "demo-smtp-unused",
        "imap": imap_password,
        "signing-key": secrets.token_hex(32),
        f"bot-{BOT}": token,
    }
    for name, value in values.items():
        path = credentials / name
        path.write_text(value, encoding="utf-8")
        path.chmod(0o600)
    return credentials


# -- the relay, as `im2mail run` ------------------------------------------------------------


class RelayProcess:
    """`im2mail run` for the demo home; its log (stdout and stderr) goes to relay.log."""

    def __init__(self, home: Path, credentials: Path, port: int) -> None:
        self.port = port
        self.log_path = home / LOG
        env = {
            **os.environ,
            "IM2MAIL_HOME": str(home),
            "CREDENTIALS_DIRECTORY": str(credentials),
            "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",  # never the user's
        }
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "im2mail", "run"],
                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def last_lines(self, count: int = 15) -> list[str]:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
        return text.splitlines()[-count:]

    def check_alive(self, doing: str) -> None:
        code = self.proc.poll()
        if code is not None:
            raise DemoFailed(f"the relay exited with code {code} {doing}", self)

    async def wait_healthy(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(healthy, self.port):
            self.check_alive("while starting")
            if time.monotonic() > deadline:
                raise DemoFailed(f"the relay did not get ready within {timeout:g} s", self)
            await asyncio.sleep(0.05)

    async def stop(self, timeout: float = 10) -> int:
        """SIGTERM, as systemd stops it; killed if it takes longer than `timeout`."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait()


def healthy(port: int) -> bool:
    """Whether the relay listening on loopback `port` answers GET /healthz with 200."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


class DemoFailed(RuntimeFailure):
    """A hop that did not happen; carries the relay's last log lines."""

    def __init__(self, message: str, relay: RelayProcess | None = None) -> None:
        hint = f"the relay's log: {relay.log_path}" if relay else None
        super().__init__(message, hint=hint)
        self.log_tail = relay.last_lines() if relay else []


async def wait_for(
    what: str, found: Callable[[], T | None], relay: RelayProcess, timeout: float = HOP_TIMEOUT
) -> T:
    """Poll `found()` until it returns something; DemoFailed naming `what` if it doesn't
    within `timeout`, or if the relay dies meanwhile."""
    deadline = time.monotonic() + timeout
    while not (value := found()):
        relay.check_alive(f"before {what}")
        if time.monotonic() > deadline:
            raise DemoFailed(f"{what}: not seen within {timeout:g} s", relay)
        await asyncio.sleep(0.02)
    return value


# -- the whole demo -------------------------------------------------------------------------


async def run(home: Path, speed: float, show) -> None:
    """Start everything, play the script, stop everything (also on errors and Ctrl-C).
    `show` is a demo_script.Show (the live output)."""
    from ..testing.mail_servers import ImapServer, MailCatcher, free_port, start_pymap, stop_pymap
    from ..testing.telegram_api import TelegramDouble
    from . import demo_script

    async with contextlib.AsyncExitStack() as stack:
        show.step(f"Starting local servers; the demo home is {home}")
        smtp = MailCatcher().start()
        stack.callback(smtp.stop)
        imap = ImapServer("127.0.0.1", free_port(), SHOP, secrets.token_urlsafe(12))
        pymap = await asyncio.to_thread(start_pymap, imap.port, imap.user, imap.password)
        stack.callback(stop_pymap, pymap)
        tg = await stack.enter_async_context(TelegramDouble())
        token = tg.add_bot(demo_script.BOT_USERNAME, demo_script.BOT_TITLE)
        listen = free_port()
        credentials = write_home(
            home, managers=[m.address for m in demo_script.MANAGERS], smtp_port=smtp.port,
            imap_port=imap.port, imap_password=imap.password, listen_port=listen,
            api_url=tg.url, token=token, greeting=demo_script.GREETING,
        )  # fmt: skip
        relay = RelayProcess(home, credentials, listen)
        stack.push_async_callback(relay.stop)
        started = time.monotonic()
        await relay.wait_healthy()
        show.step(
            f"IMAP :{imap.port} · SMTP :{smtp.port} · Telegram double {tg.url} · "
            f"relay (im2mail run) ready in {time.monotonic() - started:.1f} s"
        )
        rig = demo_script.Rig(tg, token, smtp, imap, relay, speed)
        try:
            await demo_script.play(rig, show)
        except DemoFailed as e:
            show.log_tail(e.log_tail)
            raise
        show.step("Stopping the relay and the servers")
    show.done(home)
