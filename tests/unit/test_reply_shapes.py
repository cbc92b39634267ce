"""Shapes of quoted history the development corpus grew into (issue 19, "structure
before phrasing"): The Bat!'s initials quote prefix, an attribution without its colon,
the line introducing a forwarded email, footers naming mail apps whose names are words.
Each rule is checked both ways: what it cuts, and a manager's look-alike it keeps."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from im2mail.mail.replies import extract, strip_text

OURS = (
    "Ірина Лисенко\nTelegram\n\nЗдрастуйте! Чи є у вас крафт-пакети з логотипом? Потрібно 200 штук."
)


def test_an_initials_quote_prefix_is_a_quote() -> None:
    body = (
        "Вітаю, Ірино.\n\nВи писали 23 листопада 2026 р., 14:05:00:\n\n"
        "ІЛ> Чи є у вас крафт-пакети з логотипом?\nІЛ> Потрібно 200 штук.\n\n"
        "Є, 24 грн за штуку.\n"
    )
    assert strip_text(body) == "Вітаю, Ірино.\n\nЄ, 24 грн за штуку."


def test_a_managers_lone_line_that_looks_like_a_prefix_stays() -> None:
    body = "Добре.\nOK> так і зробимо, до п'ятниці.\n"
    assert strip_text(body) == body.strip()


@pytest.mark.parametrize(
    "attribution",
    [
        "On 23 nov. 2026 14:05, Andrei Popa via WhatsApp <orders@shop.example> wrote",
        "23.11.2026 14:05 Ірина Лисенко <orders@shop.example> написала",  # no verb rule
        "Il 23/11/2026 13:05, Ірина Лисенко via Telegram ha scritto",  # our name, no address
    ],
)
def test_an_attribution_without_its_colon_right_over_the_quote_goes(attribution: str) -> None:
    body = f"Так, 200 штук до п'ятниці.\n\n{attribution}\n> Потрібно 200 штук.\n"
    assert extract_text(body, [OURS]) == "Так, 200 штук до п'ятниці."


def test_a_managers_line_right_over_a_quote_without_a_colon_stays() -> None:
    # names neither a date nor an address, or ends a sentence: the manager's
    for line in ("Щодо цього", "Готові 23.11.2026 о 14:05, пишіть на info@shop.example."):
        body = f"{line}\n> Потрібно 200 штук.\nТак, встигнемо.\n"
        assert strip_text(body) == f"{line}\n\nТак, встигнемо."


@pytest.mark.parametrize(
    "intro",
    ["Початок листа, що пересилається:", "Välitetty viesti alkaa:", "Begin forwarded message:"],
)
def test_the_line_introducing_a_forwarded_email_goes_with_it(intro: str) -> None:
    body = (
        f"Софіє, 10 футболок — 2500 грн.\n\n{intro}\n\n"
        "Від кого: Софія <orders@shop.example>\nТема: [Telegram] Софія #435\n"
        "Дата: 23 листопада 2026 р. о 14:05:00 GMT+2\nКому: anna@shop.example\n\nТекст\n"
    )
    assert strip_text(body) == "Софіє, 10 футболок — 2500 грн."


def test_a_managers_line_ending_in_a_colon_over_their_own_labels_stays() -> None:
    body = "Ціни такі:\nЦіна: 1450 грн\nТермін: 2 дні\nОплата: на картку\n"
    assert strip_text(body) == body.strip()


def test_a_footer_naming_an_app_whose_name_is_a_word_is_cut_only_at_its_end() -> None:
    assert strip_text("Bună ziua, gata joi.\n\nTrimis de pe Nine\n") == "Bună ziua, gata joi."
    assert strip_text("Yes, Thursday.\n\nSent from Edison Mail\n") == "Yes, Thursday."  # "… Mail"
    kept = "See you then.\n\nNine o'clock works for us"
    assert strip_text(kept) == kept


def extract_text(body: str, sent: list[str]) -> str:
    msg = EmailMessage()
    msg.set_content(body)
    return extract(msg, sent).text


@pytest.mark.parametrize(
    "details",
    [
        "Номер: 1452\nДата: 25.11.2026\nE-mail: olena@gmail.com\nСума: 1450 грн",
        "Клієнт: Олена <olena@gmail.com>\nДата видачі: 25.11.2026 о 14:00\nАдреса: Хрещатик 1",
        "---- Наші контакти ----\nтел. +380 44 123 45 67\nemail: info@shop.ua",
    ],
)
def test_a_managers_order_details_shaped_like_a_header_block_go_out(details: str) -> None:
    """Knowing our emails' text, a header block or separator heads a quoted email only
    when what follows is quoted, ours or nothing: the manager's own details stay."""
    body = f"Замовлення прийнято.\n\n{details}\n\nДякуємо, чекаємо в п'ятницю!\n"
    assert extract_text(body, [OURS]) == body.strip()


def test_a_header_block_over_our_text_without_markers_is_still_cut() -> None:
    body = (
        "Так, є.\n\nКлієнт: Ірина Лисенко via Telegram <orders@shop.example>\n"
        "Дата: 23.11.2026 14:05\nКому: anna@shop.example\n\n" + OURS + "\n"
    )
    assert extract_text(body, [OURS]) == "Так, є."


