"""Word forms: the key a word is indexed and searched by beside its exact form, so that
`візитки` finds візиток and візитками, and `заказ` finds заказа and заказы.

Chosen by benches/word_forms.py on tests/data/search/labelled.json (BENCHMARKS.md, "Search
word forms"):

- a Cyrillic word's key is its lemma from pymorphy3 with the OpenCorpora-format
  dictionaries for Ukrainian and Russian (pymorphy3-dicts-uk, -ru): the normal form most of
  its analyses give (an analysis counts its score: Ukrainian ones are all 1, Russian ones
  are frequencies), so готові is готовий, not гот;
- which dictionary: the one of a letter only one language has (і ї є ґ: Ukrainian; ы э ъ:
  Russian), else the text's language (the one more of its words lean to: by such a
  letter, or known to one dictionary only), else the first that knows the word; a
  Cyrillic word no dictionary knows gets Snowball's Russian stem (PyStemmer), which
  handles endings of words no dictionary has (брендбук, брендбуки);
- a Latin word's key is Snowball's English stem (cards → card, printed → print);
- anything else (numbers, codes, mixed scripts) is its own key.

Keys are folded like exact words (search.fold: lower case, ё as е, no apostrophes), one
per word, so positions and "phrases" hold. A query word whose language its letters don't
tell may be either language's word: it is searched by every key it can have in the index
(`query_keys`). The dictionaries load on the first Cyrillic word (~0.15 s); English and
numbers need only Snowball (a C extension, instant). Nothing here touches SQLite.

VERSION names the rules and dictionaries: an archive indexed with another one is
re-indexed (word_index.py), since its contentless index can only drop a row given the
keys it was added with.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable
from typing import Any

from . import search

VERSION = "1 pymorphy3-dicts-uk 2.4.1.1.1663094765 pymorphy3-dicts-ru 2.4.417150.4580142"
_UK_ONLY = frozenset("іїєґ")
_RU_ONLY = frozenset("ыэъ")
_CYRILLIC = re.compile("[\u0400-\u04ff]")
_LANGUAGES = ("uk", "ru")

_lock = threading.Lock()
_loaded: dict[str, Any] = {}


def _analyzer(lang: str) -> Any:
    """pymorphy3's analyzer for uk or ru, loaded once (its dictionary path given, which
    spares pymorphy3 a scan of every installed package's entry points)."""
    morph = _loaded.get(lang)
    if morph is None:
        with _lock:
            morph = _loaded.get(lang)
            if morph is None:
                import pymorphy3

                if lang == "uk":
                    import pymorphy3_dicts_uk as dicts
                else:
                    import pymorphy3_dicts_ru as dicts
                morph = pymorphy3.MorphAnalyzer(path=dicts.get_path(), lang=lang)
                _loaded[lang] = morph
    return morph


@functools.cache
def _stemmer(lang: str) -> Any:
    import Stemmer

    return Stemmer.Stemmer({"en": "english", "ru": "russian"}[lang])


def language(words: list[str]) -> str | None:
    """'uk' or 'ru' when more of the folded words lean that way (a letter only that
    language has, or only its dictionary knows the word), else None."""
    leanings = [_info(w)[0] for w in words]
    uk, ru = leanings.count("uk"), leanings.count("ru")
    return "uk" if uk > ru else "ru" if ru > uk else None


def _own_language(word: str) -> str | None:
    letters = set(word)
    if letters & _UK_ONLY:
        return "uk"
    if letters & _RU_ONLY:
        return "ru"
    return None


def _knows(lang: str, word: str) -> bool:
    return _analyzer(lang).word_is_known(word)


def _lemma(lang: str, word: str) -> str:
    votes: dict[str, float] = {}
    for parse in _analyzer(lang).parse(word):
        votes[parse.normal_form] = votes.get(parse.normal_form, 0.0) + (parse.score or 0.0)
    lemma = max(votes, key=votes.__getitem__) if votes else word
    return "".join(search.words(search.normalize(lemma))) or word


def _kind(word: str) -> str:
    """'cyrillic', 'latin' or 'other' (digits, mixed scripts, marks): what keys it."""
    if not word.isalpha():
        return "other"
    if word.isascii():
        return "latin"
    if _CYRILLIC.search(word) and not any(ch.isascii() for ch in word):
        return "cyrillic"
    return "other"


def word_key(word: str, hint: str | None = None) -> str:
    """The key of a folded word (search.words) in a text whose language is `hint`
    (language(); None: not known)."""
    info = _info(word)
    return info[2] if hint == "ru" else info[1]


@functools.lru_cache(maxsize=200_000)
def _info(word: str) -> tuple[str | None, str, str]:
    """(the language the word leans to, its key in a Ukrainian text or one of unknown
    language, its key in a Russian text): one cached look-up per word of a message."""
    kind = _kind(word)
    if kind != "cyrillic":
        key = (_stemmer("en").stemWord(word) or word) if kind == "latin" else word
        return None, key, key
    own = _own_language(word)
    known = [lang for lang in ([own] if own else _LANGUAGES) if _knows(lang, word)]
    if not known:
        key = _stemmer("ru").stemWord(word) or word
        return own, key, key
    first = _lemma(known[0], word)
    in_russian = _lemma("ru", word) if "ru" in known[1:] else first
    return own or (known[0] if len(known) == 1 else None), first, in_russian


