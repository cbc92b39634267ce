"""Telegram Business end to end with `im2mail run`: the shop owner connects the bot to their
personal Telegram (the double's business_connection), a customer writes to the owner's
account, the managers get the email (SMTP test server), a manager answers with Reply
(pymap), and the answer goes out through the connection (sendMessage with
business_connection_id) as the owner. The owner's own messages, a revoked connection and
deleted messages too."""

from __future__ import annotations

import asyncio
import json
from email.message import EmailMessage

import pytest

from im2mail.channels.telegram.channel import Telegram
from im2mail.channels.telegram.parse import ALLOWED_UPDATES
from tests.conftest import run_cli
from tests.e2e.relay_rig import MANAGERS, archived
from tests.support.mailbox import reply_to
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

ANNA, PETRO = MANAGERS
BUSINESS_UPDATES = ("business_connection", "business_message", "edited_business_message",
                    "deleted_business_messages")  # fmt: skip
GREETING = "Вітаємо! Чим допомогти?"


class Shop:
    """The running relay (reading replies from pymap) with the owner's account connected."""

    def __init__(self, process, tg, token, smtp, mailbox) -> None:
        self.process, self.tg, self.token, self.smtp, self.mailbox = (
            process, tg, token, smtp, mailbox,
        )  # fmt: skip
        self.owner = tg.customer("Ірина", "Шевченко", username="iryna_shop")
        self.connection = ""

    async def connect(self, change: str = "connected", **rights) -> None:
        self.connection = await self.tg.connect_business(self.token, self.owner, **rights)
        await self.changed(change)

    async def changed(self, change: str) -> None:
        """Wait until the relay has recorded the connection's change."""
        await wait_until(lambda: archived("SELECT change FROM business_connections")
                         == [(change,)])  # fmt: skip

    async def customer_writes(self, user, text: str) -> EmailMessage:
        before = len(self.smtp.messages)
        await self.tg.push_business_text(self.token, self.connection, user, text)
        await self.smtp.wait_for(before + 1, timeout=10)
        return self.smtp.messages[before].message

    def emails_to(self, address: str) -> list[EmailMessage]:
        return [m.message for m in self.smtp.messages if address in m.rcpt_tos]


@pytest.fixture
async def shop(running_relay, telegram_api, smtp_server, imap_server, mailbox) -> Shop:
    token = telegram_api.add_bot("shop_bot", "Shop")
    process = await running_relay(token=token, imap=imap_server, greeting=GREETING)
    return Shop(process, telegram_api, token, smtp_server, mailbox)


def body(email: EmailMessage) -> str:
    return email.get_body(("plain",)).get_content()


def tail() -> list[dict]:
    result = run_cli("tail", "--json", "-n", "20")
    assert result.code == 0, result.err
    return [json.loads(line) for line in result.out.splitlines()]


async def test_a_customer_of_the_owners_account_is_answered_through_the_connection(shop, olena):
    polls = await wait_until(lambda: shop.tg.calls("getUpdates"))  # healthy may come first
    polled = polls[-1].params["allowed_updates"]
    assert set(BUSINESS_UPDATES) <= set(polled)
    await shop.connect()
    email = await shop.customer_writes(olena, "Добрий день! Ще робите візитки на крафті?")
    sender = email["From"].addresses[0]
    assert sender.display_name == "Олена Коваль via Telegram (business: @iryna_shop)"
    assert email["Subject"] == "[Telegram (business: @iryna_shop)] Олена Коваль #1"
    assert "візитки на крафті" in body(email)

    shop.mailbox.put(reply_to(email, "Так, робимо. 200 шт — 450 грн."))
    (sent,) = await shop.tg.wait_for_sent(olena.id, 1, timeout=10)
    assert (sent.method, sent.text) == ("sendMessage", "Так, робимо. 200 шт — 450 грн.")
    assert sent.business_connection_id == shop.connection
    assert sent.message["from"]["id"] == shop.owner.id  # the customer sees the owner write
    # Nothing went to the customer's chat with the bot: no greeting, no auto-reply.
    assert [s.business_connection_id for s in shop.tg.sent_messages(olena.id)] == [shop.connection]
    # The other manager is told as usual; the reply coming back from Telegram as the
    # account's message is not archived twice.
    await shop.smtp.wait_for(2, timeout=10)
    (notice,) = shop.emails_to(PETRO)[1:]
    assert "answered Олена Коваль in Telegram (business: @iryna_shop)" in body(notice)
    await asyncio.sleep(1.5)
    outgoing = [r for r in tail() if r["direction"] == "out"]
    assert [(r["author"], r["text"]) for r in outgoing] == [(ANNA, sent.text)]

    status = json.loads(run_cli("status", "--json").out)
    (connection,) = status["business_connections"]
    assert (connection["account"], connection["can_reply"], connection["change"]) == (
        "@iryna_shop", True, "connected",
    )  # fmt: skip
    listed = run_cli("bot", "list").out
    assert "business: @iryna_shop (Ірина Шевченко), can reply" in listed
    assert "shop: business account @iryna_shop" in shop.process.log
    assert shop.token not in shop.process.log and shop.connection not in listed


