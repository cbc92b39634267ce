"""`im2mail run` with [hours] and [templates]: a customer who writes while the shop is
closed gets the auto-reply once (the managers still get every email), open hours send
none, and a manager's `/t NAME` reply reaches the customer as the template's text."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from im2mail.archive import Archive
from im2mail.home import paths
from tests.e2e.relay_rig import MANAGERS, start_relay, write_home
from tests.support.mailbox import reply_to

pytestmark = pytest.mark.e2e

ANNA = MANAGERS[0]
AWAY = "Ми зараз не працюємо; відповімо з 9:00."
PRICE = "A4: 2 грн за сторінку, кольоровий 8 грн."


def hours_section(*, closed_today: bool) -> str:
    """[hours] in UTC: every day 00:00-24:00, and when `closed_today` a holiday around
    today (a day either side, so a test running at midnight is closed too)."""
    days = "".join(f'{d} = "00:00-24:00"\n' for d in DAYS)
    holidays = ""
    if closed_today:
        today = datetime.now(UTC).date()
        holidays = f'holidays = ["{today - timedelta(days=1)}..{today + timedelta(days=1)}"]\n'
    return f'\n[hours]\nzone = "UTC"\n{days}{holidays}auto_reply = "{AWAY}"\n'


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TEMPLATES = f'\n[templates]\nprice-a4 = "{PRICE}"\n'


async def run_shop(isolated_home, telegram_api, smtp_server, *, closed: bool, imap=None):
    token = telegram_api.add_bot("shop_bot", "Shop")
    port = write_home(isolated_home, api_url=telegram_api.url, token=token,
                      smtp_port=smtp_server.port, greeting=None, imap=imap)  # fmt: skip
    with (isolated_home / "config.toml").open("a", encoding="utf-8") as f:
        f.write(hours_section(closed_today=closed) + TEMPLATES)
    return token, await start_relay(isolated_home, port)


async def test_a_closed_shop_auto_replies_once_and_still_mails_the_managers(
    isolated_home, telegram_api, smtp_server
):
    token, process = await run_shop(isolated_home, telegram_api, smtp_server, closed=True)
    try:
        olena = telegram_api.customer("Олена", "Коваленко")
        await telegram_api.push_text(token, olena, "Добрий вечір! Скільки коштує друк?")
        await telegram_api.push_text(token, olena, "Ви тут?")
        await smtp_server.wait_for(2, timeout=10)  # both messages reach the managers
        (sent,) = await telegram_api.wait_for_sent(olena.id, 1, timeout=10)
        assert sent.text == AWAY
        petro = telegram_api.customer("Петро")
        await telegram_api.push_text(token, petro, "Потрібен банер")
        await telegram_api.wait_for_sent(petro.id, 1, timeout=10)  # his own conversation
        await smtp_server.wait_for(3, timeout=10)
        await asyncio.sleep(1.5)  # time to (wrongly) answer Olena's second message
        assert [s.text for s in telegram_api.sent_messages(olena.id)] == [AWAY]
        bodies = [m.message.get_body(("plain",)).get_content() for m in smtp_server.messages]
        assert "Скільки коштує друк?" in bodies[0] and "Ви тут?" in bodies[1]
        assert all(sorted(m.rcpt_tos) == sorted(MANAGERS) for m in smtp_server.messages)
    finally:
        process.kill()
        print(process.log)
    # A restart in the same closed period does not repeat it.
    port = int(process.port)
    again = await start_relay(isolated_home, port)
    try:
        await telegram_api.push_text(token, olena, "Алло?")
        await smtp_server.wait_for(4, timeout=10)
        await asyncio.sleep(1.5)
        assert [s.text for s in telegram_api.sent_messages(olena.id)] == [AWAY]
    finally:
        again.kill()
        print(again.log)
    with Archive.open(paths().archive) as archive:
        answers = [e for e in archive.recent(20) if e.direction == "out"]
    assert sorted((e.author, e.text) for e in answers) == [("im2mail", AWAY)] * 2


async def test_an_open_shop_sends_no_auto_reply(isolated_home, telegram_api, smtp_server):
    token, process = await run_shop(isolated_home, telegram_api, smtp_server, closed=False)
    try:
        olena = telegram_api.customer("Олена")
        await telegram_api.push_text(token, olena, "Добрий день!")
        await smtp_server.wait_for(1, timeout=10)
        await asyncio.sleep(1.5)
        assert telegram_api.sent_messages(olena.id) == []
    finally:
        process.kill()
        print(process.log)


async def test_a_template_reply_reaches_the_customer_and_a_typo_comes_back(
    isolated_home, telegram_api, smtp_server, imap_server, mailbox
):
    token, process = await run_shop(
        isolated_home, telegram_api, smtp_server, closed=False, imap=imap_server
    )
    try:
        olena = telegram_api.customer("Олена", "Коваленко")
        await telegram_api.push_text(token, olena, "Скільки коштує друк А4?")
        await smtp_server.wait_for(1, timeout=10)
        email = smtp_server.messages[0].message
        mailbox.put(reply_to(email, "/t Price-A4"))
        (sent,) = await telegram_api.wait_for_sent(olena.id, 1, timeout=15)
        assert sent.text == PRICE
        await smtp_server.wait_for(2, timeout=10)  # Petro hears that Anna answered
        team = smtp_server.messages[1]
        assert PRICE in team.message.get_body(("plain",)).get_content()
        typo = reply_to(email, "/t prise-a4", Message_ID="<typo-1@mail.example>")
        mailbox.put(typo)
        await smtp_server.wait_for(3, timeout=15)
        notice = smtp_server.messages[2]
        assert list(notice.rcpt_tos) == [ANNA]
        assert notice.message["In-Reply-To"] == "<typo-1@mail.example>"
        text = notice.message.get_body(("plain",)).get_content()
        assert "no quick-reply template 'prise-a4'" in text and "price-a4" in text
        await asyncio.sleep(1)
        assert [s.text for s in telegram_api.sent_messages(olena.id)] == [PRICE]
    finally:
        process.kill()
        print(process.log)
    with Archive.open(paths().archive) as archive:
        answers = [e.text for e in archive.recent(20) if e.author == ANNA]
    assert PRICE in answers  # the archive keeps what the customer received
