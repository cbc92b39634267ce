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
    conn = {
        k: options.pop(k)
        for k in ("username", "security", "tls_context", "timeout")
        if k in options
    }
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


async def test_a_conversations_later_email_waits_for_an_earlier_one_being_retried(
    archive, smtp_server
):
    smtp_server.fail_next(450, 1)  # the first email is refused for now, then taken
    first, second, third = queue(archive, 3)
    async with worker(archive, smtp_server, backoff=lambda n: 0.3):
        await smtp_server.wait_for(3)
        await wait_until(settled(archive))
    assert smtp_server.message_ids() == [first, second, third]  # the managers read in order
    assert [(r["state"], r["attempts"]) for r in rows(archive)] == [
        ("sent", 2),
        ("sent", 1),
        ("sent", 1),
    ]


@pytest.mark.parametrize("lanes", [1, 3])
async def test_other_conversations_go_on_while_one_waits_for_its_retry(archive, smtp_server, lanes):
    waits = queue_from(archive, customers=1, each=3)  # its first is refused once (4xx)
    goes = queue_from(archive, customers=4, each=2)
    smtp_server.fail_next(451, 1)
    async with laned(archive, smtp_server, lanes=lanes, backoff=lambda n: 0.5):
        await smtp_server.wait_for(len(goes) + 3)
        await wait_until(settled(archive))
    order = smtp_server.message_ids()  # the others while the first waited, then its three
    assert set(order[: len(goes)]) == {mid for _, mid in goes}
    assert order[len(goes) :] == [mid for _, mid in waits]
    assert arrived(smtp_server, goes) == in_order(goes)
    assert sorted(r["attempts"] for r in rows(archive)) == [1] * (len(goes) + 2) + [2]


async def test_emails_refused_mid_burst_keep_their_conversations_in_order(archive, smtp_server):
    queued = queue_from(archive, customers=6, each=4)
    smtp_server.rtt = 0.005  # sends overlap on three connections
    smtp_server.fail_next(451, 3)  # the first three emails are refused for now
    async with laned(archive, smtp_server):
        await smtp_server.wait_for(len(queued))
        await wait_until(settled(archive))
    assert Counter(smtp_server.message_ids()) == Counter(mid for _, mid in queued)
    assert arrived(smtp_server, queued) == in_order(queued)
    assert sorted(r["attempts"] for r in rows(archive))[-4:] == [1, 2, 2, 2]


async def test_an_email_given_up_does_not_hold_its_conversation(archive, smtp_server):
    smtp_server.fail_next(554, 3)  # refused for good: failed after permanent_tries
    _first, second = queue(archive, 2)
    async with worker(archive, smtp_server, permanent_tries=3):
        await smtp_server.wait_for(1)
        await wait_until(settled(archive))
    assert smtp_server.message_ids() == [second]
    assert [(r["state"], r["attempts"]) for r in rows(archive)] == [("failed", 3), ("sent", 1)]


async def test_an_email_scheduled_for_later_holds_nothing(archive, smtp_server):
    queue(archive, at=now() + timedelta(hours=1))  # e.g. a flood's digest
    (soon,) = queue(archive)
    async with worker(archive, smtp_server):
        await smtp_server.wait_for(1)
        await wait_until(lambda: archive.deliveries.outbox_counts()["pending"] == 1)
    assert smtp_server.message_ids() == [soon]


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


# -- several connections (lanes) ----------------------------------------------------------------


def queue_from(archive: Archive, customers: int, each: int) -> list[tuple[int, str]]:
    """`each` messages from each of `customers` customers, round robin, each with its mail
    outbox row; returns (conversation id, Message-ID) in queue order."""
    convs = [customer(archive, f"Клієнт{n}", "Тест") for n in range(customers)]
    queued = []
    for k in range(each):
        for conv in convs:
            mid = f"<{uuid.uuid4().hex}@shop.example>"
            item = OutboxItem("mail", mid)
            archive.add_message(Message(conv.id, "in", "Клієнт", f"№{k}", T0), outbox=[item])
            queued.append((conv.id, mid))
    return queued


