"""The WhatsApp round trip with `im2mail run`: the owner saves the callback URL and verify
token in Meta's dashboard (the Cloud API double makes Meta's verification GET), a customer
writes (a signed webhook POST), the managers get an email, a manager answers with Reply
(pymap), and the customer gets it through the Cloud API; media both ways (the customer's
fetched at once: its URL expires); statuses as receipts; and the 24-hour window."""

from __future__ import annotations

import asyncio
import json
from email.message import EmailMessage

import pytest

from im2mail import secrets, signing
from im2mail.testing.whatsapp_api import JPEG, WaUser, WebhookRefused, WhatsAppDouble
from tests.conftest import run_installed
from tests.e2e.relay_rig import MANAGERS, tail_record
from tests.support.mailbox import reply_to

pytestmark = pytest.mark.e2e

ANNA, _ = MANAGERS
GREETING = "Вітаємо! Чим допомогти?"  # relay_rig's
PICTURE = JPEG + bytes(range(256)) * 16


class Shop:
    def __init__(self, process, whatsapp: WhatsAppDouble, number, smtp, mailbox, port) -> None:
        self.process, self.whatsapp, self.number = process, whatsapp, number
        self.smtp, self.mailbox = smtp, mailbox
        self.callback = f"http://127.0.0.1:{port}/whatsapp/wa"

    async def writes(self, user: WaUser, text: str) -> EmailMessage:
        before = len(self.smtp.messages)
        delivery = await self.whatsapp.push_text(self.number, user, text)
        assert delivery.status == 200, delivery
        await self.smtp.wait_for(before + 1, timeout=10)
        return self.smtp.messages[before].message

    async def sent(self, user: WaUser, count: int):
        return await self.whatsapp.wait_for_sent(user.wa_id, count, timeout=10)

    def emails_to(self, address: str) -> list[EmailMessage]:
        return [m.message for m in self.smtp.messages if address in m.rcpt_tos]


@pytest.fixture
def whatsapp(whatsapp_api: WhatsAppDouble) -> WhatsAppDouble:
    return whatsapp_api


@pytest.fixture
async def shop(running_relay, whatsapp, smtp_server, imap_server, mailbox):
    number = whatsapp.add_number("Друкарня «Аркуш»", "+380 44 123 4567")
    table = (f'\n[[bots]]\nname = "wa"\nchannel = "whatsapp"\napi_url = "{whatsapp.url}"\n'
             f'phone_number_id = "{number.phone_number_id}"\n')  # fmt: skip
    secrets.put("bot:wa", number.secret)
    process = await running_relay(imap=imap_server, extra_bots=table)
    shop = Shop(process, whatsapp, number, smtp_server, mailbox, process.port)
    verify = signing.webhook_secret(secrets.get(secrets.SIGNING_KEY), "wa")
    await whatsapp.set_webhook(number, shop.callback, verify)
    return shop


async def test_meta_s_check_passes_with_our_verify_token_only(shop):
    assert shop.number.webhook == shop.callback
    with pytest.raises(WebhookRefused):
        await shop.whatsapp.set_webhook(shop.number, shop.callback, "guessed")
    info = await asyncio.to_thread(run_installed, "webhook", "info")
    assert "wa\t(in Meta's dashboard) callback URL " in info.out


async def test_a_message_becomes_an_email_and_the_reply_a_cloud_api_message(shop):
    oksana = shop.whatsapp.customer("Оксана Мельник")
    email = await shop.writes(oksana, "Добрий день! Чи друкуєте наліпки?")

    assert email["Subject"].startswith("[WhatsApp] Оксана Мельник #")
    text = email.get_body(("plain",)).get_content()
    assert "Чи друкуєте наліпки?" in text and f"+{oksana.wa_id}" in text and "reply by" in text
    (greeting,) = await shop.sent(oksana, 1)
    assert greeting.text == GREETING

    shop.mailbox.put(reply_to(email, "Так, від 100 шт."))
    sent = await shop.sent(oksana, 2)
    assert (sent[1].type, sent[1].text) == ("text", "Так, від 100 шт.")
    # The statuses that follow land on the reply as receipts.
    assert (await shop.whatsapp.push_status(shop.number, oksana, sent[1].id, "read")).status == 200
    await shop.whatsapp.wait_until(lambda: tail_record("Так, від 100 шт.").get("seen"), timeout=10)


