"""Accounts connected to the bots (Telegram Business) in `im2mail status` and `im2mail bot
list`: each as it is now, with its last change, from the archive the relay keeps."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from im2mail import config
from im2mail.archive import Archive, business
from im2mail.channels import CHANNELS
from im2mail.home import paths
from im2mail.model import Connection
from im2mail.ops import status
from tests.conftest import VALID_CONFIG, run_cli
from tests.support.business import IRYNA, T0

PETRO = Connection(
    "shop", "Zz9", "4343", "Петро", None, "4343", enabled=True, can_reply=True, since=T0
)


def connect(archive: Archive) -> None:
    business.record(archive, IRYNA, T0)
    business.record(archive, PETRO, T0 + timedelta(minutes=1))
    business.record(archive, replace(PETRO, enabled=False), T0 + timedelta(minutes=5))


def test_status_reads_each_connection_with_its_last_change(write_config, archive):
    connect(archive)
    cfg = config.load(write_config(VALID_CONFIG), channels=CHANNELS)
    state = status.read(cfg, paths(), probe=False)
    assert [(c.label, c.enabled, c.change) for c in state.connections] == [
        ("Петро", False, "disconnected"),
        ("@iryna_shop", True, "connected"),
    ]
    (record,) = [r for r in state.record()["business_connections"] if r["account"] == "Петро"]
    assert record == {
        "bot": "shop",
        "account": "Петро",
        "owner_id": "4343",
        "owner_name": "Петро",
        "enabled": False,
        "can_reply": True,
        "rights": [],
        "since": T0.isoformat(),
        "changed": (T0 + timedelta(minutes=5)).isoformat(),
        "change": "disconnected",
    }
    assert "Zz9" not in json.dumps(state.record())  # the connection id stays out


def test_status_shows_the_connections(write_config, archive, monkeypatch):
    monkeypatch.setattr(status, "relay_state", lambda listen: "not answering")  # no socket
    write_config(VALID_CONFIG)
    connect(archive)
    result = run_cli("status")
    assert result.code == 0, result.err
    lines = [line for line in result.out.splitlines() if line.startswith("business")]
    assert len(lines) == 2
    assert "bot shop: Петро, disconnected; disconnected " in lines[0]
    assert "bot shop: @iryna_shop (Ірина Шевченко), can reply; connected " in lines[1]


def test_status_without_an_archive_has_no_connections(write_config):
    cfg = config.load(write_config(VALID_CONFIG), channels=CHANNELS)
    assert status.read(cfg, paths(), probe=False).record()["business_connections"] == []


def test_bot_list_shows_the_accounts_connected_to_each_bot(write_config, archive):
    write_config(VALID_CONFIG)
    business.record(archive, replace(IRYNA, can_reply=False), T0)
    result = run_cli("bot", "list")
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "shop\ttelegram\tpolling",
        "  business: @iryna_shop (Ірина Шевченко), connected, cannot reply",
    ]
    listed = json.loads(run_cli("bot", "list", "--json").out)
    assert [c["account"] for c in listed["business_connections"]] == ["@iryna_shop"]
    assert listed["business_connections"][0]["can_reply"] is False


def test_bot_list_without_an_archive_lists_the_bots_alone(write_config):
    write_config(VALID_CONFIG)
    assert run_cli("bot", "list").out == "shop\ttelegram\tpolling\n"
    assert json.loads(run_cli("bot", "list", "--json").out)["business_connections"] == []
