"""Start-up cost of the CLI against the floor of any Typer app, measured side by side.

    python benches/startup.py [--rounds 30] [--messages 20000] [--here] [--floor PATH]
                              [--against REV]

Runs `im2mail --help` and `im2mail search …` alternately with `typer_floor.py --help` and
`typer_floor.py search foo` (../shared/bench/typer_floor.py: an empty two-command Typer
app), so both see the same machine noise, and prints medians and the ratio. The search
runs against a generated archive of --messages messages. Goal (issue 3): ratio <= 1.2.

Both run in a throw-away virtualenv (with this Python's site-packages visible) where the
project is installed as a user installs it (`pip install .`, not editable), so neither
pays for the development install's import hooks; --here uses the current environment.
--against REV installs that commit of the project (from git) into a second virtualenv and
times it in the same rounds, so a change's cost at start-up is a ratio too.
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


def installed(venv: Path, source: Path = REPO) -> tuple[str, str]:
    """A virtualenv sharing this Python's packages, with the project installed into it."""
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--no-deps", str(source)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return python, str(venv / "bin" / "im2mail")


def checked_out(rev: str, into: Path) -> Path:
    """The project's files at commit `rev`, written under `into`."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", rev], cwd=REPO, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--here", action="store_true", help="use the current environment")
    parser.add_argument("--floor", type=Path, default=FLOOR, help=f"default: {FLOOR}")
    parser.add_argument("--against", metavar="REV", help="also time this commit (e.g. main)")
    args = parser.parse_args()
    floor_app = args.floor
    if not floor_app.exists():
        sys.exit(f"missing {floor_app}: pass --floor PATH (shared/bench/typer_floor.py)")

    home = Path(tempfile.mkdtemp(prefix="im2mail-bench-"))
    python, im2mail = installed(home / "venv") if not args.here else (sys.executable, None)
    im2mail = im2mail or shutil.which("im2mail") or sys.exit("im2mail is not installed")
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
    commands = {
        "floor --help": [python, str(floor_app), "--help"],
        "floor search": [python, str(floor_app), "search", "foo"],
        "im2mail --help": [im2mail, "--help"],
        "im2mail search": [im2mail, "search", "візитки", "--limit", "20"],
        "im2mail search --json": [im2mail, "search", "візитки", "--limit", "20", "--json"],
    }
    against = {
        "im2mail --help": "floor --help",
        "im2mail search": "floor search",
        "im2mail search --json": "floor search",
    }
    if args.against:
        source = checked_out(args.against, home / "src")
        _, before = installed(home / "venv-before", source)
        commands[f"{args.against} --help"] = [before, "--help"]
        commands[f"{args.against} search"] = [before, "search", "візитки", "--limit", "20"]
        against[f"{args.against} --help"] = "floor --help"
        against[f"{args.against} search"] = "floor search"
    times: dict[str, list[float]] = {name: [] for name in commands}
    for argv in commands.values():
        timed(argv, env)  # warm the page cache
    for _ in range(args.rounds):  # interleaved, so every command sees the same noise
        for name, argv in commands.items():
            times[name].append(timed(argv, env))
    print(f"{args.rounds} rounds, archive of {args.messages} messages, {time.strftime('%F')}")
    print(
        f"{'command':24} {'median ms':>9} {'best ms':>8}"
        f" {'ratio (median)':>15} {'ratio (best)':>13}"
    )
    for name, samples in times.items():
        median, best = statistics.median(samples), min(samples)
        line = f"{name:24} {median * 1000:9.1f} {best * 1000:8.1f}"
        if name in against:
            floor = times[against[name]]
            line += f" {median / statistics.median(floor):15.2f} {best / min(floor):13.2f}"
        print(line)
    shutil.rmtree(home)


if __name__ == "__main__":
    main()
