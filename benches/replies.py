"""Reply latency of `im2mail run`: a manager's email reply -> sendMessage at Telegram.

    python benches/replies.py [--replies 500] [--chats 20] [--gap-ms 50 100]
        [--poll-replies 50] [--poll-seconds 120] [--modes idle,polling] [--timeout 900]
        [--keep]

In this process: the Telegram double (im2mail/testing/telegram_api.py) and the SMTP test
server (tests/support/smtp_server.py); pymap (the IMAP server of the e2e tests) and a real
`im2mail run` (tests/e2e/relay_rig.py) are subprocesses. Nothing leaves 127.0.0.1. For each
mode, in turn, in one run: a fresh home, a fresh pymap and a fresh relay.

1. --chats customers write to the bot once each, so their conversations exist; their emails
   to the managers are taken from the SMTP server.
2. Replies, each a Gmail-style Reply (tests/e2e/test_replies.py `reply_to`) to one of those
   emails with a unique text, are APPENDed to pymap's INBOX with imapclient from a thread of
   their own. Latency: from just before the APPEND to the double receiving the sendMessage
   that carries the text (time.perf_counter in both threads). The relay's log (ms) splits it
   into APPEND -> "reply ... archived" (the watcher noticing, fetching, the reply intake)
   and archived -> sendMessage (the chat outbox).

Modes:
- idle: pymap as the tests run it (IDLE offered). --replies replies, one after the other
  with a random gap of --gap-ms LO HI between an APPEND's end and the next one's start,
  round robin over the chats. The relay sends at most one message per chat per second
  (sender.PACE) with one worker for all chats, so a chat's replies must come >= 1 s apart or
  pacing is measured instead of the watcher: the default gap (50-100 ms over 20 chats, so
  >= 1 s per chat) keeps them apart. Target (issue #5): p99 <= 1 s.
- polling: pymap without the IDLE capability (patched in the pymap process: pymap has no
  option for it), so the watcher polls (NOOP + UID SEARCH) at its default interval,
  watcher.POLL_INTERVAL. --poll-replies replies at uniform random times over
  --poll-seconds seconds, then wait for the last. The watcher rescans 1 s after a scan that
  found mail (QUICK_RESCAN), so replies less than a second or two apart are picked up
  sooner than the interval: keep this mode sparse to see the interval.

Throughput is replies delivered / (first APPEND -> last sendMessage). Everything is
bounded by --timeout seconds: past it the bench prints what it measured and exits 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import random
import re
import secrets
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benches.relay import isolate, machine, percentile, run_in_temp_dir  # noqa: E402

MARKER = re.compile(r"\{bench:(R\d{6}[0-9a-f]{6})\}")
ARCHIVED = re.compile(
    r"^(\S+ \S+) INFO im2mail\.\w+: reply from .* archived \(conversation \d+, "
    r"message (\d+)\)"
)
DELIVERED = re.compile(r"^(\S+ \S+) INFO im2mail\.sender: reply (\d+) from .* delivered to")
RECONNECT = re.compile(r"^(\S+ \S+) WARNING im2mail\.watcher: .*reconnecting in")

# pymap's dict backend with IDLE left out of its capabilities (argv: pymap's own).
PYMAP_NO_IDLE = """
import sys
import pymap.backend.dict as backend
from pymap.config import BackendCapability
backend.Config.backend_capability = property(
    lambda self: BackendCapability(idle=False, object_id=True, multi_append=True))
