"""Search that knows word forms: a word finds its other forms (візитки → візиток,
заказ → заказа, card → cards), after the hits of the word as typed; --exact turns it off.
The keys themselves (archive/forms.py), the ranking, the index kept beside the words
(archive/word_index.py, migration m012) and the labelled set's figures."""

from __future__ import annotations

import pytest

from im2mail.archive import Archive, forms, search, word_index
from im2mail.errors import UsageError
from im2mail.model import NewAttachment, SearchQuery
from tests.conftest import run_cli
from tests.support import labelled
from tests.support.archive_sql import reading, writing
from tests.support.chats import customer, say


def key(word: str, text: str | None = None) -> str:
    """The index key of `word` as it stands in `text` (alone when None)."""
    normalized = search.normalize(text or word)
    keys = forms.index_text(normalized).split()
    words = [w for _, _, w in search.tokens(normalized)]
    return keys[words.index(labelled.folded(word)[0])]


def ids(archive: Archive, query: str, **kw) -> list[int]:
    return [e.message_id for e in archive.search(SearchQuery(query, **kw))]


# -- the keys, per language -----------------------------------------------------------------


@pytest.mark.parametrize(
    "words",
    [
        ["візитки", "візиток", "візитками", "візитку", "візитка", "ВІЗИТКОЮ"],
        ["банер", "банерів", "банерами", "банери"],
        ["замовлення", "замовлень", "замовленням"],
        ["готовий", "готові", "готове"],  # not гот (a Goth), which готові also parses as
        ["п'ятниця", "п’ятниці", "пʼятницю", "пятниця"],  # apostrophes folded first
        ["друкуємо", "друкувати", "друкують"],
    ],
)
def test_ukrainian_forms_share_a_key(words: list[str]) -> None:
    assert len({key(w) for w in words}) == 1, {w: key(w) for w in words}


@pytest.mark.parametrize(
    "words",
    [
        ["заказ", "заказа", "заказы", "заказов", "заказом"],
        ["визитки", "визиток", "визитками"],
        ["счёт", "счет", "счета", "счёту"],  # ё is е, as in exact search
        ["готов", "готово", "готовы", "готовый"],
    ],
)
def test_russian_forms_share_a_key(words: list[str]) -> None:
    keys = {key(w, f"Здравствуйте, {w} спасибо") for w in words}
    assert len(keys) == 1, keys


@pytest.mark.parametrize(
    "words", [["card", "cards"], ["print", "printed", "printing", "prints"], ["order", "orders"]]
)
def test_english_forms_share_a_stem(words: list[str]) -> None:
    assert len({key(w) for w in words}) == 1


def test_different_words_keep_different_keys() -> None:
    assert key("замовлення") != key("замовити")  # the order is not to order
    assert key("візитка") != key("визитка")  # no transliteration between languages
    assert key("card") != key("car")


@pytest.mark.parametrize("word", ["a4", "2026", "ord", "№12345", "bx12"])
def test_numbers_and_codes_are_their_own_key(word: str) -> None:
    folded = labelled.folded(word)[0]
    assert forms.word_key(folded) == folded


def test_a_word_no_dictionary_knows_still_loses_its_ending() -> None:
    assert key("брендбуки") == key("брендбуків") == key("брендбук")


def test_the_message_language_decides_a_word_both_languages_have() -> None:
    # почту: Russian почта (mail), or a form Ukrainian knows too
    assert key("почту", "Здравствуйте! Счёт отправили на почту") == key("почты")
    assert set(forms.query_keys("почту")) >= {key("почты")}  # a query may mean either


# -- search: exact forms first, then the other forms ---------------------------------------


@pytest.fixture
def cards(archive: Archive) -> Archive:
    olena = customer(archive)
    say(archive, olena, "Потрібні візитки на завтра", minutes=0)  # 1: exact, oldest
    say(archive, olena, "Скільки буде 500 візиток?", minutes=1)  # 2
    say(archive, olena, "Що з моїми візитками?", minutes=2)  # 3
    say(archive, olena, "А банер?", minutes=3)  # 4: no
    say(archive, olena, "Ще візитки, будь ласка", minutes=4)  # 5: exact, newest
    return archive


