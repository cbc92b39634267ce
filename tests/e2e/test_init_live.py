"""`im2mail init` checking real mail servers (pymap IMAP, aiosmtpd SMTP) before saving."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from im2mail import config, secrets
from tests.conftest import run_cli
from tests.support.authres_mail import gmail, stamped
from tests.support.mailbox import Mailbox

pytestmark = pytest.mark.e2e

SMTP_PASSWORD = "smtp-live-pass-1"


def flags(imap, smtp) -> list[str]:
    return [
        "init", "--non-interactive", "--address", imap.user, "--manager", "anna@shop.example",
        "--smtp-host", "127.0.0.1", "--smtp-port", str(smtp.port), "--smtp-security", "none",
        "--imap-host", "127.0.0.1", "--imap-port", str(imap.port), "--imap-security", "none",
        "--smtp-password-stdin", "--imap-password-stdin",
    ]  # fmt: skip


@pytest.fixture
def servers(imap_server, smtp_server):
    smtp_server.require_auth(imap_server.user, SMTP_PASSWORD)
    return imap_server, smtp_server


def test_checks_both_servers_then_saves(servers, isolated_home):
    imap, smtp = servers
    result = run_cli(*flags(imap, smtp), stdin=f"{SMTP_PASSWORD}\n{imap.password}\n")
    assert result.code == 0, result.err
    assert "checking IMAP login" in result.err and "checking SMTP login" in result.err
    assert (isolated_home / "config.toml").exists()
    assert secrets.get("imap") == imap.password


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (f"{SMTP_PASSWORD}\nwrong-imap-pw\n", "refused the login for orders@shop.example"),
        ("wrong-smtp-pw\n{imap}\n", "SMTP"),
    ],
)
def test_a_failed_check_says_which_and_saves_nothing(servers, isolated_home, lines, message):
    imap, smtp = servers
    result = run_cli(*flags(imap, smtp), stdin=lines.format(imap=imap.password))
    assert result.code == 1
    assert message in result.err
    assert "wrong-" not in result.err  # the password typed is never echoed
    assert not (isolated_home / "config.toml").exists()
    with pytest.raises(secrets.SecretError):
        secrets.get("smtp")


def test_refused_smtp_port(imap_server, isolated_home):
    from tests.support.smtp_server import free_port

    class Down:
        port = free_port()

    result = run_cli(*flags(imap_server, Down), stdin=f"x-pass-1\n{imap_server.password}\n")
    assert result.code == 1
    assert "refused" in result.err


def test_the_authserv_id_of_recent_mail_is_suggested_and_saved(servers, isolated_home):
    imap, smtp = servers
    mailbox = Mailbox(imap)
    try:
        for n in range(2):
            reply = EmailMessage()
            reply["From"] = "Anna <anna@shop.example>"
            reply["Message-ID"] = f"<r{n}@mail.gmail.com>"
            reply.set_content("Так")
            mailbox.put_raw(stamped(reply, gmail("pass")))
        stdin = f"{SMTP_PASSWORD}\n{imap.password}\n"
        result = run_cli(*flags(imap, smtp), stdin=stdin)
        assert result.code == 0, result.err
        assert "Authentication-Results from mx.google.com: add --authserv-id mx.google.com" in (
            result.err
        )
        assert "authserv_id" not in (isolated_home / "config.toml").read_text(encoding="utf-8")

        result = run_cli(*flags(imap, smtp), "--authserv-id", "mx.google.com", stdin=stdin)
        assert result.code == 0, result.err
        assert config.load().mail.authserv_id == "mx.google.com"
        assert "add --authserv-id" not in result.err

        result = run_cli(*flags(imap, smtp), "--authserv-id", "mx.other.example", stdin=stdin)
        assert result.code == 0, result.err
        assert "every reply would be refused; recent mail has mx.google.com" in result.err

        result = run_cli(*flags(imap, smtp), "--authserv-id", "-", stdin=stdin)
        assert result.code == 0, result.err
        assert config.load().mail.authserv_id is None
        assert all(b"\\Seen" not in f for f in mailbox.subjects("INBOX").values())
    finally:
        mailbox.close()


def test_an_invalid_authserv_id_is_a_config_error(servers, isolated_home):
    imap, smtp = servers
    stdin = f"{SMTP_PASSWORD}\n{imap.password}\n"
    result = run_cli(*flags(imap, smtp), "--authserv-id", "a b", stdin=stdin)
    assert result.code == 3
    assert "mail.authserv_id" in result.err
