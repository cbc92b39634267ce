"""The Messenger round trip with `im2mail run`: the owner saves the callback URL and verify
token in Meta's dashboard (the double makes Meta's verification GET), a customer writes to
the Page (a signed webhook POST), the managers get an email, a manager answers with Reply
(pymap), and the customer gets it through the Send API; files both ways; and the 24-hour
window, with the human agent tag and past it."""

from __future__ import annotations

import asyncio
import json
from email.message import EmailMessage

import pytest

from im2mail import secrets, signing
from im2mail.testing.messenger_api import JPEG, MessengerDouble, MessengerUser
from im2mail.testing.meta import WebhookNotVerified
from tests.conftest import run_cli, run_installed
from tests.e2e.relay_rig import MANAGERS, archived, tail_record
from tests.support.mailbox import reply_to

pytestmark = pytest.mark.e2e

ANNA, _ = MANAGERS
GREETING = "Вітаємо! Чим допомогти?"  # relay_rig's
PICTURE = JPEG + bytes(range(256)) * 16


class Shop:
    def __init__(self, process, messenger: MessengerDouble, page, smtp, mailbox, port) -> None:
        self.process, self.messenger, self.page = process, messenger, page
        self.smtp, self.mailbox, self.port = smtp, mailbox, port
        self.callback = f"http://127.0.0.1:{port}/messenger/fb"

    async def writes(self, user: MessengerUser, text: str) -> EmailMessage:
        before = len(self.smtp.messages)
        delivery = await self.messenger.push_text(self.page.token, user, text)
        assert delivery.status == 200, delivery.text
        await self.smtp.wait_for(before + 1, timeout=10)
        return self.smtp.messages[before].message

    def emails_to(self, address: str) -> list[EmailMessage]:
        return [m.message for m in self.smtp.messages if address in m.rcpt_tos]


@pytest.fixture
def messenger(messenger_api: MessengerDouble) -> MessengerDouble:
    return messenger_api


@pytest.fixture
async def shop(running_relay, messenger, smtp_server, imap_server, mailbox):
    page = messenger.add_page("Друкарня «Аркуш»", "arkush.print")
    secrets.put("bot:fb", page.secret)
    process = await running_relay(
        imap=imap_server,
        extra_bots=f'\n[[bots]]\nname = "fb"\nchannel = "messenger"\napi_url = "{messenger.url}"\n',
    )  # fmt: skip
    shop = Shop(process, messenger, page, smtp_server, mailbox, process.port)
    verify = signing.webhook_secret(secrets.get(secrets.SIGNING_KEY), "fb")
    await messenger.configure_webhook(page.token, shop.callback, verify)
    return shop


async def test_meta_s_check_passes_with_our_verify_token_and_fails_with_another(shop):
    assert shop.page.webhook == shop.callback  # saved: the GET was answered
    with pytest.raises(WebhookNotVerified, match="HTTP Status Code = 403"):
        await shop.messenger.configure_webhook(shop.page.token, shop.callback, "guessed")
    # The relay subscribed the Page to the app's events when it started.
    assert shop.messenger.calls("me/subscribed_apps", "POST")
    printed = await asyncio.to_thread(run_installed, "webhook", "set", "fb")  # the double answers
    assert printed.code == 0, printed.both
    assert f"Callback URL:  {shop.callback}" in printed.out
    verify = signing.webhook_secret(secrets.get(secrets.SIGNING_KEY), "fb")
    assert f"Verify token:  {verify}" in printed.out


async def test_a_message_becomes_an_email_and_the_reply_a_send(shop):
    olena = shop.messenger.customer("Олена", "Коваль")
    email = await shop.writes(olena, "Скільки коштують 500 візиток?")

    # The webhook names no one: the relay asked Messenger for her profile, once.
    assert email["Subject"].startswith("[Messenger] Олена Коваль #")
    text = email.get_body(("plain",)).get_content()
    assert "500 візиток" in text and "reply by " in text
    greeting = await shop.messenger.wait_for_sent(olena.id, 1, timeout=10)
    assert greeting[0].text == GREETING

    shop.mailbox.put(reply_to(email, "Добрий день! 500 візиток — 450 грн."))
    sent = await shop.messenger.wait_for_sent(olena.id, 2, timeout=10)
    assert (sent[1].text, sent[1].messaging_type) == ("Добрий день! 500 візиток — 450 грн.",
                                                       "RESPONSE")  # fmt: skip
    # Messenger's read receipt names no message, only a time: the reply sent before it is
    # seen (sent: recorded once Messenger answered the send, a moment after it got it).
    answer = "Добрий день! 500 візиток — 450 грн."
    sent_at = "SELECT sent FROM messages WHERE text = ? AND sent IS NOT NULL"
    await shop.messenger.wait_until(lambda: archived(sent_at, answer), timeout=10)
    assert (await shop.messenger.push_read(shop.page.token, olena)).status == 200
    await shop.messenger.wait_until(lambda: tail_record(answer).get("seen"), timeout=10)
    listed = json.loads(run_cli("conversations", "--json").out.splitlines()[0])
    assert listed["channel"] == "messenger" and listed["reply_window_closes"]
    again = await shop.writes(olena, "А на крейдованому папері?")
    assert again["Subject"] == email["Subject"]
    assert len(shop.messenger.calls(olena.id, "GET")) == 1


