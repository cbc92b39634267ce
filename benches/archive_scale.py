"""The archive at scale (issue 6): build, size, search, hit counts and export, side by side
with notmuch on the same messages.

    python benches/archive_scale.py [--messages 1000000] [--conversations N] [--seed 1]
        [--runs 15] [--warmup 2] [--keep | --reuse DIR] [--skip-html] [--mbox-sample 100]

Steps, in one run on one machine:

1. Build: tests/support/generate.py's conversations and messages go into a fresh
   $IM2MAIL_HOME/archive.db with Archive.add_many, as `python -m tests.support.generate`
   does. The generator's message iterator is wrapped: the time spent inside its next()
   (making up text, dates, attachment bytes) is measured and subtracted from the wall
   time, so "archive build" is the time spent in the archive (rows, blobs, FTS index,
   commits). Customers and conversations (upserts) are counted as archive time.
2. The same messages for notmuch: `im2mail export --all -o all.mbox` (a subprocess, the
   whole command timed: mbox messages/s), then the mbox is split into a Maildir (one file
   per message under cur/, the "From " lines dropped and mboxrd's ">From " unescaped;
   not counted in either build time) and `notmuch new` is timed (NOTMUCH_CONFIG: no new
   tags, no excluded tags, no flag sync). The mbox is checked with Python's mailbox (every
   message counted, every --mbox-sample'th parsed and its text compared with the archive)
   and by `notmuch count '*'` on the Maildir made from it.
3. Search: five queries picked from the generated archive (printed with why): a rare
   word, a common word (~15 % of messages), a Cyrillic word, a phrase, an order number.
   For each, --warmup untimed then --runs timed rounds, interleaved: im2mail in process
   (Archive.search(SearchQuery(q, limit=20)): the 20 newest hits with snippets, archive
   open) and the whole `notmuch search --output=messages --limit=20 q` process.
4. Hit counts: im2mail's count of every hit (search.parse_query's MATCH expression in a
   SELECT count(*) on messages_fts) against `notmuch count`, for the five queries and
   the spellings im2mail folds (ещё/еще, п'ятниці with ' ’ ʼ or none, Cyrillic/Latin А4).
   Also, from the id sets, how many of notmuch's hits im2mail does not find (must be 0).
5. Export: mbox messages/s (step 2) and `im2mail export --all --format html` wall time.

Everything runs in a temporary folder, removed afterwards unless --keep. --reuse DIR
(a kept folder) skips whatever is already there (archive, mbox, Maildir, notmuch
database, HTML) and reprints its earlier figures from DIR/results.json: search timings
can be redone without rebuilding.
"""

from __future__ import annotations

