"""`im2mail import telegram-export` on generated exports of two sizes, side by side.

    python benches/tgimport.py [--small 10000] [--big 100000] [--rounds 2]

Writes two whole-account Telegram Desktop exports (100 chats; tests/support/tgexport.py,
the writer the tests use), then imports each into a fresh IM2MAIL_HOME with the real CLI
in a subprocess, alternating sizes each round, and reports wall time, messages a second
and the process's peak RSS (ru_maxrss of the child), with the big/small ratios. Flat
memory means the RSS ratio stays near 1 while the messages grow tenfold; what grows is
SQLite's page cache, capped during bulk loads at 64 MiB (bulk.BULK_CACHE_KIB).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.tgexport import write_big  # noqa: E402


def run(export: Path, home: Path) -> float:
    """Seconds of one import."""
    env = {**os.environ, "IM2MAIL_HOME": str(home)}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "im2mail", "import", "telegram-export", str(export)],
        env=env, cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"import failed: {done.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    chats = 100
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        exports = {}
        for label, count in (("small", args.small), ("big", args.big)):
            exports[label] = root / f"{label}.json"
            write_big(exports[label], chats=chats, per_chat=count // chats)
        times: dict[str, list[float]] = {"small": [], "big": []}
        peaks: dict[str, int] = {}
        for n in range(args.rounds):
            for label in ("small", "big") if n % 2 == 0 else ("big", "small"):
                times[label].append(run(exports[label], root / f"home-{label}-{n}"))
        for label in ("small", "big"):
            peaks[label] = _peak_alone(exports[label], root / f"home-{label}-rss")
        count = {"small": args.small, "big": args.big}
        print(f"{time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} cores, Python {platform.python_version()}")  # fmt: skip
        for label in ("small", "big"):
            best = min(times[label])
            size = exports[label].stat().st_size / 1e6
            median = statistics.median(times[label])
            print(f"{label:5} {count[label]:>7} messages ({size:.1f} MB): best {best:.2f} s "
                  f"(median {median:.2f} s), {count[label] / best:,.0f} msg/s, "
                  f"peak RSS {peaks[label] / 1024:.0f} MiB")  # fmt: skip
        ratio_t = min(times["big"]) / min(times["small"])
        ratio_m = peaks["big"] / peaks["small"]
        print(
            f"big/small: messages {args.big / args.small:.0f}x, time {ratio_t:.1f}x, "
            f"peak RSS {ratio_m:.2f}x"
        )


def _peak_alone(export: Path, home: Path) -> int:
    """Peak RSS (KiB) of one import, in an interpreter of its own: ru_maxrss of children
    is a running maximum, and one size's peak must not hide the other's."""
    code = (
        "import resource, subprocess, sys, os\n"
        "subprocess.run(sys.argv[1:], check=True, capture_output=True,"
        " env={**os.environ, 'IM2MAIL_HOME': os.environ['BENCH_HOME']})\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, sys.executable, "-m", "im2mail", "import",
         "telegram-export", str(export)],
        env={**os.environ, "BENCH_HOME": str(home)}, cwd=REPO, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    return int(out.stdout.strip())


if __name__ == "__main__":
    main()
