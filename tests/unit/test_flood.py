"""Floods (flood.py, inbound.Intake, mailer.py, mail/abuse.py): a customer writing more than
relay.flood_per_minute messages a minute gets their messages archived, all of them, and
mailed in one digest a minute in the conversation's thread. Time is a clock the tests
move; the outbox is played by hand (its rows are read and marked as the worker does)."""

from __future__ import annotations

import itertools
import time as clock
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from im2mail import config
from im2mail.archive import Archive, floods
from im2mail.channels import CHANNELS
from im2mail.config import HoursConfig
from im2mail.config.sections import parse_ranges
from im2mail.errors import ConfigError
from im2mail.mail.builder import MailSettings
from im2mail.model import FLOOD, MESSAGE, Customer, Incoming, IncomingFile, OutboxItem
from im2mail.relay import flood
from im2mail.relay import intake as inbound
from im2mail.relay.flood import FloodGate, Seed
from im2mail.relay.intake import Intake, IntakeSettings
from im2mail.relay.mailer import LinkSettings, Mailer
from tests.conftest import VALID_CONFIG
from tests.support.archive_sql import reading
from tests.support.clock import Clock
from tests.support.scripted import ScriptedChannel
from tests.unit.test_compose import html, plain, wire

MAILBOX = "orders@shop.example"
MANAGERS = ("anna@shop.example", "petro@shop.example")
# Later than the real time: a customer message's own email is due at the real time (the
# relay's clock), and the test's clock is then always past it. Digests follow the test's.
T0 = datetime.combine(date.today() + timedelta(days=2), time(10, 0), UTC)
DAY = T0.date().isoformat()
SPAMMER = Customer("telegram", "666", "Спам", "Бот")
OLENA = Customer("telegram", "111", "Олена", "Коваль")


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# -- the setting ---------------------------------------------------------------------------------


def with_relay(tmp_path: Path, line: str) -> config.Config:
    path = tmp_path / "config.toml"
    path.write_text(VALID_CONFIG.replace("[relay]\n", f"[relay]\n{line}\n", 1), encoding="utf-8")
    return config.load(path, channels=CHANNELS)


def test_flood_per_minute_is_twenty_unless_set(tmp_path):
    assert with_relay(tmp_path, "").relay.flood_per_minute == 20
    assert with_relay(tmp_path, "flood_per_minute = 0").relay.flood_per_minute == 0
    assert with_relay(tmp_path, "flood_per_minute = 5").relay.flood_per_minute == 5


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("-1", "expected 0 (off) or a number of messages a minute up to 10000"),
        ("10001", "expected 0 (off) or a number of messages a minute up to 10000"),
        ('"20"', "expected an integer"),
        ("20.5", "expected an integer"),
        ("true", "expected an integer"),
    ],
)
def test_a_bad_flood_per_minute_names_the_key(tmp_path, value, problem):
    with pytest.raises(ConfigError) as caught:
        with_relay(tmp_path, f"flood_per_minute = {value}")
    assert caught.value.message == f"relay.flood_per_minute: {problem}"


# -- the gate ----------------------------------------------------------------------------------


def test_more_than_the_limit_within_a_minute_is_a_flood():
    gate = FloodGate(3)
    verdicts = [gate.flooding(1, s(i), s(i)) for i in range(5)]
    assert verdicts == [False, False, False, True, True]
    assert gate.flooding(2, s(5), s(5)) is False  # another conversation is not counted


def test_the_limit_a_minute_is_never_a_flood_and_a_minute_later_it_is_over():
    gate = FloodGate(3)
    # three a minute, for ten minutes
    assert not any(gate.flooding(1, s(i * 20), s(i * 20)) for i in range(30))
    assert [gate.flooding(1, s(700 + i), s(700 + i)) for i in range(4)] == [0, 0, 0, 1]
    assert gate.flooding(1, s(770), s(770)) is False  # a minute on: one in the last minute