@pytest.mark.parametrize(
    "route",
    [
        "From: Kyiv, To: Lviv\nSent: Wednesday, arrives Thursday before noon",
        "Von: Berlin nach Hamburg\nGesendet: am Mittwoch, Ankunft Donnerstag früh",
        "Від: склад у Броварах\nВідправлено: у середу, буде в четвер",
    ],
)
def test_a_managers_from_and_sent_lines_naming_no_date_stay(route: str) -> None:
    """Knowing our emails' text, "From:" over "Sent:" heads a quoted email when the
    "Sent:" line names a date (a year or a time) or ours follow: a route does neither."""
    answer = f"We ship it by our own van:\n{route}\n\nThe driver calls an hour before."
    quote = "\n".join("> " + line for line in OURS.splitlines())
    body = f"{answer}\n\nOn 23.11.2026 14:05, Ірина Лисенко wrote:\n{quote}\n"
    assert extract_text(body, [OURS]) == answer


@pytest.mark.parametrize("sender", ["From: Iryna <orders@shop.example>", "From: orders@shop.ua"])
def test_from_and_sent_lines_naming_an_address_are_cut_even_over_unknown_text(
    sender: str,
) -> None:
    body = f"Так, є.\n\n{sender}\nSent: Monday\nSubject: [Telegram] #1\n\nЗдрастуйте!\n"
    assert extract_text(body, [OURS]) == "Так, є."


@pytest.mark.parametrize(
    "sent",
    [
        "Sent: Monday, November 23, 2026 2:05 PM",
        "Sent:\nMonday, November 23, 2026 2:05 PM",
        "Sent: Monday",  # no date, but our text follows
    ],
)
def test_a_from_and_sent_header_over_our_text_is_still_cut(sent: str) -> None:
    body = (
        "Так, є.\n\nFrom: Iryna Lysenko via Telegram\n"
        f"{sent}\nTo: anna@shop.example\nSubject: [Telegram] #1\n\n" + OURS + "\n"
    )
    assert extract_text(body, [OURS]) == "Так, є."


def _alternative(plain: str, html: str | None) -> EmailMessage:
    msg = EmailMessage()
    msg.set_content(plain)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return msg


SIGNED = "Так, 200 штук до п'ятниці.\n\nЗ повагою,\nАнна Коваль\nДрукарня «Шрифт»"


@pytest.mark.parametrize(
    "container",
    ['div id="Signature"', 'div id="signature_old"', 'div class="x_Signature"',
     'div id="Zm-_Id_-Sgn"', 'div id="sig112847310"', 'div data-signatureblock="true"',
     'div id="_rc_sig"', 'div class="mb_sig"'],
)  # fmt: skip
def test_a_signature_the_html_part_marks_is_cut_from_the_plain_text(container: str) -> None:
    """A manager's first reply has no learned signature yet; the HTML alternative names
    it (Outlook, eM Client, Zoho, Fastmail...), and the same lines end the plain text."""
    html = (
        "<div>Так, 200 штук до п'ятниці.</div><div><br></div>"
        f"<{container}><div>З повагою,</div><div>Анна Коваль</div>"
        "<div>Друкарня «Шрифт»</div></div>"
    )
    reply = extract(_alternative(SIGNED + "\n", html), [OURS])
    assert reply.text == "Так, 200 штук до п'ятниці."
    assert reply.signature == "З повагою,\nАнна Коваль\nДрукарня «Шрифт»"


def test_a_marked_signature_is_cut_only_where_it_ends_the_answer() -> None:
    html = '<div id="Signature">З повагою, Анна</div><div>Так, 200 штук до п\'ятниці.</div>'
    plain = "З повагою, Анна\n\nТак, 200 штук до п'ятниці.\n"
    assert extract(_alternative(plain, html), [OURS]).text == plain.strip()


def test_a_signature_marked_in_an_html_only_reply_is_skipped_and_given_back() -> None:
    msg = EmailMessage()
    msg.set_content(
        '<div>Так, 200 штук.</div><div id="Signature"><div>Анна Коваль</div></div>',
        subtype="html",
    )
    reply = extract(msg, [OURS])
    assert (reply.text, reply.signature) == ("Так, 200 штук.", "Анна Коваль")


def test_an_id_that_only_contains_sig_is_no_signature() -> None:
    html = '<div id="design">Так, 200 штук.</div><div class="signup">Ціни на сайті.</div>'
    msg = EmailMessage()
    msg.set_content(html, subtype="html")
    assert extract(msg).text == "Так, 200 штук.\nЦіни на сайті."


@pytest.mark.parametrize(
    "history",
    [
        '<hr id="zwchr"><div>Ірина Лисенко, 23.11.2026</div><div>Потрібно 200 штук.</div>',
        '<div id="appendonsend"></div><hr><div>Ірина</div><div>Потрібно 200 штук.</div>',
        '<span id="OLK_SRC_BODY_SECTION"><div>Ірина</div><div>Потрібно 200 штук.</div></span>',
        '<div class="protonmail_quote">Ірина:<br><div>Потрібно 200 штук.</div></div>',
        '<div name="quote"><div>Ірина</div><div name="quoted-content">Потрібно 200.</div></div>',
    ],
)
def test_html_history_named_by_any_client_is_skipped(history: str) -> None:
    """Markers where a client's quoted history starts (Zimbra's hr#zwchr, Outlook's
    appendonsend and OLK_SRC_BODY_SECTION) and containers named as quotes in any
    client ("…_quote", name="quote"): what they hold never reaches the customer."""
    msg = EmailMessage()
    msg.set_content(f"<div>Так, встигнемо.</div>{history}", subtype="html")
    assert extract(msg).text == "Так, встигнемо."


