"""`im2mail stats`: first-response times, replies, lead sources and who is waiting, from
archives built with tests/support/chats.py, and the command as a user runs it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from im2mail.archive import stats
from im2mail.config import HoursConfig
from im2mail.config.sections import parse_ranges
from im2mail.hours import BusinessHours
from im2mail.model import UNDELIVERED, Message, OutboxItem
from tests.conftest import VALID_CONFIG, run_cli
from tests.support.archive_sql import reading, writing
from tests.support.chats import T0, customer, say

ANNA, PETRO = "anna@shop.example", "petro@shop.example"
ALWAYS = BusinessHours(None)
KYIV = ZoneInfo("Europe/Kyiv")
SINCE, UNTIL = T0 - timedelta(days=1), T0 + timedelta(days=30)
NOW = T0 + timedelta(days=30)


def report(archive, hours=ALWAYS, since=SINCE, until=UNTIL, now=NOW, managers=()):
    return stats.report(archive, hours, since, until, now, managers)


def reply(archive, conversation, minutes, *, author=ANNA, fate="sent", text="Так, є"):
    """A manager's reply as the relay archives it: with its delivery to the chat, which
    then went (`sent`), failed, is still `pending`, or was reported `undelivered` later."""
    when = T0 + timedelta(minutes=minutes)
    message = Message(conversation.id, "out", author, text, when)
    stored = archive.add_message(message, outbox=[OutboxItem("channel")])
    with reading(archive) as db:
        (item,) = db.execute("SELECT id FROM outbox WHERE message_id = ?", (stored.id,)).fetchone()
    queue = archive.deliveries
    if fate in ("sent", "undelivered"):
        queue.delivery_sent(item, when + timedelta(seconds=1))
    if fate == "failed":
        queue.delivery_failed(item, "Forbidden: bot was blocked by the user", when)
    if fate == "undelivered":  # Viber's failed callback, as receipts.failed records it
        with writing(archive) as db:
            db.execute(
                "INSERT INTO outbox (message_id, target, next_try, created, kind)"
                " VALUES (?, 'mail', ?, ?, ?)",
                (stored.id, when.isoformat(), when.isoformat(), UNDELIVERED),
            )
    return stored


def by_name(rows):
    return {row.name: row for row in rows}


# -- first-response time -----------------------------------------------------------------------


def test_first_response_runs_from_the_first_waiting_message_to_the_answer(archive):
    olena = customer(archive, "Олена")
    say(archive, olena, "Добрий день!", minutes=0)
    say(archive, olena, "Скільки коштують візитки?", minutes=3)  # same wait
    reply(archive, olena, 10)
    say(archive, olena, "А банер?", minutes=60)  # a new wait
    reply(archive, olena, 90, author=PETRO)

    r = report(archive)

    managers = by_name(r.managers)
    assert (managers[ANNA].responses, managers[ANNA].median) == (1, 600.0)
    assert (managers[PETRO].responses, managers[PETRO].median) == (1, 1800.0)
    (telegram,) = r.channels
    assert telegram.name == "telegram"
    assert (telegram.conversations, telegram.replies, telegram.responses) == (1, 2, 2)
    assert telegram.median == 1200.0 and telegram.p90 == 1800.0
    assert r.unanswered == ()


def test_median_and_p90_over_many_waits(archive):
    for i, minutes in enumerate([1, 2, 3, 4, 5, 6, 7, 8, 9, 60]):
        c = customer(archive, f"Customer{i}")
        say(archive, c, "?", minutes=0)
        reply(archive, c, minutes)
    (telegram,) = report(archive).channels
    assert telegram.median == 5.5 * 60  # between the 5th and the 6th
    assert telegram.p90 == 9 * 60  # nearest rank: the 9th of 10


def test_greetings_and_auto_replies_are_no_answer(archive):
    olena = customer(archive, "Олена")
    say(archive, olena, "Добрий вечір", minutes=0)
    say(archive, olena, "Вітаємо! Ми відповімо зранку.", direction="out", author="im2mail",
        minutes=0.1)  # fmt: skip
    reply(archive, olena, 30)
    r = report(archive)
    assert [m.name for m in r.managers] == [ANNA]  # im2mail is nobody's manager
    assert r.channels[0].median == 1800.0 and r.channels[0].replies == 1


@pytest.mark.parametrize("fate", ["failed", "undelivered", "pending"])
def test_a_reply_that_did_not_reach_the_customer_leaves_them_waiting(archive, fate):
    olena = customer(archive, "Олена")
    say(archive, olena, "Є папір А3?", minutes=0)
    reply(archive, olena, 5, fate=fate)

    r = report(archive)

    (telegram,) = r.channels
    assert (telegram.replies, telegram.responses, telegram.unanswered) == (0, 0, 1)
    (waiting,) = r.unanswered
    assert waiting.since == T0 and waiting.manager is None
    # a later reply that went through answers the same wait, from its start
    reply(archive, olena, 40, author=PETRO)
    again = report(archive)
    assert again.unanswered == () and again.channels[0].median == 2400.0


def test_for_reminders_a_queued_reply_is_an_answer(archive):
    olena = customer(archive, "Олена")
    say(archive, olena, "Є папір А3?", minutes=0)
    reply(archive, olena, 5, fate="pending")
    assert stats.waiting_now(archive, ALWAYS, NOW, since=SINCE) == []
    reply(archive, olena, 6, fate="failed")
    say(archive, olena, "Алло?", minutes=7)
    (w,) = stats.waiting_now(archive, ALWAYS, NOW, since=SINCE)
    assert w.since == T0 + timedelta(minutes=7)


def test_response_times_count_business_hours_only(archive):
    office = BusinessHours(
        HoursConfig(zone="Europe/Kyiv", week=(parse_ranges("09:00-18:00"),) * 5 + ((), ()))
    )
    friday_evening = datetime(2026, 1, 9, 17, 50, tzinfo=KYIV)  # 10 minutes before closing
    monday = datetime(2026, 1, 12, 9, 10, tzinfo=KYIV)
    olena = customer(archive, "Олена")
    archive.add_message(Message(olena.id, "in", "Олена", "Є хтось?", friday_evening))
    archive.add_message(Message(olena.id, "out", ANNA, "Доброго ранку!", monday, sent=monday))
    r = report(archive, hours=office)
    assert r.channels[0].median == 20 * 60  # 10 min on Friday, 10 on Monday
    assert report(archive).channels[0].median == (monday - friday_evening).total_seconds()


# -- the period, the tables --------------------------------------------------------------------


def test_a_wait_counts_where_it_started_and_a_reply_where_it_was_written(archive):
    olena = customer(archive, "Олена")
    say(archive, olena, "Вчорашнє питання", minutes=0)
    reply(archive, olena, 120)
    since = T0 + timedelta(minutes=60)
    r = report(archive, since=since)
    (telegram,) = r.channels
    assert (telegram.replies, telegram.responses, telegram.conversations) == (1, 0, 1)
    assert report(archive, until=since).channels[0].responses == 1  # answered later: counted


def test_lead_sources_and_channels(archive):
    flyer = customer(archive, "Олена", source="flyer-2026")
    site = customer(archive, "Петро", source="site", channel="viber", bot="vshop")
    nobody = customer(archive, "Ірина")
    for c in (flyer, site, nobody):
        say(archive, c, "Добрий день", minutes=0)
    reply(archive, flyer, 4)
    reply(archive, site, 8)

    r = report(archive)

    sources = by_name(r.sources)
    assert set(sources) == {"flyer-2026", "site", None}
    assert sources["flyer-2026"].median == 240.0 and sources["site"].median == 480.0
    assert sources[None].label == "(none)" and sources[None].unanswered == 1
    assert by_name(r.channels)["viber"].replies == 1
    records = [rec for rec in r.records() if rec["kind"] == "source"]
    assert {rec["source"] for rec in records} == {"flyer-2026", "site", None}


def test_unanswered_now_says_how_long_and_who_answered_last(archive):
    olena = customer(archive, "Олена", source="site")
    say(archive, olena, "Добрий день", minutes=0)
    reply(archive, olena, 5, author=PETRO)
    say(archive, olena, "А доставка є?", minutes=30)
    say(archive, olena, "Алло", minutes=35)

    r = report(archive, now=T0 + timedelta(hours=2))

    (w,) = r.unanswered
    assert (w.conversation, w.customer, w.source, w.manager) == (olena.id, "Олена Коваленко",
                                                                 "site", PETRO)  # fmt: skip
    assert w.since == T0 + timedelta(minutes=30) and w.waited == 90 * 60
    assert by_name(r.managers)[PETRO].unanswered == 1
    record = w.record()
    assert record["kind"] == "unanswered" and record["waiting_seconds"] == 5400
    assert record["waiting_since"] == (T0 + timedelta(minutes=30)).isoformat()


def test_an_old_wait_is_still_unanswered_now_whatever_the_period(archive):
    olena = customer(archive, "Олена")
    say(archive, olena, "Давнє питання", minutes=0)
    r = report(archive, since=T0 + timedelta(days=10))
    assert r.messages == 0 and [w.conversation for w in r.unanswered] == [olena.id]
    assert not r.empty


def test_history_imported_later_is_read_in_time_order(archive):
    """Imported messages have no deliveries (they count as having reached the customer)
    and later ids than the relay's messages they precede."""
    olena = customer(archive, "Олена")
    reply(archive, olena, 100)  # the relay's answer, archived first
    archive.add_message(Message(olena.id, "in", "Олена", "old question", T0))  # imported
    archive.add_message(
        Message(olena.id, "out", "Друкарня", "old answer", T0 + timedelta(minutes=3))
    )
    r = report(archive)
    assert r.unanswered == ()
    assert by_name(r.managers)["Друкарня"].median == 180.0