@functools.lru_cache(maxsize=4096)
def query_keys(word: str) -> tuple[str, ...]:
    """Every key a folded query word can have in the index: one, unless its letters leave
    its language open and both dictionaries know it with different lemmas."""
    _, first, in_russian = _info(word)
    return (first,) if first == in_russian else (first, in_russian)


def index_text(normalized: str) -> str:
    """The keys of an already normalized text (search.normalize), space-separated, one
    per word: what the word-form index holds for it."""
    return " ".join(_keys(search.words(normalized), bool(_CYRILLIC.search(normalized))))


def _keys(words: list[str], cyrillic: bool) -> list[str]:
    """The keys of a text's folded words (`cyrillic`: whether the text has a Cyrillic
    letter, so that its language decides the keys of words both languages spell alike)."""
    if not cyrillic:
        return [_info(w)[1] for w in words]
    infos = [_info(w) for w in words]
    column = _column(infos)
    return [info[column] for info in infos]


def _column(infos: list[tuple[str | None, str, str]]) -> int:
    """Which key of _info a Cyrillic text's words take: 2 when more of them lean to
    Russian than to Ukrainian, else 1."""
    leanings = [info[0] for info in infos]
    return 2 if leanings.count("ru") > leanings.count("uk") else 1


_MAX_VARIANTS = 16  # a phrase's key combinations searched at most (words of open language)


@functools.lru_cache(maxsize=256)
def _term_keys(term: search.Term) -> tuple[tuple[str, ...], ...]:
    """The keys each word of a query term may have in the index; a prefix as typed
    (remembered: search asks it for every hit it highlights)."""
    out = [query_keys(key) for key in term.keys]
    if term.prefix:
        out[-1] = (term.keys[-1],)
    return tuple(out)


def match(terms: tuple[search.Term, ...]) -> str:
    """The MATCH expression for messages_forms: each term by its words' keys (any of a
    word's keys; a prefix as typed, against the keys), all terms ANDed."""
    parts = []
    for term in terms:
        variants: list[tuple[str, ...]] = [()]
        for keys in _term_keys(term):
            variants = [(*v, k) for v in variants for k in keys][:_MAX_VARIANTS]
        quoted = [search.Term(v, term.prefix).fts for v in variants]
        parts.append(quoted[0] if len(quoted) == 1 else "(" + " OR ".join(quoted) + ")")
    return " AND ".join(parts)


def match_spans(text: str, terms: tuple[search.Term, ...]) -> search.Spans:
    """Spans of `text` (original) whose words match a term by their keys, in order."""
    return highlighter(terms)(text)


def highlighter(terms: tuple[search.Term, ...]) -> Callable[[str], search.Spans]:
    """match_spans for these terms, as a function of the text: what the terms need is
    worked out once (search highlights 20 texts at a time)."""
    if any(len(term.keys) != 1 or term.prefix for term in terms):
        return functools.partial(_term_spans, terms=terms)
    wanted = frozenset(key for term in terms for key in _term_keys(term)[0])

    def spans(text: str) -> search.Spans:  # each term a word: the words with one of its keys
        normalized = search.normalize(text)
        read = search.words_read(normalized)
        infos = list(map(_info, read[0]))
        at = [i for i, info in enumerate(infos) if info[1] in wanted or info[2] in wanted]
        if any(infos[i][1] != infos[i][2] for i in at):  # its key is the text's language's
            column = _column(infos) if _CYRILLIC.search(normalized) else 1
            at = [i for i in at if infos[i][column] in wanted]
        return search.spans_of(normalized, read, at) if at else []

    return spans


def _term_spans(text: str, terms: tuple[search.Term, ...]) -> search.Spans:
    normalized = search.normalize(text)
    read = search.words_read(normalized)
    keys = _keys(read[0], bool(_CYRILLIC.search(normalized)))
    found = []  # (first word, last word) of each match
    for term in terms:
        want = _term_keys(term)
        n, last = len(want), len(want) - 1
        for i in _starts(keys, want[0], term.prefix and n == 1):
            if i + n > len(keys):
                break
            if n == 1 or all(
                _hits(keys[i + j], want[j], term.prefix and j == last) for j in range(1, n)
            ):
                found.append((i, i + last))
    if not found:
        return []
    at = sorted({i for pair in found for i in pair})
    where = dict(zip(at, search.spans_of(normalized, read, at), strict=True))
    return search.merged([(where[first][0], where[end][1]) for first, end in found])


def _starts(keys: list[str], first: tuple[str, ...], prefix: bool) -> list[int]:
    """Where a term's first word matches (its keys; a prefix: the start of a key)."""
    if prefix:
        return [i for i, key in enumerate(keys) if key.startswith(first[0])]
    if len(first) == 1:
        want = first[0]
        return [i for i, key in enumerate(keys) if key == want]
    return [i for i, key in enumerate(keys) if key in first]


def _hits(key: str, wanted: tuple[str, ...], prefix: bool) -> bool:
    return key.startswith(wanted[0]) if prefix else key in wanted
