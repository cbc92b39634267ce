"""Search that knows word forms (issue 20): which normalizer, and what it costs.

    python benches/word_forms.py [--messages 20000] [--conversations 500] [--seed 1]
        [--reuse DIR] [--runs 15] [--candidates exact,snowball,...] [--no-archive]

Steps, in one process:

1. A generated archive (tests/support/generate.py, which writes words in the forms people
   use) in DIR (a temporary folder unless --reuse), timed; with --against REV built again
   by that commit's archive code (before word forms: `truth`), from the same generator.
2. Candidates, each judged on tests/data/search/labelled.json (its rule: a message is
   relevant when, for each lexeme of the query, one of its words is one of the lexeme's
   forms). Every candidate is run the same way, in memory, over the archive's messages
   (text and file names, tokens folded by im2mail's search.normalize/tokens): a message
   hits when each query word's key is among the message's keys; hits whose words match
   exactly come first, newest first, then the others, newest first (the order
   Archive.search uses). Candidates:
   - exact: today's search, the folded word itself;
   - snowball: PyStemmer, Snowball's russian stemmer for Cyrillic words (it has no
     Ukrainian one), english for Latin ones;
   - simplemma: lemmatize with lang uk for words with і ї є ґ, ru for ы э ъ, else
     ("uk", "ru"); en for Latin words;
   - pymorphy3: the lemma of pymorphy3's first parse, with its uk or ru dictionary
     (chosen per word: letters only one language has, else the one that knows the word,
     else uk); Latin words as they are;
   - pymorphy3+snowball: the same, and Snowball english for Latin words, Snowball russian
     for Cyrillic words the chosen dictionary doesn't know;
   - im2mail: what archive/forms.py does (pymorphy3+snowball with the lemma most analyses
     give, the message's language for words both languages spell alike, and a query word
     of open language searched by the keys of both).
   For each: recall@20, precision@20 (of the first 20 hits, how many are relevant; the
   denominator of recall@20 is min(20, relevant)), and recall and precision over all hits,
   averaged over the queries; the queries a candidate does worst on are listed.
3. Cost per candidate: loading it (first word, in a fresh process), normalizing every
   word of the archive's messages (all occurrences, with a cache per distinct word as
   im2mail keeps one), a distinct word uncached, and a query word.
4. The archive's own search, both ways (--exact and word forms), on the labelled queries:
   recall@20/precision@20 through Archive.search, and p50/p90 over --runs rounds of
   Archive.search(limit 20) for five queries; the build time of both archives.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
for p in (REPO, REPO / "benches"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from relay import machine  # noqa: E402

from im2mail.archive import Archive, search  # noqa: E402
from im2mail.model import SearchQuery  # noqa: E402
from tests.support.labelled import folded, load, mean, messages, relevant, scores  # noqa: E402

CANDIDATES = ["exact", "snowball", "simplemma", "pymorphy3", "pymorphy3+snowball", "im2mail"]
TIMED = ["візиток", "заказы", "printed", "формат", "замовлення готове"]
UK_ONLY = set("іїєґ")
RU_ONLY = set("ыэъ")
CYRILLIC = re.compile("[\u0400-\u04ff]")


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


# -- the candidates -----------------------------------------------------------------------


def _cached(fn: Callable[[str], str]) -> Callable[[str], str]:
    import functools

    return functools.lru_cache(maxsize=None)(fn)


def make_snowball() -> Callable[[str], str]:
    import Stemmer

    ru, en = Stemmer.Stemmer("russian"), Stemmer.Stemmer("english")

    def key(word: str) -> str:
        if CYRILLIC.search(word):
            return ru.stemWord(word)
        return en.stemWord(word) if word.isalpha() else word

    return key


def make_simplemma() -> Callable[[str], str]:
    import simplemma

    def key(word: str) -> str:
        if not word.isalpha():
            return word
        if CYRILLIC.search(word):
            letters = set(word)
            lang: Any = "uk" if letters & UK_ONLY else "ru" if letters & RU_ONLY else ("uk", "ru")
        else:
            lang = "en"
        return simplemma.lemmatize(word, lang=lang).lower().replace("ё", "е")

    return key


def make_pymorphy(fallback: bool) -> Callable[[str], str]:
    import pymorphy3
    import pymorphy3_dicts_ru
    import pymorphy3_dicts_uk
    import Stemmer

    uk = pymorphy3.MorphAnalyzer(path=pymorphy3_dicts_uk.get_path(), lang="uk")
    ru = pymorphy3.MorphAnalyzer(path=pymorphy3_dicts_ru.get_path(), lang="ru")
    en, ru_stem = Stemmer.Stemmer("english"), Stemmer.Stemmer("russian")

    def key(word: str) -> str:
        if not word.isalpha():
            return word
        if not CYRILLIC.search(word):
            return en.stemWord(word) if fallback else word
        letters = set(word)
        if letters & UK_ONLY:
            morph = uk
        elif letters & RU_ONLY:
            morph = ru
        elif uk.word_is_known(word):
            morph = uk
        elif ru.word_is_known(word):
            morph = ru
        elif fallback:
            return ru_stem.stemWord(word)
        else:
            morph = uk
        if fallback and not morph.word_is_known(word):
            return ru_stem.stemWord(word)
        lemma = morph.parse(word)[0].normal_form
        return "".join(folded(lemma)) or word

    return key


class Candidate:
    """A normalizer as the search uses one: the keys of a message, the keys of a query word
    (any of which may match)."""

    def __init__(self, key: Callable[[str], str]) -> None:
        self.key = _cached(key)
        self.uncached = key

    def message_keys(self, words: list[str], texts: list[str]) -> set[str]:
        return {self.key(w) for w in words}

    def query_keys(self, word: str) -> set[str]:
        return {self.key(word)}


class Im2mail(Candidate):
    """im2mail's archive/forms.py: a message's language decides words both languages
    have; a query word whose language is open is searched by all its keys."""

    def __init__(self) -> None:
        from im2mail.archive import forms

        self.forms = forms
        forms.word_key("банер")  # loads the dictionaries, as the first Cyrillic word does
        super().__init__(forms.word_key)
        self.uncached = forms.word_key.__wrapped__

    def message_keys(self, words: list[str], texts: list[str]) -> set[str]:
        keys: set[str] = set()
        for text in texts:
            keys.update(self.forms.index_text(search.normalize(text)).split())
        return keys

    def query_keys(self, word: str) -> set[str]:
        return set(self.forms.query_keys(word))


def make(name: str) -> Candidate:
    if name == "exact":
        return Candidate(lambda word: word)
    if name == "snowball":
        return Candidate(make_snowball())
    if name == "simplemma":
        return Candidate(make_simplemma())
    if name == "pymorphy3":
        return Candidate(make_pymorphy(fallback=False))
    if name == "pymorphy3+snowball":
        return Candidate(make_pymorphy(fallback=True))
    if name == "im2mail":
        return Im2mail()
    raise SystemExit(f"unknown candidate {name}")


# -- judging ------------------------------------------------------------------------------


Keyed = list[tuple[int, set[str], set[str]]]  # (id, folded words, keys)


def ranked(terms: list[str], c: Candidate, keyed: Keyed) -> list[int]:
    """Hit ids: exact ones newest first, then the word-form ones newest first."""
    exact = [folded(t) for t in terms]
    wanted = [c.query_keys(k) for ks in exact for k in ks]
    first, then = [], []
    for mid, words, keys in reversed(keyed):
        if all(all(k in words for k in ks) for ks in exact):
            first.append(mid)
        elif all(not want.isdisjoint(keys) for want in wanted):
            then.append(mid)
    return first + then


def judge(
    name: str, queries: list[dict[str, Any]], good: list[set[int]], msgs: list[Any]
) -> dict[str, Any]:
    began = time.perf_counter()
    c = make(name)
    load = time.perf_counter() - began
    words = sum(len(ws) for _, ws, _ in msgs)
    began = time.perf_counter()
    keyed = [(mid, set(ws), c.message_keys(ws, texts)) for mid, ws, texts in msgs]
    index_s = time.perf_counter() - began
    distinct = sorted({w for _, ws, _ in msgs for w in ws})
    sample = random.Random(1).sample(distinct, min(2000, len(distinct)))
    fresh = make(name).uncached
    began = time.perf_counter()
    for w in sample:
        fresh(w)
    per_word = (time.perf_counter() - began) / max(1, len(sample))
    rows = []
    for q, g in zip(queries, good, strict=True):
        hits = ranked(q["q"].split(), c, keyed)
        rows.append({"q": q["q"], "lang": q["lang"], "relevant": len(g), "hits": len(hits),
                     **scores(hits, g)})  # fmt: skip
    return {
        "name": name,
        "load_s": load,
        "index_s": index_s,
        "words": words,
        "distinct": len(distinct),
        "per_word_us": per_word * 1e6,
        "rows": rows,
    }


def cold_load(name: str) -> float:
    """Seconds to import and load a candidate and key one Cyrillic and one Latin word, in
    a fresh process (what one `im2mail search` pays), less the interpreter's own start."""
    code = (
        f"import sys, time; sys.path[:0] = [{str(REPO)!r}, {str(REPO / 'benches')!r}];"
        f" import word_forms as w; t = time.perf_counter(); c = w.make({name!r});"
        " [c.query_keys(x) for x in ('візиток', 'заказы', 'printed')];"
        " print(time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


# -- the archive's own search -------------------------------------------------------------


def checked_out(rev: str, into: Path) -> Path:
    """The project's files at commit `rev`, written under `into`."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "archive", rev], cwd=REPO, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def build(path: Path, args: argparse.Namespace, code_from: Path) -> float:
    """Seconds of this checkout's generate() into a new archive, with the archive code
    (im2mail) of `code_from`: this checkout, or the --against commit (no word forms)."""
    code = (
        f"import sys, time; sys.path.insert(0, {str(code_from)!r}); import im2mail.archive;"
        f" sys.path.insert(0, {str(REPO)!r}); from im2mail.archive import Archive;"
        " from tests.support.generate import generate; t = time.perf_counter();"
        f" a = Archive.open({str(path)!r}); generate(a, conversations={args.conversations},"
        f" messages={args.messages}, seed={args.seed}); a.close();"
        " print(time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def own_search(
    archive: Archive, queries: list[dict[str, Any]], good: list[set[int]], args: argparse.Namespace
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for exact in (True, False):
        rows = []
        for q, g in zip(queries, good, strict=True):
            hits = [e.message_id for e in archive.search(SearchQuery(q["q"], limit=20,
                                                                     exact=exact))]  # fmt: skip
            s = scores(hits, g)
            rows.append({"q": q["q"], **{k: s[k] for k in ("recall@20", "precision@20")}})
        out["exact" if exact else "forms"] = {
            "recall@20": mean(rows, "recall@20"), "precision@20": mean(rows, "precision@20"),
            "rows": rows,
        }  # fmt: skip
    timings: dict[str, dict[str, list[float]]] = {q: {"exact": [], "forms": []} for q in TIMED}
    for i in range(2 + args.runs):
        for q in TIMED:
            for exact in (True, False):
                began = time.perf_counter()
                archive.search(SearchQuery(q, limit=20, exact=exact))
                took = time.perf_counter() - began
                if i >= 2:
                    timings[q]["exact" if exact else "forms"].append(took)
    out["timings"] = timings
    return out


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# -- the run ------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--conversations", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--reuse", type=Path, help="a folder to keep the archives in")
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    parser.add_argument("--no-archive", action="store_true", help="skip step 4")
    parser.add_argument(
        "--against", metavar="REV", help="also build with this commit's archive (no word forms)"
    )
    parser.add_argument("--worst", type=int, default=6, help="worst queries listed")
    args = parser.parse_args()
    root = args.reuse or Path(tempfile.mkdtemp(prefix="word-forms-"))
    root.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"machine": machine(), "messages": args.messages}
    try:
        forms_db, exact_db = root / "forms" / "archive.db", root / "exact" / "archive.db"
        if not forms_db.exists():
            forms_db.parent.mkdir(parents=True)
            result["build_forms_s"] = build(forms_db, args, REPO)
            log(f"built {forms_db} in {result['build_forms_s']:.1f} s")
        if args.against and not exact_db.exists():
            exact_db.parent.mkdir(parents=True)
            code = checked_out(args.against, root / "against")
            result["build_exact_s"] = build(exact_db, args, code)
            log(f"built {exact_db} with {args.against}'s code in {result['build_exact_s']:.1f} s")
        queries, lexemes = load()
        with Archive.open(forms_db) as archive:
            msgs = messages(archive)
            good = [relevant(q, lexemes, msgs) for q in queries]
            result["candidates"] = []
            for name in args.candidates.split(","):
                log(f"judging {name}")
                judged = judge(name, queries, good, msgs)
                judged["cold_load_s"] = cold_load(name) if name != "exact" else 0.0
                result["candidates"].append(judged)
            if not args.no_archive:
                result["own"] = own_search(archive, queries, good, args)
        result["queries"] = len(queries)
        result["relevant_total"] = sum(len(g) for g in good)
        report(result, args)
        (root / "results.json").write_text(json.dumps(result, ensure_ascii=False, indent=1))
    finally:
        if not args.reuse:
            shutil.rmtree(root, ignore_errors=True)
    return 0


def report(r: dict[str, Any], args: argparse.Namespace) -> None:
    m = r["machine"]
    print(f"{m['date']}, {m['cpu']}, {m['nproc']} CPUs, Python {m['python']}, SQLite {m['sqlite']}")
    print(f"{r['messages']:,} generated messages (seed {args.seed}), {r['queries']} labelled"
          f" queries, {r['relevant_total']:,} relevant (query, message) pairs\n")  # fmt: skip
    print(
        "| normalizer | recall@20 | precision@20 | recall (all hits) | precision (all hits) |"
        " load, fresh process | words/s (all words, cached) | µs per new word |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for c in r["candidates"]:
        rows = c["rows"]
        rate = c["words"] / c["index_s"] if c["index_s"] else 0
        print(f"| {c['name']} | {mean(rows, 'recall@20'):.3f} | {mean(rows, 'precision@20'):.3f}"
              f" | {mean(rows, 'recall'):.3f} | {mean(rows, 'precision'):.3f}"
              f" | {c['cold_load_s'] * 1000:.0f} ms | {rate:,.0f}"
              f" | {c['per_word_us']:.1f} |")  # fmt: skip
    print("\nBy language (recall / precision over all hits):\n")
    langs = sorted({row["lang"] for row in r["candidates"][0]["rows"]})
    print("| normalizer | " + " | ".join(langs) + " |")
    print("|---|" + "---:|" * len(langs))
    for c in r["candidates"]:
        cells = []
        for lang in langs:
            rows = [row for row in c["rows"] if row["lang"] == lang]
            cells.append(f"{mean(rows, 'recall'):.3f} / {mean(rows, 'precision'):.3f}")
        print(f"| {c['name']} ({len(c['rows'])} queries) | " + " | ".join(cells) + " |")
    print("\nWorst queries (recall, precision over all hits):")
    for c in r["candidates"]:
        worst = sorted(c["rows"], key=lambda row: (row["recall"] + row["precision"], row["q"]))
        shown = [
            f"{row['q']} {row['recall']:.2f}/{row['precision']:.2f}"
            for row in worst[: args.worst]
            if row["recall"] + row["precision"] < 2
        ]
        print(f"- {c['name']}: " + ("; ".join(shown) or "none below 1.00/1.00"))
    own = r.get("own")
    if not own:
        return
    print("\nim2mail's Archive.search on the same queries:")
    for way in ("exact", "forms"):
        print(f"- {way}: recall@20 {own[way]['recall@20']:.3f},"
              f" precision@20 {own[way]['precision@20']:.3f}")  # fmt: skip
    if "build_exact_s" in r and "build_forms_s" in r:
        ratio = r["build_forms_s"] / r["build_exact_s"]
        print(f"- build (generate.py, in-process): {args.against} {r['build_exact_s']:.1f} s,"
              f" with {r['build_forms_s']:.1f} s ({ratio:.2f}x)")  # fmt: skip
    print("\n| query | --exact p50 | p90 | word forms p50 | p90 | ratio (p50) |")
    print("|---|---:|---:|---:|---:|---:|")
    for q, t in own["timings"].items():
        a, b = t["exact"], t["forms"]
        print(f"| `{q}` | {quantile(a, .5) * 1000:.1f} ms | {quantile(a, .9) * 1000:.1f} ms"
              f" | {quantile(b, .5) * 1000:.1f} ms | {quantile(b, .9) * 1000:.1f} ms"
              f" | {quantile(b, .5) / quantile(a, .5):.2f}x |")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
