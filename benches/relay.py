"""Throughput and latency of `im2mail run`, end to end on loopback.

    python benches/relay.py [--latency-messages 1000] [--burst 10000 --customers 500]
        [--latency-customers 5] [--greeting] [--archive-only] [--smtp-rtt MS]
        [--against REV [--rounds N]] [--timeout 600] [--py-spy SECONDS] [--keep]

In this process: the Telegram double (im2mail/testing/telegram_api.py) and the SMTP test
server (tests/support/smtp_server.py, its own thread); a real `im2mail run` subprocess
(tests/e2e/relay_rig.py) polls the double and mails to the server. Nothing leaves
127.0.0.1. Two measurements:

1. Latency: --latency-messages texts, one at a time from --latency-customers customers,
   each sent only once the previous one was mailed. Measured from the moment push_text
   returns (the update sits in the double's queue and the pending long poll is answered)
   to the moment the SMTP server has the whole mail (end of DATA, recorded in the
   server's thread). One warm-up message per customer (first contact: the customer and
   the conversation are created, the SMTP connection is opened) is not counted.
   The relay's log (ms resolution) splits each latency into push -> archived and
   archived -> mail accepted. Target (issue #4): p99 <= 0.2 s.
2. Burst: --burst texts from --customers customers (round robin) pushed as fast as
   possible, then wait until all are mailed. Archived/s from the relay's log ("message N
   ... archived" lines), mailed/s from the SMTP server's per-mail timestamps; every text
   carries a unique marker and each must be mailed exactly once; peak RSS (VmHWM) and CPU
   time of the `run` process. Targets: all mailed once, >= 200 messages/s archived.

The relay runs without a greeting (greeting=None) unless --greeting: the greeting is a
sendMessage to each new customer, so without it this measures the relay alone.
--archive-only stops the SMTP server for the burst (connections refused, so the outbox
backs off and sends nothing): the archive rate of intake alone, for comparison.
--smtp-rtt MS makes the SMTP server wait MS milliseconds before each reply (the greeting,
every command's, the end of DATA's), as a server MS ms away would seem: the outbox's
sending is bound by round trips there, not by the CPU. Default 0: loopback as it is.
--against REV measures that commit's relay too (its files from `git archive` in the
temporary directory; `python -m im2mail` runs there), REV first, then this worktree's,
--rounds times, each with a fresh home, Telegram double and SMTP server; a table then
puts them side by side with the ratio of mailed/s (this ÷ REV).
Everything is bounded by --timeout seconds: past it the bench stops, says where it was,
prints what it measured so far and exits 2. --py-spy N records the relay with py-spy (if
on PATH) for N seconds at the start of the burst and prints its top functions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import platform
import re
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

KEYRING = "keyrings.alt.file.PlaintextKeyring"
MARKER = re.compile(r"\{bench:([LB]\d{6}[0-9a-f]{6})\}")
ARCHIVED = re.compile(r"^(\S+ \S+) INFO im2mail\.inbound: \S+: message (\d+) from .* archived")
MAILED = re.compile(r"^(\S+ \S+) INFO im2mail\.outbox: mail #\d+ (\S+) sent to")


class Aborted(Exception):
    """The time budget ran out."""


# -- the environment --------------------------------------------------------------------------


def isolate(root: Path) -> Path:
    """What tests/conftest.py's isolated_home fixture does, for this process and its children."""
    home = root / "home"
    home.mkdir(parents=True)
    os.environ.update(
        IM2MAIL_HOME=str(home),
        XDG_DATA_HOME=str(root / "xdg-data"),
        XDG_CONFIG_HOME=str(root / "xdg-config"),
        PYTHON_KEYRING_BACKEND=KEYRING,
        NO_COLOR="1",
        COLUMNS="200",
    )
    os.environ.pop("CREDENTIALS_DIRECTORY", None)
    import keyring.core

    keyring.core._keyring_backend = None  # keyring caches its backend per process
    return home


def machine() -> dict[str, str]:
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    if model == "?":
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=5).stdout
            model = next(
                (ln.split(":", 1)[1].strip() for ln in out.splitlines() if "Model name" in ln),
                "?",
            )
    return {
        "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": model,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }


# -- the SMTP server, with a timestamp per mail -------------------------------------------------


