"""The delivery queue over the outbox table: what is due, and what each try records."""

from __future__ import annotations

from datetime import timedelta

from im2mail.archive import Archive
from im2mail.archive.db import dt, now
from im2mail.model import Message, OutboxItem
from tests.support.archive_sql import reading, writing
from tests.support.chats import T0, customer


def queue(archive: Archive, *items: OutboxItem, text: str = "hi") -> int:
    """A customer's message with these outbox rows; returns the message id."""
    conv = customer(archive, external_id="42")
    stored = archive.add_message(Message(conv.id, "in", "Олена", text, T0), outbox=items)
    assert stored is not None and stored.id is not None
    return stored.id


def mail(n: int, *, at=None) -> OutboxItem:
    return OutboxItem("mail", f"<{n}@shop.example>", next_try=at)


LATER = now() + timedelta(hours=1)


def test_due_items_come_oldest_first_up_to_the_limit(archive: Archive) -> None:
    for n in range(5):
        queue(archive, mail(n))
    due = archive.deliveries.due_deliveries("mail", LATER, 3)
    assert [i.email_message_id for i in due] == [f"<{n}@shop.example>" for n in range(3)]
    first = due[0]
    assert first.id is not None and first.message_id is not None
    assert (first.target, first.state, first.attempts, first.last_error) == (
        "mail",
        "pending",
        0,
        None,
    )
    assert first.next_try is not None and first.next_try.utcoffset() == timedelta(0)


def test_due_items_after_a_row_and_each_with_its_conversation(archive: Archive) -> None:
    """What a worker that keeps sending asks for: the rows queued since it last looked."""
    for n in range(5):
        queue(archive, mail(n))
    first = archive.deliveries.due_deliveries("mail", LATER, 2)
    assert first[0].id is not None and first[1].id is not None
    later = archive.deliveries.due_deliveries("mail", LATER, 10, after=first[1].id)
    assert [i.email_message_id for i in later] == [f"<{n}@shop.example>" for n in (2, 3, 4)]
    assert {i.conversation_id for i in first + later} == {
        archive.message(first[0].message_id).conversation_id
    }
    assert archive.deliveries.due_deliveries("mail", LATER, 10, after=later[-1].id or 0) == []


def test_in_order_a_row_waits_while_an_earlier_one_of_its_conversation_awaits_a_retry(
    archive: Archive,
) -> None:
    queue(archive, mail(1), mail(2))  # one message, two rows: one conversation
    other = customer(archive, external_id="43")
    archive.add_message(Message(other.id, "in", "Іван", "hi", T0), outbox=[mail(3)])
    queue(archive, mail(4, at=LATER))  # scheduled, never tried: holds nothing
    queue(archive, mail(5))
    queue_ = archive.deliveries
    first = queue_.due_deliveries("mail", now(), 10, in_order=True)[0]
    assert first.id is not None
    queue_.delivery_retry(first.id, "451 try later", now() + timedelta(minutes=5))

    def due(**kw) -> list[str | None]:
        return [i.email_message_id for i in queue_.due_deliveries("mail", now(), 10, **kw)]

    assert due(in_order=True) == ["<3@shop.example>"]  # only the other conversation's
    assert due() == [f"<{n}@shop.example>" for n in (2, 3, 5)]  # without: all that are due
    queue_.delivery_failed(first.id, "554 refused for good")  # given up: holds nothing
    assert due(in_order=True) == [f"<{n}@shop.example>" for n in (2, 3, 5)]


def test_only_pending_items_of_the_target_whose_time_has_come(archive: Archive) -> None:
    queue(archive, mail(1), OutboxItem("channel"))
    queue(archive, mail(2, at=LATER + timedelta(minutes=1)))  # not yet
    sent = queue(archive, mail(3))
    archive.deliveries.delivery_sent(_id(archive, sent), now())
    assert [i.email_message_id for i in archive.deliveries.due_deliveries("mail", LATER, 10)] == [
        "<1@shop.example>"
    ]
    channel = archive.deliveries.due_deliveries("channel", LATER, 10)
    assert [(i.target, i.email_message_id) for i in channel] == [("channel", None)]


