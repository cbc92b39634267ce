"""Structure over phrasing, session blind26 (issue 19): the customer's words echoed in the
manager's own sentence, typed signatures in a first reply, answers inside or under a quote
no ">" marks, our email forwarded as an attachment, attributions laid right under the
answer or without their colon, quotes drawn with a left bar. Each rule both ways: what it
cuts or keeps, and the look-alike it leaves alone."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from im2mail.mail.replies import extract, strip_text

OURS = (
    "Ірина Лисенко\nTelegram\n\nЗдрастуйте! Чи є у вас крафт-пакети з логотипом? Потрібно 200 штук."
)


def extract_text(body: str, sent: list[str]) -> str:
    msg = EmailMessage()
    msg.set_content(body)
    return extract(msg, sent).text


# --- the customer's words echoed in the manager's own sentence (issue 19 item 2) ------------

ASKED = (
    "Марія Бондар\nTelegram\n\nВітаю! Чи можна замовити торт на 2 кг з написом на неділю?\n\n"
    "-- \nReply to this email to answer in Telegram.\n"
)


def _plain(body: str, sender: str = "olena@shop.example") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg.set_content(body)
    return msg


def test_an_answer_that_echoes_the_question_in_its_own_sentence_goes() -> None:
    answer = "Вітаю, Маріє! Так, торт на 2 кг з написом на неділю приймаємо, 1 100 грн."
    reply = extract(_plain(f"{answer}\n"), [ASKED])
    assert (reply.text, reply.doubt) == (answer, None)


@pytest.mark.parametrize(
    "body",
    [
        # the customer's whole line with the answer glued on: a quoted line, no sentence
        "Вітаю! Чи можна замовити торт на 2 кг з написом на неділю? Так, 1 100 грн, у неділю\n",
        # a line that is mostly ours
        "Так, 1 100 грн.\n\nЧи можна замовити торт на 2 кг з написом на неділю, Марія\n\nОлена\n",
    ],
)
def test_our_words_that_are_not_an_echo_are_still_held_back(body: str) -> None:
    assert extract(_plain(body), [ASKED]).doubt is not None


# --- a first reply's typed signature, named by the From header -------------------------------


def test_a_first_reply_loses_the_signature_typed_under_it() -> None:
    body = "Так, 780 грн.\n\nОлена\nМенеджер з продажу\n+380 67 555 12 34\n"
    reply = extract(_plain(body, "Olena Shevchenko <olena@shop.example>"), [ASKED])
    assert reply.text == "Так, 780 грн."
    assert reply.signature == "Олена\nМенеджер з продажу\n+380 67 555 12 34"  # kept: learning
    # the same lines from a sender they do not name go out as written
    other = extract(_plain(body, "Petro <petro@shop.example>"), [ASKED])
    assert (other.text, other.signature) == (body.strip(), None)


# --- answers typed between the lines of our email under a quote no ">" marks --------------

THREE = (
    "Катерина Бойко\nViber\n\nДобрий день!\nСкільки коштує друк 100 листівок А6?\n"
    "Чи можна забрати в суботу?\n\n-- \nReply to this email to answer in Viber.\n"
)
OUTLOOK_HEADER = (
    "________________________________\nВід: Катерина Бойко via Viber <orders@shop.example>\n"
    "Надіслано: 23 листопада 2026 р. 14:05\nКому: anna@shop.example\nТема: [Viber] #1\n\n"
)


def test_answers_typed_between_our_lines_under_a_header_block_go_out() -> None:
    body = (
        "Відповіді нижче.\n\n" + OUTLOOK_HEADER + "Катерина Бойко\nViber\n\nДобрий день!\n"
        "Скільки коштує друк 100 листівок А6?\n350 грн.\nЧи можна забрати в суботу?\n"
        "[Анна] Так, з 10:00.\n\n-- \nReply to this email to answer in Viber.\n"
    )
    reply = extract(_plain(body), [THREE])
    assert (reply.text, reply.doubt) == (
        "Відповіді нижче.\n\n350 грн.\n\n[Анна] Так, з 10:00.",
        None,
    )
    # without our text to go by, nothing tells them from the quote: the quote is cut
    assert extract(_plain(body)).text == "Відповіді нижче."


def test_a_note_under_a_header_block_of_its_own_is_no_answer() -> None:
    """A colleague's note (or an older reply) in a forwarded chain stands under a header
    block, not under a line of ours: it is history, not the manager's answer."""
    body = (
        "Так, 350 грн.\n\n"
        + OUTLOOK_HEADER
        + "Глянь, будь ласка, ти знаєш ціни.\n\n"
        + OUTLOOK_HEADER
        + THREE
    )
    assert extract(_plain(body), [THREE]).text == "Так, 350 грн."