class TimedMails(list):
    """SmtpServer.messages that also records when each mail's DATA completed (perf_counter
    and wall clock, taken in the server's thread as the mail is accepted) and can wake an
    asyncio waiter in another thread."""

    def __init__(self) -> None:
        super().__init__()
        self.at: list[float] = []
        self.wall: list[float] = []
        self._wake: Any = None

    def append(self, item: Any) -> None:
        self.at.append(time.perf_counter())
        self.wall.append(time.time())
        super().append(item)
        wake = self._wake
        if wake is not None:
            wake()

    async def wait_for(
        self, count: int, deadline: float, what: str, alive: Any = lambda: True
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            while len(self) < count:
                event = asyncio.Event()
                self._wake = lambda e=event: loop.call_soon_threadsafe(e.set)
                if len(self) >= count:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Aborted(f"{what}: {len(self)} of {count} mails arrived in time")
                if not alive():
                    raise Aborted(f"{what}: the relay exited")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), min(left, 1.0))
        finally:
            self._wake = None


def timed_smtp_server(rtt_ms: float = 0.0) -> Any:
    from tests.support.smtp_server import SmtpServer

    server = SmtpServer()
    server.messages = TimedMails()
    server.rtt = rtt_ms / 1000
    return server.start()


def marker_of(received: Any) -> str | None:
    body = received.message.get_body(("plain",))
    found = MARKER.search(body.get_content() if body is not None else "")
    return found.group(1) if found else None


# -- the relay process ------------------------------------------------------------------------


def proc_status(pid: int) -> dict[str, str]:
    with contextlib.suppress(OSError):
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        return {k: v.strip() for k, _, v in (ln.partition(":") for ln in lines)}
    return {}


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process (all its threads)."""
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return float("nan")


def log_times(log: str) -> tuple[dict[int, float], dict[str, float]]:
    """From the relay's log: message id -> when archived, Message-ID -> when mailed (epoch s)."""

    def epoch(stamp: str) -> float:
        return dt.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()

    archived: dict[int, float] = {}
    mailed: dict[str, float] = {}
    for line in log.splitlines():
        if m := ARCHIVED.match(line):
            archived[int(m.group(2))] = epoch(m.group(1))
        elif m := MAILED.match(line):
            mailed[m.group(2)] = epoch(m.group(1))
    return archived, mailed


def archive_markers(path: Path) -> dict[str, int]:
    """marker -> message id, read-only from the relay's archive."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        rows = db.execute("SELECT id, text FROM messages WHERE direction = 'in'").fetchall()
    finally:
        db.close()
    return {m.group(1): mid for mid, text in rows if (m := MARKER.search(text or ""))}


def count_archived(path: Path) -> int:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return db.execute("SELECT count(*) FROM messages WHERE direction = 'in'").fetchone()[0]
    finally:
        db.close()


def start_py_spy(pid: int, seconds: int, out: Path) -> subprocess.Popen | None:
    exe = shutil.which("py-spy")
    if exe is None:
        print("py-spy is not on PATH: no profile", file=sys.stderr)
        return None
    return subprocess.Popen(
        [exe, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "200",
         "--format", "raw", "--output", str(out), "--nonblocking", "--gil"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


# Frames under every stack of the event loop's thread, or of a pool thread: not informative.
_FRAMES = ("(typer/", "(click/", "(<frozen runpy>)", "(asyncio/", "(im2mail/cli/",
           "(im2mail/__main__.py)", "(threading.py)", "(concurrent/futures/")  # fmt: skip


def py_spy_summary(out: Path, top: int = 25) -> list[str]:
    """Top functions by own samples and by inclusive samples, from py-spy's raw (folded)
    output: one 'frame;frame;... count' line per stack. Frames are 'function (file:line)';
    the line is dropped, so a function's samples add up."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in out.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        count = int(n)
        total += count
        frames = [
            re.sub(r":\d+\)$", ")", f)
            for f in stack.split(";")
            if f and not f.startswith(("thread ", "process "))
        ]
        if not frames:
            continue
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"{total} samples of the thread holding the GIL; own time:"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines.append("inclusive (the function or anything it called; start-up frames left out):")
    shown = [(f, n) for f, n in inclusive.most_common() if not any(s in f for s in _FRAMES)]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in shown[:top]]
    return lines


