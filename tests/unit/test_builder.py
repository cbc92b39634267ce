"""The bytes of every email mail/builder.py makes, checked as a mail client and an SMTP
server take them: 7-bit, CRLF, lines of at most 78 characters (998 for the one-token
headers Outlook writes that way), and parsed back by the email package without a defect,
every header once, every part decoding to what was meant. test_compose.py and
test_notices.py check what the emails say; this checks that they are well-formed."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import UTC, date, timedelta
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.message import EmailMessage

import pytest

from im2mail.archive.stats import Figures, Report, Waiting
from im2mail.mail import mime
from im2mail.mail.builder import MailBuilder, MailSettings, digest_message_id, new_message_id
from im2mail.mail.compose import FilePart
from im2mail.mail.smtp import Envelope
from im2mail.model import Attachment, Conversation, Customer, Message
from tests.unit.test_compose import CONV, JPEG, MAILBOX, SETTINGS, T0, TITLES, html, plain, said

BUILDER = MailBuilder(SETTINGS)
OUTLOOK_ID = "<AM0PR04MB1234567890ABCDEF1234567890ABCDEFAB@AM0PR04MB1234.eurprd04.prod.outlook.com>"
HISTORY = [
    said("Добрий день", email_message_id="<c1@shop.example>"),
    Message(
        42,
        "out",
        "anna@shop.example",
        "Так",
        T0 + timedelta(minutes=1),
        email_message_id=OUTLOOK_ID,
    ),
]
REPLY = Message(42, "out", "anna@shop.example", "Ось рахунок", T0 + timedelta(minutes=2),
                email_message_id="<r1@mail.gmail.com>")  # fmt: skip
NOW = T0 + timedelta(minutes=3)
FILES = [
    FilePart("макет візитки, двосторонній, остаточний варіант 🙂.jpg", "image/jpeg", 64, JPEG),
    FilePart('рахунок "фінальний".pdf', "application/pdf", 9, b"%PDF-1.4\n"),
    FilePart("a" * 70 + ".txt", "text/plain", 5, b"hello"),
    FilePart("відео.mp4", "video/mp4", 48 * 1024 * 1024, None, "https://bot.example/f/x"),
]
REPORT = Report(
    T0, T0 + timedelta(days=1), NOW, 3,
    managers=(Figures("manager", "anna@shop.example", 2, 2, 2, 60.0, 90.0),),
    channels=(Figures("channel", "whatsapp", 2, 2, 2, 60.0, 90.0),),
    unanswered=(Waiting(42, "whatsapp", "shop", "Олена Петренко", None, None, T0, 1, 600.0,
                        600.0),),
)  # fmt: skip


def one(**kw) -> dict:
    return {"message_id": new_message_id(MAILBOX), "date": NOW, "history": HISTORY, **kw}


EVERY_EMAIL: dict[str, Callable[[], Envelope]] = {
    "message": lambda: BUILDER.message(
        [said("Привіт! " * 30)], CONV, history=HISTORY, message_id=new_message_id(MAILBOX)
    ),
    "album": lambda: BUILDER.message(
        [said("Ось", kind="photo"), said("", kind="photo")],
        CONV,
        files=FILES,
        history=HISTORY,
        message_id=new_message_id(MAILBOX),
        transcript="https://bot.example/c/t",
    ),
    "undelivered": lambda: BUILDER.undelivered(REPLY, CONV, reason="Forbidden", **one()),
    "team notice": lambda: BUILDER.team_notice(REPLY, CONV, to=["petro@shop.example"], **one()),
    "colleague": lambda: BUILDER.colleague_warning(
        REPLY, CONV, colleague="Петро", colleague_at=T0, **one()
    ),
    "in doubt": lambda: BUILDER.in_doubt(REPLY, CONV, what="part 2 of 3", **one()),
    "unverified": lambda: BUILDER.unverified(
        REPLY, CONV, manager="anna@shop.example", why="dmarc=fail", **one()
    ),
    "reminder": lambda: BUILDER.reminder(
        CONV, [said("Є хтось?")], waited=timedelta(minutes=20), business=None, **one()
    ),
    "digest": lambda: BUILDER.digest(
        REPORT, date(2026, 11, 23), to=["owner@shop.example"], date=NOW, zone_label="UTC"
    ),
    "flood digest": lambda: BUILDER.flood_digest(
        CONV,
        [said(f"спам {i}") for i in range(3)],
        [],
        count=3,
        files=0,
        limit=2,
        zone=UTC,
        **one(),
    ),
    "block notice": lambda: BUILDER.block_notice(
        CONV, blocked=True, by="anna@shop.example", answering="<b1@mail.gmail.com>", **one()
    ),
}


def parsed(email: Envelope) -> EmailMessage:
    return message_from_bytes(email.data, policy=policy.default)  # type: ignore[return-value]


@pytest.mark.parametrize("kind", sorted(EVERY_EMAIL))
def test_every_email_is_7bit_crlf_with_short_lines(kind: str) -> None:
    data = EVERY_EMAIL[kind]().data
    assert data.isascii()
    assert b"\n" not in data.replace(b"\r\n", b"") and b"\r" not in data.replace(b"\r\n", b"")
    for line in data.split(b"\r\n"):
        # a Message-ID or a Thread-Index can't be folded: it gets a line of its own
        one_token = line.startswith((b"Thread-Index: ", b"In-Reply-To: ", b" <"))
        assert len(line) <= (998 if one_token and len(line.split()) <= 2 else 78), line


@pytest.mark.parametrize("kind", sorted(EVERY_EMAIL))
def test_every_email_parses_without_a_defect_and_has_each_header_once(kind: str) -> None:
    email = EVERY_EMAIL[kind]()
    msg = parsed(email)
    names = [k.lower() for k in msg]
    assert len(names) == len(set(names)), names
    for part in msg.walk():
        assert not part.defects, (part.get_content_type(), part.defects)
        for name, value in part.items():
            assert not getattr(value, "defects", ()), (name, value.defects)
    assert msg["MIME-Version"] == "1.0" and msg["Message-ID"] == email.message_id
    (alternative,) = [p for p in msg.walk() if p.get_content_type() == "multipart/alternative"]
    kinds = [p.get_content_type() for p in alternative.iter_parts()]
    assert kinds == ["text/plain", "text/html"]
    assert plain(msg).endswith("\n") and "</html>" in html(msg)


@pytest.mark.parametrize("kind", sorted(EVERY_EMAIL))
def test_the_envelope_is_what_the_headers_say(kind: str) -> None:
    email = EVERY_EMAIL[kind]()
    msg = parsed(email)
    assert email.sender == MAILBOX == msg["From"].addresses[0].addr_spec
    assert email.recipients == [a.addr_spec for a in msg["To"].addresses]
    assert email.to == ", ".join(email.recipients)


def test_outlook_message_ids_and_the_thread_index_stay_as_outlook_wrote_them() -> None:
    """The email package would fold these into RFC 2047 words (a Message-ID over ~60
    characters, a Thread-Index of many emails), which clients don't read in them."""
    history = [HISTORY[0], *(said(f"m{n}", email_message_id=f"<m{n}@shop.example>")
                           for n in range(10))]  # fmt: skip
    history.append(Message(42, "out", "anna@shop.example", "!", T0, email_message_id=OUTLOOK_ID))
    data = BUILDER.message([said("ще")], CONV, history=history, message_id="<x@shop.example>").data
    assert f"In-Reply-To: {OUTLOOK_ID}\r\n".encode() in data
    assert b"=?" not in re.search(rb"References:.*?\r\n(?! )", data, re.S)[0]
    assert re.search(rb"\r\nThread-Index: [A-Za-z0-9+/=]{90,}\r\n", data)
    msg = message_from_bytes(data, policy=policy.default)
    assert msg["In-Reply-To"] == OUTLOOK_ID and msg["References"].split()[-1] == OUTLOOK_ID