import argparse
import contextlib
import email
import email.policy
import json
import mailbox
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
for p in (REPO, REPO / "benches"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from relay import machine  # noqa: E402

from im2mail.archive import Archive, search  # noqa: E402
from im2mail.model import SearchQuery  # noqa: E402
from tests.support import generate as gen  # noqa: E402
from tests.support.archive_sql import reading  # noqa: E402

NOTMUCH_CONFIG = """\
[database]
path={maildir}
[user]
name=Bench
primary_email=bench@example.invalid
[new]
tags=
ignore=
[search]
exclude_tags=
[maildir]
synchronize_flags=false
"""
MID = re.compile(rb"^id:(\d+)\.", re.MULTILINE)
ORDER = re.compile(r"ORD-2026-\d{4}")
# The spellings im2mail folds into one (generate.py writes п'ятниці, not п'ятниця).
FOLDED = [
    ("ё/е", ["ещё", "еще"]),
    ("apostrophes", ["п'ятниці", "п’ятниці", "пʼятниці", "пятниці"]),
    ("А4/A4", ["А4", "A4"]),  # Cyrillic А, then Latin A
]
PHRASE = '"можна забирати"'


CYRILLIC = re.compile("[\u0400-\u04ff]")


def log(*parts: object) -> None:
    print(time.strftime("%H:%M:%S"), *parts, file=sys.stderr, flush=True)


def du(*paths: Path) -> int:
    """Bytes on disk (allocated blocks) under the paths."""
    total = 0
    for path in paths:
        if path.is_file():
            total += path.stat().st_blocks * 512
            continue
        for dirpath, _, files in os.walk(path):
            for name in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
    return total


def mb(n: int) -> str:
    return f"{n / 1e6:,.0f} MB"


# -- 1. build -----------------------------------------------------------------------------


class TimedIterator:
    """Iterates `it`, adding the time spent inside its next() to .seconds."""

    def __init__(self, it: Iterator[Any]) -> None:
        self.it = it
        self.seconds = 0.0

    def __iter__(self) -> Iterator[Any]:
        it, clock = self.it, time.perf_counter
        while True:
            began = clock()
            try:
                item = next(it)
            except StopIteration:
                self.seconds += clock() - began
                return
            self.seconds += clock() - began
            yield item


def build(home: Path, args: argparse.Namespace) -> dict[str, Any]:
    import random

    home.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    with Archive.open(home / "archive.db") as archive:
        rng = random.Random(args.seed)
        stats = gen.GenerationStats()
        setup = time.perf_counter()
        threads = gen._conversations(archive, rng, args.conversations, args.messages, stats)
        setup = time.perf_counter() - setup
        stream = TimedIterator(gen._messages(rng, threads, 20, stats))
        count = archive.add_many(stream, batch=5000)
    wall = time.perf_counter() - began
    db = [home / "archive.db", home / "archive.db-wal", home / "archive.db-shm"]
    return {
        "messages": count,
        "conversations": args.conversations,
        "attachments": stats.attachments,
        "wall_s": wall,
        "generator_s": stream.seconds,
        "setup_s": setup,
        "archive_s": wall - stream.seconds,
        "db_bytes": du(*[p for p in db if p.exists()]),
        "blobs_bytes": du(home / "blobs"),
    }


# -- 2. mbox, Maildir, notmuch ----------------------------------------------------------


def im2mail_cli(home: Path, *argv: str) -> float:
    env = {**os.environ, "IM2MAIL_HOME": str(home), "NO_COLOR": "1"}
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "im2mail", *argv], env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - began
    if done.returncode:
        raise SystemExit(f"im2mail {' '.join(argv)} failed: {done.stderr[-2000:]}")
    return seconds


def split_mbox(mbox: Path, maildir: Path) -> int:
    """One file per message under maildir/cur, without the "From " line, mboxrd unescaped."""
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    cur = str(maildir / "cur")
    unescape = re.compile(rb"^>(>*From )", re.MULTILINE)
    data = mbox.read_bytes()
    if not data.startswith(b"From "):
        raise SystemExit(f"{mbox} does not start with a From line")
    count = 0
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    for i, part in enumerate(data[5:].split(b"\nFrom ")):
        body = part[part.index(b"\n") + 1 :]
        if b">From " in body:
            body = unescape.sub(rb"\1", body)
        fd = os.open(f"{cur}/{i:07d}.bench.im2mail:2,", flags, 0o600)
        os.write(fd, body if body.endswith(b"\n") else body + b"\n")
        os.close(fd)
        count += 1
    return count


def check_mbox(mbox: Path, home: Path, every: int) -> dict[str, Any]:
    """Python's mailbox reads every message; every `every`th is parsed and compared."""
    began = time.perf_counter()
    box = mailbox.mbox(mbox, create=False)
    keys = box.keys()  # scans the whole file for "From " lines
    checked = same = 0
    with sqlite3.connect(home / "archive.db") as db:
        for key in keys[::every]:
            msg = email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
            mid = int(msg["Message-ID"].strip("<>").split(".")[0])
            text = db.execute("SELECT text FROM messages WHERE id = ?", (mid,)).fetchone()[0]
            part = msg.get_body(("plain",))
            got = part.get_content() if part is not None else ""
            checked += 1
            same += got.rstrip("\n") == text or (not text.strip() and got.strip() == "")
    box.close()
    return {
        "mailbox_messages": len(keys),
        "parsed": checked,
        "text_equal": same,
        "seconds": time.perf_counter() - began,
    }


def notmuch_env(root: Path) -> dict[str, str]:
    return {**os.environ, "NOTMUCH_CONFIG": str(root / "notmuch-config")}


def notmuch(root: Path, *argv: str) -> bytes:
    done = subprocess.run(["notmuch", *argv], env=notmuch_env(root), capture_output=True)
    if done.returncode:
        raise SystemExit(f"notmuch {' '.join(argv)} failed: {done.stderr.decode()[-2000:]}")
    return done.stdout


# -- 3./4. queries, search, counts ---------------------------------------------------------


