"""Adversarial replies for trust, session blind39 (issue 19): an answer split in two
text/plain parts around a picture, a text/plain alternative holding only the quote, a
customer's sentence the manager quoted in typographic marks, a byte-order mark and
Outlook's padded list marks. Each rule both ways: what it reads, and the look-alike it
leaves alone."""

from __future__ import annotations

from email.message import EmailMessage

from im2mail.mail.replies import extract

OURS = (
    "Thomas Becker\nWhatsApp\n\nGuten Tag, ich habe am Freitag den Eichentisch Modell Lena "
    "bestellt und möchte wissen, ob die Lieferung nach Leipzig noch vor Weihnachten möglich "
    "ist. Kann ich bar bezahlen?\n\n-- \nReply to this email to answer in WhatsApp.\n"
)
SENTENCE = (
    "ich habe am Freitag den Eichentisch Modell Lena bestellt und möchte wissen, ob die "
    "Lieferung nach Leipzig noch vor Weihnachten möglich ist"
)
QUOTE = "Am Mo., 23. Nov. 2026 um 13:05 Uhr schrieb Thomas Becker:\n\n" + "\n".join(
    "> " + line if line else ">" for line in OURS.rstrip("\n").split("\n")
)


def _plain(body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "sabine@shop.example"
    msg.set_content(body)
    return msg


def _alternative(plain: str, html: str) -> EmailMessage:
    msg = _plain(plain)
    msg.add_alternative(html, subtype="html")
    return msg


# --- a sentence of the customer's the manager put in „…“ ------------------------------------


def _quoted_sentence(line: str, sent: str = OURS) -> EmailMessage:
    return _plain(
        f"Guten Tag Herr Becker,\n\nSie fragten:\n\n{line}\n\nJa, am 18. Dezember.\n\n{QUOTE}\n"
    )


def test_a_customer_sentence_in_typographic_marks_between_own_lines_goes() -> None:
    for line in (f"„{SENTENCE}“", f"“{SENTENCE}.”", f"«{SENTENCE}»"):
        reply = extract(_quoted_sentence(line), [OURS])
        assert reply.doubt is None, line
        assert line in reply.text


def test_the_same_sentence_without_marks_or_in_ascii_quotes_is_still_asked_about() -> None:
    for line in (SENTENCE, f'"{SENTENCE}"'):
        assert extract(_quoted_sentence(line), [OURS]).doubt is not None, line


def test_marks_the_customer_wrote_prove_nothing() -> None:
    ours = OURS.replace(f"Guten Tag, {SENTENCE}.", f"Guten Tag, „{SENTENCE}“.")
    quote = "\n".join("> " + ln if ln else ">" for ln in ours.rstrip("\n").split("\n"))
    body = (
        f"Sie fragten:\n\n„{SENTENCE}“\n\nJa, am 18. Dezember.\n\nAm Mo. schrieb Thomas:\n{quote}\n"
    )
    assert extract(_plain(body), [ours]).doubt is not None


def test_a_marked_sentence_with_no_words_of_the_manager_under_it_is_asked_about() -> None:
    body = f"Sie fragten:\n\n„{SENTENCE}“\n\n{QUOTE}\n"
    assert extract(_plain(body), [OURS]).doubt is not None


# --- the text/plain alternative holds only the quote -----------------------------------------


def test_the_html_answer_goes_when_the_plain_alternative_holds_only_the_quote() -> None:
    html = (
        "<div>Ja, der Tisch kommt am 18. Dezember.</div><div>Sabine</div>"
        "<div>Am Mo. schrieb Thomas Becker:</div><blockquote>"
        + OURS.replace("\n", "<br>")
        + "</blockquote>"
    )
    reply = extract(_alternative("\n\n" + QUOTE + "\n", html), [OURS])
    assert reply.text == "Ja, der Tisch kommt am 18. Dezember.\nSabine"
    assert not reply.quoted_only


def test_both_alternatives_of_the_quote_only_stay_quoted_only() -> None:
    html = "<div><br></div><blockquote>" + OURS.replace("\n", "<br>") + "</blockquote>"
    reply = extract(_alternative("\n\n" + QUOTE + "\n", html), [OURS])
    assert reply.quoted_only


# --- an answer split around a picture into two text/plain parts (Apple Mail) -----------------


def _split(second: str, file_between: bool = True) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "liam@shop.example"
    msg.make_mixed()
    first = EmailMessage()
    first.set_content("Hi Chloe,\n\nhere is the frame from the side:\n")
    msg.attach(first)
    picture = EmailMessage()
    picture.set_content(b"\xff\xd8\xff\xd9", maintype="image", subtype="jpeg")
    picture.add_header("Content-Disposition", "inline", filename="IMG_4471.jpeg")
    rest = EmailMessage()
    rest.set_content(second)
    for part in (picture, rest) if file_between else (rest, picture):
        msg.attach(part)
    return msg


def test_the_answer_goes_on_in_the_text_part_after_the_picture() -> None:
    reply = extract(_split("It is 4 cm deep.\n\nLiam\n\n" + QUOTE + "\n"), [OURS])
    assert reply.text == "Hi Chloe,\n\nhere is the frame from the side:\n\nIt is 4 cm deep.\n\nLiam"
    assert reply.doubt is None
    assert [name for name, _, _ in reply.attachments] == ["IMG_4471.jpeg"]


def test_a_text_part_after_a_file_with_no_quote_anywhere_is_asked_about_not_dropped() -> None:
    reply = extract(_split("It is 4 cm deep.\n\nLiam\n"), [OURS])
    assert reply.doubt is not None  # the answer's rest, or a gateway's disclaimer part
    assert reply.text.endswith("It is 4 cm deep.\n\nLiam")


def test_a_text_part_right_under_the_answer_without_the_quote_stays_out() -> None:
    disclaimer = "This e-mail is confidential and intended solely for the addressee.\n"
    reply = extract(_split(disclaimer, file_between=False), [OURS])
    assert reply.text == "Hi Chloe,\n\nhere is the frame from the side:"
    assert reply.doubt is None


# --- a byte-order mark and Outlook's padded list marks ---------------------------------------


def test_a_byte_order_mark_is_no_word_of_the_manager() -> None:
    body = (
        "\ufeffТак, завтра між 10:00 і 14:00.\n\n\ufeffВід: Ірина <orders@shop.example>\n"
        "Дата: понеділок, 23 листопада 2026 р. о 14:05\nКому: Оксана <oksana@shop.example>\n"
        "Тема: [Telegram] Ірина #3903\n\nІрина\nTelegram\n\nА завтра доставите?\n"
    )
    assert extract(_plain(body)).text == "Так, завтра між 10:00 і 14:00."


def test_a_list_item_padded_to_its_tab_stop_reads_as_the_html_shows_it() -> None:
    plain = "Farben:\n\n  *   Eiche natur\n  *   Nussbaum\n\nJonas\n"
    html = "<p>Farben:</p><ul><li>Eiche natur</li><li>Nussbaum</li></ul><p>Jonas</p>"
    assert (
        extract(_alternative(plain, html)).text == "Farben:\n\n- Eiche natur\n- Nussbaum\n\nJonas"
    )


def test_a_padded_line_the_html_shows_as_no_list_item_stays() -> None:
    plain = "Preise:\n\n  *   Eiche   120 €\n\nJonas\n"
    html = "<p>Preise:</p><p>* Eiche 120 € extra</p><p>Jonas</p>"
    assert "  *   Eiche   120 €" in extract(_alternative(plain, html)).text
