"""Signatures learned per manager (issue 19): the block that ends most of one manager's
recent replies is learned, and cut from a reply only at its end."""

from __future__ import annotations

import pytest

from im2mail.archive import Archive, threads
from im2mail.mail.reply import signatures
from im2mail.mail.reply.signatures import cut, learn
from im2mail.model import Message
from tests.support.chats import T0, customer, say

SIGNATURE = "Olena\nPrint shop Kyiv\n+380 44 123 45 67"


def signed(*bodies: str, signature: str = SIGNATURE) -> list[str]:
    return [f"{body}\n\n{signature}" for body in bodies]


def test_a_block_ending_three_of_four_replies_is_learned() -> None:
    texts = [*signed("Готово.", "Надішлемо завтра.", "Ціна 200 грн."), "Так, є в наявності."]
    assert learn(texts) == SIGNATURE


def test_two_replies_are_not_enough() -> None:
    assert learn(signed("Готово.", "Надішлемо завтра.")) is None
    assert learn([*signed("Готово.", "Завтра."), "Так.", "Ні."]) is None  # 2 of 4


def test_fewer_than_half_is_not_enough() -> None:
    texts = [*signed("Готово.", "Завтра.", "Так."), "Ні.", "Добре.", "Чекаю.", "Є."]
    assert learn(texts) is None  # 3 of 7


def test_a_block_that_is_the_whole_of_each_text_is_not_learned() -> None:
    assert learn([SIGNATURE] * 5) is None
    assert learn(["Дякую!"] * 5) is None


def test_a_block_that_is_the_whole_of_one_text_is_not_learned() -> None:
    assert learn(["Так.\nДякую!", "Ні.\nДякую!", "Завтра.\nДякую!", "Дякую!"]) is None


def test_a_block_with_a_blank_line_inside_is_learned_whole() -> None:
    signature = "--\nOlena Petrenko\n\nPrint shop Kyiv\nhttps://print.example"
    texts = signed("Готово.", "Завтра.", "Так.", signature=signature)
    assert learn(texts) == signature
    assert cut(texts[0], learn(texts)) == ("Готово.", signature)


def test_whitespace_is_collapsed_and_case_kept() -> None:
    texts = [
        "Готово.\n\nOlena\nPrint shop Kyiv\n+380 44 123 45 67\n\n",
        "Завтра.\n  Olena  \nPrint\tshop Kyiv\n+380\xa044 123 45 67",
        "Так.\nOlena\nPrint  shop Kyiv \n+380 44 123 45 67  ",
    ]
    assert learn(texts) == SIGNATURE
    case_differs = [*texts[:2], texts[2].replace("Print", "PRINT")]
    assert learn(case_differs) == "+380 44 123 45 67"  # the lines below it still agree
    assert cut(texts[1], SIGNATURE) == (
        "Завтра.",
        "  Olena  \nPrint\tshop Kyiv\n+380\xa044 123 45 67",
    )


def test_different_sign_offs_teach_nothing() -> None:
    texts = ["Готово.\nДякую!", "Завтра.\nГарного дня", "Так.\nOlena", "Ні.\nЗ повагою, О."]
    assert learn(texts) is None


def test_the_longest_common_block_is_learned() -> None:
    texts = [
        "Готово.\nЗ повагою,\nOlena",
        "Завтра.\nЗ повагою,\nOlena",
        "Так.\nДо зустрічі!\nOlena",
        "Ні.\nЗ повагою,\nOlena",
    ]
    assert learn(texts) == "З повагою,\nOlena"


def test_short_or_punctuation_lines_are_never_learned() -> None:
    assert learn(["Готово.\nOk", "Завтра.\nOk", "Так.\nOk", "Ні.\nOk"]) is None
    assert learn(["Готово.\n---", "Завтра.\n---", "Так.\n---", "Ні.\n---"]) is None
    assert learn(["Готово.\n:)", "Завтра.\n:)", "Так.\n:)"]) is None


def test_very_common_words_are_learned_when_they_meet_the_counts() -> None:
    assert learn(["Готово.\nДякую!", "Завтра.\nДякую!", "Так.\nДякую!"]) == "Дякую!"