def test_an_indented_quote_under_its_attribution_is_cut_without_our_text() -> None:
    """Outlook for Mac quotes by indenting, with no ">" (and a two-digit year)."""
    body = (
        'Ja, dat kan.\n\n\ufeffOp 23-11-26 13:05 heeft "Daan" <orders@shop.example> '
        "geschreven:\n\n    Daan de Vries\n    Telegram\n\n    Kunnen jullie posters drukken?\n"
    )
    assert strip_text(body) == "Ja, dat kan."


def test_a_managers_line_naming_a_time_and_an_address_over_their_own_text_stays() -> None:
    body = "Пишіть на <info@shop.example> до 18:00:\nвідповімо того ж дня.\n"
    assert strip_text(body) == body.strip()


@pytest.mark.parametrize(
    "last_line",
    ["Є чохли для iPhone 15.", "Скинемо фото з Samsung Galaxy.", "Підійде і для Android.",
     "Маємо також Xiaomi.", "Є golden iPhone."],
)  # fmt: skip
def test_a_last_line_that_only_names_a_device_is_the_managers(last_line: str) -> None:
    """A phone shop's answer ends with phones: a device named without a footer's "sent
    with"/"get the app" is the manager's, and a word of it lost would change the answer."""
    body = f"Добрий день!\n\n{last_line}"
    assert strip_text(body) == body


@pytest.mark.parametrize(
    "footer",
    ["Envoyé de mon iPhone", "iPhone'umdan gönderildi", "Lähetetty iPhonesta",
     "Odesláno z iPhonu", "Skickat från min iPhone", "Küldve iPhone-ról",
     "Изпратено от моя iPhone", "iPhoneから送信", "从我的iPhone发送",
     "Holen Sie sich Outlook für Android", "Скачайте Outlook для Android",
     "Secured with Tuta Mail", "Sent from my Galaxy",
     # Outlook for iOS / Android, localized, once its signature's container is gone
     "Outlook für iOS beziehen", "Получить Outlook для iOS", "Obter o Outlook para Android",
     "Obțineți Outlook pentru iOS", "Skaffa Outlook för iOS", "Hanki Outlook for iOS",
     "Outlook letöltése iOS rendszerre"],
)  # fmt: skip
def test_client_footers_in_many_languages_are_cut(footer: str) -> None:
    assert strip_text(f"Так, буде в п'ятницю.\n\n{footer}") == "Так, буде в п'ятницю."


# --- answers typed inside an HTML quote container (session "shapes3") ---------------------

TWO = (
    "Ірина Лисенко\nTelegram\n\nЗдрастуйте! Чи є у вас крафт-пакети з логотипом?\n\n"
    "І скільки часу займає друк двохсот штук з одним кольором?\n\n-- \n"
    "Reply to this email to answer in Telegram."
)
TWO_HTML = (
    "<p><b>Ірина Лисенко</b></p><p>Telegram</p>"
    "<p>Здрастуйте! Чи є у вас крафт-пакети з логотипом?</p>{a1}"
    "<p>І скільки часу займає друк двохсот штук з одним кольором?</p>{a2}"
    "<p>Reply to this email to answer in Telegram.</p>"
)


def _html_only(html: str) -> EmailMessage:
    msg = EmailMessage()
    msg.set_content(html, subtype="html")
    return msg


def _quoted(inside: str, above: str = "") -> str:
    return (
        f"<p>{above}</p><p>23.11.2026 14:05, Ірина Лисенко via Telegram написав(ла):</p>"
        f'<blockquote type="cite">{inside}</blockquote>'
    )


def test_answers_typed_inside_the_quote_between_our_lines_go_out() -> None:
    """Roundcube, Thunderbird and others keep what the manager types inside the quote in
    the blockquote: the lines between pieces of our email that are not ours are theirs."""
    inside = TWO_HTML.format(a1='<p style="color:red">Так, є, 200 штук.</p>',
                             a2='<p style="color:red">Два дні.</p>')  # fmt: skip
    reply = extract(_html_only(_quoted(inside, "Відповідаю в тексті:")), [TWO])
    assert reply.text == "Відповідаю в тексті:\n\nТак, є, 200 штук.\n\nДва дні."
    assert reply.doubt is None


def test_older_history_inside_a_quote_above_ours_stays_out() -> None:
    """A manager's earlier reply (or a colleague's note) quoted above our email is not
    between lines of ours: the quote goes as a whole, only the new answer goes out."""
    inside = (
        "<p>Так, 200 штук до п'ятниці, ціна 12 грн за пакет.</p>"
        "<p>22.11.2026 10:00, Ірина Лисенко via Telegram написав(ла):</p>"
        f"<blockquote>{TWO_HTML.format(a1='', a2='')}</blockquote>"
    )
    reply = extract(_html_only(_quoted(inside, "Макет готовий.")), [TWO])
    assert reply.text == "Макет готовий."


