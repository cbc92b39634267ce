"""Searching the archive the way the owner does: Cyrillic-aware, literal, newest first."""

from __future__ import annotations

from datetime import timedelta

import pytest

from im2mail.archive import Archive, search
from im2mail.errors import UsageError
from im2mail.model import Customer, NewAttachment, SearchQuery, marked_snippet
from tests.support.archive_sql import writing
from tests.support.chats import T0, customer, say


def texts(archive: Archive, query: str, **filters) -> list[str]:
    return [e.text for e in archive.search(SearchQuery(query, **filters))]


def one_message(archive: Archive, text: str) -> None:
    say(archive, customer(archive), text)


# -- what finds what --------------------------------------------------------------------------


def test_case_is_ignored_in_cyrillic(archive: Archive) -> None:
    one_message(archive, "Потрібні візитки на завтра")
    assert texts(archive, "ВІЗИТКИ") == ["Потрібні візитки на завтра"]


@pytest.mark.parametrize(("stored", "query"), [("Нужно ещё 100", "еще"), ("Нужно еще 100", "ещё")])
def test_yo_and_ye_find_each_other(archive: Archive, stored: str, query: str) -> None:
    one_message(archive, stored)
    assert texts(archive, query) == [stored]
    assert texts(archive, query.upper()) == [stored]


FRIDAYS = ["п'ятниця", "п’ятниця", "пʼятниця"]


@pytest.mark.parametrize("query", [*FRIDAYS, "п`ятниця", "пятниця", "П’ЯТНИЦЯ"])
def test_every_apostrophe_form_finds_every_other(archive: Archive, query: str) -> None:
    for i, word in enumerate(FRIDAYS):
        say(archive, customer(archive), f"До {word}, будь ласка", minutes=i)
    assert sorted(texts(archive, query)) == sorted(f"До {w}, будь ласка" for w in FRIDAYS)


@pytest.mark.parametrize(
    ("stored", "query"),
    [
        ("Формат А4, 100 шт", "A4"),  # Cyrillic А stored, Latin searched
        ("Format A4 please", "А4"),  # and the other way round
        ("Банер С-300", "C-300"),
        ("Код ВХ12 на складі", "bx12"),
        ("розмір 2х1 м", "2x1"),
    ],
)
def test_codes_match_across_latin_and_cyrillic_look_alikes(
    archive: Archive, stored: str, query: str
) -> None:
    one_message(archive, stored)
    assert texts(archive, query) == [stored]


def test_words_are_not_mangled_into_the_other_script(archive: Archive) -> None:
    say(archive, customer(archive), "cokol printing", minutes=1)  # pure Latin
    say(archive, customer(archive), "кафе сокол", minutes=2)  # pure Cyrillic
    say(archive, customer(archive), "кафе сокoл", minutes=3)  # one Latin 'o' slipped in
    assert texts(archive, "сокол") == ["кафе сокoл", "кафе сокол"]
    assert texts(archive, "cokol") == ["cokol printing"]
    assert texts(archive, "макет") == []
    one_message(archive, "макет_А4.pdf у вкладенні")
    assert texts(archive, "макет") == ["макет_А4.pdf у вкладенні"]


def test_a_quoted_phrase_must_appear_as_written(archive: Archive) -> None:
    say(archive, customer(archive), "друк банерів швидко", minutes=1)
    say(archive, customer(archive), "банерів друк не треба", minutes=2)
    assert texts(archive, '"друк банерів"') == ["друк банерів швидко"]
    assert len(texts(archive, "друк банерів")) == 2


def test_a_trailing_star_searches_by_prefix(archive: Archive) -> None:
    say(archive, customer(archive), "візитки готові", minutes=1)
    say(archive, customer(archive), "сто візиток", minutes=2)
    assert texts(archive, "візит*") == ["сто візиток", "візитки готові"]
    assert texts(archive, "візит") == []


def test_all_words_must_match(archive: Archive) -> None:
    say(archive, customer(archive), "візитки і банер", minutes=1)
    say(archive, customer(archive), "тільки візитки", minutes=2)
    say(archive, customer(archive), "тільки банер", minutes=3)
    assert texts(archive, "банер візитки") == ["візитки і банер"]