def pick_queries(archive: Archive, total: int) -> list[tuple[str, str, str]]:
    """(kind, query, why) for the five queries, from the words of the messages' text (the
    index's `text` column: notmuch sees the text, not the file names im2mail indexes)."""
    with reading(archive) as db:
        db.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.vocab USING fts5vocab(main, messages_fts, col)"
        )
        vocab = db.execute("SELECT term, doc FROM temp.vocab WHERE col = 'text'").fetchall()
        db.execute("DROP TABLE temp.vocab")
        mid = db.execute(
            "SELECT text FROM messages WHERE id > ? AND text LIKE '%ORD-2026-%' LIMIT 1",
            (total // 2,),
        ).fetchone()
    words = [(t, d) for t, d in vocab if t.isalpha() and len(t) >= 4]

    def closest(share: float, cands: list[tuple[str, int]]) -> tuple[str, int]:
        return min(cands, key=lambda td: (abs(td[1] / total - share), td[0]))

    out = []
    rare = [(t, d) for t, d in words if 0.0001 <= d / total <= 0.001]
    if rare:
        term, doc = closest(0.0003, rare)
        why = f"{doc:,} messages, {doc / total:.3%}"
    else:  # generate.py's words are all in >= ~1 % of messages; its rarest are numbers
        rarest = min(d for t, d in words)
        numbers = [(t, d) for t, d in vocab if t.isdigit() and len(t) == 4]
        term, doc = closest(0.0001, numbers)
        why = (
            f"{doc:,} messages, {doc / total:.4%}: no word is rarer than"
            f" {rarest / total:.1%}, the rarest tokens are 4-digit numbers"
        )
    out.append(("rare word", term, why))
    term, doc = closest(0.15, [(t, d) for t, d in words if t.isascii() or len(t) >= 5])
    out.append(("common word", term, f"{doc:,} messages, {doc / total:.1%}"))
    cyr = [(t, d) for t, d in words if CYRILLIC.search(t) and t != term]
    term, doc = closest(0.03, cyr)
    out.append(("Cyrillic word", term, f"{doc:,} messages, {doc / total:.1%}"))
    out.append(("phrase", PHRASE, "a manager's 'ready, can pick it up' (uk)"))
    order = ORDER.search(mid[0]).group() if mid else "ORD-2026-0042"
    out.append(("order number", order, "from a message in the second half"))
    return out


def im2mail_ids(archive: Archive, query: str) -> set[int]:
    match = search.parse_query(query).match
    with reading(archive) as db:
        return {
            r[0]
            for r in db.execute(
                "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?", (match,)
            )
        }


def im2mail_count(archive: Archive, query: str) -> int:
    match = search.parse_query(query).match
    with reading(archive) as db:
        return db.execute(
            "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?", (match,)
        ).fetchone()[0]


def notmuch_ids(root: Path, query: str) -> set[int]:
    return {int(m) for m in MID.findall(notmuch(root, "search", "--output=messages", query))}


def time_searches(
    archive: Archive, root: Path, queries: list[tuple[str, str, str]], args: argparse.Namespace
) -> list[dict[str, Any]]:
    env = notmuch_env(root)
    rows = []
    for kind, query, _ in queries:
        ours, theirs = [], []
        hits = nm_hits = 0
        for i in range(args.warmup + args.runs):
            began = time.perf_counter()
            found = archive.search(SearchQuery(query, limit=20))
            a = time.perf_counter() - began
            began = time.perf_counter()
            done = subprocess.run(
                ["notmuch", "search", "--output=messages", "--limit=20", query],
                env=env,
                capture_output=True,
            )
            b = time.perf_counter() - began
            if done.returncode:
                raise SystemExit(f"notmuch search {query} failed: {done.stderr.decode()}")
            if i >= args.warmup:
                ours.append(a)
                theirs.append(b)
            hits, nm_hits = len(found), len(MID.findall(done.stdout))
        rows.append(
            {
                "kind": kind,
                "query": query,
                "ours": ours,
                "theirs": theirs,
                "hits": hits,
                "nm_hits": nm_hits,
            }
        )
    return rows


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# -- the run ------------------------------------------------------------------------------


def run(args: argparse.Namespace, root: Path) -> int:
    results_path = root / "results.json"
    results: dict[str, Any] = json.loads(results_path.read_text()) if results_path.exists() else {}

    def save() -> None:
        results_path.write_text(json.dumps(results, indent=1, ensure_ascii=False))

    home, mbox, maildir, html = root / "home", root / "all.mbox", root / "maildir", root / "html"
    info = machine()
    results["machine"] = info
    if not (home / "archive.db").exists():
        log(f"building {args.messages} messages in {args.conversations} conversations")
        results["build"] = build(home, args)
        save()
    b = results["build"]
    n = b["messages"]
    log(f"build: {b['archive_s']:.1f} s in the archive, {b['generator_s']:.1f} s generating")

    if not mbox.exists():
        log("export --all (mbox)")
        seconds = im2mail_cli(home, "export", "--all", "-o", str(mbox))
        results["mbox"] = {"seconds": seconds, "bytes": mbox.stat().st_size}
        save()
    if "mbox_check" not in results:
        log("checking the mbox with Python's mailbox")
        results["mbox_check"] = check_mbox(mbox, home, args.mbox_sample)
        save()
    (root / "notmuch-config").write_text(NOTMUCH_CONFIG.format(maildir=maildir))
    if not (maildir / "cur").exists():
        log("splitting the mbox into a Maildir")
        began = time.perf_counter()
        files = split_mbox(mbox, maildir)
        results["maildir"] = {"files": files, "seconds": time.perf_counter() - began}
        save()
    if not (maildir / ".notmuch").exists():
        log("notmuch new")
        began = time.perf_counter()
        notmuch(root, "new", "--quiet")
        seconds = time.perf_counter() - began
        results["notmuch_new"] = {
            "seconds": seconds,
            "count": int(notmuch(root, "count", "*")),
            "db_bytes": du(maildir / ".notmuch"),
            "maildir_bytes": du(maildir / "cur"),
            "maildir_apparent": sum(e.stat().st_size for e in os.scandir(maildir / "cur")),
        }
        save()
    if not args.skip_html and not html.exists():
        log("export --all --format html")
        results["html"] = {
            "seconds": im2mail_cli(home, "export", "--all", "--format", "html", "-o", str(html))
        }
        results["html"]["bytes"] = du(html)
        save()

    with Archive.open(home / "archive.db", create=False) as archive:
        log("picking queries")
        queries = pick_queries(archive, n)
        log("timing searches")
        timed = time_searches(archive, root, queries, args)
        log("counting hits")
        counts = []
        for kind, query, _ in queries:
            ours, theirs = im2mail_ids(archive, query), notmuch_ids(root, query)
            counts.append((kind, query, len(ours), len(theirs), len(theirs - ours)))
        folded = []
        for label, spellings in FOLDED:
            union = " OR ".join(spellings)
            everyone = notmuch_ids(root, union)
            for q in spellings:
                ours, theirs = im2mail_ids(archive, q), notmuch_ids(root, q)
                folded.append((label, q, len(ours), len(theirs), len(theirs - ours)))
            ours = im2mail_ids(archive, spellings[0])
            folded.append(
                (label, f"notmuch: {union}", len(ours), len(everyone), len(everyone - ours))
            )
    results["search"] = timed
    results["queries"] = queries
    results["counts"] = counts
    results["folded"] = folded
    save()
    report(args, root, results)
    return 0


def report(args: argparse.Namespace, root: Path, r: dict[str, Any]) -> None:
    info, b = r["machine"], r["build"]
    n = b["messages"]
    print(f"\n`python benches/archive_scale.py --messages {n}` ({root})\n")
    print(
        f"{info['date']}, {info['cpu']}, {info['nproc']} CPUs, Python {info['python']},"
        f" SQLite {info['sqlite']}, {subprocess.getoutput('notmuch --version')}\n"
    )

    nm = r.get("notmuch_new", {})
    print(
        "**Build** (archive time = wall time minus the time inside the generator's next();"
        " Maildir writing is in neither build time)\n"
    )
    print("| | messages | time | messages/s | size |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| generate.py making the messages (not archive time) | {n:,} |"
        f" {b['generator_s']:.1f} s | | |"
    )
    print(
        f"| im2mail archive build (rows, blobs, FTS) | {n:,} | {b['archive_s']:.1f} s |"
        f" {n / b['archive_s']:,.0f} | archive.db {mb(b['db_bytes'])}"
        f" + blobs {mb(b['blobs_bytes'])} |"
    )
    if "maildir" in r:
        m = r["maildir"]
        print(
            f"| mbox → Maildir split (not counted) | {m['files']:,} | {m['seconds']:.1f} s |"
            f" | Maildir {mb(nm.get('maildir_bytes', 0))} on disk"
            f" ({mb(nm.get('maildir_apparent', 0))} of data) |"
        )
    if nm:
        print(
            f"| `notmuch new` | {nm['count']:,} | {nm['seconds']:.1f} s |"
            f" {nm['count'] / nm['seconds']:,.0f} | .notmuch {mb(nm['db_bytes'])} |"
        )
        print(
            f"\nBuild ratio: notmuch new / im2mail = **{nm['seconds'] / b['archive_s']:.1f}×**"
            f" (target ≥ 10×); wall time of the whole build incl. generation"
            f" {b['wall_s']:.1f} s, customers+conversations {b['setup_s']:.1f} s of it."
        )

    print(
        f"\n**Search**: {args.runs} timed rounds after {args.warmup} warm-ups, interleaved;"
        " im2mail in process (20 newest hits with snippets), notmuch the whole"
        " `notmuch search --output=messages --limit=20` process\n"
    )
    why = {k: w for k, _, w in r["queries"]}
    print("| query | | im2mail p50 | p90 | notmuch p50 | p90 | notmuch/im2mail (p50) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for row in r["search"]:
        a50, a90 = statistics.median(row["ours"]) * 1e3, quantile(row["ours"], 0.9) * 1e3
        b50, b90 = statistics.median(row["theirs"]) * 1e3, quantile(row["theirs"], 0.9) * 1e3
        print(
            f"| {row['kind']}: `{row['query']}` | {why[row['kind']]} | {a50:.1f} ms |"
            f" {a90:.1f} ms | {b50:.1f} ms | {b90:.1f} ms | {b50 / a50:.1f}× |"
        )

    print(
        "\n**Hit counts** (im2mail: every hit, SELECT count(*) with search.parse_query's"
        " MATCH; notmuch: `notmuch search --output=messages`, every hit)\n"
    )
    print("| query | im2mail | notmuch | notmuch hits im2mail misses |")
    print("|---|---:|---:|---:|")
    for kind, q, ours, theirs, missed in r["counts"]:
        print(f"| {kind}: `{q}` | {ours:,} | {theirs:,} | {missed} |")
    for label, q, ours, theirs, missed in r["folded"]:
        print(f"| {label}: `{q}` | {ours:,} | {theirs:,} | {missed} |")

    print("\n**Export** (`im2mail export --all`, the whole command)\n")
    print("| format | messages | time | messages/s | output |")
    print("|---|---:|---:|---:|---:|")
    if "mbox" in r:
        m = r["mbox"]
        print(
            f"| mbox | {n:,} | {m['seconds']:.1f} s | **{n / m['seconds']:,.0f}** |"
            f" {mb(m['bytes'])} |"
        )
    if "html" in r:
        h = r["html"]
        print(
            f"| html | {n:,} | **{h['seconds']:.1f} s** | {n / h['seconds']:,.0f} |"
            f" {mb(h['bytes'])} |"
        )
    if "mbox_check" in r:
        c = r["mbox_check"]
        print(
            f"\nmbox check: Python's mailbox finds {c['mailbox_messages']:,} messages;"
            f" {c['parsed']:,} parsed (every {args.mbox_sample}th), text equal to the"
            f" archive's in {c['text_equal']:,} ({c['seconds']:.0f} s);"
            f" notmuch indexed {nm.get('count', 0):,} from the Maildir split from it."
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--conversations", type=int, default=None, help="default: messages / 50")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument(
        "--mbox-sample",
        type=int,
        default=100,
        help="parse every Nth message of the mbox (default 100)",
    )
    parser.add_argument("--skip-html", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--reuse", type=Path, help="a kept folder: skip what is there")
    args = parser.parse_args()
    if args.conversations is None:
        args.conversations = max(1, args.messages // 50)
    if shutil.which("notmuch") is None:
        raise SystemExit("notmuch is not on PATH")
    root = args.reuse or Path(tempfile.mkdtemp(prefix="im2mail-scale-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        return run(args, root)
    except KeyboardInterrupt:
        return 130
    finally:
        if args.keep or args.reuse:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
