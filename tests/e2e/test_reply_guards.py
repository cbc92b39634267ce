"""Replies that must not reach the customer as they are, through the real relay (`im2mail
run` against pymap, aiosmtpd and the Telegram double): an answer to an email whose reply
address was rotated (by the owner, or because a manager left), a reply that would become
too many chat messages, a reply with a broken transfer encoding. Each time the customer
gets nothing and a current manager who wrote it gets a notice in the thread."""

from __future__ import annotations

import asyncio
import base64
from email.message import EmailMessage

import pytest

from im2mail.mail.routing import recipient_tokens
from tests.conftest import run_installed
from tests.e2e import test_replies
from tests.e2e.relay_rig import MANAGERS, RelayProcess, write_home
from tests.e2e.test_replies import Shop
from tests.support.mailbox import reply_to

pytestmark = pytest.mark.e2e

ANNA, PETRO = MANAGERS
MAILBOX = "orders@shop.example"
shop = test_replies.shop  # the running relay of test_replies.py, reused as it is


def token_of(email: EmailMessage) -> str:
    """The +token of the Reply-To address of an email we sent."""
    (token,) = recipient_tokens(_as_recipient(email), MAILBOX)
    return token


def _as_recipient(email: EmailMessage) -> EmailMessage:
    probe = EmailMessage()
    probe["To"] = str(email["Reply-To"])
    return probe


def text_of(email: EmailMessage) -> str:
    return email.get_body(("plain",)).get_content()  # type: ignore[union-attr]


async def notice_to(relay: Shop, address: str, count: int) -> EmailMessage:
    """The `count`-th email to `address` (1 is the first), once it has come."""
    await relay.tg.wait_until(lambda: len(relay.emails_to(address)) >= count, timeout=10)
    return relay.emails_to(address)[count - 1]


async def test_after_rotate_token_an_old_email_gets_a_notice_and_a_new_one_goes(shop):
    user, first = await shop.customer_writes("Скільки коштує друк А3?")
    conversation = first["X-Im2mail-Conversation"]
    rotated = await asyncio.to_thread(run_installed, "conversations", "rotate-token", conversation)
    assert rotated.code == 0, rotated.err
    assert f"conversation #{conversation} got a new reply address" in rotated.err
    assert rotated.out == ""  # stdout is data; this is talk

    old = reply_to(first, "Оплатіть на картку 5375 4141 0000 0000")
    shop.mailbox.put(old)
    notice = await notice_to(shop, ANNA, 2)
    assert notice["Auto-Submitted"] == "auto-generated"
    assert notice["In-Reply-To"] == old["Message-ID"]
    words = " ".join(text_of(notice).split())
    assert "reply address of this conversation was changed" in words
    assert "rotated by the owner" in words and "newest email" in words
    assert token_of(notice) != token_of(first)  # replying to the notice works
    await shop.tg.wait_until(lambda: old["Message-ID"] in shop.mailbox.subjects("im2mail"))
    assert shop.tg.sent_messages(user.id) == []  # handled, and nothing reached the customer
    assert len(shop.emails_to(PETRO)) == 1  # no team notice for what was not sent

    before = len(shop.smtp.messages)
    await shop.tg.push_text(shop.token, user, "Алло?")
    await shop.smtp.wait_for(before + 1, timeout=10)
    second = shop.smtp.messages[before].message
    assert token_of(second) != token_of(first)
    shop.mailbox.put(reply_to(second, "120 грн за аркуш"))
    sent = await shop.tg.wait_for_sent(user.id, 1, timeout=10)
    assert [s.text for s in sent] == ["120 грн за аркуш"]


async def test_rotate_token_for_a_conversation_that_does_not_exist_is_exit_5(shop):
    result = await asyncio.to_thread(run_installed, "conversations", "rotate-token", "999")
    assert result.code == 5
    assert "no conversation #999" in result.err


