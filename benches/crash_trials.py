"""kill -9 crash trials of `im2mail run`, full size: nothing lost, nothing mailed twice.

    python benches/crash_trials.py [--trials 100] [--messages 200] [--replies 50]
        [--kill-within 3] [--in-doubt resend|notify] [--seed N] [--timeout 3600] [--keep]

In this process: the Telegram double, the SMTP test server, pymap (a subprocess) and a
real `im2mail run` subprocess, driven by tests/e2e/crash_rig.py, the rig the suite's
tests/e2e/test_crash_safety.py runs with small bursts (8 trials of 30 messages and 8
replies); this is the size issue 8 asks for. Nothing leaves 127.0.0.1.

Each trial: a burst of --messages customer messages and --replies manager replies
(shuffled; replies answer earlier emails, put in the shop mailbox as a mail client does),
the relay killed with SIGKILL at a random moment within --kill-within seconds of the
burst's start, and started again at once (a quarter of the time killed once more while
it recovers, and started again). Recovery time: from the last start to the backlog
drained, i.e. every customer message so far mailed and every reply so far sent to the
customer (it includes the ~1.5 s the process takes to start).

Counted at the end: lost customer messages, replies and team notices; emails mailed under
two Message-IDs (must be 0: a resend keeps the Message-ID fixed at archiving, so a mail
client shows one); raw copies, which the relay's at-least-once delivery allows only right
at a kill (an email the server had accepted, or a reply Telegram had taken, before the
killed process recorded it); and copies no kill explains. With --in-doubt notify (the
relay's relay.in_doubt) a reply taken by Telegram before the kill is not sent again: no
reply may arrive twice, and each reply in doubt must instead get a notice to its author
(counted, with how many of them had in fact arrived). Exit 0 when nothing was lost,
split or copied unexplained; 1 otherwise; 2 when the time budget ran out or the relay got
stuck (what was measured so far is printed). --seed replays the same texts and kill
moments.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

BENCHES = Path(__file__).resolve().parent
REPO = BENCHES.parent
for where in (str(REPO), str(BENCHES)):
    if where not in sys.path:
        sys.path.insert(0, where)

from relay import (  # noqa: E402  (benches/relay.py: the shared bench plumbing)
    Aborted,
    isolate,
    machine,
    percentile,
    run_in_temp_dir,
)


async def bench(args: argparse.Namespace, root: Path) -> int:
    from im2mail.testing.telegram_api import TelegramDouble
    from tests.e2e.crash_rig import CrashRig
    from tests.support.imap_server import (
        PASSWORD,
        USER,
        ImapServer,
        free_port,
        start_pymap,
        stop_pymap,
    )
    from tests.support.smtp_server import SmtpServer

    home = isolate(root)
    info = machine()
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    print(f"seed {seed}", file=sys.stderr, flush=True)
    deadline = time.monotonic() + args.timeout
    imap_port = free_port()
    pymap = start_pymap(imap_port)
    smtp = SmtpServer().start()
    note = ""
    try:
        async with TelegramDouble() as tg:
            imap = ImapServer("127.0.0.1", imap_port, USER, PASSWORD)
            rig = CrashRig(home, tg, smtp, imap, seed=seed, customers=max(20, args.replies),
                           in_doubt=args.in_doubt)  # fmt: skip
            try:
                await rig.open()
                for n in range(1, args.trials + 1):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise Aborted(f"time budget spent after {n - 1} trials")
                    took = await rig.trial(args.messages, args.replies,
                                           kill_within=args.kill_within,
                                           timeout=min(left, args.stuck))  # fmt: skip
                    kills = ", ".join(f"{k.during} at {k.at:.2f} s" for k in rig.kills
                                      if k.trial == n)  # fmt: skip
                    print(f"  trial {n}/{args.trials}: killed {kills}; recovered in "
                          f"{took:.2f} s", file=sys.stderr, flush=True)  # fmt: skip
                verdict = await rig.finish()
            except (Aborted, AssertionError) as e:
                note = str(e).splitlines()[0]
                print(str(e), file=sys.stderr)
                verdict = rig.verdict()
            finally:
                await rig.close()
    finally:
        smtp.close()
        stop_pymap(pymap)
    report(info, args, rig, verdict, note)
    if note:
        return 2
    return 0 if verdict.ok else 1


def report(info, args, rig, verdict, note: str) -> None:
    recoveries = rig.recoveries
    again = sum(k.during == "recovery" for k in rig.kills)
    print(f"# kill -9 crash trials, {info['date']}")
    print(f"machine: {info['nproc']} cores, {info['cpu']}; Python {info['python']}, "
          f"SQLite {info['sqlite']}")  # fmt: skip
    print(f"{len(recoveries)} of {args.trials} trials of {args.messages} customer messages + "
          f"{args.replies} replies, each killed within {args.kill_within:g} s of the burst's "
          f"start; {len(rig.kills)} kills ({again} while recovering); seed {rig.seed}; "
          f"relay.in_doubt = \"{args.in_doubt}\"")  # fmt: skip
    print()
    print("| outcome | count |")
    print("|---|---|")
    rows = [
        ("customer messages (all trials)", verdict.messages),
        ("replies (all trials)", verdict.replies),
        ("lost customer messages", len(verdict.lost_messages)),
        ("lost replies", len(verdict.lost_replies)),
        ("lost team notices", len(verdict.lost_notices)),
        ("mailed under two Message-IDs", len(verdict.split_ids)),
        ("raw email copies, same Message-ID (at a kill)", verdict.mail_copies),
        ("replies sent twice (at a kill)", verdict.reply_copies),
        ("replies in doubt, author told (notify)", verdict.in_doubt),
        ("  of which had arrived", verdict.in_doubt_arrived),
        ("copies no kill explains", len(verdict.unexplained)),
        ("foreign emails", verdict.foreign),
    ]
    for what, count in rows:
        print(f"| {what} | {count} |")
    if recoveries:
        cells = " / ".join(f"{percentile(recoveries, p):.2f}" for p in (50, 90, 100))
        print(f"\nrecovery after kill -9 (restart -> backlog drained), median / p90 / max: "
              f"{cells} s (n = {len(recoveries)})")  # fmt: skip
    if not verdict.ok:
        print("\n" + verdict.summary())
    print(f"\nverdict: {'PASS' if verdict.ok and not note else 'FAIL'}")
    if note:
        print(f"stopped early: {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--messages", type=int, default=200, help="customer messages per burst")
    parser.add_argument("--replies", type=int, default=50, help="manager replies per burst")
    parser.add_argument(
        "--kill-within", type=float, default=3.0, help="the kill comes this soon after a burst"
    )
    parser.add_argument("--in-doubt", choices=("resend", "notify"), default="resend",
                        help="the relay's relay.in_doubt")  # fmt: skip
    parser.add_argument("--seed", type=int, default=None, help="replay these trials")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds for it all")
    parser.add_argument(
        "--stuck", type=float, default=120.0, help="seconds a trial may take to drain"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary home")
    args = parser.parse_args()
    if args.trials < 1 or args.messages < 0 or args.replies < 0 or args.kill_within <= 0:
        parser.error("--trials >= 1, --messages/--replies >= 0, --kill-within > 0")
    sys.exit(run_in_temp_dir(bench, args, "im2mail-crash-bench-"))


if __name__ == "__main__":
    main()