def test_a_backlog_delivered_at_once_is_no_flood():
    """After the relay was down, the platform delivers what customers wrote meanwhile in a
    burst: the times they wrote count, not when it arrives."""
    gate = FloodGate(3)
    arrival = s(3600)
    assert not any(gate.flooding(1, s(i * 60), arrival) for i in range(50))


def test_while_a_digest_is_to_go_every_message_joins_it():
    gate = FloodGate(3)
    for i in range(4):
        gate.flooding(1, s(i), s(i))
    gate.digest_queued(1, s(63))
    assert gate.flooding(1, s(62), s(62)) is True  # one a minute now, but the digest waits
    assert gate.flooding(1, s(64), s(64)) is False  # it has gone: emails one by one again


def test_zero_turns_it_off():
    gate = FloodGate(0)
    assert not any(gate.flooding(1, T0, T0) for _ in range(1000))


def test_the_archive_is_asked_once_per_conversation():
    asked: list[int] = []

    def seed(conversation: int, since: datetime) -> Seed:
        asked.append(conversation)
        assert since == s(0) - flood.WINDOW
        return Seed((s(-3), s(-2), s(-1)))  # three in the minute before the restart

    gate = FloodGate(3, seed)
    assert gate.flooding(7, s(0), s(0)) is True  # the fourth in a minute
    for i in range(1, 100):
        gate.flooding(7, s(i * 60), s(i * 60))
    assert asked == [7]


def test_a_pending_digest_is_kept_across_a_restart():
    gate = FloodGate(20, lambda c, since: Seed(digest_due=s(50)))
    assert gate.flooding(7, s(0), s(0)) is True
    assert gate.flooding(7, s(51), s(51)) is False


def test_quiet_conversations_are_forgotten_but_not_asked_for_again():
    asked: list[int] = []
    gate = FloodGate(2, lambda c, since: asked.append(c) or Seed())
    for conversation in range(flood._SWEEP_EVERY * 2):
        gate.flooding(conversation, s(conversation), s(conversation))
    assert len(gate._recent) < flood._SWEEP_EVERY  # memory stays bounded
    assert gate.flooding(0, s(10_000), s(10_000)) is False
    assert asked.count(0) == 1


# -- the intake --------------------------------------------------------------------------------


class Shop:
    """An Intake on an archive, with the clock and the outbox in the test's hands."""

    def __init__(self, archive: Archive, limit: int = 20, greeting: str | None = None) -> None:
        self.archive = archive
        self.clock = Clock(T0)
        self.channel = ScriptedChannel()
        self.woken = 0
        self.updates = 0
        self.intake = Intake(
            archive,
            {"shop": self.channel},  # type: ignore[dict-item]
            IntakeSettings(MailSettings(MAILBOX, ()), greeting, flood_per_minute=limit),
            self.wake,
            clock=self.clock,
        )

    def wake(self) -> None:
        self.woken += 1

    async def writes(self, who: Customer, text: str, *, files: tuple[str, ...] = ()) -> int:
        self.updates += 1
        incoming = Incoming(
            bot="shop", customer=who, dedupe_key=f"telegram:shop:update:{self.updates}",
            created=self.clock.now, text=text, chat_id=who.external_id,
            channel_message_id=str(self.updates), kind="photo" if files else "text",
            files=tuple(IncomingFile(name, name, "image/jpeg", kind="photo") for name in files),
        )  # fmt: skip
        self.channel.next = [incoming]
        return (await self.intake.take("shop", {"update_id": self.updates})).stored

    def restart(self) -> None:
        self.intake = Intake(
            self.archive, {"shop": self.channel},  # type: ignore[dict-item]
            self.intake.settings, self.wake, clock=self.clock,
        )  # fmt: skip

    def mail_rows(self) -> list[tuple[str, str, str]]:
        """(kind, Message-ID, next_try) of the email rows, in order."""
        with reading(self.archive) as db:
            found = db.execute(
                "SELECT kind, email_message_id, next_try FROM outbox WHERE target = 'mail'"
                " ORDER BY id"
            ).fetchall()
        return [tuple(r) for r in found]

    def digests(self) -> list[tuple[str, datetime]]:
        return [(mid, datetime.fromisoformat(due)) for kind, mid, due in self.mail_rows()
                if kind == FLOOD]  # fmt: skip

    def send_due(self) -> list[OutboxItem]:
        """What the mail outbox would send now, marked sent."""
        queue = self.archive.deliveries
        due = queue.due_deliveries("mail", self.clock.now, 10_000)
        for item in due:
            assert item.id is not None
            queue.delivery_sent(item.id, self.clock.now)
        return due


