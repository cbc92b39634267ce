"""The chat outbox (sender.ChatOutbox) with a scripted channel: steps done once, retries
honouring retry_after, failures turned into a notice to the reply's author, the team told
after a delivery."""

from __future__ import annotations

from datetime import timedelta

import pytest

from im2mail.archive import Archive
from im2mail.archive.db import now
from im2mail.channels import Blocked, Rejected, RetryLater, Step
from im2mail.mail.builder import MailSettings
from im2mail.model import IN_DOUBT, TEAM, UNDELIVERED, Message, NewAttachment, OutboxItem
from im2mail.relay.chat_outbox import ChatOutbox, SenderSettings
from tests.support.archive_sql import reading
from tests.support.chats import customer
from tests.support.clock import Clock
from tests.support.scripted import ScriptedSender

ANNA, PETRO = "anna@shop.example", "petro@shop.example"
SETTINGS = SenderSettings(MailSettings("orders@shop.example", (ANNA, PETRO)), frozenset({"shop"}))


@pytest.fixture
def channel() -> ScriptedSender:
    return ScriptedSender()


def outbox_for(archive: Archive, channel, **options) -> ChatOutbox:
    options.setdefault("pace", 0)
    options.setdefault("backoff", lambda tries: 0)
    return ChatOutbox(archive, {"shop": channel}, SETTINGS, **options)


def queue_reply(archive: Archive, text: str, files=(), *, author: str = ANNA, raw=None) -> int:
    conv = customer(archive, external_id="555")
    stored = archive.add_message(
        Message(conv.id, "out", author, text, now(), email_message_id="<r@mail>", raw=raw),
        [NewAttachment(n, m, d) for n, m, d in files],
        outbox=[OutboxItem("channel")],
    )
    assert stored is not None and stored.id is not None
    return stored.id


def rows(archive: Archive) -> list[tuple]:
    with reading(archive) as db:
        found = db.execute(
            "SELECT target, kind, state, note, progress, attempts FROM outbox ORDER BY id"
        ).fetchall()
    return [tuple(r) for r in found]


async def test_every_step_goes_once_then_the_team_is_told(archive, channel):
    message_id = queue_reply(
        archive, "Добрий день! Ціна 350 грн", [("a.pdf", "application/pdf", b"%PDF")]
    )
    assert await outbox_for(archive, channel).flush() == 1
    assert [step.text for _, step in channel.sent] == ["Добрий ден", "ь! Ціна 35", "0 грн", ""]
    assert {chat for chat, _ in channel.sent} == {"555"}
    assert channel.sent[-1][1].files == (("a.pdf", "application/pdf", b"%PDF"),)
    assert rows(archive) == [
        ("channel", "message", "sent", None, 3, 1),  # the last step is the delivery itself
        ("mail", TEAM, "pending", PETRO, 0, 0),
    ]
    message = archive.message(message_id)
    assert message.sent is not None and message.channel_message_id == "101"


async def test_flood_control_midway_resumes_after_the_steps_already_sent(archive, channel):
    queue_reply(archive, "x" * 35)  # four steps
    channel.errors = [None, None, RetryLater("429", seconds=0.3)]
    clock = Clock()
    sender = outbox_for(archive, channel, clock=clock)
    await sender.flush()
    assert rows(archive)[0][2:] == ("pending", None, 2, 1)  # two steps done, one try counted
    clock.advance(0.35)
    await sender.flush()
    assert [step.text for _, step in channel.sent] == ["x" * 10] * 3 + ["x" * 5]
    assert rows(archive)[0][2] == "sent"


async def test_retry_after_is_honoured(archive, channel):
    queue_reply(archive, "Так")
    channel.errors = [RetryLater("429", seconds=600)]
    await outbox_for(archive, channel).flush()
    (item,) = archive.deliveries.due_deliveries("channel", now() + timedelta(minutes=11), 5)
    assert item.next_try > now() + timedelta(minutes=9)
    assert archive.deliveries.due_deliveries("channel", now(), 5) == []


async def test_a_blocked_customer_fails_the_delivery_and_the_author_gets_a_notice(archive, channel):
    queue_reply(archive, "Будь ласка")
    channel.errors = [Blocked("403", reason="Forbidden: bot was blocked by the user")]
    await outbox_for(archive, channel).flush()
    assert rows(archive) == [
        ("channel", "message", "failed", None, 0, 1),
        ("mail", UNDELIVERED, "pending", "Forbidden: bot was blocked by the user", 0, 0),
    ]
    (conv,) = archive.conversations()
    assert archive.conversation(conv.id).customer.blocked


async def test_a_rejected_file_is_not_retried(archive, channel):
    queue_reply(archive, "", [("huge.zip", "application/zip", b"PK")])
    channel.errors = [Rejected("400", reason="Bad Request: file is too big")]
    await outbox_for(archive, channel).flush()
    assert rows(archive)[0][2] == "failed"
    assert rows(archive)[1][1:4] == (UNDELIVERED, "pending", "Bad Request: file is too big")


async def test_temporary_errors_give_up_after_max_tries_with_a_notice(archive, channel):
    queue_reply(archive, "Так")
    channel.errors = [RetryLater("502 Bad Gateway")] * 3
    sender = outbox_for(archive, channel, max_tries=3)
    for _ in range(3):
        await sender.flush()
    assert rows(archive)[0][2] == "failed"
    assert "still failing after 3 tries: 502 Bad Gateway" in rows(archive)[1][3]
    assert channel.sent == []


