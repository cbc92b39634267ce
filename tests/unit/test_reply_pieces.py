"""A reply that went as several chat messages (a long text, text and files) is found by any
of them (archive/pieces.py): a failure the platform reports about its second message
comes back to the manager who wrote it, a receipt of it marks the reply, a customer's
reaction to it lands on the reply and is told its author. Sent by the real chat outbox
(ScriptedSender: 10 characters a message, ids 101, 102, …), reported through the
intake; also after a delivery resumed midway, and in an archive of the previous
version."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from im2mail.archive import Archive, reactions, receipts
from im2mail.archive.db import now
from im2mail.channels import RetryLater
from im2mail.mail.builder import MailSettings
from im2mail.model import REACTED, UNDELIVERED, Customer, Message, OutboxItem
from im2mail.relay.chat_outbox import ChatOutbox, SenderSettings
from tests.support.archive_sql import reading, writing
from tests.support.chats import customer
from tests.support.clock import Clock
from tests.support.scripted import ScriptedSender, ScriptedViber
from tests.unit.test_compose import plain, wire
from tests.unit.test_edits_relay import ANNA, MANAGERS, Shop, mailer
from tests.unit.test_intake_events import U1, WHEN, event, make_intake, viber_reply

TWO_PIECES = "Готово, заб" + "ирайте!"  # 11 + 7 characters: messages 101 and 102


@pytest.fixture
def channel() -> ScriptedViber:
    return ScriptedViber()


def sender_for(archive: Archive, bot: str, channel: ScriptedSender, **options) -> ChatOutbox:
    settings = SenderSettings(MailSettings("orders@shop.example", MANAGERS), frozenset({bot}))
    return ChatOutbox(archive, {bot: channel}, settings, pace=0, backoff=lambda tries: 0,
                      **options)  # fmt: skip


async def send(
    archive: Archive, bot: str, external_id: str, text: str, **options
) -> tuple[int, ScriptedSender]:
    """Anna's reply `text` to the customer, delivered by the chat outbox: its id, and
    the channel it went through (what it sent)."""
    channel = "viber" if bot == "vshop" else "telegram"
    known = archive.customer(channel, external_id)
    conversation = (
        customer(archive, channel=channel, bot=bot, external_id=external_id)
        if known is None
        else archive.conversation_for(known, bot)
    )
    stored = archive.add_message(
        Message(conversation.id, "out", ANNA, text, now(), email_message_id="<r@mail.test>"),
        outbox=[OutboxItem("channel")],
    )
    assert stored is not None and stored.id is not None
    sent = options.pop("channel", ScriptedSender())
    await sender_for(archive, bot, sent, **options).flush()
    return stored.id, sent


def notices(archive: Archive, kind: str) -> list[tuple[int, str | None]]:
    with reading(archive) as db:
        found = db.execute(
            "SELECT message_id, note FROM outbox WHERE target = 'mail' AND kind = ? ORDER BY id",
            (kind,),
        ).fetchall()
    return [tuple(r) for r in found]


# -- Viber: a failure, receipts ------------------------------------------------------------


async def test_a_failure_of_the_second_message_comes_back_to_the_replys_author(archive, channel):
    reply, _ = await send(archive, "vshop", "u1", TWO_PIECES)
    assert archive.message(reply).channel_message_id == "101"  # the first, as before
    intake, mailed = make_intake(archive, channel)
    channel.next = [event("failed", token="102", who=U1, text="Message was not delivered")]
    await intake.take("vshop", {})
    assert notices(archive, UNDELIVERED) == [(reply, "Message was not delivered")]
    assert mailed == [1]
    await intake.take("vshop", {})  # Viber calls again: still one notice
    assert len(notices(archive, UNDELIVERED)) == 1


async def test_receipts_of_the_second_message_mark_the_reply(archive, channel):
    reply, _ = await send(archive, "vshop", "u1", TWO_PIECES)
    intake, _ = make_intake(archive, channel)
    later = WHEN + timedelta(minutes=2)
    channel.next = [event("delivered", token="102", who=U1),
                    replace(event("seen", token="102", who=U1), created=later)]  # fmt: skip
    await intake.take("vshop", {})
    stored = archive.message(reply)
    assert (stored.delivered, stored.seen) == (WHEN, later)


async def test_a_piece_of_another_customers_reply_marks_nothing(archive, channel):
    mine, _ = await send(archive, "vshop", "u1", TWO_PIECES)
    intake, mailed = make_intake(archive, channel)
    someone_else = Customer("viber", "u2")
    channel.next = [event("seen", token="102", who=someone_else),
                    event("failed", token="102", who=someone_else, text="x")]  # fmt: skip
    await intake.take("vshop", {})
    await intake.rechecked()
    assert archive.message(mine).seen is None
    assert notices(archive, UNDELIVERED) == [] and not mailed


async def test_a_delivery_resumed_midway_keeps_its_later_pieces(archive, channel):
    """Flood control stopped the reply after two of its messages; the next try sent the
    rest. A failure of the last one, sent by the resumed try, still finds the reply."""
    sender = ScriptedSender()
    sender.errors = [None, None, RetryLater("429", seconds=0.3)]
    clock = Clock(now() + timedelta(seconds=1))  # the reply is due
    reply, _ = await send(archive, "vshop", "u1", "x" * 35, channel=sender, clock=clock)
    with reading(archive) as db:
        assert tuple(db.execute("SELECT progress, state FROM outbox").fetchone()) == (
            2,
            "pending",
        )
    clock.advance(0.35)
    await sender_for(archive, "vshop", sender, clock=clock).flush()
    assert [step.text for _, step in sender.sent] == ["x" * 10] * 3 + ["x" * 5]  # 101 … 104
    intake, _ = make_intake(archive, channel)
    channel.next = [event("failed", token="104", who=U1, text="Receiver is not subscribed"),
                    event("seen", token="103", who=U1)]  # fmt: skip
    await intake.take("vshop", {})
    assert notices(archive, UNDELIVERED) == [(reply, "Receiver is not subscribed")]
    assert archive.message(reply).seen == WHEN


def test_every_message_of_a_step_is_a_piece(archive):
    """A step that went as several chat messages (a Telegram album) keeps them all."""
    conversation = customer(archive, external_id="555")
    stored = archive.add_message(Message(conversation.id, "out", ANNA, "", now()),
                                 outbox=[OutboxItem("channel")])  # fmt: skip
    assert stored is not None
    (item,) = archive.deliveries.due_deliveries("channel", now() + timedelta(seconds=1), 5)
    assert item.id is not None
    archive.deliveries.delivery_sent(item.id, now(), channel_message_id="7", pieces=["7", "8"])
    olena = archive.conversation(conversation.id).customer
    assert receipts.mark(archive, "shop", olena, "8", "seen", WHEN) == stored.id


# -- Telegram: a reaction --------------------------------------------------------------------


async def test_a_reaction_to_the_second_message_lands_on_the_reply_and_is_told(archive):
    shop = Shop(archive)
    await shop.writes("Коли буде готово?", "1")
    reply, _ = await send(archive, "shop", "111", "Завтра о 10:00, приходьте")  # 101 … 103
    await shop.reacts("102", "👍")
    (shown,) = reactions.with_reactions(archive, [archive.message(reply)])
    assert [(r.emoji, r.direction) for r in shown.reactions] == [("👍", "in")]
    (item,) = shop.mail(REACTED)
    assert item.message_id == reply
    email = wire(mailer(archive, lambda: shop.clock.now + timedelta(minutes=1)).build(item))
    assert [a.addr_spec for a in email["To"].addresses] == [ANNA]
    assert "Олена Коваль reacted 👍 to your reply in Telegram." in plain(email)


# -- the archive: an older one upgraded, a customer forgotten ------------------------------


async def test_an_archive_of_the_previous_version_is_upgraded_and_finds_both(archive_path, channel):
    """An archive im2mail left before m015, with a reply of then (known by its first
    message only): upgraded on open, its old reply still found, a new one by any piece."""
    with Archive.open(archive_path) as archive:
        with writing(archive) as db:
            db.execute("DROP TABLE reply_pieces")
            db.execute("DELETE FROM _migrations WHERE name = 'm015_reply_pieces'")
        old = viber_reply(archive, "Було", "old-1")
    with Archive.open(archive_path) as archive:
        reply, _ = await send(archive, "vshop", "u1", TWO_PIECES)
        intake, _ = make_intake(archive, channel)
        channel.next = [event("seen", token="old-1", who=U1), event("seen", token="102", who=U1)]
        await intake.take("vshop", {})
        assert archive.message(old.id).seen == WHEN
        assert archive.message(reply).seen == WHEN