from pymap.main import main
sys.argv[0] = "pymap"
main()
"""


class Aborted(Exception):
    """The time budget ran out, or a part died."""


# -- the parts ----------------------------------------------------------------------------------


def timed_double() -> Any:
    """A TelegramDouble whose sendMessage records, in the double's loop, the perf_counter
    (and wall clock) at which each bench text arrived."""
    from im2mail.testing.telegram_api import TelegramDouble

    class _Timed(TelegramDouble):
        def __init__(self) -> None:
            super().__init__()
            self.arrived: dict[str, float] = {}  # marker -> perf_counter at the double
            self.arrived_wall: dict[str, float] = {}
            self.repeats = 0  # a marker sent more than once

        def _sent_message(self, bot, method, chat_id, kind, text, *rest, **kw):  # type: ignore[override]
            at, wall = time.perf_counter(), time.time()
            message = super()._sent_message(bot, method, chat_id, kind, text, *rest, **kw)
            found = MARKER.search(text or "")
            if found:
                if found.group(1) in self.arrived:
                    self.repeats += 1
                else:
                    self.arrived[found.group(1)] = at
                    self.arrived_wall[found.group(1)] = wall
            return message

    return _Timed()


def start_imap(port: int, idle: bool) -> subprocess.Popen:
    """pymap as the e2e tests start it, or (idle=False) the same without IDLE."""
    from tests.support.imap_server import PASSWORD, USER, start_pymap

    if idle:
        return start_pymap(port)
    proc = subprocess.Popen(
        [sys.executable, "-c", PYMAP_NO_IDLE, "--host", "127.0.0.1", "--port", str(port),
         "--no-tls", "dict", "--demo-user", USER, "--demo-password", PASSWORD],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                if s.recv(64).startswith(b"* OK"):
                    return proc
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise Aborted("pymap without IDLE did not start")
        time.sleep(0.1)


def log_times(log: str) -> tuple[dict[int, float], dict[int, float], list[float]]:
    """From the relay's log (epoch s): message id -> archived, message id -> delivered, and
    the times the watcher lost its connection ("...; reconnecting in N s")."""

    def epoch(stamp: str) -> float:
        return dt.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()

    archived: dict[int, float] = {}
    delivered: dict[int, float] = {}
    lost: list[float] = []
    for line in log.splitlines():
        if m := ARCHIVED.match(line):
            archived[int(m.group(2))] = epoch(m.group(1))
        elif m := DELIVERED.match(line):
            delivered[int(m.group(2))] = epoch(m.group(1))
        elif m := RECONNECT.match(line):
            lost.append(epoch(m.group(1)))
    return archived, delivered, lost


def reply_markers(path: Path) -> dict[str, int]:
    """marker -> message id of the archived reply, read-only from the relay's archive."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        rows = db.execute("SELECT id, text FROM messages WHERE direction = 'out'").fetchall()
    finally:
        db.close()
    return {m.group(1): mid for mid, text in rows if (m := MARKER.search(text or ""))}


# -- one mode -----------------------------------------------------------------------------------


@dataclass
class Run:
    mode: str
    planned: int = 0
    appended: int = 0
    seconds: list[float] = field(default_factory=list)  # APPEND start -> sendMessage
    to_archive: list[float] = field(default_factory=list)  # APPEND start -> archived (log)
    to_send: list[float] = field(default_factory=list)  # archived (log) -> sendMessage
    append_seconds: list[float] = field(default_factory=list)  # the APPEND command itself
    calm: list[float] = field(default_factory=list)  # .seconds of those not across a reconnect
    reconnects: int = 0  # the watcher lost its connection (log) and reconnected
    span: float = float("nan")  # first APPEND -> last sendMessage
    missing: int = 0
    repeats: int = 0
    watcher: str = ""  # how the relay said it watches
    note: str = ""


