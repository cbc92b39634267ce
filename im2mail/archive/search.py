"""Search text handling: the normalized form the FTS index holds, query parsing, snippets.

The archive indexes `normalize(text)` and queries with normalized words, so that spellings
people mix up find each other:

- 'ё' is 'е' (unicode61 does not fold it);
- the apostrophe forms between letters (' ’ ʼ ` ‘) are one form that the tokenizer drops,
  so п'ятниця, п’ятниця, пʼятниця and пятниця are the same word;
- in a code (a word with a digit, and parts of at most 3 look-alike letters joined to it
  by - or /) Cyrillic look-alike letters become Latin: Cyrillic 'А4', 'С-300', 'ВХ12' are
  the Latin ones;
- a word mixing Latin and Cyrillic letters without digits takes its majority script.

Case and Latin diacritics are folded by the tokenizer (unicode61 remove_diacritics 2).
`normalize` maps code point to code point, so an offset in the normalized text is the same
offset in the original: snippets show the original text with highlights found on the
normalized one. Nothing here touches SQLite; changing `normalize` needs a migration that
rebuilds the index (Archive.reindex), because the index is contentless.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import UsageError

# What replaces an apostrophe between letters: a combining acute accent, which unicode61
# with remove_diacritics keeps inside the token and then drops (measured on SQLite 3.40).
APOSTROPHE_MARK = "\u0301"
_APOSTROPHES = "'’ʼ`‘ʹ′"
# The combining marks unicode61 (remove_diacritics 2) treats as part of a token and drops.
_DROPPED_MARKS = "\u0300-\u0304\u0306-\u030c\u030f\u0311\u031b\u0323-\u0328\u032d\u032e\u0330\u0331"

_APOSTROPHE_RE = re.compile(f"[{_APOSTROPHES}]")
_TOKEN_RE = re.compile(rf"(?:[^\W_]|[{_DROPPED_MARKS}])+")
_UNIT_RE = re.compile(rf"(?:[^\W_]|{APOSTROPHE_MARK})+(?:[-/](?:[^\W_]|{APOSTROPHE_MARK})+)*")
_CONNECTOR_SPLIT = re.compile("([-/])")
# A unit (word or code) holding both ASCII letters/digits and Cyrillic letters has an
# ASCII run next to a Cyrillic letter, or with one connector or apostrophe mark between;
# only such units are looked at closely. Deciding from the unit's own characters keeps
# normalize() the same for a word alone (a query) and inside a text.
_ASCII_RUN = re.compile(r"[0-9A-Za-z]+")
_ASCII_ALNUM_RE = re.compile(r"[0-9A-Za-z]")
_JOINERS = f"-/{APOSTROPHE_MARK}"
_CHUNK_CHARS = re.compile(rf"[^\W_]|[{APOSTROPHE_MARK}/-]")
# Where an ASCII run touches a Cyrillic letter as _touches_cyrillic sees it (next to it, or
# one joiner between), found in C: the usual text, where digits and Latin words stand
# apart from the Cyrillic ones, has no match, and a Python loop looks at the matches only.
_MIXED = re.compile(
    rf"[0-9A-Za-z][{_JOINERS}]?[\u0400-\u04ff]|[\u0400-\u04ff][{_JOINERS}]?[0-9A-Za-z]"
)

_LOOKALIKES = "АA ВB ЕE КK МM НH ОO РP СC ТT УY ХX ІI аa вb еe кk мm нh оo рp сc тt уy хx іi"
_CYR_TO_LAT = {pair[0]: pair[1] for pair in _LOOKALIKES.split()}
_LAT_TO_CYR = {lat: cyr for cyr, lat in _CYR_TO_LAT.items()}
_TO_LATIN = str.maketrans(_CYR_TO_LAT)
_TO_CYRILLIC = str.maketrans(_LAT_TO_CYR)

_SPACE = re.compile(r"\s")
_BREAKS = re.compile(r"[\r\n\t\v\f]")
SNIPPET_WIDTH = 120
ELLIPSIS = "…"


def normalize(text: str) -> str:
    """The form the index holds: same length as `text`, one code point for one."""
    if not text:
        return text
    if "ё" in text or "Ё" in text:
        text = text.replace("ё", "е").replace("Ё", "Е")
    if _APOSTROPHE_RE.search(text):  # one pass in C; the index is built with this per message
        text = _APOSTROPHE_RE.sub(_apostrophe, text)
    if text.isascii():
        return text
    first = _ASCII_ALNUM_RE.search(text)  # in C, quicker than _MIXED's look at each letter
    if first is None:
        return text
    out, done = [], 0
    # An ASCII run touching a Cyrillic letter (a joiner between, at most), so from two
    # characters before the first ASCII letter or digit on.
    for m in _MIXED.finditer(text, max(0, first.start() - 2)):
        if m.start() < done:
            continue
        at = m.start() if text[m.start()].isascii() else m.end() - 1  # in the ASCII run
        start, end = _chunk_around(text, at)
        out += [text[done:start], _normalized_chunk(text[start:end])]
        done = end
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


def customer_text(first_name: str, last_name: str, username: str | None) -> str:
    """What the index's `customer` column holds for a customer (before normalizing)."""
    return " ".join(p for p in (first_name, last_name, username or "") if p)


