"""Notices to managers (mail/builder.py, mail/notices.py), checked as test_compose.py checks
emails: each one's bytes (as SMTP sends them) are parsed back, then its headers and parts
inspected."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta, timezone

import pytest

from im2mail.mail.builder import new_message_id
from im2mail.mail.compose import subject
from im2mail.model import Attachment, Message
from tests.unit.test_compose import BUILDER, CONV, MAILBOX, T0, html, plain, said, wire

REPLY_ID = "<CAF+reply@mail.gmail.com>"
FIRST = said("Добрий день", email_message_id="<c1@shop.example>")
LATER = said("а ще?", at=timedelta(minutes=6), email_message_id="<c2@shop.example>")
NOW = T0 + timedelta(minutes=7)
OTHERS = ["petro@shop.example", "olha@shop.example"]


def reply(text: str = "Ось рахунок на 500 візиток", **kw) -> Message:
    """Anna's answer by email, in the archive between the customer's two messages."""
    at = T0 + timedelta(minutes=5)
    return Message(42, "out", "anna@shop.example", text, at, email_message_id=REPLY_ID, **kw)


def undelivered(answer: Message, **kw):
    kw.setdefault("reason", "Forbidden: bot was blocked by the user")
    return wire(BUILDER.undelivered(answer, CONV, **_common(answer), **kw))


def team(answer: Message, **kw):
    kw.setdefault("to", OTHERS)
    return wire(BUILDER.team_notice(answer, CONV, **_common(answer), **kw))


def warning(answer: Message, **kw):
    kw.setdefault("colleague", "Petro Ivanenko")
    kw.setdefault("colleague_at", T0 + timedelta(minutes=2))
    return wire(BUILDER.colleague_warning(answer, CONV, **_common(answer), **kw))


def in_doubt(answer: Message, **kw):
    kw.setdefault("what", "part 2 of 3 of your reply")
    return wire(BUILDER.in_doubt(answer, CONV, **_common(answer), **kw))


def _common(answer: Message) -> dict:
    return {
        "message_id": new_message_id(MAILBOX),
        "date": NOW,
        "history": [FIRST, answer, LATER],
    }


NOTICES = pytest.mark.parametrize("notice", [undelivered, team, warning, in_doubt])


# -- every notice ---------------------------------------------------------------------------


@NOTICES
def test_a_notice_answers_the_managers_reply_in_the_conversations_thread(
    notice: Callable,
) -> None:
    email = notice(reply())
    assert email["In-Reply-To"] == REPLY_ID  # not the customer's later message
    refs = email["References"].split()
    assert refs[-1] == REPLY_ID
    assert "<c1@shop.example>" in refs and "<c2@shop.example>" in refs
    assert email["Subject"] == subject(CONV, "Telegram") == "[Telegram] Олена Петренко #42"
    assert email["Thread-Topic"] == email["Subject"]
    assert len(base64.b64decode(email["Thread-Index"])) == 22 + 4 * 5


@NOTICES
def test_a_notice_is_from_im2mail_and_auto_generated(notice: Callable) -> None:
    email = notice(reply())
    assert email["Auto-Submitted"] == "auto-generated"
    sender = email["From"].addresses[0]
    assert (sender.display_name, sender.addr_spec) == ("im2mail", MAILBOX)
    assert email["Reply-To"].addresses[0].addr_spec == "orders+k3x9a0b1c2d3@shop.example"


@NOTICES
def test_a_notice_is_text_then_html_and_7bit(notice: Callable) -> None:
    sent = notice(reply())
    assert sent.as_bytes().isascii()
    assert sent.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in sent.iter_parts()] == ["text/plain", "text/html"]


@NOTICES
def test_a_notice_keeps_cyrillic_and_escapes_markup(notice: Callable) -> None:
    email = notice(reply('Ось рахунок <script>alert("x")</script>'))
    assert '> Ось рахунок <script>alert("x")</script>' in plain(email)
    body = html(email)
    assert "Ось рахунок &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body
    assert "<script" not in body
    assert "Олена Петренко" in plain(email) and "Олена Петренко" in body


# -- undelivered ----------------------------------------------------------------------------


def test_undelivered_goes_to_the_author_with_the_platforms_reason() -> None:
    email = undelivered(reply("Ось рахунок <b>"))
    assert [a.addr_spec for a in email["To"].addresses] == ["anna@shop.example"]
    text = plain(email)
    assert "did not reach Олена Петренко in Telegram" in text
    assert "Telegram said:\n> Forbidden: bot was blocked by the user" in text
    assert "Your reply:\n> Ось рахунок <b>" in text
    assert "Ось рахунок &lt;b&gt;" in html(email)
    assert "Forbidden: bot was blocked by the user" in html(email)


def test_undelivered_for_a_reason_of_im2mails_own_does_not_blame_the_platform() -> None:
    email = undelivered(reply("/t prise-a4"), reason="there is no quick-reply template", ours=True)
    text = plain(email)
    assert "Why:\n> there is no quick-reply template" in text
    assert "Telegram said" not in text


def test_undelivered_without_a_reason_says_so() -> None:
    email = undelivered(reply(), reason="  ")
    assert "> no reason given" in plain(email)


# -- in doubt -------------------------------------------------------------------------------


def test_in_doubt_tells_the_author_which_part_may_be_missing_and_what_to_do() -> None:
    email = in_doubt(reply())
    assert [a.addr_spec for a in email["To"].addresses] == ["anna@shop.example"]
    text = plain(email)
    assert "Part 2 of 3 of your reply may not have reached Олена Петренко in Telegram" in text
    assert "It was not sent again" in text and "reply to this email" in text
    assert "Your reply:\n> Ось рахунок на 500 візиток" in text
    assert "may not have reached" in html(email)


# -- team notice ----------------------------------------------------------------------------


def test_team_notice_tells_the_other_managers_who_answered() -> None:
    email = team(reply(), author_name="Anna Koval")
    assert [a.addr_spec for a in email["To"].addresses] == OTHERS
    lead = "Anna Koval <anna@shop.example> answered Олена Петренко in Telegram:"
    text = plain(email)
    assert text.startswith(f"{lead}\n\n> Ось рахунок на 500 візиток\n")
    assert "Reply to this email to write to the customer." in text
    assert "Anna Koval &lt;anna@shop.example&gt; answered Олена Петренко in Telegram:" in html(
        email
    )


def test_team_notice_without_a_name_shows_the_address() -> None:
    text = plain(team(reply()))
    assert text.startswith("anna@shop.example answered Олена Петренко in Telegram:")


def test_team_notice_names_the_files_sent() -> None:
    files = (
        Attachment("макет_А4.pdf", "application/pdf", 250 * 1024),
        Attachment("logo.png", "image/png", 2048),
    )
    email = team(reply(attachments=files))
    assert "Files sent:\n- макет_А4.pdf (250 KB)\n- logo.png (2 KB)" in plain(email)
    body = html(email)
    assert "Files sent:</p>" in body
    assert "<li>макет_А4.pdf (250 KB)</li>" in body and "<li>logo.png (2 KB)</li>" in body
    assert list(email.iter_attachments()) == []  # names only: the managers don't need copies


def test_team_notice_without_files_lists_none() -> None:
    email = team(reply())
    assert "Files sent" not in plain(email) and "<li>" not in html(email)


def test_team_notice_takes_addresses_as_split_from_a_list() -> None:
    email = team(reply(), to=[" petro@shop.example", " olha@shop.example ", ""])
    assert [a.addr_spec for a in email["To"].addresses] == OTHERS


@pytest.mark.parametrize("to", [[], ["", " "]])
def test_team_notice_needs_someone_to_tell(to: list[str]) -> None:
    with pytest.raises(ValueError, match="recipient"):
        BUILDER.team_notice(reply(), CONV, to=to, **_common(reply()))


# -- colleague warning ----------------------------------------------------------------------


def test_colleague_warning_names_the_colleague_and_when() -> None:
    email = warning(reply(), colleague="Petro Ivanenko", colleague_at=T0 + timedelta(minutes=2))
    assert [a.addr_spec for a in email["To"].addresses] == ["anna@shop.example"]
    lead = (
        "Heads-up: Petro Ivanenko already answered Олена Петренко in Telegram 5 minutes ago, "
        "before your reply. Your reply was delivered too."
    )
    text = plain(email)
    assert text.startswith(f"{lead}\n\nYour reply:\n> Ось рахунок на 500 візиток\n")
    assert "This is an automatic notice from im2mail." in text
    assert "Petro Ivanenko already answered Олена Петренко in Telegram 5 minutes ago" in html(email)


KYIV = timezone(timedelta(hours=2))


@pytest.mark.parametrize(
    ("colleague_at", "when"),
    [
        (NOW - timedelta(seconds=20), "less than a minute ago"),
        (NOW - timedelta(seconds=90), "1 minute ago"),
        (NOW - timedelta(minutes=59), "59 minutes ago"),
        (T0.replace(hour=9, minute=40), "at 09:40 UTC"),
        (T0.replace(hour=10, minute=40).astimezone(KYIV), "at 10:40 UTC"),  # 12:40 in Kyiv
        (T0 - timedelta(hours=13), "on 2026-11-22 at 23:00 UTC"),
        (NOW + timedelta(minutes=3), "at 12:10 UTC"),  # a clock ahead: no "-3 minutes ago"
    ],
)
def test_colleague_warning_says_when_in_minutes_or_utc(colleague_at, when: str) -> None:
    text = plain(warning(reply(), colleague_at=colleague_at))
    assert f"in Telegram {when}, before your reply" in text
