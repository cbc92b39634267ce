"""Reminders about waiting customers and the daily digest (alerts.py, mailer.py,
mail/reminders.py): what is queued when, with a clock the tests set, and the emails as a
client reads them."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from im2mail import config, signing
from im2mail.channels import CHANNELS
from im2mail.config import HoursConfig
from im2mail.config.sections import parse_ranges
from im2mail.hours import BusinessHours
from im2mail.mail.builder import MailSettings, digest_message_id
from im2mail.model import MESSAGE, Message, OutboxItem
from im2mail.relay.alerts import DIGEST, REMINDER, Alerts, AlertSettings, day_span
from im2mail.relay.mailer import LinkSettings, Mailer
from tests.conftest import VALID_CONFIG
from tests.support.archive_sql import reading, writing
from tests.support.chats import T0, customer
from tests.unit.test_compose import html, plain, wire

MAILBOX = "orders@shop.example"
MANAGERS = ("anna@shop.example", "petro@shop.example")
OWNER = "owner@shop.example"
KYIV = ZoneInfo("Europe/Kyiv")
SETTINGS = AlertSettings(MailSettings(MAILBOX, MANAGERS), timedelta(minutes=15))


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def writes(archive, conversation, text, minutes, *, emailed=True) -> Message:
    """A customer's message as the relay archives it: with its email to the managers."""
    mid = f"<in-{text.__hash__() & 0xFFFF}-{minutes}@shop.example>" if emailed else None
    message = Message(conversation.id, "in", "Олена", text, at(minutes), email_message_id=mid)
    item = [OutboxItem("mail", email_message_id=mid)] if emailed else []
    stored = archive.add_message(message, outbox=item)
    with writing(archive) as db:  # its email went out
        db.execute("UPDATE outbox SET state = 'sent' WHERE message_id = ?", (stored.id,))
        db.execute("UPDATE messages SET sent = created WHERE id = ?", (stored.id,))
    return stored


def answers(archive, conversation, minutes, author="anna@shop.example") -> Message:
    when = at(minutes)
    message = Message(conversation.id, "out", author, "Добрий день!", when, sent=when,
                      email_message_id=f"<reply-{minutes}@mail.example>")  # fmt: skip
    return archive.add_message(message, outbox=[OutboxItem("channel", state="sent")])


def reminders(archive) -> list[tuple[int, str]]:
    """(message id, Message-ID) of every reminder queued."""
    with reading(archive) as db:
        found = db.execute(
            "SELECT message_id, email_message_id FROM outbox WHERE kind = ? ORDER BY id",
            (REMINDER,),
        )
        return [tuple(row) for row in found]


# -- reminders ---------------------------------------------------------------------------------


def test_one_reminder_per_wait_after_unanswered_after(archive):
    olena = customer(archive, "Олена")
    first = writes(archive, olena, "Добрий день", 0)
    writes(archive, olena, "Скільки коштують візитки?", 2)
    alerts = Alerts(archive, SETTINGS)

    assert alerts.check(at(14)) == 0
    assert alerts.check(at(15.5)) == 1
    assert alerts.check(at(16)) == 0
    assert Alerts(archive, SETTINGS).check(at(30)) == 0  # a restart: not again

    ((message_id, email_id),) = reminders(archive)
    assert message_id == first.id and email_id.endswith("@shop.example>")
    assert archive.was_seen(f"reminder:{olena.id}:{first.id}")


def test_no_reminder_when_a_manager_answered_in_time(archive):
    olena = customer(archive, "Олена")
    writes(archive, olena, "Добрий день", 0)
    answers(archive, olena, 10)
    assert Alerts(archive, SETTINGS).check(at(60)) == 0


def test_a_new_wait_after_an_answer_gets_its_own_reminder(archive):
    olena = customer(archive, "Олена")
    writes(archive, olena, "Добрий день", 0)
    alerts = Alerts(archive, SETTINGS)
    assert alerts.check(at(20)) == 1
    answers(archive, olena, 30)  # late, after the reminder
    later = writes(archive, olena, "А банер?", 40)
    assert alerts.check(at(54)) == 0
    assert alerts.check(at(56)) == 1
    assert [m for m, _ in reminders(archive)][-1] == later.id


def test_reminders_count_business_hours_only(archive):
    office = HoursConfig(zone="Europe/Kyiv", week=(parse_ranges("09:00-18:00"),) * 7)
    settings = AlertSettings(MailSettings(MAILBOX, MANAGERS), timedelta(minutes=15), hours=office)
    evening = datetime(2026, 1, 5, 21, 0, tzinfo=KYIV)
    olena = customer(archive, "Олена")
    stored = archive.add_message(
        Message(olena.id, "in", "Олена", "Ви працюєте?", evening, email_message_id="<e@x.y>")
    )
    assert stored is not None
    alerts = Alerts(archive, settings)
    assert alerts.check(evening + timedelta(hours=1)) == 0  # closed: no business time yet
    morning = datetime(2026, 1, 6, 9, 0, tzinfo=KYIV)
    assert alerts.check(morning + timedelta(minutes=14)) == 0
    assert alerts.check(morning + timedelta(minutes=16)) == 1