def test_a_word_finds_its_other_forms_after_its_own(cards: Archive) -> None:
    assert ids(cards, "візитки") == [5, 1, 3, 2]
    assert ids(cards, "візиток") == [2, 5, 3, 1]
    assert ids(cards, "візиткою") == [5, 3, 2, 1]  # a form no message has: all by forms


def test_exact_turns_the_other_forms_off(cards: Archive) -> None:
    assert ids(cards, "візитки", exact=True) == [5, 1]
    assert ids(cards, "візиткою", exact=True) == []


def test_the_limit_is_filled_by_exact_hits_first(cards: Archive) -> None:
    assert ids(cards, "візитки", limit=2) == [5, 1]
    assert ids(cards, "візитки", limit=3) == [5, 1, 3]


def test_exact_hits_rank_first_however_many_there_are(archive: Archive) -> None:
    # The exact index is walked oldest first while its hits fit the limit, newest first
    # when there are more (messages.py): the order is the same either way.
    olena = customer(archive)
    exact = [say(archive, olena, f"Візитки {i}", minutes=i).id for i in range(4)]
    forms_ = [say(archive, olena, f"Візиток {i}", minutes=10 + i).id for i in range(4)]
    newest_first = list(reversed(exact)) + list(reversed(forms_))
    for limit in (1, 3, 4, 5, 8, 20):
        assert ids(archive, "візитки", limit=limit) == newest_first[:limit], limit
        assert ids(archive, "візитки", limit=limit, exact=True) == newest_first[: min(limit, 4)]


def test_other_forms_fill_the_rest_newest_first_wherever_the_exact_hits_stand(
    archive: Archive,
) -> None:
    # The word-form index is asked for the newest `limit` hits only (messages.py): the
    # exact hits among them leave room for every other hit that is shown.
    olena = customer(archive)
    words = ["візиток", "візитки", "візитками", "візитки", "візиток", "візитку", "візитки"]
    sent = [say(archive, olena, f"{w} {i}", minutes=i).id for i, w in enumerate(words)]
    exact = [i for i, w in zip(sent, words, strict=True) if w == "візитки"][::-1]
    others = [i for i, w in zip(sent, words, strict=True) if w != "візитки"][::-1]
    for limit in range(1, 9):
        assert ids(archive, "візитки", limit=limit) == (exact + others)[:limit], limit


def test_filters_hold_on_both_walks_of_the_exact_index(archive: Archive) -> None:
    olena, petro = customer(archive), customer(archive, "Петро", "", channel="viber", bot="vb")
    theirs = [say(archive, petro, f"Візитки {i}", minutes=i).id for i in range(3)]
    for i in range(30):  # many exact hits on telegram: the newest-first walk
        say(archive, olena, f"Візитки ще {i}", minutes=10 + i)
    assert ids(archive, "візитки", channel="viber") == list(reversed(theirs))
    assert ids(archive, "візитки", channel="viber", limit=2) == list(reversed(theirs))[:2]
    assert len(ids(archive, "візитки", channel="telegram")) == 20


def test_all_words_must_match_in_some_form(cards: Archive) -> None:
    say(archive := cards, customer(archive, "Петро", ""), "Рахунок за візитками", minutes=9)
    assert ids(archive, "рахунки візитки") == [6]
    assert ids(archive, '"рахунки за візитки"') == [6]  # a phrase, by its words' forms
    assert ids(archive, '"візитки за"') == []


def test_filters_apply_to_the_other_forms_too(cards: Archive) -> None:
    petro = customer(cards, "Петро", "Мельник", channel="viber", bot="vb")
    say(cards, petro, "Візиток треба 200", minutes=10)
    assert ids(cards, "візитки", channel="viber") == [6]
    assert ids(cards, "візитки", customer="мельник") == [6]


def test_other_forms_are_highlighted_in_the_snippet(cards: Archive) -> None:
    hit = next(e for e in cards.search(SearchQuery("візитки")) if e.message_id == 3)
    start, end = hit.highlights[0]
    assert hit.snippet[start:end] == "візитками"


def test_a_stress_mark_standing_alone_does_not_shift_the_highlight(archive: Archive) -> None:
    say(archive, customer(archive), "Ещё \u0301 визитки? Да, за\u0301каз готов")
    [hit] = archive.search(SearchQuery("визитка заказы"))
    assert [hit.snippet[a:b] for a, b in hit.highlights] == ["визитки", "за\u0301каз"]


