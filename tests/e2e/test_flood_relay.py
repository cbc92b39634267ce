"""`im2mail run` against abusive customers, through webhooks from the Telegram double:

- a customer sending 500 messages in a minute: all 500 archived (each acknowledged only
  once stored), 20 emails and then one digest a minute in the thread, then emails one by
  one again once the flood is over;
- a manager's reply of only /block: the customer gets nothing, the managers a notice; the
  blocked customer's messages are archived, mailed to nobody, shown by `conversations` and
  `status`; `im2mail unblock` while the relay runs, and their emails resume.

The flood test waits out the real minute between digests (about 70 s in all): the relay
runs as a subprocess with the real clock, and a shorter minute would need a setting or a
clock set from outside that only tests use. The rule itself, minute by minute, is tested
with a clock in tests/unit/test_flood.py; this test proves the real process keeps it."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from im2mail.archive import Archive
from im2mail.home import paths
from tests.conftest import run_cli
from tests.e2e.relay_rig import MANAGERS, start_relay, write_home
from tests.support.mailbox import reply_to

pytestmark = pytest.mark.e2e

LIMIT = 20


def plain_text(received) -> str:
    return received.message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def digests(smtp_server) -> list:
    return [m for m in smtp_server.messages if "so they come in one email a minute" in
            plain_text(m)]  # fmt: skip


async def test_a_flood_of_500_is_archived_whole_and_mailed_in_a_digest(
    isolated_home, telegram_api, smtp_server
):
    token = telegram_api.add_bot("shop_bot", "Shop")
    port = write_home(isolated_home, api_url=telegram_api.url, token=token,
                      smtp_port=smtp_server.port, mode="webhook", greeting=None)  # fmt: skip
    relay = await start_relay(isolated_home, port)
    try:
        spammer = telegram_api.customer("Спам", "Бот")
        olena = telegram_api.customer("Олена", "Коваль")
        started = time.monotonic()
        for i in range(500):
            await telegram_api.push_text(token, spammer, f"Купіть слона #{i}")
            if i % 100 == 50:
                await telegram_api.push_text(token, olena, f"Олена {i}")  # others meanwhile
        flooded_for = time.monotonic() - started
        assert flooded_for < 50, f"the flood took {flooded_for:.0f} s: not 500 in a minute"
        answered = [d.status for d in telegram_api.deliveries]
        assert answered == [200] * 505  # each acknowledged once stored, none refused
        # 20 emails below the limit and Olena's 5 at once; the digest a minute later
        await smtp_server.wait_for(25, timeout=30)
        assert digests(smtp_server) == []
        await smtp_server.wait_for(26, timeout=75)
        (digest,) = digests(smtp_server)
        assert len(smtp_server.messages) == 26
        # The flood is over: a minute after its last message, emails are one each again.
        await asyncio.sleep(max(0.0, started + flooded_for + 62 - time.monotonic()))
        await telegram_api.push_text(token, spammer, "Вибачте, останнє питання")
        (last,) = [m for m in await smtp_server.wait_for(27, timeout=15)][26:]
        await asyncio.sleep(1)
        assert len(smtp_server.messages) == 27
    finally:
        await relay.terminate()
        print(relay.log)
    with Archive.open(paths().archive) as archive:
        texts = [e.text for e in archive.recent(1000) if e.customer == "Спам Бот"]
    assert sorted(texts[:-1]) == sorted(f"Купіть слона #{i}" for i in range(500))
    spam = [m for m in smtp_server.messages if "Спам Бот" in m.message["Subject"]]
    assert len(spam) == LIMIT + 1 + 1  # below the limit, the digest, after the flood
    first = spam[0].message
    assert digest.message["Subject"] == first["Subject"]  # in the conversation's thread
    assert digest.message["Reply-To"] == first["Reply-To"]
    assert first["Message-ID"] in digest.message["References"]
    assert sorted(digest.rcpt_tos) == sorted(MANAGERS)
    text = plain_text(digest)
    assert "Спам Бот sent 480 messages in Telegram" in text
    assert f"more than {LIMIT} a minute" in text
    assert "Купіть слона #20\n" in text and "Купіть слона #499\n" in text
    assert "Вибачте, останнє питання" in plain_text(last)
    assert "so they come in one email a minute" not in plain_text(last)
    assert "go in one digest email a minute" in relay.log  # one warning, not 480 lines
    assert relay.log.count("Купіть слона") == 0


async def test_block_by_reply_then_unblock_on_the_command_line(
    isolated_home, telegram_api, smtp_server, imap_server, mailbox
):
    token = telegram_api.add_bot("shop_bot", "Shop")
    port = write_home(isolated_home, api_url=telegram_api.url, token=token,
                      smtp_port=smtp_server.port, mode="webhook", greeting="Вітаємо!",
                      imap=imap_server)  # fmt: skip
    relay = await start_relay(isolated_home, port)
    try:
        petro = telegram_api.customer("Петро", "Спамер")
        await telegram_api.push_text(token, petro, "Купіть слона")
        (email,) = await smtp_server.wait_for(1, timeout=10)
        mailbox.put(reply_to(email.message, "/block"))
        (_, notice) = await smtp_server.wait_for(2, timeout=20)
        text = plain_text(notice)
        assert "anna@shop.example blocked Петро Спамер (Telegram, conversation #1)" in text
        assert notice.message["In-Reply-To"] is not None
        assert notice.message["Subject"] == email.message["Subject"]
        assert sorted(notice.rcpt_tos) == sorted(MANAGERS)
        for i in range(10):
            await telegram_api.push_text(token, petro, f"Купіть слона {i}")
        await asyncio.sleep(2)
        assert len(smtp_server.messages) == 2  # archived, mailed to nobody
        assert [m.text for m in telegram_api.sent_messages(petro.id)] == ["Вітаємо!"]
        listed = json.loads(run_cli("conversations", "--json").out)
        assert listed["blocked_by"] == "anna@shop.example"
        assert "blocked" in run_cli("conversations").out
        state = json.loads(run_cli("status", "--json").out)
        assert [b["conversation"] for b in state["blocked"]] == [listed["id"]]
        assert "blocked" in run_cli("status").out
        unblocked = run_cli("unblock", str(listed["id"]))
        assert unblocked.code == 0, unblocked.err
        await telegram_api.push_text(token, petro, "Ну купіть же")
        (*_, resumed) = await smtp_server.wait_for(3, timeout=10)
        assert "Ну купіть же" in plain_text(resumed)
    finally:
        await relay.terminate()
        print(relay.log)
    with Archive.open(paths().archive) as archive:
        texts = [e.text for e in archive.recent(100) if e.direction == "in"]
    assert texts == ["Купіть слона", *(f"Купіть слона {i}" for i in range(10)), "Ну купіть же"]
    assert "Anna" not in "".join(m.text for m in telegram_api.sent_messages(petro.id))
