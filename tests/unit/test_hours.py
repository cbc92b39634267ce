"""Business hours: open/closed, open time between instants, across DST, holidays, midnight."""

import itertools
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from im2mail.archive import Archive
from im2mail.config import HoursConfig
from im2mail.config.sections import parse_ranges
from im2mail.errors import ConfigError
from im2mail.hours import BusinessHours
from im2mail.mail.builder import MailSettings
from im2mail.model import Customer, Incoming
from im2mail.relay.intake import GREETER, Intake, IntakeSettings
from tests.support.clock import Clock
from tests.support.scripted import ScriptedChannel, ScriptedViber

KYIV = ZoneInfo("Europe/Kyiv")
H = 3600.0


def hours(
    mon: str = "",
    tue: str = "",
    wed: str = "",
    thu: str = "",
    fri: str = "",
    sat: str = "",
    sun: str = "",
    *,
    weekdays: str | None = None,
    holidays=(),
    quiet=None,
    zone: str = "Europe/Kyiv",
) -> BusinessHours:
    days = [mon, tue, wed, thu, fri, sat, sun]
    if weekdays is not None:
        days = [weekdays] * 5 + [sat, sun]
    return BusinessHours(
        HoursConfig(
            zone=zone,
            week=tuple(parse_ranges(d) for d in days),
            holidays=tuple(holidays),
            quiet=quiet,
        )
    )


def kyiv(*args: int) -> datetime:
    return datetime(*args, tzinfo=KYIV).astimezone(UTC)


# 2026-06-01 is a Monday.
OFFICE = hours(weekdays="09:00-13:00, 14:00-18:00")


@pytest.mark.parametrize(
    ("at", "is_open"),
    [
        (kyiv(2026, 6, 1, 9, 0), True),
        (kyiv(2026, 6, 1, 8, 59), False),
        (kyiv(2026, 6, 1, 13, 30), False),  # lunch
        (kyiv(2026, 6, 1, 17, 59), True),
        (kyiv(2026, 6, 1, 18, 0), False),  # the end is not included
        (kyiv(2026, 6, 6, 12, 0), False),  # Saturday
    ],
)
def test_open_and_closed_follow_the_local_clock(at, is_open):
    assert OFFICE.is_open(at) is is_open


def test_no_hours_means_always_open():
    always = BusinessHours(None)
    at = datetime(2026, 6, 6, 3, 0, tzinfo=UTC)
    assert always.is_open(at)
    assert always.closed_since(at) is None
    assert always.next_open(at) == at
    assert always.open_seconds(at, at + timedelta(hours=5)) == 5 * H
    assert not always.is_quiet(at)


def test_open_seconds_counts_only_business_time():
    # Friday 17:00 to Monday 10:00: one hour on Friday, one on Monday.
    assert OFFICE.open_seconds(kyiv(2026, 6, 5, 17, 0), kyiv(2026, 6, 8, 10, 0)) == 2 * H
    # across the lunch break
    assert OFFICE.open_seconds(kyiv(2026, 6, 1, 12, 0), kyiv(2026, 6, 1, 15, 0)) == 2 * H
    assert OFFICE.open_seconds(kyiv(2026, 6, 1, 15, 0), kyiv(2026, 6, 1, 12, 0)) == 0
    # a whole week
    assert OFFICE.open_seconds(kyiv(2026, 6, 1, 0, 0), kyiv(2026, 6, 8, 0, 0)) == 40 * H


def test_next_open_and_the_closed_period():
    friday_night = kyiv(2026, 6, 5, 22, 0)
    assert OFFICE.next_open(friday_night) == kyiv(2026, 6, 8, 9, 0)
    assert OFFICE.closed_since(friday_night) == kyiv(2026, 6, 5, 18, 0)
    # the same weekend is the same closed period; the next night is another
    assert OFFICE.closed_since(kyiv(2026, 6, 7, 23, 0)) == kyiv(2026, 6, 5, 18, 0)
    assert OFFICE.closed_since(kyiv(2026, 6, 8, 20, 0)) == kyiv(2026, 6, 8, 18, 0)
    assert OFFICE.closed_since(kyiv(2026, 6, 8, 13, 15)) == kyiv(2026, 6, 8, 13, 0)
    at = kyiv(2026, 6, 8, 10, 0)
    assert OFFICE.next_open(at) == at and OFFICE.closed_since(at) is None


def test_range_crossing_midnight_belongs_to_its_start_day():
    bar = hours(fri="22:00-02:00")
    assert bar.is_open(kyiv(2026, 6, 5, 23, 0))
    assert bar.is_open(kyiv(2026, 6, 6, 1, 59))  # Saturday, still Friday's range
    assert not bar.is_open(kyiv(2026, 6, 6, 2, 0))
    assert not bar.is_open(kyiv(2026, 6, 6, 23, 0))  # Saturday has no range of its own
    assert bar.open_seconds(kyiv(2026, 6, 1, 0, 0), kyiv(2026, 6, 8, 0, 0)) == 4 * H
    assert bar.closed_since(kyiv(2026, 6, 6, 9, 0)) == kyiv(2026, 6, 6, 2, 0)


