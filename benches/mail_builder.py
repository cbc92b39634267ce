"""Building one email: the email package's path (before issue 18) against mail/builder.py,
side by side in one process.

    python benches/mail_builder.py [--rounds 7] [--seconds 0.3] [--base COMMIT]

The old path is the mail modules as they were at --base (compose.py, notices.py,
reminders.py, abuse.py, html_body.py, read from git into a temporary package): an
EmailMessage built with policy.SMTP, then serialized as the outbox did
(mail/smtp.envelope: `as_bytes`). The new path is MailBuilder, whose result is already
the bytes. Both get the same inputs; each case is first checked to give the same email
(the headers and the text and HTML as a mail client decodes them), then each path is
timed in --rounds alternating rounds of at least --seconds each; the medians are printed,
with the ratio old/new. "a new conversation each" builds for a customer never seen
before every time, so nothing the new path remembers per header value helps it (the
others repeat one conversation, as a burst from one customer does). Nothing here touches
the network or an archive.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from im2mail.archive.stats import Figures, Report, Waiting  # noqa: E402
from im2mail.mail.builder import MailBuilder, MailSettings, new_message_id  # noqa: E402
from im2mail.mail.compose import FilePart  # noqa: E402
from im2mail.mail.smtp import envelope  # noqa: E402
from im2mail.model import Attachment, Conversation, Customer, Message  # noqa: E402

BASE = "7bea27a3b879554bbedee4a12be1175a3bc5644c"  # i18 before the one email pipeline
OLD_MODULES = ("compose", "notices", "reminders", "abuse", "html_body")
TITLES = {"telegram": "Telegram", "viber": "Viber", "messenger": "Messenger",
          "whatsapp": "WhatsApp"}  # fmt: skip
WINDOWS = {"messenger": timedelta(hours=24), "whatsapp": timedelta(hours=24)}
MAILBOX = "orders@shop.example"
MANAGERS = ("anna@shop.example", "petro@shop.example")
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
COMPARED = ("From", "To", "Subject", "Reply-To", "Date", "Message-ID", "In-Reply-To",
            "References", "Thread-Topic", "Thread-Index", "X-Im2mail-Conversation",
            "Auto-Submitted")  # fmt: skip


def old_package(base: str) -> None:
    """The old mail modules as a package of their own (`old_mail`), importing the rest of
    im2mail as it is now."""
    root = Path(tempfile.mkdtemp(prefix="im2mail-old-mail-"))
    package = root / "old_mail"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    for name in OLD_MODULES:
        source = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{base}:im2mail/mail/{name}.py"],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        source = source.replace("from ..", "from im2mail.")
        (package / f"{name}.py").write_text(source, encoding="utf-8")
    import im2mail.model as model

    # the channels' titles moved out of model.py (issue 18): give the old code its copy
    for name, value in (("CHANNEL_TITLES", TITLES), ("REPLY_WINDOWS", WINDOWS)):
        if not hasattr(model, name):
            setattr(model, name, value)
    sys.path.insert(0, str(root))
    importlib.import_module("old_mail")


# -- the cases -------------------------------------------------------------------------------


def cases() -> dict[str, tuple[Callable[[], EmailMessage], Callable[[], bytes]]]:
    """name -> (old build, new build) of the same email."""
    compose = importlib.import_module("old_mail.compose")
    notices = importlib.import_module("old_mail.notices")
    reminders = importlib.import_module("old_mail.reminders")
    abuse = importlib.import_module("old_mail.abuse")
    old_settings = compose.MailSettings(MAILBOX, MANAGERS)
    settings = MailSettings(MAILBOX, MANAGERS, titles=TITLES, reply_windows=WINDOWS)
    new = MailBuilder(settings)

    olena = Customer("telegram", "1001", "Олена", "Петренко", username="olena_print",
                     phone="+380671234567", source="instagram")  # fmt: skip
    conv = Conversation(42, olena, "shop", "k3x9a0b1c2d3", created=T0)
    history = []
    for n in range(10):
        direction = "in" if n % 2 == 0 else "out"
        author = "Олена Петренко" if direction == "in" else "anna@shop.example"
        history.append(Message(42, direction, author, f"повідомлення {n}",
                               T0 + timedelta(minutes=n),
                               email_message_id=new_message_id(MAILBOX)))  # fmt: skip
    text = Message(42, "in", "Олена Петренко", "Добрий день! Скільки коштують 200 візиток "
                   "на щільному папері, двосторонні? Потрібно до п'ятниці.",
                   T0 + timedelta(minutes=12))  # fmt: skip
    card = (REPO / "im2mail" / "testing" / "card.jpg").read_bytes()
    album = [Message(42, "in", "Олена Петренко", "Ось макети" if n == 0 else "",
                     T0 + timedelta(minutes=12), kind="photo") for n in range(3)]  # fmt: skip
    pictures = [FilePart(f"макет_{n}.jpg", "image/jpeg", len(card), card) for n in range(3)]
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 800  # 200 KB
    document = [FilePart("рахунок_ORD-2026-1231.pdf", "application/pdf", len(pdf), pdf)]
    reply = Message(42, "out", "anna@shop.example", "Добрий день, Олено! 450 грн, готові завтра.",
                    T0 + timedelta(minutes=13), email_message_id="<r1@mail.gmail.com>",
                    attachments=(Attachment("прайс.pdf", "application/pdf", 90_000),))  # fmt: skip
    at = T0 + timedelta(minutes=14)
    flood = [Message(42, "in", "Олена Петренко", f"Повідомлення {n}\nдругий рядок",
                     T0 + timedelta(seconds=n)) for n in range(60)]  # fmt: skip
    report = Report(
        T0, T0 + timedelta(days=1), at, 120,
        managers=tuple(Figures("manager", m, 12, 30, 25, 600.0, 1800.0) for m in MANAGERS),
        channels=(Figures("channel", "telegram", 20, 40, 35, 500.0, 1500.0),),
        unanswered=tuple(Waiting(n, "telegram", "shop", f"Клієнт {n}", None, None, T0, n,
                                 900.0, 900.0) for n in range(5)),
    )  # fmt: skip

    def mid() -> str:
        return new_message_id(MAILBOX)

    def stranger(n: int) -> Conversation:
        """A conversation none before had: nothing about it is remembered yet."""
        who = Customer("telegram", str(n), "Олена", f"Петренко-Коваленко {n}")
        return Conversation(1000 + n, who, "shop", f"t{n:011d}", created=T0)

    old_n, new_n = itertools.count(), itertools.count()  # the same conversations, in turn

    common_old = {"settings": old_settings}
    return {
        "customer text, 10 in thread": (
            lambda: compose.compose([text], conv, message_id=mid(), history=history,
                                    **common_old),
            lambda: new.message([text], conv, message_id=mid(), history=history).data,
        ),
        "first customer text": (
            lambda: compose.compose([text], conv, message_id=mid(), **common_old),
            lambda: new.message([text], conv, message_id=mid()).data,
        ),
        "customer text, a new conversation each": (
            lambda: compose.compose([text], stranger(next(old_n)), message_id=mid(),
                                    history=history, **common_old),
            lambda: new.message([text], stranger(next(new_n)), message_id=mid(),
                                history=history).data,
        ),
        "album of 3 pictures (4.5 KB)": (
            lambda: compose.compose(album, conv, message_id=mid(), history=history,
                                    files=pictures, **common_old),
            lambda: new.message(album, conv, message_id=mid(), history=history,
                                files=pictures).data,
        ),
        "document (200 KB PDF)": (
            lambda: compose.compose([text], conv, message_id=mid(), history=history,
                                    files=document, **common_old),
            lambda: new.message([text], conv, message_id=mid(), history=history,
                                files=document).data,
        ),
        "team notice": (
            lambda: notices.compose_team_notice(
                reply, conv, to=["petro@shop.example"], author_name="Anna Koval",
                message_id=mid(), date=at, history=history, **common_old),
            lambda: new.team_notice(reply, conv, to=["petro@shop.example"],
                                    author_name="Anna Koval", message_id=mid(), date=at,
                                    history=history).data,
        ),
        "reminder": (
            lambda: reminders.compose_reminder(
                conv, [text], waited=timedelta(minutes=20), business=None, message_id=mid(),
                date=at, history=history, **common_old),
            lambda: new.reminder(conv, [text], waited=timedelta(minutes=20), business=None,
                                 message_id=mid(), date=at, history=history).data,
        ),
        "flood digest (60 messages)": (
            lambda: abuse.compose_flood_digest(
                conv, flood[:30], flood[30:], count=60, files=0, limit=20, message_id=mid(),
                date=at, zone=UTC, history=history, **common_old),
            lambda: new.flood_digest(conv, flood[:30], flood[30:], count=60, files=0,
                                     limit=20, message_id=mid(), date=at, zone=UTC,
                                     history=history).data,
        ),
        "daily digest": (
            lambda: reminders.compose_digest(report, date(2026, 11, 23),
                                             to=["owner@shop.example"], date=at,
                                             zone_label="UTC", **common_old),
            lambda: new.digest(report, date(2026, 11, 23), to=["owner@shop.example"],
                               date=at, zone_label="UTC").data,
        ),
    }  # fmt: skip


# -- checking and timing ------------------------------------------------------------------------


def readable(data: bytes) -> dict[str, object]:
    """What a mail client shows of an email: the headers, decoded, and each part."""
    msg = message_from_bytes(data, policy=policy.default)
    shown: dict[str, object] = {h: header_text(data, h) for h in COMPARED}
    shown["Message-ID"] = None  # a fresh one each build
    shown["References"] = len(str(msg["References"] or "").split())
    shown["In-Reply-To"] = msg["In-Reply-To"] is not None
    shown["Thread-Index"] = len(str(header_text(data, "Thread-Index") or ""))
    shown["parts"] = [
        (p.get_content_type(), p.get_filename(), p.get_content_disposition(),
         _same_cids(p.get_content().replace("\r\n", "\n"))
         if p.get_content_maintype() == "text" else p.get_content())
        for p in msg.walk() if not p.is_multipart()
    ]  # fmt: skip
    shown["structure"] = [p.get_content_type() for p in msg.walk()]
    return shown


def header_text(data: bytes, name: str) -> str | None:
    """A header as RFC 2047 reads it, unfolded (the email package's newer parser puts a
    space into a display name between two encoded words: it can't compare them)."""
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    found = re.search(rf"^{name}: (.*?)\r\n(?![ \t])", head + "\r\n", re.M | re.S | re.I)
    if found is None:
        return None
    return str(make_header(decode_header(found[1].replace("\r\n", ""))))


def _same_cids(text: str) -> str:
    """Content-IDs are made from the Message-ID, a fresh one each build."""
    return re.sub(r"cid:part(\d+)\.[0-9a-f]{12}@", r"cid:part\1@", text)


def per_call(fn: Callable[[], object], seconds: float) -> float:
    """Seconds per call of fn, over at least `seconds`."""
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        took = time.perf_counter() - start
        if took >= seconds:
            return took / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.3)
    parser.add_argument("--base", default=BASE, help="the commit of the old mail modules")
    args = parser.parse_args()

    old_package(args.base)
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"{datetime.now(UTC):%Y-%m-%d}, old path from {args.base[:10]}")  # fmt: skip
    print("| email | old: build ms | old: serialize ms | old ms | new ms | old/new |")
    print("|---|---:|---:|---:|---:|---:|")
    ratios = []
    for name, (build_old, build_new) in cases().items():
        built = build_old()
        if readable(envelope(built).data) != readable(build_new()):
            sys.exit(f"{name}: the two paths do not give the same email")
        build, serialize, total, fresh = [], [], [], []
        for _ in range(args.rounds):
            build.append(per_call(build_old, args.seconds))
            serialize.append(per_call(lambda msg=built: envelope(msg), args.seconds))
            total.append(per_call(lambda make=build_old: envelope(make()), args.seconds))
            fresh.append(per_call(build_new, args.seconds))
        b, s, t, n = (statistics.median(x) * 1000 for x in (build, serialize, total, fresh))
        ratios.append(t / n)
        print(f"| {name} | {b:.2f} | {s:.2f} | {t:.2f} | {n:.3f} | **{t / n:.0f}×** |")
    print(f"\nsame email from both paths in every case; old/new from {min(ratios):.0f}× "
          f"to {max(ratios):.0f}×")  # fmt: skip


if __name__ == "__main__":
    main()
