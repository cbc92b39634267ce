"""The shop blocks a customer (blocking.py): `im2mail block ID` / `unblock ID`, a manager's
reply of only /block or /unblock, and what a block changes: no email, no automatic answer,
no reminder, shown by `conversations` and `status`; nothing dropped from the archive."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from im2mail.archive import Archive
from im2mail.errors import NotFound
from im2mail.home import paths
from im2mail.mail.builder import MailSettings
from im2mail.model import MESSAGE, Customer, OutboxItem
from im2mail.relay import blocking
from im2mail.relay.alerts import Alerts, AlertSettings
from im2mail.relay.blocking import BLOCK_NOTICE, UNBLOCK_NOTICE
from im2mail.relay.mailer import LinkSettings, Mailer
from im2mail.relay.reply_intake import ReplyIntake, ReplySettings
from tests.conftest import run_cli
from tests.support.archive_sql import reading, writing
from tests.support.chats import T0, customer, say
from tests.unit.test_alerts import writes
from tests.unit.test_compose import plain, wire
from tests.unit.test_flood import SPAMMER, Shop
from tests.unit.test_reply_intake import reply

MAILBOX = "orders@shop.example"
ANNA, PETRO = "anna@shop.example", "petro@shop.example"
MANAGERS = (ANNA, PETRO)


def outbox(archive: Archive) -> list[tuple[str, str, str | None]]:
    with reading(archive) as db:
        found = db.execute("SELECT target, kind, note FROM outbox ORDER BY id").fetchall()
    return [tuple(r) for r in found]


# -- in the archive ----------------------------------------------------------------------------


def test_a_block_is_on_the_customer_with_who_and_when(archive):
    shop_bot = customer(archive, "Спам", "Бот", external_id="666")
    other_bot = customer(archive, "Спам", "Бот", external_id="666", bot="other")
    found, changed = blocking.set_blocked(archive, shop_bot.id, True, by="anna", at=T0)
    assert changed and found.customer.blocked_by_shop == "anna"
    assert found.customer.blocked_by_shop_at == T0
    assert archive.conversation(other_bot.id).customer.blocked_by_shop == "anna"  # all of theirs
    assert found.customer.blocked is False  # not "they blocked the bot": another thing
    again, changed = blocking.set_blocked(archive, shop_bot.id, True, by="petro", at=T0)
    assert not changed and again.customer.blocked_by_shop == "anna"  # the first block stays
    back, changed = blocking.set_blocked(archive, other_bot.id, False, by="x", at=T0)
    assert changed and back.customer.blocked_by_shop is None
    assert back.customer.blocked_by_shop_at is None
    assert not blocking.set_blocked(archive, shop_bot.id, False, by="x", at=T0)[1]


def test_blocking_an_unknown_conversation_is_not_found(archive):
    with pytest.raises(NotFound):
        blocking.set_blocked(archive, 99, True, by="x", at=T0)


def test_the_bots_news_that_the_customer_blocked_it_is_kept_apart(archive):
    conversation = customer(archive, external_id="42")
    archive.set_customer_blocked(conversation.customer.id, True)
    assert archive.conversation(conversation.id).customer.blocked_by_shop is None
    blocking.set_blocked(archive, conversation.id, True, by="anna", at=T0)
    archive.set_customer_blocked(conversation.customer.id, False)  # they unblocked the bot
    assert archive.conversation(conversation.id).customer.blocked_by_shop == "anna"
    # and a platform update about the customer (a new name) keeps the shop's block
    archive.upsert_customer(Customer("telegram", "42", "Нове", "Ім'я"))
    assert archive.conversation(conversation.id).customer.blocked_by_shop == "anna"


# -- the intake --------------------------------------------------------------------------------


async def test_a_blocked_customer_is_archived_and_mailed_to_nobody(archive):
    shop = Shop(archive, limit=20, greeting="Вітаємо!")
    await shop.writes(SPAMMER, "перше")  # the greeting and an email
    conversation = archive.conversations()[0].id
    blocking.set_blocked(archive, conversation, True, by=ANNA, at=T0)
    before = len(outbox(archive))
    for i in range(30):
        assert await shop.writes(SPAMMER, f"спам {i}", files=("a.jpg",)) == 1
    assert len(outbox(archive)) == before  # no email, no digest
    assert shop.woken == 1
    texts = [e.text for e in archive.recent(100) if e.direction == "in"]
    assert texts == ["перше", *(f"спам {i}" for i in range(30))]  # every one kept
    assert archive.recent(1)[0].attachments == ("a.jpg",)
    assert shop.channel.sent == ["Вітаємо!"]  # no automatic answer to a blocked customer
    blocking.set_blocked(archive, conversation, False, by=ANNA, at=T0)
    await shop.writes(SPAMMER, "знову я")  # still 31 in a minute: a flood, in a digest
    assert outbox(archive)[-1] == ("mail", "flood", None)
    shop.clock.now += timedelta(minutes=2)
    await shop.writes(SPAMMER, "і знову")
    assert outbox(archive)[-1] == ("mail", MESSAGE, None)  # emails again, for new messages
    assert len(outbox(archive)) == before + 2


async def test_a_blocked_customer_gets_no_reminder(archive):
    settings = AlertSettings(MailSettings(MAILBOX, MANAGERS), timedelta(minutes=15))
    olena = customer(archive, "Олена")
    writes(archive, olena, "Добрий день", 0)  # emailed, then nobody answers
    blocking.set_blocked(archive, olena.id, True, by=ANNA, at=T0)
    assert Alerts(archive, settings).check(T0 + timedelta(minutes=20)) == 0
    blocking.set_blocked(archive, olena.id, False, by=ANNA, at=T0)
    assert Alerts(archive, settings).check(T0 + timedelta(minutes=21)) == 1


# -- the command line --------------------------------------------------------------------------


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_block_and_unblock_on_the_command_line(archive):
    petro = customer(archive, "Петро", "", channel="viber", bot="vb")
    say(archive, petro, "Купіть слона")
    blocked = run_cli("block", str(petro.id))
    assert blocked.code == 0, blocked.err
    assert blocked.out == ""
    assert f"blocked Петро (Viber, conversation #{petro.id})" in blocked.err
    assert f"im2mail unblock {petro.id}" in blocked.err
    assert archive.conversation(petro.id).customer.blocked_by_shop == blocking.COMMAND_LINE
    again = run_cli("block", str(petro.id))
    assert again.code == 0 and "already blocked" in again.err
    unblocked = run_cli("unblock", str(petro.id))
    assert unblocked.code == 0 and "unblocked Петро" in unblocked.err
    assert archive.conversation(petro.id).customer.blocked_by_shop is None
    assert "is not blocked" in run_cli("unblock", str(petro.id)).err


def test_an_unknown_conversation_exits_5(archive):
    for command in ("block", "unblock"):
        result = run_cli(command, "999")
        assert result.code == 5
        assert result.err.startswith("error: no conversation #999")


def test_without_an_archive_it_exits_5_and_creates_none(isolated_home):
    result = run_cli("block", "1")
    assert result.code == 5
    assert "no conversation #1" in result.err and "no archive yet" in result.err
    assert not paths().archive.exists()


@pytest.mark.parametrize("bad", ["x", "-1", ""])
def test_a_bad_id_is_a_usage_error(isolated_home, bad):
    result = run_cli("block", bad)
    assert result.code == 2
    assert "Traceback" not in result.err


def test_conversations_show_who_is_blocked(archive):
    olena = customer(archive, "Олена")
    petro = customer(archive, "Петро", "")
    say(archive, olena, "Ау?", minutes=1)
    say(archive, petro, "Купіть слона", minutes=2)
    assert run_cli("block", str(petro.id)).code == 0
    records = {r["customer"]: r for r in lines(run_cli("conversations", "--json").out)}
    assert records["Петро"]["blocked_by"] == blocking.COMMAND_LINE
    assert datetime.fromisoformat(records["Петро"]["blocked_since"]) > T0
    assert "blocked_by" not in records["Олена Коваленко"]  # present only when blocked
    waiting = lines(run_cli("conversations", "--waiting", "--json").out)
    assert [r["customer"] for r in waiting] == ["Олена Коваленко"]  # nobody is to answer Petro
    (row,) = [line for line in run_cli("conversations").out.splitlines() if "Петро" in line]
    assert "blocked" in row


# -- status ------------------------------------------------------------------------------------


# -- /block in a reply -------------------------------------------------------------------------


@pytest.fixture
def replies(archive: Archive):
    woken: list[str] = []
    made = ReplyIntake(
        archive,
        ReplySettings(MailSettings(MAILBOX, MANAGERS)),
        lambda: woken.append("delivery"),
        lambda: woken.append("mail"),
    )
    made.woken = woken  # type: ignore[attr-defined]
    return made


def test_a_reply_of_only_block_blocks_and_tells_the_managers(archive, replies):
    conversation = customer(archive)
    say(archive, conversation, "Купіть слона")
    before = len(archive.recent(100))
    raw = reply(conversation.token, "/block\n\nOn Mon, Олена wrote:\n> Купіть слона").as_bytes()
    assert replies.handle(1, raw) == "done"
    assert archive.conversation(conversation.id).customer.blocked_by_shop == ANNA
    assert outbox(archive) == [("mail", BLOCK_NOTICE, f"{ANNA} <r1@mail.example>")]
    assert len(archive.recent(100)) == before  # the command is no message to the customer
    assert replies.woken == ["mail"]
    assert replies.handle(2, raw) == "done"  # read again: nothing new
    assert len(outbox(archive)) == 1


@pytest.mark.parametrize("text", ["/BLOCK", "  /Block  \n", "/unblock", "/Unblock\n"])
def test_the_command_in_any_case(archive, replies, text):
    conversation = customer(archive)
    say(archive, conversation, "Купіть слона")
    blocking.set_blocked(archive, conversation.id, "unblock" in text.lower(), by=PETRO, at=T0)
    assert replies.handle(1, reply(conversation.token, text).as_bytes()) == "done"
    blocked = archive.conversation(conversation.id).customer.blocked_by_shop
    assert blocked == (None if "unblock" in text.lower() else ANNA)
    (row,) = outbox(archive)
    assert row[1] == (UNBLOCK_NOTICE if "unblock" in text.lower() else BLOCK_NOTICE)


@pytest.mark.parametrize("text", ["/block please", "Please /block", "/blocked", "/block!"])
def test_more_than_the_command_is_an_ordinary_reply(archive, replies, text):
    conversation = customer(archive)
    say(archive, conversation, "?")
    assert replies.handle(1, reply(conversation.token, text).as_bytes()) == "done"
    assert archive.conversation(conversation.id).customer.blocked_by_shop is None
    assert outbox(archive) == [("channel", MESSAGE, None)]  # it goes to the customer


def test_a_stranger_cannot_block(archive, replies):
    conversation = customer(archive)
    say(archive, conversation, "?")
    email = reply(conversation.token, "/block", sender="mallory@evil.example")
    assert replies.handle(1, email.as_bytes()) == "ignore"
    assert archive.conversation(conversation.id).customer.blocked_by_shop is None
    assert outbox(archive) == []


def test_the_notice_is_in_the_thread_to_every_manager(archive, replies):
    conversation = customer(archive)
    first = say(archive, conversation, "Купіть слона")
    with writing(archive) as db:
        db.execute("UPDATE messages SET email_message_id = '<e1@shop.example>' WHERE id = ?",
                   (first.id,))  # fmt: skip
    replies.handle(1, reply(conversation.token, "/block").as_bytes())
    (item,) = [i for i in archive.deliveries.due_deliveries("mail", datetime.now(UTC), 10)
               if i.kind == BLOCK_NOTICE]  # fmt: skip

    mailer = Mailer(archive, MailSettings(MAILBOX, MANAGERS), LinkSettings(None, "k"),
                    clock=lambda: T0)  # fmt: skip
    email = wire(mailer.build(item))
    assert sorted(a.addr_spec for a in email["To"].addresses) == sorted(MANAGERS)
    assert email["In-Reply-To"] == "<r1@mail.example>"  # answers Anna's /block
    assert "<e1@shop.example>" in email["References"]
    assert email["Subject"] == f"[Telegram] Олена Коваленко #{conversation.id}"
    assert email["Auto-Submitted"] == "auto-generated"
    text = plain(email)
    assert f"{ANNA} blocked Олена Коваленко (Telegram, conversation #{conversation.id})" in text
    assert "Nothing was sent to the customer" in text
    assert f"im2mail unblock {conversation.id}" in text and "reply /unblock" in text
    replies.handle(2, reply(conversation.token, "/unblock", msgid="<r2@mail.example>").as_bytes())
    (later,) = [i for i in archive.deliveries.due_deliveries("mail", datetime.now(UTC), 10)
                if i.kind == UNBLOCK_NOTICE]  # fmt: skip
    again = wire(mailer.build(later))
    assert f"{ANNA} unblocked Олена Коваленко" in plain(again)
    assert again["In-Reply-To"] == "<r2@mail.example>"


def test_a_block_notice_never_becomes_an_albums_email(archive):
    """A new part of an album joins the album's email while it is pending: never another
    email that hangs on one of its parts (a notice, a digest, a reminder)."""
    from im2mail.archive import threads
    from im2mail.model import Message

    conversation = customer(archive)
    part = archive.add_message(
        Message(conversation.id, "in", "Олена", "", T0, kind="photo", group="album-1",
                email_message_id="<album@shop.example>"),
        outbox=[OutboxItem("mail", email_message_id="<notice@shop.example>", kind=BLOCK_NOTICE)],
    )  # fmt: skip
    assert part is not None
    assert threads.pending_album_email(archive, conversation.id, "album-1") is None
    archive.add_message(
        Message(conversation.id, "in", "Олена", "", T0, kind="photo", group="album-1"),
        outbox=[OutboxItem("mail", email_message_id="<album@shop.example>")],
    )
    assert threads.pending_album_email(archive, conversation.id, "album-1") == (
        "<album@shop.example>"
    )