def test_range_to_24_00_runs_to_midnight():
    late = hours(mon="18:00-24:00", tue="00:00-24:00")
    assert late.is_open(kyiv(2026, 6, 1, 23, 59))
    assert late.is_open(kyiv(2026, 6, 2, 12, 0))
    assert not late.is_open(kyiv(2026, 6, 3, 0, 0))
    # Monday evening and the whole Tuesday make one open stretch of 30 hours
    assert late.open_seconds(kyiv(2026, 6, 1, 0, 0), kyiv(2026, 6, 4, 0, 0)) == 30 * H
    assert late.closed_since(kyiv(2026, 6, 3, 5, 0)) == kyiv(2026, 6, 3, 0, 0)


def test_overlapping_ranges_are_counted_once():
    twice = hours(mon="09:00-12:00, 11:00-14:00", sun="22:00-10:00")
    assert twice.open_seconds(kyiv(2026, 6, 1, 0, 0), kyiv(2026, 6, 2, 0, 0)) == 14 * H


def test_spring_forward_hour_is_not_counted():
    # Europe/Kyiv, Sunday 2026-03-29: 03:00 jumps to 04:00.
    night = hours(sun="02:00-05:00")
    start, end = kyiv(2026, 3, 29, 0, 0), kyiv(2026, 3, 30, 0, 0)
    assert night.open_seconds(start, end) == 2 * H
    assert night.is_open(datetime(2026, 3, 29, 1, 30, tzinfo=UTC))  # 04:30 local, summer time
    assert night.closed_since(kyiv(2026, 3, 29, 6, 0)) == datetime(2026, 3, 29, 2, 0, tzinfo=UTC)


def test_fall_back_hour_is_counted_twice():
    # Europe/Kyiv, Sunday 2026-10-25: 04:00 goes back to 03:00.
    night = hours(sun="02:00-05:00")
    start, end = kyiv(2026, 10, 25, 0, 0), kyiv(2026, 10, 26, 0, 0)
    assert night.open_seconds(start, end) == 4 * H
    # both 03:30s (summer, then winter time) are open
    assert night.is_open(datetime(2026, 10, 25, 0, 30, tzinfo=UTC))
    assert night.is_open(datetime(2026, 10, 25, 1, 30, tzinfo=UTC))
    assert night.next_open(datetime(2026, 10, 24, 12, 0, tzinfo=UTC)) == datetime(
        2026, 10, 24, 23, 0, tzinfo=UTC
    )


def test_a_day_across_dst_keeps_its_wall_clock_hours():
    office = hours(weekdays="09:00-18:00", sun="09:00-18:00")
    # Sunday 2026-03-29 09:00 local is 06:00 UTC (summer time), not 07:00
    assert office.next_open(datetime(2026, 3, 29, 1, 0, tzinfo=UTC)) == datetime(
        2026, 3, 29, 6, 0, tzinfo=UTC
    )
    assert office.open_seconds(kyiv(2026, 3, 29, 0, 0), kyiv(2026, 3, 30, 0, 0)) == 9 * H


def test_overlapping_holidays_close_whole_dates():
    shop = hours(
        weekdays="09:00-18:00",
        holidays=[
            (date(2026, 12, 25), date(2026, 12, 25)),
            (date(2026, 12, 24), date(2026, 12, 28)),  # overlaps the one above
            (date(2026, 12, 31), date(2027, 1, 2)),
        ],
    )
    assert not shop.is_open(kyiv(2026, 12, 24, 10, 0))
    assert not shop.is_open(kyiv(2026, 12, 28, 10, 0))
    assert shop.is_open(kyiv(2026, 12, 29, 10, 0))
    # Wednesday 23rd 18:00 until Tuesday 29th 09:00 is one closed period
    assert shop.closed_since(kyiv(2026, 12, 27, 12, 0)) == kyiv(2026, 12, 23, 18, 0)
    assert shop.next_open(kyiv(2026, 12, 24, 8, 0)) == kyiv(2026, 12, 29, 9, 0)
    assert shop.next_open(kyiv(2026, 12, 30, 19, 0)) == kyiv(2027, 1, 4, 9, 0)
    # only the 29th and 30th are open in the last week of the year
    assert shop.open_seconds(kyiv(2026, 12, 21, 0, 0), kyiv(2027, 1, 4, 0, 0)) == (3 + 2) * 9 * H


