"""Chat → email (mail/builder.py, mail/compose.py), checked the way a manager's mail client
reads it: every email's bytes (as SMTP sends them) are parsed back, then its headers and
parts inspected."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from im2mail.channels import titles
from im2mail.mail.builder import MailBuilder, MailSettings, new_message_id
from im2mail.mail.compose import FilePart, subject
from im2mail.mail.smtp import Envelope
from im2mail.model import Conversation, Customer, Message

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
MAILBOX = "orders@shop.example"
# What the channel registry gives the relay, which passes it on (mail/ knows no channel)
TITLES = titles()
SETTINGS = MailSettings(MAILBOX, ("anna@shop.example", "petro@shop.example"), titles=TITLES)
BUILDER = MailBuilder(SETTINGS)
OLENA = Customer(
    "telegram",
    "1001",
    "Олена",
    "Петренко",
    username="olena_print",
    phone="+380671234567",
    source="instagram_bio",
)
CONV = Conversation(42, OLENA, "shop", "k3x9a0b1c2d3", created=T0)
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 60


def said(text: str, at: timedelta = timedelta(), kind: str = "text", **kw) -> Message:
    return Message(42, "in", "Олена Петренко", text, T0 + at, kind=kind, **kw)


def wire(email: Envelope) -> EmailMessage:
    """What the recipient's client parses: the email's SMTP bytes, read back."""
    return message_from_bytes(email.data, policy=policy.default)  # type: ignore[return-value]


def plain(msg: EmailMessage) -> str:
    return msg.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")


def html(msg: EmailMessage) -> str:
    return msg.get_body(preferencelist=("html",)).get_content().replace("\r\n", "\n")


def mail(*parts: Message, conv: Conversation = CONV, settings=SETTINGS, **kw) -> EmailMessage:
    kw.setdefault("message_id", new_message_id(MAILBOX))
    return wire(MailBuilder(settings).message(parts, conv, **kw))


def decode_thread_index(value: str) -> tuple[datetime, uuid.UUID, list[timedelta]]:
    """An independent reading of Outlook's Thread-Index, the way libpst decodes it:
    header time, GUID, and each child block's time after the header time."""
    raw = base64.b64decode(value)
    assert len(raw) >= 22 and (len(raw) - 22) % 5 == 0, len(raw)
    filetime = int.from_bytes(raw[:6], "big") << 16
    started = datetime(1601, 1, 1, tzinfo=UTC) + timedelta(microseconds=filetime // 10)
    deltas = []
    for offset in range(22, len(raw), 5):
        word = int.from_bytes(raw[offset : offset + 4], "big")
        ticks = (word & 0x7FFFFFFF) << (23 if word >> 31 else 18)
        deltas.append(timedelta(microseconds=ticks // 10))
    return started, uuid.UUID(bytes=raw[6:22]), deltas


def conversation_of_three() -> list[EmailMessage]:
    """Three customer messages in a row, each mailed as the relay does: the earlier
    messages (with the Message-IDs they were mailed with) are the history."""
    history: list[Message] = []
    emails = []
    for n, text in enumerate(["Добрий день", "Потрібні візитки", "500 штук, А4"]):
        mid = new_message_id(MAILBOX)
        message = said(text, at=timedelta(minutes=3 * n))
        emails.append(mail(message, history=list(history), message_id=mid))
        history.append(Message(**{**message.__dict__, "email_message_id": mid}))
    return emails


# -- threading: Gmail, Thunderbird, Apple Mail, Outlook -------------------------------------


def test_three_emails_of_a_conversation_form_one_thread() -> None:
    first, second, third = conversation_of_three()
    ids = [m["Message-ID"] for m in (first, second, third)]
    assert len(set(ids)) == 3
    assert {m["Subject"] for m in (first, second, third)} == {"[Telegram] Олена Петренко #42"}
    assert first["In-Reply-To"] is None and first["References"] is None
    assert second["In-Reply-To"] == ids[0]
    assert second["References"].split() == ids[:1]
    assert third["In-Reply-To"] == ids[1]
    assert third["References"].split() == ids[:2]
    assert {m["Thread-Topic"] for m in (first, second, third)} == {"[Telegram] Олена Петренко #42"}


def test_thread_index_shares_its_header_and_grows_by_one_block_per_email() -> None:
    indexes = [base64.b64decode(m["Thread-Index"]) for m in conversation_of_three()]
    assert [len(i) for i in indexes] == [27, 32, 37]
    assert indexes[0][:22] == indexes[1][:22] == indexes[2][:22]
    assert indexes[1].startswith(indexes[0]) and indexes[2].startswith(indexes[1])


def test_thread_index_decodes_to_the_conversation_start_and_message_times() -> None:
    emails = conversation_of_three()
    started, guid, deltas = decode_thread_index(emails[2]["Thread-Index"])
    assert abs(started - T0) < timedelta(milliseconds=7)  # 2**16 ticks of 100 ns
    assert base64.b64decode(emails[2]["Thread-Index"])[0] == 0x01  # "reserved" per MS-OXOMSG
    for delta, expected in zip(deltas, [0, 3, 6], strict=True):
        assert abs(delta - timedelta(minutes=expected)) < timedelta(milliseconds=60)
    other = mail(said("hi"), conv=Conversation(43, OLENA, "shop", "zz9y8x7w6v5u", created=T0))
    assert decode_thread_index(other["Thread-Index"])[1] != guid  # one GUID per conversation
    assert decode_thread_index(emails[0]["Thread-Index"])[1] == guid


def test_thread_index_handles_a_conversation_years_long() -> None:
    old = Conversation(42, OLENA, "shop", CONV.token, created=T0 - timedelta(days=3 * 365))
    _, _, deltas = decode_thread_index(mail(said("знову я"), conv=old)["Thread-Index"])
    assert abs(deltas[0] - timedelta(days=3 * 365)) < timedelta(seconds=2)


def test_references_keep_the_first_and_the_newest_when_long() -> None:
    history = [
        said(f"m{n}", at=timedelta(minutes=n), email_message_id=f"<m{n}@shop.example>")
        for n in range(30)
    ]
    email = mail(said("ще одне", at=timedelta(hours=1)), history=history)
    refs = email["References"].split()
    assert len(refs) == 20
    assert refs[0] == "<m0@shop.example>" and refs[-1] == "<m29@shop.example>"
    assert email["In-Reply-To"] == "<m29@shop.example>"


def test_album_parts_in_history_count_once_and_managers_replies_are_chained() -> None:
    history = [
        said("", kind="photo", email_message_id="<album@shop.example>"),
        said("", kind="photo", email_message_id="<album@shop.example>"),
        Message(42, "out", "anna@shop.example", "Так", T0, email_message_id="<r1@gmail.com>"),
    ]
    email = mail(said("Дякую"), history=history)
    assert email["References"].split() == ["<album@shop.example>", "<r1@gmail.com>"]
    assert email["In-Reply-To"] == "<r1@gmail.com>"
    assert len(base64.b64decode(email["Thread-Index"])) == 22 + 3 * 5


def test_a_resend_carries_the_same_message_id() -> None:
    mid = new_message_id(MAILBOX)
    first, again = mail(said("Привіт"), message_id=mid), mail(said("Привіт"), message_id=mid)
    assert first["Message-ID"] == again["Message-ID"] == mid
    assert first["Thread-Index"] == again["Thread-Index"]


def test_new_message_ids_are_unique_and_on_the_mailbox_domain() -> None:
    ids = {new_message_id(MAILBOX) for _ in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"<[^<>@\s]+@shop\.example>", i) for i in ids)


# -- who, to whom, about what ---------------------------------------------------------------


def test_from_is_the_customer_via_the_channel_at_the_mailbox() -> None:
    sent = BUILDER.message([said("Привіт")], CONV, message_id=new_message_id(MAILBOX))
    raw = sent.data
    from_line = re.search(rb"^From:.*(?:\r\n[ \t].*)*", raw, re.M).group(0)
    assert b"=?utf-8?" in from_line  # RFC 2047 encoded words, not raw UTF-8
    sender = wire(sent)["From"].addresses[0]
    assert sender.display_name == "Олена Петренко via Telegram"
    assert sender.addr_spec == MAILBOX


def test_reply_to_carries_the_conversation_token() -> None:
    email = mail(said("Привіт"))
    reply_to = email["Reply-To"].addresses[0]
    assert reply_to.addr_spec == "orders+k3x9a0b1c2d3@shop.example"
    assert reply_to.display_name == "Олена Петренко via Telegram"


def test_to_is_every_manager_and_the_date_is_the_message_time() -> None:
    email = mail(said("Привіт", at=timedelta(minutes=5)))
    assert [a.addr_spec for a in email["To"].addresses] == list(SETTINGS.managers)
    assert email["Date"].datetime == T0 + timedelta(minutes=5)
    assert email["X-Im2mail-Conversation"] == "42"
    assert email["Auto-Submitted"] is None  # only notices are auto-generated


@pytest.mark.parametrize(
    ("customer", "expected"),
    [
        (Customer("telegram", "7", username="print_lover"), "[Telegram] @print_lover #42"),
        (Customer("viber", "abc=="), "[Viber] Customer abc== #42"),
    ],
)
def test_subject_falls_back_to_username_then_id(customer: Customer, expected: str) -> None:
    conv = Conversation(42, customer, "shop", "tok", created=T0)
    assert subject(conv, TITLES[customer.channel]) == expected
    assert mail(said("x"), conv=conv)["Subject"] == expected


def test_a_hostile_name_cannot_add_headers() -> None:
    evil = Customer("telegram", "9", "Eve\r\nBcc: all@victim.example", "\u202eevil")
    email = mail(said("x"), conv=Conversation(42, evil, "shop", "tok", created=T0))
    assert email["Bcc"] is None
    assert "\n" not in str(email["Subject"]) and "\u202e" not in str(email["Subject"])
    assert email["From"].addresses[0].addr_spec == MAILBOX


def test_every_email_shows_who_the_customer_is() -> None:
    for email in (mail(said("Привіт")), mail(said("Ще питання", at=timedelta(hours=1)))):
        for body in (plain(email), html(email)):
            assert "Олена Петренко" in body
            assert "@olena_print" in body
            assert "+380671234567" in body
            assert "instagram_bio" in body


def test_the_plain_text_part_has_the_message() -> None:
    body = plain(mail(said("Потрібні візитки, 500 штук\nдвосторонні")))
    assert "Потрібні візитки, 500 штук\nдвосторонні" in body
    assert "Reply to this email" in body


def test_hostile_text_arrives_as_text_in_html() -> None:
    text = '<script>alert("x")</script><img src=x onerror=alert(1)> & "quotes"'
    evil = Customer("telegram", "9", "<b>Bold</b>")
    email = mail(said(text), conv=Conversation(42, evil, "shop", "tok", created=T0))
    body = html(email)
    assert "<script" not in body and "<img src=x" not in body and "<b>Bold" not in body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body
    assert "&amp; &quot;quotes&quot;" in body
    assert text in plain(email)  # the plain part keeps it exactly


def test_an_edited_message_is_marked() -> None:
    email = mail(said("Не 500, а 1000 штук"), edited=True)
    assert "(edited) Не 500, а 1000 штук" in plain(email)
    assert re.search(r"\(edited\)</span> Не 500, а 1000 штук", html(email))
    assert "(edited)" not in plain(mail(said("Не 500, а 1000 штук")))
    assert "(edited)" not in html(mail(said("Не 500, а 1000 штук")))


def test_a_message_without_text_says_what_it_is() -> None:
    assert "(voice message)" in plain(mail(said("", kind="voice")))
    assert "(sticker)" in plain(mail(said("", kind="sticker")))


# -- pictures and files --------------------------------------------------------------------


def test_an_album_is_one_email_with_every_picture_inline() -> None:
    parts = [said("Ось приклади", kind="photo"), said("", kind="photo"), said("", kind="photo")]
    files = [FilePart(f"photo_{n}.jpg", "image/jpeg", len(JPEG), JPEG) for n in range(3)]
    email = mail(*parts, files=files)
    images = [p for p in email.walk() if p.get_content_type() == "image/jpeg"]
    assert len(images) == 3
    assert email.get_content_type() == "multipart/related"
    body = html(email)
    for image in images:
        assert image.get_content_disposition() == "inline"
        assert image.get_content() == JPEG
        assert f'src="cid:{image["Content-ID"].strip().strip("<>")}"' in body
    text = plain(email)
    assert "Ось приклади" in text
    assert all(f"Picture: photo_{n}.jpg" in text for n in range(3))  # text-only readers
    assert "(photo)" not in text


def test_cyrillic_file_names_survive_the_trip() -> None:
    pdf = b"%PDF-1.4\n" + b"0" * 100
    files = [FilePart("макет_візитки_А4.pdf", "application/pdf", len(pdf), pdf)]
    sent = BUILDER.message(
        [said("Макет", kind="document")], CONV, message_id=new_message_id(MAILBOX), files=files
    )
    raw = sent.data
    assert raw.isascii()  # 7-bit: any SMTP server takes it, 8BITMIME or not
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF line ends only
    email = wire(sent)
    [attachment] = list(email.iter_attachments())
    assert attachment.get_filename() == "макет_візитки_А4.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == pdf
    assert "Attached: макет_візитки_А4.pdf" in plain(email)


def test_a_big_file_goes_as_a_link_with_its_size() -> None:
    link = "https://bot.shop.example/f/AAAAtoken"
    files = [FilePart("відео.mp4", "video/mp4", 48 * 1024 * 1024, None, link)]
    email = mail(said("Відео", kind="video"), files=files)
    assert list(email.iter_attachments()) == []
    assert f"відео.mp4 (48.0 MB) — too big to attach; download: {link}" in plain(email)
    assert f'<a href="{link}">download</a>' in html(email)


def test_a_big_file_without_public_url_says_so_clearly() -> None:
    files = [FilePart("архів.zip", "application/zip", 30 * 1024 * 1024)]
    email = mail(said("Архів", kind="document"), files=files)
    for body in (plain(email), html(email)):
        assert "архів.zip (30.0 MB)" in body
        assert "couldn" in body and "be attached" in body
        assert "relay.public_url" in body


def test_the_callers_reason_replaces_the_public_url_hint() -> None:
    note = "Telegram does not let bots download files over 20 MB"
    files = [FilePart("great.mov", "video/quicktime", 25 * 1024 * 1024, note=note)]
    body = plain(mail(said("", kind="video"), files=files))
    assert note in body and "relay.public_url" not in body


def test_bytes_over_the_limit_are_linked_not_attached() -> None:
    settings = MailSettings(MAILBOX, ("anna@shop.example",), max_attachment_bytes=100)
    data = b"x" * 101
    files = [FilePart("a.bin", "application/octet-stream", 101, data, "https://h.example/f/1")]
    email = mail(said("файл"), settings=settings, files=files)
    assert list(email.iter_attachments()) == []
    assert "download: https://h.example/f/1" in plain(email)


def test_what_does_not_fit_the_email_goes_as_a_link() -> None:
    settings = MailSettings(
        MAILBOX, ("a@shop.example",), max_attachment_bytes=60, max_total_bytes=150
    )
    files = [
        FilePart(f"p{n}.png", "image/png", 60, b"p" * 60, f"https://h.example/f/{n}")
        for n in range(3)
    ]
    email = mail(said("три"), settings=settings, files=files)
    assert len([p for p in email.walk() if p.get_content_type() == "image/png"]) == 2
    assert "p2.png (60 B) — too big to attach; download: https://h.example/f/2" in plain(email)


def test_file_names_lose_paths_and_odd_types_become_octet_stream() -> None:
    files = [FilePart("../../etc/passwd", "multipart/mixed", 4, b"root")]
    email = mail(said("x"), files=files)
    [attachment] = list(email.iter_attachments())
    assert attachment.get_filename() == "passwd"
    assert attachment.get_content_type() == "application/octet-stream"


def test_unusual_pictures_are_attached_not_inline() -> None:
    files = [FilePart("IMG_0001.HEIC", "image/heic", 10, b"h" * 10)]
    email = mail(said("", kind="photo"), files=files)
    [attachment] = list(email.iter_attachments())
    assert attachment.get_filename() == "IMG_0001.HEIC"
    assert "cid:" not in html(email)