async def test_a_customer_whose_profile_messenger_won_t_give_is_still_mailed(shop):
    olena = shop.messenger.customer("Олена", "Коваль")
    shop.messenger.fail(olena.id, 100, 33, message="(#100) Unsupported get request.")

    email = await shop.writes(olena, "Добрий вечір")

    assert email["Subject"].startswith(f"[Messenger] Customer {olena.id} #")
    assert "no name for" in shop.process.log


async def test_the_same_delivery_twice_is_one_email(shop):
    olena = shop.messenger.customer("Олена")
    body = {"text": "Двічі?"}
    first = await shop.messenger.push_message(shop.page.token, olena, body, mid="m_same.1")
    again = await shop.messenger.push_message(shop.page.token, olena, body, mid="m_same.1")
    assert (first.status, again.status) == (200, 200)
    await shop.smtp.wait_for(1, timeout=10)
    await shop.messenger.wait_for_sent(olena.id, 1, timeout=10)  # the greeting, once
    assert len(shop.smtp.messages) == 1


async def test_a_post_with_a_bad_signature_is_403_and_not_stored(shop):
    olena = shop.messenger.customer("Олена")
    event = {"object": "page", "entry": [{"id": shop.page.id, "time": 1, "messaging": [
        {"sender": {"id": olena.id}, "recipient": {"id": shop.page.id}, "timestamp": 1,
         "message": {"mid": "m_forged", "text": "підробка"}}]}]}  # fmt: skip
    body = json.dumps(event).encode()
    forged = await shop.messenger.push_raw(shop.page.token, body, signature="sha256=" + "0" * 64)
    unsigned = await shop.messenger.push_raw(shop.page.token, body, signature="")
    assert (forged.status, unsigned.status) == (403, 403)
    assert "failed its signature check" in shop.process.log
    assert run_cli("search", "підробка").out == ""


async def test_pictures_both_ways(shop):
    olena = shop.messenger.customer("Олена")
    delivery = await shop.messenger.push_image(shop.page.token, olena, PICTURE, "maket.jpg")
    assert delivery.status == 200
    await shop.smtp.wait_for(1, timeout=10)
    email = shop.smtp.messages[0].message
    (part,) = [p for p in email.walk() if p.get_content_type() == "image/jpeg"]
    assert part.get_content() == PICTURE

    reply = reply_to(email, "Ось виправлений макет")
    reply.add_attachment(PICTURE, maintype="image", subtype="jpeg", filename="макет-2.jpg")
    shop.mailbox.put(reply)
    await shop.messenger.wait_until(lambda: shop.messenger.uploads(olena.id), timeout=10)
    (upload,) = shop.messenger.uploads(olena.id)
    assert (upload.data, upload.filename, upload.attachment_type) == (PICTURE, "макет-2.jpg",
                                                                       "image")  # fmt: skip


async def test_after_24_hours_the_reply_goes_with_the_human_agent_tag(shop):
    olena = shop.messenger.customer("Олена")
    email = await shop.writes(olena, "Чи готове замовлення?")
    await shop.messenger.wait_for_sent(olena.id, 1, timeout=10)
    shop.messenger.age(shop.page.token, olena, hours=30)

    shop.mailbox.put(reply_to(email, "Так, готове, забирайте"))
    sent = await shop.messenger.wait_for_sent(olena.id, 2, timeout=10)
    assert (sent[1].text, sent[1].messaging_type, sent[1].tag) == (
        "Так, готове, забирайте", "MESSAGE_TAG", "HUMAN_AGENT")  # fmt: skip


async def test_past_seven_days_the_manager_is_told_why_nothing_went(shop):
    olena = shop.messenger.customer("Олена")
    email = await shop.writes(olena, "Дякую!")
    await shop.messenger.wait_for_sent(olena.id, 1, timeout=10)
    shop.messenger.age(shop.page.token, olena, hours=8 * 24)

    reply = reply_to(email, "Будь ласка, звертайтесь")
    shop.mailbox.put(reply)
    await shop.smtp.wait_for(2, timeout=15)
    (notice,) = shop.emails_to(ANNA)[1:]
    assert notice["In-Reply-To"] == reply["Message-ID"]
    text = " ".join(notice.get_body(("plain",)).get_content().split())
    assert "24 hours" in text and "write to the Page again" in text
    assert "Будь ласка, звертайтесь" in text
    assert len(shop.messenger.sent_messages(olena.id)) == 1  # the greeting only