def test_a_holiday_cuts_the_night_range_that_runs_into_it():
    bar = hours(thu="22:00-02:00", holidays=[(date(2026, 6, 5), date(2026, 6, 5))])
    assert bar.is_open(kyiv(2026, 6, 4, 23, 0))
    assert not bar.is_open(kyiv(2026, 6, 5, 1, 0))


def test_long_holidays_do_not_hide_the_next_open_day():
    shop = hours(mon="09:00-10:00", holidays=[(date(2026, 1, 1), date(2027, 6, 30))])
    assert shop.next_open(kyiv(2026, 2, 1, 0, 0)) == kyiv(2027, 7, 5, 9, 0)
    assert shop.closed_since(kyiv(2027, 7, 1, 0, 0)) == kyiv(2025, 12, 29, 10, 0)


def test_a_week_without_open_time_fails_clearly_instead_of_looping():
    never = hours()
    at = kyiv(2026, 6, 1, 12, 0)
    assert not never.is_open(at)
    assert never.open_seconds(at, at + timedelta(days=30)) == 0
    with pytest.raises(ConfigError, match="hours: no open time in the week"):
        never.next_open(at)
    with pytest.raises(ConfigError, match="no open time"):
        never.closed_since(at)


@pytest.mark.parametrize(
    ("clock", "quiet"),
    [(time(21, 0), True), (time(23, 30), True), (time(7, 59), True), (time(8, 0), False),
     (time(12, 0), False), (time(20, 59), False)],
)  # fmt: skip
def test_quiet_hours_may_cross_midnight(clock, quiet):
    shop = hours(weekdays="09:00-18:00", quiet=(time(21, 0), time(8, 0)))
    at = datetime.combine(date(2026, 6, 1), clock, tzinfo=KYIV)
    assert shop.is_quiet(at) is quiet


def test_quiet_hours_within_one_day():
    shop = hours(weekdays="09:00-18:00", quiet=(time(13, 0), time(14, 0)))
    assert shop.is_quiet(kyiv(2026, 6, 1, 13, 30))
    assert not shop.is_quiet(kyiv(2026, 6, 1, 14, 0))
    assert not OFFICE.is_quiet(kyiv(2026, 6, 1, 3, 0))  # no quiet hours configured


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        OFFICE.is_open(datetime(2026, 6, 1, 12, 0))


def test_zone_is_the_configured_one():
    assert OFFICE.zone == KYIV
    assert hours(weekdays="09:00-18:00", zone="America/New_York").is_open(
        datetime(2026, 6, 1, 14, 0, tzinfo=UTC)  # 10:00 in New York, 17:00 in Kyiv
    )


# -- the auto-reply and quiet hours in the intake (inbound.Intake) ---------------------------

GREETING = "Вітаємо! Напишіть, що надрукувати."
AWAY = "Ми зараз не працюємо; відповімо з 9:00."
OLENA = Customer("telegram", "501", "Олена")


_updates = itertools.count(1)


def write(chat: ScriptedChannel, text: str = "Добрий вечір", *, who: Customer = OLENA, start=False):
    n = next(_updates)
    chat.next = [
        Incoming(bot="shop", customer=who, dedupe_key=f"telegram:shop:update:{n}",
                 created=datetime.now(UTC), text=text, channel_message_id=str(n),
                 chat_id=who.external_id, start=start)
    ]  # fmt: skip


def intake_for(archive, chat, clock, *, greeting=GREETING, auto_reply=AWAY, quiet=None):
    config = HoursConfig(
        zone="Europe/Kyiv",
        week=tuple(parse_ranges(d) for d in ["09:00-18:00"] * 5 + ["", ""]),
        auto_reply=auto_reply,
        quiet=quiet,
    )
    settings = IntakeSettings(MailSettings("orders@shop.example", ()), greeting, hours=config)
    return Intake(archive, {"shop": chat}, settings, clock=clock)  # type: ignore[dict-item]


def automatic(archive: Archive) -> list[str]:
    return [e.text for e in reversed(archive.recent(50)) if e.author == GREETER]


async def test_a_customer_writing_while_closed_gets_the_auto_reply_once(archive):
    chat, clock = ScriptedChannel(), Clock(kyiv(2026, 6, 1, 20, 0))  # Monday evening, closed
    intake = intake_for(archive, chat, clock, greeting=None)
    write(chat)
    assert (await intake.take("shop", {})).stored == 1
    write(chat, "Ви тут?")
    clock.now = kyiv(2026, 6, 2, 7, 0)  # the same night
    await intake.take("shop", {})
    assert chat.sent == [AWAY]
    assert automatic(archive) == [AWAY]  # archived as the shop's message, by im2mail
    assert [e.direction for e in reversed(archive.recent(50))] == ["in", "out", "in"]


