"""Crash trials: `im2mail run` killed with SIGKILL at random moments while customers write
to the bot and managers answer by email, restarted, and every message counted where it
arrives. tests/e2e/test_crash_safety.py runs a short series in the suite and
benches/crash_trials.py the full-size one.

The shop: the Telegram double (customers write there, replies arrive there), the SMTP test
server (customers' messages arrive there as emails), pymap (the shop mailbox that managers'
replies are put in, as their mail client does) and the relay as a subprocess
(relay_rig.py). Every text carries a marker: [c00012] a customer's message, [r00003] a
manager's reply. A trial: a burst of customer messages and replies (shuffled) begins; at a
random moment within `kill_within` seconds the relay is killed (the rest of the burst
arrives while it is down) and started again at once, and sometimes killed once more while
it recovers and started again; the trial ends when the backlog is drained: every customer
message so far mailed and every reply so far sent. Its recovery time runs from the last
start to drained. Randomness comes from random.Random(seed): the same seed gives the same
texts, bursts and kill moments.

What the relay promises (DESIGN.md "Reliability rules"; mail/outbox.py, sender.py), and
what verdict() checks:
- Nothing is lost: every customer message is mailed, every reply reaches the customer, and
  every reply's team notice (to the other manager) is mailed.
- Emails go at least once, always under the Message-ID fixed when the message was
  archived, so a mail client shows copies as one. A copy is only possible for an email the
  killed process had handed to the server without recording it: each of the outbox's
  connections (3) records a send before it sends the next, so at most one per connection,
  three per kill, each among the last six the server accepted before it (the other
  connections' sends can overtake a record that waits for the archive).
- Replies: each send is recorded before the next; a kill between Telegram's answer and
  the record sends that one message again (the Bot API has no idempotency key, so no
  client can do better): only the last message sent before a kill. With
  relay.in_doubt = "notify" (in_doubt="notify" here) that message is not sent again:
  replies go at most once, and a reply in doubt gets a notice to its author instead
  ("may not have reached"), so nothing is lost silently.
- Telegram updates and IMAP mails seen again after a restart (offset not confirmed yet,
  mail not moved yet) are recognized and dropped: any other copy is "unexplained".
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from itertools import pairwise
from pathlib import Path
from typing import Any

from tests.e2e.relay_rig import RelayProcess, write_home
from tests.support.imap_server import ImapServer
from tests.support.mailbox import Mailbox, reply_to

MARK = re.compile(r"\[([cr]\d{5})\]")
MAIL_IN_DOUBT = 3  # emails a kill can leave accepted by the server but not recorded
MAIL_WINDOW = 2 * MAIL_IN_DOUBT  # ... among the last this many the server accepted
SENT_IN_DOUBT = 1  # replies a kill can leave sent to Telegram but not recorded
SETTLE = 3.0  # seconds at most for the servers to finish with a killed process's requests


@dataclass(frozen=True)
class Kill:
    trial: int
    at: float  # seconds after the burst began ("burst") or the process started ("recovery")
    during: str
    mails_before: int  # emails the SMTP server had accepted once the process was gone
    sent_before: int  # messages the Telegram double had sent then


@dataclass
class Verdict:
    messages: int
    replies: int
    kills: int
    lost_messages: list[str] = field(default_factory=list)
    lost_replies: list[str] = field(default_factory=list)
    lost_notices: list[str] = field(default_factory=list)  # reply markers without a notice
    split_ids: list[str] = field(default_factory=list)  # mailed under two Message-IDs
    mail_copies: int = 0  # raw extra copies of emails (customer messages and notices)
    reply_copies: int = 0  # extra sends of replies to Telegram
    in_doubt: int = 0  # replies whose author was told they may not have arrived ("notify")
    in_doubt_arrived: int = 0  # of those, how many Telegram did get
    unexplained: list[str] = field(default_factory=list)  # copies no kill accounts for
    foreign: int = 0  # emails neither a customer message nor a notice about a reply

    @property
    def lost(self) -> int:
        return len(self.lost_messages) + len(self.lost_replies) + len(self.lost_notices)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.split_ids or self.unexplained or self.foreign)

    def summary(self) -> str:
        lines = [
            f"{self.messages} customer messages, {self.replies} replies, {self.kills} kills",
            f"lost: {len(self.lost_messages)} messages {self.lost_messages[:10]}, "
            f"{len(self.lost_replies)} replies {self.lost_replies[:10]}, "
            f"{len(self.lost_notices)} team notices {self.lost_notices[:10]}",
            f"emails under two Message-IDs: {len(self.split_ids)} {self.split_ids[:10]}",
            f"raw copies (at a kill, allowed): {self.mail_copies} emails (same Message-ID), "
            f"{self.reply_copies} replies",
            f"replies in doubt, author told: {self.in_doubt} "
            f"({self.in_doubt_arrived} of them had arrived)",
            f"unexplained copies: {len(self.unexplained)} {self.unexplained[:10]}; "
            f"foreign emails: {self.foreign}",
        ]
        return "\n".join(lines)


@dataclass
class Tally:
    """What arrived, read incrementally; positions index the SMTP server's messages and the
    double's sent messages."""

    mails: dict[str, list[tuple[int, str]]] = field(default_factory=lambda: defaultdict(list))
    notices: dict[str, list[tuple[int, str]]] = field(default_factory=lambda: defaultdict(list))
    in_doubt: dict[str, list[tuple[int, str]]] = field(default_factory=lambda: defaultdict(list))
    sent: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    latest: dict[int, EmailMessage] = field(default_factory=dict)  # customer -> last email
    foreign: int = 0
    mails_read: int = 0
    sent_read: int = 0

    def update(self, messages: Sequence[Any], sent: Sequence[Any], authors: dict[str, int]) -> None:
        """Read what came since the last call (the SMTP server appends in its thread)."""
        mails, sends = len(messages), len(sent)
        for position in range(self.mails_read, mails):
            received = messages[position]
            email, message_id = received.message, received.message_id or ""
            if email["Auto-Submitted"]:  # a notice, in the thread of the reply
                answers = str(email["In-Reply-To"] or "").strip()
                if "may not have reached" in email.get_body(("plain",)).get_content():
                    self.in_doubt[answers].append((position, message_id))
                else:
                    self.notices[answers].append((position, message_id))
                continue
            body = email.get_body(("plain",))
            found = MARK.findall(body.get_content() if body is not None else "")
            if len(found) != 1 or found[0] not in authors:
                self.foreign += 1
                continue
            self.mails[found[0]].append((position, message_id))
            self.latest[authors[found[0]]] = email
        self.mails_read = mails
        for position in range(self.sent_read, sends):
            for marker in MARK.findall(sent[position].text):
                self.sent[marker].append(position)
        self.sent_read = sends


