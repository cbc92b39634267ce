"""The Viber round trip with `im2mail run`: a customer writes to the Viber bot (the Viber
API double calls the relay's webhook, signed), the managers get an email (the SMTP test
server), a manager answers with Reply (put in the shop mailbox on pymap), and the customer
gets the answer through send_message; files go by the relay's signed links, which the
double downloads as Viber does. Plus the callbacks that carry no message."""

from __future__ import annotations

import asyncio
import json
from email.message import EmailMessage

import aiohttp
import pytest

from im2mail import secrets, signing
from im2mail.archive import Archive
from im2mail.home import paths
from im2mail.testing.viber_api import JPEG, ViberDouble, ViberUser
from tests.conftest import run_cli
from tests.e2e.relay_rig import MANAGERS, SMTP_PASSWORD, tail_record
from tests.support.clock import Clock
from tests.support.mailbox import reply_to

pytestmark = pytest.mark.e2e

ANNA, PETRO = MANAGERS
GREETING = "Вітаємо у Друкарні! Напишіть, що надрукувати."
PICTURE = JPEG + bytes(range(256)) * 64  # 16 kB, a "real" picture for Viber (JPEG, < 1 MB)


class Shop:
    def __init__(self, process, viber: ViberDouble, token: str, smtp, mailbox) -> None:
        self.process, self.viber, self.token, self.smtp, self.mailbox = (
            process, viber, token, smtp, mailbox,
        )  # fmt: skip

    async def writes(self, user: ViberUser, text: str) -> EmailMessage:
        """`user` writes `text`; the email the managers got."""
        before = len(self.smtp.messages)
        delivery = await self.viber.push_text(self.token, user, text)
        assert delivery.status == 200, delivery.text
        await self.smtp.wait_for(before + 1, timeout=10)
        return self.smtp.messages[before].message

    def emails_to(self, address: str) -> list[EmailMessage]:
        return [m.message for m in self.smtp.messages if address in m.rcpt_tos]

    def archived(self) -> list:
        with Archive.open(paths().archive) as archive:
            return archive.recent(50)


@pytest.fixture
def viber_clock() -> Clock:
    """The Viber double's time, for its links' expiry: still until a test moves it."""
    return Clock()


@pytest.fixture
async def viber(doubles, viber_clock) -> ViberDouble:
    return await doubles("viber", media_ttl=3.0, clock=viber_clock.time)


@pytest.fixture
async def shop(running_relay, viber, smtp_server, imap_server, mailbox):
    """A running relay with a Telegram bot and the Viber bot 'vshop' (its webhook set by
    the relay at start), reading replies from pymap. `@pytest.mark.debug_log`: with
    `im2mail --debug run`."""
    token = viber.add_bot("Друкарня «Аркуш»", "arkush", "https://shop.example/logo.png",
                          auto_receipts=True)  # fmt: skip
    process = await running_relay(imap=imap_server, greeting=GREETING, viber=(viber.url, token))
    return Shop(process, viber, token, smtp_server, mailbox)


async def test_the_relay_registers_its_webhook_and_passes_viber_s_check(shop):
    hook = shop.viber.webhook(shop.token)
    assert hook is not None and hook["url"].endswith("/viber/vshop")
    assert hook["send_name"]  # customers' names come in the callbacks
    (check,) = [d for d in shop.viber.deliveries if d.event == "webhook"]
    assert check.status == 200


async def test_a_viber_message_becomes_an_email_and_the_answer_a_send_message(shop):
    oksana = shop.viber.customer("Оксана Мельник")
    email = await shop.writes(oksana, "Скільки коштують 500 флаєрів А5?")
    # The 200 came only once the message was in the archive.
    assert [e.text for e in shop.archived() if e.direction == "in"] == [
        "Скільки коштують 500 флаєрів А5?"
    ]
    assert email["Subject"].startswith("[Viber] Оксана Мельник #")
    assert "via Viber" in email["From"]
    assert "500 флаєрів А5" in email.get_body(("plain",)).get_content()
    # First contact: the greeting went out by send_message (she is subscribed now).
    (greeting,) = await shop.viber.wait_for_sent(oksana.id, 1, timeout=10)
    assert greeting.text == GREETING
    assert greeting.sender_name == "Друкарня «Аркуш»"

    reply = reply_to(email, "Добрий день! 500 флаєрів — 900 грн, завтра до обіду.")
    shop.mailbox.put(reply)
    sent = await shop.viber.wait_for_sent(oksana.id, 2, timeout=10)
    assert (sent[1].type, sent[1].text) == (
        "text", "Добрий день! 500 флаєрів — 900 грн, завтра до обіду.",
    )  # fmt: skip
    await shop.smtp.wait_for(2, timeout=10)
    (team,) = shop.emails_to(PETRO)[1:]  # the other manager hears of it, in the thread
    assert team["In-Reply-To"] == reply["Message-ID"]
    # Viber's delivered and seen callbacks land on the reply: tail shows them.
    await shop.viber.wait_until(lambda: tail_record(sent[1].text).get("seen"), 10)
    record = tail_record(sent[1].text)
    assert record["delivered"] is not None and record["author"] == ANNA
    line = run_cli("tail", "-n", "5")
    assert "✓✓ seen" in line.out


