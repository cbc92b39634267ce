"""The SMTP outbox worker against a real aiosmtpd server on a loopback port.

Backoff is shortened (50-200 ms) so that retries happen within the test."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage

import pytest

from im2mail.archive import Archive
from im2mail.archive.db import now
from im2mail.archive.deliveries import backoff_delay
from im2mail.config import ServerConfig
from im2mail.mail.builder import MailBuilder, MailSettings
from im2mail.mail.smtp import (
    SmtpAuthError,
    SmtpConnectionRefused,
    SmtpError,
    SmtpHostNotFound,
    SmtpSettings,
    SmtpTimeout,
    SmtpTlsError,
    check_login,
)
from im2mail.mail.smtp_outbox import MailOutbox
from im2mail.model import Message, OutboxItem
from tests.support.archive_sql import reading
from tests.support.chats import T0, customer
from tests.support.smtp_server import SmtpServer, free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

FAST = functools.partial(backoff_delay, steps=(0.05, 0.1, 0.2), jitter=0.1)
SHOP = "orders@shop.example"
MANAGERS = ("anna@shop.example", "petro@shop.example")
USER, PASSWORD = SHOP, "s3cret-Pass-42"


def queue(archive: Archive, count: int = 1, *, text: str = "замовлення", at=None) -> list[str]:
    """`count` customer messages, each with its mail outbox row; returns their Message-IDs."""
    conv = customer(archive, "Олена", "Коваленко")
    ids = []
    for n in range(count):
        mid = f"<{uuid.uuid4().hex}@shop.example>"
        item = OutboxItem("mail", mid, next_try=at)
        archive.add_message(Message(conv.id, "in", "Олена", f"{text} {n}", T0), outbox=[item])
        ids.append(mid)
    return ids


def composer(archive: Archive) -> Callable[[OutboxItem], EmailMessage]:
    """What the relay's composer does, in short."""

    def build(item: OutboxItem) -> EmailMessage:
        assert item.message_id is not None
        message = archive.message(item.message_id)
        email = EmailMessage()
        email["From"] = f'"Олена Коваленко via Telegram" <{SHOP}>'
        email["To"] = ", ".join(MANAGERS)
        email["Subject"] = f"[Telegram] Олена Коваленко #{message.conversation_id}"
        email["Message-ID"] = item.email_message_id
        email.set_content(message.text)
        return email

    return build


def settings(server: SmtpServer, **options) -> SmtpSettings:
    options = {"security": "none", "timeout": 5.0, "local_hostname": "localhost", **options}
    return SmtpSettings(server.host, server.port, **options)


def worker(archive: Archive, server: SmtpServer, *, password: str = "", build=None, **options):
    conn = {k: options.pop(k) for k in ("username", "security", "tls_context") if k in options}
    options.setdefault("backoff", FAST)
    return MailOutbox(
        archive.deliveries,
        settings(server, **conn),
        password,
        build or composer(archive),
        **options,
    )


def rows(archive: Archive) -> list[dict]:
    with reading(archive) as db:
        return [dict(r) for r in db.execute("SELECT * FROM outbox ORDER BY id")]


def settled(archive: Archive) -> Callable[[], bool]:
    return lambda: archive.deliveries.outbox_counts()["pending"] == 0


# -- delivery ---------------------------------------------------------------------------------


async def test_queued_emails_are_delivered_once_each_over_one_connection(archive, smtp_server):
    ids = queue(archive, 100)
    async with worker(archive, smtp_server):
        await smtp_server.wait_for(100)
        await wait_until(settled(archive))
    got = smtp_server.messages
    assert len(got) == 100 and sorted(smtp_server.message_ids()) == sorted(ids)
    assert smtp_server.message_ids() == ids  # oldest first
    assert {(m.mail_from, m.rcpt_tos) for m in got} == {(SHOP, MANAGERS)}
    assert got[7].message.get_content().strip() == "замовлення 7"
    assert str(got[7].message["Subject"]) == got[7].message["Subject"] != ""
    assert smtp_server.sessions == 1
    assert {(r["state"], r["attempts"], r["last_error"]) for r in rows(archive)} == {
        ("sent", 1, None)
    }
    assert archive.message(rows(archive)[0]["message_id"]).sent is not None