class InFlight:
    """Counts the emails in flight, in all and per conversation: from build() to the
    outbox's record of the try (a proxy of the delivery queue)."""

    def __init__(self, archive: Archive) -> None:
        self._build = composer(archive)
        self._queue = archive.deliveries
        self._conv: dict[int, int] = {}
        self.now: Counter[int] = Counter()
        self.peak = 0
        self.peak_per_conversation = 0
        self.builds = 0

    def build(self, item: OutboxItem) -> EmailMessage:
        assert item.id is not None and item.conversation_id is not None
        self.builds += 1
        self._conv[item.id] = item.conversation_id
        self.now[item.conversation_id] += 1
        self.peak = max(self.peak, self.now.total())
        self.peak_per_conversation = max(self.peak_per_conversation, *self.now.values())
        return self._build(item)

    def _ended(self, item_id: int) -> None:
        self.now[self._conv[item_id]] -= 1

    def delivery_sent(self, item_id: int, *args, **kwargs) -> bool:
        self._ended(item_id)
        return self._queue.delivery_sent(item_id, *args, **kwargs)

    def delivery_retry(self, item_id: int, *args, **kwargs) -> bool:
        self._ended(item_id)
        return self._queue.delivery_retry(item_id, *args, **kwargs)

    def delivery_failed(self, item_id: int, *args, **kwargs) -> bool:
        self._ended(item_id)
        return self._queue.delivery_failed(item_id, *args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self._queue, name)


def laned(archive: Archive, server: SmtpServer, tracked: InFlight | None = None, **options):
    if tracked is None:
        return worker(archive, server, **options)
    return MailOutbox(
        tracked,  # type: ignore[arg-type]
        settings(server),
        "",
        tracked.build,
        **{"backoff": FAST, **options},
    )


def arrived(server: SmtpServer, queued: list[tuple[int, str]]) -> dict[int, list[str]]:
    """Per conversation of `queued`, its Message-IDs in the order the server took them."""
    conv_of = dict((mid, conv) for conv, mid in queued)
    got: dict[int, list[str]] = {conv: [] for conv, _ in queued}
    for mid in server.message_ids():
        assert mid is not None
        if mid in conv_of:
            got[conv_of[mid]].append(mid)
    return got


def in_order(queued: list[tuple[int, str]]) -> dict[int, list[str]]:
    wanted: dict[int, list[str]] = {conv: [] for conv, _ in queued}
    for conv, mid in queued:
        wanted[conv].append(mid)
    return wanted


async def test_a_backlog_goes_over_three_connections_one_email_per_conversation_at_once(
    archive, smtp_server
):
    big = [(conv.id, mid) for conv in [customer(archive, "Велике", "Замовлення")]
           for mid in queue_into(archive, conv, 15)]  # fmt: skip
    queued = big + queue_from(archive, customers=5, each=3)
    smtp_server.rtt = 0.005  # a server a little away: sends overlap
    tracked = InFlight(archive)
    async with laned(archive, smtp_server, tracked):
        await smtp_server.wait_for(len(queued))
        await wait_until(settled(archive))
    assert Counter(smtp_server.message_ids()) == Counter(mid for _, mid in queued)
    assert smtp_server.peak_sessions == smtp_server.sessions == 3
    # built to recorded: 3 being sent and up to 3 built ahead, one per conversation at most
    assert 3 <= tracked.peak <= 6 and tracked.peak_per_conversation == 1
    assert tracked.builds == len(queued)  # built ahead, each once: none built in vain
    assert arrived(smtp_server, queued) == in_order(queued)  # each conversation in order
    # ... while the others went beside the big one, not after it
    order = smtp_server.message_ids()
    last_big = max(order.index(mid) for _, mid in big)
    assert last_big > len(big) + 5
    assert {r["attempts"] for r in rows(archive)} == {1}


def queue_into(archive: Archive, conv, count: int) -> list[str]:
    ids = []
    for n in range(count):
        mid = f"<{uuid.uuid4().hex}@shop.example>"
        archive.add_message(
            Message(conv.id, "in", "В", f"{n}", T0), outbox=[OutboxItem("mail", mid)]
        )
        ids.append(mid)
    return ids


async def test_while_the_queue_is_short_one_connection_does_all(archive, smtp_server):
    smtp_server.rtt = 0.005
    async with laned(archive, smtp_server) as outbox:
        for n in range(6):  # one at a time, from different customers
            queue_from(archive, customers=1, each=1)
            outbox.notify()
            await smtp_server.wait_for(n + 1)
            await wait_until(settled(archive))  # its 250 came: the lane is free again
        queue_from(archive, customers=2, each=1)  # two at once: the second waits its turn
        outbox.notify()
        await smtp_server.wait_for(8)
        await wait_until(settled(archive))
    assert smtp_server.sessions == 1


