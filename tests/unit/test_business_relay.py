"""Telegram Business in the relay (relay/business.py) with a scripted channel: the intake
keeps connections, relays the customers' messages of the owner's chats (no greeting, no
auto-reply), archives the owner's own messages as answers with a team notice, marks
deletions, and drops what comes through a connection that is gone; the chat outbox sends
replies through the connection, or refuses before sending; the emails name the account."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from im2mail.archive import Archive, business
from im2mail.channels import Rejected, RetryLater, Step
from im2mail.mail.builder import MailSettings
from im2mail.model import (
    DELETED,
    MESSAGE,
    NOT_SENT,
    TEAM,
    UNDELIVERED,
    Connection,
    Customer,
    Incoming,
    Message,
    OutboxItem,
)
from im2mail.relay.chat_outbox import ChatOutbox, SenderSettings
from im2mail.relay.intake import Intake, IntakeSettings
from im2mail.relay.mailer import LinkSettings, Mailer
from tests.support.archive_sql import reading
from tests.support.business import IRYNA, OLENA, T0
from tests.support.scripted import ScriptedChannel
from tests.unit.test_compose import plain, wire

MAILBOX = "orders@shop.example"
ANNA, PETRO = "anna@shop.example", "petro@shop.example"
MAIL = MailSettings(MAILBOX, (ANNA, PETRO))
GREETING = "Вітаємо! Чим допомогти?"
LATER = datetime.now(UTC) + timedelta(days=1)  # when every queued email is due
_updates = iter(range(1, 10_000))


class ScriptedBusiness(ScriptedChannel):
    """A Telegram bot with business connections: `known` is what getBusinessConnection
    answers; sends are kept as (chat, step, connection id or None)."""

    def __init__(self) -> None:
        super().__init__("shop")
        self.known: dict[str, Connection | Exception] = {}
        self.asked: list[str] = []
        self.steps: list[tuple[str, Step, str | None]] = []
        self.errors: list[Exception] = []

    async def connection(self, connection_id: str) -> Connection:  # type: ignore[override]
        self.asked.append(connection_id)
        found = self.known.get(connection_id)
        if isinstance(found, Exception):
            raise found
        if found is None:
            raise Rejected("not found", reason="Business connection not found")
        return found

    def plan(self, text: str, files=()) -> list[Step]:
        return [Step(text)]

    async def send_step(self, chat_id: str, step: Step) -> list[str]:
        self.steps.append((chat_id, step, None))
        return ["900"]

    async def send_via(self, connection_id: str, chat_id: str, step: Step) -> list[str]:  # type: ignore[override]
        if self.errors:
            raise self.errors.pop(0)
        self.steps.append((chat_id, step, connection_id))
        return ["31"]


@pytest.fixture
def channel() -> ScriptedBusiness:
    return ScriptedBusiness()


@pytest.fixture
def intake(archive: Archive, channel: ScriptedBusiness) -> Intake:
    return Intake(archive, {"shop": channel}, IntakeSettings(MAIL, GREETING))  # type: ignore[dict-item]


def incoming(**fields) -> Incoming:
    fields.setdefault("created", T0)
    n = next(_updates)
    return Incoming(bot="shop", dedupe_key=f"telegram:shop:update:{n}", **fields)


def connected(state: Connection = IRYNA) -> Incoming:
    owner = Customer("telegram", state.owner_id, "Ірина", "Шевченко", "iryna_shop")
    return incoming(
        customer=owner, kind="event", event="connection", via=state.id, connection=state
    )


def written(text: str, via: str = IRYNA.id, *, mid: str = "7", **more) -> Incoming:
    return incoming(
        customer=OLENA, text=text, channel_message_id=mid, chat_id="5012", via=via, **more
    )


async def take(intake: Intake, channel: ScriptedBusiness, *items: Incoming) -> int:
    channel.next = list(items)
    return (await intake.take("shop", {})).stored


def outbox(archive: Archive) -> list[tuple]:
    with reading(archive) as db:
        found = db.execute("SELECT target, kind, note FROM outbox ORDER BY id").fetchall()
    return [tuple(r) for r in found]


async def test_a_connection_is_kept_and_logged_once(archive, intake, channel, caplog):
    caplog.set_level(logging.INFO, "im2mail.business")
    update = connected()
    assert await take(intake, channel, update) == 0
    await take(intake, channel, update)  # the same update again
    (kept,) = business.connections(archive)
    assert (kept.label, kept.change, kept.can_reply) == ("@iryna_shop", "connected", True)
    assert [r.getMessage() for r in caplog.records] == [
        "shop: business account @iryna_shop (4242): connected (can reply)"
    ]
    await take(intake, channel, connected(replace(IRYNA, can_reply=False)))
    assert caplog.records[-1].getMessage().endswith("): reply rights removed")
    assert caplog.records[-1].levelno == logging.WARNING


async def test_a_customers_message_is_mailed_from_a_conversation_of_its_own(
    archive, intake, channel
):
    await take(intake, channel, connected())
    await take(
        intake,
        channel,
        incoming(customer=OLENA, text="У бот", chat_id="5012", channel_message_id="1"),
    )
    assert await take(intake, channel, written("Привіт! Ще є візитки?")) == 1
    assert len(archive.conversations()) == 2  # the bot chat and the owner's chat
    entry = archive.recent(1)[0]
    mine = archive.conversation(entry.conversation_id)
    assert (mine.via, mine.customer.external_id) == ("@iryna_shop", "5012@4242")
    assert outbox(archive) == [("mail", MESSAGE, None)] * 2
    assert channel.sent == [GREETING]  # the bot chat's greeting only: none as the owner


async def test_the_owners_own_message_is_an_answer_and_the_managers_are_told(
    archive, intake, channel
):
    await take(intake, channel, connected())
    await take(intake, channel, written("Скільки коштують?"))
    owner_says = written("Від 350 грн", mid="8", author="Ірина Шевченко")
    assert await take(intake, channel, owner_says) == 0
    await take(intake, channel, owner_says)  # delivered again: kept once
    _first, answer = archive.recent(5)
    assert (answer.direction, answer.author, answer.text) == (
        "out",
        "Ірина Шевченко",
        "Від 350 грн",
    )
    assert outbox(archive) == [("mail", MESSAGE, None), ("mail", TEAM, f"{ANNA},{PETRO}")]
    (summary,) = archive.conversations()
    assert summary.waiting_since is None  # the owner answered: nobody waits
    # An edit of the owner's message is kept, with no second notice.
    await take(
        intake, channel, written("Від 340 грн", mid="8", author="Ірина Шевченко", edited=True)
    )
    assert len(outbox(archive)) == 2 and archive.recent(1)[0].text == "Від 340 грн"


async def test_nothing_of_a_disconnected_account_is_archived(archive, intake, channel, caplog):
    await take(intake, channel, connected())
    await take(intake, channel, connected(replace(IRYNA, enabled=False)))
    caplog.set_level(logging.WARNING, "im2mail.business")
    late = written("Ви тут?")
    assert await take(intake, channel, late) == 0
    assert archive.recent(5) == [] and outbox(archive) == []
    assert archive.was_seen(late.dedupe_key)  # acknowledged: Telegram need not send it again
    assert "who has disconnected the bot: not archived" in caplog.text
    assert "Ви тут?" not in caplog.text  # the private words stay out of the log too


async def test_an_unheard_of_connection_is_asked_of_the_platform(archive, intake, channel):
    channel.known[IRYNA.id] = IRYNA
    assert await take(intake, channel, written("Привіт")) == 1
    assert channel.asked == [IRYNA.id]
    assert business.connections(archive)[0].change == "connected"
    await take(intake, channel, written("Ще раз", mid="9"))
    assert channel.asked == [IRYNA.id]  # known now


async def test_a_connection_the_platform_does_not_know_is_dropped(archive, intake, channel):
    message = written("Привіт", via="Forged1")
    assert await take(intake, channel, message) == 0
    assert archive.recent(5) == [] and archive.was_seen(message.dedupe_key)
    channel.known["Later2"] = RetryLater("timed out")
    with pytest.raises(RetryLater):  # not acknowledged: the update comes again
        await take(intake, channel, written("Привіт", via="Later2"))


async def test_deleted_messages_are_marked_and_the_managers_told(archive, intake, channel):
    await take(intake, channel, connected())
    await take(intake, channel, written("Привіт", mid="7"), written("Номер 0671234567", mid="8"))
    gone = incoming(
        customer=OLENA, kind="event", event="deleted", via=IRYNA.id, message_ids=("8", "99")
    )
    assert await take(intake, channel, gone) == 0
    texts = {e.text: e for e in archive.recent(5)}
    assert texts["Номер 0671234567"].deleted is not None and texts["Привіт"].deleted is None
    (notice,) = [r for r in outbox(archive) if r[1] == DELETED]
    assert notice[2] == str(texts["Номер 0671234567"].message_id)
    # The email: to the managers, in the thread, quoting what was deleted.
    mailer = Mailer(archive, MAIL, LinkSettings(None, "k" * 32), clock=lambda: T0)
    (item,) = [i for i in archive.deliveries.due_deliveries("mail", LATER, 10) if i.kind == DELETED]
    email = wire(mailer.build(item))
    assert email["Auto-Submitted"] == "auto-generated"
    assert sorted(a.addr_spec for a in email["To"].addresses) == [ANNA, PETRO]
    assert email["Subject"].startswith("[Telegram (business: @iryna_shop)] Олена Коваль #")
    assert "In-Reply-To" in email
    body = plain(email)
    assert "A message in the chat with Олена Коваль" in body and "was deleted" in body
    assert "> Номер 0671234567" in body and "Привіт" not in body


async def test_the_customers_email_says_it_came_through_the_owners_account(
    archive, intake, channel
):
    await take(intake, channel, connected())
    await take(intake, channel, written("Потрібні візитки"))
    mailer = Mailer(archive, MAIL, LinkSettings(None, "k" * 32), clock=lambda: T0)
    (item,) = archive.deliveries.due_deliveries("mail", LATER, 10)
    email = wire(mailer.build(item))
    sender = email["From"].addresses[0]
    assert sender.display_name == "Олена Коваль via Telegram (business: @iryna_shop)"
    assert "Потрібні візитки" in plain(email)


# -- replies ------------------------------------------------------------------------------


def queue_reply(archive: Archive, text: str = "Так, 350 грн") -> int:
    business.record(archive, IRYNA, T0)
    person = business.chat_customer(archive, IRYNA, OLENA, "5012")
    conv = archive.conversation_for(person, "shop")
    stored = archive.add_message(
        Message(conv.id, "out", ANNA, text, T0, email_message_id="<r@mail>"),
        outbox=[OutboxItem("channel")],
    )
    assert stored is not None and stored.id is not None
    return stored.id


def sender(archive: Archive, channel: ScriptedBusiness) -> ChatOutbox:
    settings = SenderSettings(MAIL, frozenset({"shop"}))
    return ChatOutbox(archive, {"shop": channel}, settings, pace=0, backoff=lambda tries: 0)


async def test_a_reply_goes_through_the_connection_into_the_customers_chat(archive, channel):
    reply = queue_reply(archive)
    assert await sender(archive, channel).flush() == 1
    assert channel.steps == [("5012", Step("Так, 350 грн"), IRYNA.id)]
    assert archive.message(reply).channel_message_id == "31"


@pytest.mark.parametrize(
    ("state", "why"),
    [
        (replace(IRYNA, enabled=False), "@iryna_shop has disconnected the bot"),
        (replace(IRYNA, can_reply=False), "without the right to reply"),
    ],
    ids=["revoked", "no-reply-right"],
)
async def test_a_reply_through_a_connection_that_may_not_reply_is_not_sent(
    archive, channel, state, why
):
    queue_reply(archive)
    business.record(archive, state, T0 + timedelta(minutes=1))
    await sender(archive, channel).flush()
    assert channel.steps == []
    (notice,) = [r for r in outbox(archive) if r[0] == "mail"]
    assert notice[1] == NOT_SENT and why in notice[2] and "nothing was sent" in notice[2]
    assert "Олена Коваль" in notice[2]


async def test_telegrams_refusal_of_a_business_send_comes_back_as_undelivered(archive, channel):
    queue_reply(archive)
    channel.errors = [Rejected("x", reason="Bad Request: BOT_ACCESS_FORBIDDEN")]
    await sender(archive, channel).flush()
    (notice,) = [r for r in outbox(archive) if r[0] == "mail"]
    assert notice == ("mail", UNDELIVERED, "Bad Request: BOT_ACCESS_FORBIDDEN")
    with reading(archive) as db:
        assert db.execute("SELECT count(*) FROM customers WHERE blocked = 1").fetchone()[0] == 0


async def test_a_one_emoji_reply_in_an_accounts_chat_goes_as_text(archive, channel):
    # setMessageReaction has no business_connection_id: a bot reacts only in its own chats
    reacted: list[tuple] = []

    async def react(chat_id: str, message_id: str, emoji: str) -> None:
        reacted.append((chat_id, message_id, emoji))

    channel.react = react  # type: ignore[method-assign]
    business.record(archive, IRYNA, T0)
    person = business.chat_customer(archive, IRYNA, OLENA, "5012")
    conv = archive.conversation_for(person, "shop")
    archive.add_message(Message(conv.id, "in", "Олена", "Є 300?", T0, channel_message_id="7"))
    queue_reply(archive, "👍")
    assert await sender(archive, channel).flush() == 1
    assert reacted == []
    assert channel.steps == [("5012", Step("👍"), IRYNA.id)]


async def test_forgetting_an_accounts_customer_drops_their_chat(archive):
    from im2mail.archive.forget import forget

    business.record(archive, IRYNA, T0)
    person = business.chat_customer(archive, IRYNA, OLENA, "5012")
    conv = archive.conversation_for(person, "shop")
    archive.add_message(Message(conv.id, "in", "Олена", "Є 300?", T0, channel_message_id="7"))
    forget(archive, conv.id)
    with reading(archive) as db:
        assert db.execute("SELECT count(*) FROM business_chats").fetchone()[0] == 0
    assert business.route(archive, conv.id) is None