async def test_a_4xx_is_retried_until_accepted(archive, smtp_server):
    smtp_server.fail_next(451, 3)
    (mid,) = queue(archive)
    async with worker(archive, smtp_server):
        await smtp_server.wait_for(1)
        await wait_until(settled(archive))
    assert smtp_server.message_ids() == [mid]
    (row,) = rows(archive)
    assert (row["state"], row["attempts"]) == ("sent", 4)  # three refusals, then accepted
    assert row["last_error"] == "SMTP 451 4.3.0 Local error in processing, try again later"


async def test_an_item_waiting_for_its_retry_does_not_hold_up_the_others(archive, smtp_server):
    smtp_server.fail_next(450, 1)
    first, second = queue(archive, 2)
    async with worker(archive, smtp_server):
        await smtp_server.wait_for(2)
        await wait_until(settled(archive))
    assert smtp_server.message_ids() == [second, first]


async def test_a_5xx_fails_after_the_retry_budget_and_the_worker_goes_on(archive, smtp_server):
    smtp_server.fail_next(554, 3)
    async with worker(archive, smtp_server, permanent_tries=3) as outbox:
        queue(archive)
        outbox.notify()
        await wait_until(lambda: archive.deliveries.outbox_counts()["failed"] == 1)
        (later,) = queue(archive)
        outbox.notify()
        await smtp_server.wait_for(1)  # the 4th mail is accepted
    failed, sent = rows(archive)
    assert (failed["state"], failed["attempts"]) == ("failed", 3)
    assert failed["last_error"] == "SMTP 554 5.6.0 Transaction failed: message refused"
    assert sent["state"] == "sent" and smtp_server.message_ids() == [later]
    assert archive.deliveries.outbox_counts()["last_error"] == failed["last_error"]


async def test_server_down_at_first_then_up(archive, smtp_servers):
    server = smtp_servers(port=free_port(), start=False)
    ids = queue(archive, 5)
    async with worker(archive, server):
        await wait_until(lambda: any(r["attempts"] >= 2 for r in rows(archive)), timeout=5)
        problem = archive.deliveries.outbox_counts()
        assert problem["pending"] == 5
        assert "refused the connection" in problem["last_error"]
        server.start()
        await server.wait_for(5)
        await wait_until(settled(archive))
    assert sorted(server.message_ids()) == sorted(ids)
    # the worker paused between tries of the server instead of burning through the queue
    assert sum(r["attempts"] for r in rows(archive)) < 5 + 15


async def test_a_dropped_connection_is_a_retry(archive, smtp_server):
    smtp_server.drop_next(1)  # closed at the end of DATA: the first mail was not taken
    ids = queue(archive, 2)
    async with worker(archive, smtp_server):
        await smtp_server.wait_for(2)
        await wait_until(settled(archive))
    assert sorted(smtp_server.message_ids()) == sorted(ids)
    first = rows(archive)[0]
    assert first["attempts"] == 2 and "SMTPServerDisconnected" in first["last_error"]


async def test_reconnects_when_the_server_closed_the_connection(archive, smtp_server):
    async with worker(archive, smtp_server) as outbox:
        queue(archive)
        await smtp_server.wait_for(1)
        smtp_server.stop()  # drops the open connection
        smtp_server.start()
        await wait_until(lambda: smtp_server.connections == 0)
        queue(archive)
        outbox.notify()
        await smtp_server.wait_for(2)
        await wait_until(settled(archive))
    assert [r["attempts"] for r in rows(archive)] == [1, 1]
    assert smtp_server.sessions == 2


async def test_a_421_on_a_used_connection_sends_again_at_once_on_a_new_one(archive, smtp_server):
    async with worker(archive, smtp_server) as outbox:
        queue(archive)
        await smtp_server.wait_for(1)
        smtp_server.fail_next(421)  # e.g. the server's limit of mails per connection
        queue(archive)
        outbox.notify()
        await smtp_server.wait_for(2)
        await wait_until(settled(archive))
    assert [(r["state"], r["attempts"]) for r in rows(archive)] == [("sent", 1), ("sent", 1)]
    assert smtp_server.sessions == 2


async def test_some_recipients_refused_is_sent_and_logged(archive, smtp_server, caplog):
    caplog.set_level(logging.INFO, "im2mail.outbox")
    smtp_server.reject_recipient("petro@shop.example")
    (mid,) = queue(archive)
    async with worker(archive, smtp_server):
        await smtp_server.wait_for(1)
        await wait_until(settled(archive))
    assert smtp_server.messages[0].rcpt_tos == ("anna@shop.example",)
    assert rows(archive)[0]["state"] == "sent"
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert mid in warning.getMessage()
    assert "petro@shop.example (550 5.1.1 No such user here)" in warning.getMessage()