async def test_the_owners_own_answer_is_archived_and_the_managers_told(shop, olena):
    await shop.connect()
    await shop.customer_writes(olena, "Скільки коштує банер 3х1?")
    await shop.tg.push_owner_text(shop.token, shop.connection, olena, "Банер 3х1 — 900 грн")
    await shop.smtp.wait_for(2, timeout=10)  # the customer's email, then the notice
    (notice,) = shop.smtp.messages[1:]
    assert sorted(notice.rcpt_tos) == sorted(MANAGERS)  # every manager: none of them wrote it
    assert notice.message["Auto-Submitted"] == "auto-generated"
    assert notice.message["In-Reply-To"] == shop.smtp.messages[0].message["Message-ID"]
    text = body(notice.message)
    assert "Ірина Шевченко answered Олена Коваль in Telegram (business: @iryna_shop)" in text
    assert "Банер 3х1 — 900 грн" in text
    answer = tail()[-1]
    assert (answer["direction"], answer["author"], answer["text"]) == (
        "out", "Ірина Шевченко", "Банер 3х1 — 900 грн",
    )  # fmt: skip
    assert shop.tg.sent_messages(olena.id) == []  # im2mail itself sent nothing


async def test_after_the_owner_disconnects_replies_are_refused_with_a_notice(shop, olena):
    await shop.connect()
    email = await shop.customer_writes(olena, "Коли буде готово?")
    await shop.tg.change_business(shop.token, shop.connection, enabled=False)
    await shop.changed("disconnected")
    assert "disconnected" in run_cli("bot", "list").out

    shop.mailbox.put(reply_to(email, "Завтра до обіду"))
    await shop.smtp.wait_for(2, timeout=10)
    (notice,) = shop.emails_to(ANNA)[1:]
    assert notice["Auto-Submitted"] == "auto-generated"
    text = body(notice)
    assert "Your reply did not reach Олена Коваль" in text
    assert "@iryna_shop has disconnected the bot from their account" in text
    assert "> Завтра до обіду" in text
    assert not [c for c in shop.tg.calls() if c.method.startswith("send")]

    # A message that still comes through the revoked connection: logged, not archived.
    await shop.tg.push_business_text(shop.token, shop.connection, olena, "Алло?")
    await wait_until(lambda: "who has disconnected the bot: not archived" in shop.process.log)
    assert "Алло?" not in [r["text"] for r in tail()]
    await asyncio.sleep(1)
    assert len(shop.smtp.messages) == 2


async def test_a_connection_without_the_reply_right_sends_nothing(shop, olena):
    await shop.connect("connected, without the right to reply", can_reply=False)
    email = await shop.customer_writes(olena, "Добрий вечір")
    shop.mailbox.put(reply_to(email, "Добрий!"))
    await shop.smtp.wait_for(2, timeout=10)
    (notice,) = shop.emails_to(ANNA)[1:]
    assert "without the right to reply" in body(notice)
    assert shop.tg.sent_messages(olena.id) == []


async def test_deleted_messages_are_marked_not_erased_and_the_managers_told(shop, olena):
    await shop.connect()
    first = await shop.tg.push_business_text(shop.token, shop.connection, olena, "Мій номер 067")
    await shop.customer_writes(olena, "Потрібні листівки")
    await shop.smtp.wait_for(2, timeout=10)
    message_id = first["business_message"]["message_id"]
    await shop.tg.push_business_deleted(shop.token, shop.connection, olena, [message_id])
    await shop.smtp.wait_for(3, timeout=10)
    notice = shop.smtp.messages[2].message
    assert sorted(shop.smtp.messages[2].rcpt_tos) == sorted(MANAGERS)
    assert notice["Subject"] == "[Telegram (business: @iryna_shop)] Олена Коваль #1"
    assert notice["In-Reply-To"] in {m.message["Message-ID"] for m in shop.smtp.messages[:2]}
    text = body(notice)
    assert "A message in the chat with Олена Коваль" in text and "was deleted" in text
    assert "> Мій номер 067" in text
    records = {r["text"]: r for r in tail()}
    assert "deleted" in records["Мій номер 067"] and "deleted" not in records["Потрібні листівки"]
    assert "(deleted " in run_cli("tail").out


async def test_the_webhook_asks_for_the_business_updates_too(telegram_api, token):
    async with Telegram("shop", token, telegram_api.url, timeout=2) as channel:
        await channel.set_webhook("https://bot.shop.example/telegram/shop", "s3cret")
    assert set(BUSINESS_UPDATES) <= set(telegram_api.webhook(token)["allowed_updates"])
    assert set(BUSINESS_UPDATES) <= set(ALLOWED_UPDATES)


async def test_a_connection_the_relay_missed_is_asked_of_telegram(shop, olena):
    # Connected while im2mail was not listening for it: the first message makes the relay
    # ask getBusinessConnection, and the chat is relayed as usual.
    shop.connection = await shop.tg.connect_business(shop.token, shop.owner, announce=False)
    email = await shop.customer_writes(olena, "Добрий день")
    assert email["Subject"] == "[Telegram (business: @iryna_shop)] Олена Коваль #1"
    (asked,) = shop.tg.calls("getBusinessConnection")
    assert asked.params["business_connection_id"] == shop.connection
    assert archived("SELECT change FROM business_connections") == [("connected",)]
    # One Telegram does not know either: logged and dropped.
    forged = shop.tg.business_message(shop.token, shop.connection, olena, text="Підробка")
    forged["business_connection_id"] = "forged-connection"
    await shop.tg.push_update(shop.token, {"business_message": forged})
    await wait_until(lambda: "unknown business connection forged-connection" in shop.process.log)
    assert "Підробка" not in [r["text"] for r in tail()]
