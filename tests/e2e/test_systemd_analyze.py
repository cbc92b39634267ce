"""The unit `im2mail systemd-unit` writes, checked by systemd's own `systemd-analyze
verify` in a subprocess (what the unit says: tests/unit/test_systemd.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from im2mail import config
from im2mail.channels import CHANNELS
from im2mail.ops import systemd
from tests.unit.test_systemd import TWO_BOTS

pytestmark = pytest.mark.e2e


@pytest.fixture
def cfg(write_config):
    write_config(TWO_BOTS)
    return config.load(channels=CHANNELS)


needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (apt-get install systemd): unit files unchecked",
)


def verify(path: Path, *, user: bool) -> str:
    """systemd-analyze's complaints about `path` ('' when none)."""
    command = ["systemd-analyze", *(["--user"] if user else []), "verify", str(path)]
    with tempfile.TemporaryDirectory() as runtime:  # a user manager wants XDG_RUNTIME_DIR
        env = {**os.environ, "XDG_RUNTIME_DIR": runtime}
        run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    complaints = [line for line in (run.stdout + run.stderr).splitlines() if path.name in line]
    assert run.returncode == 0, run.stdout + run.stderr
    return "\n".join(complaints)


@needs_analyze
@pytest.mark.parametrize("user", [False, True], ids=["system", "user"])
def test_systemd_analyze_verify_accepts_the_unit(cfg, tmp_path, user):
    path = tmp_path / "im2mail.service"
    systemd.install(systemd.unit(cfg, user=user), user=user, path=path)
    assert verify(path, user=user) == ""


@needs_analyze
def test_systemd_analyze_verify_accepts_odd_paths(write_config, tmp_path, monkeypatch):
    home = tmp_path / "shop's home 100% $HOME"
    home.mkdir()
    monkeypatch.setenv("IM2MAIL_HOME", str(home))
    (home / "config.toml").write_text(TWO_BOTS, encoding="utf-8")
    path = systemd.install(
        systemd.unit(config.load(channels=CHANNELS)), user=False, path=tmp_path / "x.service"
    )
    assert verify(path, user=False) == ""


@needs_analyze
def test_systemd_analyze_verify_would_catch_a_broken_unit(cfg, tmp_path):
    """The check above can fail: a typo'd key is reported."""
    text = systemd.unit(cfg).replace("RestartSec=5", "RestartSecs=5")
    path = systemd.install(text, user=False, path=tmp_path / "im2mail.service")
    assert "RestartSecs" in verify(path, user=False)