async def test_a_build_error_fails_that_item_only(archive, smtp_server):
    build = composer(archive)

    def broken(item: OutboxItem) -> EmailMessage:
        if item.id == 2:
            raise ValueError("attachment blob missing")
        return build(item)

    ids = queue(archive, 3)
    async with worker(archive, smtp_server, build=broken):
        await smtp_server.wait_for(2)
        await wait_until(settled(archive))
    assert smtp_server.message_ids() == [ids[0], ids[2]]
    bad = rows(archive)[1]
    assert bad["state"] == "failed"
    assert bad["last_error"] == "cannot build the email: ValueError: attachment blob missing"


async def test_an_async_build_and_its_message_id_enforced(archive, smtp_server):
    build = composer(archive)

    async def later(item: OutboxItem) -> EmailMessage:
        await asyncio.sleep(0)
        email = build(item)
        del email["Message-ID"]
        return email

    (mid,) = queue(archive)
    async with worker(archive, smtp_server, build=later):
        await smtp_server.wait_for(1)
    assert smtp_server.message_ids() == [mid]


async def test_an_email_built_as_bytes_goes_as_built_with_its_own_message_id(archive, smtp_server):
    """What mail/builder.py makes (an Envelope) is sent as it is; one whose Message-ID is
    not the row's fails at once: a resend must be the same email."""
    made = MailBuilder(MailSettings(SHOP, MANAGERS))

    def built(item: OutboxItem):
        assert item.message_id is not None and item.email_message_id is not None
        message = archive.message(item.message_id)
        conversation = archive.conversation(message.conversation_id)
        mid = item.email_message_id if item.id == 1 else "<another@shop.example>"
        return made.message([message], conversation, message_id=mid)

    ids = queue(archive, 2)
    async with worker(archive, smtp_server, build=built):
        await smtp_server.wait_for(1)
        await wait_until(settled(archive))
    assert smtp_server.message_ids() == [ids[0]]
    bad = rows(archive)[1]
    assert bad["state"] == "failed"
    assert f"built with Message-ID <another@shop.example>, not {ids[1]}" in bad["last_error"]


async def test_an_email_without_recipients_fails_at_once(archive, smtp_server):
    build = composer(archive)

    def nobody(item: OutboxItem) -> EmailMessage:
        email = build(item)
        del email["To"]
        return email

    queue(archive)
    async with worker(archive, smtp_server, build=nobody):
        await wait_until(settled(archive))
    (row,) = rows(archive)
    assert (row["state"], row["attempts"]) == ("failed", 1)
    assert "no recipient" in row["last_error"].lower()


# -- waking and sleeping -----------------------------------------------------------------------


async def test_idle_it_waits_for_notify_instead_of_polling(archive, smtp_server):
    async with worker(archive, smtp_server) as outbox:
        await asyncio.sleep(0.05)
        queue(archive)  # no notify: nobody looks
        await asyncio.sleep(0.4)
        assert smtp_server.messages == []
        started = time.monotonic()
        outbox.notify()
        await smtp_server.wait_for(1)
        assert time.monotonic() - started < 1.0


async def test_it_sleeps_until_the_next_item_is_due(archive, smtp_server):
    queue(archive, at=now() + timedelta(seconds=0.4))
    started = time.monotonic()
    async with worker(archive, smtp_server):
        await smtp_server.wait_for(1, timeout=3)
    assert 0.35 < time.monotonic() - started < 2.0


async def test_notify_from_another_thread(archive, smtp_server):
    async with worker(archive, smtp_server) as outbox:
        await asyncio.sleep(0.05)
        queue(archive)
        await asyncio.to_thread(outbox.notify)
        await smtp_server.wait_for(1, timeout=2)


async def test_the_connection_is_closed_when_idle_and_reopened_for_new_work(archive, smtp_server):
    async with worker(archive, smtp_server, idle_close=0.2) as outbox:
        queue(archive)
        await smtp_server.wait_for(1)
        assert smtp_server.connections == 1
        await wait_until(lambda: smtp_server.connections == 0, timeout=2)
        queue(archive)
        outbox.notify()
        await smtp_server.wait_for(2)
    assert smtp_server.sessions == 2


