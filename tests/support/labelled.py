"""The labelled search queries (tests/data/search/labelled.json) and how results are judged
against them: shared by benches/word_forms.py and tests/unit/test_word_forms.py.

A message is relevant to a query when, for each of the query's lexemes ("a|b": either of
two), one of its words (text and file names, folded as im2mail's search folds them) is one
of that lexeme's forms.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from im2mail.archive import Archive, search
from tests.support.archive_sql import reading

LABELLED = Path(__file__).resolve().parent.parent / "data" / "search" / "labelled.json"

Message = tuple[int, list[str], list[str]]  # id, folded words, [text, file names]


def folded(text: str) -> list[str]:
    return [key for _, _, key in search.tokens(search.normalize(text))]


def load() -> tuple[list[dict[str, Any]], dict[str, set[str]]]:
    """The queries and each lexeme's folded forms."""
    doc = json.loads(LABELLED.read_text(encoding="utf-8"))
    lexemes = {name: {k for f in fs for k in folded(f)} for name, fs in doc["lexemes"].items()}
    return doc["queries"], lexemes


def messages(archive: Archive) -> list[Message]:
    """Every message, oldest first, as the judge reads it."""
    with reading(archive) as db:
        names: dict[int, list[str]] = {}
        for mid, name in db.execute("SELECT message_id, filename FROM attachments ORDER BY id"):
            names.setdefault(mid, []).append(name)
        out = []
        for mid, text in db.execute("SELECT id, text FROM messages ORDER BY id"):
            files = " ".join(names.get(mid, ()))
            out.append((mid, folded(text) + folded(files), [text, files]))
    return out


def relevant(query: dict[str, Any], lexemes: dict[str, set[str]], msgs: list[Message]) -> set[int]:
    need = [set().union(*(lexemes[n] for n in name.split("|"))) for name in query["lexemes"]]
    return {mid for mid, words, _ in msgs if all(not forms.isdisjoint(words) for forms in need)}


def scores(hits: list[int], good: set[int], at: int = 20) -> dict[str, float]:
    """recall@20 (of min(20, relevant)), precision@20, and both over all the hits."""
    top = hits[:at]
    found = sum(1 for h in top if h in good)
    every = sum(1 for h in hits if h in good)
    return {
        "recall@20": found / min(at, len(good)) if good else 1.0,
        "precision@20": found / len(top) if top else (1.0 if not good else 0.0),
        "recall": every / len(good) if good else 1.0,
        "precision": every / len(hits) if hits else (1.0 if not good else 0.0),
    }


def mean(rows: list[dict[str, float]], field: str) -> float:
    return statistics.fmean(r[field] for r in rows) if rows else 0.0
