"""`im2mail run` with what customers change after the fact, through the Telegram double:

- an edited message: the managers get an email in the thread with the text before and
  after; the archive keeps both, `tail` shows the new one marked edited;
- a reaction to a manager's reply: that manager, and only they, gets one short notice
  once the minute of reactions is over, however many came in it; a reaction to the second
  message of a long reply is the reply's too;
- a manager's reply of only one emoji: set as a reaction (setMessageReaction) on the
  customer's last message, not sent as a message; an emoji Telegram does not take as a
  reaction goes as text.

The reaction test runs the relay (a subprocess, with the real clock) with a batch of
BATCH seconds instead of a minute (relay/loop.py's REACTION_BATCH_ENV, for tests only), so
it waits that out rather than a minute: the same code counts the batch, only its length
is given. The rule with the minute itself is tested with a clock in
tests/unit/test_edits_relay.py.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from im2mail.archive import Archive, edits, reactions
from im2mail.home import paths
from im2mail.relay.loop import REACTION_BATCH_ENV
from tests.conftest import run_cli
from tests.e2e.relay_rig import MANAGERS
from tests.e2e.test_telegram_channel import ukrainian_text
from tests.support.mailbox import reply_to
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

ANNA, PETRO = MANAGERS
BATCH = 10  # seconds: the relay's batch of reactions in the reaction test


def text_of(received) -> str:
    return received.message.get_body(("plain",)).get_content().replace("\r\n", "\n")


async def test_an_edit_mails_the_text_before_and_after_in_the_thread(
    running_relay, telegram_api, smtp_server
):
    token = telegram_api.add_bot("shop_bot", "Shop")
    await running_relay(token=token, greeting=None)
    olena = telegram_api.customer("Олена", "Коваль")
    original = await telegram_api.push_text(token, olena, "Потрібно 200 візиток, матові")
    (first,) = await smtp_server.wait_for(1)
    await telegram_api.push_edit(token, original, "Потрібно 300 візиток, глянцеві")
    second = (await smtp_server.wait_for(2))[1]
    text = text_of(second)
    assert "Олена Коваль edited a message in Telegram" in text
    assert "Before:\n> Потрібно 200 візиток, матові" in text
    assert "Now:\n> Потрібно 300 візиток, глянцеві" in text
    assert second.message["In-Reply-To"] == first.message["Message-ID"]
    assert second.message["Subject"] == first.message["Subject"]
    assert sorted(second.rcpt_tos) == sorted(MANAGERS)
    await asyncio.sleep(1)
    assert len(smtp_server.messages) == 2  # the edit is one email, not a message again
    tail = run_cli("tail", "--versions").out
    assert "Потрібно 300 візиток, глянцеві  (edited)" in tail
    assert "Потрібно 200 візиток, матові" in tail  # as the earlier version
    with Archive.open(paths().archive) as archive:
        (entry,) = archive.recent(5)
        assert [v.text for v in edits.versions(archive, entry.message_id)] == [
            "Потрібно 200 візиток, матові"
        ]


async def test_reactions_and_one_emoji_replies(
    running_relay, telegram_api, smtp_server, imap_server, mailbox, monkeypatch
):
    monkeypatch.setenv(REACTION_BATCH_ENV, str(BATCH))
    token = telegram_api.add_bot("shop_bot", "Shop")
    await running_relay(token=token, imap=imap_server, greeting=None)
    tg = telegram_api
    olena = tg.customer("Олена", "Коваль")
    await tg.push_text(token, olena, "Коли буде готове замовлення?")
    (email,) = await smtp_server.wait_for(1)
    mailbox.put(reply := reply_to(email.message, "Завтра о 10:00, приходьте."))
    (answer,) = await tg.wait_for_sent(olena.id, 1, timeout=15)
    await smtp_server.wait_for(2)  # Petro is told Anna answered
    # A thank-you, answered with a thumbs-up: a reaction on her message, no message.
    thanks = await tg.push_text(token, olena, "Дякую!")
    await smtp_server.wait_for(3)
    mailbox.put(reply_to(smtp_server.messages[2].message, "👍"))
    await tg.wait_until(lambda: tg.calls("setMessageReaction"), timeout=15)
    (call,) = tg.calls("setMessageReaction")
    assert call.status == 200
    assert (call.params["chat_id"], call.params["message_id"]) == (
        olena.id,
        thanks["message"]["message_id"],
    )
    assert call.params["reaction"] == [{"type": "emoji", "emoji": "👍"}]
    assert tg.reactions_set(olena.id) == {thanks["message"]["message_id"]: ["👍"]}
    assert len(tg.sent_messages(olena.id)) == 1  # only the first answer went as a message
    # An emoji Telegram does not take as a reaction goes as a message.
    await tg.push_text(token, olena, "А доставка є?")
    await smtp_server.wait_for(5)  # Petro's notice of the 👍, and this question
    question = next(m for m in smtp_server.messages if "доставка" in text_of(m))
    mailbox.put(reply_to(question.message, "🦖"))
    sent = await tg.wait_for_sent(olena.id, 2, timeout=15)
    assert sent[-1].text == "🦖"
    # Olena reacts to the first answer, changes her mind, and reacts again: one notice, to
    # Anna only, once the batch is over (it began when the relay took the first reaction).
    before = len(smtp_server.messages)
    started = time.monotonic()
    await tg.push_reaction(token, olena, answer.message_id, "👍")
    await tg.push_reaction(token, olena, answer.message_id, "👍", "🔥")
    await tg.push_reaction(token, olena, answer.message_id, "🔥")

    def notices() -> list:
        return [m for m in smtp_server.messages if "your reply in Telegram" in text_of(m)]

    await asyncio.sleep(max(0.0, started + BATCH - 1 - time.monotonic()))
    assert notices() == []  # not before the batch is over
    (notice,) = await wait_until(notices, timeout=16)
    assert list(notice.rcpt_tos) == [ANNA]
    assert notice.message["In-Reply-To"] == reply["Message-ID"]
    assert notice.message["Auto-Submitted"] == "auto-generated"
    body = text_of(notice)
    assert "Олена Коваль reacted 🔥 to and took back 👍 from your reply" in body
    assert "> Завтра о 10:00, приходьте." in body
    await asyncio.sleep(1)
    assert len([m for m in smtp_server.messages if "your reply" in text_of(m)]) == 1
    assert len(smtp_server.messages) >= before
    tail = run_cli("tail").out
    assert "Завтра о 10:00, приходьте." in tail and "🔥" in tail
    assert "(as a reaction)" in tail


async def test_a_reaction_to_the_second_message_of_a_long_reply_reaches_its_author(
    running_relay, telegram_api, smtp_server, imap_server, mailbox, monkeypatch
):
    """A reply over Telegram's 4096 characters goes as two messages; Olena reacts to the
    second: the reaction is archived on the reply and Anna is told."""
    monkeypatch.setenv(REACTION_BATCH_ENV, "2")
    token = telegram_api.add_bot("shop_bot", "Shop")
    await running_relay(token=token, imap=imap_server, greeting=None)
    tg = telegram_api
    olena = tg.customer("Олена", "Коваль")
    await tg.push_text(token, olena, "Розкажіть усе про ламінування")
    (email,) = await smtp_server.wait_for(1)
    long = ukrainian_text(6000)
    mailbox.put(reply := reply_to(email.message, long))
    first, second = await tg.wait_for_sent(olena.id, 2, timeout=15)
    await smtp_server.wait_for(2)  # Petro is told Anna answered
    await tg.push_reaction(token, olena, second.message_id, "🙏")

    def notices() -> list:
        return [m for m in smtp_server.messages if "your reply in Telegram" in text_of(m)]

    (notice,) = await wait_until(notices, timeout=15)
    assert list(notice.rcpt_tos) == [ANNA]
    assert notice.message["In-Reply-To"] == reply["Message-ID"]
    assert "Олена Коваль reacted 🙏 to your reply" in text_of(notice)
    with Archive.open(paths().archive) as archive:
        (answer,) = [e for e in archive.recent(5) if e.direction == "out"]
        message = archive.message(answer.message_id)
        assert message.channel_message_id == str(first.message_id)
        (shown,) = reactions.with_reactions(archive, [message])
    assert [r.emoji for r in shown.reactions] == ["🙏"]
