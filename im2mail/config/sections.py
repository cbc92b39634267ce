"""The [hours], [alerts] and [templates] sections of config.toml.

Kept apart from the core settings (the package's __init__), which calls the parse_*
functions with its checker (checker.py), so errors name the key the same way.
"""

from __future__ import annotations

import datetime
import difflib
import re
import zoneinfo
from dataclasses import dataclass
from datetime import time, timedelta
from typing import Any

from .checker import ADDRESS, _Checker

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TEMPLATE_NAME = re.compile(r"^[a-z0-9_-]+$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")
_DURATION = re.compile(r"^(\d+)\s*([smh]?)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "": 60}  # a bare number is minutes
MAX_DURATION_DAYS = 365  # beyond, a reminder would never come; and no timedelta holds 10**20 h

TimeRange = tuple[time, time]  # end <= start: the range runs past midnight into the next day


@dataclass(frozen=True)
class HoursConfig:
    zone: str  # IANA name, checked against zoneinfo at load time
    week: tuple[tuple[TimeRange, ...], ...]  # 7 entries, Mon..Sun: open ranges
    holidays: tuple[tuple[datetime.date, datetime.date], ...] = ()  # inclusive, may overlap
    auto_reply: str | None = None  # sent to a customer who writes outside the hours
    quiet: TimeRange | None = None  # no automatic messages to customers then


@dataclass(frozen=True)
class AlertsConfig:
    unanswered_after: timedelta | None = timedelta(minutes=15)  # None: no reminders
    digest_to: tuple[str, ...] = ()  # addresses for the daily digest; empty: no digest
    digest_at: time = time(8, 0)  # local time (hours.zone, else the machine's zone)
    reactions: bool = True  # a customer's reaction to a reply: a notice to its author


# -- value parsers: each returns the value or raises ValueError with a user-facing reason ---


def parse_clock(text: str, *, allow_24: bool = False) -> time:
    """'09:30' -> time(9, 30); '24:00' (only as a range end) -> time(0, 0)."""
    m = _CLOCK.match(text.strip())
    if not m:
        raise ValueError(f"'{text.strip()}' is not a time like 09:00")
    hour, minute = int(m[1]), int(m[2])
    if allow_24 and (hour, minute) == (24, 0):
        return time(0, 0)
    if hour > 23 or minute > 59:
        raise ValueError(f"'{text.strip()}' is not a time of day (00:00 to 23:59)")
    return time(hour, minute)


def parse_range(text: str) -> TimeRange:
    """'09:00-18:00'; '22:00-02:00' and '18:00-24:00' end on the next day's clock."""
    start, sep, end = text.partition("-")
    if not sep:
        raise ValueError(f"'{text.strip()}' is not a range like 09:00-18:00")
    begin, finish = parse_clock(start), parse_clock(end, allow_24=True)
    if begin == finish and end.strip() != "24:00":
        raise ValueError(f"'{text.strip()}' is an empty range")
    return begin, finish


def parse_ranges(text: str) -> tuple[TimeRange, ...]:
    """'09:00-13:00, 14:00-18:00'; '' is a closed day."""
    return tuple(parse_range(part) for part in text.split(",") if part.strip())


def parse_holiday(text: str) -> tuple[datetime.date, datetime.date]:
    """'2026-12-25' or '2026-12-31..2027-01-02' (both ends included)."""
    first, sep, last = text.partition("..")
    try:
        start = datetime.date.fromisoformat(first.strip())
        end = datetime.date.fromisoformat(last.strip()) if sep else start
    except ValueError:
        raise ValueError(
            f"'{text}' is not a date like 2026-12-25 or a range like 2026-12-31..2027-01-02"
        ) from None
    if end < start:
        raise ValueError(f"'{text}' ends before it starts")
    return start, end


def parse_duration(value: int | str) -> timedelta | None:
    """'15m', '2h', '90s', 15 (minutes); 0 turns the feature off (None)."""
    if isinstance(value, bool):
        raise ValueError('expected a duration like "15m", "2h", "90s" or minutes')
    if isinstance(value, int):
        seconds = value * 60
    else:
        m = _DURATION.match(value.strip().lower())
        if not m:
            raise ValueError(f'\'{value}\' is not a duration like "15m", "2h" or "90s"')
        seconds = int(m[1]) * _UNITS[m[2]]
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    if seconds > MAX_DURATION_DAYS * 86400:
        raise ValueError(f"a duration can be at most {MAX_DURATION_DAYS} days")
    return timedelta(seconds=seconds) if seconds else None


def check_zone(name: str) -> str | None:
    """None when `name` is a time zone zoneinfo knows, else the problem (with a suggestion)."""
    try:
        zoneinfo.ZoneInfo(name)
        return None
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        pass
    close = difflib.get_close_matches(name, zoneinfo.available_timezones(), n=1)
    maybe = f" (did you mean '{close[0]}'?)" if close else ""
    return f"'{name}' is not a known time zone{maybe}"


# -- sections ----------------------------------------------------------------------------------


def _parsed(check: _Checker, key: str, parse: Any, value: Any) -> Any:
    try:
        return parse(value)
    except ValueError as e:
        check.fail(key, str(e))


def parse_hours(check: _Checker, data: dict[str, Any]) -> HoursConfig | None:
    """[hours]; absent means always open."""
    if "hours" not in data:
        return None
    table = check.table(data, "hours", required=False)
    p = "hours."
    check.unknown(table, p, {"zone", *DAYS, "holidays", "auto_reply", "quiet"})
    zone = check.value(table, "zone", str, p, check=check_zone)
    week = tuple(
        _parsed(check, p + day, parse_ranges, check.value(table, day, str, p, default=""))
        for day in DAYS
    )
    if not any(week):
        check.fail("hours", "no open time in the week", hint="give at least one day a range")
    holidays = tuple(
        _parsed(check, f"{p}holidays[{i}]", parse_holiday, text)
        for i, text in enumerate(check.value(table, "holidays", list, p, default=[]))
    )
    auto_reply = check.value(table, "auto_reply", str, p, default=None)
    quiet = check.value(table, "quiet", str, p, default=None)
    return HoursConfig(
        zone=zone,
        week=week,
        holidays=holidays,
        auto_reply=auto_reply.strip() or None if auto_reply else None,
        quiet=_parsed(check, p + "quiet", parse_range, quiet) if quiet else None,
    )


def parse_alerts(check: _Checker, data: dict[str, Any]) -> AlertsConfig:
    table = check.table(data, "alerts", required=False)
    p = "alerts."
    check.unknown(table, p, {"unanswered_after", "digest_to", "digest_at", "reactions"})
    after = AlertsConfig.unanswered_after
    if "unanswered_after" in table:
        raw = table["unanswered_after"]
        if not isinstance(raw, int | str):
            check.fail(p + "unanswered_after", 'expected a duration like "15m" or minutes')
        after = _parsed(check, p + "unanswered_after", parse_duration, raw)
    digest_to = check.value(table, "digest_to", list, p, default=[])

    for i, address in enumerate(digest_to):
        if not ADDRESS.match(address.strip()):
            check.fail(f"{p}digest_to[{i}]", f"'{address}' is not an email address")
    digest_at = check.value(table, "digest_at", str, p, default=None)
    return AlertsConfig(
        unanswered_after=after,
        digest_to=tuple(a.strip() for a in digest_to),
        digest_at=_parsed(check, p + "digest_at", parse_clock, digest_at)
        if digest_at
        else AlertsConfig.digest_at,
        reactions=check.value(table, "reactions", bool, p, default=True),
    )


def parse_templates(check: _Checker, data: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    table = check.table(data, "templates", required=False)
    templates: list[tuple[str, str]] = []
    for name in table:
        key = f"templates.{name}"
        if not TEMPLATE_NAME.match(name):
            check.fail(key, "a template name uses only a-z, 0-9, _ and -")
        text = check.value(table, name, str, "templates.")
        if not text.strip():
            check.fail(key, "is empty")
        templates.append((name, text))
    return tuple(templates)
