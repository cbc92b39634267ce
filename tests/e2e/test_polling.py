"""Long polling with customers side by side (polling.py), in process: the real intake
and Telegram channel against the Bot API double. A customer whose big file arrives slowly
holds up no one else; each customer's messages stay in order; nothing is acknowledged to
Telegram before it is stored, also when a download fails or the relay stops midway."""

from __future__ import annotations

import asyncio
import time

import pytest

from im2mail.archive import Archive
from im2mail.archive.db import now
from im2mail.channels.telegram.channel import Telegram
from im2mail.mail.builder import MailSettings
from im2mail.relay import pacing, polling
from im2mail.relay.intake import Intake, IntakeSettings
from im2mail.relay.pacing import MailPace
from im2mail.relay.polling import Poller
from im2mail.testing.streams import Stream
from tests.support.archive_sql import reading
from tests.support.waiting import wait_until

MB = 1024 * 1024
SLOW = Stream(2 * MB, drip=0.1)  # 32 pieces, one each 0.1 s: about 3 s in all


@pytest.fixture
async def relay(archive: Archive, channel: Telegram):
    """The intake and a running poller; yields the intake and a stop() that does what
    the relay's shutdown does (downloads ended, poller cancelled)."""
    intake = Intake(
        archive, {"shop": channel}, IntakeSettings(MailSettings("orders@shop.example", ()))
    )
    stopping = asyncio.Event()
    running = asyncio.create_task(Poller("shop", channel, intake.take, stopping).run())

    async def stop() -> None:
        stopping.set()
        intake.downloads.abort()
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)

    yield intake, stop
    await stop()
    intake.downloads.close()


def archived(archive: Archive) -> list[tuple[str, str]]:
    """(author, text) of every archived message, in the order they were stored."""
    with reading(archive) as db:
        return [tuple(r) for r in db.execute("SELECT author, text FROM messages ORDER BY id")]


async def test_another_customer_is_archived_while_a_big_file_drips_in(
    telegram_api, token, archive, relay
):
    olena, taras = telegram_api.customer("Олена"), telegram_api.customer("Тарас")
    update = await telegram_api.push_document(token, olena, SLOW, file_name="макет.pdf")
    slow_file = telegram_api.file(token, update["message"]["document"]["file_id"])
    await wait_until(lambda: slow_file.downloads == 1)  # Олена's file is on its way
    sent = time.monotonic()
    await telegram_api.push_text(token, taras, "Скільки коштує банер 3x1?")
    await wait_until(lambda: ("Тарас", "Скільки коштує банер 3x1?") in archived(archive))
    assert time.monotonic() - sent < 1.0  # taken within PACE, not after the 3 s download
    assert [a for a, _ in archived(archive)] == ["Тарас"]  # the file is still coming
    await wait_until(lambda: len(archived(archive)) == 2)
    with reading(archive) as db:
        assert db.execute("SELECT size FROM attachments").fetchone()[0] == 2 * MB
    await wait_until(lambda: telegram_api.pending_updates(token) == [])  # both acknowledged


async def test_a_customers_messages_stay_in_order_behind_their_slow_file(
    telegram_api, token, archive, relay
):
    olena = telegram_api.customer("Олена")
    await telegram_api.push_document(token, olena, SLOW, file_name="макет.pdf")
    await telegram_api.push_text(token, olena, "Це макет візитки")
    await wait_until(lambda: len(archived(archive)) == 2)
    assert [text for _, text in archived(archive)] == ["", "Це макет візитки"]


async def test_a_failed_download_is_never_acknowledged_and_is_taken_again(
    telegram_api, token, archive, relay, monkeypatch
):
    monkeypatch.setattr(polling, "RETRY_PAUSE", 0.3)
    olena, taras = telegram_api.customer("Олена"), telegram_api.customer("Тарас")
    broken = Stream(2 * MB, hang_up_after=MB)
    first = await telegram_api.push_document(token, olena, broken, file_name="макет.pdf")
    await telegram_api.push_text(token, olena, "Це макет")  # waits behind her file
    await telegram_api.push_text(token, taras, "Добрий день")
    await wait_until(lambda: archived(archive) == [("Тарас", "Добрий день")])
    held = [u["update_id"] for u in telegram_api.pending_updates(token)]
    assert held[0] == first["update_id"] and len(held) == 3  # Тарас's too: no gap skipped
    # The file server is well again: her file, then her text, in order.
    telegram_api.file(token, first["message"]["document"]["file_id"]).data = Stream(2 * MB)
    await wait_until(lambda: len(archived(archive)) == 3)
    assert [t for _, t in archived(archive)] == ["Добрий день", "", "Це макет"]
    await wait_until(lambda: telegram_api.pending_updates(token) == [])


