"""Quick replies: a manager's reply that is only `/t NAME` sends the template's text."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from im2mail.archive import Archive
from im2mail.mail.builder import MailSettings
from im2mail.model import NOT_SENT
from im2mail.relay.quick_replies import QuickReply, expand, unknown
from im2mail.relay.reply_intake import ReplyIntake, ReplySettings
from tests.support.archive_sql import reading
from tests.support.chats import customer, say

MAILBOX = "orders@shop.example"
ANNA = "anna@shop.example"
PRICE = "A4: 2 грн за сторінку, кольоровий 8 грн."
TEMPLATES = (("price-a4", PRICE), ("hours", "Працюємо з 9 до 18."))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/t price-a4", QuickReply("price-a4", PRICE)),
        ("  /T PRICE-A4 \n", QuickReply("price-a4", PRICE)),
        ("/t hours", QuickReply("hours", "Працюємо з 9 до 18.")),
        ("/t prise-a4", QuickReply("prise-a4", None)),
        ("/t", QuickReply("", None)),
        ("Дивіться /t price-a4", None),  # not the whole text: an ordinary reply
        ("/t price-a4\nі ще дещо", QuickReply("price-a4 і ще дещо", None)),
        ("/tomorrow", None),
        ("price-a4", None),
    ],
)
def test_expand_recognizes_only_a_whole_reply_command(text, expected):
    assert expand(text, TEMPLATES) == expected


def test_the_unknown_reason_lists_the_templates():
    assert unknown("prise-a4", TEMPLATES) == (
        "there is no quick-reply template 'prise-a4', so nothing was sent (no files either); "
        "the templates are: price-a4, hours"
    )
    assert "/t needs a template name" in unknown("", TEMPLATES)
    assert "config.toml has no [templates] section" in unknown("x", ())


# -- in the reply intake ---------------------------------------------------------------------


@pytest.fixture
def intake(archive: Archive) -> ReplyIntake:
    return ReplyIntake(archive, ReplySettings(MailSettings(MAILBOX, (ANNA,)), templates=TEMPLATES))


def reply(token: str, text: str, *, files: tuple[tuple[str, bytes], ...] = ()) -> bytes:
    m = EmailMessage()
    m["From"] = ANNA
    m["To"] = f"orders+{token}@shop.example"
    m["Subject"] = "Re: [Telegram] Олена Коваленко #1"
    m["Message-ID"] = "<r1@mail.example>"
    m.set_content(text)
    for name, data in files:
        m.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return m.as_bytes()


def outbox(archive: Archive) -> list[tuple[str, str, str | None]]:
    with reading(archive) as db:
        rows = db.execute("SELECT target, kind, note FROM outbox ORDER BY id").fetchall()
    return [tuple(r) for r in rows]


def test_a_template_reply_goes_out_and_is_archived_as_the_template_text(archive, intake):
    conv = customer(archive)
    say(archive, conv, "Скільки коштує друк А4?")
    quoted = "/t Price-A4\n\nOn Mon, Олена wrote:\n> Скільки коштує друк А4?"
    assert intake.handle(1, reply(conv.token, quoted)) == "done"
    (entry,) = [e for e in archive.recent(5) if e.direction == "out"]
    assert (entry.author, entry.text) == (ANNA, PRICE)
    assert archive.message(entry.message_id).raw["template"] == "price-a4"
    assert outbox(archive) == [("channel", "message", None)]


def test_the_reply_files_go_with_the_template(archive, intake):
    conv = customer(archive)
    files = (("прайс.pdf", b"%PDF-1.4 price list"),)
    intake.handle(1, reply(conv.token, "/t price-a4", files=files))
    (entry,) = archive.recent(1)
    message = archive.message(entry.message_id)
    assert message.text == PRICE
    assert [a.filename for a in message.attachments] == ["прайс.pdf"]
    assert outbox(archive) == [("channel", "message", None)]


def test_an_unknown_template_sends_nothing_and_tells_the_manager(archive, intake):
    conv = customer(archive)
    files = (("прайс.pdf", b"%PDF-1.4"),)
    assert intake.handle(1, reply(conv.token, "/t prise-a4", files=files)) == "done"
    (entry,) = archive.recent(1)
    message = archive.message(entry.message_id)
    assert message.text == "" and message.attachments == ()  # the customer got nothing
    ((target, kind, note),) = outbox(archive)
    assert (target, kind) == ("mail", NOT_SENT)  # no delivery, a notice in the thread
    assert "no quick-reply template 'prise-a4'" in note
    assert "price-a4, hours" in note


def test_an_ordinary_reply_mentioning_t_is_sent_as_written(archive, intake):
    conv = customer(archive)
    intake.handle(1, reply(conv.token, "Напишіть /t price-a4 у відповідь"))
    (entry,) = archive.recent(1)
    assert entry.text == "Напишіть /t price-a4 у відповідь"
    assert "template" not in archive.message(entry.message_id).raw


def test_without_templates_a_command_is_refused_with_a_hint(archive):
    bare = ReplyIntake(archive, ReplySettings(MailSettings(MAILBOX, (ANNA,))))
    conv = customer(archive)
    bare.handle(1, reply(conv.token, "/t price-a4"))
    ((target, kind, note),) = outbox(archive)
    assert (target, kind) == ("mail", NOT_SENT)
    assert "config.toml has no [templates] section" in note