async def test_one_lane_is_one_connection_whatever_the_backlog(archive, smtp_server):
    queued = queue_from(archive, customers=5, each=4)
    async with laned(archive, smtp_server, lanes=1):
        await smtp_server.wait_for(len(queued))
        await wait_until(settled(archive))
    assert smtp_server.message_ids() == [mid for _, mid in queued]  # strictly queue order
    assert smtp_server.peak_sessions == smtp_server.sessions == 1


async def test_lanes_close_when_idle(archive, smtp_server):
    queued = queue_from(archive, customers=6, each=3)
    smtp_server.rtt = 0.005
    async with laned(archive, smtp_server, idle_close=0.3):
        await smtp_server.wait_for(len(queued))
        assert smtp_server.open_sessions == 3
        await wait_until(lambda: smtp_server.open_sessions == 0, timeout=3)


@pytest.mark.parametrize("limit", [1, 2])
async def test_a_server_that_takes_fewer_connections_gets_no_more_and_nothing_counts(
    archive, smtp_server, caplog, limit
):
    caplog.set_level(logging.INFO, "im2mail.outbox")
    smtp_server.max_sessions = limit  # a further one is greeted with 421
    smtp_server.rtt = 0.005
    queued = queue_from(archive, customers=6, each=4)
    async with laned(archive, smtp_server):
        await smtp_server.wait_for(len(queued))
        await wait_until(settled(archive))
    assert Counter(smtp_server.message_ids()) == Counter(mid for _, mid in queued)
    assert arrived(smtp_server, queued) == in_order(queued)
    assert smtp_server.peak_sessions == limit
    assert smtp_server.sessions == limit + 1  # asked once for one more, then never again
    assert {(r["state"], r["attempts"]) for r in rows(archive)} == {("sent", 1)}
    assert f"took no connection beyond {limit}" in caplog.text
    assert "not sent" not in caplog.text  # no email was charged a try, no pause


async def test_a_lane_whose_connection_drops_mid_burst_loses_nothing(archive, smtp_server):
    """Two of the three connections break at the end of DATA, one before the server took
    the mail and one after (the client cannot know it went): each is sent again at once
    on a new connection; the second is the one copy the docstring allows that lane."""
    queued = queue_from(archive, customers=6, each=5)
    smtp_server.rtt = 0.005
    async with laned(archive, smtp_server):
        await smtp_server.wait_for(6)
        await wait_until(lambda: smtp_server.open_sessions == 3)
        taken = len(smtp_server.messages)
        smtp_server.drop_next(1)
        smtp_server.drop_next(1, accepted=True)
        await smtp_server.wait_for(len(queued) + 1)
        await wait_until(settled(archive))
        await asyncio.sleep(0.2)  # nothing more should come
    counts = Counter(smtp_server.message_ids())
    assert set(counts) == {mid for _, mid in queued}
    copies = [mid for mid, n in counts.items() if n > 1]
    assert len(copies) == 1 and counts[copies[0]] == 2
    # the copy is the mail taken just before its connection broke
    first = smtp_server.message_ids().index(copies[0])
    assert first >= taken
    assert {r["state"] for r in rows(archive)} == {"sent"}
    assert smtp_server.sessions == 5  # the two broken ones replaced
    assert sorted(r["attempts"] for r in rows(archive)) == [1] * len(queued)


async def test_stop_with_three_sends_in_flight_records_all_three(archive, smtp_server):
    queued = queue_from(archive, customers=6, each=5)
    smtp_server.rtt = 0.005
    smtp_server.reply_delay = 0.3  # each mail is taken, then its 250 is slow to come
    first = laned(archive, smtp_server)
    await first.start()
    await smtp_server.wait_for(4)

    def unanswered() -> int:
        sent = [r["state"] for r in rows(archive)].count("sent")
        return len(smtp_server.messages) - sent

    await wait_until(lambda: unanswered() == 3)  # three taken, their 250s on the way
    await first.stop()
    got = len(smtp_server.messages)
    assert unanswered() == 0  # every one in flight finished and was recorded
    assert got < len(queued)
    smtp_server.reply_delay = 0
    async with laned(archive, smtp_server):
        await smtp_server.wait_for(len(queued))
        await wait_until(settled(archive))
        await asyncio.sleep(0.1)
    assert Counter(smtp_server.message_ids()) == Counter(mid for _, mid in queued)