class Appender(threading.Thread):
    """APPENDs the replies from a thread of its own (imapclient blocks), at the times the
    schedule says; records perf_counter and time.time() just before each APPEND."""

    def __init__(self, server: Any, replies: list[tuple[str, bytes]], schedule: Any) -> None:
        super().__init__(name="bench-appender", daemon=True)
        self.server, self.replies, self.schedule = server, replies, schedule
        self.started: dict[str, tuple[float, float]] = {}  # marker -> (perf_counter, wall)
        self.took: list[float] = []
        self.error: BaseException | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        from imapclient import IMAPClient

        try:
            client = IMAPClient(self.server.host, port=self.server.port, ssl=False, timeout=10)
            client.login(self.server.user, self.server.password)
            try:
                t0 = time.perf_counter()
                for i, (marker, raw) in enumerate(self.replies):
                    wait = self.schedule(i, t0) - time.perf_counter()
                    if wait > 0 and self.stop.wait(wait):
                        return
                    if self.stop.is_set():
                        return
                    at, wall = time.perf_counter(), time.time()
                    client.append("INBOX", raw)
                    self.took.append(time.perf_counter() - at)
                    self.started[marker] = (at, wall)
            finally:
                with contextlib.suppress(Exception):
                    client.logout()
        except BaseException as e:  # reported by the bench
            self.error = e


async def run_mode(
    mode: str, args: argparse.Namespace, root: Path, tg: Any, smtp: Any, deadline: float
) -> Run:
    from tests.e2e.relay_rig import RelayProcess, write_home
    from tests.e2e.test_replies import reply_to
    from tests.support.imap_server import PASSWORD, USER, ImapServer, free_port, stop_pymap

    idle = mode == "idle"
    result = Run(mode)
    home = isolate(root / mode)
    port = free_port()
    imap = ImapServer("127.0.0.1", port, USER, PASSWORD)
    pymap = await asyncio.to_thread(start_imap, port, idle)
    relay = None
    appender: Appender | None = None
    try:
        # The processed folder exists before the first reply, as it would after the first.
        from imapclient import IMAPClient

        def make_folder() -> None:
            c = IMAPClient(imap.host, port=imap.port, ssl=False, timeout=10)
            c.login(imap.user, imap.password)
            c.create_folder("im2mail")
            c.logout()

        await asyncio.to_thread(make_folder)
        token = tg.add_bot(f"shop_{mode}_bot", "Shop")
        listen = write_home(home, api_url=tg.url, token=token, smtp_port=smtp.port, imap=imap,
                            greeting=None)  # fmt: skip
        relay = RelayProcess(home, listen)
        await relay.wait_healthy()
        # The customers write, so the conversations exist; their emails to the managers.
        originals = []
        for c in range(args.chats):
            user = tg.customer(f"Відповідь{c}", "Бенч", username=f"{mode}_{c}")
            before = len(smtp.messages)
            await tg.push_text(token, user, f"Скільки коштують {c + 1}00 візиток?")
            await smtp.wait_for(before + 1, timeout=max(1.0, deadline - time.monotonic()))
            originals.append(smtp.messages[before].message)
        await wait_watching(relay, deadline)
        result.watcher = next(
            (ln.split("im2mail.watcher: ", 1)[1] for ln in relay.log.splitlines()
             if "im2mail.watcher: IMAP watching" in ln), "?",
        )  # fmt: skip

        n = args.replies if idle else args.poll_replies
        result.planned = n
        replies = []
        for i in range(n):
            marker = f"R{i:06d}{secrets.token_hex(3)}"
            text = f"Добрий день! {i + 1}00 візиток — {350 + i} грн {{bench:{marker}}}"
            replies.append((marker, reply_to(originals[i % args.chats], text).as_bytes()))
        if idle:
            lo, hi = args.gap_ms[0] / 1000, args.gap_ms[1] / 1000
            gaps = [0.0] + [random.uniform(lo, hi) for _ in range(n - 1)]
            last = [0.0]

            def schedule(i: int, t0: float) -> float:
                # the gap counts from the end of the previous APPEND
                last[0] = (time.perf_counter() if i else t0) + gaps[i]
                return last[0]
        else:
            offsets = sorted(random.uniform(0, args.poll_seconds) for _ in range(n))

            def schedule(i: int, t0: float) -> float:
                return t0 + offsets[i]

        appender = Appender(imap, replies, schedule)
        print(f"  {mode}: {n} replies...", file=sys.stderr, flush=True)
        appender.start()
        last_print = time.monotonic()
        while True:
            done = sum(1 for m, _ in replies if m in tg.arrived)
            if done >= n:
                break
            if appender.error is not None:
                raise Aborted(f"{mode}: APPEND failed: {appender.error!r}")
            if relay.proc.poll() is not None:
                raise Aborted(f"{mode}: the relay exited with {relay.proc.returncode}")
            if time.monotonic() > deadline:
                raise Aborted(f"{mode}: {done} of {n} replies reached the double in time")
            if time.monotonic() - last_print >= 10:
                print(f"  {mode}: appended {len(appender.started)}, sent {done}",
                      file=sys.stderr, flush=True)  # fmt: skip
                last_print = time.monotonic()
            await asyncio.sleep(0.05)
        await asyncio.sleep(1)  # a repeat would come now
    except Aborted as e:
        result.note = str(e)
    finally:
        if appender is not None:
            appender.stop.set()
            await asyncio.to_thread(appender.join, 15)
        if relay is not None:
            code, _ = await relay.terminate()
            if code != 0:
                result.note += f" relay exit code {code}"
            errors = [ln for ln in relay.log.splitlines() if " ERROR " in ln or " WARNING " in ln]
            if errors:
                result.note += f" {len(errors)} warning/error lines, first: {errors[0]}"
            if args.keep:
                print(f"  {mode}: relay log {relay.log_path}", file=sys.stderr)
        await asyncio.to_thread(stop_pymap, pymap)

    if appender is not None:
        result.appended = len(appender.started)
        result.append_seconds = appender.took
        result.repeats = tg.repeats
        starts = appender.started
        result.seconds = [tg.arrived[m] - at for m, (at, _) in starts.items() if m in tg.arrived]
        result.missing = sum(1 for m in starts if m not in tg.arrived)
        if result.seconds:
            first = min(at for at, _ in starts.values())
            result.span = max(tg.arrived[m] for m in starts if m in tg.arrived) - first
        if relay is not None:
            archived, _, lost = log_times(relay.log)
            result.reconnects = len(lost)
            ids = await asyncio.to_thread(reply_markers, home / "archive.db")
            for m, (at, wall) in starts.items():
                mid = ids.get(m)
                if mid in archived and m in tg.arrived_wall:
                    result.to_archive.append(archived[mid] - wall)
                    result.to_send.append(tg.arrived_wall[m] - archived[mid])
                    if not any(wall <= t <= archived[mid] for t in lost):
                        result.calm.append(tg.arrived[m] - at)
    return result


