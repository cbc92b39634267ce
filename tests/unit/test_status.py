"""`im2mail status`: the relay's state from the archive (status.read) and as the CLI shows
it. Archives are built with tests/support/chats.py; outbox rows with add_message(outbox=)
and the delivery queue's retry/failed calls, as the workers make them."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from im2mail import config
from im2mail.archive import Archive
from im2mail.home import paths
from im2mail.model import Message, OutboxItem
from im2mail.ops import status
from tests.conftest import VALID_CONFIG, run_cli
from tests.support.chats import T0, customer, say
from tests.support.smtp_server import free_port

TOKEN_LIKE = "7123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
TWO_BOTS = '\n[[bots]]\nname = "vshop"\nchannel = "viber"\n'


@pytest.fixture
def listen() -> str:
    return f"127.0.0.1:{free_port()}"  # nothing answers there unless a test starts it


@pytest.fixture
def cfg(write_config, listen) -> config.Config:
    text = VALID_CONFIG.replace("[relay]\n", f'[relay]\nlisten = "{listen}"\n') + TWO_BOTS
    return config.load(write_config(text))


def queue(archive: Archive, conversation, *targets: str, minutes: float = 0) -> list[int]:
    """A customer's message `minutes` after T0 with outbox rows for `targets`; their ids."""
    when = T0 + timedelta(minutes=minutes)
    message = Message(conversation.id, "in", "Олена", "Скільки коштують візитки?", when)
    stored = archive.add_message(message, outbox=[OutboxItem(t) for t in targets])
    assert stored is not None
    with archive.reading() as db:
        rows = db.execute("SELECT id FROM outbox WHERE message_id = ?", (stored.id,))
        return [row[0] for row in rows]


# -- per bot -----------------------------------------------------------------------------------


def test_each_configured_bot_shows_its_last_activity(cfg, archive):
    olena = customer(archive, "Олена", "Коваленко")
    petro = customer(archive, "Петро", "Іваненко")
    say(archive, olena, "Доброго дня! Скільки коштують візитки?", minutes=10)
    say(archive, olena, "500 грн за 1000 шт.", direction="out", minutes=12)
    say(archive, petro, "А банер 2x1?", minutes=30)
    say(archive, customer(archive, "Old", bot="retired"), "gone", minutes=90)

    state = status.read(cfg, paths(), probe=False)

    shop, vshop = state.bots
    assert shop == status.BotActivity(
        "shop", "telegram", conversations=2, last_in=T0 + timedelta(minutes=30),
        last_in_customer="Петро Іваненко", last_out=T0 + timedelta(minutes=12),
    )  # fmt: skip
    assert vshop == status.BotActivity("vshop", "viber")  # configured, nothing yet
    assert [bot.name for bot in state.bots] == ["shop", "vshop"]  # not the retired one


def test_the_last_message_in_is_the_latest_by_time_not_by_conversation(cfg, archive):
    early, late = customer(archive, "Early"), customer(archive, "Late")
    say(archive, late, "second conversation, written later", minutes=50)
    say(archive, early, "first conversation, written earlier", minutes=5)
    shop = status.read(cfg, paths(), probe=False).bots[0]
    assert (shop.last_in_customer, shop.last_in) == ("Late Коваленко", T0 + timedelta(minutes=50))


# -- the outbox ----------------------------------------------------------------------------------


def test_the_outbox_backlog_failures_and_last_error(cfg, archive):
    now = datetime.now(UTC)
    conversation = customer(archive, "Олена")
    old_failure, recent_failure = queue(archive, conversation, "mail", "mail")
    pending_mail, pending_chat = queue(archive, conversation, "mail", "channel")
    deliveries = archive.deliveries
    deliveries.delivery_failed(old_failure, "SMTP 550 old news", now - timedelta(hours=30))
    deliveries.delivery_failed(recent_failure, "Forbidden: bot was blocked", now)
    deliveries.delivery_retry(pending_chat, f"Telegram 502\n  Bad Gateway {TOKEN_LIKE}", now)

    state = status.read(cfg, paths(), probe=False, now=now + timedelta(hours=2))

    assert (state.pending_mail, state.pending_channel) == (1, 1)
    assert state.failed_24h == 1  # the failure 30 hours ago is not counted
    assert state.oldest_pending is not None
    assert timedelta(hours=2) - (state.now - state.oldest_pending) < timedelta(minutes=1)
    # The newest row that failed or is being retried; one line; token-shaped text masked.
    assert state.last_error == status.LastError(
        "Telegram 502 Bad Gateway ********", "channel", "retrying"
    )
    assert pending_mail not in (old_failure, recent_failure, pending_chat)


def test_the_last_error_can_be_a_failure(cfg, archive):
    conversation = customer(archive, "Олена")
    (retrying,) = queue(archive, conversation, "mail")
    (given_up,) = queue(archive, conversation, "channel")
    archive.deliveries.delivery_retry(retrying, "SMTP 451 try later", datetime.now(UTC))
    archive.deliveries.delivery_failed(given_up, "Forbidden: bot was blocked by the user")
    state = status.read(cfg, paths(), probe=False)
    assert state.last_error == status.LastError(
        "Forbidden: bot was blocked by the user", "channel", "failed"
    )
    assert state.failed_24h == 1


def test_an_empty_outbox(cfg, archive):
    state = status.read(cfg, paths(), probe=False)
    assert (state.pending_mail, state.pending_channel, state.failed_24h) == (0, 0, 0)
    assert state.oldest_pending is None and state.last_error is None


# -- the relay -----------------------------------------------------------------------------------


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


@pytest.mark.parametrize(
    ("listen", "url"),
    [
        ("127.0.0.1:8765", "http://127.0.0.1:8765/healthz"),
        ("0.0.0.0:8765", "http://127.0.0.1:8765/healthz"),
        ("[::]:8765", "http://[::1]:8765/healthz"),
        ("[::1]:9000", "http://[::1]:9000/healthz"),
        ("localhost:80", "http://localhost:80/healthz"),
    ],
)
def test_the_health_url_reaches_a_wildcard_listener_on_loopback(listen, url):
    assert status.health_url(listen) == url


# -- the command ---------------------------------------------------------------------------------


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


def test_without_a_config_it_exits_3():
    result = run_cli("status")
    assert result.code == 3
    assert "no config at" in result.err
    assert "im2mail init" in result.err
    assert result.out == ""
