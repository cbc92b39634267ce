"""`im2mail systemd-unit` and sd_notify: the unit a user installs, and what `run` tells
systemd (systemd-analyze's verdict on the unit: tests/e2e/test_systemd_analyze.py; the
notifier on a real socket and the relay side: tests/e2e/test_sd_notify.py)."""

from __future__ import annotations

import logging
import os
import stat
import sys
from pathlib import Path

import pytest

from im2mail import config, secrets
from im2mail.channels import CHANNELS
from im2mail.errors import EXIT_RUNTIME, RuntimeFailure
from im2mail.ops import systemd
from im2mail.relay import sd_notify
from tests.conftest import VALID_CONFIG, run_cli

TWO_BOTS = VALID_CONFIG + '\n[[bots]]\nname = "vshop"\nchannel = "viber"\n'
SECRETS = ["smtp", "imap", "signing-key", "bot-shop", "bot-vshop"]


def directives(text: str) -> list[tuple[str, str]]:
    """(key, value) of every setting in a unit file, in order; comments and sections out."""
    lines = (line for line in text.splitlines() if line and line[0] not in "#;[")
    return [tuple(line.split("=", 1)) for line in lines]  # type: ignore[misc]


def values(text: str, key: str) -> list[str]:
    return [value for name, value in directives(text) if name == key]


@pytest.fixture
def cfg(write_config):
    write_config(TWO_BOTS)
    return config.load(channels=CHANNELS)


# -- the unit ------------------------------------------------------------------------------


def test_system_unit_runs_im2mail_as_a_notify_service_that_restarts(cfg, isolated_home):
    text = systemd.unit(cfg)
    assert values(text, "Type") == ["notify"]
    assert values(text, "NotifyAccess") == ["main"]
    assert values(text, "Restart") == ["on-failure"]
    assert values(text, "RestartSec") == ["5"]
    assert values(text, "WatchdogSec") == ["60"]
    assert values(text, "TimeoutStopSec") == ["20"]
    assert values(text, "WantedBy") == ["multi-user.target"]
    assert f"IM2MAIL_HOME={isolated_home}" in values(text, "Environment")
    import pwd

    assert values(text, "User") == [pwd.getpwuid(os.geteuid()).pw_name]
    assert len(values(text, "Group")) == 1


def test_exec_start_is_the_absolute_console_script_beside_python(cfg):
    (command,) = values(systemd.unit(cfg), "ExecStart")
    program, verb = command.split()
    assert verb == "run"
    assert Path(program).is_absolute() and os.access(program, os.X_OK)
    assert Path(program).parent == Path(os.path.abspath(sys.executable)).parent


def test_exec_start_falls_back_to_python_m_im2mail(cfg, tmp_path):
    python = tmp_path / "venv" / "bin" / "python3"  # no im2mail script beside it
    (command,) = values(systemd.unit(cfg, python=str(python)), "ExecStart")
    assert command == f"{python} -m im2mail run"


def test_one_load_credential_per_secret_each_bot_included(cfg):
    loaded = values(systemd.unit(cfg), "LoadCredential")
    assert loaded == [f"{name}:/etc/im2mail/credentials/{name}" for name in SECRETS]