async def wait_watching(relay: Any, deadline: float) -> None:
    """Until the watcher says it is watching (its first scan is done before it IDLEs)."""
    while "im2mail.watcher: IMAP watching" not in relay.log:
        if relay.proc.poll() is not None or time.monotonic() > deadline:
            raise Aborted("the IMAP watcher never connected")
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)


# -- the report ---------------------------------------------------------------------------------


def report(info: dict[str, str], args: argparse.Namespace, runs: list[Run]) -> None:
    def ms(v: float) -> str:
        return f"{v * 1000:.0f}" if v == v else "-"

    print()
    print(f"im2mail reply latency bench, {info['date']}")
    print(f"nproc {info['nproc']}, CPU {info['cpu']}, Python {info['python']}, "
          f"SQLite {info['sqlite']}")  # fmt: skip
    print(f"{args.chats} chats round robin; idle: gap {args.gap_ms[0]}-{args.gap_ms[1]} ms "
          f"between APPENDs; polling: uniform over {args.poll_seconds:g} s; "
          "APPEND start -> sendMessage at the double")  # fmt: skip
    print()
    head = f"| {'mode':31} | {'count':>5} | {'p50 ms':>7} | {'p90 ms':>7} | {'p99 ms':>7} | "
    print(head + f"{'max ms':>7} | {'replies/s':>9} |")
    print(f"|{'-' * 33}|{'-' * 7}:|{'-' * 8}:|{'-' * 8}:|{'-' * 8}:|{'-' * 8}:|{'-' * 10}:|")
    for r in runs:
        rows = [
            (f"{r.mode}: APPEND -> sendMessage", r.seconds, True),
            ("  APPEND -> archived (log)", r.to_archive, False),
            ("  archived -> sendMessage (log)", r.to_send, False),
            ("  the APPEND command", r.append_seconds, False),
            ("  not across a reconnect", r.calm if r.reconnects else [], False),
        ]
        for name, values, main_row in rows:
            if not values:
                continue
            rate = f"{len(values) / r.span:.1f}" if main_row and r.span == r.span else ""
            print(f"| {name:31} | {len(values):>5} | {ms(percentile(values, 50)):>7} | "
                  f"{ms(percentile(values, 90)):>7} | {ms(percentile(values, 99)):>7} | "
                  f"{ms(max(values)):>7} | {rate:>9} |")  # fmt: skip
    print()
    for r in runs:
        print(f"{r.mode}: relay: {r.watcher}; {r.appended} of {r.planned} appended, "
              f"missing {r.missing}, sent twice {r.repeats}; the watcher lost its connection "
              f"{r.reconnects} times, {len(r.seconds) - len(r.calm)} replies waited across "
              "that")  # fmt: skip
        if r.mode == "idle" and r.seconds:
            p99 = percentile(r.seconds, 99)
            verdict = "met" if p99 <= 1.0 else f"MISSED by {ms(p99 - 1.0)} ms"
            print(f"  target p99 <= 1 s with IDLE: {verdict}")
        if r.note:
            print(f"  NOTE: {r.note.strip()}")


