"""Forgetting (archive/forget.py): a customer erased on request, old messages erased by age;
what goes (messages, search index rows, files, receipts, names), what stays (anonymous
counts: `stats` gives the same figures), and a dry run that changes nothing."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from im2mail.archive import Archive, people, receipts, stats
from im2mail.archive.forget import erase_older, forget
from im2mail.errors import ArchiveError, NotFound
from im2mail.hours import BusinessHours
from im2mail.model import FORGOTTEN, Customer, Message, NewAttachment, OutboxItem, SearchQuery
from tests.conftest import VALID_CONFIG, run_cli
from tests.support.archive_sql import index_terms, reading, writing
from tests.support.chats import T0, customer, say

ANNA = "anna@shop.example"
PHOTO = b"\x89PNG\r\n\x1a\n" + b"olena's picture" * 100
SHARED = b"%PDF-1.4 price list sent to everyone"


def snapshot(archive: Archive) -> dict:
    """Everything a test compares before and after."""
    with reading(archive) as db:
        tables = ("messages", "attachments", "outbox", "customers", "forgotten_events",
                  "reply_pieces")  # fmt: skip
        counts = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
        names = [tuple(r) for r in db.execute(
            "SELECT first_name, last_name, username, phone, external_id FROM customers ORDER BY id"
        )]  # fmt: skip
        terms = set(index_terms(db))
        forms = set(index_terms(db, "messages_forms"))
    blobs = sorted(p.name for p in archive.blobs.root.rglob("*") if p.is_file())
    return {"counts": counts, "names": names, "terms": terms, "forms": forms, "blobs": blobs}


def figures(archive: Archive) -> stats.Report:
    return stats.report(archive, BusinessHours(None), T0 - timedelta(days=1),
                        T0 + timedelta(days=30), T0 + timedelta(days=30), (ANNA,))  # fmt: skip


def totals(report: stats.Report) -> tuple:
    """The figures of every table, without who waits now (a forgotten customer waits for
    no one)."""
    tables = (report.managers, report.channels, report.sources)
    return report.messages, *(tuple(replace(f, unanswered=0) for f in t) for t in tables)


@pytest.fixture
def shop(archive):
    """Олена (two bots) and Ігор; Олена sent a picture and the shared price list, Anna
    answered her (delivered, seen); Ігор got the same price list."""
    olena = customer(archive, "Олена", "Коваленко", username="olena_k", phone="+380671234567",
                     source="flyer")  # fmt: skip
    olena2 = archive.conversation_for(olena.customer, "shop2")
    igor = customer(archive, "Ігор", "Петренко", source="flyer")
    prices = NewAttachment("ціни.pdf", "application/pdf", SHARED)
    files = [NewAttachment("фото.png", "image/png", PHOTO), prices]
    say(archive, olena, "Потрібні візитки ламіновані", minutes=0, files=files)
    reply = say(archive, olena, "Зробимо за два дні", direction="out", minutes=30)
    say(archive, olena2, "Ще питання про банер", minutes=60)
    say(archive, igor, "Ціни на флаєри?", minutes=10, files=[prices])
    say(archive, igor, "Ось прайс", direction="out", minutes=20)
    with writing(archive) as db:
        db.execute(
            "UPDATE messages SET delivered = ?, seen = ? WHERE id = ?",
            ("2026-01-05T09:31:00+00:00", "2026-01-05T09:32:00+00:00", reply.id),
        )
    return (
        archive.conversation(olena.id),
        archive.conversation(olena2.id),
        archive.conversation(igor.id),
    )


def test_a_dry_run_says_what_would_go_and_changes_nothing(archive, shop):
    olena, olena2, _ = shop
    before = snapshot(archive)
    done = forget(archive, olena.id, dry_run=True)
    assert snapshot(archive) == before
    assert (done.messages, done.attachments, done.receipts, done.files) == (3, 2, 1, 1)
    assert done.kept_files == 1  # the price list Ігор has too
    assert done.conversations == (olena.id, olena2.id)
    assert [c.first_name for _, c in done.customers] == ["Олена"]
    assert "ламіновані" in before["terms"]


def test_forgetting_erases_messages_index_rows_files_receipts_and_names(archive, shop):
    olena, _, igor = shop
    before = snapshot(archive)
    report = figures(archive)
    done = forget(archive, olena.id)
    after = snapshot(archive)
    assert after["counts"]["messages"] == before["counts"]["messages"] - 3
    assert after["counts"]["attachments"] == before["counts"]["attachments"] - 2
    assert after["counts"]["forgotten_events"] == 3
    # Her words are gone from the index, Ігор's are not.
    assert {"ламіновані", "візитки", "банер", "олена", "коваленко"} & after["terms"] == set()
    assert {"флаєри", "ігор"} <= after["terms"]
    # ... and their word forms' keys from the forms index (візитки -> візитка).
    assert {"ламінований", "візитка"} <= before["forms"]
    assert {"ламінований", "візитка"} & after["forms"] == set()
    assert archive.search(SearchQuery("візиток")) == []
    assert archive.search(SearchQuery("візитки")) == []
    # Her picture went; the price list stays, Ігор's message names it.
    assert len(after["blobs"]) == len(before["blobs"]) - 1 == 1
    assert done.files == 1 and done.freed == len(PHOTO)
    # Her row is anonymous: no name, username, phone or platform id.
    found = archive.conversation(olena.id).customer
    assert (found.first_name, found.last_name, found.username, found.phone) == ("", "", None, None)
    assert found.external_id.startswith("forgotten:") and found.forgotten is not None
    assert found.display_name == FORGOTTEN and found.source == "flyer"
    assert archive.conversation(igor.id).customer.first_name == "Ігор"
    # Nothing of her is listed; the figures of the period are the same.
    assert [c.id for c in archive.conversations()] == [igor.id]
    assert totals(figures(archive)) == totals(report)
    assert archive.recent(10) and all(e.conversation_id == igor.id for e in archive.recent(10))
    # Her conversations can't be answered: their reply tokens were retired.
    assert archive.conversation_by_token(olena.token) is None
    assert "forgotten" in archive.tokens.retired(olena.token).reason


def test_stats_count_a_forgotten_conversation_as_before(archive):
    olena = customer(archive, "Олена")
    say(archive, olena, "?", minutes=0)
    say(archive, olena, "!", direction="out", minutes=45)
    say(archive, olena, "??", minutes=60)
    say(archive, olena, "!!", direction="out", minutes=75)
    report = figures(archive)
    forget(archive, olena.id)
    again = figures(archive)
    assert totals(again) == totals(report)
    (manager,) = again.managers
    assert (manager.replies, manager.responses, manager.median) == (2, 2, 30 * 60)


def test_a_forgotten_customer_waits_for_no_one(archive):
    olena = customer(archive, "Олена")
    say(archive, olena, "Є хтось?", minutes=0)
    assert len(figures(archive).unanswered) == 1
    forget(archive, olena.id)
    report = figures(archive)
    assert report.unanswered == () and report.messages == 1


def test_forgetting_a_linked_customer_forgets_their_person(archive):
    tg = customer(archive, "Олена", channel="telegram")
    vb = customer(archive, "Олена", channel="viber", bot="vshop")
    other = customer(archive, "Ігор")
    people.link(archive, tg.id, vb.id)
    say(archive, tg, "Привіт", minutes=0)
    say(archive, vb, "Це я з вайбера", minutes=1)
    done = forget(archive, vb.id)
    assert [conversation for conversation, _ in done.customers] == [tg.id, vb.id]
    assert done.messages == 2
    assert archive.conversation(tg.id).customer.forgotten is not None
    assert archive.conversation(vb.id).customer.person is None
    assert archive.conversation(other.id).customer.forgotten is None
    with reading(archive) as db:
        assert db.execute("SELECT count(*) FROM people").fetchone()[0] == 0


def test_pending_deliveries_are_dropped_and_sent_emails_counted(archive):
    olena = customer(archive, "Олена")
    first = Message(olena.id, "in", "Олена", "Перше", T0)
    archive.add_message(first, outbox=[OutboxItem("mail", email_message_id="<a@shop.example>",
                                                  state="sent")])  # fmt: skip
    second = Message(olena.id, "in", "Олена", "Друге", T0)
    archive.add_message(second, outbox=[OutboxItem("mail", email_message_id="<b@shop.example>")])
    reply = Message(olena.id, "out", ANNA, "Відповідь", T0, email_message_id="<r@mail.example>")
    archive.add_message(reply, outbox=[OutboxItem("channel")])
    done = forget(archive, olena.id)
    assert (done.emails, done.replies, done.cancelled) == (1, 1, 2)
    with reading(archive) as db:
        assert db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0
        assert (
            db.execute("SELECT fate FROM forgotten_events WHERE direction = 'out'").fetchone()[0]
            == "failed"
        )


def test_the_chat_messages_their_replies_went_as_go_too(archive):
    """A reply sent as two chat messages keeps both ids (archive/pieces.py): forgetting the
    customer erases them, another customer's stay and still find their reply."""

    def sent_in_two(conversation) -> int:
        reply = Message(conversation.id, "out", ANNA, "Готово, забирайте", T0)
        stored = archive.add_message(reply, outbox=[OutboxItem("channel")])
        assert stored is not None and stored.id is not None
        (item,) = archive.deliveries.due_deliveries("channel", T0 + timedelta(days=400), 5)
        assert item.id is not None
        archive.deliveries.delivery_progress(item.id, 1, "101", pieces=["101"])
        archive.deliveries.delivery_sent(item.id, T0, channel_message_id="101", pieces=["102"])
        return stored.id

    olena, igor = customer(archive, "Олена"), customer(archive, "Ігор")
    sent_in_two(olena)
    his = sent_in_two(igor)
    forget(archive, olena.id)
    with reading(archive) as db:
        left = [r[0] for r in db.execute("SELECT conversation_id FROM reply_pieces")]
    assert left == [igor.id, igor.id]
    assert receipts.mark(archive, "shop", igor.customer, "102", "seen", T0) == his


