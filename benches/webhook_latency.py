"""Webhook callback -> email latency of `im2mail run`, Viber and Telegram side by side.

    python benches/webhook_latency.py [--messages 1000] [--customers 5] [--timeout 600]

In this process: the Viber API double and the Telegram Bot API double (im2mail/testing/),
and the SMTP test server with a timestamp per mail (benches/relay.py); a real `im2mail run`
subprocess with a Viber bot and a Telegram bot in webhook mode, so both platforms call the
relay's HTTP server. Nothing leaves 127.0.0.1.

--messages texts per channel, one at a time, the channels taking turns (so both see the
same machine at the same moments), each sent only once the previous one was mailed.
Measured from just before the double POSTs the signed callback (the relay verifies it,
parses it, archives the message and answers 200) to the moment the SMTP server has the
whole mail (end of DATA, recorded in the server's thread). One warm-up message per
customer (first contact: customer and conversation created, the greeting off) is not
counted. Target (issue #7): Viber p99 <= 0.2 s, as for Telegram (issue #4).
"""

from __future__ import annotations

import argparse
import secrets
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
    timed_smtp_server,
)

TARGET_P99 = 0.2


async def one(push, smtp, deadline: float, relay, what: str) -> float:
    """Seconds from the callback to the mail for one message."""
    before = len(smtp.messages)
    t0 = time.perf_counter()
    await push()
    await smtp.messages.wait_for(before + 1, deadline, what, lambda: relay.proc.poll() is None)
    return smtp.messages.at[before] - t0


async def bench(args: argparse.Namespace, root: Path) -> int:
    from im2mail.testing.telegram_api import TelegramDouble
    from im2mail.testing.viber_api import ViberDouble
    from tests.e2e.relay_rig import RelayProcess, write_home

    deadline = time.monotonic() + args.timeout
    home = isolate(root)
    info = machine()
    smtp = timed_smtp_server()
    latencies: dict[str, list[float]] = {"viber": [], "telegram": []}
    note = ""
    try:
        async with TelegramDouble() as tg, ViberDouble() as vb:
            tg_token = tg.add_bot("shop_bot", "Shop")
            vb_token = vb.add_bot("Друкарня", "drukarnia")
            # Five customers writing a message every ~0.1 s each: with flood digests on,
            # they would be a flood (benches/flood.py); here, one email per message.
            port = write_home(home, api_url=tg.url, token=tg_token, smtp_port=smtp.port,
                              mode="webhook", greeting=None, viber=(vb.url, vb_token),
                              extra_relay="flood_per_minute = 0\n")  # fmt: skip
            relay = RelayProcess(home, port)
            try:
                await relay.wait_healthy()
                tg_users = [tg.customer(f"Латенція{i}", "Бенч") for i in range(args.customers)]
                vb_users = [vb.customer(f"Латенція{i} Бенч") for i in range(args.customers)]
                total = args.customers + args.messages
                for i in range(total):
                    text = f"Потрібно {i + 1} візиток {secrets.token_hex(3)}"

                    async def viber_push(u=vb_users[i % args.customers], t=text):
                        delivery = await vb.push_text(vb_token, u, t)
                        if delivery.status != 200:
                            raise Aborted(f"viber callback answered {delivery.status}")

                    async def telegram_push(u=tg_users[i % args.customers], t=text):
                        await tg.push_text(tg_token, u, t)

                    for name, push in (("viber", viber_push), ("telegram", telegram_push)):
                        took = await one(push, smtp, deadline, relay, f"{name} {i + 1}")
                        if i >= args.customers:
                            latencies[name].append(took)
                    if i % 200 == 0:
                        print(f"  {i}/{total}", file=sys.stderr, flush=True)
            except Aborted as e:
                note = str(e)
            finally:
                await relay.terminate()
                relay.kill()
    finally:
        smtp.close()
    report(info, args, latencies, note)
    return 2 if note else 0


def report(info, args, latencies: dict[str, list[float]], note: str) -> None:
    print(f"# webhook -> email latency, {info['date']}")
    print(f"machine: {info['nproc']} cores, {info['cpu']}; Python {info['python']}, "
          f"SQLite {info['sqlite']}")  # fmt: skip
    print(f"{args.messages} messages per channel from {args.customers} customers, turns taken")
    print()
    print("| channel | n | p50 ms | p95 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|")
    for name, values in latencies.items():
        cells = [percentile(values, p) * 1000 for p in (50, 95, 99, 100)]
        print(f"| {name} | {len(values)} | " + " | ".join(f"{c:.1f}" for c in cells) + " |")
    viber, telegram = latencies["viber"], latencies["telegram"]
    if viber and telegram:
        ratio = percentile(viber, 99) / percentile(telegram, 99)
        met = "met" if percentile(viber, 99) <= TARGET_P99 else "MISSED"
        print(f"\nViber p99 / Telegram p99 = {ratio:.2f}; target p99 <= "
              f"{TARGET_P99 * 1000:.0f} ms: {met}")  # fmt: skip
    if note:
        print(f"\nstopped early: {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000, help="per channel")
    parser.add_argument("--customers", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary home")
    args = parser.parse_args()
    if args.customers < 1 or args.messages < 1:
        parser.error("--messages and --customers must be >= 1")
    sys.exit(run_in_temp_dir(bench, args, "im2mail-webhook-bench-"))


if __name__ == "__main__":
    main()
