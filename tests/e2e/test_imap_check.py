"""init's live IMAP check against a real IMAP server (pymap) and broken set-ups."""

from __future__ import annotations

import pytest

from im2mail.config import ImapConfig
from im2mail.errors import RuntimeFailure
from im2mail.mail.watcher import check_login
from tests.support.imap_server import free_port

pytestmark = pytest.mark.e2e


def settings(server, **changes) -> ImapConfig:
    values = dict(host=server.host, port=server.port, security="none", username=server.user)
    values.update(changes)
    return ImapConfig(**values)


def test_good_login_reports_capabilities(imap_server):
    caps = check_login(settings(imap_server), imap_server.password)
    assert "IMAP4REV1" in caps


def test_wrong_password_says_login_refused(imap_server):
    with pytest.raises(RuntimeFailure) as caught:
        check_login(settings(imap_server), "wrong-password-123")
    assert "refused the login for orders@shop.example" in caught.value.message
    assert "wrong-password-123" not in caught.value.message


def test_missing_folder(imap_server):
    with pytest.raises(RuntimeFailure, match="has no folder 'Orders'"):
        check_login(settings(imap_server, folder="Orders"), imap_server.password)


def test_tls_against_a_plain_server_is_a_tls_error(imap_server):
    with pytest.raises(RuntimeFailure, match="TLS with IMAP server"):
        check_login(settings(imap_server, security="tls"), imap_server.password, timeout=5)


def test_refused_port():
    cfg = ImapConfig(host="127.0.0.1", port=free_port(), security="none", username="x@y.z")
    with pytest.raises(RuntimeFailure, match="refused the connection"):
        check_login(cfg, "pw", timeout=5)


def test_unknown_host():
    cfg = ImapConfig(host="imap.no-such-host.invalid", port=993, security="tls", username="a@b.c")
    with pytest.raises(RuntimeFailure, match="the name does not resolve"):
        check_login(cfg, "pw", timeout=5)