def every_message_is_mailed_or_in_a_digest(archive: Archive) -> None:
    """No customer message is left without an email: its own (or its album's), or a
    digest's, queued or sent."""
    with reading(archive) as db:
        lost = db.execute(
            "SELECT m.id FROM messages m WHERE m.direction = 'in' AND NOT EXISTS ("
            " SELECT 1 FROM outbox o WHERE o.target = 'mail' AND ("
            "  (o.kind = 'message' AND o.email_message_id = m.email_message_id)"
            "  OR (o.kind = 'flood' AND o.email_message_id = m.flood_digest)))"
        ).fetchall()
    assert [r[0] for r in lost] == []


async def test_a_flood_is_archived_whole_and_mailed_in_one_digest(archive):
    shop = Shop(archive, limit=20)
    for i in range(500):
        shop.clock.now = s(i * 0.1)  # 500 in 50 s
        assert await shop.writes(SPAMMER, f"Купіть слона #{i}") == 1
    assert len(archive.recent(1000)) == 500  # every message is in the archive
    rows = shop.mail_rows()
    assert [k for k, _, _ in rows] == [MESSAGE] * 20 + [FLOOD]
    ((digest, due),) = shop.digests()
    assert due == s(2.0) + flood.EVERY  # a minute after the 21st message
    assert floods.covered(archive, digest, flood.SHOWN).count == 480
    with reading(archive) as db:
        plain_ones = db.execute("SELECT count(*) FROM messages WHERE flood_digest IS NULL")
        assert plain_ones.fetchone()[0] == 20
    assert shop.woken == 21  # the outbox is woken for each email, not for each message
    every_message_is_mailed_or_in_a_digest(archive)


async def test_digests_go_at_most_once_a_minute_until_the_flood_ends(archive):
    shop = Shop(archive, limit=5)
    sent: list[tuple[datetime, str]] = []
    for i in range(0, 300):  # a message every second for five minutes
        shop.clock.now = s(i)
        await shop.writes(SPAMMER, f"#{i}")
        sent += [(shop.clock.now, item.kind) for item in shop.send_due()]
    digests = [when for when, kind in sent if kind == FLOOD]
    assert len(digests) == 4
    assert all(b - a >= flood.EVERY for a, b in itertools.pairwise(digests))
    assert [kind for _, kind in sent].count(MESSAGE) == 5  # the five before the flood
    # The flood ends: once the last digest went and the customer writes at the limit,
    # each message has its email again.
    shop.clock.now = s(420)
    sent += [(shop.clock.now, item.kind) for item in shop.send_due()]
    for i in range(3):
        shop.clock.now = s(500 + i * 30)
        await shop.writes(SPAMMER, f"after #{i}")
    assert [k for k, _, _ in shop.mail_rows()][-3:] == [MESSAGE] * 3
    every_message_is_mailed_or_in_a_digest(archive)


async def test_other_customers_get_their_emails_during_a_flood(archive):
    shop = Shop(archive, limit=3)
    for i in range(100):
        shop.clock.now = s(i)
        await shop.writes(SPAMMER, f"#{i}")
        if i % 30 == 0:
            await shop.writes(OLENA, f"Олена {i}")
    with reading(archive) as db:
        found = db.execute(
            "SELECT m.text, o.kind FROM messages m JOIN outbox o ON o.message_id = m.id"
            " WHERE m.author = 'Олена Коваль' ORDER BY m.id"
        ).fetchall()
    assert [tuple(r) for r in found] == [(f"Олена {i}", MESSAGE) for i in (0, 30, 60, 90)]