OWA = (
    '<div>Answers below.</div><div id="appendonsend"></div><hr><div id="divRplyFwdMsg">'
    "<b>From:</b> Tom via WhatsApp &lt;orders@shop.example&gt;<br><b>Sent:</b> Monday, "
    "November 23, 2026 12:05 PM<br><b>Subject:</b> [WhatsApp] Tom #2</div>"
)
OURS_EN = "Tom\nWhatsApp\n\nHow much for 50 mugs?\nCan you deliver to Leeds?\n\n" + (
    "-- \nReply to this email.\n"
)


def _html(body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "anna@shop.example"
    msg.set_content(body, subtype="html")
    return msg


def test_answers_typed_inside_outlooks_quoted_history_in_html_go_out() -> None:
    lines = OURS_EN.rstrip().split("\n")
    quote = "".join(f"<div>{line}</div>" for line in lines[:4])
    rest = "".join(f"<div>{line}</div>" for line in lines[4:])
    body = OWA + quote + '<div style="color:red">12 GBP each.</div>' + rest
    assert extract(_html(body), [OURS_EN]).text == "Answers below.\n\n12 GBP each."
    # the same history with nothing typed in it is only cut
    body = OWA + quote + rest
    assert extract(_html(body), [OURS_EN]).text == "Answers below."


# --- our own email forwarded as an attachment ---------------------------------------------


def _forward_with(attached_text: str, html: bool = False) -> EmailMessage:
    import email
    from email import policy

    inner = EmailMessage()
    inner["From"] = "Катерина Бойко via Viber <orders@shop.example>"
    inner["To"] = "anna@shop.example, petro@shop.example"
    inner["Subject"] = "[Viber] Катерина Бойко #1"
    inner.set_content(attached_text)
    if html:
        inner.add_alternative(f"<p>{attached_text}</p>", subtype="html")
        inner.get_payload().pop(0)  # HTML only
        inner.replace_header("Content-Type", "multipart/alternative")
    outer = _plain("Катерино, 350 грн, забрати можна завтра.\n", "anna@shop.example")
    outer.add_attachment(inner)
    return email.message_from_bytes(outer.as_bytes(), policy=policy.default)  # type: ignore[return-value]


@pytest.mark.parametrize("html", [False, True])
def test_our_email_forwarded_as_an_attachment_does_not_reach_the_customer(html: bool) -> None:
    reply = extract(_forward_with(THREE, html), [THREE])
    assert reply.text == "Катерино, 350 грн, забрати можна завтра."
    assert reply.attachments == ()  # the managers' addresses and the history stay home


def test_an_email_of_someone_elses_attached_still_goes() -> None:
    other = "Рахунок № 17 від постачальника паперу: 12 пачок А4, разом 2 400 грн.\n"
    reply = extract(_forward_with(other), [THREE])
    assert [a[1] for a in reply.attachments] == ["message/rfc822"]


# --- an attribution laid right under the manager's last line (HTML webmail) ---------------

ANSWERS = [
    "Hi Ivan, 350 UAH, tomorrow after 12:00.",  # a sentence with a time in it
    "Ціна 480 грн за 100 штук, забрати можна завтра",  # long, digits, no full stop
    "Ціна 480 грн",
]
GLUED = [
    "2026年11月23日(月) 14:05 Ivan Petrenko via Telegram <orders@shop.example>:",
    "Pada tanggal Sen, 23 Nov 2026 14.05, Ivan Petrenko via Telegram <orders@shop.example> "
    "menulis:",
    "Ivan Petrenko via Telegram <orders@shop.example> kirjoitti 23.11.2026 kello 14.05:",
    "Zitat von Ivan Petrenko via Telegram <orders@shop.example>:",
    "Ivan Petrenko via Telegram <orders@shop.example>\nпише:",  # wrapped, by a <br>
]


@pytest.mark.parametrize("attribution", GLUED)
@pytest.mark.parametrize("answer", ANSWERS)
def test_an_attribution_right_under_the_answer_goes_and_the_answer_stays(
    answer: str, attribution: str
) -> None:
    """An HTML reply lays the attribution's block right under the manager's last one, no
    blank line between: the last line with its time or price is no wrapped attribution."""
    html = f"<div>{answer}</div><div>{attribution.replace(chr(10), '<br>')}</div>".replace(
        "<orders@shop.example>", "&lt;orders@shop.example&gt;"
    )
    msg = EmailMessage()
    msg.set_content(
        html + "<blockquote><div>Ivan Petrenko</div><div>Telegram</div></blockquote>",
        subtype="html",
    )
    assert extract(msg).text == answer
    assert strip_text(f"{answer}\n{attribution}\n> Ivan Petrenko\n") == answer


# --- an attribution without its colon, a paragraph of its own over the quote ----------------


@pytest.mark.parametrize(
    "attribution",
    [
        # wrapped by the client, a blank line between it and the quote
        "пт, 21 лист. 2026 р. о 10:15 Ivan Petrenko via Telegram <\norders@shop.example> пише",
        'Le lundi 23 novembre 2026 13:05 CET, "Hugo" <orders@shop.example> a écrit',
        "2026-11-23, pr, 14:05 Rūta <mailto:orders@shop.example> rašė",
    ],
)
def test_an_attribution_without_its_colon_over_a_blank_line_goes(attribution: str) -> None:
    body = f"Так, 350 грн.\n\n{attribution}\n\n> Доброго дня! Скільки коштує?\n"
    assert strip_text(body) == "Так, 350 грн."


def test_a_managers_last_line_with_a_date_and_a_bare_address_stays() -> None:
    """Without brackets around the address (as clients write it) nor the customer's name,
    a last paragraph with a date and an address is the manager's."""
    last = "Приходьте 25.11.2026 о 14:00, макет пришліть на orders@shop.example"
    body = f"Так, 350 грн.\n\n{last}\n\n> Доброго дня! Скільки коштує?\n"
    assert strip_text(body) == f"Так, 350 грн.\n\n{last}"


def test_under_a_quote_no_marker_shows_nothing_goes_and_an_older_email_under_it_not() -> None:
    """Under our text as it was, in a quote no ">" marks (an attribution or Outlook's
    header block, then our text), lines that are not ours may be what the mail system
    added to our email (a server's disclaimer): they never reach the customer. A manager
    who answered only there gets nothing sent (quoted only: the relay tells them to write
    above the quote); and once a header block follows our text (an older email quoted
    under ours), the rest is history."""
    ours = "Катерина Бойко\nViber\n\nЧи є у вас друк на дереві?\n"
    attribution = "пт, 21 лист. 2026 р. о 10:15 Катерина <orders@shop.example> пише:"
    disclaimer = (
        "Цей лист може містити конфіденційну інформацію компанії.\n"
        "Якщо ви отримали його помилково, повідомте відправника і видаліть його.\n"
    )
    body = f"Так, є в наявності.\n\n{OUTLOOK_HEADER}{ours}\n{disclaimer}"
    assert extract(_plain(body), [ours]).text == "Так, є в наявності."
    body = f"{attribution}\n{ours}\nНі, на жаль, лише на пластику.\n\nОлена\n"
    reply = extract(_plain(body), [ours])
    assert reply.quoted_only and "Ні, на жаль" in reply.text  # shown to the manager only
    older = OUTLOOK_HEADER + "Це старий лист, не відповідь.\n"
    body = f"Ні, на жаль.\n\n{attribution}\n{ours}\n{older}"
    assert extract(_plain(body), [ours]).text == "Ні, на жаль."


def test_an_answer_of_two_paragraphs_between_our_lines_goes_whole() -> None:
    body = (
        "Відповіді нижче.\n\n" + OUTLOOK_HEADER + "Катерина Бойко\nViber\n\nДобрий день!\n"
        "Скільки коштує друк 100 листівок А6?\n350 грн.\n\nДоставка окремо, 150 грн.\n"
        "Чи можна забрати в суботу?\n\n-- \nReply to this email to answer in Viber.\n"
    )
    want = "Відповіді нижче.\n\n350 грн.\n\nДоставка окремо, 150 грн."
    assert extract(_plain(body), [THREE]).text == want


def test_a_whole_attribution_line_takes_no_line_above_it() -> None:
    """An attribution that names its date and address on its own line was not wrapped:
    the manager's last line above it stays, even long, with a time and no full stop."""
    last = "Ручки готові, забрати можна сьогодні до 19:00"
    html = (
        f"<div>Добрий день!</div><div>{last}</div>"
        '<div>23.11.2026, 14:05, "Олег" &lt;orders@shop.example&gt;:</div>'
        "<blockquote>Олег<br>Viber</blockquote>"
    )
    assert extract(_html(html)).text == f"Добрий день!\n{last}"


@pytest.mark.parametrize(
    "bar",
    ["border-left:2px solid #1a73c8;padding-left:10px", "border-left: #1010ff 2px solid",
     "border:none;border-left:solid #1F497D 1.5pt"],
)  # fmt: skip
def test_a_block_drawn_with_a_left_bar_is_a_quote_even_without_a_name(bar: str) -> None:
    """I.UA, Onet, WP and Virgilio quote in a div or a table cell with a left border and
    no class: it is a quote container, above or under the answer, our text known or not."""
    quote = f'<div style="{bar}"><p>Андрій</p><p>Telegram</p><p>Чи друкуєте на футболках?</p></div>'
    attribution = "23.11.2026 14:05, Андрій &lt;orders@shop.example&gt; написав(ла):<br>"
    bottom = f"{attribution}{quote}<br>Так, від 250 грн.<br><br>Петро<br>"
    assert extract(_html(bottom)).text == "Так, від 250 грн.\n\nПетро"
    top = f"Так, від 250 грн.<br><br>{attribution}{quote}"
    assert extract(_html(top)).text == "Так, від 250 грн."
    kept = '<div style="border-left:0px solid #ccc">Так, від 250 грн.</div>'  # no bar drawn
    assert extract(_html(kept)).text == "Так, від 250 грн."


def test_a_block_drawn_with_a_right_bar_is_a_quote_in_right_to_left_mail() -> None:
    """Hebrew and Arabic mail draws the quote's bar on the right, where its lines start."""
    quote = (
        '<div style="border-right:2px solid #ccc;padding-right:10px">'
        "<div>ב-23/11/2026, Noa &lt;orders@shop.example&gt; כתב/ה:</div><div>שלום</div></div>"
    )
    assert extract(_html(f"<div>כן, 180 ₪.</div>{quote}")).text == "כן, 180 ₪."
    # a box (both sides drawn) or a right border with a top one is a frame, not a quote
    for frame in ("border-left:1px solid #ccc;border-right:1px solid #ccc",
                  "border-right:1px solid #ccc;border-top:1px solid #ccc"):  # fmt: skip
        kept = f'<div style="{frame}">Так, від 250 грн.</div>'
        assert extract(_html(kept)).text == "Так, від 250 грн."


def test_the_name_in_an_encoded_from_header_finds_the_typed_signature() -> None:
    import email
    from email import policy

    raw = (
        "From: =?utf-8?b?0J7Qu9C10L3QsCDQqNC10LLRh9C10L3QutC+?= <o.sh@shop.example>\n"
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
        "Так, 780 грн.\n\nОлена Шевченко\nменеджер\n+380 67 555 12 34\n"
    ).encode()
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert extract(msg).text == "Так, 780 грн."  # type: ignore[arg-type]


# --- answers typed inside a ">" quote (text/plain written from the HTML) -------------------


def _inside(answers: list[str]) -> str:
    lines = THREE.rstrip().split("\n")
    quoted = [f"> {line}" if line else ">" for line in lines]
    quoted.insert(5, f"> {answers[0]}")  # under the question about the price
    quoted.insert(7, f"> {answers[1]}")  # under the one about Saturday
    attribution = "On 23.11.2026 14:05, Катерина Бойко via Viber wrote:"
    return "Відповіді в тексті.\n\n" + attribution + "\n" + "\n".join(quoted) + "\n"


def test_answers_marked_with_the_quote_between_our_lines_go_out() -> None:
    """Roundcube and Thunderbird write the text/plain alternative from the HTML: answers
    typed inside the blockquote come out with ">" like our lines around them."""
    body = _inside(["350 грн.", "Так, з 10:00."])
    assert extract(_plain(body), [THREE]).text == "Відповіді в тексті.\n\n350 грн.\n\nТак, з 10:00."
    assert extract(_plain(body)).text == "Відповіді в тексті."  # nothing tells them apart
    # a header line inside the quote is no answer
    body = _inside(["Від: Катерина <orders@shop.example>", "Тема: [Viber] #1"])
    assert extract(_plain(body), [THREE]).text == "Відповіді в тексті."


def test_mutts_forward_intro_naming_the_sender_heads_history() -> None:
    """mutt/NeoMutt's $forward_attribution_intro default: "----- Forwarded message from
    %f -----", the sender's address inside the dashes."""
    body = (
        "Ivan, 350 UAH.\n\n----- Forwarded message from Ivan via Telegram <orders@shop.example>"
        " -----\n\nDate: Mon, 23 Nov 2026 12:05:00 +0000\nFrom: Ivan via Telegram "
        "<orders@shop.example>\nSubject: [Telegram] Ivan #1\n\nHello! How much?\n\n"
        "----- End forwarded message -----\n"
    )
    assert strip_text(body) == "Ivan, 350 UAH."
    assert extract_text(body, ["Ivan\nTelegram\n\nHello! How much?\n"]) == "Ivan, 350 UAH."
    kept = "Ivan, 350 UAH.\n\n----- Контакти: Анна <anna@shop.example> -----\n"  # nothing under
    assert extract_text(kept, [OURS]) == kept.strip()


def test_a_price_table_pasted_from_a_spreadsheet_is_no_quote() -> None:
    """Excel's cells draw a left border with the others: the answer's table stays."""
    cell = "border-top:none;border-left:solid windowtext 1.0pt;border-bottom:solid windowtext 1.0pt"
    row = f'<tr><td style="{cell}">A4</td><td style="{cell}">10 грн</td></tr>'
    html = f"<p>Ціни:</p><table>{row}</table>"
    assert extract(_html(html)).text == "Ціни:\nA4 10 грн"


NOTICE = (
    "Anna, your answer could not be told apart from the quoted history under it, so\n"
    "nothing was sent. This is what would have been sent:\n\n350 грн.\n\n"
    "Доброго дня! Скільки коштує друк 100 листівок А6?\n\nАнна Коваль\nДрукарня\n\n"
    "To send your answer, reply to this notice with only your own words, or put /send\n"
    "alone on the first line.\n"
)


@pytest.mark.parametrize("marked", [True, False])
def test_an_email_of_ours_whose_text_is_unknown_gives_no_answers(marked: bool) -> None:
    """A reply to a notice whose text the relay does not have: its lines are not ours,
    and only a line or two inside it are (the customer's question it shows). They are
    an email of ours, not answers typed among our lines: nothing of them goes."""
    lines = NOTICE.rstrip().split("\n")
    quote = "\n".join((f"> {ln}" if ln else ">") if marked else ln for ln in lines)
    body = (
        f"/send\n350 грн.\n\nАнна Коваль\n\nOn Mon, 23 Nov 2026 at 14:07, im2mail wrote:\n{quote}\n"
    )
    asked = "Катерина\nViber\n\nДоброго дня! Скільки коштує друк 100 листівок А6?\n\nАнна Коваль\n"
    assert extract(_plain(body), [asked]).text == "350 грн.\n\nАнна Коваль"


# --- an attribution with neither colon nor date; The Bat!'s "===8<===" separator ----------


@pytest.mark.parametrize("blank", ["", "\n"])
def test_an_attribution_without_colon_or_date_naming_the_customer_and_address_goes(
    blank: str,
) -> None:
    attribution = '"Ірина Лисенко via Telegram" <orders+t0k@shop.example> wrote'
    quote = "\n".join(f"> {line}" if line else ">" for line in OURS.split("\n"))
    body = f"Так, є, 24 грн за штуку.\n\n{attribution}\n{blank}{quote}\n"
    assert extract_text(body, [OURS]) == "Так, є, 24 грн за штуку."


def test_a_last_line_naming_the_customer_and_an_address_but_ending_a_sentence_stays() -> None:
    # the manager's own words: they end a sentence, or name no address in brackets
    for last in (
        "Ірина Лисенко, макет надішліть на <design@shop.example>.",
        "Ірина Лисенко, макет надішліть на design@shop.example",
    ):
        quote = "\n".join(f"> {line}" if line else ">" for line in OURS.split("\n"))
        body = f"Так, є.\n\n{last}\n\n{quote}\n"
        assert extract_text(body, [OURS]) == f"Так, є.\n\n{last}"


def test_the_bats_scissors_separator_heads_history_even_cut_short() -> None:
    # the manager kept only the customer's question under The Bat!'s forward separator
    question = OURS.split("\n")[-1]
    body = (
        "Так, є, 24 грн за штуку.\n\n"
        "===8<==============Original message text===============\n"
        f"{question}\n"
        "===8<===========End of original message text===========\n"
    )
    assert extract_text(body, [OURS]) == "Так, є, 24 грн за штуку."
    # a heading of the manager's own between equals signs, over their own lines, stays
    own = "Так, є.\n\n==== Акція ====\nДо п'ятниці знижка 10 %.\n"
    assert extract_text(own, [OURS]) == own.strip()