def test_a_cyrillic_signature() -> None:
    signature = "З повагою,\nОлена Коваленко\nДрукарня «Ксерокс», Київ"
    texts = signed("Готово.", "Макет прийнято.", "Оплата надійшла.", "Так.", signature=signature)
    assert learn(texts) == signature
    assert cut("Привіт!\n\nЗ повагою,\nОлена Коваленко\nДрукарня «Ксерокс», Київ\n", signature) == (
        "Привіт!",
        signature,
    )


def test_a_long_text_is_looked_at_by_its_tail() -> None:
    long = "слово " * 5000 + "\n" + "\n".join(f"рядок {i}" for i in range(100))
    texts = signed(long, "Завтра.", "Так.")
    assert learn(texts) == SIGNATURE


def test_cut_takes_the_signature_only_at_the_end() -> None:
    middle = f"Готово.\n\n{SIGNATURE}\n\nP.S. Заберіть до п'ятниці."
    assert cut(middle, SIGNATURE) == (middle, None)
    twice = f"Готово.\n\n{SIGNATURE}\n\nЩе одне.\n\n{SIGNATURE}\n\n"
    assert cut(twice, SIGNATURE) == (f"Готово.\n\n{SIGNATURE}\n\nЩе одне.", SIGNATURE)


def test_a_signature_is_cut_whether_its_links_are_written_out_or_not() -> None:
    # learned from replies whose link showed only its text; now written after it, as a
    # text/plain part (or an HTML reply read as text) writes it, and the other way round
    plain = "Anna Koval\nНаш сайт"
    linked = "Anna Koval\nНаш сайт <https://shop.example/>"
    assert cut(f"Готово.\n\n{linked}", plain) == ("Готово.", linked)
    assert cut(f"Готово.\n\n{plain}", linked) == ("Готово.", plain)
    assert learn([f"{t}\n\n{s}" for t, s in (("A", linked), ("B", plain), ("C", plain))]) == plain
    # a line that is only a link stays a line of its own
    only = "Anna Koval\n<https://shop.example/>"
    assert cut("Готово.\n\nAnna Koval\nНаш сайт", only) == ("Готово.\n\nAnna Koval\nНаш сайт", None)


def test_the_whole_text_is_not_cut_to_nothing() -> None:
    assert cut(SIGNATURE, SIGNATURE) == (SIGNATURE, None)
    assert cut(f"\n\n{SIGNATURE}\n", SIGNATURE) == (f"\n\n{SIGNATURE}\n", None)


def test_no_signature_cuts_nothing() -> None:
    assert cut("Готово.\nOlena", None) == ("Готово.\nOlena", None)
    assert cut("Готово.\nOlena", "\n\n") == ("Готово.\nOlena", None)
    assert cut("Olena", "Готово.\nOlena") == ("Olena", None)


def test_recent_replies_put_the_cut_signature_back(archive: Archive) -> None:
    """A manager's replies across conversations, newest first, with `raw["signature"]`
    put back; not another manager's, not the customers', not empty ones."""
    first, second = customer(archive), customer(archive, "Іван", "Петренко")
    say(archive, first, "Привіт", direction="in")
    archive.add_message(
        Message(first.id, "out", "Olena@Shop.example", "Готово.", T0,
                raw={"from": "Olena@Shop.example", "signature": "Olena\nPrint shop"}),
    )  # fmt: skip
    say(archive, second, "Завтра.", direction="out", author="olena@shop.example", minutes=1)
    say(archive, second, "Я від Анни.", direction="out", author="anna@shop.example", minutes=2)
    say(archive, second, "", direction="out", author="olena@shop.example", minutes=3)
    say(archive, first, "Дякую", direction="in", minutes=4)
    say(archive, first, "Так.", direction="out", author="OLENA@shop.example", minutes=5)

    replies = threads.recent_replies(archive, "olena@shop.example")
    assert replies == ["Так.", "Завтра.", "Готово.\n\nOlena\nPrint shop"]
    assert threads.recent_replies(archive, "olena@shop.example", limit=2) == replies[:2]
    assert threads.recent_replies(archive, "nobody@shop.example") == []


def test_a_managers_replies_are_found_by_an_index(archive: Archive) -> None:
    """Learning runs for every reply: a manager with no replies yet must not cost a scan
    of every message (migration m009). The plan of the query recent_replies really runs."""
    from tests.support.archive_sql import reading

    ran: list[str] = []
    with reading(archive) as db:
        db.set_trace_callback(ran.append)
        try:
            threads.recent_replies(archive, "anna@shop.example")
        finally:
            db.set_trace_callback(None)
        (query,) = [q for q in ran if "FROM messages" in q]
        plan = db.execute(f"EXPLAIN QUERY PLAN {query}").fetchall()
    assert any("messages_by_author" in str(tuple(row)) for row in plan), plan


