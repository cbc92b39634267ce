"""One person across channels through `im2mail run`: Олена writes to the shop's Telegram
bot and to its Viber bot (the doubles), the owner links the two (`im2mail customers link`
while the relay runs), and from then on her emails keep one thread, a manager's reply goes
to the messenger she last wrote on, `/via telegram` sends it to the other, and `/via`
a channel she is not on sends nothing and tells the manager."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from im2mail.testing.viber_api import ViberDouble
from tests.conftest import run_cli
from tests.e2e.relay_rig import MANAGERS
from tests.support.mailbox import reply_to

pytestmark = pytest.mark.e2e

ANNA = MANAGERS[0]


class Shop:
    def __init__(self, tg, tg_token: str, viber: ViberDouble, viber_token: str, smtp, mailbox):
        self.tg, self.tg_token, self.viber, self.viber_token = tg, tg_token, viber, viber_token
        self.smtp, self.mailbox = smtp, mailbox

    async def emailed(self, count: int) -> EmailMessage:
        """The `count`th email the SMTP server got (waiting for it)."""
        await self.smtp.wait_for(count, timeout=10)
        return self.smtp.messages[count - 1].message

    def body(self, email: EmailMessage) -> str:
        """The plain text, its lines joined (the notice wraps the reason)."""
        return " ".join(email.get_body(("plain",)).get_content().split())


@pytest.fixture
async def shop(running_relay, telegram_api, doubles, smtp_server, imap_server, mailbox):
    viber = await doubles("viber")
    viber_token = viber.add_bot("Друкарня", "arkush", "https://shop.example/logo.png")
    tg_token = telegram_api.add_bot("shop_bot", "Shop")
    await running_relay(token=tg_token, imap=imap_server, greeting=None,
                        viber=(viber.url, viber_token))  # fmt: skip
    return Shop(telegram_api, tg_token, viber, viber_token, smtp_server, mailbox)


async def test_a_linked_person_is_answered_where_she_last_wrote_or_via(shop):
    olena_tg = shop.tg.customer("Олена", "Коваленко")
    olena_vb = shop.viber.customer("Олена К.")
    await shop.tg.push_text(shop.tg_token, olena_tg, "Скільки коштують візитки?")
    on_telegram = await shop.emailed(1)
    assert (await shop.viber.push_text(shop.viber_token, olena_vb, "Це я, з вайбера")).status == 200
    on_viber = await shop.emailed(2)
    assert on_telegram["Subject"] == "[Telegram] Олена Коваленко #1"
    assert on_viber["Subject"] == "[Viber] Олена К. #2"  # two customers, two threads

    linked = run_cli("customers", "link", "1", "2")  # while the relay runs
    assert linked.code == 0, linked.err

    # Her next Viber message continues the Telegram thread.
    await shop.viber.push_text(shop.viber_token, olena_vb, "Коли буде готово?")
    later = await shop.emailed(3)
    assert later["Subject"] == "[Telegram] Олена Коваленко #1"
    assert on_telegram["Message-ID"] in later["References"]
    assert "via Viber" in str(later["From"])

    # Anna answers the Telegram email: Олена last wrote on Viber, so it goes there.
    shop.mailbox.put(reply_to(on_telegram, "Завтра до обіду."))
    (sent,) = await shop.viber.wait_for_sent(olena_vb.id, 1, timeout=10)
    assert sent.text == "Завтра до обіду."
    assert shop.tg.sent_messages(olena_tg.id) == []

    # /via telegram: the same person, on Telegram; the line itself is not sent.
    shop.mailbox.put(reply_to(later, "/via telegram\nРахунок надіслала сюди."))
    (tg_sent,) = await shop.tg.wait_for_sent(olena_tg.id, 1, timeout=10)
    assert tg_sent.text == "Рахунок надіслала сюди."
    assert len(shop.viber.sent_messages(olena_vb.id)) == 1

    # /via a channel she is not on: nothing is sent, Anna gets a notice in the thread.
    shop.mailbox.put(reply_to(later, "/via whatsapp\nА це куди?"))

    def notices() -> list[EmailMessage]:
        return [m.message for m in shop.smtp.messages
                if ANNA in m.rcpt_tos and "nothing was sent" in shop.body(m.message)]  # fmt: skip

    await shop.viber.wait_until(lambda: notices(), timeout=10)
    (notice,) = notices()
    assert notice["Auto-Submitted"] == "auto-generated"
    assert notice["Subject"] == "[Telegram] Олена Коваленко #1"  # in her one thread
    body = shop.body(notice)
    assert "no conversation on WhatsApp" in body
    assert "/via telegram" in body and "/via viber" in body
    assert len(shop.tg.sent_messages(olena_tg.id)) == 1
    assert len(shop.viber.sent_messages(olena_vb.id)) == 1