async def test_a_repeated_callback_is_mailed_once_and_a_forged_one_refused(shop):
    oksana = shop.viber.customer("Оксана")
    first = await shop.viber.push_text(shop.token, oksana, "Макет готовий?")
    again = await shop.viber.push_raw(shop.token, first.body)  # Viber retrying the same
    assert (first.status, again.status) == (200, 200)
    await shop.smtp.wait_for(1, timeout=10)
    forged = first.body.replace("Макет".encode("unicode_escape"), b"\\u0425\\u0430")
    forged = forged.replace(b'"message_token":', b'"message_token":1', 1)
    refused = await shop.viber.push_raw(shop.token, forged, signature="0" * 64)
    assert refused.status == 403
    await asyncio.sleep(1.0)
    assert len(shop.smtp.messages) == 1
    texts = [e.text for e in shop.archived() if e.direction == "in"]
    assert texts == ["Макет готовий?"]
    assert "failed its signature check (403)" in shop.process.log


async def test_an_opened_chat_gets_the_greeting_as_the_answer_and_keeps_the_source(shop):
    visitor = shop.viber.customer("Ігор")
    delivery = await shop.viber.push_conversation_started(shop.token, visitor, context="flyer-1")
    assert delivery.status == 200
    assert delivery.json["type"] == "text" and delivery.json["text"] == GREETING
    (welcome,) = shop.viber.sent_messages(visitor.id)
    assert welcome.welcome and welcome.sender_name == "Друкарня «Аркуш»"
    assert shop.smtp.messages == []  # nothing for the managers until he writes
    email = await shop.writes(visitor, "Хочу візитки")
    assert "flyer-1" in email.get_body(("plain",)).get_content()  # the lead source
    result = run_cli("conversations", "--json")
    (row,) = [json.loads(line) for line in result.out.splitlines()]
    assert (row["channel"], row["source"]) == ("viber", "flyer-1")
    assert len(shop.viber.sent_messages(visitor.id)) == 1  # greeted once, not twice


async def test_pictures_both_ways(shop, viber_clock):
    oksana = shop.viber.customer("Оксана")
    before = len(shop.smtp.messages)
    delivery = await shop.viber.push_picture(shop.token, oksana, PICTURE, "maket.jpg", "Ось")
    assert delivery.status == 200
    await shop.smtp.wait_for(before + 1, timeout=10)
    email = shop.smtp.messages[before].message
    (part,) = [p for p in email.walk() if p.get_content_type() == "image/jpeg"]
    assert part.get_content() == PICTURE
    viber_clock.advance(3.5)  # Viber's link has expired by now: the archive kept the bytes
    media_url = json.loads(delivery.body)["message"]["media"]
    assert shop.viber.media(media_url).downloads == 1

    reply = reply_to(email, "Ось виправлений макет")
    reply.add_attachment(PICTURE, maintype="image", subtype="jpeg", filename="new.jpg")
    shop.mailbox.put(reply)
    sent = await shop.viber.wait_for_sent(oksana.id, 2, timeout=10)  # greeting + picture
    picture = sent[-1]
    assert (picture.type, picture.text, picture.data) == ("picture", "Ось виправлений макет",
                                                           PICTURE)  # fmt: skip
    assert picture.media.endswith("/new.jpg")  # Viber judges a picture by its URL's end
    # The link is signed: the same token serves the file, a changed one nothing.
    base = picture.media.rpartition("/")[0]
    token = base.rpartition("/")[2]
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/other.exe") as same:
            assert same.status == 200 and await same.read() == PICTURE
            assert "new.jpg" in same.headers["Content-Disposition"]  # the name is ours
        async with http.get(picture.media.replace(token, forged)) as bad:
            assert bad.status == 404