def test_an_item_is_due_exactly_at_its_next_try(archive: Archive) -> None:
    at = now().replace(microsecond=0)
    queue(archive, mail(1, at=at))
    assert archive.deliveries.due_deliveries("mail", at - timedelta(microseconds=1), 10) == []
    assert len(archive.deliveries.due_deliveries("mail", at, 10)) == 1
    assert len(archive.deliveries.due_deliveries("mail", at + timedelta(microseconds=5), 10)) == 1


def test_retries_count_tries_keep_the_error_and_move_the_next_try(archive: Archive) -> None:
    queue(archive, mail(1))
    q = archive.deliveries
    (item,) = q.due_deliveries("mail", LATER, 10)
    soon = now() + timedelta(seconds=5)
    assert q.delivery_retry(item.id, "SMTP 451 4.3.0 try later", soon)
    assert q.due_deliveries("mail", soon - timedelta(seconds=1), 10) == []
    (again,) = q.due_deliveries("mail", soon, 10)
    assert (again.attempts, again.last_error) == (1, "SMTP 451 4.3.0 try later")
    assert again.next_try == soon
    q.delivery_retry(item.id, "SMTP 421 closing", soon)
    (again,) = q.due_deliveries("mail", soon, 10)
    assert (again.attempts, again.last_error) == (2, "SMTP 421 closing")


def test_sent_is_final_counts_the_try_and_stamps_the_message(archive: Archive) -> None:
    message_id = queue(archive, mail(1))
    q = archive.deliveries
    (item,) = q.due_deliveries("mail", LATER, 10)
    q.delivery_retry(item.id, "SMTP 451 later", now())
    when = now()
    assert q.delivery_sent(item.id, when) is True
    assert q.due_deliveries("mail", LATER, 10) == []
    assert q.next_delivery_time("mail") is None
    row = _row(archive, item.id)
    assert (row["state"], row["attempts"], row["last_error"]) == ("sent", 2, "SMTP 451 later")
    assert archive.message(message_id).sent == when
    # settled rows don't change any more
    assert q.delivery_sent(item.id, now()) is False
    assert q.delivery_retry(item.id, "late", now()) is False
    assert q.delivery_failed(item.id, "late") is False
    assert _row(archive, item.id)["state"] == "sent"


def test_a_second_delivery_keeps_the_first_sent_time(archive: Archive) -> None:
    message_id = queue(archive, mail(1), OutboxItem("channel"))
    first, second = (_row(archive, i)["id"] for i in _ids(archive, message_id))
    archive.deliveries.delivery_sent(first, T0)
    archive.deliveries.delivery_sent(second, T0 + timedelta(hours=1))
    assert archive.message(message_id).sent == T0


def test_failed_is_final_with_the_reason(archive: Archive) -> None:
    queue(archive, mail(1))
    q = archive.deliveries
    (item,) = q.due_deliveries("mail", LATER, 10)
    assert q.delivery_failed(item.id, "SMTP 554 5.6.0 message refused") is True
    row = _row(archive, item.id)
    assert (row["state"], row["attempts"]) == ("failed", 1)
    assert row["last_error"] == "SMTP 554 5.6.0 message refused"
    assert q.due_deliveries("mail", LATER, 10) == []
    assert archive.message(row["message_id"]).sent is None


def test_a_long_error_is_cut_and_an_empty_one_named(archive: Archive) -> None:
    queue(archive, mail(1), mail(2))
    a, b = archive.deliveries.due_deliveries("mail", LATER, 10)
    archive.deliveries.delivery_retry(a.id, "x" * 5000, now())
    archive.deliveries.delivery_failed(b.id, "  ")
    assert len(_row(archive, a.id)["last_error"]) == 1000
    assert _row(archive, b.id)["last_error"] == "unknown error"


def test_next_delivery_time_is_the_earliest_pending_next_try(archive: Archive) -> None:
    q = archive.deliveries
    assert q.next_delivery_time("mail") is None
    in_an_hour, in_a_minute = now() + timedelta(hours=1), now() + timedelta(minutes=1)
    queue(archive, mail(1, at=in_an_hour))
    queue(archive, mail(2, at=in_a_minute))
    queue(archive, OutboxItem("channel", next_try=now() - timedelta(days=1)))
    assert q.next_delivery_time("mail") == in_a_minute
    (item,) = q.due_deliveries("mail", in_a_minute, 10)
    q.delivery_failed(item.id, "no")
    assert q.next_delivery_time("mail") == in_an_hour
    assert q.next_delivery_time("channel") < now()


