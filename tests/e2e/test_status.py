"""`im2mail status` asking the relay: /healthz answered or not, and the command that always
asks (the rest of status, from the archive, is in tests/unit/test_status.py)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from im2mail import config
from im2mail.channels import CHANNELS
from im2mail.home import paths
from im2mail.ops import status
from im2mail.relay import blocking
from tests.conftest import VALID_CONFIG, run_cli
from tests.support.archive_sql import writing
from tests.support.chats import T0, customer, say
from tests.support.smtp_server import free_port
from tests.unit.test_status import listening, queue

ANNA = "anna@shop.example"

pytestmark = pytest.mark.e2e


@pytest.fixture
def listen() -> str:
    return f"127.0.0.1:{free_port()}"  # nothing answers there unless a test starts it


@pytest.fixture
def cfg(write_config, listen) -> config.Config:
    return listening(write_config, listen)


class Health(BaseHTTPRequestHandler):
    code = 200

    def do_GET(self) -> None:
        self.send_response(self.code if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def relay(listen) -> Iterator[type[Health]]:
    """Something answering /healthz on relay.listen, as a running relay does."""
    host, _, port = listen.rpartition(":")
    handler = type("Handler", (Health,), {"code": 200})
    server = ThreadingHTTPServer((host, int(port)), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield handler
    server.shutdown()
    server.server_close()


def test_a_relay_that_answers_is_running(cfg, relay):
    assert status.read(cfg, paths()).relay == "running"
    relay.code = 503  # started, receivers not ready yet
    assert status.read(cfg, paths()).relay == "starting"


def test_no_relay_is_not_answering(cfg):
    assert status.read(cfg, paths()).relay == "not answering"


def test_status_prints_one_line_per_part(cfg, archive, relay):
    conversation = customer(archive, "Олена", "Коваленко")
    say(archive, conversation, "Доброго дня!", minutes=10)
    (chat,) = queue(archive, conversation, "channel")
    archive.deliveries.delivery_retry(chat, "Telegram 429: retry after 5", datetime.now(UTC))

    result = run_cli("status")

    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["relay", "running", f"(http://{cfg.relay.listen})"]
    assert lines[1].startswith("bot shop ")
    assert "Telegram; 1 conversation; last in " in lines[1]
    assert "from Олена Коваленко" in lines[1]
    assert "last out" not in lines[1]
    assert lines[2].startswith("bot vshop") and lines[2].endswith("Viber; 0 conversations")
    assert lines[3].startswith("outbox ")
    assert "0 emails and 1 chat message pending, the oldest for " in lines[3]
    assert lines[3].endswith("; 0 failed in the last 24 h")
    assert lines[4].split(None, 2)[2] == "chat message, retrying: Telegram 429: retry after 5"
    assert len(lines) == 5


def test_status_json_is_one_object(cfg, archive):
    conversation = customer(archive, "Олена")
    queue(archive, conversation, "mail", minutes=5)
    say(archive, conversation, "Доброго дня!", minutes=10)

    result = run_cli("status", "--json")

    assert result.code == 0, result.err
    (line,) = result.out.splitlines()
    record = json.loads(line)
    assert record["relay"] == "not answering"
    assert record["archive_exists"] is True
    assert record["bots"][0] == {
        "bot": "shop", "channel": "telegram", "conversations": 1,
        "last_in": (T0 + timedelta(minutes=10)).isoformat(), "last_in_customer": "Олена Коваленко",
        "last_out": None,
    }  # fmt: skip
    outbox = record["outbox"]
    assert (outbox["pending_mail"], outbox["pending_channel"], outbox["failed_24h"]) == (1, 0, 0)
    assert 0 <= outbox["oldest_pending_seconds"] < 60
    assert outbox["last_error"] is None


def test_without_an_archive_it_says_so_and_creates_nothing(cfg):
    result = run_cli("status")
    assert result.code == 0
    assert f"no archive yet at {paths().archive}: im2mail run creates it" in result.err
    assert result.out.startswith("relay")
    assert not paths().archive.exists()
    record = json.loads(run_cli("status", "--json").out)
    assert record["archive_exists"] is False
    assert record["outbox"]["pending_mail"] == 0


def test_status_lists_blocked_customers_and_floods(write_config, archive):
    cfg = config.load(write_config(VALID_CONFIG), channels=CHANNELS)
    petro = customer(archive, "Петро", "")
    say(archive, petro, "Купіть слона")
    blocking.set_blocked(archive, petro.id, True, by=ANNA, at=T0)
    spam = customer(archive, "Спам", "")
    first = say(archive, spam, "1")
    due = datetime.now(UTC) + timedelta(seconds=40)
    with writing(archive) as db:
        db.execute("UPDATE messages SET flood_digest = '<d@x>' WHERE id = ?", (first.id,))
        db.execute(
            "INSERT INTO outbox (message_id, target, email_message_id, next_try, created, kind)"
            " VALUES (?, 'mail', '<d@x>', ?, ?, 'flood')",
            (first.id, due.isoformat(), T0.isoformat()),
        )
    state = status.read(cfg, paths(), probe=False)
    record = state.record()
    assert record["blocked"] == [{"conversation": petro.id, "customer": "Петро",
                                  "blocked_by": ANNA, "blocked_since": T0.isoformat()}]  # fmt: skip
    (flooding,) = record["flooding"]
    assert (flooding["conversation"], flooding["messages"]) == (spam.id, 1)
    text = run_cli("status").out
    assert re.search(rf"^blocked +#{petro.id} Петро, by {ANNA}, since .*"
                     rf"\(im2mail unblock {petro.id}\)$", text, re.M)  # fmt: skip
    assert re.search(rf"^flood +#{spam.id} Спам: 1 message since .* in a digest due ", text, re.M)
    as_json = json.loads(run_cli("status", "--json").out)
    assert as_json["blocked"][0]["conversation"] == petro.id
