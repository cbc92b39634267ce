"""MIME and text quirks of replies from the wild (charsets.py, invisible.py, enriched.py,
reply_parts.continuation and reply_parts.unwrapped): the customer gets the manager's words
as typed, without mojibake, invisible junk, markup or a gateway's report."""

from __future__ import annotations

import email
from email import policy

from im2mail.mail.replies import extract

SENT = (
    "Олег\nTelegram\n\nСкільки коштує друк 500 листівок А5 з двох боків, будь ласка?\n\n"
    "-- \nReply to this email to answer in Telegram.\n"
)


def _mail(head: str, body: bytes) -> email.message.Message:
    raw = (
        "From: Anna <anna@shop.example>\nTo: orders+tok@shop.example\nSubject: Re: x\n"
        "Message-ID: <m1@shop.example>\nMIME-Version: 1.0\n" + head + "\n\n"
    ).encode() + body
    return email.message_from_bytes(raw, policy=policy.default)


def test_windows_1251_labelled_latin1_by_a_relay_is_read_as_cyrillic() -> None:
    answer = "Добрый день, Олег! 500 листовок стоят 1 450 грн."
    msg = _mail(
        "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit",
        answer.encode("cp1251"),
    )
    assert extract(msg).text == answer


def test_koi8_labelled_latin1_and_utf8_labelled_latin1() -> None:
    from im2mail.mail.reply.charsets import relabelled  # new: imported here, the old code lacks it

    text = "Здравствуйте, заказ готов, можно забирать"
    assert relabelled(text.encode("koi8-r"), "iso-8859-1") == text
    assert relabelled("Grüße, Olga".encode(), "ISO-8859-1") == "Grüße, Olga"


def test_latin1_text_with_accents_keeps_its_label() -> None:
    from im2mail.mail.reply.charsets import relabelled

    text = "Grüße aus München: die Größe passt, schöne Farbe, à bientôt, señor"
    assert relabelled(text.encode("latin-1"), "iso-8859-1") is None
    msg = _mail(
        "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit",
        text.encode("latin-1"),
    )
    assert extract(msg).text == text


def test_windows_1251_labelled_utf8_is_no_mojibake() -> None:
    answer = "Здравствуйте, Дмитрий! Термокружка стоит 690 руб."
    msg = _mail(
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit",
        answer.encode("cp1251"),
    )
    assert extract(msg).text == answer


def test_invisible_characters_go_but_joiners_and_rtl_marks_stay() -> None:
    from im2mail.mail.reply.invisible import strip

    assert strip("\ufeffДоброго дня!\u200b Папір\u2060 є") == "Доброго дня! Папір є"
    assert strip("Відправ\u00adлення \u202aOlena\u202c") == "Відправлення Olena"
    family = "Yes \U0001f468\u200d\U0001f469\u200d\U0001f467 \U0001f44d\U0001f3fb"
    assert strip(family) == family  # ZWJ builds the emoji
    hebrew = "\u05e9\u05dc\u05d5\u05dd \u200fOK\u200e"
    assert strip(hebrew) == hebrew  # marks decide how right-to-left text reads


def test_a_bom_and_a_zero_width_space_do_not_reach_the_customer() -> None:
    body = "\ufeffДоброго дня!\u200b Папір буде в четвер.\n".encode()
    msg = _mail("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit", body)
    assert extract(msg).text == "Доброго дня! Папір буде в четвер."


def test_text_enriched_is_read_and_its_excerpt_is_the_quote() -> None:
    body = (
        b"<x-rich>Hi Michael,\n\n\n<bold>yes</bold>, it is\nready.\n\n\nKate\n\n\n"
        b"At 12:05 PM 11/23/2026, you wrote:\n\n"
        b"<excerpt>Is my order ready?\n\n</excerpt></x-rich>\n"
    )
    msg = _mail('Content-Type: text/enriched; charset="us-ascii"', body)
    assert extract(msg, ["Michael\nTelegram\n\nIs my order ready?\n"]).text == (
        "Hi Michael,\n\nyes, it is ready.\n\nKate"
    )


_MIXED = 'Content-Type: multipart/mixed; boundary="B"'


def _part(headers: str, body: str) -> str:
    return f"--B\n{headers}\n\n{body}\n"


def test_a_text_split_around_an_inline_file_is_one_answer() -> None:
    body = (
        _part("Content-Type: text/plain; charset=utf-8", "Ось макет:\n")
        + _part(
            "Content-Disposition: inline; filename=a.jpg\nContent-Type: image/jpeg\n"
            "Content-Transfer-Encoding: base64",
            "/9j/4AAQ",
        )
        + _part(
            "Content-Type: text/plain; charset=utf-8",
            "\nДрукуємо завтра.\n\n> Олег wrote:\n> Скільки коштує друк?",
        )
        + "--B--\n"
    )
    reply = extract(_mail(_MIXED, body.encode()))
    assert reply.text == "Ось макет:\n\nДрукуємо завтра."
    assert [a[0] for a in reply.attachments] == ["a.jpg"]


def test_a_second_text_part_with_no_file_before_it_is_not_joined() -> None:
    body = (
        _part("Content-Type: text/plain; charset=utf-8", "Готово, можна забирати.")
        + _part("Content-Type: text/plain; charset=utf-8", "This message was scanned by a gateway.")
        + "--B--\n"
    )
    assert extract(_mail(_MIXED, body.encode())).text == "Готово, можна забирати."


def _wrapped(inner_id: str) -> email.message.Message:
    inner = (
        f"From: Anna <anna@shop.example>\nMessage-ID: {inner_id}\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\n\nТак, 890 грн.\n\n"
        "23.11.2026 14:05, Олег пише:\n" + "".join(f"> {line}\n" for line in SENT.split("\n"))
    )
    body = (
        _part("Content-Type: text/plain", "Spam detection software has identified this email.")
        + _part("Content-Type: message/rfc822\nContent-Disposition: inline", inner)
        + "--B--\n"
    )
    return _mail(_MIXED, body.encode())


def test_a_reply_wrapped_by_a_gateway_is_read_from_inside() -> None:
    reply = extract(_wrapped("<m1@shop.example>"), [SENT])
    assert reply.text == "Так, 890 грн."
    assert reply.attachments == ()


def test_an_attached_mail_of_another_id_is_no_wrapper() -> None:
    reply = extract(_wrapped("<other@shop.example>"))
    assert reply.text.startswith("Spam detection software")
