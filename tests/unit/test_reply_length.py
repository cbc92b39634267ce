"""relay.max_reply_messages: a reply that would become more chat messages than that is not
sent, and its author is told (sender.ChatOutbox). Counted with each real channel's own
plan, so the text limits, captions and albums of all four messengers are what counts."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from im2mail.archive import Archive
from im2mail.archive.db import now
from im2mail.channels import OutgoingFile, Step, open_channel
from im2mail.channels.graph import encode
from im2mail.config import ConfigError
from im2mail.mail.builder import MailSettings
from im2mail.model import NOT_SENT, TEAM, Message, NewAttachment, OutboxItem
from im2mail.relay.chat_outbox import ChatOutbox, SenderSettings
from tests.conftest import VALID_CONFIG
from tests.support.archive_sql import reading
from tests.support.chats import customer

ANNA, PETRO = "anna@shop.example", "petro@shop.example"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
OPTIONS = {"whatsapp": {"phone_number_id": "1234567890"}}
META = encode("EAAG-test-token", "app-secret")
SECRETS = {"messenger": META, "whatsapp": META}


class RealPlan:
    """A real channel's plan; the steps it would send are recorded, none goes anywhere."""

    def __init__(self, name: str) -> None:
        token = SECRETS.get(name, "123:secret-token")
        self.real = open_channel(name, "shop", token, "http://127.0.0.1:9",
                                 **OPTIONS.get(name, {}))  # fmt: skip
        self.text_limit = self.real.text_limit
        self.sent: list[Step] = []

    def plan(self, text: str, files: Sequence[OutgoingFile] = ()) -> list[Step]:
        return self.real.plan(text, files)

    async def send_step(self, chat_id: str, step: Step) -> list[str]:
        self.sent.append(step)
        return [str(len(self.sent))]


def sender(archive: Archive, channel: RealPlan, limit: int = 8, **settings) -> ChatOutbox:
    made = SenderSettings(MailSettings("orders@shop.example", (ANNA, PETRO)), frozenset({"shop"}),
                          max_messages=limit, **settings)  # fmt: skip
    return ChatOutbox(archive, {"shop": channel}, made, pace=0, backoff=lambda tries: 0)


def queue(archive: Archive, text: str, files: Sequence[OutgoingFile] = (), **item) -> int:
    conv = customer(archive, external_id="555")
    stored = archive.add_message(
        Message(conv.id, "out", ANNA, text, now(), email_message_id="<r@mail>"),
        [NewAttachment(n, m, d) for n, m, d in files],
        outbox=[OutboxItem("channel", **item)],
    )
    assert stored is not None and stored.id is not None
    return stored.id


def outbox(archive: Archive) -> list[tuple[str, str, str, str | None]]:
    with reading(archive) as db:
        found = db.execute("SELECT target, kind, state, note FROM outbox ORDER BY id").fetchall()
    return [tuple(r) for r in found]


def pieces(limit: int, count: int) -> str:
    """Text that the channel splits into exactly `count` messages, one paragraph each
    (two never fit in one)."""
    paragraph = ("Абзац " * limit)[: limit - 10].strip() + "."
    return "\n\n".join([paragraph] * count)


@pytest.mark.parametrize("name", ["telegram", "viber", "messenger", "whatsapp"])
async def test_a_reply_of_exactly_the_limit_goes(archive, name):
    channel = RealPlan(name)
    queue(archive, pieces(channel.text_limit, 8))
    assert await sender(archive, channel).flush() == 1
    assert len(channel.sent) == 8
    assert [row[:3] for row in outbox(archive)] == [("channel", "message", "sent"),
                                                    ("mail", TEAM, "pending")]  # fmt: skip


@pytest.mark.parametrize("name", ["telegram", "viber", "messenger", "whatsapp"])
async def test_one_message_more_sends_nothing_and_tells_the_author(archive, name):
    channel = RealPlan(name)
    queue(archive, pieces(channel.text_limit, 9))
    assert await sender(archive, channel).flush() == 0
    assert channel.sent == []  # not the first 8 either
    (delivery, notice) = outbox(archive)
    assert delivery[:3] == ("channel", "message", "failed")
    assert notice[:3] == ("mail", NOT_SENT, "pending")  # to the author only; no team notice
    assert "9 separate chat messages (9 of text)" in notice[3]
    assert "at most 8" in notice[3] and "relay.max_reply_messages" in notice[3]
    assert "in a file" in notice[3]


async def test_files_count_as_the_channel_sends_them(archive):
    """Telegram sends ten pictures as one album; Viber, Messenger and WhatsApp one
    message a picture (the text riding on the first where the channel allows)."""
    photos = [(f"{i}.jpg", "image/jpeg", JPEG + bytes([i])) for i in range(10)]
    telegram = RealPlan("telegram")
    queue(archive, "Макети", photos)
    assert await sender(archive, telegram, limit=1).flush() == 1
    assert len(telegram.sent) == 1 and len(telegram.sent[0].files) == 10

    viber = RealPlan("viber")
    queue(archive, "Макети", photos[:9])
    assert await sender(archive, viber, limit=8).flush() == 0
    assert viber.sent == []
    note = outbox(archive)[-1][3]
    assert "9 separate chat messages (9 with files)" in note
    assert "several replies" in note and "in a file" not in note


async def test_text_and_files_together(archive):
    messenger = RealPlan("messenger")  # a Messenger message is text or one file, never both
    queue(archive, "Ось два файли", [("a.pdf", "application/pdf", b"%PDF"),
                                     ("b.pdf", "application/pdf", b"%PDF")])  # fmt: skip
    assert await sender(archive, messenger, limit=2).flush() == 0
    assert "3 separate chat messages (1 of text and 2 with files)" in outbox(archive)[-1][3]


async def test_the_signature_counts_too(archive):
    """relay.sign_replies adds the manager's name: the count is of what would be sent."""
    channel = RealPlan("telegram")
    queue(archive, "x" * channel.text_limit)  # one full message; the signature makes two
    assert await sender(archive, channel, limit=1, sign_replies=True).flush() == 0
    assert channel.sent == []


async def test_a_delivery_already_under_way_is_finished_whatever_the_limit(archive):
    """A reply half sent before a restart (the limit lowered meanwhile) is completed: the
    customer would otherwise have half of it."""
    channel = RealPlan("telegram")
    queue(archive, pieces(channel.text_limit, 4), progress=2)
    assert await sender(archive, channel, limit=2).flush() == 1
    assert len(channel.sent) == 2  # the two not sent yet


def test_config_default_and_validation(tmp_path):
    from tests.unit.test_config import load_text

    assert load_text(tmp_path, VALID_CONFIG).relay.max_reply_messages == 8
    three = VALID_CONFIG.replace("[relay]\n", "[relay]\nmax_reply_messages = 3\n", 1)
    assert load_text(tmp_path, three).relay.max_reply_messages == 3
    for bad in ("0", "-1", "1001", '"8"', "true", "2.5"):
        text = VALID_CONFIG.replace("[relay]\n", f"[relay]\nmax_reply_messages = {bad}\n", 1)
        with pytest.raises(ConfigError, match=r"relay\.max_reply_messages: expected"):
            load_text(tmp_path, text)