def test_no_reminder_for_history_without_an_email_or_for_old_waits(archive):
    imported = customer(archive, "Імпорт")
    writes(archive, imported, "старе питання", 0, emailed=False)
    old = customer(archive, "Давня")
    writes(archive, old, "ще старіше", 0)
    # both have waited far longer than unanswered_after + a day: an upgrade floods nothing
    assert Alerts(archive, SETTINGS).check(at(3 * 24 * 60)) == 0
    assert Alerts(archive, SETTINGS).check(at(20)) == 1  # the emailed one, in time


def test_reminders_off(archive):
    writes(archive, customer(archive, "Олена"), "?", 0)
    off = AlertSettings(MailSettings(MAILBOX, MANAGERS), None)
    assert Alerts(archive, off).check(at(60)) == 0 and not Alerts(archive, off).enabled


def test_settings_come_from_config_and_short_delays_look_more_often(write_config):
    cfg = config.load(write_config(
        VALID_CONFIG + '\n[alerts]\nunanswered_after = "2s"\ndigest_to = ["owner@shop.example"]\n'
        'digest_at = "07:30"\n'
    ), channels=CHANNELS)  # fmt: skip
    mail = MailSettings.from_config(cfg.mail)
    settings = AlertSettings.from_config(cfg, mail)
    assert settings.unanswered_after == timedelta(seconds=2)
    assert settings.digest_to == (OWNER,) and settings.digest_at == time(7, 30)
    assert settings.mail.managers == MANAGERS and settings.interval == 1.0
    assert SETTINGS.interval == 60.0


async def test_the_task_looks_regularly_and_wakes_the_outbox(archive):
    writes(archive, customer(archive, "Олена"), "?", 0)
    woken = []
    alerts = Alerts(archive, SETTINGS, lambda: woken.append(1), clock=lambda: at(20),
                    interval=0.05)  # fmt: skip
    await alerts.start()
    for _ in range(100):
        if woken:
            break
        await asyncio.sleep(0.02)
    await alerts.stop()
    assert woken == [1] and len(reminders(archive)) == 1


# -- the reminder email ------------------------------------------------------------------------


def builder(archive, settings=SETTINGS, clock=lambda: at(17)) -> Mailer:
    """The relay's one builder of emails, made as the relay makes it."""
    links = LinkSettings("https://bot.example", "k" * 32)
    return Mailer(archive, settings.mail, links, hours=settings.hours,
                  digest_to=settings.digest_to, clock=clock)  # fmt: skip


def queued(archive, kind) -> OutboxItem:
    with reading(archive) as db:
        row = db.execute("SELECT * FROM outbox WHERE kind = ?", (kind,)).fetchone()
    return OutboxItem(row["target"], row["email_message_id"], row["id"], row["message_id"],
                      kind=row["kind"], note=row["note"])  # fmt: skip


def test_the_reminder_is_in_the_conversation_thread(archive):
    olena = customer(archive, "Олена", "Коваленко")
    writes(archive, olena, "Добрий день", -60)
    reply = answers(archive, olena, -50)
    writes(archive, olena, "Скільки коштують візитки?", 0)
    last = writes(archive, olena, "<b>1000 шт</b>", 1)
    Alerts(archive, SETTINGS).check(at(16))

    item = queued(archive, REMINDER)
    email = wire(builder(archive).build(item))

    assert email["Message-ID"] == item.email_message_id
    assert email["In-Reply-To"] == last.email_message_id
    assert reply.email_message_id in email["References"]
    assert email["Subject"] == f"[Telegram] Олена Коваленко #{olena.id}"
    assert email["Reply-To"].addresses[0].addr_spec == f"orders+{olena.token}@shop.example"
    assert email["From"].addresses[0].display_name == "im2mail"
    assert sorted(a.addr_spec for a in email["To"].addresses) == list(MANAGERS)
    assert email["Auto-Submitted"] == "auto-generated"
    text = plain(email)
    assert "Олена Коваленко has been waiting for an answer in Telegram for 17m" in text
    assert "> Скільки коштують візитки?" in text and "> <b>1000 шт</b>" in text
    assert "Добрий день" not in text  # answered before: not part of this wait
    link = re.search(r"The whole conversation: (https://bot\.example/c/(\S+))", text)
    assert link and signing.verify("k" * 32, signing.CONVERSATION, link[2]) == str(olena.id)
    page = html(email)
    assert "&lt;b&gt;1000 шт&lt;/b&gt;" in page and f'href="{link[1]}"' in page