# -- the measurements ---------------------------------------------------------------------------


@dataclass
class Latency:
    warmup: int = 0
    seconds: list[float] = field(default_factory=list)  # push_text returned -> end of DATA
    to_archive: list[float] = field(default_factory=list)  # push -> "archived" log line
    to_mail: list[float] = field(default_factory=list)  # "archived" -> end of DATA
    wrong: int = 0  # a mail that did not carry the text just pushed
    note: str = ""


@dataclass
class Burst:
    pushed: int = 0
    push_seconds: float = 0.0
    archived: int = 0
    mailed: int = 0
    archive_seconds: float = float("nan")  # first push -> last "archived" log line
    mail_seconds: float = float("nan")  # first push -> last mail at the server
    half_mailed: float = float("nan")  # first push -> half of the burst's mails at the server
    max_backlog: int = 0  # archived but not mailed yet, largest seen in the samples
    duplicates: int = 0
    missing: int = 0
    foreign: int = 0  # mails with no marker of this burst
    seconds: float = float("nan")  # first push -> all done (or aborted)
    relay_cpu: float = float("nan")
    bench_cpu: float = float("nan")
    archive_only: bool = False  # the SMTP server was down: nothing mailed, on purpose
    vm_hwm: str = "?"
    vm_rss: str = "?"
    archive_count: int = 0  # rows in the archive for this burst
    note: str = ""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]  # nearest rank


async def measure_latency(
    tg: Any, token: str, smtp: Any, relay: Any, archive: Path, n: int, customers: int,
    deadline: float,
) -> Latency:  # fmt: skip
    result = Latency(warmup=customers)
    users = [tg.customer(f"Латенція{i}", "Бенч", username=f"lat_{i}") for i in range(customers)]
    pushed: list[tuple[str, float, float]] = []  # marker, push wall time, latency
    try:
        for i in range(customers + n):
            marker = f"L{i:06d}{secrets.token_hex(3)}"
            before = len(smtp.messages)
            await tg.push_text(
                token, users[i % customers], f"Потрібно {i + 1} візиток {{bench:{marker}}}"
            )
            t0, wall = time.perf_counter(), time.time()
            await smtp.messages.wait_for(
                before + 1, deadline, f"latency, message {i + 1}",
                lambda: relay.proc.poll() is None,
            )  # fmt: skip
            if i >= customers:
                pushed.append((marker, wall, smtp.messages.at[before] - t0))
            if i % 100 == 0:
                print(f"  latency: {i}/{customers + n}", file=sys.stderr, flush=True)
    except Aborted as e:
        result.note = str(e)
    result.seconds = [s for _, _, s in pushed]
    mails = smtp.messages[-(len(pushed) + customers) :] if pushed else []
    # Parsed in a thread: the double's loop must keep answering the relay's long poll.
    found = await asyncio.to_thread(lambda: [marker_of(m) for m in mails])
    by_marker = {marker: k for k, marker in enumerate(found)}
    result.wrong = sum(1 for marker, _, _ in pushed if marker not in by_marker)
    archived, _ = log_times(relay.log)
    ids = await asyncio.to_thread(archive_markers, archive)
    offset = len(smtp.messages) - len(mails)
    for marker, wall, _ in pushed:
        mid, k = ids.get(marker), by_marker.get(marker)
        if mid in archived and k is not None:
            result.to_archive.append(archived[mid] - wall)
            result.to_mail.append(smtp.messages.wall[offset + k] - archived[mid])
    return result