def test_count_due_counts_pending_mail_whose_time_has_come_up_to_a_bound(
    archive: Archive,
) -> None:
    q = archive.deliveries
    for n in range(5):
        queue(archive, mail(n))
    queue(archive, mail(9, at=now() + timedelta(minutes=1)))  # an album part: not yet
    queue(archive, OutboxItem("channel"))  # a reply to a chat: not mail
    assert q.count_due("mail", now(), 100) == 5
    assert q.count_due("mail", now(), 3) == 3  # a long queue costs no more than that
    first, second, *_ = q.due_deliveries("mail", now(), 10)
    q.delivery_sent(first.id, now())
    q.delivery_failed(second.id, "550 no such user")
    assert q.count_due("mail", now(), 100) == 3
    assert q.count_due("mail", now() + timedelta(minutes=2), 100) == 4


def test_counts_for_status(archive: Archive) -> None:
    q = archive.deliveries
    assert q.outbox_counts() == {
        "pending": 0,
        "retrying": 0,
        "failed": 0,
        "oldest_pending": None,
        "next_try": None,
        "last_error": None,
    }
    for n in range(4):
        queue(archive, mail(n))
    queue(archive, OutboxItem("channel"))
    a, b, c, d = q.due_deliveries("mail", LATER, 10)
    q.delivery_failed(a.id, "SMTP 550 rejected")
    assert q.outbox_counts("mail")["last_error"] == "SMTP 550 rejected"  # no pending error
    retry_at = now() + timedelta(minutes=5)
    q.delivery_retry(b.id, "SMTP 451 busy", retry_at)
    q.delivery_sent(c.id, now())
    counts = q.outbox_counts("mail")
    assert counts["pending"] == 2  # b (retrying) and d
    assert counts["retrying"] == 1
    assert counts["failed"] == 1
    assert counts["last_error"] == "SMTP 451 busy"  # a pending problem comes first
    assert counts["oldest_pending"] == _row(archive, b.id)["created_dt"]
    assert counts["next_try"] == d.next_try
    everything = q.outbox_counts()
    assert (everything["pending"], everything["failed"]) == (3, 1)
    assert q.outbox_counts("channel")["pending"] == 1


def test_the_queue_reaches_the_archive_only_through_its_hooks(archive: Archive) -> None:
    assert archive.deliveries is archive.deliveries  # one per archive
    with writing(archive) as db:
        db.execute("SELECT 1")
    with reading(archive) as db:
        assert db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0


# -- helpers ----------------------------------------------------------------------------------


def _row(archive: Archive, item_id: int | None) -> dict:
    with reading(archive) as db:
        row = dict(db.execute("SELECT * FROM outbox WHERE id = ?", (item_id,)).fetchone())
    row["created_dt"] = dt(row["created"])
    return row


def _ids(archive: Archive, message_id: int) -> list[int]:
    with reading(archive) as db:
        found = db.execute("SELECT id FROM outbox WHERE message_id = ? ORDER BY id", (message_id,))
        return [r[0] for r in found]


def _id(archive: Archive, message_id: int) -> int:
    (only,) = _ids(archive, message_id)
    return only


def test_an_email_refused_for_a_day_stops_holding_its_conversation(archive: Archive) -> None:
    queue(archive, mail(1), mail(2))  # one conversation
    queue_ = archive.deliveries
    first = queue_.due_deliveries("mail", now(), 10, in_order=True)[0]
    assert first.id is not None
    queue_.delivery_retry(first.id, "452 4.3.1 too big for today", now() + timedelta(hours=30))

    def due(at) -> list[str | None]:
        return [i.email_message_id for i in queue_.due_deliveries("mail", at, 10, in_order=True)]

    assert due(now() + timedelta(hours=23)) == []  # a day of order kept
    assert due(now() + timedelta(hours=25)) == ["<2@shop.example>"]  # then the rest go on