def test_their_next_message_makes_a_new_customer(archive):
    olena = customer(archive, "Олена", external_id="777")
    say(archive, olena, "Привіт")
    forget(archive, olena.id)
    again = archive.upsert_customer(Customer("telegram", "777", "Олена"))
    assert again.id != olena.customer.id and again.forgotten is None


def test_a_message_on_its_way_in_while_they_are_forgotten_comes_again_as_new(archive):
    olena = customer(archive, "Олена", external_id="778")
    say(archive, olena, "Привіт")
    forget(archive, olena.id)  # between the relay's upsert and its add_message
    late = Message(olena.id, "in", "Олена", "Ще я", T0)
    with pytest.raises(ArchiveError, match="forgotten meanwhile"):
        archive.add_message(late, dedupe_key="telegram:shop:update:9")
    assert not archive.was_seen("telegram:shop:update:9")  # so the platform's retry is taken
    again = archive.conversation_for(archive.upsert_customer(Customer("telegram", "778")), "shop")
    assert again.id != olena.id


def test_forgetting_an_unknown_conversation_is_not_found(archive, shop):
    before = snapshot(archive)
    with pytest.raises(NotFound, match="no conversation #999"):
        forget(archive, 999)
    with pytest.raises(NotFound):
        forget(archive, 2**70)
    assert snapshot(archive) == before