async def test_a_restart_in_the_middle_of_a_flood_keeps_its_digest(archive):
    shop = Shop(archive, limit=3)
    for i in range(10):
        shop.clock.now = s(i)
        await shop.writes(SPAMMER, f"#{i}")
    before = shop.mail_rows()
    shop.restart()  # a new process: the gate knows nothing, the archive everything
    shop.clock.now = s(30)
    await shop.writes(SPAMMER, "after the restart")
    assert shop.mail_rows() == before  # joined the pending digest; no email of its own
    ((digest, _),) = shop.digests()
    assert floods.covered(archive, digest, flood.SHOWN).count == 8
    every_message_is_mailed_or_in_a_digest(archive)


async def test_a_digest_being_sent_is_not_joined(archive):
    """Once its time has come the outbox may be building it: a later message of the flood
    starts the next digest rather than join one that may already be on its way."""
    shop = Shop(archive, limit=3)
    for i in range(5):
        shop.clock.now = s(i)
        await shop.writes(SPAMMER, f"#{i}")
    ((first, due),) = shop.digests()
    shop.clock.now = due  # due, not sent yet
    for i in range(4):
        await shop.writes(SPAMMER, f"late #{i}")
    second = [mid for mid, _ in shop.digests() if mid != first]
    assert len(second) == 1
    assert floods.covered(archive, first, flood.SHOWN).count == 2
    # two fit the limit again (the minute holds #4 and them): emails of their own
    assert [k for k, _, _ in shop.mail_rows()].count(MESSAGE) == 3 + 2
    assert floods.covered(archive, second[0], flood.SHOWN).count == 2
    every_message_is_mailed_or_in_a_digest(archive)


async def test_a_repeated_update_is_stored_once(archive):
    shop = Shop(archive, limit=1)
    shop.clock.now = s(0)
    await shop.writes(SPAMMER, "one")
    await shop.writes(SPAMMER, "two")  # in a digest
    assert (await shop.intake.take("shop", {})).stored == 0  # the same update again
    assert len(archive.recent(10)) == 2
    (again,) = archive.recent(1)
    message = archive.message(again.message_id)
    key = f"telegram:shop:update:{shop.updates}"
    mail = MailSettings(MAILBOX, MANAGERS)
    assert flood.store(archive, message, dedupe_key=key, at=s(1), mail=mail) is None


async def test_off_means_one_email_each(archive):
    shop = Shop(archive, limit=0)
    for i in range(50):
        await shop.writes(SPAMMER, f"#{i}")
    assert [k for k, _, _ in shop.mail_rows()] == [MESSAGE] * 50


# -- the digest email --------------------------------------------------------------------------


def builder(archive: Archive, zone: str = "UTC") -> Mailer:
    """The relay's one builder of emails, with relay.flood_per_minute = 20 and [hours] in
    `zone` (a digest shows times in the shop's zone)."""
    hours = HoursConfig(zone=zone, week=(parse_ranges("09:00-18:00"),) * 7)
    links = LinkSettings("https://bot.shop.example", "k" * 32)
    return Mailer(archive, MailSettings(MAILBOX, MANAGERS), links, hours=hours,
                  flood_per_minute=20, clock=lambda: s(120))  # fmt: skip


async def flood_digest(archive: Archive, messages: int, **kw: Any):
    shop = Shop(archive, limit=20)
    for i in range(messages):
        shop.clock.now = s(i * 0.05)
        await shop.writes(SPAMMER, f"Повідомлення {i}\nдругий рядок", **kw)
    due = archive.deliveries.due_deliveries("mail", s(3600), 10_000)
    (item,) = [i for i in due if i.kind == FLOOD]
    return item, next(i for i in due if i.kind == MESSAGE)


