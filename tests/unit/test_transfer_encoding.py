"""Replies with a broken Content-Transfer-Encoding (mail/transfer_encoding.py): the part is
named, nothing goes to the customer, and its author gets a notice instead of the customer
getting a wall of base64 or a damaged file."""

from __future__ import annotations

import base64
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from im2mail.mail.builder import MailSettings
from im2mail.mail.replies import extract
from im2mail.mail.reply.transfer_encoding import problem
from im2mail.model import NOT_SENT
from im2mail.relay.reply_intake import ReplyIntake, ReplySettings
from tests.support.archive_sql import reading
from tests.support.chats import customer

MAILBOX = "orders@shop.example"
ANNA = "anna@shop.example"
TEXT = "Привіт! Рахунок у вкладенні."
B64 = base64.b64encode(TEXT.encode()).decode()  # 52 characters, padded
PDF = base64.b64encode(b"%PDF-1.7\n" + bytes(range(256))).decode()


def part(cte: str, body: str, ctype: str = "text/plain; charset=utf-8") -> bytes:
    return (f"Content-Type: {ctype}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n{body}\r\n").encode()


def parse(raw: bytes):
    return BytesParser(policy=policy.default).parsebytes(raw)


@pytest.mark.parametrize(
    ("cte", "body"),
    [
        ("base64", B64),
        ("Base64", B64),  # case does not matter
        ("base64", B64[:40] + "\r\n" + B64[40:]),  # line breaks are no defect
        ("quoted-printable", "=D0=9F=D1=80=D0=B8=D0=B2=D1=96=D1=82 a=3Db =\r\nsoft break"),
        ("quoted-printable", "x = y, 5=G"),  # stray "=" kept as written (RFC 2045 6.7)
        ("7bit", "plain"),
        ("8BIT", "Привіт"),
        ("binary", "Привіт"),
        ("8bit ", "trailing space on an identity encoding is harmless"),
    ],
)
def test_intact_encodings_are_fine(cte, body):
    assert problem(parse(part(cte, body))) is None


def test_no_transfer_encoding_header_is_7bit():
    assert problem(parse(b"Content-Type: text/plain\r\n\r\nhello\r\n")) is None


@pytest.mark.parametrize(
    ("cte", "body", "says"),
    [
        ("base64", B64[:20] + "!!%%" + B64[20:], "characters that are not base64"),
        ("base64", B64[:-2].rstrip("="), "padding missing"),  # cut off on the way
        ("base64", B64 + "A", "a length no base64 data can have"),
        ("quoted-printable", "=D0=9F=D1=80=D0=B8=D0=B2=D1=9", "cut short"),
        ("quoted-printable", "=D0=9F=D\r\n=80 rest", "cut short"),
        ("Base64  ", B64, "'base64'"),  # not decoded by the email package: raw base64
        ("base-64", B64, "'base-64'"),
        ("x-uuencode", "begin 644 x\r\nnot uu at all\r\nend", "'x-uuencode'"),
        ("gzip", "\x1f\x8b", "'gzip'"),
    ],
)
def test_broken_encodings_are_named(cte, body, says):
    found = problem(parse(part(cte, body)))
    assert found is not None and says in found


def test_checking_twice_gives_the_same_answer_and_does_not_pile_up_defects():
    msg = parse(part("base64", B64[:20] + "!!" + B64[20:]))
    assert problem(msg) == problem(msg)
    assert msg.defects == []


def multipart(*parts: bytes) -> bytes:
    head = (
        b"From: Anna <anna@shop.example>\r\nTo: orders+abcdefabcdef@shop.example\r\n"
        b"Subject: Re: [Telegram] Olena #1\r\nMessage-ID: <m1@mail.example>\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
    )
    return head + b"".join(b"--b\r\n" + p for p in parts) + b"--b--\r\n"


def attachment(name: str, body: str) -> bytes:
    return (
        f'Content-Type: application/pdf; name="{name}"\r\n'
        f'Content-Disposition: attachment; filename="{name}"\r\n'
        f"Content-Transfer-Encoding: base64\r\n\r\n{body}\r\n"
    ).encode()


def test_extract_names_a_broken_text_body():
    reply = extract(parse(multipart(part("base64", "0J/R!!!" + B64))))
    assert reply.broken == ("the text of your email: its base64 encoding is broken: "
                            "characters that are not base64",)  # fmt: skip


def test_extract_names_a_broken_attachment_and_keeps_good_ones_unnamed():
    raw = multipart(
        part("base64", B64), attachment("ok.pdf", PDF), attachment("Рахунок.pdf", PDF[:-3])
    )
    reply = extract(parse(raw))
    assert reply.text == TEXT
    (only,) = reply.broken
    assert only.startswith("the attached file 'Рахунок.pdf': its base64 encoding is broken")


def test_a_broken_html_alternative_that_is_not_used_is_no_problem():
    alternative = (
        b'Content-Type: multipart/alternative; boundary="a"\r\n\r\n--a\r\n'
        + part("base64", B64)
        + b"--a\r\n"
        + part("base64", "PGI+!!!", "text/html; charset=utf-8")
        + b"--a--\r\n"
    )
    reply = extract(parse(multipart(alternative)))
    assert (reply.text, reply.broken) == (TEXT, ())


def test_an_html_only_reply_with_a_broken_body_is_named():
    html = base64.b64encode("<p>Привіт</p>".encode()).decode()
    reply = extract(parse(multipart(part("base64", html[:-1], "text/html; charset=utf-8"))))
    assert reply.html_only and reply.broken[0].startswith("the text of your email")


def test_no_email_of_the_real_clients_corpus_is_taken_for_broken():
    corpus = sorted((Path(__file__).parents[1] / "data").rglob("*.eml"))
    assert len(corpus) > 40
    flagged = {p.name: extract(parse(p.read_bytes())).broken for p in corpus}
    assert {name: broken for name, broken in flagged.items() if broken} == {}


# -- intake ----------------------------------------------------------------------------------


def test_a_reply_with_a_broken_attachment_sends_nothing_and_names_it(archive):
    conv = customer(archive)
    intake = ReplyIntake(archive, ReplySettings(MailSettings(MAILBOX, (ANNA,))))
    raw = multipart(part("base64", B64), attachment("Рахунок.pdf", PDF[:-3]))
    raw = raw.replace(b"abcdefabcdef", conv.token.encode())
    assert intake.handle(1, raw) == "done"  # handled once: a notice, not a retry loop
    with reading(archive) as db:
        rows = db.execute("SELECT target, kind, note FROM outbox").fetchall()
        files = db.execute("SELECT count(*) FROM attachments").fetchone()[0]
    ((target, kind, note),) = rows
    assert (target, kind) == ("mail", NOT_SENT)  # no delivery to the customer
    assert "'Рахунок.pdf'" in note and "base64" in note and "nothing was sent" in note
    assert files == 0  # the damaged file is not kept as if it were the manager's
    (stored,) = [e for e in archive.recent(5) if e.direction == "out"]
    assert stored.text == ""