async def test_the_next_closed_period_gets_it_again_but_open_hours_do_not(archive):
    chat, clock = ScriptedChannel(), Clock(kyiv(2026, 6, 1, 20, 0))
    intake = intake_for(archive, chat, clock, greeting=None)
    write(chat)
    await intake.take("shop", {})
    clock.now = kyiv(2026, 6, 2, 12, 0)  # open
    write(chat)
    await intake.take("shop", {})
    clock.now = kyiv(2026, 6, 2, 19, 0)  # Tuesday evening: another closed period
    write(chat)
    await intake.take("shop", {})
    assert chat.sent == [AWAY, AWAY]


async def test_each_conversation_gets_its_own_auto_reply(archive):
    chat, clock = ScriptedChannel(), Clock(kyiv(2026, 6, 6, 11, 0))  # Saturday
    intake = intake_for(archive, chat, clock, greeting=None)
    write(chat)
    await intake.take("shop", {})
    write(chat, who=Customer("telegram", "777", "Петро"))
    await intake.take("shop", {})
    assert chat.sent == [AWAY, AWAY]


async def test_a_restarted_relay_does_not_repeat_it(archive):
    chat, clock = ScriptedChannel(), Clock(kyiv(2026, 6, 1, 20, 0))
    write(chat)
    await intake_for(archive, chat, clock, greeting=None).take("shop", {})
    write(chat, "Ще одне")
    await intake_for(archive, chat, clock, greeting=None).take("shop", {})  # a new process
    assert chat.sent == [AWAY]


async def test_greeting_and_auto_reply_go_as_one_message_on_first_contact(archive):
    chat, clock = ScriptedChannel(), Clock(kyiv(2026, 6, 1, 20, 0))
    intake = intake_for(archive, chat, clock)
    write(chat, "/start", start=True)
    await intake.take("shop", {})
    write(chat, "Скільки коштує друк?")
    await intake.take("shop", {})
    assert chat.sent == [f"{GREETING}\n\n{AWAY}"]
    assert automatic(archive) == [f"{GREETING}\n\n{AWAY}"]


async def test_open_hours_get_only_the_greeting(archive):
    chat, clock = ScriptedChannel(), Clock(kyiv(2026, 6, 1, 10, 0))
    intake = intake_for(archive, chat, clock)
    write(chat)
    await intake.take("shop", {})
    write(chat)
    await intake.take("shop", {})
    assert chat.sent == [GREETING]


async def test_quiet_hours_send_nothing_automatic_and_the_morning_still_answers(archive):
    chat, clock = ScriptedChannel(), Clock(kyiv(2026, 6, 1, 23, 0))
    intake = intake_for(archive, chat, clock, quiet=(time(21, 0), time(8, 0)))
    write(chat)
    assert (await intake.take("shop", {})).stored == 1  # the managers still get the email
    assert chat.sent == [] and automatic(archive) == []
    clock.now = kyiv(2026, 6, 2, 8, 15)  # after the quiet hours, still closed
    write(chat, "Доброго ранку")
    await intake.take("shop", {})
    assert chat.sent == [AWAY]  # the greeting's moment has passed; the auto-reply has not


async def test_a_failed_send_is_tried_again_with_the_next_message(archive):
    chat, clock = ScriptedChannel(), Clock(kyiv(2026, 6, 1, 20, 0))
    intake = intake_for(archive, chat, clock, greeting=None)
    chat.down = True
    write(chat)
    assert (await intake.take("shop", {})).stored == 1
    chat.down = False
    write(chat)
    await intake.take("shop", {})
    assert chat.sent == [AWAY]


async def test_without_an_auto_reply_text_closed_hours_send_nothing(archive):
    chat, clock = ScriptedChannel(), Clock(kyiv(2026, 6, 1, 20, 0))
    intake = intake_for(archive, chat, clock, greeting=None, auto_reply=None)
    write(chat)
    await intake.take("shop", {})
    assert chat.sent == []


async def test_quiet_hours_hold_back_the_viber_welcome_too(archive):
    chat, clock = ScriptedViber("shop"), Clock(kyiv(2026, 6, 1, 23, 0))
    intake = intake_for(archive, chat, clock, quiet=(time(21, 0), time(8, 0)))
    oksana = Customer("viber", "q1w2==", "Оксана")
    opened = Incoming(bot="shop", customer=oksana, dedupe_key="viber:shop:started:1",
                      created=datetime.now(UTC), chat_id="q1w2==", event="started")  # fmt: skip
    chat.next = [opened]
    assert (await intake.take("shop", {})).answer is None
    clock.now = kyiv(2026, 6, 2, 12, 0)
    chat.next = [replace(opened, dedupe_key="viber:shop:started:2")]
    assert (await intake.take("shop", {})).answer == chat.welcome(GREETING)