async def test_the_same_delivery_twice_is_one_email(shop):
    oksana = shop.whatsapp.customer("Оксана")
    message = {"type": "text", "text": {"body": "Двічі?"}}
    for _ in range(2):
        delivery = await shop.whatsapp.push_message(shop.number, oksana, message, ident="wamid.S1")
        assert delivery.status == 200
    await shop.smtp.wait_for(1, timeout=10)
    await shop.sent(oksana, 1)  # the greeting, once
    assert len(shop.smtp.messages) == 1


async def test_a_post_with_a_bad_signature_is_403_and_not_stored(shop):
    body = json.dumps({"object": "whatsapp_business_account", "entry": []}).encode()
    forged = await shop.whatsapp.push_raw(shop.number, body, signature="sha256=" + "ab" * 32)
    assert forged.status == 403
    assert "failed its signature check" in shop.process.log


async def test_pictures_both_ways(shop):
    oksana = shop.whatsapp.customer("Оксана")
    delivery = await shop.whatsapp.push_image(shop.number, oksana, PICTURE, caption="Макет")
    assert delivery.status == 200
    await shop.smtp.wait_for(1, timeout=10)
    email = shop.smtp.messages[0].message
    (part,) = [p for p in email.walk() if p.get_content_type() == "image/jpeg"]
    assert part.get_content() == PICTURE
    assert "Макет" in email.get_body(("plain",)).get_content()

    reply = reply_to(email, "Виправлений")
    reply.add_attachment(PICTURE, maintype="image", subtype="jpeg", filename="макет-2.jpg")
    shop.mailbox.put(reply)
    sent = await shop.sent(oksana, 2)
    assert (sent[-1].type, sent[-1].media.data) == ("image", PICTURE)


async def test_after_24_hours_the_manager_is_told_why_nothing_went(shop):
    oksana = shop.whatsapp.customer("Оксана")
    email = await shop.writes(oksana, "Дякую!")
    await shop.sent(oksana, 1)
    shop.whatsapp.age(shop.number, oksana, hours=25)

    reply = reply_to(email, "Будь ласка!")
    shop.mailbox.put(reply)
    await shop.smtp.wait_for(2, timeout=15)
    (notice,) = shop.emails_to(ANNA)[1:]
    assert notice["In-Reply-To"] == reply["Message-ID"]
    text = " ".join(notice.get_body(("plain",)).get_content().split())
    assert "within 24 hours" in text and "approved template" in text
    assert "Будь ласка!" in text
    assert len(shop.whatsapp.sent_messages(oksana.wa_id)) == 1  # the greeting only


async def test_a_failed_status_comes_back_to_the_manager(shop):
    oksana = shop.whatsapp.customer("Оксана")
    email = await shop.writes(oksana, "Надішліть рахунок")
    await shop.sent(oksana, 1)
    reply = reply_to(email, "Рахунок надіслано")
    shop.mailbox.put(reply)
    sent = await shop.sent(oksana, 2)

    error = {"code": 131026, "title": "Message undeliverable",
             "message": "Message undeliverable",
             "error_data": {"details": "Message Undeliverable."}}  # fmt: skip
    failed = await shop.whatsapp.push_status(shop.number, oksana, sent[1].id, "failed", [error])

    assert failed.status == 200
    await shop.whatsapp.wait_until(lambda: len(shop.emails_to(ANNA)) == 2, timeout=10)
    notice = shop.emails_to(ANNA)[1]
    assert notice["In-Reply-To"] == reply["Message-ID"]
    assert "Message undeliverable" in notice.get_body(("plain",)).get_content()
