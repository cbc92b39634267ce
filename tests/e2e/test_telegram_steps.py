"""Sending in steps: each step of a planned delivery is one Bot API call, and a delivery
resumed from step k sends only the rest (nothing twice after a 429 or a crash)."""

from __future__ import annotations

import pytest

from im2mail.channels import RetryLater, Step, send_steps
from im2mail.testing.telegram_api import JPEG
from tests.e2e.test_telegram_channel import ukrainian_text

pytestmark = pytest.mark.e2e

PDF = ("Рахунок №17.pdf", "application/pdf", b"%PDF-1.7 invoice")


def pictures(count: int) -> tuple[tuple[str, str, bytes], ...]:
    return tuple((f"{i}.jpg", "image/jpeg", JPEG + bytes([i])) for i in range(count))


@pytest.mark.parametrize(
    ("step", "method", "kinds"),
    [
        (Step("Доброго дня"), "sendMessage", ["text"]),
        (Step("Макет", pictures(1), "photo"), "sendPhoto", ["photo"]),
        (Step("Макети", pictures(3), "photo"), "sendMediaGroup", ["photo"] * 3),
        (Step("Рахунок", (PDF,), "document"), "sendDocument", ["document"]),
        (Step("", (PDF, PDF), "document"), "sendMediaGroup", ["document"] * 2),
    ],
    ids=["text", "photo", "album", "document", "documents"],
)
async def test_each_step_is_one_call_of_the_right_method(
    telegram_api, channel, olena, step, method, kinds
):
    ids = await channel.send_step(str(olena.id), step)
    sent = telegram_api.sent_messages(olena.id)
    assert ids == [str(s.message_id) for s in sent]
    assert [c.method for c in telegram_api.calls() if c.method != "getMe"] == [method]
    assert [s.kind for s in sent] == kinds
    assert sent[0].text == step.text and all(s.text == "" for s in sent[1:])
    assert [s.file.data for s in sent if s.file] == [data for _, _, data in step.files]


async def test_an_album_telegram_cannot_process_goes_whole_as_documents(
    telegram_api, channel, olena
):
    files = (*pictures(2), ("scan.jpg", "image/jpeg", b"not really a jpeg"))
    ids = await channel.send_step(str(olena.id), Step("Скани", files, "photo"))
    sent = telegram_api.sent_messages(olena.id)
    assert ids == [str(s.message_id) for s in sent]
    assert [s.kind for s in sent] == ["document"] * 3  # nothing went out as a photo first
    assert [c.status for c in telegram_api.calls("sendMediaGroup")] == [400, 200]


async def test_resuming_from_step_k_sends_only_the_rest(telegram_api, channel, olena):
    steps = channel.plan(ukrainian_text(10_000), [*pictures(2), PDF])
    assert [s.sort for s in steps] == ["text", "text", "text", "photo", "document"]
    await send_steps(channel, str(olena.id), steps[2:])
    sent = telegram_api.sent_messages(olena.id)
    assert [s.text for s in sent if s.kind == "text"] == [steps[2].text]
    assert len(telegram_api.calls("sendMessage")) == 1
    assert [s.kind for s in sent] == ["text", "photo", "photo", "document"]


async def test_a_delivery_stopped_by_flood_control_resumes_without_repeating(
    telegram_api, channel, olena
):
    """What the relay's delivery worker does: count the steps done, resume after a 429."""
    text = ukrainian_text(10_000)
    steps, done = channel.plan(text, [PDF]), 0
    telegram_api.fail("sendMessage", 429, retry_after=3, skip=2)
    with pytest.raises(RetryLater) as caught:
        for step in steps:
            await channel.send_step(str(olena.id), step)
            done += 1
    assert (done, caught.value.seconds) == (2, 3)
    for step in channel.plan(text, [PDF])[done:]:
        await channel.send_step(str(olena.id), step)
    sent = telegram_api.sent_messages(olena.id)
    assert [s.text for s in sent if s.kind == "text"] == [s.text for s in steps[:3]]
    assert [c.status for c in telegram_api.calls("sendMessage")] == [200, 200, 429, 200]
    assert [s.kind for s in sent] == ["text", "text", "text", "document"]
