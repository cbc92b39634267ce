"""The rig for end-to-end relay tests: config and secrets for a home whose bots talk to
the Telegram double and whose mail goes to the SMTP test server, and `im2mail run` as a
subprocess (as systemd runs it) with a wait for /healthz."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from im2mail import secrets
from im2mail.home import paths
from im2mail.ops.demo_stage import healthy
from tests.conftest import REPO, run_cli
from tests.support.imap_server import ImapServer, free_port

MANAGERS = ["anna@shop.example", "petro@shop.example"]
SMTP_PASSWORD = "smtp-e2e-password"


def write_home(
    home: Path,
    *,
    api_url: str,
    token: str,
    smtp_port: int,
    mode: str = "polling",
    greeting: str | None = "Вітаємо! Чим допомогти?",
    imap: ImapServer | None = None,
    extra_relay: str = "",
    viber: tuple[str, str] | None = None,
    address: str = "orders@shop.example",
    managers: list[str] | None = None,
    smtp_host: str = "127.0.0.1",
    smtp_username: str = "",
    smtp_password: str = SMTP_PASSWORD,
    extra_bots: str = "",
    extra_mail: str = "",
) -> int:
    """config.toml and the keyring for one Telegram bot 'shop' and, with `viber` (the
    Viber double's api_url and a token), a Viber bot 'vshop'; returns the listen port.
    Without `imap`, the IMAP settings point at a closed port (replies are not read);
    with it, they log in as `imap.user`. `address` is the shop mailbox (mail.address) and
    `managers` default to MANAGERS (a real mail server needs its own domain's).
    `extra_bots`: more [[bots]] tables, as TOML (their secrets are the caller's);
    `extra_mail`: more [mail] keys, as TOML lines."""
    port = free_port()
    imap_host, imap_port = (imap.host, imap.port) if imap else ("127.0.0.1", 1)
    imap_user = imap.user if imap else address
    public = ""
    if mode == "webhook" or viber or extra_bots:
        public = f'public_url = "http://127.0.0.1:{port}"\n'
    viber_bot = ""
    if viber:
        viber_bot = f'\n[[bots]]\nname = "vshop"\nchannel = "viber"\napi_url = "{viber[0]}"\n'
        secrets.put("bot:vshop", viber[1])
    hello = f'greeting = "{greeting}"\n' if greeting else ""
    (home / "config.toml").write_text(
        f"""[mail]
address = "{address}"
managers = {managers or MANAGERS!r}
max_attachment_mb = 1
{extra_mail}
[mail.smtp]
host = "{smtp_host}"
port = {smtp_port}
security = "none"
username = "{smtp_username}"

[mail.imap]
host = "{imap_host}"
port = {imap_port}
security = "none"
username = "{imap_user}"

[relay]
listen = "127.0.0.1:{port}"
{public}{hello}{extra_relay}
[[bots]]
name = "shop"
channel = "telegram"
mode = "{mode}"
api_url = "{api_url}"
{viber_bot}{extra_bots}""".replace("'", '"'),
        encoding="utf-8",
    )
    secrets.put("smtp", smtp_password)
    secrets.put("imap", imap.password if imap else "imap-unused")
    secrets.put("signing-key", "ab" * 32)
    secrets.put("bot:shop", token)
    return port


class RelayProcess:
    """`im2mail run` in a subprocess; stderr (the log) is kept in a file. `code`: the
    directory whose im2mail runs (a bench's checked-out older commit; default this one)."""

    def __init__(
        self, home: Path, port: int, *args: str, debug: bool = False, code: Path = REPO
    ) -> None:
        self.port = port
        self.log_path = home / f"relay-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "im2mail", *(["--debug"] if debug else []), "run", *args],
            cwd=code, env=os.environ.copy(), stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def healthy(self) -> bool:
        return healthy(self.port)

    async def wait_healthy(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"run exited with {self.proc.returncode}:\n{self.log}")
            if await asyncio.to_thread(self.healthy):
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"/healthz never answered 200:\n{self.log}")

    async def terminate(self, timeout: float = 5) -> tuple[int, float]:
        """SIGTERM; returns the exit code and the seconds it took."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        while self.proc.poll() is None and time.monotonic() - started < timeout + 5:
            await asyncio.sleep(0.05)
        if self.proc.poll() is None:
            self.proc.kill()
        self._log.close()
        return self.proc.wait(), time.monotonic() - started

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


async def start_relay(home: Path, port: int) -> RelayProcess:
    """A relay started and healthy (killed again if it never gets there)."""
    process = RelayProcess(home, port)
    try:
        await process.wait_healthy()
    except BaseException:
        process.kill()
        raise
    return process


def tail_record(text: str) -> dict:
    """The newest `tail --json` record (of the last ten) whose text is `text`, or {}."""
    result = run_cli("tail", "--json", "-n", "10")
    assert result.code == 0, result.err
    records = [json.loads(line) for line in result.out.splitlines()]
    return next((r for r in records if r["text"] == text), {})


def archived(query: str, *args) -> list[tuple]:
    """Rows from the relay's archive, read-only while it runs."""
    db = sqlite3.connect(f"file:{paths().archive}?mode=ro", uri=True, timeout=5)
    try:
        return db.execute(query, args).fetchall()
    finally:
        db.close()
