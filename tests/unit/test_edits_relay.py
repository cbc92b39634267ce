"""Edits and reactions through the relay's intake (intake.py, changes.py) and the emails
they make (mailer.py, mail/changes.py): an edit mails the text before and after in the
conversation's thread; an edit of a message never archived, or before its original, is
handled without losing a word; a reaction to a reply is told its author only, at most
once a minute, however many come. Time is a clock the tests move; the mail outbox is
played by hand."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from im2mail.archive import blocks, edits, reactions
from im2mail.archive.db import now
from im2mail.mail.builder import MailSettings
from im2mail.model import EDITED, MESSAGE, REACTED, Customer, Incoming, OutboxItem
from im2mail.relay.intake import Intake, IntakeSettings
from im2mail.relay.mailer import LinkSettings, Mailer
from tests.support.archive_sql import reading, writing
from tests.support.chats import say
from tests.support.clock import Clock
from tests.support.scripted import ScriptedChannel
from tests.unit.test_compose import html, plain, wire

MAILBOX = "orders@shop.example"
ANNA, PETRO = MANAGERS = ("anna@shop.example", "petro@shop.example")
OLENA = Customer("telegram", "111", "Олена", "Коваль")
T0 = now().replace(microsecond=0) + timedelta(days=1)  # after the real time: all is due


class Shop:
    """An Intake on an archive, its clock, its channel and what it woke."""

    def __init__(self, archive, *, notices: bool = True, flood: int = 0) -> None:
        self.archive = archive
        self.clock = Clock(T0)
        self.channel = ScriptedChannel()
        self.woken = 0
        self.update = 0
        settings = IntakeSettings(MailSettings(MAILBOX, MANAGERS), "Вітаємо!",
                                  flood_per_minute=flood, reaction_notices=notices)  # fmt: skip
        self.intake = Intake(archive, {"shop": self.channel}, settings,  # type: ignore[dict-item]
                             self.wake, clock=self.clock)  # fmt: skip

    def wake(self) -> None:
        self.woken += 1

    async def take(self, **fields) -> int:
        self.update += 1
        fields.setdefault("created", self.clock.now)
        key = f"telegram:shop:update:{self.update}"
        item = Incoming(bot="shop", customer=OLENA, dedupe_key=key, chat_id="111", **fields)
        self.channel.next = [item]
        return (await self.intake.take("shop", {"update_id": self.update})).stored

    async def writes(self, text: str, mid: str, **fields) -> int:
        return await self.take(text=text, channel_message_id=mid, **fields)

    async def edits(self, text: str, mid: str, seconds: float = 60, **fields) -> int:
        when = self.clock.now + timedelta(seconds=seconds)
        return await self.take(text=text, channel_message_id=mid, edited=True, created=when,
                               **fields)  # fmt: skip

    async def reacts(self, mid: str, *emoji: str) -> int:
        return await self.take(channel_message_id=mid, kind="event", event="reaction",
                               reactions=emoji)  # fmt: skip

    def mail(self, kind: str | None = None) -> list[OutboxItem]:
        due = self.archive.deliveries.due_deliveries("mail", T0 + timedelta(days=1), 10_000)
        return [item for item in due if kind is None or item.kind == kind]


def mailer(archive, clock=lambda: T0) -> Mailer:
    links = LinkSettings("https://bot.shop.example", "k" * 32)
    return Mailer(archive, MailSettings(MAILBOX, MANAGERS), links, clock=clock)


def reply(archive, shop: Shop, text: str, mid: str, author: str = ANNA):
    """A manager's reply in Olena's conversation, sent as chat message `mid`."""
    conversation = archive.conversation_for(archive.customer("telegram", "111"), "shop")
    sent = say(archive, conversation, text, direction="out", author=author)
    with writing(archive) as db:
        db.execute(
            "UPDATE messages SET channel_message_id = ?, email_message_id = ? WHERE id = ?",
            (mid, f"<reply-{mid}@mail.example>", sent.id),
        )
    return sent


# -- edits -------------------------------------------------------------------------------------


async def test_an_edit_mails_the_text_before_and_after_in_the_thread(archive):
    shop = Shop(archive)
    await shop.writes("Потрібно 200 візиток, матові", "41")
    (first,) = shop.mail(MESSAGE)
    woken = shop.woken
    assert await shop.edits("Потрібно 300 візиток, матові", "41") == 1
    assert shop.woken > woken and shop.channel.sent == ["Вітаємо!"]  # no greeting again
    (item,) = shop.mail(EDITED)
    assert item.message_id == first.message_id
    email = wire(mailer(archive).build(item))
    text = plain(email)
    assert "Олена Коваль edited a message in Telegram" in text
    assert text.index("Before:\n> Потрібно 200 візиток") < text.index(
        "Now:\n> Потрібно 300 візиток")  # fmt: skip
    assert "Потрібно 300 візиток" in html(email) and "Потрібно 200 візиток" in html(email)
    assert email["In-Reply-To"] == first.email_message_id  # an answer to the original's email
    assert email["From"].addresses[0].display_name == "Олена Коваль via Telegram"
    assert sorted(a.addr_spec for a in email["To"].addresses) == sorted(MANAGERS)
    assert email["Subject"].startswith("[Telegram] Олена Коваль #")
    assert email["Auto-Submitted"] is None  # the customer's words: Reply answers them
    # The archive: the latest text, marked edited, the first kept.
    message = archive.message(first.message_id)
    assert (message.text, message.edited) == ("Потрібно 300 візиток, матові", True)
    assert [v.text for v in edits.versions(archive, message.id)] == ["Потрібно 200 візиток, матові"]


async def test_each_edit_mails_its_own_before_and_after_even_when_built_later(archive):
    shop = Shop(archive)
    await shop.writes("v1", "7")
    await shop.edits("v2", "7", 10)
    await shop.edits("v3", "7", 20)
    first, second = shop.mail(EDITED)  # both built after the second edit
    texts = [plain(wire(mailer(archive).build(item))) for item in (first, second)]
    assert "Before:\n> v1" in texts[0] and "Now:\n> v2" in texts[0]
    assert "Before:\n> v2" in texts[1] and "Now:\n> v3" in texts[1]


async def test_an_edit_of_a_message_never_archived_is_archived_as_a_new_edited_message(archive):
    shop = Shop(archive)
    await shop.writes("Добрий день", "1")
    assert await shop.edits("Виправила: потрібні листівки А6", "99") == 1
    (entry,) = [e for e in archive.recent(5) if e.text.startswith("Виправила")]
    assert entry.edited
    (item,) = [i for i in shop.mail(MESSAGE) if archive.message(i.message_id).edited]
    text = plain(wire(mailer(archive).build(item)))
    assert "(edited) Виправила: потрібні листівки А6" in text  # the managers never saw it
    assert shop.mail(EDITED) == []


async def test_an_edit_before_its_original_keeps_both_and_mails_once(archive):
    shop = Shop(archive)
    await shop.writes("Привіт", "1")
    sent_before = list(shop.channel.sent)
    await shop.edits("Банер 3×1 м, не 2×1", "5", 30)  # the original's update is late
    assert await shop.writes("Банер 2×1 м", "5") == 1  # ... and comes now
    assert shop.channel.sent == sent_before  # no greeting, no auto-reply for it
    (entry,) = [e for e in archive.recent(5) if e.edited]
    assert entry.text == "Банер 3×1 м, не 2×1"  # the newest text stays
    assert [v.text for v in edits.versions(archive, entry.message_id)] == ["Банер 2×1 м"]
    assert len(archive.recent(10)) == 3  # hello, the greeting, the banner: one message
    mailed = [archive.message(i.message_id).text for i in shop.mail()]
    assert mailed.count("Банер 3×1 м, не 2×1") == 1 and shop.mail(EDITED) == []


async def test_an_edit_changing_nothing_or_repeated_mails_nothing(archive):
    shop = Shop(archive)
    await shop.writes("Макет у PDF", "3")
    assert await shop.edits("Макет у PDF", "3") == 0
    assert shop.mail(EDITED) == []


async def test_a_blocked_customer_s_edit_is_kept_and_mailed_to_nobody(archive):
    shop = Shop(archive)
    await shop.writes("Купіть рекламу", "3")
    customer = archive.customer("telegram", "111")
    blocks.set_blocked(archive, customer.id, True, by=ANNA, at=T0)
    await shop.edits("Купіть рекламу дешево", "3")
    assert shop.mail(EDITED) == []
    assert archive.recent(5)[0].text == "Купіть рекламу дешево"  # then the greeting


# -- reactions ---------------------------------------------------------------------------------


async def test_a_reaction_to_a_reply_is_told_its_author_only_in_the_thread(archive):
    shop = Shop(archive)
    await shop.writes("Коли буде готово?", "1")
    answer = reply(archive, shop, "Завтра о 10:00", "2")
    await shop.reacts("2", "👍")
    (item,) = shop.mail(REACTED)
    assert item.message_id == answer.id
    assert item.next_try == T0 + timedelta(minutes=1)  # the batch's minute
    email = wire(mailer(archive, lambda: T0 + timedelta(minutes=1)).build(item))
    assert [a.addr_spec for a in email["To"].addresses] == [ANNA]
    assert email["In-Reply-To"] == "<reply-2@mail.example>"
    assert email["Auto-Submitted"] == "auto-generated"
    text = plain(email)
    assert "Олена Коваль reacted 👍 to your reply in Telegram." in text
    assert "> Завтра о 10:00" in text and "alerts.reactions = false" in text
    (shown,) = reactions.with_reactions(archive, [archive.message(answer.id)])
    assert [(r.emoji, r.direction) for r in shown.reactions] == [("👍", "in")]


async def test_taking_a_reaction_back_updates_the_archive(archive):
    shop = Shop(archive)
    await shop.writes("?", "1")
    answer = reply(archive, shop, "Так", "2")
    await shop.reacts("2", "👍", "🔥")
    shop.clock.advance(5)
    await shop.reacts("2")
    assert reactions.with_reactions(archive, [archive.message(answer.id)])[0].reactions == ()
    (item,) = shop.mail(REACTED)
    text = plain(wire(mailer(archive).build(item)))
    assert "took back 👍 🔥 from your reply" in text


async def test_a_reaction_to_an_unknown_message_is_logged_and_dropped(archive, caplog):
    shop = Shop(archive)
    await shop.writes("?", "1")
    with caplog.at_level(logging.INFO, logger="im2mail.inbound"):
        await shop.reacts("777", "👍")
    assert shop.mail(REACTED) == [] and "doesn't know: dropped" in caplog.text
    with reading(archive) as db:
        assert db.execute("SELECT count(*) FROM reactions").fetchone()[0] == 0


async def test_alerts_reactions_false_keeps_the_reaction_and_mails_nothing(archive):
    shop = Shop(archive, notices=False)
    await shop.writes("?", "1")
    answer = reply(archive, shop, "Так", "2")
    await shop.reacts("2", "❤")
    assert shop.mail(REACTED) == []
    assert [r.emoji for r in reactions.with_reactions(
        archive, [archive.message(answer.id)])[0].reactions] == ["❤"]  # fmt: skip


async def test_1000_reactions_toggled_in_a_minute_make_one_notice_and_stay_fast(archive):
    shop = Shop(archive)
    await shop.writes("?", "1")
    reply(archive, shop, "Готово", "2")
    reply(archive, shop, "І рахунок", "3")
    reply(archive, shop, "Від Петра", "4", author=PETRO)
    started = time.perf_counter()
    for n in range(1000):
        shop.clock.now = T0 + timedelta(seconds=n * 0.059)  # 59 seconds in all
        await shop.reacts(str(2 + n % 3), *(("👍",) if n % 2 == 0 else ()))
    took = time.perf_counter() - started
    notices = shop.mail(REACTED)
    authors = sorted(item.note.split()[0] for item in notices)
    assert authors == [ANNA, PETRO]  # one each, however many reactions
    anna = next(i for i in notices if i.note.startswith(ANNA))
    text = plain(wire(mailer(archive).build(anna)))
    assert "reacted to your replies in Telegram" in text and "> І рахунок" in text
    assert took < 15, f"{took:.1f} s"  # ~3 s on a slow machine; the test's own overhead
    # A minute later a new batch may begin: one more notice, not one per reaction.
    shop.clock.now = T0 + timedelta(seconds=61)
    await shop.reacts("2", "🔥")
    await shop.reacts("2", "🔥", "👍")
    assert len(shop.mail(REACTED)) == 3


def test_only_a_test_s_positive_seconds_shorten_the_relays_batch_of_reactions(monkeypatch):
    """relay/loop.py's REACTION_BATCH_ENV (for the end-to-end tests): a positive number of
    seconds under a minute is the batch; unset, garbled, zero, negative or longer: a minute."""
    from im2mail.relay.loop import REACTION_BATCH_ENV, _reaction_batch

    monkeypatch.delenv(REACTION_BATCH_ENV, raising=False)
    assert _reaction_batch() == reactions.BATCH == timedelta(minutes=1)
    monkeypatch.setenv(REACTION_BATCH_ENV, "2.5")
    assert _reaction_batch() == timedelta(seconds=2.5)
    for bad in ("", "soon", "0", "-3", "nan", "inf", "3600"):
        monkeypatch.setenv(REACTION_BATCH_ENV, bad)
        assert _reaction_batch() == timedelta(minutes=1), bad