async def measure_burst(
    tg: Any, token: str, smtp: Any, relay: Any, archive: Path, n: int, customers: int,
    deadline: float, py_spy: int, spy_out: Path, archive_only: bool = False,
) -> tuple[Burst, list[str]]:  # fmt: skip
    result = Burst(archive_only=archive_only)
    pid = relay.proc.pid
    users = [tg.customer(f"Клієнт{i}", "Бенч", username=f"burst_{i}") for i in range(customers)]
    base_archived = await asyncio.to_thread(count_archived, archive)
    base_mailed = len(smtp.messages)
    markers = [f"B{i:06d}{secrets.token_hex(3)}" for i in range(n)]
    if archive_only:
        smtp.stop()  # refused from now on: the outbox backs off, intake runs alone
    cpu0, bench0 = cpu_seconds(pid), time.process_time()
    spy = start_py_spy(pid, py_spy, spy_out) if py_spy else None
    t_start, wall_start = time.perf_counter(), time.time()
    for i, marker in enumerate(markers):
        await tg.push_text(
            token, users[i % customers], f"Замовлення {i + 1}: банер {{bench:{marker}}}"
        )
        result.pushed = i + 1
        if i % 250 == 249:
            await asyncio.sleep(0)  # let the double answer the long poll meanwhile
    result.push_seconds = time.perf_counter() - t_start
    last_print = 0.0
    try:
        while True:
            archived = await asyncio.to_thread(count_archived, archive) - base_archived
            mailed = len(smtp.messages) - base_mailed
            result.max_backlog = max(result.max_backlog, archived - mailed)
            now = time.perf_counter() - t_start
            if now - last_print >= 5:
                print(f"  burst: {now:6.1f} s  archived {archived}  mailed {mailed}",
                      file=sys.stderr, flush=True)  # fmt: skip
                last_print = now
            if archived >= n and (mailed >= n or archive_only):
                break
            if relay.proc.poll() is not None:
                raise Aborted(f"the relay exited with {relay.proc.returncode}")
            if time.monotonic() > deadline:
                raise Aborted(f"burst: {archived} of {n} archived, {mailed} mailed in time")
            await asyncio.sleep(0.25)
    except Aborted as e:
        result.note = str(e)
    result.seconds = time.perf_counter() - t_start
    result.relay_cpu = cpu_seconds(pid) - cpu0
    result.bench_cpu = time.process_time() - bench0
    if not archive_only and not result.note:
        await asyncio.sleep(1)  # a duplicate would come now
    status = proc_status(pid)
    result.vm_hwm, result.vm_rss = status.get("VmHWM", "?"), status.get("VmRSS", "?")

    mails = smtp.messages[base_mailed:]
    result.mailed = len(mails)
    if mails:
        result.mail_seconds = smtp.messages.at[base_mailed + len(mails) - 1] - t_start
        result.half_mailed = smtp.messages.at[base_mailed + (len(mails) - 1) // 2] - t_start
    counts = Counter(await asyncio.to_thread(lambda: [marker_of(m) for m in mails]))
    wanted = set(markers)
    result.duplicates = sum(c - 1 for m, c in counts.items() if m in wanted and c > 1)
    result.missing = sum(1 for m in markers if m not in counts)
    result.foreign = sum(c for m, c in counts.items() if m not in wanted)
    ids = await asyncio.to_thread(archive_markers, archive)
    result.archive_count = sum(1 for m in markers if m in ids)
    archived_at, _ = log_times(relay.log)
    times = [archived_at[ids[m]] for m in markers if m in ids and ids[m] in archived_at]
    result.archived = len(times)
    if times:
        result.archive_seconds = max(times) - wall_start
    profile: list[str] = []
    if spy is not None:
        _, err = await asyncio.to_thread(spy.communicate)
        if spy_out.exists():
            profile = py_spy_summary(spy_out)
        else:
            profile = [f"py-spy recorded nothing: {err.strip()[-500:]}"]
    return result, profile


# -- the report -------------------------------------------------------------------------------


def report(info: dict[str, str], args: argparse.Namespace, lat: Latency | None,
           burst: Burst | None, profile: list[str], extra: list[str],
           version: str = "") -> None:  # fmt: skip
    def ms(v: float) -> str:
        return f"{v * 1000:.1f}"

    print()
    print(f"im2mail relay bench{f' of {version}' if version else ''}, {info['date']}")
    print(f"nproc {info['nproc']}, CPU {info['cpu']}, Python {info['python']}, "
          f"SQLite {info['sqlite']}")  # fmt: skip
    print(
        f"polling mode, {'with' if args.greeting else 'no'} greeting"
        f"{'' if args.greeting else ' (the relay alone: greeting=None)'}, all on 127.0.0.1"
        f"{f'; the SMTP server replies {args.smtp_rtt:g} ms late' if args.smtp_rtt else ''}"
    )
    if lat is not None:
        s = lat.seconds
        print()
        print(f"Latency: {len(s)} messages one at a time from {args.latency_customers} "
              f"customers ({lat.warmup} warm-up messages not counted), push_text returned "
              "-> end of DATA at the SMTP server")  # fmt: skip
        print(f"| {'':26} | {'p50 ms':>8} | {'p90 ms':>8} | {'p99 ms':>8} | {'max ms':>8} |")
        print(f"|{'-' * 28}|{'-' * 10}|{'-' * 10}|{'-' * 10}|{'-' * 10}|")
        rows = [("push -> mail (measured)", s),
                ("  push -> archived (log)", lat.to_archive),
                ("  archived -> mail (log)", lat.to_mail)]  # fmt: skip
        for name, values in rows:
            if values:
                print(f"| {name:26} | {ms(percentile(values, 50)):>8} | "
                      f"{ms(percentile(values, 90)):>8} | {ms(percentile(values, 99)):>8} | "
                      f"{ms(max(values)):>8} |")  # fmt: skip
        if s:
            verdict = "met" if percentile(s, 99) <= 0.2 else "MISSED"
            print(f"mean {ms(statistics.fmean(s))} ms; target p99 <= 200 ms: {verdict}; "
                  f"mails without the text just pushed: {lat.wrong}")  # fmt: skip
        if lat.note:
            print(f"ABORTED: {lat.note}")
    if burst is not None:
        b = burst
        print()
        print(f"Burst: {b.pushed} messages from {args.customers} customers, pushed in "
              f"{b.push_seconds:.2f} s")  # fmt: skip
        a_rate = b.archived / b.archive_seconds if b.archived else float("nan")
        m_rate = b.mailed / b.mail_seconds if b.mailed else float("nan")
        table = [("archived (log)", f"{b.archived}", f"{b.archive_seconds:.1f}", f"{a_rate:.0f}")]
        if b.archive_only:
            table.append(("mailed", "-", "SMTP down", "-"))
        else:
            table.append(
                ("mailed (SMTP server)", f"{b.mailed}", f"{b.mail_seconds:.1f}", f"{m_rate:.0f}")
            )
        print(f"| {'':22} | {'count':>6} | {'s from 1st push':>15} | {'msg/s':>7} |")
        print(f"|{'-' * 24}|{'-' * 8}|{'-' * 17}|{'-' * 9}|")
        for row in table:
            print(f"| {row[0]:22} | {row[1]:>6} | {row[2]:>15} | {row[3]:>7} |")
        if not b.archive_only and b.mailed and b.archived:
            print(f"mailed/s ÷ archived/s: {m_rate / a_rate:.2f}")
        once = b.missing == 0 and b.duplicates == 0 and b.mailed == b.pushed
        print(f"half of the burst mailed {b.half_mailed:.1f} s after the first push")
        print(f"total {b.seconds:.1f} s; rows in the archive {b.archive_count}; "
              f"largest backlog seen (archived, not mailed) {b.max_backlog}")  # fmt: skip
        if b.archive_only:
            print("--archive-only: the SMTP server refused connections during the burst, so "
                  "the outbox backed off and the archive rate is intake's alone")  # fmt: skip
        else:
            print(
                f"duplicates {b.duplicates}, missing {b.missing}, other mails {b.foreign}: "
                f"{'every text mailed exactly once' if once else 'NOT every text mailed once'}"
            )
        print(
            f"relay process: peak RSS (VmHWM) {b.vm_hwm}, RSS at the end {b.vm_rss}, "
            f"CPU {b.relay_cpu:.1f} s ({b.relay_cpu / b.seconds:.0%} of one core over "
            f"the burst); bench process (double + SMTP server) CPU {b.bench_cpu:.1f} s"
        )
        mail_verdict = "not measured" if b.archive_only else "met" if once else "MISSED"
        print(f"targets: all mailed once: {mail_verdict}; >= 200 msg/s "
              f"archived: {'met' if a_rate >= 200 else 'MISSED'}")  # fmt: skip
        if b.note:
            print(f"ABORTED: {b.note}")
    for line in extra:
        print(line)
    if profile:
        print()
        print("py-spy (relay process, start of the burst):")
        for line in profile:
            print(line)


# -- main -------------------------------------------------------------------------------------


@dataclass
class Run:
    """One measurement of one version of the code."""

    version: str  # "this" or the --against revision, as given
    code: Path  # the directory whose im2mail ran
    round: int
    lat: Latency | None = None
    burst: Burst | None = None
    profile: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    code_exit: int = 0  # 2: aborted


def checked_out(rev: str, into: Path) -> Path:
    """The project's files at commit `rev`, written under `into` (git archive), and
    checked to be what `python -m im2mail` imports there."""
    into.mkdir(parents=True)
    tar = subprocess.run(["git", "archive", rev], cwd=REPO, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=tar.stdout, check=True)
    found = subprocess.run(
        [sys.executable, "-c", "import im2mail; print(im2mail.__file__)"],
        cwd=into, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    if not Path(found).is_relative_to(into):
        raise SystemExit(f"--against: im2mail imports from {found}, not from {into}")
    return into


def described(rev: str) -> str:
    """`rev` as a short commit id (and its subject), for the report."""
    out = subprocess.run(["git", "log", "-1", "--format=%h %s", rev], cwd=REPO,
                         capture_output=True, text=True)  # fmt: skip
    line = out.stdout.strip() or rev
    return line if len(line) <= 90 else line[:87] + "..."


async def measure(args: argparse.Namespace, root: Path, run: Run, deadline: float) -> Run:
    """Latency, then the burst, against a fresh home, Telegram double and SMTP server."""
    from im2mail.testing.telegram_api import TelegramDouble
    from tests.e2e.relay_rig import RelayProcess, write_home

    home = root / f"home-{run.version}-{run.round}".replace("/", "_")
    home.mkdir(parents=True)
    os.environ["IM2MAIL_HOME"] = str(home)
    smtp = timed_smtp_server(args.smtp_rtt)
    try:
        async with TelegramDouble() as tg:
            token = tg.add_bot("shop_bot", "Shop")
            kwargs = {} if args.greeting else {"greeting": None}
            # A few customers writing many messages a second each: flood digests would
            # take over (benches/flood.py measures those); here, one email per message.
            port = write_home(home, api_url=tg.url, token=token, smtp_port=smtp.port,
                              extra_relay="flood_per_minute = 0\n", **kwargs)  # fmt: skip
            relay = RelayProcess(home, port, code=run.code)
            archive = home / "archive.db"
            try:
                await relay.wait_healthy()
                if args.latency_messages:
                    print(f"{run.version}: latency...", file=sys.stderr, flush=True)
                    run.lat = await measure_latency(tg, token, smtp, relay, archive,
                                                    args.latency_messages,
                                                    args.latency_customers, deadline)  # fmt: skip
                    run.code_exit = 2 if run.lat.note else 0
                if args.burst and not run.code_exit:
                    print(f"{run.version}: burst...", file=sys.stderr, flush=True)
                    run.burst, run.profile = await measure_burst(
                        tg, token, smtp, relay, archive, args.burst, args.customers, deadline,
                        args.py_spy, home / "py-spy.txt", args.archive_only,
                    )  # fmt: skip
                    run.code_exit = 2 if run.burst.note else 0
                exit_code, took = await relay.terminate()
                run.extra.append(f"\nrelay stopped with exit code {exit_code} in {took:.2f} s")
                errors = [
                    ln for ln in relay.log.splitlines() if " ERROR " in ln or " WARNING " in ln
                ]
                if errors:
                    run.extra.append(f"{len(errors)} warning/error lines in the log, first:")
                    run.extra += [f"  {ln}" for ln in errors[:5]]
                if args.keep:
                    run.extra.append(f"relay log: {relay.log_path}")
            finally:
                relay.kill()
    finally:
        smtp.close()
    return run


async def bench(args: argparse.Namespace, root: Path) -> int:
    deadline = time.monotonic() + args.timeout
    isolate(root)
    info = machine()
    versions = [("this", REPO)]
    if args.against:
        versions.insert(0, (args.against, checked_out(args.against, root / "against")))
    runs: list[Run] = []
    for n in range(1, args.rounds + 1):
        for version, code in versions:
            run = await measure(args, root, Run(version, code, n), deadline)
            runs.append(run)
            if run.code_exit:
                break
        if runs[-1].code_exit:
            break
    names = {args.against: described(args.against)} if args.against else {}
    names["this"] = f"this worktree ({described('HEAD')}{dirty()})"
    for run in runs:
        title = names[run.version] + (f", round {run.round}" if args.rounds > 1 else "")
        title = title if args.against else ""
        report(info, args, run.lat, run.burst, run.profile, run.extra, title)
    if args.against:
        compare(args, runs, names)
    return max(run.code_exit for run in runs)


def dirty() -> str:
    out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                         capture_output=True, text=True)  # fmt: skip
    return " + uncommitted changes" if out.stdout.strip() else ""


def compare(args: argparse.Namespace, runs: list[Run], names: dict[str, str]) -> None:
    """Side by side: each run's figures, and this ÷ --against per round."""

    def p99(values: list[float] | None) -> str:
        return f"{percentile(values, 99) * 1000:.1f}" if values else "-"

    def rates(run: Run) -> tuple[float, float]:
        b, nan = run.burst, float("nan")
        if b is None or not b.archived:
            return nan, nan
        return b.archived / b.archive_seconds, b.mailed / b.mail_seconds if b.mailed else nan

    print()
    rtt = f", SMTP server {args.smtp_rtt:g} ms away" if args.smtp_rtt else ""
    print(f"Side by side{rtt}: {args.latency_messages} latency messages, a burst of "
          f"{args.burst} from {args.customers} customers")  # fmt: skip
    for version, name in names.items():
        print(f"- {version}: {name}")
    print("| round | version | push→mail p99 ms | push→archived p99 ms | archived/s | mailed/s "
          "| mailed÷archived | half mailed s | all mailed s | relay CPU s |")  # fmt: skip
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for run in runs:
        lat, b = run.lat, run.burst
        a_rate, m_rate = rates(run)
        cpu = f"{b.relay_cpu:.1f}" if b else "-"
        half = f"{b.half_mailed:.1f} | {b.mail_seconds:.1f}" if b else "- | -"
        print(f"| {run.round} | {run.version} | {p99(lat.seconds if lat else None)} | "
              f"{p99(lat.to_archive if lat else None)} | {a_rate:.0f} | {m_rate:.1f} | "
              f"{m_rate / a_rate:.2f} | {half} | {cpu} |")  # fmt: skip
    ratios = []
    for n in sorted({run.round for run in runs}):
        pair = {run.version: run for run in runs if run.round == n}
        if "this" in pair and args.against in pair:
            ratios.append(rates(pair["this"])[1] / rates(pair[args.against])[1])
    if ratios:
        each = ", ".join(f"{r:.2f}" for r in ratios)
        print(f"mailed/s, this ÷ {args.against}: {each} (median {statistics.median(ratios):.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-messages", type=int, default=1000)
    parser.add_argument("--latency-customers", type=int, default=5)
    parser.add_argument("--burst", type=int, default=10000)
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument(
        "--greeting",
        action="store_true",
        help="greet new customers (a sendMessage each), as a shop would",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="abort after this many seconds in all (default 600)",
    )
    parser.add_argument(
        "--py-spy",
        type=int,
        default=0,
        metavar="SECONDS",
        help="record the relay with py-spy for this long at the burst's start",
    )
    parser.add_argument(
        "--archive-only",
        action="store_true",
        help="SMTP server down during the burst: the archive rate of intake alone",
    )
    parser.add_argument(
        "--smtp-rtt",
        type=float,
        default=0.0,
        metavar="MS",
        help="the SMTP server waits this long before each reply: a remote server (default 0)",
    )
    parser.add_argument(
        "--against",
        metavar="REV",
        help="also measure this commit's relay (checked out with git archive), taking turns",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="measurements of each version (default 1)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary home")
    args = parser.parse_args()  # fmt: skip
    if args.latency_customers < 1 or args.customers < 1:
        parser.error("customers must be >= 1")
    if args.smtp_rtt < 0:
        parser.error("--smtp-rtt must be >= 0")
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    sys.exit(run_in_temp_dir(bench, args, "im2mail-relay-bench-"))


def run_in_temp_dir(bench, args: argparse.Namespace, prefix: str) -> int:
    """asyncio.run(bench(args, root)) in a fresh temporary directory, removed afterwards
    unless --keep; Ctrl-C gives 130."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        return asyncio.run(bench(args, root))
    except KeyboardInterrupt:
        return 130
    finally:
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