def test_the_reminder_says_how_much_was_business_time(archive):
    office = HoursConfig(zone="UTC", week=(parse_ranges("09:00-18:00"),) * 7)
    settings = AlertSettings(MailSettings(MAILBOX, MANAGERS), timedelta(minutes=15), hours=office)
    olena = customer(archive, "Олена")
    night = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    archive.add_message(Message(olena.id, "in", "Олена", "?", night, email_message_id="<n@x.y>"))
    Alerts(archive, settings).check(night + timedelta(hours=1, minutes=20))
    email = builder(archive, settings, clock=lambda: night + timedelta(hours=1, minutes=20))
    text = plain(wire(email.build(queued(archive, REMINDER))))
    assert "for 1h 20m (20m of it in business hours)" in text


def test_the_same_builder_makes_the_customers_emails_and_refuses_unknown_kinds(archive):
    olena = customer(archive, "Олена", "Коваленко")
    said = writes(archive, olena, "Добрий день", 0)
    mailer = builder(archive)
    item = OutboxItem("mail", said.email_message_id, 1, said.id, kind=MESSAGE)
    email = wire(mailer.build(item))
    assert email["From"].addresses[0].display_name == "Олена Коваленко via Telegram"
    assert email["Auto-Submitted"] is None and "Добрий день" in plain(email)
    with pytest.raises(ValueError, match="unknown kind of email 'fax'"):
        mailer.build(OutboxItem("mail", "<x@y.z>", 2, said.id, kind="fax"))


# -- the digest --------------------------------------------------------------------------------

DIGEST_SETTINGS = AlertSettings(
    MailSettings(MAILBOX, MANAGERS),
    timedelta(minutes=15),
    digest_to=(OWNER,),
    digest_at=time(8, 0),
    hours=HoursConfig(zone="Europe/Kyiv", week=(parse_ranges("00:00-24:00"),) * 7),
)


def kyiv(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, tzinfo=KYIV)


def digests(archive) -> list[str]:
    with reading(archive) as db:
        return [r[0] for r in db.execute("SELECT note FROM outbox WHERE kind = ?", (DIGEST,))]


def test_the_digest_goes_once_a_day_from_digest_at(archive):
    olena = customer(archive, "Олена")
    writes(archive, olena, "?", 0)  # T0 is 2026-01-05 11:00 in Kyiv
    alerts = Alerts(archive, DIGEST_SETTINGS)
    assert alerts.digest(kyiv(6, 7, 59)) == 0
    assert alerts.digest(kyiv(6, 8, 0)) == 1
    assert alerts.digest(kyiv(6, 20, 0)) == 0
    assert Alerts(archive, DIGEST_SETTINGS).digest(kyiv(6, 23, 0)) == 0  # restarted
    assert alerts.digest(kyiv(7, 9, 30)) == 1  # a relay started late that day sends it then
    assert digests(archive) == ["2026-01-05", "2026-01-06"]
    assert archive.was_seen("digest:2026-01-05")


def test_no_digest_without_recipients_or_messages(archive):
    assert Alerts(archive, SETTINGS).digest(kyiv(6, 9)) == 0
    assert Alerts(archive, DIGEST_SETTINGS).digest(kyiv(6, 9)) == 0  # an empty archive
    assert digests(archive) == []


def test_the_digest_email_has_the_days_figures(archive):
    olena = customer(archive, "Олена", source="flyer")
    writes(archive, olena, "Добрий день", 0)
    answers(archive, olena, 12)
    petro = customer(archive, "Петро")
    writes(archive, petro, "Є хтось?", 30)
    writes(archive, customer(archive, "Завтра"), "наступного дня", 24 * 60)  # not the 5th
    Alerts(archive, DIGEST_SETTINGS).digest(kyiv(6, 8, 5))

    item = queued(archive, DIGEST)
    email = wire(builder(archive, DIGEST_SETTINGS, clock=lambda: kyiv(6, 8, 5)).build(item))

    assert [a.addr_spec for a in email["To"].addresses] == [OWNER]
    assert email["Subject"] == "im2mail: 2026-01-05, 2 conversations, first reply 12m, 2 waiting"
    assert email["Message-ID"] == digest_message_id(MAILBOX, datetime(2026, 1, 5).date())
    assert email["Auto-Submitted"] == "auto-generated" and email["Reply-To"] is None
    assert "+" not in str(email["From"])
    text = plain(email)
    assert "The chats of 2026-01-05 (Europe/Kyiv)" in text
    assert "anna@shop.example" in text and "flyer" in text and "(none)" in text
    assert "Waiting for an answer now: 2" in text and "Петро Коваленко" in text
    page = html(email)
    assert "<table" in page and "anna@shop.example" in page and "Петро Коваленко" in page


def test_a_day_is_the_local_calendar_day_even_at_dst():
    hours = BusinessHours(HoursConfig(zone="Europe/Kyiv", week=(parse_ranges("09:00-18:00"),) * 7))
    start, end = day_span(datetime(2026, 3, 29).date(), hours)  # clocks go forward
    assert start == datetime(2026, 3, 28, 22, 0, tzinfo=UTC)
    assert end - start == timedelta(hours=23)