# -- main ---------------------------------------------------------------------------------------


async def bench(args: argparse.Namespace, root: Path) -> int:
    from benches.relay import timed_smtp_server

    deadline = time.monotonic() + args.timeout
    info = machine()
    runs: list[Run] = []
    smtp = timed_smtp_server()
    try:
        async with timed_double() as tg:
            for mode in args.modes:
                runs.append(await run_mode(mode, args, root, tg, smtp, deadline))
    finally:
        smtp.close()
    report(info, args, runs)
    return 2 if any(r.note.startswith(r.mode) for r in runs) else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replies", type=int, default=500, help="idle mode (default 500)")
    parser.add_argument("--chats", type=int, default=20)
    parser.add_argument(
        "--gap-ms", type=float, nargs=2, default=[50.0, 100.0], metavar=("LO", "HI"),
        help="idle mode: random gap between APPENDs (default 50 100)",
    )  # fmt: skip
    parser.add_argument("--poll-replies", type=int, default=50, help="polling mode (default 50)")
    parser.add_argument(
        "--poll-seconds", type=float, default=120.0,
        help="polling mode: replies at uniform random times over this long (default 120)",
    )  # fmt: skip
    parser.add_argument(
        "--modes", default="idle,polling",
        type=lambda s: [m for m in s.split(",") if m],
        help="which, in this order (default idle,polling)",
    )  # fmt: skip
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="abort after this many seconds in all (default 900)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=None, help="for the random gaps and times")
    parser.add_argument("--keep", action="store_true", help="keep the temporary homes")
    args = parser.parse_args()
    if args.chats < 1 or any(m not in ("idle", "polling") for m in args.modes):
        parser.error("--chats must be >= 1; --modes takes idle and/or polling")
    if "idle" in args.modes and args.chats * args.gap_ms[0] < 1000:
        print(f"note: {args.chats} chats x {args.gap_ms[0]:g} ms < 1 s: a chat's replies can "
              "come faster than the relay's 1 s per-chat pace", file=sys.stderr)  # fmt: skip
    random.seed(args.seed)
    sys.exit(run_in_temp_dir(bench, args, "im2mail-replies-bench-"))


if __name__ == "__main__":
    main()
