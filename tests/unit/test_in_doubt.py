"""A reply step that may or may not have reached the messenger: a timeout after the request
left (the channels say `maybe_sent`), and what the chat outbox does with it under
relay.in_doubt. A crash in the middle of a send is in test_sender.py."""

from __future__ import annotations

import httpx
import pytest
import requests
from telegram import error as tg_error

from im2mail.channels import RetryLater
from im2mail.channels.telegram.channel import Telegram
from im2mail.channels.viber.channel import _Requests
from im2mail.model import IN_DOUBT, TEAM
from im2mail.relay.chat_outbox import ChatOutbox
from tests.support.clock import Clock
from tests.support.scripted import ScriptedSender
from tests.unit.test_sender import NOTIFY, SETTINGS, queue_reply, rows


def timed_out(cause: Exception) -> tg_error.TimedOut:
    try:
        raise tg_error.TimedOut() from cause
    except tg_error.TimedOut as e:
        return e


@pytest.mark.parametrize(
    "error, maybe_sent",
    [
        (timed_out(httpx.ReadTimeout("read")), True),  # asked, no answer: it may have gone
        (timed_out(httpx.WriteTimeout("write")), True),
        (timed_out(httpx.ConnectTimeout("connect")), False),  # never reached Telegram
        (timed_out(httpx.PoolTimeout("pool")), False),
        (tg_error.NetworkError("Bad Gateway"), False),
    ],
)
def test_telegram_says_which_timeouts_may_have_sent(error, maybe_sent):
    channel = Telegram("shop", "123:ABC", "http://127.0.0.1:9")  # nothing listens
    translated = channel._translate(error, "555")
    assert isinstance(translated, RetryLater)
    assert translated.maybe_sent is maybe_sent


@pytest.mark.parametrize(
    "error, maybe_sent",
    [(requests.ReadTimeout("read"), True), (requests.ConnectTimeout("connect"), False)],
)
def test_viber_says_which_timeouts_may_have_sent(monkeypatch, error, maybe_sent):
    sender = _Requests("vshop", "secret-token", "http://127.0.0.1:9/pa", timeout=1)

    def post(*args, **kwargs):
        raise error

    monkeypatch.setattr(sender.session, "post", post)
    with pytest.raises(RetryLater) as caught:
        sender.post_request("send_message", '{"auth_token": "secret-token"}')
    assert caught.value.maybe_sent is maybe_sent


async def timeout_then_again(archive, settings) -> list[str]:
    """A two-piece reply whose second piece times out after reaching the platform; the
    next try comes at once. Returns the pieces the customer got."""
    channel = ScriptedSender()
    queue_reply(archive, "a" * 10 + "b" * 5)

    class Arrived(ScriptedSender):
        async def send_step(self, chat_id, step):
            channel.sent.append((chat_id, step))
            if len(channel.sent) == 2:
                raise RetryLater("Timed out", reason="Timed out", seconds=0.05, maybe_sent=True)
            return ["1"]

    clock = Clock()
    sender = ChatOutbox(archive, {"shop": Arrived()}, settings, pace=0, clock=clock)
    await sender.flush()
    clock.advance(0.1)
    await sender.flush()
    return [step.text for _, step in channel.sent]


async def test_a_timeout_that_may_have_sent_is_retried_by_default(archive):
    assert await timeout_then_again(archive, SETTINGS) == ["a" * 10, "b" * 5, "b" * 5]
    assert [r[1:3] for r in rows(archive)] == [("message", "sent"), (TEAM, "pending")]


async def test_with_notify_a_timeout_that_may_have_sent_is_not_repeated(archive):
    assert await timeout_then_again(archive, NOTIFY) == ["a" * 10, "b" * 5]
    assert rows(archive)[0][2] == "sent"
    assert rows(archive)[-1][1:4] == (IN_DOUBT, "pending", "part 2 of 2 of your reply")


async def test_with_notify_a_timeout_before_sending_is_simply_retried(archive):
    channel = ScriptedSender()
    channel.errors = [RetryLater("connect timeout", seconds=0.05, maybe_sent=False)]
    queue_reply(archive, "Так")
    clock = Clock()
    sender = ChatOutbox(archive, {"shop": channel}, NOTIFY, pace=0, clock=clock)
    await sender.flush()
    clock.advance(0.1)
    await sender.flush()
    assert [step.text for _, step in channel.sent] == ["Так"]
    assert IN_DOUBT not in [r[1] for r in rows(archive)]