# --- a signature typed without a mark (a first reply: nothing learned yet) -------------------

OLENA = ("Olena Shevchenko", "olena")  # the From header's name and mailbox


@pytest.mark.parametrize(
    ("text", "signature"),
    [
        # a first name in Cyrillic under a From in Latin letters, a role, a phone
        ("Так, 780 грн.\n\nОлена\nМенеджер з продажу\n+380 67 555 12 34",
         "Олена\nМенеджер з продажу\n+380 67 555 12 34"),
        # under a closing in the same paragraph: the closing stays
        ("Ja, 64 euro.\n\nMet vriendelijke groet,\nOlena Shevchenko\nDrukkerij Koval\n"
         "www.koval.example",
         "Olena Shevchenko\nDrukkerij Koval\nwww.koval.example"),
        # accents and a role after "|"
        ("Ano, 350 Kč.\n\nOlena Ševčenko | Tiskárna\ntel.: +420 601 234 567",
         "Olena Ševčenko | Tiskárna\ntel.: +420 601 234 567"),
        # the phone in a paragraph of its own under the name and role
        ("Так.\n\nОлена Шевченко\nменеджер\n\n+380 67 555 12 34",
         "Олена Шевченко\nменеджер\n\n+380 67 555 12 34"),
        # a sign-off with the first name above: only the signature paragraph goes
        ("Ja.\n\nViele Grüße\nOlena\n\nOlena Shevchenko\nDruckerei Koval | Tel. 030 123456",
         "Olena Shevchenko\nDruckerei Koval | Tel. 030 123456"),
        # an HTML signature's lines set apart as paragraphs
        ("Так.\n\nЗ повагою,\n\nОлена Шевченко\n\nменеджер\n\n+380 67 555 12 34",
         "Олена Шевченко\n\nменеджер\n\n+380 67 555 12 34"),
        # the name and a role and a shop, no contact line
        ("Завтра о 10:00.\n\nОлена Шевченко\nменеджер\nДрукарня «Колір»",
         "Олена Шевченко\nменеджер\nДрукарня «Колір»"),
    ],
)  # fmt: skip
def test_a_signature_typed_under_the_answer_is_cut(text: str, signature: str) -> None:
    above, cut = signatures.typed(text, OLENA)
    assert cut == signature
    assert above == text[: text.index(signature)].rstrip("\n")


@pytest.mark.parametrize(
    "text",
    [
        "Так, 780 грн.\n\nЗ повагою,\nОлена",  # a lone name under a closing: a sign-off
        "Так, 780 грн.\n\nАнна\n+380 67 555 12 34",  # someone else's name and number
        "Олена\n+380 67 555 12 34",  # nothing above it: nothing would be left
        # the lines under the name are sentences: the manager's answer, not a signature
        "Добрий день.\n\nОлена\nПередзвоню вам сьогодні о 15:00.\n+380 67 555 12 34",
        "Добрий день.\n\nОлена на зв'язку з 9:00\n+380 67 555 12 34",  # not only a name
    ],
)
def test_what_only_looks_like_a_typed_signature_stays(text: str) -> None:
    assert signatures.typed(text, OLENA) == (text, None)


@pytest.mark.parametrize(
    "text",
    [
        # bank details in the manager's own name (a sole proprietor's account): what the
        # line ending in ":" introduces is the answer, not a signature
        "Реквізити для оплати:\nФОП Шевченко Олена Миколаївна\nIBAN UA21 3052 9900 0002 6007 0160 "
        "1234 5\nЄДРПОУ 3123456789",
        "Так, є.\n\nМої контакти:\n\nОлена Шевченко\nменеджер\n+380 67 555 12 34",
        "Bank details:\nOlena Shevchenko\nIBAN DE89 3704 0044 0532 0130 00\nBIC COBADEFFXXX",
    ],
)
def test_a_name_block_a_colon_line_introduces_is_the_answer(text: str) -> None:
    assert signatures.typed(text, OLENA) == (text, None)


def test_without_a_name_to_go_by_nothing_is_typed_signature() -> None:
    text = "Так.\n\nОлена\nМенеджер з продажу\n+380 67 555 12 34"
    assert signatures.typed(text, ()) == (text, None)


