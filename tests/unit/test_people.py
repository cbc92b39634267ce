"""One person across channels (archive/people.py): linking rules, where a manager's reply
goes (the channel the customer last wrote on, or `/via NAME`), one email thread, and the
suggestions of customers to link."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest

from im2mail.archive import Archive, people
from im2mail.errors import NotFound, UsageError
from im2mail.mail.builder import MailSettings
from im2mail.model import NOT_SENT, Message, OutboxItem
from im2mail.relay.mailer import LinkSettings, Mailer
from im2mail.relay.reply_intake import ReplyIntake, ReplySettings
from im2mail.relay.via import split
from tests.support.archive_sql import reading
from tests.support.chats import T0, customer, say
from tests.unit.test_reply_intake import ANNA, MAILBOX, PETRO, reply

# -- linking ------------------------------------------------------------------------------------


def person_of(archive: Archive, conversation_id: int) -> list[int]:
    return [c.id for c in people.conversations_of(archive, conversation_id)]


def test_linking_two_customers_makes_one_person_of_their_conversations(archive):
    tg = customer(archive, "Олена", channel="telegram")
    vb = customer(archive, "Олена К.", channel="viber", bot="vshop")
    done = people.link(archive, tg.id, vb.id)
    assert done.changed
    assert [conversation for conversation, _ in done.customers] == [tg.id, vb.id]
    assert person_of(archive, tg.id) == person_of(archive, vb.id) == [tg.id, vb.id]
    alone = customer(archive, "Ігор")
    assert person_of(archive, alone.id) == [alone.id]


def test_linking_is_transitive_and_a_cycle_changes_nothing(archive):
    a, b, c = (customer(archive, name) for name in ("A", "B", "C"))
    people.link(archive, a.id, b.id)
    people.link(archive, b.id, c.id)
    assert person_of(archive, a.id) == [a.id, b.id, c.id]
    again = people.link(archive, c.id, a.id)  # closes the cycle A-B-C-A: it is a set
    assert not again.changed
    assert len(again.customers) == 3
    assert person_of(archive, c.id) == [a.id, b.id, c.id]


def test_two_people_linked_become_one(archive):
    a, b, c, d = (customer(archive, name) for name in "ABCD")
    people.link(archive, a.id, b.id)
    people.link(archive, c.id, d.id)
    people.link(archive, b.id, d.id)
    assert person_of(archive, a.id) == [a.id, b.id, c.id, d.id]
    with reading(archive) as db:
        assert db.execute("SELECT count(*) FROM people").fetchone()[0] == 1


def test_a_customer_linked_to_themself_is_refused(archive):
    olena = customer(archive)
    with pytest.raises(UsageError, match="can't be linked to itself"):
        people.link(archive, olena.id, olena.id)
    other_bot = archive.conversation_for(olena.customer, "shop2")  # the same account
    with pytest.raises(UsageError, match="one customer already"):
        people.link(archive, olena.id, other_bot.id)
    assert person_of(archive, olena.id) == [olena.id]


def test_linking_an_unknown_conversation_is_not_found(archive):
    olena = customer(archive)
    with pytest.raises(NotFound, match="no conversation #999"):
        people.link(archive, olena.id, 999)
    with pytest.raises(NotFound):
        people.link(archive, 2**70, olena.id)  # beyond SQLite's integers: no row's id
    with pytest.raises(NotFound):
        people.unlink(archive, 999)


def test_unlink_takes_one_customer_out_and_a_person_of_one_is_none(archive):
    a, b, c = (customer(archive, name) for name in "ABC")
    people.link(archive, a.id, b.id)
    people.link(archive, b.id, c.id)
    taken, rest = people.unlink(archive, b.id)
    assert taken.first_name == "B"
    assert [conversation for conversation, _ in rest] == [a.id, c.id]  # A and C stay one
    assert person_of(archive, b.id) == [b.id]
    taken, rest = people.unlink(archive, a.id)
    assert rest == ()  # C alone is no person
    assert person_of(archive, c.id) == [c.id]
    assert people.unlink(archive, c.id) == (archive.conversation(c.id).customer, ())
    with reading(archive) as db:
        assert db.execute("SELECT count(*) FROM people").fetchone()[0] == 0


# -- suggestions ----------------------------------------------------------------------------------


def test_customers_sharing_a_phone_or_a_shared_contact_are_suggested(archive):
    tg = customer(archive, "Олена", phone="+380 67 123 45 67")
    wa = customer(archive, "Olena", channel="whatsapp", bot="wa", phone="380671234567")
    vb = customer(archive, "Олена К.", channel="viber", bot="vshop")
    other = customer(archive, "Ігор", phone="+380501112233")
    card = Message(vb.id, "in", "Олена К.", "👤 Олена 067 123 4567", T0, kind="contact")
    archive.add_message(card)
    found = people.suggestions(archive)
    assert [(s.first, s.second) for s in found] == [(tg.id, wa.id), (tg.id, vb.id)]
    assert found[1].shared and not found[0].shared
    assert other.id not in {s.second for s in found}
    people.link(archive, tg.id, wa.id)
    people.link(archive, wa.id, vb.id)
    assert people.suggestions(archive) == []  # one person now: nothing to suggest


def test_a_short_number_suggests_nothing(archive):
    customer(archive, "A", phone="112")
    customer(archive, "B", phone="112")
    assert people.suggestions(archive) == []


# -- where a reply goes ---------------------------------------------------------------------------


@pytest.fixture
def intake(archive: Archive):
    return ReplyIntake(archive, ReplySettings(MailSettings(MAILBOX, (ANNA, PETRO))))


@pytest.fixture
def person(archive):
    """Олена on Telegram (bot shop) and on Viber (bot vshop), linked; she wrote on
    Telegram first, then on Viber."""
    tg = customer(archive, "Олена", channel="telegram", bot="shop")
    vb = customer(archive, "Олена", channel="viber", bot="vshop")
    people.link(archive, tg.id, vb.id)
    say(archive, tg, "Скільки коштують візитки?", minutes=0)
    say(archive, vb, "Я тут, у вайбері", minutes=5)
    return archive.conversation(tg.id), archive.conversation(vb.id)


def replies(archive: Archive) -> list[tuple[int, str, str]]:
    """(conversation, text, outbox kind) of each manager reply, in order."""
    with reading(archive) as db:
        found = db.execute(
            "SELECT m.conversation_id, m.text, o.kind FROM messages m"
            " JOIN outbox o ON o.message_id = m.id WHERE m.direction = 'out' ORDER BY m.id"
        ).fetchall()
    return [tuple(r) for r in found]


def test_a_reply_goes_to_the_channel_the_customer_last_wrote_on(archive, intake, person):
    tg, vb = person
    # The manager answers the Telegram email; she last wrote on Viber: it goes there.
    assert intake.handle(1, reply(tg.token, "300 грн за 100 штук").as_bytes()) == "done"
    assert replies(archive) == [(vb.id, "300 грн за 100 штук", "message")]
    say(archive, tg, "А на щільному папері?", minutes=10)
    email = reply(vb.token, "400 грн", msgid="<r2@mail.example>")
    assert intake.handle(2, email.as_bytes()) == "done"
    assert replies(archive)[-1] == (tg.id, "400 грн", "message")


@pytest.mark.parametrize("line", ["/via telegram", "/VIA Telegram", "  /via shop  ", "/via shop"])
def test_via_chooses_the_channel_and_is_not_sent(archive, intake, person, line):
    tg, vb = person
    email = reply(vb.token, f"{line}\nНадсилаю макет сюди")
    assert intake.handle(1, email.as_bytes()) == "done"
    assert replies(archive) == [(tg.id, "Надсилаю макет сюди", "message")]
    stored = archive.message(archive.recent(1)[0].message_id)
    assert stored.raw["via_line"] == line.split()[1]
    assert stored.raw["answered"] == vb.id


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("/via whatsapp", "no conversation on WhatsApp"),
        ("/via vibr", "'vibr' is neither a channel"),
        ("/via", "names no channel"),
    ],
)
def test_via_where_the_person_is_not_sends_nothing_and_tells_the_manager(
    archive, intake, person, line, why
):
    tg, _ = person
    assert intake.handle(1, reply(tg.token, f"{line}\nДобрий день").as_bytes()) == "done"
    ((conversation, text, kind),) = replies(archive)
    assert (conversation, text, kind) == (tg.id, "", NOT_SENT)
    with reading(archive) as db:
        (note,) = db.execute("SELECT note FROM outbox").fetchone()
    assert why in note and "nothing was sent" in note
    assert "/via telegram (bot shop)" in note and "/via viber (bot vshop)" in note


def test_via_for_a_customer_linked_to_no_one_must_name_their_channel(archive, intake):
    alone = customer(archive, "Ігор", channel="telegram")
    say(archive, alone, "Добрий день")
    assert intake.handle(1, reply(alone.token, "/via telegram\nВітаю").as_bytes()) == "done"
    assert intake.handle(2, reply(alone.token, "/via viber\nВітаю",
                                  msgid="<r2@mail.example>").as_bytes()) == "done"  # fmt: skip
    assert replies(archive) == [(alone.id, "Вітаю", "message"), (alone.id, "", NOT_SENT)]


def test_a_via_later_in_the_text_is_just_text():
    assert split("Дякую\n/via viber").name is None
    assert split("/viaduct\nтекст").name is None
    assert split("\n/via viber\r\n\r\nтекст") == split("/via viber\nтекст")
    assert split("/via viber\nтекст").text == "текст"


# -- one email thread -----------------------------------------------------------------------------


def email_of(archive: Archive, mailer: Mailer, message: Message):
    item = OutboxItem("mail", email_message_id=f"<m{message.id}@shop.example>",
                      message_id=message.id)  # fmt: skip
    return message_from_bytes(mailer.build(item).data, policy=policy.default)


def test_the_emails_of_a_linked_person_keep_one_thread(archive):
    settings = MailSettings(MAILBOX, (ANNA,), titles={"telegram": "Telegram", "viber": "Viber"})
    mailer = Mailer(archive, settings, LinkSettings(None, "k" * 64))
    tg = customer(archive, "Олена", channel="telegram")
    vb = customer(archive, "Олена", channel="viber", bot="vshop")
    first = _emailed(archive, tg, "Привіт з телеграму", 0)
    before = email_of(archive, mailer, _emailed(archive, vb, "Привіт з вайбера", 1))
    assert before["Subject"] == f"[Viber] Олена Коваленко #{vb.id}"  # not linked: its own
    people.link(archive, tg.id, vb.id)
    after = email_of(archive, mailer, _emailed(archive, vb, "Знову я", 2))
    thread = email_of(archive, mailer, first)
    assert after["Subject"] == thread["Subject"] == f"[Telegram] Олена Коваленко #{tg.id}"
    assert after["Thread-Index"][:30] == thread["Thread-Index"][:30]  # one Outlook thread
    assert first.email_message_id in after["References"]  # after the Telegram emails too
    assert "via Viber" in after["From"]  # still says where she wrote
    assert f"+{vb.token}@" in after["Reply-To"]  # a reply reaches her person either way


def _emailed(archive: Archive, conversation, text: str, minutes: float) -> Message:
    from datetime import timedelta

    message = Message(conversation.id, "in", "Олена", text, T0 + timedelta(minutes=minutes),
                      email_message_id=None)  # fmt: skip
    mid = f"<e{minutes}.{conversation.id}@shop.example>"
    stored = archive.add_message(message, outbox=[OutboxItem("mail", email_message_id=mid)])
    with reading(archive) as db:
        db.execute("UPDATE messages SET email_message_id = ? WHERE id = ?", (mid, stored.id))
    return archive.message(stored.id)
