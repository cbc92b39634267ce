"""The installed command in a subprocess, as a user and systemd start it: `run` gets past
config and secrets (from the keyring or systemd's credentials) to the bots, and no secret
shows in the output of the commands that start the relay or reach out (the in-process
command-line tests are in tests/unit/test_cli.py)."""

import os
import shutil
import subprocess

import pytest

from tests.conftest import REPO, run_installed
from tests.support.imap_server import free_port
from tests.unit.test_cli import SECRETS, assert_no_secret, offline_config, store_secrets

pytestmark = pytest.mark.e2e


def test_the_console_script_exits_with_the_code_main_returns(isolated_home):
    """The `im2mail` that pip installs runs sys.exit(main()): main(args, env) returns the
    code, the script exits with it (this tree's code first on the path)."""
    script = shutil.which("im2mail")
    if script is None:
        pytest.skip("no im2mail on PATH: pip install -e '.[test]' installs it")
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([script, *args], capture_output=True, text=True, env=env, timeout=30)

    version, usage, unconfigured = run("--version"), run("search"), run("run")
    assert (version.returncode, version.stdout.startswith("im2mail ")) == (0, True)
    assert usage.returncode == 2 and "Missing argument" in usage.stderr
    assert unconfigured.returncode == 3 and "error: no config at" in unconfigured.stderr


def test_run_with_everything_in_place_reaches_the_relay(write_config):
    write_config(offline_config(free_port()))
    store_secrets()
    result = run_installed("run")
    assert result.code == 1
    assert "bot shop not started" in result.err  # past config and secrets, at the bot
    assert "no bot could start" in result.err


def test_systemd_credentials_replace_the_keyring(write_config, tmp_path):
    write_config(offline_config(free_port()))
    creds = tmp_path / "creds"
    creds.mkdir()
    for name, value in SECRETS.items():
        (creds / name.replace(":", "-")).write_text(value)
    result = run_installed(
        "run",
        env={
            "CREDENTIALS_DIRECTORY": str(creds),
            "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        },
    )
    assert "bot shop not started" in result.err  # every secret was found


@pytest.mark.parametrize(
    "argv", [["run"], ["--debug", "run"], ["status"], ["--debug", "doctor"]]
)  # the others: tests/unit/test_cli.py
def test_no_secret_appears_in_any_output(write_config, isolated_home, argv):
    write_config(offline_config(free_port()))
    store_secrets()
    result = run_installed(*argv)
    assert_no_secret(result.both, isolated_home)