@pytest.mark.parametrize(
    "query",
    ['"unbalanced', "AND", "візитки AND", "NEAR(", "NEAR(a b)", "-x", "col:val", "text:візитки",
     "a OR b", "NOT візитки", "^start", "(x", "x)", "{text}", "a + b", 'a"b', "візитки*банер"],
)  # fmt: skip
def test_search_syntax_in_a_query_is_taken_literally(archive: Archive, query: str) -> None:
    archive.search(SearchQuery(query))  # never an FTS5 syntax error


def test_operators_are_searched_as_words(archive: Archive) -> None:
    say(archive, customer(archive), "rock AND roll", minutes=1)
    say(archive, customer(archive), "text: візитки", minutes=2)
    say(archive, customer(archive), "візитки", minutes=3)
    assert texts(archive, "AND") == ["rock AND roll"]
    assert texts(archive, "text:візитки") == ["text: візитки"]
    assert texts(archive, '"rock AND') == ["rock AND roll"]
    assert texts(archive, "-roll") == ["rock AND roll"]


@pytest.mark.parametrize("query", ["", "   ", '"', '""', "*", "-", "…", "?!"])
def test_nothing_to_search_for_is_a_usage_error(archive: Archive, query: str) -> None:
    with pytest.raises(UsageError) as caught:
        archive.search(SearchQuery(query))
    assert caught.value.message == f"nothing to search for in '{query}'"


# -- filters and order -----------------------------------------------------------------------


def test_filters_narrow_the_results(archive: Archive) -> None:
    olena = customer(archive, "Олена", "Коваленко", username="olena_k", phone="+380 67 123 45 67")
    taras = customer(archive, "Тарас", "Мельник", channel="viber", bot="shop-viber",
                     external_id="vBx9==")  # fmt: skip
    say(archive, olena, "візитки 1", minutes=0)
    say(archive, taras, "візитки 2", minutes=60 * 24)
    say(archive, olena, "візитки 3", minutes=60 * 48)
    assert texts(archive, "візитки") == ["візитки 3", "візитки 2", "візитки 1"]
    assert texts(archive, "візитки", channel="viber") == ["візитки 2"]
    assert texts(archive, "візитки", customer="ОЛЕНА") == ["візитки 3", "візитки 1"]
    assert texts(archive, "візитки", customer="@olena") == ["візитки 3", "візитки 1"]
    assert texts(archive, "візитки", customer="0671234567") == ["візитки 3", "візитки 1"]
    assert texts(archive, "візитки", customer="vbx9") == ["візитки 2"]
    assert texts(archive, "візитки", customer="Nobody") == []
    day = timedelta(days=1)
    assert texts(archive, "візитки", since=T0 + day) == ["візитки 3", "візитки 2"]
    assert texts(archive, "візитки", until=T0 + day) == ["візитки 2", "візитки 1"]
    assert texts(archive, "візитки", since=T0 + day, until=T0 + day) == ["візитки 2"]
    assert texts(archive, "візитки", limit=2) == ["візитки 3", "візитки 2"]
    with pytest.raises(UsageError):
        archive.search(SearchQuery("візитки", limit=0))


@pytest.mark.parametrize("others", [0, 12])  # the customer's share of messages: big, small
def test_the_customer_filter_gives_the_same_hits_however_they_are_found(
    archive: Archive, others: int
) -> None:
    olena = customer(archive, "Олена", "Ковальчук", username="olena_k")
    for i in range(others):
        say(archive, customer(archive, "Тарас", f"Мельник{i}"), f"візитки інші {i}", minutes=i)
    for i in range(3):
        say(archive, olena, f"візитки мої {i}", minutes=100 + i)
        say(archive, olena, f"банер {i}", minutes=200 + i)
    assert texts(archive, "візитки", customer="ковальчук") == [
        "візитки мої 2", "візитки мої 1", "візитки мої 0",
    ]  # fmt: skip
    assert texts(archive, "візитки", customer="@OLENA", limit=2) == [
        "візитки мої 2",
        "візитки мої 1",
    ]
    late = T0 + timedelta(minutes=101)
    assert texts(archive, "візитки", customer="Олена", since=late) == [
        "візитки мої 2",
        "візитки мої 1",
    ]
    assert texts(archive, "візитки", customer="Олена", channel="viber") == []
    assert texts(archive, "ламінація", customer="Олена") == []