def test_a_header_line_inside_the_quote_between_our_lines_is_no_answer() -> None:
    inside = TWO_HTML.format(a1="<p>Від: orders@shop.example</p>", a2="")
    reply = extract(_html_only(_quoted(inside, "Так, є.")), [TWO])
    assert reply.text == "Так, є."


# --- the managers' own words, quoted back in our notices ---------------------------------

UNDELIVERED = (
    "Your reply did not reach Ірина Лисенко in Telegram.\n\nTelegram said:\n"
    "> Forbidden: bot was blocked by the user\n\nYour reply:\n"
    "> Замовлення готове, можна забрати завтра з десятої ранку.\n\n-- \n"
    "This is an automatic notice from im2mail; the customer has not seen this reply.\n"
)
RESENT = (
    "Добрий день! Замовлення готове, можна забрати завтра з десятої ранку, до 18:00.\n\n"
    "> Your reply did not reach Ірина Лисенко in Telegram.\n"
)


def test_a_manager_sending_their_undelivered_reply_again_is_not_held_back() -> None:
    """The notice quotes the manager's own reply: typing those words again is no leak of
    quoted history (the customer never got them)."""
    own = ["Замовлення готове, можна забрати завтра з десятої ранку."]
    msg = EmailMessage()
    msg.set_content(RESENT)
    reply = extract(msg, [UNDELIVERED], own=own)
    assert reply.doubt is None
    assert reply.text.startswith("Добрий день! Замовлення готове")


def test_the_same_words_from_our_notice_itself_are_still_held_back() -> None:
    """Without knowing them as the manager's own (an unverified sender's reply, say), a
    run of our notice's words in the answer stays a doubt."""
    msg = EmailMessage()
    msg.set_content(RESENT)
    assert extract(msg, [UNDELIVERED]).doubt is not None
    # and the notice's own prose is held back even with the manager's words known
    prose = "Your reply did not reach Ірина Лисенко in Telegram, WhatsApp said so.\n"
    msg2 = EmailMessage()
    msg2.set_content("Ось: " + prose)
    own = ["Замовлення готове, можна забрати завтра з десятої ранку."]
    assert extract(msg2, [UNDELIVERED + "\n" + prose], own=own).doubt is not None


# --- Chinese, Japanese and Korean replies (session blind27) --------------------------------

ZH_OURS = "Li Na\nWhatsApp\n\n你好，我想订两个生日蛋糕，周六下午三点可以取吗？\n"


@pytest.mark.parametrize(
    "attribution",
    [
        # Gmail zh-CN: the date glued to its words, a full-width colon at the end
        "Li Na <orders@shop.example> 于2026年11月23日周一 20:05写道：",
        "在 2026年11月23日，20:05，Li Na <orders@shop.example> 写道：",  # iOS Mail zh
    ],
)
def test_a_cjk_attribution_with_a_full_width_colon_goes(attribution: str) -> None:
    body = f"您好，周六下午三点可以取。\n\n{attribution}\n\n> 你好\n> 周六下午三点可以取吗？\n"
    assert strip_text(body) == "您好，周六下午三点可以取。"


def test_a_managers_cjk_line_ending_in_a_full_width_colon_stays() -> None:
    body = "您好：\n\n价格如下：\n\n> 多少钱？\n"
    assert strip_text(body) == "您好：\n\n价格如下："


def test_chinese_quoted_without_marks_is_found_by_its_characters() -> None:
    """No ">" and no spaces: our text is compared character by character."""
    body = (
        "您好，周六下午三点可以取，两个蛋糕一共 900 元。\n\n"
        "Li Na via WhatsApp <orders@shop.example> 在 2026年11月23日 周一 20:05 写道：\n\n" + ZH_OURS
    )
    msg = EmailMessage()
    msg.set_content(body)
    assert extract(msg, [ZH_OURS]).text == "您好，周六下午三点可以取，两个蛋糕一共 900 元。"


def test_a_run_of_our_chinese_characters_left_in_the_text_is_a_leak() -> None:
    from im2mail.mail.reply.quoted_history import SentText, leak

    ours = SentText.of([ZH_OURS])
    assert leak("可以。\n\n你好，我想订两个生日蛋糕，周六下午三点可以取吗？", ours)
    # the customer's words inside the manager's own sentence are theirs
    echoed = "可以，两个生日蛋糕周六下午三点可以取，一共九百元，请提前一天确认口味。"
    assert leak(echoed, ours) is None


@pytest.mark.parametrize("footer", ["发自我的iPhone", "發自我的 iPhone"])
def test_a_chinese_client_footer_is_cut(footer: str) -> None:
    assert strip_text(f"可以，明天发货。\n\n{footer}\n") == "可以，明天发货。"


def test_a_chinese_last_line_naming_a_device_stays() -> None:
    body = "可以，明天发货。\n\n我们也有iPhone 15的手机壳。"
    assert strip_text(body) == body


# --- Sixth batch (session "blind28"): what the manager typed vs what a client added ---

PRICES = "> 100 шт — 5 %\n> 500 шт — 10 %"
ASKED = "Андрій Коваленко\nTelegram\n\nЯкі у вас знижки на наклейки від 100 штук?"


