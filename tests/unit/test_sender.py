"""The chat outbox (sender.ChatOutbox) with a scripted channel: steps done once, retries
honouring retry_after, failures turned into a notice to the reply's author, the team told
after a delivery."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from im2mail.archive import Archive
from im2mail.channels import Blocked, OutgoingFile, Rejected, RetryLater, Step
from im2mail.db import now
from im2mail.model import TEAM, UNDELIVERED, Message, NewAttachment, OutboxItem
from im2mail.sender import ChatOutbox, SenderSettings
from tests.support.chats import customer

ANNA, PETRO = "anna@shop.example", "petro@shop.example"
SETTINGS = SenderSettings("orders@shop.example", (ANNA, PETRO), frozenset({"shop"}))


class ScriptedChannel:
    """Pieces of 10 characters, files as one step; `errors` are raised by the next calls."""

    text_limit = 10

    def __init__(self) -> None:
        self.sent: list[tuple[str, Step]] = []
        self.errors: list[Exception | None] = []

    def plan(self, text: str, files: Sequence[OutgoingFile] = ()) -> list[Step]:
        steps = [Step(text[i : i + 10]) for i in range(0, len(text), 10)]
        return steps + ([Step("", tuple(files), "document")] if files else [])

    async def send_step(self, chat_id: str, step: Step) -> list[str]:
        if self.errors:
            error = self.errors.pop(0)
            if error is not None:
                raise error
        self.sent.append((chat_id, step))
        return [str(100 + len(self.sent))]


@pytest.fixture
def archive(tmp_path: Path):
    with Archive.open(tmp_path / "archive.db") as a:
        yield a


@pytest.fixture
def channel() -> ScriptedChannel:
    return ScriptedChannel()


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
    with archive.reading() as db:
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
    sender = outbox_for(archive, channel)
    await sender.flush()
    assert rows(archive)[0][2:] == ("pending", None, 2, 1)  # two steps done, one try counted
    await asyncio.sleep(0.35)
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
    sender = ChatOutbox(archive, {}, SenderSettings("orders@shop.example", (ANNA,), frozenset()))
    await sender.flush()
    assert rows(archive)[0][2] == "failed"
    assert "no longer configured" in rows(archive)[1][3]


async def test_a_configured_bot_that_is_not_running_is_retried(archive, channel):
    queue_reply(archive, "Так")
    await ChatOutbox(archive, {}, SETTINGS, backoff=lambda tries: 60).flush()
    assert rows(archive) == [("channel", "message", "pending", None, 0, 1)]


async def test_sign_replies_adds_the_managers_name(archive, channel):
    queue_reply(archive, "Готово", raw={"from_name": "Анна"})
    signed = SenderSettings("orders@shop.example", (ANNA,), frozenset({"shop"}), True)
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
