"""Every test gets its own home, its own keyring file and no systemd credentials, so no
test can touch the real ones."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytest_plugins = [
    "tests.support.imap_server",
    "tests.support.fixtures_telegram",
    "tests.support.fixtures_viber",
    "tests.support.fixtures_messenger",
    "tests.support.fixtures_whatsapp",
    "tests.support.real_mta",
    "tests.support.fixtures_smtp",
]
TEST_KEYRING = "keyrings.alt.file.PlaintextKeyring"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("IM2MAIL_HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", TEST_KEYRING)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    _reset_keyring()
    yield home
    _reset_keyring()


def _reset_keyring() -> None:
    # keyring caches its backend per process; tests change PYTHON_KEYRING_BACKEND.
    import keyring.core

    keyring.core._keyring_backend = None


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def both(self) -> str:
        return self.out + self.err


def run_cli(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None, timeout: float = 30
) -> Result:
    """Run the installed entry point as a user would, in a subprocess."""
    proc = subprocess.run(
        [sys.executable, "-m", "im2mail", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=REPO,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def cli():
    return run_cli


VALID_CONFIG = """\
[mail]
address = "orders@shop.example"
managers = ["anna@shop.example", "petro@shop.example"]

[mail.smtp]
host = "smtp.shop.example"
port = 587
security = "starttls"
username = "orders@shop.example"

[mail.imap]
host = "imap.shop.example"
port = 993
security = "tls"
username = "orders@shop.example"

[relay]
public_url = "https://bot.shop.example"
greeting = "Вітаємо! Напишіть, що саме вам надрукувати."

[[bots]]
name = "shop"
channel = "telegram"
"""


@pytest.fixture
def write_config(isolated_home: Path):
    def write(text: str = VALID_CONFIG) -> Path:
        path = isolated_home / "config.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return write
