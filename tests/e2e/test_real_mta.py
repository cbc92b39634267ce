"""The round trip through a real Postfix and Dovecot (tests/support/real_mta.py): a
customer writes to the bot (the Telegram double); `im2mail run` mails the managers through
Postfix, which delivers into their Dovecot mailboxes; a manager's reply, submitted to
Postfix to the `orders+<token>@` Reply-To, lands by sub-addressing in the shop mailbox,
where the relay (IMAP IDLE on Dovecot) picks it up, sends it to the customer once, and files
it in the processed folder. Runs in CI (as root, with Debian's packages); skipped elsewhere
with the reason."""

from __future__ import annotations

import asyncio
import contextlib
import re
import smtplib
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from imapclient import IMAPClient

from im2mail.mail.routing import recipient_tokens
from im2mail.testing.mail_servers import gmail_reply
from tests.e2e.relay_rig import RelayProcess, write_home
from tests.support.real_mta import ANNA, ORDERS, PETRO, RealMta

# One Postfix and Dovecot (the session fixture real_mta) for all of them: one worker runs them.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("real_mta")]

PROCESSED = "im2mail"
REPLY_TO = re.compile(r"orders\+([a-z0-9]{6,64})@shop\.test")
WATCHING = re.compile(r"IMAP watching INBOX on 127\.0\.0\.1:\d+ as orders@shop\.test \(.*, (\w+)")


def fetch(mta: RealMta, address: str, folder: str = "INBOX") -> list[EmailMessage]:
    """Every mail in one mailbox folder, as its owner's mail client sees it (read-only)."""
    server = mta.imap(address)
    with IMAPClient(server.host, port=server.port, ssl=False, timeout=5) as client:
        client.login(server.user, server.password)
        if not client.folder_exists(folder):
            return []
        client.select_folder(folder, readonly=True)
        data = client.fetch(client.search("ALL"), ["BODY.PEEK[]"])
        return [
            message_from_bytes(item[b"BODY[]"], policy=policy.default)  # type: ignore[misc]
            for _, item in sorted(data.items())
        ]


async def wait_for_mail(
    mta: RealMta, address: str, match, folder: str = "INBOX", timeout: float = 10
) -> EmailMessage:
    """The first mail in the folder for which match(mail) is true, once it is there."""
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in await asyncio.to_thread(fetch, mta, address, folder) if match(m)]
        if found:
            return found[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"no such mail in {address}'s {folder} within {timeout:g} s")
        await asyncio.sleep(0.1)


def submit(mta: RealMta, mail: EmailMessage, *, sender: str, to: str) -> None:
    """What a manager's mail client does: hand the mail to Postfix (SMTP on loopback)."""
    with smtplib.SMTP(mta.host, mta.smtp_port, timeout=10) as smtp:
        smtp.send_message(mail, from_addr=sender, to_addrs=[to])


def body(mail: EmailMessage) -> str:
    return mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def ids(mails: list[EmailMessage]) -> set[str]:
    return {str(m["Message-ID"]) for m in mails}


@pytest.fixture
async def relay(isolated_home, telegram_api, real_mta):
    """`im2mail run` with the shop mailbox orders@shop.test on Postfix and Dovecot."""
    token = telegram_api.add_bot("shop_bot", "Shop")
    port = write_home(
        isolated_home, api_url=telegram_api.url, token=token, smtp_port=real_mta.smtp_port,
        imap=real_mta.imap(ORDERS), address=ORDERS, managers=[ANNA, PETRO], greeting=None,
    )  # fmt: skip
    process = RelayProcess(isolated_home, port)
    try:
        await process.wait_healthy()
        yield process, token
    finally:
        process.kill()
        print(process.log)  # shown when a test fails
        print(real_mta.log_tail())


async def test_postfix_sub_addressing_reaches_the_shop_inbox_with_the_token(real_mta):
    """orders+<token>@ is delivered into orders@'s INBOX, and what Postfix and Dovecot write
    (Delivered-To) carries the token even when the To header does not."""
    mail = EmailMessage()
    mail["From"] = ANNA
    mail["To"] = ORDERS  # as in a Bcc: only the envelope names the token
    mail["Subject"] = "sub-addressing check"
    mail["Message-ID"] = make_msgid(domain="shop.test")
    mail.set_content("check")
    submit(real_mta, mail, sender=ANNA, to="orders+abc123def@shop.test")

    got = await wait_for_mail(real_mta, ORDERS, lambda m: m["Message-ID"] == mail["Message-ID"])
    assert got["Delivered-To"] == "orders+abc123def@shop.test"
    assert "(Postfix)" in " ".join(got.get_all("Received", []))
    assert recipient_tokens(got, ORDERS) == ["abc123def"]
    _delete(real_mta, ORDERS, mail["Message-ID"])  # leave the shop inbox as it was


