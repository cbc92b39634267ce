"""The command line as a user meets it: help, exit codes, errors on stderr, no secrets."""

import re

import pytest

from tests.conftest import REPO, VALID_CONFIG, run_cli


def readme_commands() -> list[str]:
    """Command names from the README's command table (first column, in backticks)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    table = text.split("## Commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `im2mail ([a-z-]+(?: [a-z-]+)?)", table, flags=re.M)


def cli_commands() -> list[str]:
    import typer.main

    from im2mail.cli import app

    root = typer.main.get_command(app)
    names = []
    for name, command in root.commands.items():
        subcommands = getattr(command, "commands", None)
        if subcommands:
            if getattr(command, "invoke_without_command", False):
                names.append(name)  # a command of its own too: `conversations`
            names += [f"{name} {sub}" for sub in subcommands]
        else:
            names.append(name)
    return names


def test_readme_lists_exactly_the_cli_commands():
    assert sorted(readme_commands()) == sorted(cli_commands())


@pytest.mark.parametrize("command", cli_commands())
def test_every_command_has_help(command):
    result = run_cli(*command.split(), "--help")
    assert result.code == 0, result.err
    assert "Usage: im2mail" in result.out


def test_no_arguments_shows_help():
    result = run_cli()
    assert "Commands:" in result.both
    assert "search" in result.both


def test_version():
    result = run_cli("--version")
    assert result.code == 0
    assert re.fullmatch(r"im2mail \d+\.\d+\.\d+\n", result.out)


def test_usage_error_exits_2():
    result = run_cli("search")
    assert result.code == 2
    assert "Missing argument" in result.err


def test_path_shows_where_things_live(isolated_home):
    result = run_cli("path")
    assert result.code == 0
    assert f"config\t{isolated_home / 'config.toml'}" in result.out
    assert f"archive\t{isolated_home / 'archive.db'}" in result.out
    as_json = run_cli("path", "--json")
    assert f'"blobs": "{isolated_home / "blobs"}"' in as_json.out


def test_missing_config_exit_3_with_hint():
    result = run_cli("run")
    assert result.code == 3
    assert result.err.startswith("error: no config at ")
    assert "hint: create it with: im2mail init" in result.err
    assert result.out == ""


def test_invalid_config_names_key(write_config):
    write_config(VALID_CONFIG.replace("port = 587", 'port = "587"'))
    result = run_cli("run")
    assert result.code == 3
    assert "mail.smtp.port: expected an integer" in result.err


def test_broken_toml(write_config):
    write_config("[mail\naddress=")
    result = run_cli("bot", "list")
    assert result.code == 3
    assert "invalid TOML" in result.err
    assert "Traceback" not in result.err


def test_unknown_key_warns_but_works(write_config):
    write_config(VALID_CONFIG.replace("[relay]", '[relay]\ntheme = "dark"'))
    result = run_cli("bot", "list")
    assert result.code == 0
    assert "warning: relay.theme: unknown key, ignored" in result.err
    assert result.out == "shop\ttelegram\tpolling\n"


def test_config_errors_come_before_keyring_errors(write_config):
    write_config(VALID_CONFIG.replace('channel = "telegram"', 'channel = "icq"'))
    result = run_cli("run", env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    assert result.code == 3


def test_unusable_keyring_exit_4_says_what_to_do(write_config):
    write_config()
    result = run_cli("run", env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    assert result.code == 4
    assert "error: no usable keyring on this machine" in result.err
    assert "keyrings.alt" in result.err
    assert "LoadCredential" in result.err


def test_missing_secret_exit_4(write_config):
    write_config()
    result = run_cli("run")
    assert result.code == 4
    assert "secret 'smtp' is not stored" in result.err


SECRETS = {
    "smtp": "smtp-pass-Zq81!x",
    "imap": "imap-pass-Lw29?y",
    "signing-key": "ab" * 32,
    "bot:shop": "1234567890:AAFakeTokenForTestsOnly_abcdefghijkl",
}


def store_secrets():
    from im2mail import secrets

    for name, value in SECRETS.items():
        secrets.put(name, value)


def offline_config(port: int = 8765) -> str:
    """VALID_CONFIG whose bot API and HTTP port (`port`: a free one where the relay starts)
    are on this machine: nothing leaves it."""
    return VALID_CONFIG.replace(
        'channel = "telegram"', 'channel = "telegram"\napi_url = "http://127.0.0.1:9"'
    ).replace("[relay]", f'[relay]\nlisten = "127.0.0.1:{port}"')


def test_debug_shows_traceback_without_it_none(write_config):
    write_config("[mail\n")
    plain = run_cli("run")
    debug = run_cli("--debug", "run")
    assert "Traceback" not in plain.err
    assert "Traceback (most recent call last)" in debug.err
    assert debug.code == plain.code == 3


@pytest.mark.parametrize(
    "argv",
    [
        ["bot", "list"],
        ["--debug", "bot", "list", "--json"],
        ["path"],
        ["search", "x"],
        ["tail"],
    ],
)  # those that start the relay or reach out: tests/e2e/test_entry_point.py
def test_no_secret_appears_in_any_output(write_config, isolated_home, argv):
    write_config(offline_config())
    store_secrets()
    result = run_cli(*argv)
    assert_no_secret(result.both, isolated_home)


def assert_no_secret(output: str, home) -> None:
    """Not in what the command printed, nor in any file it left in the home."""
    for value in SECRETS.values():
        assert value not in output
    for file in home.rglob("*"):
        if file.is_file():
            data = file.read_bytes()
            assert not any(v.encode() in data for v in SECRETS.values()), file


def test_library_errors_are_redacted_even_with_debug(monkeypatch, capsys):
    """A library error quoting a URL with the token must not print the token."""
    import sys

    from im2mail import cli, secrets

    store_secrets()
    token = secrets.get("bot:shop")

    def boom(*args, **kwargs):
        raise RuntimeError(f"GET https://api.telegram.org/bot{token}/getMe failed")

    monkeypatch.setattr(cli, "app", boom)
    for argv in (["im2mail", "run"], ["im2mail", "--debug", "run"]):
        monkeypatch.setattr(sys, "argv", argv)
        assert cli.main() == 1  # the console script exits with what main() returns
        err = capsys.readouterr().err
        assert "error: unexpected RuntimeError" in err
        assert token not in err
        assert token.split(":")[1] not in err