@pytest.mark.parametrize(
    "bad",
    [
        "<two words@x>",
        "<кирилиця@x>",
        "<a@x>\r\nBcc: all@victim.example",
        "<a<b>@x>",
        "",
        "x" * 990,
    ],
)
def test_a_malformed_message_id_in_the_history_is_left_out_of_the_threading(bad: str) -> None:
    """A manager's mail program made it: it must neither break the email nor add a header."""
    history = [said("a", email_message_id="<ok@shop.example>"),
               Message(42, "out", "anna@shop.example", "b", T0, email_message_id=bad)]  # fmt: skip
    email = BUILDER.message([said("ще")], CONV, history=history, message_id="<n@shop.example>")
    msg = parsed(email)
    assert msg["Bcc"] is None and not msg.defects
    assert msg["In-Reply-To"] == "<ok@shop.example>"
    assert msg["References"].split() == ["<ok@shop.example>"]


@pytest.mark.parametrize("bad", ["<a b@x>", "<a@x>\r\nBcc: x@y.z", "<ї@x>"])
def test_an_email_of_its_own_with_a_malformed_message_id_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a Message-ID"):
        BUILDER.message([said("x")], CONV, message_id=bad)


def test_a_resend_is_byte_identical() -> None:
    mid = new_message_id(MAILBOX)
    first = BUILDER.message(
        [said("Привіт")], CONV, files=FILES[:2], history=HISTORY, message_id=mid
    )
    again = BUILDER.message(
        [said("Привіт")], CONV, files=FILES[:2], history=HISTORY, message_id=mid
    )
    assert first.data == again.data and first.message_id == mid


