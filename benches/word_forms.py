"""Search that knows word forms (issue 20): which normalizer, and what it costs.

    python benches/word_forms.py [--messages 20000] [--conversations 500] [--seed 1]
        [--reuse DIR] [--runs 15] [--candidates exact,snowball,...] [--no-archive]
        [--against REV] [--also REV] [--also-db PATH] [--build-rounds 1] [--timings-only]

Steps, in one process:

1. A generated archive (tests/support/generate.py, which writes words in the forms people
   use) in DIR (a temporary folder unless --reuse), in a fresh process: the generator's
   messages are made first, then customers, conversations and Archive.add_many are timed
   (wall and CPU). With --against REV it is built again by that commit's archive code
   (before word forms: `truth`) from the same generator, --build-rounds times each,
   alternating; a copy of that one is then opened by this code: m012 and the backfill.
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
     ("uk", "ru"); en for Latin words (not a dependency of im2mail: `pip install
     simplemma`, else skipped);
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
   Archive.search(limit 20) for the TIMED queries; with --against, interleaved with the
   same call by that commit's code on its own archive (a process of its own, asked query
   by query), so all three see the same machine; with --also REV, that commit's
   Archive.search (word forms) on this code's archive (or --also-db) too, the same way
   (an earlier version of this code, side by side).

With --reuse, an archive already in DIR is not built again, and the figures of an earlier
run kept in DIR/results.json (builds, the upgrade) are reported with this run's.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
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
# Timed: archive_scale.py's kinds (a rare token, a common word, a Cyrillic word, a phrase,
# an order number), forms of words, and two words that are common alone and rare together
# (both indexes then intersect long lists: the slowest case for word forms), never together
# as typed (візиток баннер) or together in 82 messages (візитки баннер: more than 20, so
# the exact index is walked both ways, messages.py).
TIMED = ["0576", "формат", "баннер", '"можна забирати"', "ORD-2026-1231", "візиток", "заказы",
         "printed", "замовлення готове", "візиток баннер", "візитки баннер"]  # fmt: skip
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
        self.uncached = lambda word: forms._info.__wrapped__(word)[1]

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


_BUILD = """
import json, random, sys, time
sys.path.insert(0, sys.argv[1])
import im2mail.archive
sys.path.insert(0, sys.argv[2])
from pathlib import Path
from im2mail.archive import Archive
from tests.support import generate as gen

home, seed, conversations, messages = Path(sys.argv[3]), *map(int, sys.argv[4:7])
wall, cpu = time.perf_counter(), time.process_time()
with Archive.open(home / "archive.db") as archive:
    rng, stats = random.Random(seed), gen.GenerationStats()
    threads = gen._conversations(archive, rng, conversations, messages, stats)
    made_wall, made_cpu = time.perf_counter(), time.process_time()
    items = list(gen._messages(rng, threads, 20, stats))
    made_wall, made_cpu = time.perf_counter() - made_wall, time.process_time() - made_cpu
    archive.add_many(items, batch=5000)
wall, cpu = time.perf_counter() - wall - made_wall, time.process_time() - cpu - made_cpu
size = sum(p.stat().st_size for p in home.glob("archive.db*"))
print(json.dumps({"archive_s": wall, "archive_cpu_s": cpu, "db_bytes": size}))
"""


def build(home: Path, args: argparse.Namespace, code_from: Path) -> dict[str, Any]:
    """A generated archive in home, with the archive code (im2mail) of `code_from` (this
    checkout, or the --against commit), in a fresh process. The generator's messages are
    made first (not timed); timed: customers, conversations and add_many, wall and CPU."""
    home.mkdir(parents=True, exist_ok=True)
    argv = [str(code_from), str(REPO), str(home), str(args.seed), str(args.conversations),
            str(args.messages)]  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-c", _BUILD, *argv], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def upgrade(built: Path, copy: Path) -> float:
    """Seconds for this code to open a copy of an archive built before word forms (the
    migration and the backfill of every message), in a fresh process."""
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(built, copy)
    code = (
        f"import sys, time; sys.path.insert(0, {str(REPO)!r}); t = time.perf_counter();"
        " from im2mail.archive import Archive; Archive.open(sys.argv[1]).close();"
        " print(time.perf_counter() - t)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(copy)], capture_output=True, text=True, check=True
    )
    return float(out.stdout)


_BEFORE = """
import sys, time
sys.path.insert(0, sys.argv[1])
from im2mail.archive import Archive
from im2mail.model import SearchQuery
archive = Archive.open(sys.argv[2])
for line in sys.stdin:
    began = time.perf_counter()
    archive.search(SearchQuery(line.rstrip("\\n"), limit=20))
    print(time.perf_counter() - began, flush=True)