def _is_cyrillic(ch: str) -> bool:
    return "\u0400" <= ch <= "\u04ff"


def _touches_cyrillic(text: str, start: int, end: int) -> bool:
    """Whether the ASCII run text[start:end] joins a Cyrillic letter in the same unit."""
    if start:
        ch = text[start - 1]
        if _is_cyrillic(ch) or (ch in _JOINERS and start > 1 and _is_cyrillic(text[start - 2])):
            return True
    if end < len(text):
        ch = text[end]
        if _is_cyrillic(ch) or (
            ch in _JOINERS and end + 1 < len(text) and _is_cyrillic(text[end + 1])
        ):
            return True
    return False


def _apostrophe(m: re.Match[str]) -> str:
    text, i = m.string, m.start()
    if 0 < i < len(text) - 1 and text[i - 1].isalpha() and text[i + 1].isalpha():
        return APOSTROPHE_MARK
    return m.group()


def _chunk_around(text: str, pos: int) -> tuple[int, int]:
    """The run of word, connector and mark characters around pos (holds whole units)."""
    start = pos
    while start > 0 and _CHUNK_CHARS.match(text, start - 1):
        start -= 1
    end = pos
    while end < len(text) and _CHUNK_CHARS.match(text, end):
        end += 1
    return start, end


@functools.lru_cache(maxsize=4096)
def _normalized_chunk(chunk: str) -> str:
    """A run of units holding a mixed one (codes like 2х1, А4, ВХ-12 come back often)."""
    return _UNIT_RE.sub(_normalize_unit, chunk)


def _normalize_unit(match: re.Match[str]) -> str:
    unit = match.group()
    if not any(_touches_cyrillic(unit, *m.span()) for m in _ASCII_RUN.finditer(unit)):
        return unit  # one script, nothing to unify
    pieces = _CONNECTOR_SPLIT.split(unit)  # part, connector, part, ...
    is_code = _has_digit(unit)
    for i in range(0, len(pieces), 2):
        part = pieces[i]
        if is_code and (_has_digit(part) or _all_lookalike(part)):
            pieces[i] = part.translate(_TO_LATIN)
        else:
            pieces[i] = _majority_script(part)
    return "".join(pieces)


def _has_digit(part: str) -> bool:
    return any(ch.isdigit() for ch in part)


def _all_lookalike(part: str) -> bool:
    """A short letter part of a code like С-300 or ВХ-12 (not a word like макет)."""
    return len(part) <= 3 and all(ch in _CYR_TO_LAT or ch.isascii() for ch in part)


def _majority_script(part: str) -> str:
    latin = sum(1 for ch in part if ch.isascii() and ch.isalpha())
    cyrillic = sum(1 for ch in part if "\u0400" <= ch <= "\u04ff")
    if not latin or not cyrillic:
        return part
    return part.translate(_TO_CYRILLIC if cyrillic >= latin else _TO_LATIN)


@functools.lru_cache(maxsize=65536)
def fold(token: str) -> str:
    """A token as the tokenizer compares it: lower case, Latin diacritics and marks dropped."""
    if token.isascii():
        return token.lower()
    out = []
    for ch in token:
        if ch.isascii():
            out.append(ch.lower())
            continue
        if unicodedata.combining(ch):
            continue
        base = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
        out.append(base.lower() if base.isascii() else ch.lower())
    return "".join(out)