async def test_a_421_at_mail_from_beyond_the_servers_sessions_is_a_limit_not_a_failure(
    archive, smtp_server, caplog
):
    """A server that greets every connection but answers MAIL FROM with "421 too many
    concurrent sessions" beyond its limit: fewer lanes, each email once, no try counted."""
    caplog.set_level(logging.INFO, "im2mail.outbox")
    smtp_server.max_sessions, smtp_server.limit_at = 1, "mail"
    smtp_server.rtt = 0.005
    queued = queue_from(archive, customers=6, each=4)
    async with laned(archive, smtp_server):
        await smtp_server.wait_for(len(queued))
        await wait_until(settled(archive))
    assert sorted(smtp_server.message_ids()) == sorted(mid for _, mid in queued)  # once each
    assert arrived(smtp_server, queued) == in_order(queued)
    # each further lane asked once (the third may connect before the second hears 421)
    assert smtp_server.refused_at_mail in (1, 2)
    assert smtp_server.sessions == 1 + smtp_server.refused_at_mail
    assert smtp_server.peak_sessions == 1
    assert {(r["state"], r["attempts"]) for r in rows(archive)} == {("sent", 1)}
    assert "took no connection beyond 1 (SMTP 421 4.7.0 Too many concurrent" in caplog.text
    assert "not sent" not in caplog.text


async def test_a_421_at_mail_from_on_the_only_connection_pauses_and_loses_nothing(
    archive, smtp_server
):
    smtp_server.max_sessions, smtp_server.limit_at = 0, "mail"  # every session: 421 at MAIL
    queued = queue_from(archive, customers=3, each=2)
    async with laned(archive, smtp_server, backoff=lambda n: 0.3):
        await wait_until(lambda: any(r["attempts"] for r in rows(archive)))
        await asyncio.sleep(0.05)  # a second lane that had connected hears its 421 too
        asked = smtp_server.refused_at_mail
        assert asked in (1, 2)
        await asyncio.sleep(0.15)  # within the pause: the server is not asked again
        assert smtp_server.refused_at_mail == asked
        smtp_server.max_sessions = None
        await smtp_server.wait_for(len(queued))
        await wait_until(settled(archive))
    assert sorted(smtp_server.message_ids()) == sorted(mid for _, mid in queued)
    assert arrived(smtp_server, queued) == in_order(queued)
    assert sorted(r["attempts"] for r in rows(archive)) == [1] * 5 + [2]


async def test_a_server_that_cannot_be_used_pauses_every_lane(archive, smtp_server):
    queued = queue_from(archive, customers=6, each=3)
    smtp_server.rtt = 0.005
    smtp_server.require_auth(USER, PASSWORD)
    outbox = worker(archive, smtp_server, username=USER, password="Wrong-Pass-99",
                    backoff=lambda n: 0.5)  # fmt: skip
    async with outbox:
        await wait_until(lambda: any(r["attempts"] for r in rows(archive)))
        await asyncio.sleep(0.3)  # within the pause: nothing else is tried
        tried = [r for r in rows(archive) if r["attempts"]]
    assert len(tried) == 1 and "refused the login" in tried[0]["last_error"]
    assert smtp_server.messages == [] and smtp_server.sessions == 1
    assert len(queued) == len(rows(archive))


