"""Business hours: is the shop open at an instant, and how much open time lies between two.

Pure logic over config.HoursConfig. Ranges are wall-clock times in the configured zone and
belong to the day they start on; a range ending at or before its start runs into the next
day. A holiday closes its whole calendar date, including the tail of a range started the
evening before. Instants are converted through the zone for each date, so a range spanning
a DST change counts the hours that really pass (one fewer in spring, one more in autumn).
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import zoneinfo
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from .config.sections import HoursConfig
from .errors import ConfigError

UTC = dt.UTC
Span = tuple[dt.datetime, dt.datetime]  # [start, end) in UTC
_ONE_DAY = timedelta(days=1)
_SLACK_DAYS = 9  # a week with open time reaches one within 8 days of any non-holiday date


def machine_zone() -> zoneinfo.ZoneInfo:
    """The zone this machine runs in (TZ, else /etc/localtime), UTC when neither is readable."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            pass
    try:
        with Path("/etc/localtime").open("rb") as f:
            return zoneinfo.ZoneInfo.from_file(f, key="localtime")
    except (OSError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


class BusinessHours:
    """Answers questions about open time; config None means always open."""

    def __init__(self, config: HoursConfig | None) -> None:
        self.config = config
        self._zone = zoneinfo.ZoneInfo(config.zone) if config else machine_zone()
        self._spans_on = functools.lru_cache(maxsize=4096)(self._compute_spans)
        holidays = config.holidays if config else ()
        self._first_holiday = min((a for a, _ in holidays), default=None)
        self._last_holiday = max((b for _, b in holidays), default=None)

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return self._zone

    @property
    def always_open(self) -> bool:
        return self.config is None

    # -- questions ---------------------------------------------------------------------------

    def is_open(self, at: dt.datetime) -> bool:
        if self.config is None:
            return True
        day = self._local_date(at)
        return any(a <= at < b for d in (day - _ONE_DAY, day) for a, b in self._spans_on(d))

    def open_seconds(self, start: dt.datetime, end: dt.datetime) -> float:
        """Business time between two instants, in seconds; 0 when end <= start."""
        if end <= start:
            return 0.0
        if self.config is None:
            return (end - start).total_seconds()
        first, last = self._local_date(start) - _ONE_DAY, self._local_date(end)
        spans = [s for d in _dates(first, last) for s in self._spans_on(d)]
        total = 0.0
        for a, b in _merged(spans):
            a, b = max(a, start), min(b, end)
            if b > a:
                total += (b - a).total_seconds()
        return total

    def next_open(self, at: dt.datetime) -> dt.datetime:
        """`at` itself when open, else the instant the next open range starts."""
        if self.is_open(at):
            return at
        day = self._local_date(at)
        last = max(day, self._last_holiday or day) + timedelta(days=_SLACK_DAYS)
        for d in _dates(day - _ONE_DAY, last):
            starts = [a for a, _ in self._spans_on(d) if a > at]
            if starts:
                return min(starts)
        raise self._no_open_time()

    def closed_since(self, at: dt.datetime) -> dt.datetime | None:
        """Start of the closed period holding `at` (None when open): names "this off-hours
        period", so two messages in the same night share it and the next night differs."""
        if self.is_open(at):
            return None
        day = self._local_date(at)
        first = min(day, self._first_holiday or day) - timedelta(days=_SLACK_DAYS)
        for d in _dates(first, day, backwards=True):
            # a range from the day before may run past midnight and end later than this
            # day's own ranges; older ones end by this day's start
            ends = [b for x in (d, d - _ONE_DAY) for _, b in self._spans_on(x) if b <= at]
            if ends:
                return max(ends)
        raise self._no_open_time()

    def is_quiet(self, at: dt.datetime) -> bool:
        """Inside the quiet hours (wall clock in the zone), when no automatic message goes."""
        if self.config is None or self.config.quiet is None:
            return False
        start, end = self.config.quiet
        now = at.astimezone(self._zone).time().replace(tzinfo=None)
        if start < end:
            return start <= now < end
        return now >= start or now < end

    # -- internals ---------------------------------------------------------------------------

    def _local_date(self, at: dt.datetime) -> dt.date:
        if at.tzinfo is None:
            raise ValueError("BusinessHours needs timezone-aware datetimes")
        return at.astimezone(self._zone).date()

    def _is_holiday(self, day: dt.date) -> bool:
        assert self.config is not None
        return any(a <= day <= b for a, b in self.config.holidays)

    def _compute_spans(self, day: dt.date) -> tuple[Span, ...]:
        """The open spans (UTC) of ranges starting on local `day`, holidays cut out."""
        assert self.config is not None
        if self._is_holiday(day):
            return ()
        spans = []
        for start, end in self.config.week[day.weekday()]:
            end_day = day + _ONE_DAY if end <= start else day
            if end_day != day and self._is_holiday(end_day):
                end = dt.time(0, 0)  # cut at the holiday's midnight
            a = self._instant(day, start)
            b = self._instant(end_day, end)
            if b > a:  # a range inside a DST gap has no real time in it
                spans.append((a, b))
        return tuple(spans)

    def _instant(self, day: dt.date, clock: dt.time) -> dt.datetime:
        return dt.datetime.combine(day, clock, tzinfo=self._zone).astimezone(UTC)

    def _no_open_time(self) -> ConfigError:
        return ConfigError("hours: no open time in the week", hint="give at least one day a range")


def _dates(first: dt.date, last: dt.date, *, backwards: bool = False) -> Iterator[dt.date]:
    count = (last - first).days + 1
    for i in range(count):
        yield last - timedelta(days=i) if backwards else first + timedelta(days=i)


def _merged(spans: list[Span]) -> list[Span]:
    """Overlapping or touching spans joined, so shared time is counted once."""
    out: list[Span] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out
