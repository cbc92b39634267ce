"""Emails built ahead of their turn (mail/outbox_builds.py), with a stand-in build."""

from __future__ import annotations

import asyncio

import pytest

from im2mail.mail.outbox_builds import Builds
from im2mail.mail.smtp import Envelope
from im2mail.model import OutboxItem


def item(n: int) -> OutboxItem:
    return OutboxItem("mail", f"<{n}@shop.example>", id=n, conversation_id=n)


class Maker:
    def __init__(self, fail: int | None = None, slow: bool = False) -> None:
        self.made: list[int] = []
        self.fail, self.slow = fail, slow

    async def __call__(self, it: OutboxItem) -> Envelope:
        assert it.id is not None
        self.made.append(it.id)
        if self.slow:
            await asyncio.sleep(3600)
        if it.id == self.fail:
            raise ValueError("no such message")
        return Envelope("shop@x", ["anna@x"], "anna@x", b"", it.email_message_id or "")


async def test_at_most_ahead_are_built_early_each_once_and_taken_in_any_order() -> None:
    make = Maker()
    builds = Builds(make, ahead=2)
    builds.start([item(1), item(2), item(3)])
    builds.start([item(1), item(2), item(3)])  # asked again: nothing more
    await asyncio.sleep(0)
    assert make.made == [1, 2]
    assert (await builds.take(item(2))).message_id == "<2@shop.example>"
    builds.start([item(1), item(3)])  # room for one more
    await asyncio.sleep(0)
    assert (await builds.take(item(1))).message_id == "<1@shop.example>"
    assert (await builds.take(item(3))).message_id == "<3@shop.example>"
    assert (await builds.take(item(4))).message_id == "<4@shop.example>"  # not ahead: now
    assert make.made == [1, 2, 3, 4]


async def test_a_failed_build_raises_when_taken() -> None:
    builds = Builds(Maker(fail=1), ahead=3)
    builds.start([item(1)])
    await asyncio.sleep(0)
    with pytest.raises(ValueError, match="no such message"):
        await builds.take(item(1))


async def test_drop_forgets_what_was_not_taken_and_cancels_what_runs() -> None:
    make = Maker(slow=True)
    builds = Builds(make, ahead=3)
    builds.start([item(1), item(2)])
    await asyncio.sleep(0)
    await asyncio.wait_for(builds.drop(), 1)  # the running builds end at once
    builds.start([item(1)])  # built again when its turn comes
    await asyncio.sleep(0)
    assert make.made == [1, 2, 1]
    await builds.drop()