async def test_flush_sends_what_is_due_and_returns(archive, smtp_server):
    queue(archive, 3)
    queue(archive, at=now() + timedelta(hours=1))
    outbox = worker(archive, smtp_server)
    assert await outbox.flush() == 3
    assert len(smtp_server.messages) == 3
    assert smtp_server.connections == 0 or await _closed(smtp_server)


async def _closed(server: SmtpServer) -> bool:
    await wait_until(lambda: server.connections == 0, timeout=2)
    return True


# -- stop and restart: at-least-once, and the exact rule for duplicates -------------------------


async def test_stop_lets_the_send_in_flight_finish_so_nothing_is_mailed_twice(archive, smtp_server):
    ids = queue(archive, 30)
    smtp_server.reply_delay = 0.02
    first = worker(archive, smtp_server)
    await first.start()
    await smtp_server.wait_for(5)
    await first.stop()  # mid-burst
    got = len(smtp_server.messages)
    assert 5 <= got < 30
    assert [r["state"] for r in rows(archive)].count("sent") == got  # all marked, none more
    smtp_server.reply_delay = 0
    async with worker(archive, smtp_server):
        await smtp_server.wait_for(30)
        await wait_until(settled(archive))
    assert Counter(smtp_server.message_ids()) == Counter(ids)  # each exactly once


async def test_a_forced_stop_leaves_the_one_in_flight_pending_and_it_goes_again(
    archive, smtp_server
):
    ids = queue(archive, 4)
    smtp_server.reply_delay = 1.0  # the server takes the mail, then is slow to say 250
    first = worker(archive, smtp_server)
    await first.start()
    await smtp_server.wait_for(1)
    await first.stop(timeout=0.1)  # gives up waiting: the send is cancelled
    assert [r["state"] for r in rows(archive)] == ["pending"] * 4
    assert rows(archive)[0]["attempts"] == 0  # an interrupted send is no failed try
    smtp_server.reply_delay = 0
    async with worker(archive, smtp_server):
        await smtp_server.wait_for(5)
        await wait_until(settled(archive))
    # The documented rule: everything at least once; twice only the one the server took
    # before the stop and whose 250 was never recorded; never more than one such.
    counts = Counter(smtp_server.message_ids())
    assert set(counts) == set(ids)
    assert {mid for mid, n in counts.items() if n > 1} == {ids[0]}
    assert counts[ids[0]] == 2


async def test_stop_of_an_idle_or_unstarted_worker_is_quick(archive, smtp_server):
    outbox = worker(archive, smtp_server)
    await outbox.stop()
    await outbox.start()
    started = time.monotonic()
    await outbox.stop()
    assert time.monotonic() - started < 0.5


async def test_stop_while_the_server_is_down_is_quick(archive, smtp_servers):
    server = smtp_servers(port=free_port(), start=False)
    queue(archive)
    outbox = worker(archive, server, backoff=lambda n: 60.0)
    await outbox.start()
    await wait_until(lambda: rows(archive)[0]["attempts"] == 1)
    started = time.monotonic()
    await outbox.stop()
    assert time.monotonic() - started < 0.5


# -- throughput smoke (the benchmark lives outside the tests) --------------------------------


async def test_five_hundred_go_through(archive, smtp_server):
    ids = queue(archive, 500)
    started = time.monotonic()
    async with worker(archive, smtp_server):
        await smtp_server.wait_for(500, timeout=30)
        await wait_until(settled(archive))
    elapsed = time.monotonic() - started
    assert Counter(smtp_server.message_ids()) == Counter(ids)
    print(f"500 emails in {elapsed:.2f} s: {500 / elapsed:.0f}/s")
    assert elapsed < 20, f"500 emails took {elapsed:.1f} s"


# -- login, TLS and check_login ------------------------------------------------------------------


async def test_login_and_send_with_auth(archive, smtp_server, caplog):
    caplog.set_level(logging.DEBUG)
    smtp_server.require_auth(USER, PASSWORD)
    await check_login(settings(smtp_server, username=USER), PASSWORD)
    (mid,) = queue(archive)
    async with worker(archive, smtp_server, username=USER, password=PASSWORD):
        await smtp_server.wait_for(1)
    assert smtp_server.message_ids() == [mid]
    assert PASSWORD not in caplog.text