# Text whose characters lower-case one by one as a whole string does (ASCII, Cyrillic,
# punctuation and symbols, the apostrophe mark): its folded words are those of its lower
# case with the mark removed, found in one pass (the word-form index needs every word).
_PLAIN = re.compile(rf"[\x00-\x7f\u00a0-\u00bf\u0400-\u04ff\u2000-\u206f\u2116{APOSTROPHE_MARK}]*")
_WORD_RE = re.compile(r"[^\W_]+")


def words(normalized: str) -> list[str]:
    """The folded words of an already normalized text: tokens(normalized)'s third fields
    that are not empty (a mark standing alone folds to nothing)."""
    if _PLAIN.fullmatch(normalized):
        return _WORD_RE.findall(normalized.lower().replace(APOSTROPHE_MARK, ""))
    return [w for m in _TOKEN_RE.finditer(normalized) if (w := fold(m.group()))]


def words_read(normalized: str) -> tuple[list[str], str | None]:
    """words(normalized), and the lower-cased text they were read from when each of them
    stands in it at its offset in `normalized` (plain text without an apostrophe mark:
    what spans_of reads spans from), else None."""
    if _PLAIN.fullmatch(normalized):
        if APOSTROPHE_MARK not in normalized:
            lowered = normalized.lower()
            return _WORD_RE.findall(lowered), lowered
        return _WORD_RE.findall(normalized.lower().replace(APOSTROPHE_MARK, "")), None
    return [w for m in _TOKEN_RE.finditer(normalized) if (w := fold(m.group()))], None


def spans_of(
    normalized: str, read: tuple[list[str], str | None], wanted: list[int]
) -> list[tuple[int, int]]:
    """(start, end) of the words words_read(normalized) gave (`read`) at the indexes
    `wanted` (ascending): in plain text found with str.find from word to word up to the
    last one wanted (a word, all letters and digits, can't start among the characters
    between two words, so the next one found is the next token), else word_spans."""
    found, lowered = read
    if lowered is None:
        spans = word_spans(normalized)
        return [spans[i] for i in wanted]
    out, pos, at = [], 0, 0
    for i in wanted:
        while at < i:
            pos = lowered.find(found[at], pos) + len(found[at])
            at += 1
        start = lowered.find(found[i], pos)
        out.append((start, start + len(found[i])))
    return out


def word_spans(normalized: str) -> list[tuple[int, int]]:
    """(start, end) of each of words(normalized), in the same order: the tokens that fold
    to something (in text words() reads in one pass, those with a letter or digit)."""
    if APOSTROPHE_MARK not in normalized and _PLAIN.fullmatch(normalized):
        return [m.span() for m in _TOKEN_RE.finditer(normalized)]  # each folds to a word
    if _PLAIN.fullmatch(normalized):
        return [
            m.span() for m in _TOKEN_RE.finditer(normalized) if m.group().strip(APOSTROPHE_MARK)
        ]
    return [(start, end) for start, end, word in tokens(normalized) if word]


def tokens(normalized: str) -> list[tuple[int, int, str]]:
    """(start, end, folded token) for each token of an already normalized text."""
    return [(m.start(), m.end(), fold(m.group())) for m in _TOKEN_RE.finditer(normalized)]


@dataclass(frozen=True)
class Term:
    """A word or a "phrase" of the query: its folded tokens in order."""

    keys: tuple[str, ...]
    prefix: bool = False  # the last key matches as a prefix

    @property
    def fts(self) -> str:
        quoted = '"' + " ".join(self.keys).replace('"', '""') + '"'
        return quoted + " *" if self.prefix else quoted


@dataclass(frozen=True)
class ParsedQuery:
    terms: tuple[Term, ...]

    @property
    def match(self) -> str:
        """The FTS5 MATCH expression: every term quoted, all of them ANDed."""
        return " ".join(term.fts for term in self.terms)


_QUERY_RE = re.compile(r'"([^"]*)"|([^\s"]+)|"')


