"""`im2mail status`: the relay's state from the archive (status.read) and as the CLI shows
it. Archives are built with tests/support/chats.py; outbox rows with add_message(outbox=)
and the delivery queue's retry/failed calls, as the workers make them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from im2mail import config
from im2mail.archive import Archive
from im2mail.channels import CHANNELS
from im2mail.home import paths
from im2mail.model import Message, OutboxItem
from im2mail.ops import status
from tests.conftest import VALID_CONFIG, run_cli
from tests.support.archive_sql import reading
from tests.support.chats import T0, customer, say

TOKEN_LIKE = "7123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
TWO_BOTS = '\n[[bots]]\nname = "vshop"\nchannel = "viber"\n'


@pytest.fixture
def listen() -> str:
    return "127.0.0.1:8765"  # never asked here (probe=False): tests/e2e/test_status.py asks


def listening(write_config, listen: str) -> config.Config:
    """The test config with relay.listen set and a second bot, a Viber one."""
    text = VALID_CONFIG.replace("[relay]\n", f'[relay]\nlisten = "{listen}"\n') + TWO_BOTS
    return config.load(write_config(text), channels=CHANNELS)


@pytest.fixture
def cfg(write_config, listen) -> config.Config:
    return listening(write_config, listen)


def queue(archive: Archive, conversation, *targets: str, minutes: float = 0) -> list[int]:
    """A customer's message `minutes` after T0 with outbox rows for `targets`; their ids."""
    when = T0 + timedelta(minutes=minutes)
    message = Message(conversation.id, "in", "Олена", "Скільки коштують візитки?", when)
    stored = archive.add_message(message, outbox=[OutboxItem(t) for t in targets])
    assert stored is not None
    with reading(archive) as db:
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


def test_without_a_config_it_exits_3():
    result = run_cli("status")
    assert result.code == 3
    assert "no config at" in result.err
    assert "im2mail init" in result.err
    assert result.out == ""