async def test_a_too_long_reply_is_not_sent_and_its_author_is_told(shop):
    user, email = await shop.customer_writes("Надішліть умови договору")
    paragraph = "Умови договору, пункт за пунктом. " * 110  # ~3700 characters: one message
    reply = reply_to(email, "\n\n".join([paragraph.strip()] * 9))  # nine, one over 8
    shop.mailbox.put(reply)
    notice = await notice_to(shop, ANNA, 2)
    assert notice["In-Reply-To"] == reply["Message-ID"]
    words = " ".join(text_of(notice).split())
    assert "9 separate chat messages" in words and "relay.max_reply_messages" in words
    assert "in a file" in words
    await shop.quiet()
    assert shop.tg.sent_messages(user.id) == []  # not the first eight either


async def test_a_reply_with_broken_base64_is_not_sent_and_the_part_is_named(shop):
    user, email = await shop.customer_writes("Надішліть рахунок")
    reply = reply_to(email, "Рахунок у вкладенні")
    pdf = b"%PDF-1.7\n" + bytes(range(256)) * 4
    reply.add_attachment(pdf, maintype="application", subtype="pdf", filename="rahunok.pdf")
    raw = reply.as_bytes()
    good = base64.encodebytes(pdf).split(b"\n")[0]  # the first line of the file's base64
    assert good in raw
    shop.mailbox.client.append("INBOX", raw.replace(good, good[:30] + b"!!*" + good[33:]))
    notice = await notice_to(shop, ANNA, 2)
    words = " ".join(text_of(notice).split())
    assert "'rahunok.pdf'" in words and "base64" in words and "nothing was sent" in words
    await shop.quiet()
    assert shop.tg.sent_messages(user.id) == []


async def test_removing_a_manager_rotates_every_token_at_the_next_start(
    isolated_home, telegram_api, smtp_server, imap_server, mailbox
):
    token = telegram_api.add_bot("shop_bot", "Shop")

    def configure(managers: list[str]) -> int:
        return write_home(isolated_home, api_url=telegram_api.url, token=token,
                          smtp_port=smtp_server.port, imap=imap_server, greeting=None,
                          managers=managers)  # fmt: skip

    relay = RelayProcess(isolated_home, configure([ANNA, PETRO]))
    guarded = Shop(relay, telegram_api, token, smtp_server, mailbox)
    try:
        await relay.wait_healthy()
        olena, to_olena = await guarded.customer_writes("Добрий день", first_name="Олена")
        taras, to_taras = await guarded.customer_writes("Вітаю", first_name="Тарас")
        assert (await relay.terminate())[0] == 0

        port = configure([ANNA])  # Petro has left; he still has both emails
        relay = guarded.process = RelayProcess(isolated_home, port)
        await relay.wait_healthy()
        line = "petro@shop.example no longer in mail.managers: gave all 2 conversation(s)"
        assert line in relay.log

        from_petro = reply_to(to_olena, "Це Петро, оплатіть мені", sender=PETRO)
        from_anna = reply_to(to_taras, "Добрий день, Тарасе")
        mailbox.put(from_petro)
        mailbox.put(from_anna)
        notice = await notice_to(guarded, ANNA, 3)  # two customer emails, then the notice
        assert notice["In-Reply-To"] == from_anna["Message-ID"]
        assert "no longer in mail.managers" in " ".join(text_of(notice).split())
        await guarded.quiet()
        assert telegram_api.sent_messages(olena.id) == telegram_api.sent_messages(taras.id) == []
        assert len(guarded.emails_to(PETRO)) == 2  # never a notice to someone not a manager
        inbox = mailbox.subjects("INBOX")
        assert b"\\Seen" not in inbox[from_petro["Message-ID"]]  # left alone, unread

        assert (await relay.terminate())[0] == 0
        relay = guarded.process = RelayProcess(isolated_home, port)
        await relay.wait_healthy()
        assert "no longer in mail.managers" not in relay.log  # rotated once, not every start
        before = len(smtp_server.messages)
        await telegram_api.push_text(token, taras, "То що з замовленням?")
        await smtp_server.wait_for(before + 1, timeout=10)
        newer = smtp_server.messages[before].message
        assert token_of(newer) != token_of(to_taras)
        mailbox.put(reply_to(newer, "Готове, забирайте"))
        sent = await telegram_api.wait_for_sent(taras.id, 1, timeout=10)
        assert [s.text for s in sent] == ["Готове, забирайте"]
    finally:
        relay.kill()
        print(relay.log)  # shown when a test fails
