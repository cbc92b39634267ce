"""Start-up cost of the CLI against the floor of any Typer app, measured side by side.

    python benches/startup.py [--rounds 30] [--messages 20000]

Runs `im2mail --help` and `im2mail search …` alternately with `typer_floor.py --help` and
`typer_floor.py search foo` (../shared/bench/typer_floor.py: an empty two-command Typer
app), so both see the same machine noise, and prints medians and the ratio. The search
runs against a generated archive of --messages messages. Goal (issue 3): ratio <= 1.2.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FLOOR = REPO.parent / "shared" / "bench" / "typer_floor.py"


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--messages", type=int, default=20000)
    args = parser.parse_args()
    if not FLOOR.exists():
        sys.exit(f"missing {FLOOR}")
    im2mail = shutil.which("im2mail") or sys.exit("im2mail is not installed (pip install -e .)")

    home = Path(tempfile.mkdtemp(prefix="im2mail-bench-"))
    env = {**os.environ, "IM2MAIL_HOME": str(home), "NO_COLOR": "1"}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.support.generate",
            str(home / "archive.db"),
            "--messages",
            str(args.messages),
            "--conversations",
            str(max(1, args.messages // 40)),
        ],
        cwd=REPO,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    pairs = {
        "--help": ([sys.executable, str(FLOOR), "--help"], [im2mail, "--help"]),
        "search": (
            [sys.executable, str(FLOOR), "search", "foo"],
            [im2mail, "search", "візитки", "--limit", "20"],
        ),
        "search --json": (
            [sys.executable, str(FLOOR), "search", "foo"],
            [im2mail, "search", "візитки", "--limit", "20", "--json"],
        ),
    }
    print(f"{args.rounds} rounds, archive of {args.messages} messages, {time.strftime('%F')}")
    for name, (floor_argv, ours_argv) in pairs.items():
        floor, ours = [], []
        timed(floor_argv, env), timed(ours_argv, env)  # warm the page cache
        for _ in range(args.rounds):
            floor.append(timed(floor_argv, env))
            ours.append(timed(ours_argv, env))
        f, o = statistics.median(floor), statistics.median(ours)
        print(
            f"{name:14} floor {f * 1000:6.1f} ms   im2mail {o * 1000:6.1f} ms   ratio {o / f:4.2f}"
        )
    shutil.rmtree(home)


if __name__ == "__main__":
    main()