async def test_a_bot_no_longer_configured_comes_back_at_once(archive, channel):
    queue_reply(archive, "Так")
    sender = ChatOutbox(
        archive, {}, SenderSettings(MailSettings("orders@shop.example", (ANNA,)), frozenset())
    )
    await sender.flush()
    assert rows(archive)[0][2] == "failed"
    assert "no longer configured" in rows(archive)[1][3]


async def test_a_configured_bot_that_is_not_running_is_retried(archive, channel):
    queue_reply(archive, "Так")
    await ChatOutbox(archive, {}, SETTINGS, backoff=lambda tries: 60).flush()
    assert rows(archive) == [("channel", "message", "pending", None, 0, 1)]


async def test_sign_replies_adds_the_managers_name(archive, channel):
    queue_reply(archive, "Готово", raw={"from_name": "Анна"})
    signed = SenderSettings(MailSettings("orders@shop.example", (ANNA,)), frozenset({"shop"}), True)
    sender = ChatOutbox(archive, {"shop": channel}, signed, pace=0)
    await sender.flush()
    assert "".join(step.text for _, step in channel.sent) == "Готово\n\n— Анна"
    assert [r[1] for r in rows(archive)] == ["message"]  # the only manager: no team notice


async def test_steps_to_one_chat_are_paced(archive, channel):
    import time

    queue_reply(archive, "x" * 25)  # three steps
    started = time.monotonic()
    await outbox_for(archive, channel, pace=0.2).flush()
    assert time.monotonic() - started >= 0.4


class Killed(BaseException):
    """kill -9 at a moment of our choosing: nothing after it runs."""


class KilledWhileSending(ScriptedSender):
    """The relay dies during send number `at` (1-based), after the platform took it when
    `arrived`: nothing of the call is recorded by the relay."""

    def __init__(self, at: int, arrived: bool) -> None:
        super().__init__()
        self.at, self.arrived, self.calls = at, arrived, 0

    async def send_step(self, chat_id: str, step: Step) -> list[str]:
        self.calls += 1
        if self.calls == self.at:
            if self.arrived:
                self.sent.append((chat_id, step))
            raise Killed
        return await super().send_step(chat_id, step)


async def crash_then_restart(archive, text: str, at: int, arrived: bool, settings):
    """Deliver `text` (pieces of 10), killed during send `at`, then a restarted relay
    (a new ChatOutbox on the same archive) finishes. Returns the texts the customer got."""
    queue_reply(archive, text)
    channel = KilledWhileSending(at, arrived)
    with pytest.raises(Killed):
        await ChatOutbox(archive, {"shop": channel}, settings, pace=0).flush()
    assert archive.deliveries.due_deliveries("channel", now(), 5)[0].in_flight == at - 1
    await ChatOutbox(archive, {"shop": channel}, settings, pace=0).flush()
    return [step.text for _, step in channel.sent]


NOTIFY = SenderSettings(**{**SETTINGS.__dict__, "resend_in_doubt": False})


async def test_a_step_in_doubt_after_a_crash_is_sent_again_by_default(archive):
    got = await crash_then_restart(archive, "a" * 10 + "b" * 10 + "c" * 5, 2, True, SETTINGS)
    assert got == ["a" * 10, "b" * 10, "b" * 10, "c" * 5]  # at least once: "b" twice
    assert [r[1:3] for r in rows(archive)] == [("message", "sent"), (TEAM, "pending")]


async def test_with_in_doubt_notify_the_step_is_not_resent_and_its_author_is_told(archive):
    got = await crash_then_restart(archive, "a" * 10 + "b" * 10 + "c" * 5, 2, True, NOTIFY)
    assert got == ["a" * 10, "b" * 10, "c" * 5]  # at most once: "b" not again
    assert rows(archive) == [
        ("channel", "message", "sent", None, 2, 1),
        ("mail", TEAM, "pending", PETRO, 0, 0),
        ("mail", IN_DOUBT, "pending", "part 2 of 3 of your reply", 0, 0),
    ]


async def test_in_doubt_notify_when_the_step_never_arrived_still_tells_the_author(archive):
    got = await crash_then_restart(archive, "Так, 350 грн", 1, False, NOTIFY)
    assert got == ["рн"]  # only the second piece: the first is in doubt, so not sent
    assert rows(archive)[-1][1:4] == (IN_DOUBT, "pending", "part 1 of 2 of your reply")


async def test_a_single_message_in_doubt_is_called_your_reply(archive):
    got = await crash_then_restart(archive, "Так", 1, True, NOTIFY)
    assert got == ["Так"]
    assert rows(archive)[-1][1:4] == (IN_DOUBT, "pending", "your reply")


async def test_nothing_is_in_doubt_after_a_step_fails_or_the_reply_goes(archive, channel):
    queue_reply(archive, "x" * 15)
    channel.errors = [None, RetryLater("502", seconds=0.2)]
    clock = Clock()
    sender = outbox_for(archive, channel, clock=clock)
    await sender.flush()
    (item,) = archive.deliveries.due_deliveries("channel", now() + timedelta(hours=1), 5)
    assert (item.progress, item.in_flight) == (1, None)  # the 502'd step is known not sent
    clock.advance(0.25)
    await sender.flush()
    assert rows(archive)[0][2] == "sent"
    with reading(archive) as db:
        assert (
            db.execute("SELECT in_flight FROM outbox WHERE target = 'channel'").fetchone()[0]
            is None
        )