def _plain_mail(body: str, **params: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Anna Koval <anna@shop.example>"
    msg.set_content(body, cte="8bit")
    for key, value in params.items():
        msg.set_param(key, value)
    return msg


def _alt_mail(plain: str, html: str) -> EmailMessage:
    msg = _plain_mail(plain)
    msg.add_alternative(html, subtype="html")
    return msg


def _gt_quoted(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.split("\n"))


def test_a_space_stuffed_line_of_format_flowed_is_typed_not_quoted() -> None:
    # RFC 3676 4.4: the client stuffs a space before a ">" the writer typed
    body = "Знижки такі:\n > 100 шт — 5 %\n > 500 шт — 10 %\n\n23.11.26 14:05, Андрій пише:\n"
    reply = extract(_plain_mail(body + _gt_quoted(ASKED) + "\n", format="flowed"), [ASKED])
    assert reply.text == f"Знижки такі:\n{PRICES}"
    assert reply.doubt is None


def test_a_space_stuffed_line_holding_our_words_stays_out() -> None:
    body = "Так.\n > Які у вас знижки на наклейки від 100 штук?\n"
    reply = extract(_plain_mail(body, format="flowed"), [ASKED])
    assert reply.text == "Так."


def test_gt_lines_the_html_alternative_shows_as_text_are_typed() -> None:
    plain = f"Знижки такі:\n{PRICES}\n\nOn Mon, Андрій <orders@shop.example> wrote:\n\n"
    plain += _gt_quoted(ASKED) + "\n"
    html = (
        "<div>Знижки такі:</div><div>&gt; 100 шт — 5 %</div><div>&gt; 500 шт — 10 %</div>"
        '<div class="gmail_quote"><blockquote>'
        + ASKED.replace("\n", "<br>")
        + "</blockquote></div>"
    )
    assert extract(_alt_mail(plain, html), [ASKED]).text == f"Знижки такі:\n{PRICES}"


def test_gt_lines_are_a_quote_when_the_html_quotes_the_same_way() -> None:
    # an HTML alternative that writes its quote as "&gt;" text has no container: a quote
    plain = f"Так, є.\n\n{_gt_quoted('Чи є знижки?')}\n"
    html = "<div>Так, є.</div><div><br></div><div>&gt; Чи є знижки?</div>"
    assert extract(_alt_mail(plain, html)).text == "Так, є."


MAILTRACK_HTML = (
    '<div>Tak, będzie gotowe w piątek.<br><div class="mt-signature"><table><tr><td>'
    '<a href="https://mailtrack.io?a=1"><img src="https://s3.example/n.gif" alt="Mailtrack"></a>'
    '</td><td><span>Nadawca otrzymał powiadomienie od</span><br><a href="https://mailtrack.io?a=1">'
    'Mailtrack</a><span style="color:transparent;font-size:0">23.11.26, 13:31:05</span>'
    "</td></tr></table></div></div>"
)
MAILTRACK_PLAIN = (
    "Tak, będzie gotowe w piątek.\n\n[image: Mailtrack]\n<https://mailtrack.io?a=1>\nNadawca\n"
    "otrzymał powiadomienie od\nMailtrack\n<https://mailtrack.io?a=1>\n23.11.26,\n13:31:05\n"
)


def test_a_signature_the_html_marks_is_cut_from_rewrapped_plain_text() -> None:
    reply = extract(_alt_mail(MAILTRACK_PLAIN, MAILTRACK_HTML))
    assert reply.text == "Tak, będzie gotowe w piątek."


def test_words_the_marked_signature_does_not_have_stay() -> None:
    plain = MAILTRACK_PLAIN.replace("otrzymał powiadomienie od", "otrzymał powiadomienie od nas")
    assert "nas" in extract(_alt_mail(plain, MAILTRACK_HTML)).text


def test_a_linked_picture_in_plain_text_goes_with_its_link() -> None:
    body = "Ось макет.\n\n[image: logo.png]\n<https://shop.example/>\n"
    assert strip_text(body) == "Ось макет."


# --- batch blind29: GroupWise, Notes, Superhuman -------------------------------------------


@pytest.mark.parametrize(
    ("head", "rest"),
    [
        # GroupWise 18 wraps its attribution before the Message-ID, the rest without ">"
        (
            ">>> Olena Petrenko via Telegram <orders@shop.example> schrieb am 23.11.2026 um"
            " 13:05 in",
            "Nachricht <20261123120500.a42.im2mail@shop.example>:",
        ),
        # a client that rewraps the quote leaves the attribution's last word unmarked
        ("> On Mon, 23 Nov 2026 at 14:05, Olena Petrenko <orders@shop.example>", "wrote:"),
    ],
)
def test_an_attribution_wrapped_under_its_quoted_first_line_is_no_answer(
    head: str, rest: str
) -> None:
    body = f"Добрий день!\n\nТак, є в наявності.\n\n{head}\n{rest}\n> Чи є у вас ця модель?\n"
    assert strip_text(body) == "Добрий день!\n\nТак, є в наявності."


def test_a_managers_line_ending_in_a_colon_under_a_quoted_question_stays() -> None:
    body = (
        "> Do you deliver to Lviv on 24.11.2026?\n"
        "Yes, from 12:00, write the address to orders@shop.example:\n"
        "> Street and house number\n"
    )
    assert strip_text(body) == "Yes, from 12:00, write the address to orders@shop.example:"


def test_notes_attribution_between_dashes_without_a_space_goes() -> None:
    body = (
        '-----"Olena Petrenko via Telegram" <orders@shop.example> wrote: -----\n\n'
        ">To: anna@shop.example\n>From: orders@shop.example\n>Date: 11/23/2026 02:05PM\n"
        ">\n>Do you have it in blue?\n>\n\nYes, two left in blue.\n\nAnna\n"
    )
    assert strip_text(body) == "Yes, two left in blue.\n\nAnna"


def test_a_dashed_heading_naming_no_date_or_address_over_a_quote_stays() -> None:
    body = "-----Our prices-----\n\n> What does it cost?\n\n350 UAH.\n"
    assert strip_text(body) == "-----Our prices-----\n\n350 UAH."


@pytest.mark.parametrize(
    "footer",
    [
        "Sent via Superhuman ( https://sprh.mn/?vip=anna@shop.example )",
        "Sent with Spark <https://sparkmailapp.com/source?from=signature>",
    ],
)
def test_a_client_footer_with_a_link_after_the_app_is_cut(footer: str) -> None:
    body = f"Yes, the necklace is $89.\n\nAnna\n\n{footer}\n"
    assert strip_text(body) == "Yes, the necklace is $89.\n\nAnna"


def test_a_managers_last_line_with_a_link_in_brackets_stays() -> None:
    body = "Yes, in stock.\n\nOrder online ( https://shop.example/catalog )\n"
    assert strip_text(body) == body.strip()


def test_a_header_line_framed_by_gt_runs_heads_history_without_marks() -> None:
    body = (
        "Yes, still in stock.\n\nRegards,\nPetro\n\n"
        '>>> "im2mail" <orders@shop.example> 11/23/2026 4:05 PM >>>\n'
        "Olena Petrenko has been waiting for an answer in Telegram for 2h 00m.\n\n"
        "They wrote:\n> Is the walnut board still available?\n"
    )
    assert strip_text(body) == "Yes, still in stock.\n\nRegards,\nPetro"


def test_a_managers_line_framed_by_gt_runs_naming_no_address_is_no_separator() -> None:
    body = ">>> 50% off till 27.11.2026 >>>\nYes, the board is in stock.\n"
    assert strip_text(body) == "Yes, the board is in stock."


def test_an_attribution_naming_a_quoted_display_name_and_a_bare_address_goes() -> None:
    # Nextcloud Mail: no verb, no colon, an en dash before the date, the address bare
    body = (
        "Dobrý den,\n\nano, máme.\n\nS pozdravem\nAnna\n\n"
        '"Olena Petrenko via Telegram" orders@shop.example – 23. listopadu 2026 13:05\n\n'
        "> Máte ještě boty velikosti 28?\n"
    )
    assert strip_text(body) == "Dobrý den,\n\nano, máme.\n\nS pozdravem\nAnna"


def test_a_managers_last_paragraph_naming_a_bare_address_and_a_time_stays() -> None:
    body = "Так, є.\n\nПишіть на orders@shop.example до 23.11.2026 14:00\n\n> Чи є у вас?\n"
    assert strip_text(body) == "Так, є.\n\nПишіть на orders@shop.example до 23.11.2026 14:00"


# --- session blind31: languages the phrase tables do not have ------------------------------


def test_a_name_wrapped_off_an_attribution_that_starts_with_the_address_goes() -> None:
    # Gmail in Basque puts the name first; wrapped over three lines, the two under it name
    # the address, the date and the time, and start with the bracketed address
    body = (
        "Bai, 96 € dira.\n\nOndo izan,\nOlena\n\n"
        "Ainhoa Etxeberria Goikoetxea Arrizabalaga-Uriarte via Telegram\n"
        "(<orders@shop.example>) erabiltzaileak hau idatzi zuen (2026 aza. 23, al.\n"
        "(13:05)):\n\n> Kaixo! 80 behar ditut.\n"
    )
    assert strip_text(body) == "Bai, 96 € dira.\n\nOndo izan,\nOlena"


@pytest.mark.parametrize(
    "above",
    [
        "Дякую, до зустрічі завтра о 10:00 у нашій майстерні на Подолі!",  # ends a sentence
        "Olena",  # the address would have fit on it: no wrap there
    ],
)
def test_a_managers_line_over_an_attribution_starting_with_the_address_stays(
    above: str,
) -> None:
    body = (
        f"Так, 350 грн.\n{above}\n"
        "(<orders@shop.example>) erabiltzaileak hau idatzi zuen (2026 aza. 23, al. (13:05)):\n"
        "\n> Kaixo! 80 behar ditut.\n"
    )
    assert strip_text(body) == f"Так, 350 грн.\n{above}"


def test_a_footer_that_is_a_link_glued_to_its_text_goes_in_any_language() -> None:
    # Outlook for Android in Kazakh: no verb the tables know, the invitation is a link
    body = (
        "Сәлеметсіз бе! 18 000 теңге, бүгін кешке дайын болады.\n\n"
        "Android үшін Outlook қолданбасын алыңыз<https://aka.ms/AAb9ysg>\n"
    )
    assert strip_text(body) == "Сәлеметсіз бе! 18 000 теңге, бүгін кешке дайын болады."


@pytest.mark.parametrize(
    "last",
    [
        "Інструкція для Android <https://shop.example/android>",  # the link stands apart
        "Є чохли для iPhone 15.",  # names a device only
        "Прайс тут<https://shop.example/price>",  # a link glued on, but no app or device
        "Інструкція для iPhone<https://shop.example/guide>",  # a device, no mail app
    ],
)
def test_a_managers_last_line_with_a_link_stays(last: str) -> None:
    body = f"Так, є.\n\n{last}\n"
    assert strip_text(body) == body.strip()


def test_an_attribution_wrapped_after_a_days_number_goes_whole() -> None:
    # Gmail in Estonian: the name first, the date last, wrapped after "E, 23."
    body = (
        "Jah, 54 €.\n\nParimate soovidega\nAnna\n\n"
        "Kadri Tamm via WhatsApp (<orders@shop.example>) kirjutas kuupäeval E, 23.\n"
        "november 2026 kell 14:05:\n\n> Tere! Kas te trükite ka kleebiseid?\n"
    )
    assert strip_text(body) == "Jah, 54 €.\n\nParimate soovidega\nAnna"


def test_a_managers_sentence_ending_in_a_days_number_stays() -> None:
    # the line under it starts a new sentence: the day's dot ends the manager's sentence
    body = (
        "Замовлення буде готове в понеділок, 23.\n"
        "Пн, 23 лист. 2026 о 14:05 Ірина Лисенко <orders@shop.example> пише:\n\n"
        "> Коли буде готово?\n"
    )
    assert strip_text(body) == "Замовлення буде готове в понеділок, 23."


# --- a phone's footer standing above the answer ----------------------------------------------

_IOS_QUOTE = (
    "> 23 лист. 2026 р. о 14:05 Ірина Лисенко via Telegram <orders@shop.example> написав(ла):\n"
    "> \n> Здрастуйте! Чи є у вас крафт-пакети з логотипом?\n"
)


@pytest.mark.parametrize(
    "footer",
    [
        "Надіслано з iPhone",
        "Sent from my iPhone",
        "Wysłane z iPhone’a",
        "Von meinem iPhone gesendet",
    ],
)
def test_an_answer_typed_under_the_phones_footer_goes_without_it(footer: str) -> None:
    body = f"\n\n{footer}\nТак, є, 24 грн за штуку. Відправимо завтра\n\n{_IOS_QUOTE}"
    assert strip_text(body) == "Так, є, 24 грн за штуку. Відправимо завтра"


@pytest.mark.parametrize("footer", ["Надіслано з iPhone", "Wysłane z iPhone’a"])
def test_a_footer_alone_above_the_quote_is_nothing_to_send(footer: str) -> None:
    assert strip_text(f"\n\n{footer}\n\n{_IOS_QUOTE}") == ""


def test_a_first_sentence_naming_an_app_is_the_managers() -> None:
    body = "Відправлено з Android-додатку Нової пошти, ТТН 20450012345678.\n\n" + _IOS_QUOTE
    assert strip_text(body) == "Відправлено з Android-додатку Нової пошти, ТТН 20450012345678."


# --- batch blind36: Outlook desktop in depth -------------------------------------------------


def test_a_word_list_padded_to_its_tab_stop_in_plain_text_is_spaced_as_the_html_shows() -> None:
    """Outlook writes a Word list's bullet to text/plain padded to the tab stop; the HTML
    the manager saw has one space after it."""
    plain = "Prices:\n\n·         250 cards: 1.250 TL\n·         100 letterheads: 980 TL\n\nAnna\n"
    html = (
        "<p class=MsoNormal>Prices:</p><p class=MsoListParagraph style='mso-list:l0 level1 lfo1'>"
        "<span style='mso-list:Ignore'>·<span>&nbsp;&nbsp;&nbsp;&nbsp;&nbsp; </span></span>"
        "250 cards: 1.250 TL</p><p class=MsoListParagraph style='mso-list:l0 level1 lfo1'>"
        "<span style='mso-list:Ignore'>·<span>&nbsp;&nbsp;&nbsp;&nbsp;&nbsp; </span></span>"
        "100 letterheads: 980 TL</p><p class=MsoNormal>&nbsp;</p><p class=MsoNormal>Anna</p>"
    )
    got = extract(_alt_mail(plain, html)).text
    assert got == "Prices:\n\n· 250 cards: 1.250 TL\n· 100 letterheads: 980 TL\n\nAnna"


def test_spaces_the_html_also_has_stay() -> None:
    plain = "Sizes:  S  M  L\n"
    html = "<pre>Sizes:  S  M  L</pre>"
    assert extract(_alt_mail(plain, html)).text == "Sizes:  S  M  L"


# --- a reply-all chain: a colleague's answer between two header blocks (batch blind37) ---

CHAIN_OURS = (
    "Magdalena Zielińska\nMessenger\n\nDzień dobry!\nIle kosztuje oprawa plakatu 50×70?\n"
    "Czy zrobicie to do piątku?\n\n-- \nReply to this email to answer in Messenger."
)


def _chain(top: str) -> str:
    return (
        f"{top}\n\nOd: Katarzyna Lis <kasia@shop.example>\n"
        "Wysłano: poniedziałek, 23 listopada 2026 13:17\n"
        "Do: Magdalena Zielińska via Messenger <orders+tok@shop.example>\n"
        "DW: Anna Nowak <anna@shop.example>\nTemat: RE: [Messenger] Magdalena Zielińska #7\n\n"
        "Dzień dobry, oprawa plakatu 50×70 kosztuje 160 zł.\n\n"
        "Od: Magdalena Zielińska via Messenger <orders@shop.example>\n"
        "Wysłano: poniedziałek, 23 listopada 2026 13:05\nDo: anna@shop.example\n"
        "Temat: [Messenger] Magdalena Zielińska #7\n\n"
        "Magdalena Zielińska\nMessenger\n\nDzień dobry!\nIle kosztuje oprawa plakatu 50×70?\n"
        "Czy zrobicie to do piątku?\nTak, w czwartek po południu.\n\n"
        "-- \nReply to this email to answer in Messenger.\n"
    )


def test_a_colleagues_answer_between_two_header_blocks_of_one_client_stays_out() -> None:
    """Knowing our text, a header block heads a quoted email when a block with the same
    labels further down heads ours: the colleague's reply between them is history, the
    answer typed under our question still goes out."""
    out = extract_text(_chain("Odpowiedź poniżej.\n\nAnna"), [CHAIN_OURS])
    assert out == "Odpowiedź poniżej.\n\nAnna\n\nTak, w czwartek po południu."


def test_a_managers_details_above_a_header_block_with_other_labels_stay() -> None:
    """Order details shaped like a header block share no labels with the client's
    header block under them: they are the manager's and go out."""
    details = "Zamówienie: 1452\nData: 25.11.2026 14:00\nE-mail: magda@example.com"
    body = (
        f"Potwierdzam zamówienie.\n\n{details}\n\nDziękujemy!\n\n"
        "Od: Magdalena Zielińska via Messenger <orders@shop.example>\n"
        "Wysłano: poniedziałek, 23 listopada 2026 13:05\nDo: anna@shop.example\n"
        "Temat: [Messenger] Magdalena Zielińska #7\n\n" + CHAIN_OURS + "\n"
    )
    expected = f"Potwierdzam zamówienie.\n\n{details}\n\nDziękujemy!"
    assert extract_text(body, [CHAIN_OURS]) == expected


# --- a quotation pasted into the answer (Paste As Quotation), batch blind37 ---

NOTICE = (
    "Олена <olena@shop.example> answered Тарас Мельничук in Telegram:\n\n"
    "> Добрий день! Друк на полотні 40×60 коштує 780 грн, з підрамником. Готово через 2 дні.\n"
)


def test_a_sentence_pasted_as_a_quotation_into_the_answer_goes_out() -> None:
    """A short quoted block under the manager's lead-in and over more of their words,
    repeated word for word in the quote the attribution introduces below, was copied
    from there on purpose: it goes out with the lead-in."""
    answer = (
        "Тарасе, доповню колегу. Олена написала:\n"
        "> Друк на полотні 40×60 коштує 780 грн, з підрамником.\n\n"
        "Без лаку буде 690 грн.\n\nАнна"
    )
    quote = "\n".join(f"> {line}" if line else ">" for line in NOTICE.split("\n"))
    body = f"{answer}\n\n23.11.26 14:05, im2mail пише:\n{quote}\n"
    assert strip_text(body) == answer


def test_quoted_pieces_answered_inline_are_not_pasted_quotations() -> None:
    """Inline answers: the pieces are parts of one quote, none introduced by an
    attribution of its own further down: they stay quoted."""
    body = (
        "Добрий день!\n\n23.11.26 14:05, Тарас пише:\n> Скільки коштує друк 40×60?\n\n780 грн.\n\n"
        "> А з підрамником?\n\nТак, з підрамником.\n"
    )
    assert strip_text(body) == "Добрий день!\n\n780 грн.\n\nТак, з підрамником."


def test_a_quoted_block_the_quote_below_does_not_repeat_stays_a_quote() -> None:
    body = (
        "Ось що ви писали:\n> Друк на полотні 40×60 з лаком, будь ласка, до п'ятниці.\n\n"
        "Зробимо.\n\n23.11.26 14:05, im2mail пише:\n"
        + "\n".join(f"> {line}" if line else ">" for line in NOTICE.split("\n"))
        + "\n"
    )
    assert "> Друк" not in strip_text(body)


def test_a_pasted_quotation_over_a_quote_whose_attribution_is_inside_it_goes_out() -> None:
    """Apple Mail writes its attribution as the quote's first line, and the manager's
    lead-in may stand a blank line above the pasted block: both are still the shape."""
    answer = (
        "Frau Krüger, eine Ergänzung. Sie schrieb:\n\n"
        "> ein Passepartout 30×40 kostet 24 Euro.\n\nSchwarz kostet 4 Euro mehr.\n\nAnna"
    )
    body = (
        f"{answer}\n\n> Am 23.11.2026 um 13:05 schrieb im2mail <orders@shop.example>:\n>\n"
        "> Olena answered Sabine Krüger in WhatsApp:\n>\n"
        "> > Guten Tag, ein Passepartout 30×40 kostet 24 Euro.\n"
    )
    assert strip_text(body) == answer
