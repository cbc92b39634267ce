"""A manager's reply of only one emoji goes as a reaction to the customer's last message
where the channel can react (relay/reacting.py, the chat outbox), else as text: also when
the platform refuses that emoji, or there is no message of the customer's to react to."""

from __future__ import annotations

import pytest

from im2mail.archive import reactions
from im2mail.archive.db import now
from im2mail.channels import Blocked, Rejected
from im2mail.model import TEAM, Message
from im2mail.relay.reacting import single_emoji
from tests.support.chats import customer
from tests.support.scripted import ScriptedSender
from tests.unit.test_sender import ANNA, PETRO, outbox_for, queue_reply, rows


class Reacting(ScriptedSender):
    """A channel that can react: what it set is kept in `reacted`; `refuse` raises."""

    def __init__(self) -> None:
        super().__init__()
        self.reacted: list[tuple[str, str, str]] = []
        self.refuse: Exception | None = None

    async def react(self, chat_id: str, message_id: str, emoji: str) -> None:
        if self.refuse is not None:
            raise self.refuse
        self.reacted.append((chat_id, message_id, emoji))


def customer_wrote(archive, text: str, mid: str | None) -> Message:
    conversation = customer(archive, external_id="555")
    stored = archive.add_message(
        Message(conversation.id, "in", "Олена", text, now(), channel_message_id=mid)
    )
    assert stored is not None
    return stored


@pytest.mark.parametrize(
    "text, emoji",
    [("👍", "👍"), (" ❤️ \n", "❤️"), ("👍🏽", "👍🏽"), ("👨‍💻", "👨‍💻"), ("🇺🇦", "🇺🇦"),
     ("1️⃣", "1️⃣"), ("👍👍", None), ("👍 дякую", None), ("ok", None), ("", None),
     ("→", None), ("₴", None), ("5", None)],
)  # fmt: skip
def test_one_emoji_is_told_from_everything_else(text, emoji):
    assert single_emoji(text) == emoji


async def test_a_one_emoji_reply_is_set_as_a_reaction_on_the_customers_last_message(archive):
    customer_wrote(archive, "Можна забрати о 17:00?", "40")
    asked = customer_wrote(archive, "Чи вже готово?", "41")
    reply_id = queue_reply(archive, "👍")
    channel = Reacting()
    assert await outbox_for(archive, channel).flush() == 1
    assert channel.reacted == [("555", "41", "👍")] and channel.sent == []  # no text message
    assert rows(archive) == [("channel", "message", "sent", None, 0, 1),
                             ("mail", TEAM, "pending", PETRO, 0, 0)]  # fmt: skip
    reply = archive.message(reply_id)
    assert reply.kind == "reaction" and reply.sent is not None
    (shown,) = reactions.with_reactions(archive, [archive.message(asked.id)])
    assert [(r.emoji, r.direction, r.author) for r in shown.reactions] == [("👍", "out", ANNA)]


async def test_an_emoji_the_platform_refuses_goes_as_text(archive):
    customer_wrote(archive, "Дякую!", "41")
    queue_reply(archive, "🦖")
    channel = Reacting()
    channel.refuse = Rejected("REACTION_INVALID", reason="Bad Request: REACTION_INVALID")
    await outbox_for(archive, channel).flush()
    assert [step.text for _, step in channel.sent] == ["🦖"]
    assert rows(archive)[0][2] == "sent"


async def test_without_a_message_to_react_to_or_a_channel_that_reacts_it_goes_as_text(archive):
    customer_wrote(archive, "(from the archive's import: no id)", None)
    queue_reply(archive, "👍")
    reacting = Reacting()
    await outbox_for(archive, reacting).flush()
    assert reacting.reacted == [] and [s.text for _, s in reacting.sent] == ["👍"]
    customer_wrote(archive, "Ще питання", "42")
    queue_reply(archive, "🙏")
    plain = ScriptedSender()  # a channel without react (Viber)
    await outbox_for(archive, plain).flush()
    assert [s.text for _, s in plain.sent] == ["🙏"]


async def test_a_customer_who_blocked_the_bot_fails_the_reaction_like_any_reply(archive):
    customer_wrote(archive, "?", "41")
    queue_reply(archive, "👍")
    channel = Reacting()
    channel.refuse = Blocked("Forbidden: bot was blocked by the user")
    await outbox_for(archive, channel).flush()
    assert rows(archive)[0][2] == "failed" and rows(archive)[1][1] == "undelivered"
