"""`im2mail run` end to end: a customer writes to the Telegram bot (the double), every
manager gets an email (the SMTP test server), threaded per customer, with files."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from im2mail.mail.smtp_outbox import LANES
from tests.e2e.relay_rig import MANAGERS, RelayProcess, write_home

pytestmark = pytest.mark.e2e


@pytest.fixture
async def relay(running_relay, telegram_api, smtp_server):
    """A running relay in polling mode: (relay, double, token, smtp)."""
    token = telegram_api.add_bot("shop_bot", "Shop")
    return await running_relay(token=token), telegram_api, token, smtp_server


async def test_text_becomes_one_threaded_email_to_every_manager(relay):
    _process, tg, token, smtp = relay
    olena = tg.customer("Олена", "Коваленко", username="olena_k")
    await tg.push_start(token, olena, payload="qr-flyer")
    await tg.push_text(token, olena, "Добрий день! Скільки коштують 200 візиток? 🙂")
    await smtp.wait_for(2, timeout=10)
    first, second = (m.message for m in smtp.messages[:2])
    assert sorted(smtp.messages[1].rcpt_tos) == sorted(MANAGERS)
    sender = second["From"].addresses[0]
    assert (sender.display_name, sender.addr_spec) == (
        "Олена Коваленко via Telegram",
        "orders@shop.example",
    )
    assert second["Subject"] == first["Subject"] == "[Telegram] Олена Коваленко #1"
    assert second["In-Reply-To"] == first["Message-ID"]
    reply_to = str(second["Reply-To"])
    assert "orders+" in reply_to and reply_to.endswith("@shop.example>")
    assert "started the chat" in first.get_body(("plain",)).get_content()
    body = second.get_body(("plain",)).get_content()
    assert "200 візиток" in body and "@olena_k" in body and "qr-flyer" in body
    # The first contact got the owner's greeting in the chat.
    greeting = await tg.wait_for_sent(olena.id, 1)
    assert greeting[0].text == "Вітаємо! Чим допомогти?"


async def test_album_is_one_email_and_files_are_attached(relay):
    _process, tg, token, smtp = relay
    user = tg.customer("Andrii", "", username="andrii")
    await tg.push_album(token, user, count=3, caption="Три варіанти макета")
    await tg.push_document(token, user, data=b"%PDF-1.4 " + b"x" * 100, file_name="макет_А4.pdf")
    await smtp.wait_for(2, timeout=10)
    await asyncio.sleep(1)  # nothing more should come
    assert len(smtp.messages) == 2
    # The album waits a moment for all its parts, so the document's email may come first.
    emails = [m.message for m in smtp.messages]
    (album,) = [e for e in emails if "Три варіанти" in e.get_body(("plain",)).get_content()]
    (document,) = [e for e in emails if e is not album]
    images = [p for p in album.walk() if p.get_content_type() == "image/jpeg"]
    assert len(images) == 3
    names = [p.get_filename() for p in document.walk() if p.get_filename()]
    assert names == ["макет_А4.pdf"]


async def test_sigterm_stops_cleanly_within_5_seconds(relay):
    process, _tg, _token, _smtp = relay
    code, seconds = await process.terminate()
    assert code == 0, process.log
    assert seconds < 5
    assert "relay stopped" in process.log


async def test_a_revoked_token_is_a_clear_error_not_a_crash(
    isolated_home, telegram_api, smtp_server
):
    token = telegram_api.add_bot()
    port = write_home(isolated_home, api_url=telegram_api.url, token=token,
                      smtp_port=smtp_server.port)  # fmt: skip
    telegram_api.revoke(token)
    process = RelayProcess(isolated_home, port)
    code, _ = 0, 0
    for _ in range(200):
        if process.proc.poll() is not None:
            break
        await asyncio.sleep(0.05)
    code = process.proc.poll()
    process.kill()
    assert code == 1
    assert "bot shop not started" in process.log
    assert token not in process.log and token.split(":")[1] not in process.log


async def test_webhook_mode_checks_the_secret_and_relays(isolated_home, telegram_api, smtp_server):
    token = telegram_api.add_bot()
    port = write_home(isolated_home, api_url=telegram_api.url, token=token,
                      smtp_port=smtp_server.port, mode="webhook")  # fmt: skip
    process = RelayProcess(isolated_home, port)
    try:
        await process.wait_healthy()
        hook = telegram_api.webhook(token)
        assert hook["url"] == f"http://127.0.0.1:{port}/telegram/shop"
        user = telegram_api.customer("Петро")
        await telegram_api.push_text(token, user, "Потрібен банер 3х1")
        await smtp_server.wait_for(1, timeout=10)
        assert "банер 3х1" in smtp_server.messages[0].message.get_body(("plain",)).get_content()
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}/telegram/shop"
            forged = {"X-Telegram-Bot-Api-Secret-Token": "guess"}
            async with http.post(url, json={"update_id": 1}, headers=forged) as r:
                assert r.status == 403
            right = {"X-Telegram-Bot-Api-Secret-Token": hook["secret_token"]}
            async with http.post(url, data=b"x" * 2_000_000, headers=right) as r:
                assert r.status == 413
            async with http.post(url, data=b"{not json", headers=right) as r:
                assert r.status == 400
            # Unknown update types and malformed updates are logged and acknowledged:
            # answering non-2xx would make Telegram resend them forever.
            for odd in ({"update_id": 900, "poll_answer": {}}, {"update_id": 901, "message": 7}):
                async with http.post(url, json=odd, headers=right) as r:
                    assert r.status == 200
            # A webhook retry of the same update is mailed once.
            again = {
                "update_id": 902,
                "message": telegram_api.message(token, user, text="Двічі надіслане"),
            }
            for _ in range(2):
                async with http.post(url, json=again, headers=right) as r:
                    assert r.status == 200
        await smtp_server.wait_for(2, timeout=10)
        await asyncio.sleep(1)
        texts = [m.message.get_body(("plain",)).get_content() for m in smtp_server.messages]
        assert len(texts) == 2
        assert sum("Двічі надіслане" in t for t in texts) == 1
        assert "malformed update ignored" in process.log
    finally:
        process.kill()


async def test_run_once_handles_what_is_pending_and_exits(isolated_home, telegram_api, smtp_server):
    token = telegram_api.add_bot()
    port = write_home(isolated_home, api_url=telegram_api.url, token=token,
                      smtp_port=smtp_server.port, greeting=None)  # fmt: skip
    user = telegram_api.customer("Оксана")
    await telegram_api.push_text(token, user, "Чи готове моє замовлення №12345?")
    process = RelayProcess(isolated_home, port, "--once")
    for _ in range(300):
        if process.proc.poll() is not None:
            break
        await asyncio.sleep(0.05)
    code = process.proc.poll()
    process.kill()
    assert code == 0, process.log
    assert len(smtp_server.messages) == 1
    assert telegram_api.pending_updates(token) == []  # acknowledged only once stored


async def test_kill_9_mid_burst_then_restart_loses_nothing(
    isolated_home, telegram_api, smtp_server
):
    token = telegram_api.add_bot()
    port = write_home(isolated_home, api_url=telegram_api.url, token=token,
                      smtp_port=smtp_server.port, greeting=None)  # fmt: skip
    customers = [telegram_api.customer(f"Клієнт{i}") for i in range(10)]
    texts = [f"замовлення #{n:03d}" for n in range(60)]
    for n, text in enumerate(texts):
        await telegram_api.push_text(token, customers[n % 10], text)
    process = RelayProcess(isolated_home, port)
    await smtp_server.wait_for(5, timeout=20)
    process.kill()  # SIGKILL: no chance to finish anything
    again = RelayProcess(isolated_home, port)
    try:
        await smtp_server.wait_for(len(texts), timeout=30)
        await asyncio.sleep(1)
    finally:
        again.kill()
    mailed = [m.message.get_body(("plain",)).get_content() for m in smtp_server.messages]
    counts = {t: sum(t in body for body in mailed) for t in texts}
    assert all(c >= 1 for c in counts.values()), "a message was lost"
    # At-least-once: only the emails in flight at the kill may go out twice, one on each
    # SMTP connection (mail/smtp_outbox.py: LANES).
    assert sum(c - 1 for c in counts.values()) <= LANES, counts


async def test_one_revoked_bot_does_not_stop_the_others(isolated_home, telegram_api, smtp_server):
    from im2mail import secrets

    good, bad = telegram_api.add_bot("shop_bot"), telegram_api.add_bot("old_bot")
    port = write_home(isolated_home, api_url=telegram_api.url, token=good,
                      smtp_port=smtp_server.port, greeting=None)  # fmt: skip
    with (isolated_home / "config.toml").open("a") as config:
        config.write(
            f'\n[[bots]]\nname = "old"\nchannel = "telegram"\napi_url = "{telegram_api.url}"\n'
        )
    secrets.put("bot:old", bad)
    telegram_api.revoke(bad)
    process = RelayProcess(isolated_home, port)
    try:
        await process.wait_healthy()
        await telegram_api.push_text(good, telegram_api.customer("Ірина"), "Працюєте сьогодні?")
        await smtp_server.wait_for(1, timeout=10)
    finally:
        process.kill()
    assert "bot old not started" in process.log
    assert bad.split(":")[1] not in process.log


async def test_big_file_goes_as_a_signed_link_served_by_the_relay(
    isolated_home, telegram_api, smtp_server
):
    token = telegram_api.add_bot()
    port = write_home(isolated_home, api_url=telegram_api.url, token=token,
                      smtp_port=smtp_server.port, mode="webhook", greeting=None)  # fmt: skip
    big = b"%PDF-1.4 " + bytes(range(256)) * 6000  # ~1.5 MB, over max_attachment_mb = 1
    process = RelayProcess(isolated_home, port)
    try:
        await process.wait_healthy()
        user = telegram_api.customer("Тарас")
        await telegram_api.push_document(token, user, data=big, file_name="банер 3x1.pdf")
        await smtp_server.wait_for(1, timeout=10)
        body = smtp_server.messages[0].message.get_body(("plain",)).get_content()
        (link,) = [w for w in body.split() if "/f/" in w]
        assert not [p for p in smtp_server.messages[0].message.walk() if p.get_filename()]
        async with aiohttp.ClientSession() as http:
            async with http.get(link) as r:
                assert r.status == 200
                assert await r.read() == big
            async with http.get(link[:-3] + "AAA") as r:  # tampered: no file
                assert r.status == 404
    finally:
        process.kill()


async def test_the_kinds_of_message_shops_get(relay):
    _process, tg, token, smtp = relay
    user = tg.customer("Юлія", "Мельник")
    original = await tg.push_text(token, user, "Потрібно 100 флаєрів")
    await smtp.wait_for(1, timeout=10)  # the first contact's email, then the rest in order
    await tg.push_edit(token, original, "Потрібно 200 флаєрів")
    await tg.push_contact(token, user, phone="380671234567")
    await tg.push_location(token, user)
    await tg.push_file(token, user, "voice")
    await tg.push_file(token, user, "sticker")
    await smtp.wait_for(6, timeout=15)
    bodies = [m.message.get_body(("plain",)).get_content() for m in smtp.messages]
    assert "Before:\r\n> Потрібно 100 флаєрів" in bodies[1]  # the edit: both texts
    assert "Now:\r\n> Потрібно 200 флаєрів" in bodies[1]
    assert "+380671234567" in bodies[2]  # the phone shared by the customer ...
    assert "+380671234567" in bodies[3]  # ... is on every later email
    assert "maps" in bodies[3] and "50.45" in bodies[3]
    voice = [p.get_filename() for p in smtp.messages[4].message.walk() if p.get_filename()]
    assert len(voice) == 1 and voice[0].endswith(".ogg")
    assert "sticker" in bodies[5]
    subjects = {m.message["Subject"] for m in smtp.messages}
    assert len(subjects) == 1  # one thread
