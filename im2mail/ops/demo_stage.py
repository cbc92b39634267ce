"""The demo's stage: a home of its own (config.toml and a credentials folder; the user's
config and keyring are never read or written) and the real relay in it, as `im2mail run`
in a subprocess, with the waits the script's hops use (demo.py sets it up, demo_script.py
plays on it)."""

from __future__ import annotations

import asyncio
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
