"""Every test gets its own home, its own keyring file and no systemd credentials, so no
test can touch the real ones."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from im2mail.archive import Archive
    from im2mail.relay.downloads import Downloads

REPO = Path(__file__).resolve().parent.parent

pytest_plugins = [
    "pytester",  # tests/unit/test_fast_lane.py runs pytest on a guarded test
    "tests.support.fixtures",  # the API doubles, the Telegram bot and channel, SMTP servers
    "tests.support.imap_server",
    "tests.support.real_mta",
]
TEST_KEYRING = "keyrings.alt.file.PlaintextKeyring"
E2E = REPO / "tests" / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Where a test lives says its lane: everything under tests/e2e/ is marked e2e, so
    `pytest -m "not e2e"` (the fast lane) never starts a server or a process."""
    for item in items:
        if item.path.is_relative_to(E2E):
            item.add_marker(pytest.mark.e2e)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """How many worker processes `-n auto` (pyproject's addopts) starts: four when the run
    may take end-to-end tests, which mostly wait on their servers and processes, so four
    keep two cores busy; none (this process) for the fast lane (`-m "not e2e"`) or tests
    outside tests/e2e/, which are all CPU: there each worker would only collect the suite
    again. PYTEST_XDIST_AUTO_NUM_WORKERS, when set, decides instead."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # pytest-xdist's own hook reads it
    if " ".join((config.option.markexpr or "").split()) == "not e2e":
        return 0
    here = config.invocation_params.dir
    paths = [(here / arg.split("::")[0]).resolve() for arg in config.args]
    if not any(E2E.is_relative_to(p) or p.is_relative_to(E2E) for p in paths):
        return 0
    return 4


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A test's captured output and log go from its worker process (pytest-xdist: see
    pyproject's addopts) as UTF-8: what a test logs of a peer's undecodable bytes (lone
    surrogates, as aiohttp and aiosmtpd decode them) is shown escaped, not an INTERNALERROR
    that ends the run."""
    report = yield
    report.sections = [(name, _utf8(text)) for name, text in report.sections]
    if isinstance(report.longrepr, str):
        report.longrepr = _utf8(report.longrepr)
    return report


def _utf8(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


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


@pytest.fixture
def archive_path(isolated_home: Path) -> Path:
    """Where `archive` opens: the test home's archive.db, where the CLI finds it (its files
    in blobs/ beside it). A test module that needs another place overrides this."""
    from im2mail.home import paths

    return paths().archive


@pytest.fixture
def archive(archive_path: Path) -> Iterator[Archive]:
    """An empty archive, open for the test and closed after it. A module that wants it
    filled overrides it by name: `def archive(archive): fill(archive); return archive`."""
    from im2mail.archive import Archive

    with Archive.open(archive_path) as opened:
        yield opened


@pytest.fixture
def downloads(archive: Archive) -> Iterator[Downloads]:
    """Customers' files fetched into `archive`'s blobs, as the relay's intake does."""
    from im2mail.relay.downloads import Downloads

    fetcher = Downloads(archive.blobs)
    yield fetcher
    fetcher.close()


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


def run_cli(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> Result:
    """The command line in this process, through main(args, env): the test's streams and
    the process's environment with `env` over it. What a new process would start without
    is cleared first: keyring's chosen backend and the secrets known to redact() (a
    secret the test stored must not be masked unless the command itself read it)."""
    from im2mail import errors
    from im2mail.cli import main
    from im2mail.cli.environment import Environment

    out, err = _text_stream(), _text_stream()
    given = Environment(
        stdin=io.StringIO(stdin or ""),
        stdout=out,
        stderr=err,
        environ={**os.environ, **(env or {})},
    )
    known = set(errors._known_secrets)
    errors._known_secrets.clear()
    _reset_keyring()
    try:
        with _logging_kept():  # `run` sets up logging to its stderr: not the next test's
            code = main(list(args), given)
    finally:
        errors._known_secrets.clear()
        errors._known_secrets.update(known)
        _reset_keyring()
    return Result(code, _written(out), _written(err))


@contextlib.contextmanager
def _logging_kept() -> Iterator[None]:
    root = logging.getLogger()
    handlers = root.handlers[:]
    levels = {
        name: logger.level
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    level = root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, logger in logging.Logger.manager.loggerDict.items():
            if isinstance(logger, logging.Logger):
                logger.setLevel(levels.get(name, logging.NOTSET))


def _text_stream() -> io.TextIOWrapper:
    """Like a pipe's: UTF-8 text with the bytes under it (`.buffer`), not a terminal."""
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="", write_through=True)


def _written(stream: io.TextIOWrapper) -> str:
    stream.flush()
    return stream.buffer.getvalue().decode("utf-8", errors="replace")


def run_installed(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None, timeout: float = 30
) -> Result:
    """Run the installed entry point as a user would, in a subprocess (`python -m
    im2mail`): for the end-to-end tests, where the relay runs or servers answer."""
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