class CrashRig:
    """A shop and its relay, for crash trials. open(), trial()..., finish(), close()."""

    def __init__(
        self,
        home: Path,
        tg: Any,  # im2mail.testing.telegram_api.TelegramDouble, started
        smtp: Any,  # tests.support.smtp_server.SmtpServer, started
        imap: ImapServer,
        *,
        seed: int,
        customers: int = 20,
        recovery_kills: float = 0.25,  # how often a restarted relay is killed again
        in_doubt: str = "resend",  # relay.in_doubt
    ) -> None:
        self.in_doubt = in_doubt
        self.home, self.tg, self.smtp, self.imap = home, tg, smtp, imap
        self.seed, self.rng = seed, random.Random(seed)
        self.customer_count = customers
        self.recovery_kills = recovery_kills
        self.authors: dict[str, int] = {}  # customer marker -> customer id
        self.replies: dict[str, str] = {}  # reply marker -> the reply's Message-ID
        self.kills: list[Kill] = []
        self.recoveries: list[float] = []
        self.tally = Tally()
        self.relay: RelayProcess | None = None
        self.mailbox: Mailbox | None = None

    async def open(self, timeout: float = 60) -> None:
        """Configure the shop, start the relay, and let every customer write once (their
        emails are what managers reply to)."""
        self.token = self.tg.add_bot("shop_bot", "Shop")
        self.port = write_home(self.home, api_url=self.tg.url, token=self.token,
                               smtp_port=self.smtp.port, imap=self.imap, greeting=None,
                               extra_relay=f'in_doubt = "{self.in_doubt}"\n'
                                           # bursts far above a person's pace, where every
                                           # message must arrive as its own email
                                           "flood_per_minute = 0\n")  # fmt: skip
        self.mailbox = await asyncio.to_thread(Mailbox, self.imap)
        self.customers = [
            self.tg.customer(f"Клієнт{n}", "Тестовий") for n in range(self.customer_count)
        ]
        self._start()
        assert self.relay is not None
        await self.relay.wait_healthy()
        for customer in self.customers:
            await self._write(customer)
        await self.drained(timeout)

    async def close(self) -> None:
        if self.relay is not None:
            self.relay.kill()
        if self.mailbox is not None:
            await asyncio.to_thread(self.mailbox.close)

    async def trial(
        self, messages: int, replies: int, *, kill_within: float, timeout: float = 60
    ) -> float:
        """One burst, a kill during it, a restart (and maybe a kill while it recovers and
        another restart), and the wait until drained; returns the recovery seconds."""
        number = len(self.recoveries) + 1
        burst = asyncio.create_task(self._burst(messages, replies))
        at = self.rng.uniform(0, kill_within)
        try:
            await asyncio.sleep(at)
            await self._kill(number, at, "burst")
        finally:
            await burst
        self._start()
        if self.rng.random() < self.recovery_kills:
            at = self.rng.uniform(0, kill_within)
            await asyncio.sleep(at)
            await self._kill(number, at, "recovery")
            self._start()
        started = time.monotonic()
        await self.drained(timeout)
        self.recoveries.append(time.monotonic() - started)
        return self.recoveries[-1]

    async def drained(self, timeout: float) -> None:
        """Wait until every customer message so far is mailed and every reply sent."""
        deadline = time.monotonic() + timeout
        while True:
            self._read()
            if self._all_arrived():
                return
            assert self.relay is not None
            if self.relay.proc.poll() is not None:
                raise AssertionError(
                    f"the relay exited with {self.relay.proc.returncode} (seed {self.seed}):\n"
                    + self.relay.log[-3000:]
                )
            if time.monotonic() > deadline:
                raise AssertionError(self._stuck(timeout))
            await asyncio.sleep(0.05)

    async def finish(self, quiet: float = 1.0, timeout: float = 30) -> Verdict:
        """Wait for the team notices of all replies, then `quiet` seconds for anything
        that should not come, and count."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._read()
            if all(mid in self.tally.notices for mid in self.replies.values()):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(quiet)
        self._read()
        return self.verdict()

    def verdict(self) -> Verdict:
        tally = self.tally
        v = Verdict(len(self.authors), len(self.replies), len(self.kills), foreign=tally.foreign)
        mail_bounds = [k.mails_before for k in self.kills]
        sent_bounds = [k.sent_before for k in self.kills]
        mail_budget: Counter[int] = Counter()
        sent_budget: Counter[int] = Counter()
        v.foreign += len(set(tally.notices) - set(self.replies.values()))
        v.foreign += len(set(tally.in_doubt) - set(self.replies.values()))
        v.lost_messages = [m for m in self.authors if m not in tally.mails]
        told = {r for r, mid in self.replies.items() if mid in tally.in_doubt}
        v.lost_replies = [r for r in self.replies if r not in tally.sent and r not in told]
        v.in_doubt = len(told)
        v.in_doubt_arrived = len(told & set(tally.sent))
        if self.in_doubt == "resend" and told:
            v.unexplained.append(f"in-doubt notices while resending: {sorted(told)[:10]}")
        copies_by_name = dict(tally.mails)
        for marker, message_id in self.replies.items():
            notices = tally.notices.get(message_id)
            if notices:
                copies_by_name[f"notice of {marker}"] = notices
            else:
                v.lost_notices.append(marker)
            if marker in told:
                copies_by_name[f"in-doubt notice of {marker}"] = tally.in_doubt[message_id]
        for name, copies in copies_by_name.items():
            if len({message_id for _, message_id in copies}) > 1:
                v.split_ids.append(name)
            v.mail_copies += len(copies) - 1
            positions = [p for p, _ in copies]
            if not _explained(positions, mail_bounds, MAIL_IN_DOUBT, mail_budget, MAIL_WINDOW):
                v.unexplained.append(f"{name} mailed at {positions}")
        for marker, positions in tally.sent.items():
            v.reply_copies += len(positions) - 1
            if self.in_doubt == "notify" and len(positions) > 1:
                v.unexplained.append(f"{marker} sent at {positions}, at most once promised")
            elif not _explained(positions, sent_bounds, SENT_IN_DOUBT, sent_budget):
                v.unexplained.append(f"{marker} sent at {positions}")
        return v

    def story(self) -> str:
        """The seed and the kills, for a report or a failed test."""
        kills = ", ".join(f"{k.trial}:{k.during}@{k.at:.2f}s" for k in self.kills)
        return f"seed {self.seed}; kills (trial:when@seconds): {kills}"

    # -- the parts -----------------------------------------------------------------------------

    def _start(self) -> None:
        self.relay = RelayProcess(self.home, self.port)  # its log: home/relay-*.log

    async def _kill(self, trial: int, at: float, during: str) -> None:
        """SIGKILL, then let the servers finish with what the process had already sent."""
        assert self.relay is not None
        self.relay.kill()
        deadline = time.monotonic() + SETTLE
        await asyncio.sleep(0.2)  # requests in the double's socket buffers get handled
        while time.monotonic() < deadline and (self.smtp.connections or self._tg_busy()):
            await asyncio.sleep(0.02)
        self.kills.append(
            Kill(trial, at, during, len(self.smtp.messages), len(self.tg.sent_messages()))
        )

    def _tg_busy(self) -> bool:
        """A request of the killed process the double is still answering (a long poll
        waits by design and does not count)."""
        return any(c.status == 0 and c.method.lower() != "getupdates" for c in self.tg.log)

    async def _burst(self, messages: int, replies: int) -> None:
        kinds = ["message"] * messages + ["reply"] * replies
        self.rng.shuffle(kinds)
        # Replies go to different customers where possible: a chat gets at most one
        # message a second (Telegram's pace), which would make the burst a queue.
        answerable = [c for c in self.customers if c.id in self.tally.latest]
        targets = self.rng.sample(answerable, min(replies, len(answerable)))
        for kind in kinds:
            if kind == "message":
                await self._write(self.rng.choice(self.customers))
            else:
                await self._answer(targets.pop() if targets else self.rng.choice(answerable))

    async def _write(self, customer: Any) -> None:
        marker = f"c{len(self.authors):05d}"
        self.authors[marker] = customer.id
        words = self.rng.choice(["візитки", "банер 3x1", "флаєри А5", "наліпки"])
        await self.tg.push_text(self.token, customer, f"Замовлення [{marker}]: {words}")

    async def _answer(self, customer: Any) -> None:
        marker = f"r{len(self.replies):05d}"
        email = reply_to(self.tally.latest[customer.id], f"Готово [{marker}], забирайте")
        self.replies[marker] = str(email["Message-ID"]).strip()
        assert self.mailbox is not None
        await asyncio.to_thread(self.mailbox.put, email)

    def _read(self) -> None:
        self.tally.update(self.smtp.messages, self.tg.sent_messages(), self.authors)

    def _all_arrived(self) -> bool:
        """Every customer message so far mailed, every reply so far sent (the tally only
        holds markers of ours)."""
        tally = self.tally
        accounted = {
            r for r, mid in self.replies.items() if r in tally.sent or mid in tally.in_doubt
        }
        return len(tally.mails) == len(self.authors) and len(accounted) == len(self.replies)

    def _stuck(self, timeout: float) -> str:
        unmailed = [m for m in self.authors if m not in self.tally.mails]
        unsent = [r for r in self.replies if r not in self.tally.sent]
        log = self.relay.log[-4000:] if self.relay is not None else ""
        return (
            f"not drained within {timeout:g} s: {len(unmailed)} messages not mailed "
            f"{unmailed[:10]}, {len(unsent)} replies not sent {unsent[:10]}\n"
            f"{self.story()}\nthe relay's log, last lines:\n{log}"
        )


def _explained(
    positions: list[int], bounds: list[int], in_doubt: int, used: Counter[int], window: int = 0
) -> bool:
    """Whether every copy after the first is accounted for by a kill: the copy before it
    was among the last `window` (default `in_doubt`) accepted before that kill, the copy
    after it came after the kill, and no kill accounts for more than `in_doubt` copies."""
    window = window or in_doubt
    for before, after in pairwise(positions):
        kill = next(
            (k for k, bound in enumerate(bounds)
             if bound - window <= before < bound <= after and used[k] < in_doubt),
            None,
        )  # fmt: skip
        if kill is None:
            return False
        used[kill] += 1
    return True