def test_customer_names_and_file_names_are_searchable(archive: Archive) -> None:
    conv = customer(archive, "Богдан", "Гнатюк", username="bohdan_print")
    say(archive, conv, "", files=[NewAttachment("Макет_листівки.pdf", "application/pdf", b"%")])
    say(archive, conv, "Добрий день", minutes=1)
    (hit,) = archive.search(SearchQuery("листівки"))
    assert hit.snippet == "Макет_листівки.pdf"
    assert marked_snippet(hit.snippet, hit.highlights) == "Макет_**листівки**.pdf"
    by_name = archive.search(SearchQuery("гнатюк"))
    assert [e.text for e in by_name] == ["Добрий день", ""]
    assert by_name[0].snippet == "Добрий день" and by_name[0].highlights == ()
    assert len(archive.search(SearchQuery("bohdan_print"))) == 2


def test_a_renamed_customer_is_found_by_the_new_name_only(archive: Archive) -> None:
    conv = customer(archive, "Олена", "Коваленко", external_id="77")
    say(archive, conv, "привіт")
    archive.upsert_customer(Customer("telegram", "77", "Олена", "Шевчук"))
    assert texts(archive, "Шевчук") == ["привіт"]
    assert texts(archive, "Коваленко") == []
    assert archive.search(SearchQuery("привіт"))[0].customer == "Олена Шевчук"


# -- snippets ----------------------------------------------------------------------------------


def test_the_snippet_shows_the_original_text_with_the_hits_marked(archive: Archive) -> None:
    one_message(archive, "Нужно ещё 100 шт формата А4")
    (hit,) = archive.search(SearchQuery("еще a4"))
    assert hit.snippet == "Нужно ещё 100 шт формата А4"
    assert [hit.snippet[s:e] for s, e in hit.highlights] == ["ещё", "А4"]
    assert hit.record()["snippet"] == "Нужно **ещё** 100 шт формата **А4**"


def test_a_long_text_is_cut_around_the_first_hit(archive: Archive) -> None:
    before = "слово " * 60
    after = " інше" * 60
    one_message(archive, f"{before}\nбанер п’ятниця{after}")
    (hit,) = archive.search(SearchQuery("п'ятниця"))
    assert hit.snippet.startswith("…") and hit.snippet.endswith("…")
    assert len(hit.snippet) <= search.SNIPPET_WIDTH + 2
    assert "\n" not in hit.snippet and " банер " in hit.snippet
    assert [hit.snippet[s:e] for s, e in hit.highlights] == ["п’ятниця"]


def test_prefix_and_phrase_hits_are_highlighted(archive: Archive) -> None:
    one_message(archive, "друк банерів і ще банер, друк візиток")
    (hit,) = archive.search(SearchQuery('"друк банерів" банер*'))
    marked = [hit.snippet[s:e] for s, e in hit.highlights]
    assert marked == ["друк банерів", "банер"]  # "банерів" is inside the phrase hit


# -- normalization as a function -------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["п'ятниця п’ятниця пʼятниця", "Ёлка ещё", "А4 С-300 ВХ12 2х1", "сокoл мiсто", "don't",
     "₴350 грн №12345 ORD-2026-0042", "emoji 😀 ok", "\ufffd\x00"],
)  # fmt: skip
def test_normalization_keeps_every_offset(text: str) -> None:
    assert len(search.normalize(text)) == len(text)


def test_normalization_is_the_same_for_a_word_alone_and_in_a_text() -> None:
    text = "Замовлення ВХ-12, формат А4/А3, п’ятниця, ещё сокoл"
    for word in text.replace(",", "").split():
        assert search.normalize(word) in search.normalize(text)