async def test_a_stuck_connection_holds_up_its_own_conversation_only(archive, smtp_server):
    """The server never answers one connection's end of DATA: until the client gives up
    (its timeout), the other lanes send what was queued before and after, in order; the
    stuck email's conversation waits, and the email is tried again (a retry, like any
    failed try: the conversation's later ones wait for it)."""
    smtp_server.rtt = 0.005
    stuck = customer(archive, "Завислий", "Лист")
    queued = [(stuck.id, mid) for mid in queue_into(archive, stuck, 3)]
    queued += queue_from(archive, customers=6, each=2)
    smtp_server.stall_next(1)  # the first mail, the stuck conversation's first
    async with worker(archive, smtp_server, timeout=3.0) as outbox:
        await smtp_server.wait_for(len(queued) - 3)
        later = queue_from(archive, customers=3, each=1)  # while it is stuck
        outbox.notify()
        await smtp_server.wait_for(len(queued))
        first = rows(archive)[0]
        assert (first["state"], first["attempts"]) == ("pending", 0)  # still stuck
        assert not {mid for _, mid in queued[:3]} & set(smtp_server.message_ids())
        await smtp_server.wait_for(len(queued) + len(later), timeout=10)
        await wait_until(settled(archive))
    everything = queued + later
    assert Counter(smtp_server.message_ids()) == Counter(mid for _, mid in everything)
    others = [(conv, mid) for conv, mid in everything if conv != stuck.id]
    assert arrived(smtp_server, others) == in_order(others)
    first = rows(archive)[0]
    assert (first["state"], first["attempts"]) == ("sent", 2)
    assert first["last_error"] == "SMTPReadTimeoutError: Timed out waiting for server response"


async def test_a_refused_login_pauses_every_lane_and_once_it_works_all_go_once(
    archive, smtp_server, caplog
):
    """The server refuses the login for a while (its login back end is down): each
    refusal costs one email one try and every lane waits; then all go, each once."""
    caplog.set_level(logging.INFO, "im2mail.outbox")
    queued = queue_from(archive, customers=6, each=3)
    smtp_server.rtt = 0.005
    smtp_server.require_auth(USER, PASSWORD)
    wrong = "Wrong-Pass-99"
    async with worker(archive, smtp_server, username=USER, password=wrong):
        await wait_until(lambda: sum(r["attempts"] for r in rows(archive)) >= 3, timeout=5)
        assert smtp_server.messages == []
        smtp_server.require_auth(USER, wrong)  # the login works from now on
        await smtp_server.wait_for(len(queued))
        await wait_until(settled(archive))
        await asyncio.sleep(0.1)  # nothing more comes
    assert Counter(smtp_server.message_ids()) == Counter(mid for _, mid in queued)
    assert {r["state"] for r in rows(archive)} == {"sent"}
    refusals = [r for r in caplog.records if "refused the login" in r.getMessage()]
    assert all(r.levelno == logging.ERROR for r in refusals)
    assert sum(r["attempts"] for r in rows(archive)) == len(queued) + len(refusals)
    assert wrong not in caplog.text and PASSWORD not in caplog.text


async def test_a_server_going_down_mid_burst_loses_nothing(archive, smtp_server):
    """Every connection is dropped and new ones refused: the lanes stop trying (a pause
    between tries of the server, not a try per email) and resume once it is back; an
    email is mailed twice only if its connection broke after the server took it (one per
    lane at most)."""
    queued = queue_from(archive, customers=6, each=5)
    smtp_server.rtt = 0.005
    async with laned(archive, smtp_server):
        await smtp_server.wait_for(6)
        smtp_server.stop()
        await wait_until(
            lambda: "refused" in (archive.deliveries.outbox_counts()["last_error"] or "")
        )
        await asyncio.sleep(0.3)
        assert archive.deliveries.outbox_counts()["pending"] > 0
        smtp_server.start()
        await smtp_server.wait_for(len(queued))
        await wait_until(settled(archive))
        await asyncio.sleep(0.1)
    counts = Counter(smtp_server.message_ids())
    assert set(counts) == {mid for _, mid in queued}
    assert sum(n - 1 for n in counts.values()) <= 3
    assert {r["state"] for r in rows(archive)} == {"sent"}
    assert sum(r["attempts"] for r in rows(archive)) < len(queued) + 10


async def test_stop_while_the_server_cannot_be_reached_is_prompt_and_keeps_the_queue(
    archive, smtp_servers
):
    server = smtp_servers(port=free_port(), start=False)
    queued = queue_from(archive, customers=3, each=2)
    outbox = laned(archive, server, backoff=lambda n: 30.0)
    await outbox.start()
    await wait_until(lambda: any(r["attempts"] for r in rows(archive)))
    started = time.monotonic()
    await outbox.stop()
    assert time.monotonic() - started < 1.0
    assert [(r["state"], r["attempts"]) for r in rows(archive)] == [("pending", 1)] + [
        ("pending", 0)
    ] * (len(queued) - 1)
