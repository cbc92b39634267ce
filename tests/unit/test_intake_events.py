"""Updates that carry no customer message (inbound.Intake): a chat opened (Viber's
conversation_started: the greeting goes back as the webhook's answer), subscription
changes, and receipts about the shop's messages (delivered, seen, failed)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from im2mail.archive import Archive
from im2mail.mail.builder import MailSettings
from im2mail.model import UNDELIVERED, Customer, Incoming, Message
from im2mail.relay.intake import GREETER, Intake, IntakeSettings
from tests.support.archive_sql import reading, writing
from tests.support.chats import customer, say
from tests.support.scripted import ScriptedViber

MAILBOX = "orders@shop.example"
GREETING = "Вітаємо! Напишіть, що надрукувати."
WHEN = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
OKSANA = Customer("viber", "q1w2e3r4t5y6u7i8o9p0aa==", "Оксана Мельник", source="flyer-kyiv")


@pytest.fixture
def channel() -> ScriptedViber:
    return ScriptedViber()


def make_intake(archive: Archive, channel: ScriptedViber, greeting: str | None = GREETING):
    mailed: list[int] = []
    intake = Intake(
        archive,
        {"vshop": channel},  # type: ignore[dict-item]
        IntakeSettings(MailSettings(MAILBOX, ()), greeting),
        lambda: mailed.append(1),
        look_again_after=(0.05, 0.1, 0.2),
    )
    return intake, mailed


U1 = Customer("viber", "u1")  # receipts name the customer by id alone


def event(kind: str, *, token: str = "5741311803571721087", who: Customer = OKSANA, **kw):
    return Incoming(
        bot="vshop", customer=who, dedupe_key=f"viber:vshop:{kind}:{token}", created=WHEN,
        channel_message_id=token, chat_id=who.external_id, event=kind, **kw,
    )  # fmt: skip


def outbox(archive: Archive) -> list[tuple[str, str, str | None]]:
    with reading(archive) as db:
        rows = db.execute("SELECT target, kind, note FROM outbox ORDER BY id").fetchall()
    return [tuple(r) for r in rows]


def viber_reply(archive: Archive, text: str, token: str, **kw: str) -> Message:
    """A manager's reply to customer u1 of 'vshop', sent as Viber message `token`."""
    conversation = customer(archive, channel="viber", bot="vshop", external_id="u1")
    reply = say(archive, conversation, text, direction="out", **kw)
    with writing(archive) as db:
        db.execute("UPDATE messages SET channel_message_id = ? WHERE id = ?", (token, reply.id))
    return reply


async def test_an_opened_chat_is_answered_with_the_greeting_kept_once(archive, channel):
    intake, mailed = make_intake(archive, channel)
    channel.next = [event("started", start=True)]
    taken = await intake.take("vshop", {})
    assert taken.answer == channel.welcome(GREETING)
    assert taken.stored == 0 and not mailed  # nothing for the managers yet
    again = await intake.take("vshop", {})  # Viber calls again when our answer was lost
    assert again.answer == channel.welcome(GREETING)
    (entry,) = archive.recent(10)
    assert (entry.direction, entry.author, entry.text) == ("out", GREETER, GREETING)
    (summary,) = archive.conversations()
    assert summary.source == "flyer-kyiv"  # the lead source from the link's context
    assert channel.sent == []  # the welcome is the answer, not a send_message


async def test_a_customer_who_wrote_before_gets_no_welcome(archive, channel):
    conversation = customer(archive, "Оксана", "", channel="viber", bot="vshop",
                            external_id=OKSANA.external_id)  # fmt: skip
    say(archive, conversation, "Добрий день")
    intake, _ = make_intake(archive, channel)
    channel.next = [event("started", start=True)]
    assert (await intake.take("vshop", {})).answer is None


async def test_without_a_greeting_an_opened_chat_is_only_recorded(archive, channel):
    intake, _ = make_intake(archive, channel, greeting=None)
    channel.next = [event("started", start=True)]
    assert (await intake.take("vshop", {})).answer is None
    assert archive.recent(5) == []
    assert archive.conversations()[0].source == "flyer-kyiv"


