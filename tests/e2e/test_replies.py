"""The whole round trip with `im2mail run`: a customer writes to the bot (the Telegram
double), the managers get an email (the SMTP test server), a manager answers with Reply
(the reply is put in the shop mailbox on a real IMAP server, pymap), and the customer gets
the manager's words in Telegram. Plus everything that must NOT be relayed."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from email.message import EmailMessage

import pytest

from im2mail.archive import Archive
from im2mail.home import paths
from tests.conftest import REPO
from tests.e2e.relay_rig import MANAGERS, RelayProcess
from tests.support.imap_server import PASSWORD
from tests.support.mailbox import reply_to

pytestmark = pytest.mark.e2e

ANNA, PETRO = MANAGERS
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00"
    b"\x00\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe"
    b"\x92\xef\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture
async def shop(running_relay, telegram_api, smtp_server, imap_server, mailbox):
    """A running relay reading replies from pymap; a namespace of the parts."""
    token = telegram_api.add_bot("shop_bot", "Shop")
    process = await running_relay(token=token, imap=imap_server, greeting=None)
    return Shop(process, telegram_api, token, smtp_server, mailbox)


class Shop:
    def __init__(self, process, tg, token, smtp, mailbox) -> None:
        self.process, self.tg, self.token, self.smtp, self.mailbox = (
            process, tg, token, smtp, mailbox,
        )  # fmt: skip

    async def customer_writes(self, text: str, **names) -> tuple[object, EmailMessage]:
        """A new customer says `text`; returns them and the email the managers got."""
        user = self.tg.customer(**names) if names else self.tg.customer("Олена", "Петренко")
        before = len(self.smtp.messages)
        await self.tg.push_text(self.token, user, text)
        await self.smtp.wait_for(before + 1, timeout=10)
        return user, self.smtp.messages[before].message

    def emails_to(self, address: str) -> list[EmailMessage]:
        return [m.message for m in self.smtp.messages if address in m.rcpt_tos]

    async def quiet(self, seconds: float = 1.5) -> None:
        """Give the relay time to (wrongly) act on something."""
        await asyncio.sleep(seconds)


async def test_a_gmail_reply_reaches_the_customer_without_the_quote(shop):
    user, email = await shop.customer_writes("Скільки коштують 200 візиток?")
    reply = reply_to(email, "Добрий день! 200 візиток — 350 грн, готові завтра.")
    shop.mailbox.put(reply)

    sent = await shop.tg.wait_for_sent(user.id, 1, timeout=10)
    assert [s.text for s in sent] == ["Добрий день! 200 візиток — 350 грн, готові завтра."]
    # The other manager is told, in the same thread; the author is not.
    await shop.smtp.wait_for(2, timeout=10)
    (notice,) = shop.emails_to(PETRO)[1:]
    assert notice["Auto-Submitted"] == "auto-generated"
    assert notice["In-Reply-To"] == reply["Message-ID"]
    assert "Anna Koval" in notice.get_body(("plain",)).get_content()
    assert len(shop.emails_to(ANNA)) == 1
    # The reply left the inbox for the processed folder; the archive has it as Anna's.
    await shop.tg.wait_until(lambda: reply["Message-ID"] in shop.mailbox.subjects("im2mail"))
    assert reply["Message-ID"] not in shop.mailbox.subjects("INBOX")
    with Archive.open(paths().archive) as archive:
        (entry,) = [e for e in archive.recent(10) if e.direction == "out"]
    assert (entry.author, entry.text) == (ANNA, sent[0].text)
    # The log tells the story without a secret in it.
    log = shop.process.log
    assert "reply from anna@shop.example" in log and "delivered" in log
    for secret in (shop.token, shop.token.partition(":")[2], PASSWORD):
        assert secret not in log


async def test_a_picture_in_the_reply_goes_as_a_photo_with_the_text(shop):
    user, email = await shop.customer_writes("Покажіть макет")
    reply = reply_to(email, "Ось макет")
    reply.add_attachment(PNG, maintype="image", subtype="png", filename="maket.png")
    shop.mailbox.put(reply)
    (sent,) = await shop.tg.wait_for_sent(user.id, 1, timeout=10)
    assert (sent.method, sent.text) == ("sendPhoto", "Ось макет")


async def test_a_long_reply_is_split_and_each_piece_sent_once(shop):
    user, email = await shop.customer_writes("Розкажіть детально")
    paragraphs = [f"Пункт {n}: " + "дуже детально. " * 40 for n in range(12)]
    shop.mailbox.put(reply_to(email, "\n\n".join(paragraphs)))
    sent = await shop.tg.wait_for_sent(user.id, 2, timeout=15)
    await shop.quiet(2.5)
    sent = shop.tg.sent_messages(user.id)
    assert all(len(s.text) <= 4096 for s in sent)
    assert " ".join(s.text for s in sent).count("Пункт") == 12


async def test_forged_token_stranger_and_auto_reply_are_left_alone(shop):
    user, email = await shop.customer_writes("Добрий день")
    forged = reply_to(email, "forged", To="orders+zzzzzz999999@shop.example")
    stranger = reply_to(email, "stranger", sender="mallory@evil.example")
    vacation = reply_to(email, "I'm away", Auto_Submitted="auto-replied")
    own = reply_to(email, "loop", sender="orders@shop.example")
    for mail in (forged, stranger, vacation, own):
        shop.mailbox.put(mail)
    real = reply_to(email, "Справжня відповідь")
    shop.mailbox.put(real)  # handled after the others: they had their chance
    sent = await shop.tg.wait_for_sent(user.id, 1, timeout=10)
    await shop.quiet()
    assert [s.text for s in shop.tg.sent_messages(user.id)] == ["Справжня відповідь"]
    inbox = shop.mailbox.subjects("INBOX")
    for mail in (forged, stranger, vacation, own):
        assert b"\\Seen" not in inbox[mail["Message-ID"]]  # untouched, still unread
    assert sent[0].text == "Справжня відповідь"


async def test_blocked_customer_comes_back_to_the_manager_as_a_notice(shop):
    user, email = await shop.customer_writes("Дякую")
    shop.tg.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
    reply = reply_to(email, "Будь ласка!")
    shop.mailbox.put(reply)
    await shop.smtp.wait_for(2, timeout=10)
    (notice,) = shop.emails_to(ANNA)[1:]
    assert notice["Auto-Submitted"] == "auto-generated"
    assert notice["In-Reply-To"] == reply["Message-ID"]
    text = notice.get_body(("plain",)).get_content()
    assert "bot was blocked by the user" in text and "Будь ласка!" in text
    assert len(shop.emails_to(PETRO)) == 1  # no team notice for what was not delivered
    assert shop.tg.sent_messages(user.id) == []


async def test_flood_control_is_waited_out_and_the_reply_sent_once(shop):
    user, email = await shop.customer_writes("Терміново")
    shop.tg.fail("sendMessage", 429, retry_after=1)
    shop.mailbox.put(reply_to(email, "Вже робимо"))
    await shop.tg.wait_for_sent(user.id, 1, timeout=10)
    await shop.quiet()
    assert [s.text for s in shop.tg.sent_messages(user.id)] == ["Вже робимо"]
    assert len(shop.tg.calls("sendMessage")) == 2  # the refused one, then the one that went


async def test_a_reply_with_only_the_quote_sends_nothing_and_tells_the_manager(shop):
    user, email = await shop.customer_writes("Є папір А3?")
    shop.mailbox.put(reply_to(email, ""))
    await shop.smtp.wait_for(2, timeout=10)
    (notice,) = shop.emails_to(ANNA)[1:]
    assert "nothing was sent" in notice.get_body(("plain",)).get_content()
    assert shop.tg.sent_messages(user.id) == []


def unmarked_reply(email: EmailMessage, answer: str, tail: str = "") -> EmailMessage:
    """A reply from a client that quotes without ">" under an attribution in a language
    no rule knows (Finnish): only the words of our email say where the history starts.
    The quote is the customer's part (our footer's "-- " would end it by itself)."""
    reply = reply_to(email, answer)
    quoted = email.get_body(("plain",)).get_content().replace("\r\n", "\n").split("\n-- ")[0]
    reply.set_content(f"{answer}\n\nOlena Petrenko kirjoitti 23.11.2026 klo 14.05:\n\n"
                      f"{quoted}\n{tail}")  # fmt: skip
    return reply


QUESTION = "Доброго дня! Скільки коштують двісті візиток на матовому папері, двосторонні?"


async def test_history_quoted_in_an_unknown_shape_is_cut_by_the_words_of_our_email(shop):
    user, email = await shop.customer_writes(QUESTION)
    shop.mailbox.put(unmarked_reply(email, "350 грн, готові завтра."))
    sent = await shop.tg.wait_for_sent(user.id, 1, timeout=10)
    assert [s.text for s in sent] == ["350 грн, готові завтра."]


async def test_a_reply_the_relay_is_unsure_of_goes_nowhere_until_the_manager_says_send(shop):
    user, email = await shop.customer_writes(QUESTION)
    shop.mailbox.put(unmarked_reply(email, "350 грн.", "\nАнна Коваль\nДрукарня"))
    await shop.smtp.wait_for(2, timeout=10)
    (notice,) = shop.emails_to(ANNA)[1:]
    shown = notice.get_body(("plain",)).get_content()
    assert "could not be told apart" in shown and "/send" in shown and "350 грн." in shown
    assert shop.tg.sent_messages(user.id) == []
    # The manager answers the notice with /send on the first line.
    shop.mailbox.put(reply_to(notice, "/send\n350 грн.\n\nАнна Коваль"))
    sent = await shop.tg.wait_for_sent(user.id, 1, timeout=10)
    assert [s.text for s in sent] == ["350 грн.\n\nАнна Коваль"]


async def test_a_second_manager_answering_soon_after_is_warned_and_still_delivered(shop):
    user, email = await shop.customer_writes("Коли відкриваєтесь?")
    shop.mailbox.put(reply_to(email, "О 9:00"))
    await shop.tg.wait_for_sent(user.id, 1, timeout=10)
    shop.mailbox.put(reply_to(email, "З дев'ятої", sender=PETRO))
    sent = await shop.tg.wait_for_sent(user.id, 2, timeout=10)
    assert [s.text for s in sent] == ["О 9:00", "З дев'ятої"]
    await shop.tg.wait_until(
        lambda: any("already answered" in m.get_body(("plain",)).get_content()
                    for m in shop.emails_to(PETRO)), timeout=10,
    )  # fmt: skip


async def test_replies_written_while_the_relay_was_down_go_out_once_after_a_restart(
    shop, isolated_home
):
    user, email = await shop.customer_writes("Ви працюєте?")
    shop.mailbox.put(reply_to(email, "Так"))
    await shop.tg.wait_for_sent(user.id, 1, timeout=10)
    code, _ = await shop.process.terminate()
    assert code == 0
    shop.mailbox.put(reply_to(email, "І в суботу теж"))
    again = RelayProcess(isolated_home, shop.process.port)
    try:
        await again.wait_healthy()
        await shop.tg.wait_for_sent(user.id, 2, timeout=10)
        await shop.quiet()
    finally:
        again.kill()
    assert [s.text for s in shop.tg.sent_messages(user.id)] == ["Так", "І в суботу теж"]


async def test_run_once_reads_the_mailbox_and_delivers_what_is_pending(shop, isolated_home):
    user, email = await shop.customer_writes("Ви тут?")
    code, _ = await shop.process.terminate()
    assert code == 0
    shop.mailbox.put(reply_to(email, "Так, ми тут"))
    once = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "im2mail", "run", "--once"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert once.returncode == 0, once.stderr
    assert [s.text for s in shop.tg.sent_messages(user.id)] == ["Так, ми тут"]
    await shop.smtp.wait_for(2, timeout=10)  # and the team notice went out in the same run
    assert "Так, ми тут" in shop.emails_to(PETRO)[-1].get_body(("plain",)).get_content()


def _rewrapped(reply: EmailMessage, parts: list[tuple[str, bytes, dict[str, str]]],
               kind: str, **params: str) -> EmailMessage:  # fmt: skip
    """`reply`'s headers over a new multipart/`kind` body made of `parts` (content type,
    bytes, extra headers), as a signing or encrypting client builds it."""
    made = EmailMessage()
    for name in ("From", "To", "Subject", "Message-ID", "In-Reply-To", "References", "Date"):
        if reply[name]:
            made[name] = reply[name]
    made.set_type(f"multipart/{kind}")
    for key, value in params.items():
        made.set_param(key, value)
    for ctype, data, headers in parts:
        part = EmailMessage()
        maintype, subtype = ctype.split("/")
        if maintype == "text":
            part.set_content(data.decode(), subtype=subtype)
        else:
            part.set_content(data, maintype=maintype, subtype=subtype)
        for name, value in headers.items():
            del part[name]
            part[name] = value
        made.attach(part)
    return made


async def test_an_encrypted_reply_sends_nothing_and_tells_the_manager_why(shop):
    user, email = await shop.customer_writes("Є папір А3?")
    armour = b"-----BEGIN PGP MESSAGE-----\n\nhQEMA5x1Z2Fk\n=abcd\n-----END PGP MESSAGE-----\n"
    encrypted = _rewrapped(
        reply_to(email, ""),
        [("application/pgp-encrypted", b"Version: 1\n", {}),
         ("application/octet-stream", armour,
          {"Content-Disposition": 'inline; filename="encrypted.asc"'})],
        "encrypted", protocol="application/pgp-encrypted",
    )  # fmt: skip
    shop.mailbox.put(encrypted)
    await shop.smtp.wait_for(2, timeout=10)
    (notice,) = shop.emails_to(ANNA)[1:]
    assert "could not be read" in notice.get_body(("plain",)).get_content()
    await shop.quiet()
    assert shop.tg.sent_messages(user.id) == [] and shop.tg.calls("sendDocument") == []


async def test_a_signed_reply_goes_without_its_signature_file(shop):
    user, email = await shop.customer_writes("Є папір А3?")
    answer = reply_to(email, "Так, є, 12 грн за аркуш.")
    signed = _rewrapped(
        answer,
        [("text/plain", answer.get_body(("plain",)).get_content().encode(), {}),
         ("application/pkcs7-signature", b"0\x82\x05\x00fake-der",
          {"Content-Disposition": 'attachment; filename="smime.p7s"'})],
        "signed", protocol="application/pkcs7-signature", micalg="sha-256",
    )  # fmt: skip
    shop.mailbox.put(signed)
    sent = await shop.tg.wait_for_sent(user.id, 1, timeout=10)
    assert [s.text for s in sent] == ["Так, є, 12 грн за аркуш."]
    await shop.quiet()
    assert shop.tg.calls("sendDocument") == []


async def test_a_reply_passing_the_conversations_page_on_sends_nothing(
    running_relay, telegram_api, smtp_server, imap_server, mailbox
):
    # A public relay: every email links to the conversation's page, which is the managers'.
    token = telegram_api.add_bot("shop_bot", "Shop")
    process = await running_relay(token=token, imap=imap_server, greeting=None, mode="webhook")
    shop = Shop(process, telegram_api, token, smtp_server, mailbox)
    user, email = await shop.customer_writes("Можна подивитися всю нашу переписку?")
    (link,) = re.findall(r"The whole conversation: (\S+)", email.get_body(("plain",)).get_content())
    answer = f"Так, уся наша переписка з вами за цей тиждень тут, гляньте будь ласка: {link}"
    shop.mailbox.put(reply_to(email, answer))
    await shop.smtp.wait_for(2, timeout=10)
    (notice,) = shop.emails_to(ANNA)[1:]
    told = notice.get_body(("plain",)).get_content()
    assert "conversation's page" in told and "nothing was sent" in told
    await shop.quiet()
    assert shop.tg.sent_messages(user.id) == []