def test_credentials_named_in_the_unit_are_the_ones_run_reads(cfg, tmp_path, monkeypatch):
    """What systemd puts in $CREDENTIALS_DIRECTORY under the unit's names is what
    secrets.get finds, with the keyring empty."""
    directory = tmp_path / "credentials"
    directory.mkdir()
    for entry in values(systemd.unit(cfg), "LoadCredential"):
        name = entry.split(":", 1)[0]
        (directory / name).write_text(f"value of {name}\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(directory))
    for secret in systemd.needed_secrets(cfg):
        assert secrets.get(secret) == f"value of {secret.replace(':', '-')}"


def test_system_unit_is_sandboxed_but_may_write_its_folders(cfg, isolated_home):
    text = systemd.unit(cfg)
    assert values(text, "ProtectSystem") == ["strict"]
    assert values(text, "ReadWritePaths") == [str(isolated_home)]
    assert values(text, "ProtectHome") == ["read-only"]
    assert values(text, "RestrictAddressFamilies") == ["AF_UNIX AF_INET AF_INET6"]
    for key in ("NoNewPrivileges", "PrivateTmp", "MemoryDenyWriteExecute", "LockPersonality"):
        assert values(text, key) == ["yes"], key
    assert values(text, "UMask") == ["0077"]


def test_without_im2mail_home_the_platform_folders_are_writable(write_config, monkeypatch):
    write_config(TWO_BOTS)
    monkeypatch.delenv("IM2MAIL_HOME")
    paths = config.paths()
    paths.config.parent.mkdir(parents=True)
    paths.config.write_text(TWO_BOTS, encoding="utf-8")
    text = systemd.unit(config.load(channels=CHANNELS))
    assert not any(v.startswith("IM2MAIL_HOME=") for v in values(text, "Environment"))
    (writable,) = values(text, "ReadWritePaths")
    assert writable.split() == [str(paths.archive.parent), str(paths.config.parent)]


def test_user_unit_has_no_user_no_mount_sandbox_and_credentials_beside_the_config(
    cfg, isolated_home
):
    text = systemd.unit(cfg, user=True)
    assert values(text, "WantedBy") == ["default.target"]
    assert values(text, "Type") == ["notify"]
    for key in ("User", "Group", "ProtectHome", "ProtectSystem", "ReadWritePaths", "PrivateTmp"):
        assert values(text, key) == [], key
    assert values(text, "NoNewPrivileges") == ["yes"]
    assert values(text, "LoadCredential") == [
        f"{name}:{isolated_home / 'credentials' / name}" for name in SECRETS
    ]


def test_comments_say_how_to_put_the_credentials_and_check_the_file(cfg):
    text = systemd.unit(cfg)
    comments = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert "install -m 600 /dev/stdin /etc/im2mail/credentials/bot-vshop" in comments
    assert "get im2mail bot:shop |" in comments
    assert "systemd-analyze verify /etc/systemd/system/im2mail.service" in comments


def test_blanks_and_percent_signs_in_paths_are_quoted(write_config, tmp_path, monkeypatch):
    home = tmp_path / "shop home 100%"
    home.mkdir()
    monkeypatch.setenv("IM2MAIL_HOME", str(home))
    (home / "config.toml").write_text(TWO_BOTS, encoding="utf-8")
    text = systemd.unit(config.load(channels=CHANNELS), user=True)
    escaped = str(home).replace("%", "%%")
    assert f'"IM2MAIL_HOME={escaped}"' in values(text, "Environment")
    assert f"smtp:{escaped}/credentials/smtp" in values(text, "LoadCredential")


# -- install -------------------------------------------------------------------------------


def test_install_writes_a_readable_unit_and_refuses_to_overwrite_another(cfg, tmp_path):
    path = tmp_path / "system" / "im2mail.service"
    text = systemd.unit(cfg)
    assert systemd.install(text, user=False, path=path) == path
    assert path.read_text(encoding="utf-8") == text
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert systemd.install(text, user=False, path=path) == path  # the same again: fine
    path.write_text(text + "# edited by hand\n", encoding="utf-8")
    with pytest.raises(RuntimeFailure) as refused:
        systemd.install(text, user=False, path=path)
    assert refused.value.exit_code == EXIT_RUNTIME
    assert "--force" in (refused.value.hint or "")
    assert path.read_text(encoding="utf-8").endswith("# edited by hand\n")
    systemd.install(text, user=False, path=path, force=True)
    assert path.read_text(encoding="utf-8") == text
    assert [p.name for p in path.parent.iterdir()] == ["im2mail.service"]


def test_install_where_it_cannot_write_says_how(cfg, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with pytest.raises(RuntimeFailure) as failed:
        systemd.install(systemd.unit(cfg), user=False, path=blocker / "im2mail.service")
    assert "cannot write" in failed.value.message
    assert "sudo tee" in (failed.value.hint or "")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write /etc/systemd/system")
def test_a_system_unit_without_root_is_a_clear_error(write_config):
    write_config(TWO_BOTS)
    result = run_cli("systemd-unit", "--install")
    assert result.code == 1
    assert "cannot write /etc/systemd/system/im2mail.service" in result.err
    assert "needs root" in result.err


def test_user_units_go_to_the_users_systemd_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert systemd.unit_path(user=True) == tmp_path / "cfg/systemd/user/im2mail.service"
    assert systemd.unit_path(user=False) == Path("/etc/systemd/system/im2mail.service")


# -- the command ---------------------------------------------------------------------------


def test_command_prints_the_unit_without_reading_secrets(write_config):
    write_config(TWO_BOTS)
    # The keyring is empty and unusable: the unit is made from the config alone.
    result = run_cli("systemd-unit", env={"PYTHON_KEYRING_BACKEND": "no.such.Backend"})
    assert result.code == 0, result.err
    assert values(result.out, "Type") == ["notify"]
    assert len(values(result.out, "LoadCredential")) == 5


def test_command_with_a_bad_config_exits_3_and_prints_no_unit(write_config):
    write_config(VALID_CONFIG.replace("port = 587", 'port = "587"'))
    result = run_cli("systemd-unit")
    assert result.code == 3
    assert result.out == ""
    assert "mail.smtp.port" in result.err


def test_command_installs_a_user_unit_and_says_what_next(write_config, tmp_path):
    write_config(TWO_BOTS)
    result = run_cli("systemd-unit", "--user", "--install")
    assert result.code == 0, result.err
    path = tmp_path / "xdg-config" / "systemd" / "user" / "im2mail.service"
    assert values(path.read_text(encoding="utf-8"), "WantedBy") == ["default.target"]
    assert result.out == ""
    for step in (
        f"wrote {path}",
        "get im2mail bot:vshop | install -m 600 /dev/stdin",
        "systemctl --user daemon-reload",
        "systemctl --user enable --now im2mail",
        "loginctl enable-linger $USER",
        "journalctl --user -u im2mail -f",
    ):
        assert step in result.err
    path.write_text("[Service]\nExecStart=/bin/true\n", encoding="utf-8")
    again = run_cli("systemd-unit", "--user", "--install")
    assert again.code == 1 and "not replaced" in again.err
    assert run_cli("systemd-unit", "--user", "--install", "--force").code == 0
    assert "Type=notify" in path.read_text(encoding="utf-8")


def test_force_without_install_is_a_usage_error(write_config):
    write_config(TWO_BOTS)
    assert run_cli("systemd-unit", "--force").code == 2


# -- sd_notify -----------------------------------------------------------------------------


def test_without_notify_socket_nothing_is_sent(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notify = sd_notify.Notifier()
    assert not notify.enabled
    assert notify.send("READY=1") is False
    notify.ready(), notify.watchdog(), notify.stopping()  # no error either


def test_a_notify_socket_that_is_gone_never_raises_and_is_logged_once(tmp_path, caplog):
    notify = sd_notify.Notifier(str(tmp_path / "gone"))
    with caplog.at_level(logging.DEBUG, logger="im2mail.systemd"):
        assert notify.send("READY=1") is False
        notify.watchdog()
        notify.stopping()
    assert len([r for r in caplog.records if "sd_notify" in r.getMessage()]) == 1


@pytest.mark.parametrize(
    ("usec", "pid", "expected"),
    [
        ("1000000", None, 0.5),
        ("60000000", "self", 30.0),
        ("60000000", "other", None),
        (None, None, None),
        ("0", None, None),
        ("soon", None, None),
    ],
)
def test_watchdog_interval_is_half_of_watchdog_usec_for_this_process(
    monkeypatch, usec, pid, expected
):
    for name, value in (("WATCHDOG_USEC", usec), ("WATCHDOG_PID", pid)):
        monkeypatch.delenv(name, raising=False)
        if value is not None:
            other = os.getppid() if os.getppid() != os.getpid() else 1
            value = {"self": str(os.getpid()), "other": str(other)}.get(value, value)
            monkeypatch.setenv(name, value)
    assert sd_notify.watchdog_interval() == expected