@pytest.mark.parametrize(
    "text",
    ["Візиток треба, візитками теж", "візитоквізиток візиток", "Ещё заказы? Заказ готов",
     "п’ятниці й п'ятниця", "Café cards, CARD printed", "ударе\u0301ние \u0301 заказа", ""],
)  # fmt: skip
@pytest.mark.parametrize("query", ["візитки", "заказ", "пятниця", "card printing", "заказ ещё"])
def test_one_word_terms_are_highlighted_by_their_forms_like_any_term(text: str, query: str) -> None:
    terms = search.parse_query(query).terms
    assert forms.highlighter(terms)(text) == forms._term_spans(text, terms)


def test_file_names_are_found_by_their_words_forms(archive: Archive) -> None:
    pdf = NewAttachment("рахунки_травень.pdf", "application/pdf", b"%PDF-1.4 x")
    say(archive, customer(archive), "", files=[pdf])
    [hit] = archive.search(SearchQuery("рахунок"))
    assert hit.snippet == "рахунки_травень.pdf"
    assert hit.highlights == ((0, 7),)


def test_ranking_holds_in_english_and_russian(archive: Archive) -> None:
    john = customer(archive, "John", "Smith")
    say(archive, john, "Your cards are printed", minutes=0)
    say(archive, john, "One card please", minutes=1)
    assert ids(archive, "cards") == [1, 2]
    assert ids(archive, "printing") == [1]
    olga = customer(archive, "Ольга", "")
    say(archive, olga, "Где мой заказ?", minutes=2)
    say(archive, olga, "Когда будут заказы?", minutes=3)
    assert ids(archive, "заказа") == [4, 3]


# -- queries that are only an ending or punctuation -----------------------------------------


@pytest.mark.parametrize("query", ["ами", "-ами", "ів", "*ок", "ь", "ing", "'s"])
def test_a_query_of_only_an_ending_finds_nothing_and_does_not_fail(
    cards: Archive, query: str
) -> None:
    assert ids(cards, query) == []


@pytest.mark.parametrize("query", ["?!", "—", "'", "*", "« »", '""', "-"])
def test_a_query_of_only_punctuation_is_a_usage_error(cards: Archive, query: str) -> None:
    with pytest.raises(UsageError, match="nothing to search for"):
        cards.search(SearchQuery(query))


def test_the_command_line_takes_exact_and_bad_queries(cards: Archive) -> None:
    found = run_cli("search", "візиток", "--json")
    assert found.code == 0, found.err
    assert len(found.out.splitlines()) == 4
    exact = run_cli("search", "візиток", "--exact", "--json")
    assert len(exact.out.splitlines()) == 1
    ending = run_cli("search", "--", "-ами")
    assert (ending.code, ending.out) == (0, "")
    punctuation = run_cli("search", "--", "?!")
    assert punctuation.code == 2
    assert punctuation.err.startswith("error: nothing to search for")
    assert "Traceback" not in punctuation.err + ending.err


# -- the index beside the words: backfill, resumed, re-indexed ------------------------------


def _before_word_forms(archive: Archive) -> None:
    """Make the archive look as it did before m012: no word-form index."""
    with writing(archive) as db:
        db.execute("DROP TABLE messages_forms")
        db.execute("DELETE FROM _migrations WHERE name = 'm012_word_forms'")
        db.execute("DELETE FROM relay_memory WHERE key LIKE 'word_forms_%'")


def _many(archive: Archive, n: int) -> None:
    olena = customer(archive)
    for i in range(n):
        say(archive, olena, f"Замовлення {i}: візитки" if i % 2 else f"{i} візиток", minutes=i)


def test_an_older_archive_gets_its_messages_indexed_on_open(archive: Archive, archive_path):
    _many(archive, 30)
    _before_word_forms(archive)
    archive.close()
    with Archive.open(archive_path) as again:
        assert len(ids(again, "візитки", limit=100)) == 30
        assert len(ids(again, "візиткою", limit=100)) == 30
        with reading(again) as db:
            assert word_index.pending_below(db) == 0


