"""Reading times users type (--since 7d, --until 2026-11-01) and showing ages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from .errors import UsageError

_RELATIVE = re.compile(r"^(\d+)\s*(m|min|h|d|w)$")
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# What a time typed on the command line may be: no archive holds anything older, and past
# the end every later step (UTC, SQLite, timestamps) would overflow.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)
_FORMS = "use a date like 2026-11-01, a time like 2026-11-01T14:30, or an age: 30m, 12h, 7d, 2w"


def parse_when(text: str, *, now: datetime | None = None) -> datetime:
    """An ISO date/time (local time unless it has an offset) or an age like 30m, 12h, 7d, 2w,
    between 1970 and 9999 (UsageError, exit 2, otherwise)."""
    now = now or datetime.now(UTC)
    value = text.strip().lower()
    try:
        moment = _moment(text, value, now)
        in_utc = moment.astimezone(UTC)
    except (OverflowError, ValueError):  # an age older than 0001, a date a zone pushes past
        in_utc = None
    if in_utc is None or not EARLIEST <= in_utc <= LATEST:
        raise UsageError(
            f"'{text}' is out of range: a time must be between "
            f"{EARLIEST.date().isoformat()} and {LATEST.date().isoformat()}",
            hint=_FORMS,
        )
    return moment


def _moment(text: str, value: str, now: datetime) -> datetime:
    match = _RELATIVE.match(value)
    if match:
        amount, unit = int(match.group(1)), _UNITS[match.group(2)]
        return now - timedelta(**{unit: amount})
    if value in ("today", "yesterday"):
        start = datetime.now().astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
        return start - timedelta(days=1 if value == "yesterday" else 0)
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"cannot read '{text}' as a time", hint=_FORMS) from None
    return parsed if parsed.tzinfo else parsed.astimezone()


def age(delta: timedelta) -> str:
    """A short human age: 45s, 12m, 3h 05m, 2d 4h."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def local(moment: datetime) -> str:
    """A moment as local wall-clock time for people: 2026-11-23 14:08."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")
