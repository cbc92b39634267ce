"""`im2mail init`: answers become config.toml and keyring secrets, nothing half-written."""

from __future__ import annotations

import tomllib

import pytest

from im2mail import secrets
from tests.conftest import run_cli

FLAGS = [
    "init", "--non-interactive", "--address", "orders@shop.example",
    "--manager", "anna@shop.example", "--manager", "petro@shop.example",
    "--smtp-host", "smtp.shop.example", "--imap-host", "imap.shop.example",
    "--smtp-password-stdin", "--imap-password-stdin",
    "--public-url", "https://bot.shop.example", "--greeting", "Вітаємо!",
]  # fmt: skip


def config_of(home) -> dict:
    return tomllib.loads((home / "config.toml").read_text(encoding="utf-8"))


def test_non_interactive_writes_config_and_secrets(isolated_home):
    result = run_cli(*FLAGS, "--no-check", stdin="smtp-pw-123\nimap-pw-456\n")
    assert result.code == 0, result.err
    data = config_of(isolated_home)
    assert data["mail"]["managers"] == ["anna@shop.example", "petro@shop.example"]
    assert data["mail"]["smtp"] == {
        "host": "smtp.shop.example", "port": 587, "security": "starttls",
        "username": "orders@shop.example",
    }  # fmt: skip
    assert data["relay"]["greeting"] == "Вітаємо!"
    assert secrets.get("smtp") == "smtp-pw-123"
    assert secrets.get("imap") == "imap-pw-456"
    assert len(bytes.fromhex(secrets.get("signing-key"))) == 32
    assert "smtp-pw-123" not in result.both + (isolated_home / "config.toml").read_text()
    assert "im2mail bot add telegram" in result.err


def test_one_password_line_serves_both(isolated_home):
    assert run_cli(*FLAGS, "--no-check", stdin="same-pw-789\n").code == 0
    assert secrets.get("smtp") == secrets.get("imap") == "same-pw-789"


def test_rerun_edits_and_keeps_bots_and_secrets(isolated_home):
    assert run_cli(*FLAGS, "--no-check", stdin="pw-one-1111\n").code == 0
    key = secrets.get("signing-key")
    path = isolated_home / "config.toml"
    path.write_text(path.read_text() + '\n[[bots]]\nname = "shop"\nchannel = "telegram"\n')
    again = run_cli("init", "--non-interactive", "--manager", "oksana@shop.example", "--no-check")
    assert again.code == 0, again.err
    data = config_of(isolated_home)
    assert data["mail"]["managers"] == ["oksana@shop.example"]
    assert data["mail"]["address"] == "orders@shop.example"
    assert data["bots"] == [{"name": "shop", "channel": "telegram"}]
    assert secrets.get("smtp") == "pw-one-1111"
    assert secrets.get("signing-key") == key  # links signed before stay valid


def test_without_a_terminal_it_asks_for_non_interactive(isolated_home):
    result = run_cli("init", stdin="")
    assert result.code == 2
    assert "--non-interactive" in result.err
    assert not (isolated_home / "config.toml").exists()


def test_invalid_answer_names_the_key_and_writes_nothing(isolated_home):
    result = run_cli(*FLAGS, "--smtp-security", "ssl", "--no-check", stdin="pw-x-1234\n")
    assert result.code == 3
    assert "mail.smtp.security: expected one of" in result.err
    assert not (isolated_home / "config.toml").exists()


def test_missing_password(isolated_home):
    flags = [f for f in FLAGS if not f.endswith("-stdin")]
    result = run_cli(*flags, "--no-check")
    assert result.code == 3
    assert "passwords are needed" in result.err


def test_unusable_keyring_exit_4_writes_nothing(isolated_home):
    result = run_cli(
        *FLAGS, "--no-check", stdin="pw-y-1234\n",
        env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"},
    )  # fmt: skip
    assert result.code == 4
    assert "keyrings.alt" in result.err
    assert not (isolated_home / "config.toml").exists()


@pytest.mark.parametrize(
    ("typed", "configured", "suggested", "saved"),
    [
        ("\n", "", "mx.google.com", "mx.google.com"),  # Enter takes what recent mail shows
        ("-\n", "", "mx.google.com", ""),  # "-": replies' senders are not checked
        ("\n", "mail.shop.example", "mx.google.com", "mail.shop.example"),  # keeps the config
        ("*.messagingengine.com\n", "", None, "*.messagingengine.com"),
        ("\n", "", None, ""),
    ],
)
def test_the_interactive_question_offers_the_detected_authserv_id(
    monkeypatch, typed, configured, suggested, saved
):
    import io

    from im2mail.ops import ask
    from im2mail.ops.init_wizard import Answers

    monkeypatch.setattr("sys.stdin", io.StringIO(typed))
    answers = Answers(authserv_id=configured)
    ask.authserv_id(answers, suggested)
    assert answers.authserv_id == saved