# --- typed signatures in scripts without capitals, set off by a rule, with a handle --------


@pytest.mark.parametrize(
    ("text", "names", "above"),
    [
        # a Chinese name (no capitals in the script) over a role and a phone
        ("可以。\n\n此致\n\n王伟\n销售经理\n电话：+86 138 0013 8000", ("王伟", "wangwei"),
         "可以。\n\n此致"),
        # a rule of em dashes sets the name and one line off: it goes with them
        ("可以，一共 900 元。\n\n" + "—" * 20 + "\n\n小满\n客服主管", ("小满",),
         "可以，一共 900 元。"),
        ("Yes, 240 EUR.\n\n-----\nOlena Shevchenko\nSales", OLENA, "Yes, 240 EUR."),
        # a handle on the name's line counts as a contact
        ("Sì, 18 €.\n\nGiulia Rossi @tipografia\nUfficio vendite, Tipografia Rossi",
         ("Giulia Rossi", "giulia"), "Sì, 18 €."),
    ],
)  # fmt: skip
def test_a_typed_signature_without_capitals_a_rule_or_with_a_handle_is_cut(
    text: str, names: tuple[str, ...], above: str
) -> None:
    left, signature = signatures.typed(text, names)
    assert left == above
    assert signature is not None and text.endswith(signature)


@pytest.mark.parametrize(
    "text",
    [
        "可以。\n\n小满\n我们明天见。",  # a sentence under the name (full-width stop)
        "Sì.\n\nGiulia Rossi\nUfficio vendite",  # name and one line, no rule, no contact
        "Sì.\n\nGiulia Rossi @tipografia ti scrive domani",  # not only a name and a handle
    ],
)
def test_a_name_over_a_sentence_or_a_lone_role_stays(text: str) -> None:
    assert signatures.typed(text, ("小满", "Giulia Rossi", "giulia")) == (text, None)


def test_a_learned_signature_is_cut_with_the_rule_above_it() -> None:
    text = "Yes, tomorrow.\n\n________\nOlena\nPrint shop Kyiv\n+380 44 123 45 67"
    assert cut(text, SIGNATURE) == ("Yes, tomorrow.", SIGNATURE)


def test_a_marked_signature_is_cut_by_its_words_when_the_lines_differ() -> None:
    text = "Answer.\n\n<https://x.example/?a=1>\nSender\nnotified by\nMailtrack\n<https://x.example/>\n23.11.26,\n13:31:05"
    marked = "Sender notified by\nMailtrack23.11.26, 13:31:05"
    assert cut(text, marked) == (text, None)  # line by line: no
    above, block = signatures.cut_loose(text, marked)
    assert above == "Answer.\n\n<https://x.example/?a=1>"
    assert block.startswith("Sender\n")


def test_a_loose_cut_needs_the_words_and_leaves_something() -> None:
    assert signatures.cut_loose("Answer.\nSender notified by us", "Sender notified by")[1] is None
    assert signatures.cut_loose("Sender\nnotified by", "Sender notified by")[1] is None


def test_colleagues_replies_are_the_other_managers_newest(archive: Archive) -> None:
    conv = customer(archive)
    say(archive, conv, "Привіт", direction="in")
    say(archive, conv, "Так.", direction="out", author="petro@shop.example", minutes=1)
    say(archive, conv, "Ні.", direction="out", author="Anna@Shop.example", minutes=2)
    say(archive, conv, "Добре.", direction="out", author="olena@shop.example", minutes=3)
    say(archive, conv, "(auto)", direction="out", author="im2mail", minutes=4)
    found = threads.colleagues_replies(archive, "anna@shop.example")
    assert found == [("olena@shop.example", "Добре."), ("petro@shop.example", "Так.")]
    assert threads.colleagues_replies(archive, "anna@shop.example", window=2) == found[:1]


def test_a_block_ending_two_colleagues_replies_is_shared_one_colleagues_is_not() -> None:
    footer = "Confidential: if this is not for you, delete it."
    mine = [("petro@x", f"Так {n}.\n\n{footer}") for n in range(3)]
    assert signatures.shared(mine) is None  # Petro's own signature: his, not the team's
    assert signatures.shared([*mine, ("olena@x", f"Ні.\n\n{footer}")]) == footer


# --- a company form of dotted letters ends no sentence (session blind31) --------------------