async def test_round_trip_through_postfix_and_dovecot(relay, telegram_api, real_mta):
    process, token = relay
    watching = await telegram_api.wait_until(lambda: WATCHING.search(process.log), timeout=10)
    assert watching.group(1) == "IDLE"  # Dovecot offers IDLE and the relay uses it
    olena = telegram_api.customer("Олена", "Петренко")
    started = time.monotonic()

    # (a) The customer's message reaches both managers' Dovecot inboxes through Postfix.
    await telegram_api.push_text(token, olena, "Скільки коштують 200 візиток?")
    email = await wait_for_mail(real_mta, ANNA, lambda m: "200 візиток" in body(m))
    to_anna = time.monotonic() - started
    (reply_to_address,) = email["Reply-To"].addresses
    reply_to = reply_to_address.addr_spec
    conversation_token = REPLY_TO.fullmatch(reply_to).group(1)  # type: ignore[union-attr]
    assert email["From"].addresses[0].addr_spec == ORDERS
    # One SMTP transaction for both managers, so one LMTP transaction: Dovecot writes no
    # Delivered-To then (it does for a single recipient, below), but the hops show.
    hops = " ".join(email.get_all("Received", []))
    assert "(Postfix) with ESMTP" in hops and "with LMTP" in hops
    await wait_for_mail(real_mta, PETRO, lambda m: m["Message-ID"] == email["Message-ID"])

    # (b) Anna replies from her mail client: to the Reply-To, threaded, through Postfix.
    reply = gmail_reply(
        email, "Добрий день! 350 грн, готові завтра.", sender=f"Anna Koval <{ANNA}>"
    )
    assert reply["To"].addresses[0].addr_spec == reply_to
    assert reply["In-Reply-To"] == email["Message-ID"]
    replied = time.monotonic()
    submit(real_mta, reply, sender=ANNA, to=reply_to)
    (sent,) = await telegram_api.wait_for_sent(olena.id, 1, timeout=10)
    to_customer = time.monotonic() - replied
    assert sent.text == "Добрий день! 350 грн, готові завтра."

    # ... moved to the processed folder, out of the inbox; (c) as Postfix and Dovecot wrote it.
    filed = await wait_for_mail(
        real_mta, ORDERS, lambda m: m["Message-ID"] == reply["Message-ID"], folder=PROCESSED
    )
    assert reply["Message-ID"] not in ids(fetch(real_mta, ORDERS))
    assert filed["Delivered-To"] == reply_to
    assert recipient_tokens(filed, ORDERS) == [conversation_token]

    # Petro is told in the thread, through the same Postfix and Dovecot.
    notice = await wait_for_mail(real_mta, PETRO, lambda m: m["In-Reply-To"] == reply["Message-ID"])
    assert notice["Auto-Submitted"] == "auto-generated"

    # A reply whose only token is in the envelope (To: the bare mailbox, no thread headers)
    # is routed by the Delivered-To that Dovecot wrote.
    bare = EmailMessage()
    bare["From"] = f"Anna Koval <{ANNA}>"
    bare["To"] = ORDERS
    bare["Subject"] = "Re: " + str(email["Subject"])
    bare["Message-ID"] = make_msgid(domain="shop.test")
    bare.set_content("І ще: доставка безкоштовна.")
    submit(real_mta, bare, sender=ANNA, to=reply_to)
    await telegram_api.wait_for_sent(olena.id, 2, timeout=10)
    await wait_for_mail(
        real_mta, ORDERS, lambda m: m["Message-ID"] == bare["Message-ID"], folder=PROCESSED
    )

    # Each reply reached the customer exactly once (after a pause for a wrong second send).
    await asyncio.sleep(1.5)
    assert [s.text for s in telegram_api.sent_messages(olena.id)] == [
        "Добрий день! 350 грн, готові завтра.",
        "І ще: доставка безкоштовна.",
    ]
    assert not {reply["Message-ID"], bare["Message-ID"]} & ids(fetch(real_mta, ORDERS))
    print(f"customer → anna's inbox {to_anna:.2f} s; reply → customer {to_customer:.2f} s")


def _delete(mta: RealMta, address: str, message_id: str) -> None:
    server = mta.imap(address)
    with IMAPClient(server.host, port=server.port, ssl=False, timeout=5) as client:
        client.login(server.user, server.password)
        client.select_folder("INBOX")
        uids = client.search(["HEADER", "Message-ID", message_id])
        if uids:
            client.delete_messages(uids)
            with contextlib.suppress(Exception):
                client.expunge()