async def test_an_unsubscribed_customer_s_reply_comes_back_as_a_notice(shop):
    oksana = shop.viber.customer("Оксана")
    email = await shop.writes(oksana, "Дякую, більше не треба")
    await shop.viber.wait_for_sent(oksana.id, 1, timeout=10)  # the greeting
    assert (await shop.viber.push_unsubscribed(shop.token, oksana)).status == 200
    reply = reply_to(email, "Гарного дня!")
    shop.mailbox.put(reply)
    await shop.smtp.wait_for(2, timeout=10)
    (notice,) = shop.emails_to(ANNA)[1:]
    assert notice["Auto-Submitted"] == "auto-generated"
    assert notice["In-Reply-To"] == reply["Message-ID"]
    text = notice.get_body(("plain",)).get_content()
    assert "receiverNotSubscribed" in text and "Гарного дня!" in text
    assert len(shop.viber.sent_messages(oksana.id)) == 1  # only the greeting
    with Archive.open(paths().archive) as archive:
        (row,) = archive.conversations()
        assert archive.conversation(row.id).customer.blocked
        assert row.customer == "Оксана"  # the callback named only the id: name kept


async def test_a_failed_callback_and_a_forbidden_file_are_told_to_the_manager(shop):
    oksana = shop.viber.customer("Оксана")
    email = await shop.writes(oksana, "Надішліть програму")
    await shop.viber.wait_for_sent(oksana.id, 1, timeout=10)
    exe = reply_to(email, "Ось програма")
    exe.add_attachment(b"MZ\x90\x00", maintype="application", subtype="octet-stream",
                       filename="setup.exe")  # fmt: skip
    shop.mailbox.put(exe)
    await shop.smtp.wait_for(2, timeout=10)
    (notice,) = shop.emails_to(ANNA)[1:]
    assert "setup.exe" in notice.get_body(("plain",)).get_content()
    assert len(shop.viber.sent_messages(oksana.id)) == 1  # nothing of that reply went out

    shop.mailbox.put(reply_to(email, "Тоді посилання на сайті", Message_ID="<r2@mail.test>"))
    sent = await shop.viber.wait_for_sent(oksana.id, 2, timeout=10)
    failed = await shop.viber.push_failed(shop.token, oksana, sent[-1].message_token,
                                          desc="Message was not delivered")  # fmt: skip
    assert failed.status == 200
    await shop.viber.wait_until(lambda: len(shop.emails_to(ANNA)) == 3, timeout=10)
    last = shop.emails_to(ANNA)[2]
    assert last["In-Reply-To"] == "<r2@mail.test>"
    assert "Message was not delivered" in last.get_body(("plain",)).get_content()


async def test_a_failed_callback_for_the_second_message_of_a_reply_is_told_its_author(shop):
    """A reply with a PDF goes as two Viber messages, the text then the file; Viber calls
    back "failed" for the file's token alone: the reply's author hears of it."""
    oksana = shop.viber.customer("Оксана")
    email = await shop.writes(oksana, "Надішліть макет")
    await shop.viber.wait_for_sent(oksana.id, 1, timeout=10)  # the greeting
    reply = reply_to(email, "Ось макет", Message_ID="<r3@mail.test>")
    reply.add_attachment(b"%PDF-1.4 maket", maintype="application", subtype="pdf",
                         filename="maket.pdf")  # fmt: skip
    shop.mailbox.put(reply)
    sent = await shop.viber.wait_for_sent(oksana.id, 3, timeout=10)
    assert [m.type for m in sent[1:]] == ["text", "file"]
    failed = await shop.viber.push_failed(shop.token, oksana, sent[2].message_token,
                                          desc="Message was not delivered")  # fmt: skip
    assert failed.status == 200
    await shop.viber.wait_until(lambda: len(shop.emails_to(ANNA)) == 2, timeout=10)
    notice = shop.emails_to(ANNA)[1]
    assert notice["In-Reply-To"] == "<r3@mail.test>"
    text = notice.get_body(("plain",)).get_content()
    assert "did not reach Оксана in Viber" in text and "Message was not delivered" in text


@pytest.mark.debug_log
async def test_no_secret_reaches_the_log_even_with_debug(shop, telegram_api, imap_server):
    """A whole round trip both ways, a refused file and a forged callback, logged at DEBUG
    (viberbot logs its payloads, auth_token included, at DEBUG): no secret in the log."""
    oksana = shop.viber.customer("Оксана")
    email = await shop.writes(oksana, "Скільки коштує?")
    reply = reply_to(email, "100 грн")
    reply.add_attachment(PICTURE, maintype="image", subtype="jpeg", filename="price.jpg")
    shop.mailbox.put(reply)
    await shop.viber.wait_for_sent(oksana.id, 2, timeout=10)
    forged = await shop.viber.push_raw(shop.token, b'{"event":"message"}', signature="0" * 64)
    assert forged.status == 403
    log = shop.process.log
    assert " DEBUG " in log  # it really logged at DEBUG
    telegram_token = secrets.get("bot:shop")
    for secret in (shop.token, telegram_token, telegram_token.partition(":")[2],
                   SMTP_PASSWORD, imap_server.password, "ab" * 32):  # fmt: skip
        assert secret not in log
    hook = signing.webhook_secret("ab" * 32, "shop")
    assert hook not in log