async def test_the_digest_is_in_the_thread_and_lists_what_came(archive):
    item, first_email = await flood_digest(archive, 45)
    email = wire(builder(archive).build(item))
    conversation = archive.conversation(archive.message(item.message_id).conversation_id)
    assert email["Message-ID"] == item.email_message_id
    assert email["Subject"] == f"[Telegram] Спам Бот #{conversation.id}"
    assert email["From"].addresses[0].display_name == "Спам Бот via Telegram"
    assert email["Reply-To"].addresses[0].addr_spec == f"orders+{conversation.token}@shop.example"
    assert sorted(a.addr_spec for a in email["To"].addresses) == sorted(MANAGERS)
    assert first_email.email_message_id in email["References"]
    assert email["In-Reply-To"] != item.email_message_id  # after the 20th message's email
    text = plain(email)
    assert f"Спам Бот sent 25 messages in Telegram from {DAY} 10:00:01 to 10:00:02" in text
    assert "more than 20 a minute" in text
    assert "10:00:01  Повідомлення 20" in text and "Повідомлення 44" in text
    assert "другий рядок" not in text  # first lines only
    assert "Повідомлення 19" not in text  # that one had its own email
    assert "https://bot.shop.example/c/" in text and "im2mail unblock" in text
    assert "Повідомлення 44" in html(email)


async def test_a_long_flood_lists_its_first_and_last_messages(archive):
    item, _ = await flood_digest(archive, 20 + 1000)
    text = plain(wire(builder(archive).build(item)))
    assert "sent 1,000 messages" in text
    assert "Повідомлення 20\n" in text and "Повідомлення 1019\n" in text
    assert f"… {1000 - 2 * flood.SHOWN:,} more messages …" in text
    assert "Повідомлення 500\n" not in text
    assert len(text) < 20_000


async def test_the_digest_names_files_and_escapes_what_customers_write(archive):
    shop = Shop(archive, limit=1)
    await shop.writes(SPAMMER, "перше")
    await shop.writes(SPAMMER, "<script>alert(1)</script>", files=("макет.jpg",))
    await shop.writes(SPAMMER, "", files=("a.jpg", "b.jpg"))
    (item,) = [i for i in archive.deliveries.due_deliveries("mail", s(3600), 100)
               if i.kind == FLOOD]  # fmt: skip
    email = wire(builder(archive).build(item))
    text = plain(email)
    assert "(3 files)" in text
    assert "<script>alert(1)</script> [макет.jpg]" in text
    assert "(photo) [a.jpg, b.jpg]" in text
    assert "<script>" not in html(email) and "&lt;script&gt;" in html(email)
    assert list(email.iter_attachments()) == []  # named, not attached


async def test_times_are_shown_in_the_shops_zone(archive):
    from zoneinfo import ZoneInfo

    kyiv = ZoneInfo("Europe/Kyiv")
    item, _ = await flood_digest(archive, 22)
    text = plain(wire(builder(archive, "Europe/Kyiv").build(item)))
    local = s(1).astimezone(kyiv).strftime("%Y-%m-%d %H:%M:%S")
    assert f"from {local} to {local[-8:]} (Europe/Kyiv)" in text


async def test_a_digest_that_lists_nothing_fails_to_build(archive):
    """A digest row no message names (an archive edited by hand) fails with a reason, as
    the outbox then records, rather than mailing an empty digest."""
    item, _ = await flood_digest(archive, 22)
    lost = OutboxItem("mail", "<nobody@shop.example>", item.id, item.message_id, kind=FLOOD)
    with pytest.raises(ValueError, match="no message is in this flood digest"):
        builder(archive).build(lost)


async def test_a_floods_messages_dont_hold_back_the_other_customers_emails(archive):
    """The outbox gives way while messages that queue emails come in (busy()); a flood's
    messages queue none, so the others' emails are not held back by it."""
    shop = Shop(archive, limit=2)
    await shop.writes(SPAMMER, "1")
    assert shop.intake.busy()
    await shop.writes(SPAMMER, "2")
    await shop.writes(SPAMMER, "3")  # starts the digest: its email is queued
    assert shop.intake.busy()
    clock.sleep(inbound.BUSY_WINDOW * 2)
    for i in range(20):
        await shop.writes(SPAMMER, f"flood {i}")
    assert not shop.intake.busy()
    await shop.writes(OLENA, "Добрий день")
    assert shop.intake.busy()