@pytest.mark.parametrize("form", ["d.o.o.", "s.r.o.", "S.A.", "Sp. z o.o."])
def test_a_typed_signature_with_a_dotted_company_form_is_cut(form: str) -> None:
    text = (
        "Da, 9.800 dinara.\n\nSrdačan pozdrav,\nAna Koval\n"
        f"Koval Print {form}\ntel. +381 11 123 4567"
    )
    above, signature = signatures.typed(text, ("Anna Koval", "anna"))
    assert above == "Da, 9.800 dinara.\n\nSrdačan pozdrav,"
    assert signature == f"Ana Koval\nKoval Print {form}\ntel. +381 11 123 4567"


def test_a_sentence_under_the_name_still_ends_with_its_dot() -> None:
    text = "Da.\n\nAna Koval\nPozovite me posle podne.\ntel. +381 11 123 4567"
    assert signatures.typed(text, ("Anna Koval", "anna")) == (text, None)


# --- a company's legal form ending a signature line with a period (session blind30) ----------


@pytest.mark.parametrize(
    ("text", "signature"),
    [
        ("Yes, £310.\n\nKind regards,\nOlena\n\nOlena Shevchenko\nSales | Hart Print Co.\n"
         "+44 113 496 0000", "Olena Shevchenko\nSales | Hart Print Co.\n+44 113 496 0000"),
        ("Ano, 350 Kč.\n\nOlena Ševčenko\nTiskárna Koval s.r.o.\n+420 601 234 567",
         "Olena Ševčenko\nTiskárna Koval s.r.o.\n+420 601 234 567"),
        ("Tak, 90 zł.\n\nOlena Szewczenko\nDrukarnia Koval sp. z o.o.\nbiuro@koval.example",
         "Olena Szewczenko\nDrukarnia Koval sp. z o.o.\nbiuro@koval.example"),
    ],
)  # fmt: skip
def test_a_legal_form_ending_a_signature_line_ends_no_sentence(text: str, signature: str) -> None:
    above, cut = signatures.typed(text, OLENA)
    assert cut == signature
    assert above == text[: text.index(signature)].rstrip("\n")


def test_a_sentence_under_the_name_still_ends_in_a_period() -> None:
    text = "Yes.\n\nOlena\nI will call you back today.\n+44 113 496 0000"
    assert signatures.typed(text, OLENA) == (text, None)


# --- a whole signature on one line, as a phone's signature setting holds it (blind34) -------

ANNA = ("Anna Kovalenko", "anna")


@pytest.mark.parametrize(
    ("text", "signature"),
    [
        ("Так, 840 грн, до четверга встигнемо.\n\nАнна, Kyiv Print, +380 67 123 45 67",
         "Анна, Kyiv Print, +380 67 123 45 67"),
        ("Tak, 210 zł.\n\nAnna | Pracownia Ram Kolor | 601 234 567",
         "Anna | Pracownia Ram Kolor | 601 234 567"),
        ("Yes, £28 each.\n\nAnna Kovalenko – Oak & Iron – www.oak-iron.example\n\n",
         "Anna Kovalenko – Oak & Iron – www.oak-iron.example"),
    ],
)  # fmt: skip
def test_a_signature_on_the_names_line_alone_is_cut(text: str, signature: str) -> None:
    above, cut = signatures.typed(text, ANNA)
    assert cut == signature
    assert above == text[: text.index(signature)].rstrip("\n")


@pytest.mark.parametrize(
    "text",
    [
        "Так.\n\nАнна, дзвоніть, +380 67 123 45 67",  # a word for the customer, not a shop
        "Так.\n\nАнна, +380 67 123 45 67",  # the name and a number only: it may be meant
        "Так.\n\nАнна, Нова Пошта, відділення 12",  # no contact: an address for the customer
        "Так.\n\nІрина, Kyiv Print, +380 67 123 45 67",  # someone else's name
        "Так.\nАнна, Kyiv Print, +380 67 123 45 67",  # not a paragraph of its own
        "Так.\n\nАнна, Kyiv Print, +380 67 123 45 67, дзвоніть до 18:00.",  # a sentence
        "Анна, Kyiv Print, +380 67 123 45 67",  # nothing above it
    ],
)
def test_a_names_line_that_is_not_a_whole_signature_stays(text: str) -> None:
    assert signatures.typed(text, ANNA) == (text, None)