async def test_delivered_and_seen_land_on_the_reply(archive, channel):
    reply = viber_reply(archive, "Готово, забирайте", "77")
    intake, _ = make_intake(archive, channel)
    channel.next = [event("delivered", token="77", who=U1)]
    await intake.take("vshop", {})
    later = WHEN + timedelta(minutes=3)
    channel.next = [replace(event("seen", token="77", who=U1), created=later)]
    await intake.take("vshop", {})
    channel.next = [replace(event("delivered", token="77", who=U1), created=later)]  # a repeat
    await intake.take("vshop", {})
    stored = archive.message(reply.id)
    assert (stored.delivered, stored.seen) == (WHEN, later)
    (entry,) = archive.recent(1)
    assert entry.record(receipts=True)["seen"] == later.isoformat()


async def test_seen_alone_counts_as_delivered_too(archive, channel):
    reply = viber_reply(archive, "Готово", "78")
    intake, _ = make_intake(archive, channel)
    channel.next = [event("seen", token="78", who=U1)]
    await intake.take("vshop", {})
    assert archive.message(reply.id).delivered == WHEN


async def test_a_receipt_for_an_unknown_message_changes_nothing(archive, channel):
    reply = viber_reply(archive, "Готово", "80")
    intake, mailed = make_intake(archive, channel)
    someone_else = Customer("viber", "u2")  # the same token names only u1's message
    channel.next = [
        event("delivered", token="404", who=U1),
        event("failed", token="404", who=U1, text="x"),
        event("seen", token="80", who=someone_else),
    ]
    assert (await intake.take("vshop", {})).stored == 0
    await intake.rechecked()
    assert archive.message(reply.id).delivered is None
    assert outbox(archive) == [] and not mailed


async def test_a_receipt_that_comes_before_its_send_was_recorded_still_lands(archive, channel):
    reply = viber_reply(archive, "Готово, забирайте", "pending")
    intake, _ = make_intake(archive, channel)
    channel.next = [event("seen", token="82", who=U1)]
    await intake.take("vshop", {})
    with writing(archive) as db:  # the send is recorded now
        db.execute("UPDATE messages SET channel_message_id = '82' WHERE id = ?", (reply.id,))
    await intake.rechecked()
    stored = archive.message(reply.id)
    assert (stored.delivered, stored.seen) == (WHEN, WHEN)


async def test_a_failure_reported_before_its_send_was_recorded_still_reaches_the_author(
    archive, channel
):
    """Viber answered the send and called back "failed" at once: the callback came before
    the relay had written down the message's token. It is looked for again, not dropped."""
    reply = viber_reply(archive, "Тоді посилання на сайті", "pending", author="anna@shop.example")
    intake, mailed = make_intake(archive, channel)
    channel.next = [event("failed", token="81", who=U1, text="Message was not delivered")]
    await intake.take("vshop", {})
    assert outbox(archive) == []  # not found yet
    with writing(archive) as db:  # the send is recorded now
        db.execute("UPDATE messages SET channel_message_id = '81' WHERE id = ?", (reply.id,))
    await intake.rechecked()
    assert outbox(archive) == [("mail", UNDELIVERED, "Message was not delivered")]
    assert mailed == [1]


async def test_a_failed_reply_comes_back_to_its_author_once(archive, channel):
    viber_reply(archive, "Готово", "79", author="anna@shop.example")
    intake, mailed = make_intake(archive, channel)
    channel.next = [event("failed", token="79", who=U1, text="Receiver is not subscribed")]
    await intake.take("vshop", {})
    await intake.take("vshop", {})  # the same callback again
    assert outbox(archive) == [("mail", UNDELIVERED, "Receiver is not subscribed")]
    assert mailed == [1]


async def test_unsubscribing_marks_the_customer_and_keeps_their_name(archive, channel):
    conversation = customer(archive, "Оксана", "Мельник", channel="viber", bot="vshop",
                            external_id="u1")  # fmt: skip
    intake, _ = make_intake(archive, channel)
    channel.next = [event("blocked", who=Customer("viber", "u1"))]  # Viber names only the id
    await intake.take("vshop", {})
    after = archive.conversation(conversation.id).customer
    assert after.blocked
    assert after.display_name == "Оксана Мельник"
    channel.next = [event("unblocked", token="2", who=Customer("viber", "u1", "Оксана М."))]
    await intake.take("vshop", {})
    assert not archive.conversation(conversation.id).customer.blocked
