"""Only the shop's managers reach customers, end to end: `im2mail run` reads the shop
mailbox on a real IMAP server (pymap) where the forgeries an attacker can send sit beside
a manager's real reply, each stamped as the shop's receiving server (Gmail, here) stamps
it. Every forgery is left unread and nothing of it reaches the customer; the real reply
does, with mail.authserv_id set and without it."""

from __future__ import annotations

import pytest

from tests.e2e.relay_rig import MANAGERS, RelayProcess, write_home
from tests.e2e.test_replies import Shop
from tests.support.authres_mail import FOREIGN_PASS, FORGED_PASS, gmail, stamped
from tests.support.mailbox import reply_to

pytestmark = pytest.mark.e2e

ANNA, PETRO = MANAGERS


async def _start(isolated_home, telegram_api, smtp_server, imap_server, mailbox, extra_mail=""):
    token = telegram_api.add_bot("shop_bot", "Shop")
    port = write_home(isolated_home, api_url=telegram_api.url, token=token,
                      smtp_port=smtp_server.port, imap=imap_server, greeting=None,
                      extra_mail=extra_mail)  # fmt: skip
    process = RelayProcess(isolated_home, port)
    await process.wait_healthy()
    return Shop(process, telegram_api, token, smtp_server, mailbox)


@pytest.fixture
async def guarded(isolated_home, telegram_api, smtp_server, imap_server, mailbox):
    """The relay with mail.authserv_id = "mx.google.com" (a Google Workspace mailbox)."""
    shop = await _start(isolated_home, telegram_api, smtp_server, imap_server, mailbox,
                        'authserv_id = "mx.google.com"')  # fmt: skip
    try:
        yield shop
    finally:
        shop.process.kill()
        print(shop.process.log)


@pytest.fixture
async def open_shop(isolated_home, telegram_api, smtp_server, imap_server, mailbox):
    """The relay without mail.authserv_id."""
    shop = await _start(isolated_home, telegram_api, smtp_server, imap_server, mailbox)
    try:
        yield shop
    finally:
        shop.process.kill()
        print(shop.process.log)


def _evil_pass() -> list[str]:
    """What mx.google.com writes for mail that really is from evil.example."""
    return [
        "Authentication-Results: mx.google.com;",
        "       dkim=pass header.i=@evil.example header.s=s1 header.b=Qw3rTy12;",
        "       spf=pass (google.com: domain of mallory@evil.example designates 203.0.113.66"
        " as permitted sender) smtp.mailfrom=mallory@evil.example;",
        "       dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=evil.example",
    ]


async def test_every_forgery_is_left_unread_and_the_real_reply_goes_out(guarded):
    shop = guarded
    user, email = await shop.customer_writes("Куди платити за замовлення?")
    card = "Оплатіть на картку 5375 4141 0000 0000"
    forgeries = {
        # the name says Anna, the address (which DMARC checked, and passed) is Mallory's
        "display-name spoof": stamped(
            reply_to(email, card), _evil_pass(),
            from_="anna@shop.example <mallory@evil.example>",
        ),
        # an encoded word the lenient parser decodes into Anna's address
        "encoded-word spoof": stamped(
            reply_to(email, card), _evil_pass(), from_="=?utf-8?q?anna?=@shop.example"
        ),
        # Anna's address, Gmail's real verdict fail, a pass from another server above it
        "foreign authserv-id pass": stamped(
            reply_to(email, card), [*FOREIGN_PASS, *gmail("spoof")]
        ),
        # …and a pass in Gmail's own name, below the real one, written by the attacker
        "our id's pass below a real fail": stamped(
            reply_to(email, card), gmail("spoof"), [*FORGED_PASS["gmail"], *FOREIGN_PASS]
        ),
    }  # fmt: skip
    ids = {}
    for name, raw in forgeries.items():
        shop.mailbox.put_raw(raw)
        ids[name] = raw.split(b"Message-ID: ", 1)[1].split(b"\n", 1)[0].decode().strip()
    real = reply_to(email, "Рахунок надішлю на пошту, на картку не платіть.")
    shop.mailbox.put_raw(stamped(real, gmail("pass")))  # handled after the others

    sent = await shop.tg.wait_for_sent(user.id, 1, timeout=10)
    await shop.quiet()
    assert [s.text for s in shop.tg.sent_messages(user.id)] == [sent[0].text]
    assert sent[0].text == "Рахунок надішлю на пошту, на картку не платіть."
    inbox = shop.mailbox.subjects("INBOX")
    for name, mid in ids.items():
        assert mid in inbox, name
        assert b"\\Seen" not in inbox[mid], name  # untouched, still unread
    assert real["Message-ID"] not in inbox  # moved to the processed folder
    log = shop.process.log
    assert log.count("sender not certain: From: malformed") == 2
    assert log.count("not authenticated by mx.google.com: dmarc=fail for shop.example") == 2
    assert "5375" not in log
    # Anna hears once (within the hour) that emails in her name were refused.
    await shop.smtp.wait_for(3, timeout=10)  # the customer's email, the team notice, this
    notices = [m for m in shop.emails_to(ANNA) if "did not confirm" in _text(m)]
    assert len(notices) == 1
    assert notices[0]["Auto-Submitted"] == "auto-generated"
    assert "5375" not in notices[0].as_string()
    assert not [m for m in shop.emails_to(PETRO) if "did not confirm" in _text(m)]


async def test_a_real_manager_failing_dmarc_is_refused_and_told(guarded):
    shop = guarded
    user, email = await shop.customer_writes("Ви отримали макет?")
    broken = reply_to(email, "Так, отримали, дякуємо!")
    shop.mailbox.put_raw(stamped(broken, gmail("fail")))  # a forwarder broke her DKIM
    await shop.smtp.wait_for(2, timeout=10)
    (notice,) = shop.emails_to(ANNA)[1:]
    body = _text(notice)
    assert "was not sent" in body and "dmarc=fail for shop.example" in body
    assert notice["In-Reply-To"] == email["Message-ID"]  # in the conversation's thread
    await shop.quiet()
    assert shop.tg.sent_messages(user.id) == []
    assert b"\\Seen" not in shop.mailbox.subjects("INBOX")[broken["Message-ID"]]


async def test_without_authserv_id_a_real_reply_with_authentication_results_goes_out(open_shop):
    shop = open_shop
    user, email = await shop.customer_writes("Коли буде готово?")
    shop.mailbox.put_raw(stamped(reply_to(email, "Завтра до обіду."), gmail("pass")))
    sent = await shop.tg.wait_for_sent(user.id, 1, timeout=10)
    assert [s.text for s in sent] == ["Завтра до обіду."]


async def test_without_authserv_id_the_from_is_still_read_strictly(open_shop):
    shop = open_shop
    user, email = await shop.customer_writes("Добрий день")
    spoof = stamped(reply_to(email, "Платіть сюди"), _evil_pass(),
                    from_="anna@shop.example <mallory@evil.example>")  # fmt: skip
    shop.mailbox.put_raw(spoof)
    real = reply_to(email, "Вітаю!")
    shop.mailbox.put(real)
    await shop.tg.wait_for_sent(user.id, 1, timeout=10)
    await shop.quiet()
    assert [s.text for s in shop.tg.sent_messages(user.id)] == ["Вітаю!"]


def _text(message) -> str:
    body = message.get_body(("plain",))
    return body.get_content() if body else ""