async def test_a_wrong_password_is_a_typed_error_that_does_not_show_it(smtp_server):
    smtp_server.require_auth(USER, PASSWORD)
    wrong = "Wrong-Pass-99"
    with pytest.raises(SmtpAuthError) as caught:
        await check_login(settings(smtp_server, username=USER), wrong)
    error = caught.value
    assert "refused the login of orders@shop.example" in error.message
    assert "535" in error.message and error.hint and "password" in error.hint
    shown = "".join(traceback.format_exception(error)) + (error.hint or "")
    assert wrong not in shown and PASSWORD not in shown


async def test_with_a_wrong_password_mail_waits_and_the_log_says_why(archive, smtp_server, caplog):
    caplog.set_level(logging.DEBUG)
    smtp_server.require_auth(USER, PASSWORD)
    queue(archive)
    wrong = "Wrong-Pass-99"
    async with worker(archive, smtp_server, username=USER, password=wrong):
        await wait_until(lambda: rows(archive)[0]["attempts"] >= 1)
    (row,) = rows(archive)
    assert row["state"] == "pending" and "refused the login" in row["last_error"]
    assert wrong not in caplog.text and wrong not in row["last_error"]
    errors = [r for r in caplog.records if r.name == "im2mail.outbox" and r.levelname == "ERROR"]
    assert errors and "refused the login" in errors[0].getMessage()


async def test_check_login_connection_refused(smtp_server):
    smtp_server.stop()
    with pytest.raises(SmtpConnectionRefused, match="refused the connection"):
        await check_login(settings(smtp_server), "")


async def test_check_login_unknown_host():
    config = ServerConfig("no-such-host.invalid", 587, "starttls", USER)
    with pytest.raises(SmtpHostNotFound, match=r"no-such-host\.invalid") as caught:
        await check_login(config, PASSWORD)
    assert caught.value.exit_code == 1  # a RuntimeFailure


async def test_check_login_timeout(smtp_server):
    smtp_server.hang = True
    with pytest.raises(SmtpTimeout, match=r"did not answer within 0\.3 s"):
        await check_login(settings(smtp_server, timeout=0.3), "")


async def test_check_login_tls_against_a_plain_port(smtp_server):
    with pytest.raises(SmtpTlsError) as caught:
        await check_login(settings(smtp_server, security="tls"), "")
    assert "587" in (caught.value.hint or "")


async def test_check_login_starttls_not_offered(smtp_server):
    with pytest.raises(SmtpTlsError, match="does not offer STARTTLS"):
        await check_login(settings(smtp_server, security="starttls"), "")


@pytest.mark.parametrize("mode", ["tls", "starttls"])
async def test_tls_with_a_trusted_certificate(archive, smtp_servers, mode):
    server = smtp_servers(tls=mode)
    server.require_auth(USER, PASSWORD)
    trusted = server.client_tls_context()
    await check_login(settings(server, security=mode, username=USER, tls_context=trusted), PASSWORD)
    with pytest.raises(SmtpTlsError, match="certificate"):  # the system CAs don't know it
        await check_login(settings(server, security=mode, username=USER), PASSWORD)
    (mid,) = queue(archive)
    opts = {"security": mode, "username": USER, "tls_context": trusted}
    async with worker(archive, server, password=PASSWORD, **opts):
        await server.wait_for(1)
    assert server.message_ids() == [mid]


def test_every_check_login_error_is_a_runtime_failure():
    for cls in (SmtpAuthError, SmtpConnectionRefused, SmtpHostNotFound, SmtpTimeout, SmtpTlsError):
        assert issubclass(cls, SmtpError)
        assert cls("x").exit_code == 1


def test_settings_from_config_never_hold_the_password():
    config = ServerConfig("smtp.shop.example", 465, "tls", USER)
    s = SmtpSettings.from_config(config, timeout=10)
    assert (s.host, s.port, s.security, s.username, s.timeout) == (
        "smtp.shop.example",
        465,
        "tls",
        USER,
        10,
    )
    client = s.client(PASSWORD)
    assert client.use_tls and not client._start_tls_on_connect
    assert PASSWORD not in repr(s)


async def test_mail_gives_way_to_receiving_but_is_never_starved(archive, smtp_server):
    queue(archive, 2)
    busy = True
    async with worker(archive, smtp_server, busy_elsewhere=lambda: busy):
        await asyncio.sleep(0.3)
        assert smtp_server.messages == []  # a burst is coming in: emails wait
        await smtp_server.wait_for(1, timeout=5)  # ... but not for ever (1 s at most each)
        busy = False
        await smtp_server.wait_for(2, timeout=5)