"""


class Before:
    """Archive.search(limit 20) by the --against commit's code on its own archive, in a
    process of its own, one query at a time: seconds, timed in that process."""

    def __init__(self, code: Path, db: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _BEFORE, str(code), str(db)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8",
            env={**os.environ, "PYTHONUTF8": "1"},
        )  # fmt: skip

    def search(self, q: str) -> float:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(q + "\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline())

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def own_search(
    archive: Archive,
    queries: list[dict[str, Any]],
    good: list[set[int]],
    args: argparse.Namespace,
    before: Before | None,
    also: Before | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for exact in (True, False) if good else ():
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
    ways = (("before",) if before else ()) + (("also",) if also else ()) + ("exact", "forms")
    timings: dict[str, dict[str, list[float]]] = {q: {w: [] for w in ways} for q in TIMED}
    for i in range(2 + args.runs):
        for q in TIMED:
            for way in ways:
                if way == "before" and before:
                    took = before.search(q)
                elif way == "also" and also:
                    took = also.search(q)
                else:
                    began = time.perf_counter()
                    archive.search(SearchQuery(q, limit=20, exact=way == "exact"))
                    took = time.perf_counter() - began
                if i >= 2:
                    timings[q][way].append(took)
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
    parser.add_argument("--candidates", default=",".join(CANDIDATES), help="'' for none")
    parser.add_argument("--no-archive", action="store_true", help="skip step 4")
    parser.add_argument(
        "--against", metavar="REV", help="also build with this commit's archive (no word forms)"
    )
    parser.add_argument(
        "--also",
        metavar="REV",
        help="also time this commit's Archive.search (word forms) on this code's archive",
    )
    parser.add_argument(
        "--also-db", type=Path, help="the archive --also searches (default: this code's)"
    )
    parser.add_argument("--worst", type=int, default=6, help="worst queries listed")
    parser.add_argument("--build-rounds", type=int, default=1, help="builds of each, alternating")
    parser.add_argument(
        "--timings-only", action="store_true", help="build and time, judge nothing (1M)"
    )
    args = parser.parse_args()
    root = args.reuse or Path(tempfile.mkdtemp(prefix="word-forms-"))
    root.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {}
    if args.reuse and (root / "results.json").exists():
        earlier = json.loads((root / "results.json").read_text())
        if earlier["messages"] == args.messages:
            keep = ("build_", "builds_", "built", "upgrade_s")
            result.update({k: v for k, v in earlier.items() if k.startswith(keep)})
    result.update({"machine": machine(), "messages": args.messages})
    try:
        forms_db, exact_db = root / "forms" / "archive.db", root / "exact" / "archive.db"
        against = checked_out(args.against, root / "against") if args.against else None
        for i in range(args.build_rounds):  # alternating, so both see the same machine
            for db, code in ((forms_db, REPO), (exact_db, against)):
                if code is None or (i == 0 and db.exists()):
                    continue
                home = db.parent if i == 0 else root / f"round{i}" / db.parent.name
                shutil.rmtree(home, ignore_errors=True)
                took = build(home, args, code)
                way = "forms" if code == REPO else "exact"
                result["built"] = result["machine"]["date"]
                result.setdefault(f"build_{way}", took)
                for unit in ("archive_s", "archive_cpu_s"):
                    result.setdefault(f"builds_{way}", {}).setdefault(unit, []).append(took[unit])
                log(
                    f"built {home} ({way}): {took['archive_s']:.1f} s in the archive,"
                    f" {took['archive_cpu_s']:.1f} s CPU"
                )
                if i:
                    shutil.rmtree(home)
        if against and "upgrade_s" not in result:
            result["upgrade_s"] = upgrade(exact_db, root / "upgraded" / "archive.db")
            log(f"{args.against}'s archive opened by this code: {result['upgrade_s']:.1f} s")
        queries, lexemes = load()
        with Archive.open(forms_db) as archive:
            msgs = [] if args.timings_only else messages(archive)
            good = [relevant(q, lexemes, msgs) for q in queries] if msgs else []
            result["candidates"] = []
            for name in filter(None, args.candidates.split(",")):
                log(f"judging {name}")
                try:
                    judged = judge(name, queries, good, msgs)
                except ImportError as e:  # simplemma is the bench's alone
                    log(f"{name} skipped: not importable ({e}); pip install {name}")
                    continue
                judged["cold_load_s"] = cold_load(name) if name != "exact" else 0.0
                result["candidates"].append(judged)
            if not args.no_archive:
                before = Before(against, exact_db) if against else None
                also = None
                if args.also:
                    also_db = args.also_db or forms_db
                    also = Before(checked_out(args.also, root / "also"), also_db)
                try:
                    result["own"] = own_search(archive, queries, good, args, before, also)
                finally:
                    for other in (before, also):
                        if other:
                            other.close()
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
    if r["candidates"]:
        candidates(r, args)
    own = r.get("own")
    if own:
        archive_search(r, own, args)


def candidates(r: dict[str, Any], args: argparse.Namespace) -> None:
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


def archive_search(r: dict[str, Any], own: dict[str, Any], args: argparse.Namespace) -> None:
    print("\nim2mail's Archive.search on the same queries:")
    for way in ("exact", "forms") if "exact" in own else ():
        print(f"- {way}: recall@20 {own[way]['recall@20']:.3f},"
              f" precision@20 {own[way]['precision@20']:.3f}")  # fmt: skip
    if "build_exact" in r and "build_forms" in r:
        a, b = r["build_exact"], r["build_forms"]
        print(f"- archive build (customers, conversations, add_many; the generator's text made"
              f" before), {len(r['builds_exact']['archive_s'])} round(s) alternating,"
              f" {r.get('built', '?')}, {args.against} → with word forms:")  # fmt: skip
        for unit in ("archive_s", "archive_cpu_s"):
            xs, fs = r["builds_exact"][unit], r["builds_forms"][unit]
            print(f"  - {'wall' if unit == 'archive_s' else 'CPU'}:"
                  f" {', '.join(f'{x:.1f}' for x in xs)} s → {', '.join(f'{x:.1f}' for x in fs)}"
                  f" s; ratio of the medians {statistics.median(fs) / statistics.median(xs):.2f}x,"
                  f" of the best {min(fs) / min(xs):.2f}x")  # fmt: skip
        print(f"  - archive.db {a['db_bytes'] / 1e6:.0f} MB → {b['db_bytes'] / 1e6:.0f} MB")
    if "upgrade_s" in r:
        print(f"- {args.against}'s archive opened by this code (m012 and the backfill of all"
              f" {r['messages']:,} messages, fresh process): {r['upgrade_s']:.1f} s")  # fmt: skip
    first = next(iter(own["timings"].values()))
    ways = [w for w in ("before", "also", "exact", "forms") if w in first]
    names = {"before": f"{args.against}", "also": f"{args.also} (word forms)",
             "exact": "--exact", "forms": "word forms"}  # fmt: skip
    compared = [w for w in ("exact", "before", "also") if w in ways]
    print(
        "\n| query | "
        + " | ".join(f"{names[w]} p50 | p90" for w in ways)
        + " |"
        + "".join(f" forms/{names[w]} (p50) |" for w in compared)
    )
    print("|---|" + "---:|" * (2 * len(ways) + len(compared)))
    for q, t in own["timings"].items():
        cells = [f"{quantile(t[w], q_) * 1000:.1f} ms" for w in ways for q_ in (0.5, 0.9)]
        p50 = {w: quantile(t[w], 0.5) for w in ways}
        ratios = [f"{p50['forms'] / p50[w]:.2f}x" for w in compared]
        print(f"| `{q}` | " + " | ".join(cells + ratios) + " |")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
