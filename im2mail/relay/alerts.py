"""The relay's own schedule: reminders about customers waiting too long, and the digest.

Every `interval` seconds (a minute, less when alerts.unanswered_after is shorter) Alerts
looks at who is waiting (stats.waiting_now) and queues, through the mail outbox like every
email, one reminder per waiting period that has lasted `unanswered_after` of business time
(hours.py; a reply whose delivery is queued counts as an answer). Once a day, from
`digest_at` (local time in the [hours] zone, else the machine's), it queues the digest
of the day before to `digest_to`; a relay started later that day sends it then.

Exactly once, across crashes and restarts: each reminder and digest is recorded in the
archive's `seen` table (`reminder:<conversation>:<message that started the wait>`,
`digest:<day reported>`) in the same transaction as its outbox row, whose Message-ID is
fixed then. An outbox row belongs to a message: a reminder to the customer's message
that started the wait; a digest to the newest customer message (it needs one, and a
customer's message gains nothing from it: its own email has been sent).

No flood after an upgrade or a long stop: a wait is reminded about only while its
business time is between unanswered_after and a day more, and only when the managers
were emailed about it (history imported from before im2mail has no thread to remind in).

The emails are made when the outbox sends them (mailer.py, with `waiting_since` and
`day_report` for what they say; mail/builder.py writes them).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from ..archive import Archive, stats
from ..archive.alerts import queue_digest, queue_reminder, waiting_messages
from ..archive.db import now
from ..config import Config
from ..config.sections import HoursConfig
from ..errors import redact
from ..hours import BusinessHours
from ..mail.builder import MailSettings
from ..model import Message, OutboxItem
from .periodic import Periodic

log = logging.getLogger("im2mail.alerts")

REMINDER = "reminder"  # outbox kind: to the managers, a customer waits (on the wait's message)
DIGEST = "digest"  # outbox kind: to alerts.digest_to, a day's figures (note: the day)
INTERVAL = 60.0  # seconds between looks
LOOK_BACK = timedelta(days=31)  # waits that started earlier are not looked at
GRACE = timedelta(days=1)  # business time past unanswered_after during which a reminder goes


@dataclass(frozen=True)
class AlertSettings:
    mail: MailSettings  # from mail.address, to mail.managers
    unanswered_after: timedelta | None = timedelta(minutes=15)  # None: no reminders
    digest_to: tuple[str, ...] = ()  # empty: no digest
    digest_at: time = time(8, 0)
    hours: HoursConfig | None = None

    @classmethod
    def from_config(cls, cfg: Config, mail: MailSettings) -> AlertSettings:
        a = cfg.alerts
        return cls(mail, a.unanswered_after, a.digest_to, a.digest_at, cfg.hours)

    @property
    def interval(self) -> float:
        """A minute, or a quarter of a shorter unanswered_after (at least a second)."""
        after = self.unanswered_after
        return INTERVAL if after is None else max(1.0, min(INTERVAL, after.total_seconds() / 4))


class Alerts(Periodic):
    """Queues reminders and digests. Lifecycle: start() ... stop(). `mail_queued` wakes the
    mail outbox; `clock` gives the time (tests)."""

    task_name = "im2mail-alerts"

    def __init__(
        self,
        archive: Archive,
        settings: AlertSettings,
        mail_queued: Callable[[], None] = lambda: None,
        *,
        clock: Callable[[], datetime] = now,
        interval: float | None = None,
    ) -> None:
        self.archive = archive
        self.settings = settings
        self.hours = BusinessHours(settings.hours)
        self.mail_queued = mail_queued
        self.clock = clock
        self.interval = interval or settings.interval
        super().__init__()

    @property
    def enabled(self) -> bool:
        return self.settings.unanswered_after is not None or bool(self.settings.digest_to)

    async def _round(self) -> float:
        try:
            if await asyncio.to_thread(self.check, self.clock()):
                self.mail_queued()
        except Exception as e:  # a locked archive: next time. Never a crash loop.
            log.error("alerts: %s; looking again in %.0f s", redact(str(e)), self.interval)
        return self.interval

    def check(self, at: datetime) -> int:
        """Queue what is due at `at`; how many emails were queued."""
        return self.remind(at) + self.digest(at)

    # -- reminders ---------------------------------------------------------------------------

    def remind(self, at: datetime) -> int:
        after = self.settings.unanswered_after
        if after is None:
            return 0
        waits = stats.waiting_now(self.archive, self.hours, at, since=at - LOOK_BACK)
        low, high = after.total_seconds(), (after + GRACE).total_seconds()
        queued = 0
        for w in waits:
            if low <= w.business <= high and self._queue_reminder(w):
                queued += 1
                log.info("reminder queued: %s has waited %.0f min in conversation %d",
                         w.customer, w.waited / 60, w.conversation)  # fmt: skip
        return queued

    def _queue_reminder(self, w: stats.Waiting) -> bool:
        key = f"reminder:{w.conversation}:{w.message}"
        item = OutboxItem("mail", email_message_id=self.settings.mail.new_message_id(),
                          kind=REMINDER)  # fmt: skip
        return queue_reminder(self.archive, w.message, key, item)

    # -- the digest ---------------------------------------------------------------------------

    def digest(self, at: datetime) -> int:
        """The digest of the day before `at`'s local date, once, from digest_at on."""
        if not self.settings.digest_to:
            return 0
        local = at.astimezone(self.hours.zone)
        if local.time() < self.settings.digest_at:
            return 0
        day = local.date() - timedelta(days=1)
        key = f"digest:{day.isoformat()}"
        item = OutboxItem("mail", kind=DIGEST, note=day.isoformat())
        if not queue_digest(self.archive, key, item):
            return 0  # sent before, or an archive with no message: nothing to tell
        log.info("digest of %s queued for %s", day, ", ".join(self.settings.digest_to))
        return 1


def day_span(day: date, hours: BusinessHours) -> tuple[datetime, datetime]:
    """[start, end) of a local calendar day in the zone, in UTC (23 or 25 hours at DST)."""
    zone = hours.zone
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def waiting_since(archive: Archive, first: Message) -> list[Message]:
    """What the customer has written in the conversation since `first` (the message that
    started the wait), oldest first: what a reminder quotes."""
    return waiting_messages(archive, first.conversation_id, first.created)


def day_report(
    archive: Archive, hours: BusinessHours, day: date, at: datetime, managers: tuple[str, ...]
) -> stats.Report:
    """The figures of the local calendar `day` and who is waiting `at`: what a digest says."""
    since, until = day_span(day, hours)
    return stats.report(archive, hours, since, until, at, managers)