@pytest.mark.parametrize(
    "text",
    ["п'ятниця, ВІЗИТКИ ещё", "Café ÉTÉ naïve", "x² ª µ ¼ № 5", "ß İstanbul Σίσυφος",
     "ударе\u0301ние \u0301 alone", "a_b-c/d", "😀ok\u200bтак", ""],
)  # fmt: skip
def test_the_words_of_a_text_are_its_tokens_folded(text: str) -> None:
    normalized = search.normalize(text)
    assert search.words(normalized) == [w for _, _, w in search.tokens(normalized) if w]


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("Потрібен банер 2х1 м", "Потрібен банер 2x1 м"),  # the code last, far from the start
        ("замовлення на папір А4", "замовлення на папір A4"),
        ("№ВХ-12 і С-300/А3", "№BX-12 і C-300/A3"),
        ("ціна ₴350, формат А5", "ціна ₴350, формат A5"),
        ("текст без латиниці", "текст без латиниці"),  # nothing ASCII: nothing to look at
        ("Привіт! ok", "Привіт! ok"),  # ASCII apart from the Cyrillic words
        ("сокoл", "сокол"),
        ("҂А4", "҂A4"),  # a Cyrillic sign (not a letter) before the code
        ("1҂5 м", "1҂5 м"),
    ],
)
def test_codes_are_unified_wherever_they_stand_in_a_text(text: str, normalized: str) -> None:
    assert search.normalize(text) == normalized


HIGHLIGHTED = [
    "Потрібні візитки на завтра, ВІЗИТКИ!",
    "візиткивізитки візитки",  # the word inside a longer one first
    "п'ятниця: візитки ще є? п’ятниця",  # an apostrophe mark: spans read another way
    "Café ÉTÉ візитки naïve візитки",  # not plain text
    "Ещё \u0301 визитки, ещё",
    "банер 2х1 м, А4 візитки",
    "",
]


@pytest.mark.parametrize("text", HIGHLIGHTED)
@pytest.mark.parametrize("query", ["візитки", "візитки ещё", "п'ятниця", "a4 візитки", "ete"])
def test_one_word_terms_are_highlighted_like_any_term(text: str, query: str) -> None:
    # Queries of one-word terms take a shorter way (the words read once, spans found only
    # for the words that hit): the same spans as the way phrases and prefixes take.
    terms = search.parse_query(query).terms
    assert search.highlighter(terms)(text) == search._term_spans(text, terms)


def test_text_that_is_not_utf8_is_still_found_by_its_forms(archive: Archive) -> None:
    # Hits are read with sqlite3's own decoding, and again with the replacing one when a
    # value is not UTF-8 (archive/db.py fetch_all): both walks, and the file names.
    pdf = NewAttachment("візитки.pdf", "application/pdf", b"%PDF-1.4 x")
    say(archive, customer(archive), "Ось макет візиток", files=[pdf])
    text = "Ось ".encode() + b"\xff" + " візиток".encode()
    name = "візитки".encode() + b"\xff.pdf"
    with writing(archive) as db:
        db.execute("UPDATE messages SET text = CAST(? AS TEXT)", (text,))
        db.execute("UPDATE attachments SET filename = CAST(? AS TEXT)", (name,))
    for query in ("візиток", "візитками"):  # found as typed, then by its forms only
        [hit] = archive.search(SearchQuery(query))
        assert hit.text == "Ось \ufffd візиток"
        assert hit.attachments == ("візитки\ufffd.pdf",)
        assert [hit.snippet[a:b] for a, b in hit.highlights] == ["візиток"]


@pytest.mark.parametrize(
    ("first", "last", "username", "shown"),
    [("Олена", "Коваль", "olena", "Олена Коваль"), (" Олена ", "", None, "Олена"),
     ("", "Коваль", "k", "Коваль"), ("  ", "", "olena", "@olena"), ("", "", None, "Customer 7")],
)  # fmt: skip
def test_a_hit_names_its_customer_as_everywhere(
    archive: Archive, first: str, last: str, username: str | None, shown: str
) -> None:
    who = customer(archive, first, last, username=username, external_id="7")
    say(archive, who, "візитки")
    [hit] = archive.search(SearchQuery("візитки"))
    assert hit.customer == shown == Customer("telegram", "7", first, last, username).display_name
