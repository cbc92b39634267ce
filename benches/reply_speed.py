"""How long extracting one reply takes: im2mail beside the three open parsers, per mail of
each half of the corpus, and im2mail on a 1 MB HTML reply (issue 19's performance goal:
p99 <= 5 ms a mail on the corpus, <= 200 ms for 1 MB).

    python benches/reply_speed.py [--rounds 5] [--big-mb 1]

Every contender runs on the same cases in the same rounds, taking turns case by case, so
all see the same machine noise; the time of one call is its best of the rounds (the
machine's noise is not the parser's). The open parsers get the decoded text, as in
benches/reply_parsers.py (which also says how well each one does); im2mail gets the
parsed message, as the relay gives it.
"""

from __future__ import annotations

import argparse
import contextlib
import email
import platform
import statistics
import sys
import time
from email import policy
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for path in (str(REPO), str(HERE)):
    if path not in sys.path:
        sys.path.insert(0, path)

from reply_parsers import contenders, load_case  # noqa: E402

from im2mail.mail.replies import extract  # noqa: E402

HALVES = ("dev", "heldout")


def big_html_reply(megabytes: float) -> email.message.EmailMessage:
    """A Gmail-shaped HTML reply: a short answer over a long quoted history, as a reply
    deep into a busy conversation would be."""
    answer = '<div dir="ltr">Так, 1000 візиток до п\'ятниці, 1450 грн.</div><br>'
    turn = (
        "<div>Доброго дня! Скільки коштуватиме друк тисячі візиток на щільному папері, "
        "двосторонній, з ламінуванням? <b>Потрібно до п'ятниці.</b></div>"
        "<div><br></div><table><tr><td>Олена Петренко</td><td>Telegram</td></tr></table>"
    )
    history = turn * max(1, int(megabytes * 1024 * 1024 / len(turn.encode())))
    html = (
        f'<html><body>{answer}<div class="gmail_quote"><div class="gmail_attr">'
        "пн, 23 лист. 2026 р. о 13:40 Олена Петренко via Telegram &lt;orders@shop.example&gt;"
        f' пише:<br></div><blockquote class="gmail_quote">{history}</blockquote></div>'
        "</body></html>"
    )
    raw = (
        "From: anna@shop.example\r\nTo: orders+tok42@shop.example\r\nSubject: Re: x\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n" + html
    )
    return email.message_from_bytes(raw.encode(), policy=policy.default)  # type: ignore[return-value]


def relay_overhead(rounds: int) -> str:
    """What the relay does for each reply besides extract: rebuild the emails it answers
    (Mailer.sent_texts, here 5 customer messages) and learn the manager's signature from
    their last replies (threads.recent_replies + signatures.learn), on a temporary archive
    of 20 000 messages."""
    import tempfile

    from im2mail.archive import Archive, threads
    from im2mail.mail.builder import MailSettings
    from im2mail.mail.reply.signatures import learn
    from im2mail.model import Message, OutboxItem
    from im2mail.relay.mailer import LinkSettings, Mailer
    from tests.support.chats import T0, customer

    with tempfile.TemporaryDirectory() as folder:
        archive = Archive.open(Path(folder) / "archive.db")
        conv = customer(archive)
        ids = []
        for n in range(10_000):
            mid = f"<q{n}@shop.example>"
            question = f"Питання номер {n}: скільки коштує друк?"
            asked = Message(conv.id, "in", "Олена", question, T0, email_message_id=mid)
            archive.add_message(asked, outbox=[OutboxItem("mail", mid)])
            answer = f"Відповідь {n}.\n\nАнна Коваль\nДрукарня"
            archive.add_message(Message(conv.id, "out", "anna@shop.example", answer, T0))
            ids.append(mid)
        mailer = Mailer(archive, MailSettings("orders@shop.example", ("anna@shop.example",)),
                        LinkSettings(None, "k"))  # fmt: skip
        wanted = ids[-5:][::-1]
        rebuild, signature = [], []
        for _ in range(rounds * 4):
            start = time.perf_counter()
            mailer.sent_texts(conv.id, wanted)
            rebuild.append(time.perf_counter() - start)
            start = time.perf_counter()
            learn(threads.recent_replies(archive, "anna@shop.example"))
            learn(threads.recent_replies(archive, "new@shop.example"))
            signature.append((time.perf_counter() - start) / 2)
        archive.close()
    return (f"relay overhead per reply (20 000 messages): rebuilding the 5 emails it answers "
            f"median {statistics.median(rebuild) * 1000:.2f} ms; learning the signature "
            f"median {statistics.median(signature) * 1000:.2f} ms")  # fmt: skip


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--big-mb", type=float, default=1.0)
    parser.add_argument("--half", action="append", choices=HALVES, help="default: both")
    args = parser.parse_args()
    found, skipped = contenders()
    for line in skipped:
        print(f"skipped {line}")
    print(f"{platform.machine()}, Python {platform.python_version()}, {time.strftime('%F')}, "
          f"best of {args.rounds} rounds per call")  # fmt: skip
    print("| half | parser | mails | p50 ms | p99 ms | max ms |")
    print("|---|---|---:|---:|---:|---:|")
    for half in args.half or HALVES:
        cases = [load_case(p) for p in sorted((REPO / "tests/data/replies" / half).glob("*.eml"))]
        best: dict[str, list[float]] = {c.name: [float("inf")] * len(cases) for c in found}
        for _ in range(args.rounds):
            for i, case in enumerate(cases):
                for contender in found:
                    start = time.perf_counter()
                    # reply_parsers.py counts failures; here only the time counts
                    with contextlib.suppress(Exception):
                        contender.run(case)
                    took = time.perf_counter() - start
                    best[contender.name][i] = min(best[contender.name][i], took)
        for contender in found:
            samples = [t * 1000 for t in best[contender.name]]
            print(f"| {half} | {contender.name} | {len(samples)} | "
                  f"{statistics.median(samples):.2f} | {percentile(samples, 0.99):.2f} | "
                  f"{max(samples):.2f} |")  # fmt: skip
    big = big_html_reply(args.big_mb)
    size = len(big.get_content().encode()) / 1024 / 1024
    times = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        text = extract(big).text
        times.append(time.perf_counter() - start)
    print(f"\n1 HTML reply of {size:.2f} MB (Gmail-shaped, long quoted history): im2mail "
          f"best {min(times) * 1000:.0f} ms, median {statistics.median(times) * 1000:.0f} ms; "
          f"kept {len(text)} characters")  # fmt: skip
    print(relay_overhead(args.rounds))


if __name__ == "__main__":
    main()