def test_file_names_of_any_length_and_script_come_back_whole() -> None:
    email = EVERY_EMAIL["album"]()
    msg = parsed(email)
    names = [p.get_filename() for p in msg.walk() if p.get_filename()]
    assert names == [FILES[0].filename, FILES[1].filename, FILES[2].filename]
    for part in msg.walk():
        if part.get_filename():
            assert part.get_param("name") == part.get_filename()  # for older clients
    # RFC 2231 continuations are split between characters, never inside one's bytes
    chunks = re.findall(rb"filename\*\d+\*=([^;\r]+)", email.data)
    assert len(chunks) > 2
    for chunk in chunks:
        decoded = re.sub(rb"%([0-9A-F]{2})", lambda m: bytes([int(m[1], 16)]), chunk)
        decoded.split(b"''")[-1].decode("utf-8")  # each continuation is whole UTF-8
    pictures = [p for p in msg.walk() if p.get_content_type() == "image/jpeg"]
    assert pictures[0].get_content() == JPEG and pictures[0].get_content_disposition() == "inline"


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Hello,\nplain ASCII in short lines.", "7bit"),
        ("Добрий день! Скільки коштують візитки?", "base64"),
        ("A long ASCII line " * 10 + "= done\tand a tab \n.\nFrom here", "quoted-printable"),
        ("nul\x00 and \x1b escape", "quoted-printable"),
    ],
)
def test_text_is_sent_in_the_shortest_safe_encoding_and_decodes_back(text, encoding) -> None:
    head, body = mime.text(text, "plain")
    assert f"Content-Transfer-Encoding: {encoding}\r\n" in head
    part = message_from_bytes(head.encode() + b"\r\n" + body, policy=policy.default)
    assert part.get_content().replace("\r\n", "\n") == text + "\n"
    assert all(len(line) <= 78 for line in body.split(b"\r\n"))


def test_a_part_holding_the_boundary_gets_another() -> None:
    clean = mime.multipart("alternative", [mime.text("a", "plain")], "seed")
    boundary = re.search(r'boundary="([^"]+)"', clean[0])[1]
    tricky = mime.text(f"--{boundary}\n--{boundary}--", "plain")  # short ASCII: sent as is
    head, body = mime.multipart("mixed", [tricky, mime.text("b", "plain")], "seed")
    assert boundary not in head
    msg = message_from_bytes(head.encode() + b"\r\n" + body, policy=policy.default)
    texts = [p.get_content().replace("\r\n", "\n") for p in msg.iter_parts()]
    assert texts == [f"--{boundary}\n--{boundary}--\n", "b\n"]


def test_a_renamed_customer_gets_emails_in_the_new_name() -> None:
    """Encoded headers are remembered per value, never per conversation."""
    renamed = Conversation(42, Customer("telegram", "1001", "Олена", "Коваль"), "shop",
                           CONV.token, created=T0)  # fmt: skip
    before, after = (parsed(BUILDER.message([said("x")], c, message_id="<a@x>"))
                     for c in (CONV, renamed))  # fmt: skip
    assert before["Subject"] == "[Telegram] Олена Петренко #42"
    assert after["Subject"] == "[Telegram] Олена Коваль #42"
    assert after["From"].addresses[0].display_name == "Олена Коваль via Telegram"