def test_idle_configured_managers_get_a_row(archive):
    olena = customer(archive, "Олена")
    say(archive, olena, "?", minutes=0)
    reply(archive, olena, 1)
    rows = by_name(report(archive, managers=[ANNA, " Petro@Shop.example "]).managers)
    assert rows[PETRO].conversations == 0 and rows[PETRO].median is None
    assert rows[PETRO].record()["first_response_median"] is None


def test_an_empty_period_and_archive(archive):
    r = report(archive)
    assert r.empty and list(r.records()) == []


def test_the_index_that_keeps_stats_fast_is_there(archive):
    with reading(archive) as db:
        plan = " ".join(
            str(row[3])
            for row in db.execute("EXPLAIN QUERY PLAN " + stats._EVENTS_SQL.replace("?", "'[1]'"))
        )
    assert "messages_by_conversation_time" in plan and "TEMP B-TREE" not in plan


# -- the command -------------------------------------------------------------------------------


def test_stats_prints_tables_and_json(archive, write_config):
    write_config(VALID_CONFIG)
    olena = customer(archive, "Олена", source="flyer")
    now = datetime.now(UTC)
    archive.add_message(Message(olena.id, "in", "Олена", "?", now - timedelta(hours=3)))
    archive.add_message(Message(olena.id, "out", ANNA, "!", now - timedelta(hours=2), sent=now))
    petro = customer(archive, "Петро")
    archive.add_message(Message(petro.id, "in", "Петро", "?", now - timedelta(minutes=20)))

    table = run_cli("stats")
    assert table.code == 0, table.err
    for text in ("Managers", "Channels", "Lead sources", "Waiting now", ANNA, PETRO,
                 "Telegram", "flyer", "(none)", "1h 00m", "Петро Коваленко", "20m"):  # fmt: skip
        assert text in table.out, text
    assert "\x1b[" not in table.out  # no colours into a pipe

    lines = [json.loads(line) for line in run_cli("stats", "--json").out.splitlines()]
    kinds = [line["kind"] for line in lines]
    assert kinds == sorted(kinds, key=["manager", "channel", "source", "unanswered"].index)
    anna = next(x for x in lines if x.get("manager") == ANNA)
    assert anna["first_response_median"] == 3600 and anna["replies"] == 1
    (waiting,) = [x for x in lines if x["kind"] == "unanswered"]
    assert waiting["customer"] == "Петро Коваленко" and 1190 <= waiting["waiting_seconds"] <= 1300


def test_stats_on_an_empty_or_missing_archive_says_so(archive):
    result = run_cli("stats")
    assert result.code == 0 and result.out == ""
    assert "nothing to count" in result.err


def test_stats_without_an_archive(isolated_home):
    result = run_cli("stats", "--json")
    assert result.code == 0 and result.out == "" and "no archive yet" in result.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "last tuesday"], "cannot read 'last tuesday' as a time"),
        (["--since", "2026-13-01"], "cannot read '2026-13-01' as a time"),
        (["--since", "1d", "--until", "7d"], "is not before --until"),
    ],
)
def test_bad_periods_are_usage_errors(archive, args, message):
    result = run_cli("stats", *args)
    assert result.code == 2 and message in result.err and "Traceback" not in result.err
    assert result.out == ""