def parse_query(text: str) -> ParsedQuery:
    """Words are ANDed, balanced "quotes" make a phrase, a trailing * a prefix; the rest is
    literal. Raises UsageError when nothing searchable is left."""
    terms = []
    for m in _QUERY_RE.finditer(text):
        phrase, word = m.group(1), m.group(2)
        prefix = False
        if phrase is not None:
            raw = phrase
        elif word is not None:
            raw = word.rstrip("*")
            prefix = raw != word
        else:
            continue  # an unpaired quote is just punctuation
        keys = tuple(key for _, _, key in tokens(normalize(raw)) if key)
        if keys:
            terms.append(Term(keys, prefix))
    if not terms:
        raise UsageError(
            f"nothing to search for in '{text}'",
            hint='give a word, a "quoted phrase" or a prefix like візит*',
        )
    return ParsedQuery(tuple(terms))


Spans = list[tuple[int, int]]


def match_spans(text: str, terms: tuple[Term, ...]) -> Spans:
    """Spans of `text` (original) where a term matches, in order, not overlapping."""
    return highlighter(terms)(text)


def highlighter(terms: tuple[Term, ...]) -> Callable[[str], Spans]:
    """match_spans for these terms, as a function of the text: what the terms need is
    worked out once (search highlights 20 texts at a time)."""
    if any(len(term.keys) != 1 or term.prefix for term in terms):
        return functools.partial(_term_spans, terms=terms)
    wanted = frozenset(term.keys[0] for term in terms)

    def spans(text: str) -> Spans:  # each term a word: the words that are one of them
        normalized = normalize(text)
        read = words_read(normalized)
        at = [i for i, word in enumerate(read[0]) if word in wanted]
        return spans_of(normalized, read, at) if at else []

    return spans


def _term_spans(text: str, terms: tuple[Term, ...]) -> Spans:
    toks = tokens(normalize(text))
    spans = []
    for term in terms:
        n = len(term.keys)
        for i in range(len(toks) - n + 1):
            if _matches(term, toks[i : i + n]):
                spans.append((toks[i][0], toks[i + n - 1][1]))
    return merged(spans)


def merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Spans in order, overlapping ones (a phrase and a word) made one."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start < out[-1][1]:
            out[-1] = (out[-1][0], max(end, out[-1][1]))
        else:
            out.append((start, end))
    return out


def _matches(term: Term, window: list[tuple[int, int, str]]) -> bool:
    *head, last = term.keys
    if any(tok[2] != key for tok, key in zip(window, head, strict=False)):
        return False
    got = window[-1][2]
    return got.startswith(last) if term.prefix else got == last


def snippet(
    text: str,
    terms: tuple[Term, ...],
    width: int = SNIPPET_WIDTH,
    spans: list[tuple[int, int]] | None = None,
) -> tuple[str, tuple[tuple[int, int], ...]]:
    """About `width` characters of the original text around the first match, with "…" where
    it was cut, newlines as spaces, and the spans of every match inside it (`spans`: those
    found otherwise, by word forms)."""
    if spans is None:
        spans = match_spans(text, terms)
    if len(text) <= width:  # all of it, every match inside
        return _BREAKS.sub(" ", text), tuple(spans)
    if not spans:
        start, end = 0, _cut_end(text, 0, width)
    else:
        first_start, first_end = spans[0]
        start = max(0, min(first_start - width // 3, len(text) - width))
        start = min(_cut_start(text, start), first_start)
        end = max(_cut_end(text, start, width), first_end)
    lead = ELLIPSIS if start > 0 else ""
    tail = ELLIPSIS if end < len(text) else ""
    body = _BREAKS.sub(" ", text[start:end])
    shift = len(lead) - start
    inside = tuple((s + shift, e + shift) for s, e in spans if s >= start and e <= end)
    return lead + body + tail, inside


def _cut_start(text: str, pos: int) -> int:
    """Move a cut forward to the start of a word so the snippet doesn't begin mid-word."""
    if pos == 0 or text[pos - 1].isspace():
        return pos
    space = _SPACE.search(text, pos, pos + 20)
    return space.end() if space else pos


def _cut_end(text: str, start: int, width: int) -> int:
    end = start + width
    if end >= len(text):
        return len(text)
    space = text.rfind(" ", start + width // 2, end)
    return space if space != -1 else end