def test_forgetting_twice_is_harmless(archive, shop):
    olena, _, _ = shop
    forget(archive, olena.id)
    once = snapshot(archive)
    done = forget(archive, olena.id)
    assert done.messages == 0 and snapshot(archive) == once


# -- by age ---------------------------------------------------------------------------------------


def test_old_messages_go_by_age_and_a_customer_left_with_none_is_forgotten(archive, shop):
    olena, olena2, igor = shop
    report = figures(archive)
    # Everything before T0 + 25 min: Олена's first message (her files), Ігор's two.
    done = erase_older(archive, T0 + timedelta(minutes=25), batch=1)
    assert done.messages == 3 and done.files == 2  # the price list: no message names it
    assert [c.first_name for _, c in done.customers] == ["Ігор"]  # nothing of his is left
    assert archive.conversation(igor.id).customer.forgotten is not None
    assert archive.conversation(olena.id).customer.forgotten is None  # she has newer ones
    assert totals(figures(archive)) == totals(report)
    done = erase_older(archive, T0 + timedelta(days=1))
    assert done.messages == 2
    assert [c.first_name for _, c in done.customers] == ["Олена"]
    assert archive.conversation(olena2.id).customer.forgotten is not None
    assert totals(figures(archive)) == totals(report)
    assert list(archive.blobs.root.rglob("??/*")) == []


