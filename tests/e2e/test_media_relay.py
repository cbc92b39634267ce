"""Customers' files through the real relay (`im2mail run`, Telegram polling or Viber
webhooks against the doubles, mail to the SMTP test server): a slow download holds up no
other customer's email; a 2 GB offer is never fetched and the managers read that it was
too big; a file server that lies about the size is cut off at Telegram's 20 MB; nothing
partial is kept."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from im2mail.home import paths
from im2mail.testing.streams import Stream
from im2mail.testing.viber_api import ViberDouble
from tests.e2e.relay_rig import RelayProcess, write_home

pytestmark = pytest.mark.e2e

MB = 1024 * 1024


@pytest.fixture
async def relay(running_relay, telegram_api, smtp_server):
    """A running relay in polling mode, no greeting: (double, token, smtp)."""
    token = telegram_api.add_bot("shop_bot", "Shop")
    await running_relay(token=token, greeting=None)
    return telegram_api, token, smtp_server


def body(received) -> str:
    return received.message.get_body(("plain",)).get_content()


def blob_files() -> list:
    root = paths().blobs
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def test_a_slow_download_holds_up_no_other_customers_email(relay):
    tg, token, smtp = relay
    olena, taras = tg.customer("Олена", "Коваль"), tg.customer("Тарас", "Бойко")
    slow = Stream(2 * MB, drip=0.1)  # about 3 s over a bad link
    update = await tg.push_document(token, olena, slow, file_name="макет.pdf")
    coming = tg.file(token, update["message"]["document"]["file_id"])
    await tg.wait_until(lambda: coming.downloads == 1, timeout=10)

    sent = time.monotonic()
    await tg.push_text(token, taras, "Скільки коштує банер 3x1?")
    (first,) = await smtp.wait_for(1, timeout=5)
    waited = time.monotonic() - sent
    assert "Тарас Бойко" in first.message["Subject"] and "банер 3x1" in body(first)
    assert waited < 2.0, f"Тарас's email took {waited:.1f} s"
    assert len(smtp.messages) == 1  # Олена's file is still on its way

    (_, second) = await smtp.wait_for(2, timeout=15)
    assert "Олена Коваль" in second.message["Subject"] and "макет.pdf (2.0 MB)" in body(second)
    assert [p.stat().st_size for p in blob_files()] == [2 * MB]  # kept whole, once


async def test_a_2_gb_offer_is_not_fetched_and_the_managers_read_it_was_too_big(relay):
    tg, token, smtp = relay
    olena = tg.customer("Олена")
    update = await tg.push_document(token, olena, b"%PDF", file_name="архів.zip",
                                    size=2048 * MB, caption="Усі фото")  # fmt: skip
    (email,) = await smtp.wait_for(1, timeout=10)
    text = " ".join(body(email).split())
    assert "Усі фото" in text
    assert "архів.zip (2048.0 MB) — not downloaded: over the messenger's download limit" in text
    assert tg.calls("getFile") == []  # not even asked for
    assert tg.file(token, update["message"]["document"]["file_id"]).downloads == 0
    assert blob_files() == []


async def test_a_server_that_lies_about_the_size_is_cut_off_and_nothing_is_kept(relay):
    """getFile says 1 KB; the file server streams 30 MB without a Content-Length."""
    tg, token, smtp = relay
    taras = tg.customer("Тарас")
    liar = Stream(30 * MB, content_length=False)
    await tg.push_document(token, taras, liar, file_name="відео.mp4", size=1024)
    (email,) = await smtp.wait_for(1, timeout=15)
    text = " ".join(body(email).split())
    # Its size: what had come when it was cut (a little over the cap), not the 1 KB claimed.
    (size,) = re.findall(r"відео\.mp4 \(([\d.]+) MB\) — not downloaded", text)
    assert 20.0 <= float(size) < 21
    assert blob_files() == []  # no temporary file, no half a blob


async def test_by_webhook_too_a_slow_download_holds_up_no_other_customer(
    isolated_home, telegram_api, smtp_server
):
    """Viber calls the webhook once per message and waits for its 200, which comes once
    the message and its file are stored: one customer's slow file keeps neither the
    server nor the archive from another customer's message."""
    async with ViberDouble() as viber:
        token = viber.add_bot("Друкарня", "drukarnia")
        port = write_home(isolated_home, api_url=telegram_api.url, token=telegram_api.add_bot(),
                          smtp_port=smtp_server.port, greeting=None,
                          viber=(viber.url, token))  # fmt: skip
        process = RelayProcess(isolated_home, port)
        try:
            await process.wait_healthy()
            olena, taras = viber.customer("Олена"), viber.customer("Тарас")
            url = viber.add_media(Stream(2 * MB, drip=0.08), "макет.pdf", "application/pdf")
            message = {"type": "file", "media": url, "file_name": "макет.pdf", "size": 2 * MB}
            sending = asyncio.create_task(viber.push_message(token, olena, message))
            await viber.wait_until(lambda: viber.media(url).downloads == 1)  # about 2.5 s
            sent = time.monotonic()
            delivery = await viber.push_text(token, taras, "Скільки коштує банер?")
            assert delivery.status == 200
            (first,) = await smtp_server.wait_for(1, timeout=5)
            assert time.monotonic() - sent < 2.0
            assert "Тарас" in first.message["Subject"] and not sending.done()
            assert (await sending).status == 200  # answered once her file was stored
            (_, second) = await smtp_server.wait_for(2, timeout=10)
            assert "макет.pdf (2.0 MB)" in body(second)
        finally:
            process.kill()
