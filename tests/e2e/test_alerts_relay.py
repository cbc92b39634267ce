"""`im2mail run` with [alerts]: a customer nobody answers gets the managers exactly one
reminder email, in the conversation's thread, also across a restart; a customer who is
answered in time gets none; the owner's digest goes once a day."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from im2mail.archive import Archive
from im2mail.home import paths
from im2mail.model import Message
from tests.conftest import run_installed
from tests.e2e.relay_rig import MANAGERS, archived, start_relay, write_home
from tests.support.chats import customer
from tests.support.mailbox import reply_to
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

OWNER = "owner@shop.example"


async def run_shop(home, telegram_api, smtp_server, alerts: str, imap=None):
    token = telegram_api.add_bot("shop_bot", "Shop")
    port = write_home(home, api_url=telegram_api.url, token=token, smtp_port=smtp_server.port,
                      greeting="Вітаємо!", imap=imap)  # fmt: skip
    with (home / "config.toml").open("a", encoding="utf-8") as f:
        f.write(f"\n[alerts]\n{alerts}")
    return token, port, await start_relay(home, port)


def reminders(smtp_server) -> list:
    """The reminders among the emails (a team notice comes from im2mail too)."""
    return [
        m
        for m in smtp_server.messages
        if "has been waiting for an answer" in m.message.get_body(("plain",)).get_content()
    ]


async def test_one_reminder_in_the_thread_and_none_again_after_a_restart(
    isolated_home, telegram_api, smtp_server
):
    token, port, process = await run_shop(
        isolated_home, telegram_api, smtp_server, 'unanswered_after = "2s"\n'
    )
    try:
        olena = telegram_api.customer("Олена", "Коваленко")
        await telegram_api.push_text(token, olena, "Добрий день! Скільки коштують візитки?")
        (first,) = await smtp_server.wait_for(1, timeout=10)
        await smtp_server.wait_for(2, timeout=15)
        await asyncio.sleep(4)  # two more looks: nothing new
        assert len(smtp_server.messages) == 2
    finally:
        await process.terminate()
        print(process.log)
    reminder = smtp_server.messages[1].message
    original = first.message
    assert sorted(smtp_server.messages[1].rcpt_tos) == sorted(MANAGERS)
    assert reminder["Subject"] == original["Subject"]
    assert reminder["In-Reply-To"] == original["Message-ID"]
    assert original["Message-ID"] in reminder["References"]
    assert reminder["Reply-To"] == original["Reply-To"]  # Reply answers the customer
    assert reminder["Auto-Submitted"] == "auto-generated"
    text = reminder.get_body(("plain",)).get_content()
    assert "Олена Коваленко has been waiting for an answer in Telegram" in text
    assert "> Добрий день! Скільки коштують візитки?" in text
    assert reminder.get_body(("html",)) is not None

    again = await start_relay(isolated_home, port)
    try:
        await asyncio.sleep(4)
    finally:
        await again.terminate()
        print(again.log)
    assert len(smtp_server.messages) == 2  # a restart does not remind again


async def test_no_reminder_when_a_manager_answers_in_time(
    isolated_home, telegram_api, smtp_server, imap_server, mailbox
):
    token, _, process = await run_shop(
        isolated_home, telegram_api, smtp_server, 'unanswered_after = "8s"\n', imap=imap_server
    )
    try:
        olena = telegram_api.customer("Олена")
        await telegram_api.push_text(token, olena, "Є папір А3?")
        (email,) = await smtp_server.wait_for(1, timeout=10)
        mailbox.put(reply_to(email.message, "Так, є."))
        sent = await telegram_api.wait_for_sent(olena.id, 2, timeout=15)  # greeting, answer
        assert sent[-1].text == "Так, є."
        await asyncio.sleep(10)  # past unanswered_after
        assert reminders(smtp_server) == []
        # a new question nobody answers is reminded about
        await telegram_api.push_text(token, olena, "А доставка?")
        (reminder,) = await wait_until(lambda: reminders(smtp_server), timeout=21)
        assert "> А доставка?" in reminder.message.get_body(("plain",)).get_content()
    finally:
        await process.terminate()
        print(process.log)


async def test_the_digest_goes_to_the_owner_once(isolated_home, telegram_api, smtp_server):
    """digest_at 00:00 in UTC: due at once, with yesterday's figures; a restart the same
    day sends none."""
    token = telegram_api.add_bot("shop_bot", "Shop")
    port = write_home(isolated_home, api_url=telegram_api.url, token=token,
                      smtp_port=smtp_server.port)  # fmt: skip
    with (isolated_home / "config.toml").open("a", encoding="utf-8") as f:
        f.write(f'\n[alerts]\nunanswered_after = 0\ndigest_to = ["{OWNER}"]\n'
                'digest_at = "00:00"\n\n[hours]\nzone = "UTC"\nmon = "09:00-18:00"\n')  # fmt: skip
    yesterday = datetime.now(UTC) - timedelta(days=1)
    with Archive.open(paths().archive) as archive:
        olena = customer(archive, "Олена", source="flyer")
        archive.add_message(Message(olena.id, "in", "Олена", "Добрий день", yesterday))
    for _ in range(2):  # a restart the same day sends nothing more
        process = await start_relay(isolated_home, port)
        try:
            await smtp_server.wait_for(1, timeout=15)
            await asyncio.sleep(2)
        finally:
            await process.terminate()
            print(process.log)
    assert len(smtp_server.messages) == 1
    (digest,) = smtp_server.messages
    assert list(digest.rcpt_tos) == [OWNER]
    assert digest.message["Subject"] == (
        f"im2mail: {yesterday.date().isoformat()}, 1 conversation, 1 waiting"
    )
    text = digest.message.get_body(("plain",)).get_content()
    assert "flyer" in text and "Waiting for an answer now: 1" in text


async def test_run_once_sends_the_reminders_due_by_then(isolated_home, telegram_api, smtp_server):
    token, _, process = await run_shop(
        isolated_home, telegram_api, smtp_server, 'unanswered_after = "3s"\n'
    )
    try:
        olena = telegram_api.customer("Олена")
        await telegram_api.push_text(token, olena, "Чи є у вас крафт-папір?")
        await smtp_server.wait_for(1, timeout=10)
    finally:
        await process.terminate()
    assert reminders(smtp_server) == []  # the relay stopped before the wait was due
    ((created,),) = archived("SELECT created FROM messages WHERE direction = 'in'")
    due = datetime.fromisoformat(created) + timedelta(seconds=3.2)  # unanswered_after, and a bit
    await asyncio.sleep((due - datetime.now(UTC)).total_seconds())
    once = await asyncio.to_thread(run_installed, "run", "--once", timeout=60)
    assert once.code == 0, once.both
    assert len(reminders(smtp_server)) == 1
    again = await asyncio.to_thread(run_installed, "run", "--once", timeout=60)
    assert again.code == 0 and len(reminders(smtp_server)) == 1  # once per wait