def test_a_message_with_a_delivery_pending_is_kept_until_it_is_made(archive):
    olena = customer(archive, "Олена")
    waiting = Message(olena.id, "in", "Олена", "Чекаю", T0)
    archive.add_message(waiting, outbox=[OutboxItem("mail", email_message_id="<p@shop.example>")])
    assert erase_older(archive, T0 + timedelta(days=1)).messages == 0
    assert archive.conversation(olena.id).customer.forgotten is None


def test_a_dry_run_by_age_changes_nothing(archive, shop):
    before = snapshot(archive)
    done = erase_older(archive, T0 + timedelta(days=1), dry_run=True, batch=2)
    assert done.messages == 5 and done.files == 2 and len(done.customers) == 2
    assert snapshot(archive) == before


# -- the commands --------------------------------------------------------------------------


def test_forget_dry_run_prints_what_would_go_and_changes_nothing(archive, shop):
    olena, olena2, _ = shop
    archive.add_message(Message(olena.id, "in", "Олена", "Ще одне", T0),
                        outbox=[OutboxItem("mail", email_message_id="<x@shop.example>",
                                           state="sent")])  # fmt: skip
    before = snapshot(archive)
    result = run_cli("forget", str(olena.id), "--dry-run")
    assert result.code == 0, result.err
    assert snapshot(archive) == before
    said = result.err
    assert f"would forget Олена Коваленко (Telegram, #{olena.id})" in said
    assert "would remove: 4 messages of 2 conversations" in said
    assert "1 receipt" in said and "1 file" in said and "1 file other customers sent" in said
    assert "can't remove: 1 email about them" in said
    assert f'"[Telegram] Олена Коваленко #{olena.id}"' in said
    assert f'"[Telegram] Олена Коваленко #{olena2.id}"' in said
    assert "nothing was changed" in said


def test_forget_removes_and_says_so(archive, shop):
    olena, _, igor = shop
    result = run_cli("forget", str(olena.id))
    assert result.code == 0, result.err
    assert "forgot Олена Коваленко" in result.err and "removed: 3 messages" in result.err
    listed = run_cli("conversations", "--json")
    assert [json.loads(line)["id"] for line in listed.out.splitlines()] == [igor.id]
    assert "Олена" not in run_cli("tail", "-n", "50").out
    assert run_cli("search", "візитки").out == ""


@pytest.mark.parametrize("args", [("forget", "999"), ("forget", "99999999999999999999999")])
def test_forget_of_an_unknown_id_exits_5(archive, shop, args):
    before = snapshot(archive)
    result = run_cli(*args)
    assert result.code == 5, result.err
    assert "no conversation #" in result.err and "hint: list them" in result.err
    assert snapshot(archive) == before


def test_forget_without_an_archive_exits_5(isolated_home):
    result = run_cli("forget", "3")
    assert result.code == 5
    assert "no conversation #3" in result.err and "no archive yet" in result.err


