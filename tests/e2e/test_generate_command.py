"""The archive generator (tests/support/generate.py) run as the README says, in a new
process (what it generates: tests/unit/test_generate.py)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.e2e


def test_it_runs_from_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "cli.db"
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.generate", str(path),
         "--messages", "200", "--conversations", "10", "--seed", "5"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "200 messages in 10 conversations" in done.stderr
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 200