async def test_stopping_midway_acknowledges_only_what_was_stored(
    telegram_api, token, channel, archive, relay
):
    intake, stop = relay
    olena, taras = telegram_api.customer("Олена"), telegram_api.customer("Тарас")
    hello = await telegram_api.push_text(token, taras, "Добрий день")
    await wait_until(lambda: telegram_api.pending_updates(token) == [])
    slow = await telegram_api.push_document(token, olena, SLOW, file_name="макет.pdf")
    after = await telegram_api.push_text(token, taras, "Чекаю на відповідь")
    await wait_until(lambda: len(archived(archive)) == 2)  # Тарас's two, not her file
    started = time.monotonic()
    await stop()
    await channel.stop()  # tells Telegram the offset, as the relay's shutdown does
    assert time.monotonic() - started < 2  # the download was ended, not waited for
    held = telegram_api.pending_updates(token)
    # Her update was not stored: it stays with Telegram, and so does the one after it
    # (the offset never skips a gap); that one is known as stored when it comes again.
    assert [u["update_id"] for u in held] == [slow["update_id"], after["update_id"]]
    assert hello["update_id"] < slow["update_id"]
    assert not [p for p in archive.blobs.root.rglob("*") if p.is_file()]  # nothing partial
    assert (await intake.take("shop", after)).stored == 0


class PlayedOutbox:
    """The test as the mail outbox: sends (marks sent) `rate` emails a second, while
    `going`; the pace reads its `sent`."""

    def __init__(self, archive: Archive, rate: int) -> None:
        self.archive, self.rate, self.sent, self.going = archive, rate, 0, asyncio.Event()

    async def run(self) -> None:
        deliveries = self.archive.deliveries
        while True:
            await self.going.wait()
            due = await asyncio.to_thread(deliveries.due_deliveries, "mail", now(), self.rate // 20)
            for item in due:
                await asyncio.to_thread(deliveries.delivery_sent, item.id, now())
                self.sent += 1
            await asyncio.sleep(0.05)

    async def due(self, at_most: int) -> int:
        return await asyncio.to_thread(self.archive.deliveries.count_due, "mail", now(), at_most)


@pytest.fixture
async def paced(archive: Archive, channel: Telegram):
    """A running poller whose polls wait for a mail outbox the test plays."""
    intake = Intake(
        archive, {"shop": channel}, IntakeSettings(MailSettings("orders@shop.example", ()))
    )
    outbox = PlayedOutbox(archive, rate=400)
    pace = MailPace(outbox.due, lambda: outbox.sent, lambda: intake.archived)
    stopping = asyncio.Event()
    tasks = [
        asyncio.create_task(Poller("shop", channel, intake.take, stopping, pace).run()),
        asyncio.create_task(outbox.run()),
    ]
    yield outbox, pace
    stopping.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    intake.downloads.close()


async def a_burst_stored(telegram_api, token, archive, count: int) -> None:
    customers = [telegram_api.customer(f"Клієнт{i}") for i in range(10)]
    for i in range(count):
        await telegram_api.push_text(token, customers[i % 10], f"Замовлення {i}")
    await wait_until(lambda: len(archived(archive)) == count, timeout=20)


async def test_a_poll_waits_while_the_mail_is_far_behind(telegram_api, token, archive, paced):
    outbox, pace = paced
    await a_burst_stored(telegram_api, token, archive, pacing.AHEAD + 50)
    late = await telegram_api.push_text(token, telegram_api.customer("Тарас"), "Ще одне")
    await asyncio.sleep(0.3)
    # The mail is more than AHEAD emails behind: the poll that would fetch it waits, and
    # the update stays with Telegram (not acknowledged, not lost).
    assert ("Тарас", "Ще одне") not in archived(archive)
    assert telegram_api.pending_updates(token)[-1]["update_id"] == late["update_id"]
    outbox.going.set()  # the mail catches up
    await wait_until(lambda: ("Тарас", "Ще одне") in archived(archive))
    assert pace.waits >= 1 and pace.rests == 0
    assert outbox.sent >= 50  # it came once the mail was within AHEAD


async def test_a_mail_that_does_not_move_does_not_hold_receiving(
    telegram_api, token, archive, paced
):
    outbox, pace = paced  # never set going: the SMTP server is down
    await a_burst_stored(telegram_api, token, archive, pacing.AHEAD + 50)
    await telegram_api.push_text(token, telegram_api.customer("Тарас"), "Ви працюєте?")
    started = time.monotonic()
    await wait_until(lambda: ("Тарас", "Ви працюєте?") in archived(archive))
    assert time.monotonic() - started < pacing.PROBE + 1.0  # not MAX_WAIT
    assert pace.rests == 1 and outbox.sent == 0


async def test_each_update_is_parsed_once(telegram_api, token, archive, channel, monkeypatch):
    """Parsing (python-telegram-bot's de_json) is most of receiving's CPU: the poller's
    parse, for the customer's order, is the one the intake uses."""
    parsed: list[int] = []
    real = channel.parse

    def parse(raw):
        parsed.append(raw["update_id"])
        return real(raw)

    monkeypatch.setattr(channel, "parse", parse)
    intake = Intake(
        archive, {"shop": channel}, IntakeSettings(MailSettings("orders@shop.example", ()))
    )
    stopping = asyncio.Event()
    running = asyncio.create_task(Poller("shop", channel, intake.take, stopping).run())
    try:
        olena = telegram_api.customer("Олена")
        pushed = [await telegram_api.push_text(token, olena, f"Питання {n}") for n in range(3)]
        await wait_until(lambda: len(archived(archive)) == 3)
    finally:
        stopping.set()
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        intake.downloads.close()
    assert sorted(parsed) == [u["update_id"] for u in pushed]