def test_the_channels_titles_come_from_the_settings() -> None:
    wa = Conversation(7, Customer("whatsapp", "1555", "Оксана"), "wa", "tok", created=T0)
    titled = parsed(BUILDER.message([said("x")], wa, message_id="<a@x>"))
    untitled = parsed(MailBuilder(MailSettings(MAILBOX, ("a@shop.example",))).message(
        [said("x")], wa, message_id="<a@x>"))  # fmt: skip
    assert titled["Subject"] == "[WhatsApp] Оксана #7" and TITLES["whatsapp"] == "WhatsApp"
    assert untitled["Subject"] == "[Whatsapp] Оксана #7"  # no title given: capitalised


def test_the_digest_has_a_message_id_of_its_day_and_no_thread() -> None:
    msg = parsed(EVERY_EMAIL["digest"]())
    assert msg["Message-ID"] == digest_message_id(MAILBOX, date(2026, 11, 23))
    assert msg["Reply-To"] is None and msg["In-Reply-To"] is None and msg["Thread-Index"] is None
    assert "WhatsApp" in plain(msg)  # the channels' own titles


def test_a_malformed_recipient_is_refused() -> None:
    with pytest.raises(ValueError):
        BUILDER.team_notice(REPLY, CONV, to=["not an address"], **one())


def test_message_ids_are_minted_on_the_mailbox_domain_from_the_settings() -> None:
    ids = {SETTINGS.new_message_id() for _ in range(20)}
    assert len(ids) == 20 and all(i.endswith("@shop.example>") for i in ids)
    tag = hashlib.sha256(f"{MAILBOX}:2026-11-23".encode()).hexdigest()[:16]
    assert digest_message_id(MAILBOX, date(2026, 11, 23)) == (
        f"<digest-2026-11-23.{tag}.im2mail@shop.example>"
    )


def test_a_team_notice_names_files_without_carrying_them() -> None:
    reply = Message(42, "out", "anna@shop.example", "", T0, email_message_id="<r@x>",
                    attachments=(Attachment("макет.pdf", "application/pdf", 2048),))  # fmt: skip
    msg = parsed(BUILDER.team_notice(reply, CONV, to=["petro@shop.example"], **one()))
    assert list(msg.iter_attachments()) == [] and "макет.pdf (2 KB)" in plain(msg)


@pytest.mark.parametrize(
    "name",
    [
        "Олена Петренко",
        "Dr. Who, Jr.",
        'Ann "the boss" O\'Neil',
        "Олена (Dr.) <boss@x>; Петренко",
        "=?utf-8?q?Admin?= Support",
        "🙂" * 30,
        "Ж" * 79,
        "Mary-Jane Smith_2",
        "x" * 79,
        "Оле\\на",
    ],
)
def test_a_customers_name_comes_back_exactly_however_it_is_encoded(name: str) -> None:
    customer = Customer("telegram", "1", name)
    conversation = Conversation(42, customer, "shop", "tok123", created=T0)
    shown = customer.display_name  # as written in the headers: cut to 80 characters
    email = BUILDER.message([said("x")], conversation, message_id="<a@shop.example>")
    msg = parsed(email)
    for header in ("From", "Reply-To"):
        assert not msg[header].defects and len(msg[header].addresses) == 1
        if shown.isascii() and max(len(w) for w in shown.split()) <= 60:
            assert msg[header].addresses[0].display_name == f"{shown} via Telegram", header
        else:
            assert as_rfc2047_reads(email.data, header).startswith(f"{shown} via Telegram <")
    assert msg["Subject"] == msg["Thread-Topic"] == f"[Telegram] {shown} #42"
    assert as_rfc2047_reads(email.data, "Subject") == f"[Telegram] {shown} #42"
    assert not msg.defects and email.data.isascii()
    head = email.data.split(b"\r\n\r\n")[0]
    for line in head.split(b"\r\n"):
        assert len(line) <= 78 or line.startswith(b"Thread-Index: "), line
        assert line.strip(), "a line of only spaces"


def as_rfc2047_reads(data: bytes, name: str) -> str:
    """The header as a mail client reads it: unfolded, its encoded words decoded and the
    whitespace between two of them dropped (RFC 2047 §6.2; the email package's newer
    parser keeps a space there in display names, so it can't be the judge)."""
    found = re.search(rb"^%s: (.*?)\r\n(?![ \t])" % name.encode(), data, re.M | re.S)
    assert found, name
    return str(make_header(decode_header(found[1].decode("ascii").replace("\r\n", ""))))