def test_vacuum_erases_old_messages_by_config_and_by_option(write_config, archive, shop):
    write_config(VALID_CONFIG + "\n[archive]\nkeep_messages_days = 30\n")
    dry = run_cli("vacuum", "--dry-run")
    assert dry.code == 0, dry.err
    assert "would erase 5 messages from before" in dry.err and "would forget 2 customers" in dry.err
    assert archive.message_count() == 5
    kept = run_cli("vacuum", "--keep-messages-days", "0")
    assert kept.code == 0 and "erase" not in kept.err
    done = run_cli("vacuum")
    assert done.code == 0, done.err
    assert "erased 5 messages" in done.err and "forgot 2 customers" in done.err
    assert archive.message_count() == 0


@pytest.mark.parametrize("value", ["-1", "36501", '"30"', "true"])
def test_a_bad_keep_messages_days_is_a_config_error(write_config, archive, value):
    write_config(VALID_CONFIG + f"\n[archive]\nkeep_messages_days = {value}\n")
    result = run_cli("vacuum")
    assert result.code == 3
    assert "archive.keep_messages_days" in result.err


def test_link_and_unlink_commands(archive, shop):
    olena, _, igor = shop
    self_link = run_cli("customers", "link", str(igor.id), str(igor.id))
    assert self_link.code == 2 and "can't be linked to itself" in self_link.err
    unknown = run_cli("customers", "link", str(igor.id), "999")
    assert unknown.code == 5 and "no conversation #999" in unknown.err
    done = run_cli("customers", "link", str(olena.id), str(igor.id))
    assert done.code == 0 and "one person now" in done.err
    again = run_cli("customers", "link", str(igor.id), str(olena.id))
    assert again.code == 0 and "already one person" in again.err
    out = run_cli("customers", "unlink", str(igor.id))
    assert out.code == 0 and "on their own again" in out.err
    assert "linked to no one" in run_cli("customers", "unlink", str(igor.id)).err


# -- the running relay ---------------------------------------------------------------------


async def test_the_relay_erases_at_start_and_then_daily(archive, shop):
    from im2mail.relay.retention import Retention

    now = [T0 + timedelta(days=30, minutes=15)]
    retention = Retention(archive, 30, clock=lambda: now[0], interval=0.05)
    await retention.start()
    await _until(lambda: archive.message_count() < 5)
    assert archive.message_count() == 3  # those of the first 15 minutes were 30 days old
    now[0] += timedelta(days=1)  # the next day: the rest is older than 30 days too
    await _until(lambda: archive.message_count() == 0)
    await retention.stop()
    assert not Retention(archive, 0).enabled


async def _until(condition, timeout: float = 5.0) -> None:
    import asyncio

    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("never happened")


def test_a_reply_to_an_old_email_about_them_reaches_no_one_and_says_why(archive):
    from im2mail.mail.builder import MailSettings
    from im2mail.model import NOT_SENT
    from im2mail.relay.reply_intake import ReplyIntake, ReplySettings
    from tests.unit.test_reply_intake import reply

    olena = customer(archive, "Олена")
    say(archive, olena, "Привіт")
    forget(archive, olena.id)
    intake = ReplyIntake(archive, ReplySettings(MailSettings("orders@shop.example", (ANNA,))))
    assert intake.handle(1, reply(olena.token, "Добрий день!").as_bytes()) == "done"
    with reading(archive) as db:
        found = db.execute(
            "SELECT m.text, o.target, o.kind, o.note FROM messages m"
            " JOIN outbox o ON o.message_id = m.id"
        ).fetchall()
    ((text, target, kind, note),) = found
    assert (text, target, kind) == ("", "mail", NOT_SENT)  # nothing to the customer
    assert "forgotten" in note


def test_no_byte_of_them_stays_in_the_archive_files(archive, shop):
    """Not only unreachable: gone from archive.db and its WAL (zeroed pages, the index
    merged), as a forensic look at the file would find."""
    olena, _, _ = shop
    traces = ("ламіновані", "банер", "Коваленко", "olena_k", "380671234567")
    files = [archive.path, archive.path.with_name(archive.path.name + "-wal")]

    def found() -> set[str]:
        data = b"".join(p.read_bytes() for p in files if p.exists())
        return {t for t in traces if t.encode() in data}

    with reading(archive) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert found() == set(traces)
    forget(archive, olena.id)
    assert found() == set()