def test_a_big_backfill_leaves_the_word_form_index_in_one_segment(
    archive: Archive, archive_path, monkeypatch: pytest.MonkeyPatch
):
    _many(archive, 30)
    _before_word_forms(archive)
    archive.close()
    monkeypatch.setattr(word_index, "BACKFILL_BATCH", 7)
    monkeypatch.setattr(word_index, "OPTIMIZE_AFTER", 30)
    with Archive.open(archive_path) as again:
        with reading(again) as db:
            segments = "SELECT count(DISTINCT segid) FROM messages_forms_idx"
            assert db.execute(segments).fetchone()[0] == 1
        assert len(ids(again, "візиткою", limit=100)) == 30


def test_a_backfill_cut_short_goes_on_where_it_stopped(
    archive: Archive, archive_path, monkeypatch: pytest.MonkeyPatch
):
    _many(archive, 30)
    _before_word_forms(archive)
    archive.close()
    monkeypatch.setattr(word_index, "BACKFILL_BATCH", 7)
    real, calls = word_index._next_batch, []

    def dies_on_the_third(db, batch):
        calls.append(batch)
        if len(calls) == 3:
            raise KeyboardInterrupt  # as a kill would, mid-transaction
        return real(db, batch)

    monkeypatch.setattr(word_index, "_next_batch", dies_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        Archive.open(archive_path)
    monkeypatch.setattr(word_index, "_next_batch", real)
    with Archive.open(archive_path) as again:
        found = ids(again, "візиткою", limit=100)
    assert found == list(range(30, 0, -1))  # each once: the 14 newest were not added twice


def test_a_new_dictionary_version_indexes_again(
    archive: Archive, archive_path, monkeypatch: pytest.MonkeyPatch
):
    _many(archive, 10)
    archive.close()
    monkeypatch.setattr(forms, "VERSION", forms.VERSION + " next")
    with Archive.open(archive_path) as again:
        assert ids(again, "візиткою", limit=100) == list(range(10, 0, -1))
        with reading(again) as db:
            stored = db.execute(
                "SELECT value FROM relay_memory WHERE key = ?", (word_index.VERSION_KEY,)
            ).fetchone()[0]
    assert stored == forms.VERSION


def test_a_renamed_customer_is_found_by_the_forms_of_the_new_name(archive: Archive) -> None:
    from im2mail.model import Customer

    olena = customer(archive, "Олена", "Коваленко", external_id="7")
    say(archive, olena, "Добрий день")
    archive.upsert_customer(Customer("telegram", "7", "Олена", "Шевченко"))
    assert ids(archive, "шевченка") == [1]
    assert ids(archive, "коваленка") == []


def test_reindex_rebuilds_both_indexes(cards: Archive) -> None:
    assert cards.reindex() == 5
    assert ids(cards, "візитки") == [5, 1, 3, 2]


# -- the labelled set ----------------------------------------------------------------------

# benches/word_forms.py on 100,000 generated messages (BENCHMARKS.md, "Search word forms"):
# im2mail's recall@20 and precision@20, before (exact) and after (word forms: 1.000, 1.000;
# the floor leaves a little room for this test's smaller archive).
RECORDED = {"exact": (0.654, 0.654), "forms": (0.99, 0.99)}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    from tests.support.generate import generate

    path = tmp_path_factory.mktemp("labelled") / "archive.db"
    with Archive.open(path) as archive:
        generate(archive, conversations=60, messages=3000, seed=1)
    opened = Archive.open(path)
    yield opened
    opened.close()


def test_the_labelled_set_is_found_at_least_as_well_as_recorded(generated: Archive) -> None:
    queries, lexemes = labelled.load()
    assert len(queries) >= 60
    assert {q["lang"] for q in queries} >= {"uk", "ru", "en"}
    msgs = labelled.messages(generated)
    rows: dict[str, list[dict[str, float]]] = {"exact": [], "forms": []}
    for q in queries:
        good = labelled.relevant(q, lexemes, msgs)
        for way in rows:
            hits = ids(generated, q["q"], exact=way == "exact")
            rows[way].append(labelled.scores(hits, good))
    figures = {
        way: (labelled.mean(r, "recall@20"), labelled.mean(r, "precision@20"))
        for way, r in rows.items()
    }
    assert figures["forms"][0] >= RECORDED["forms"][0], figures
    assert figures["forms"][1] >= RECORDED["forms"][1], figures
    assert figures["forms"][0] > figures["exact"][0] + 0.2, figures
