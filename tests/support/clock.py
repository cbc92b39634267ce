"""Time in the test's hands: a Clock is given where the code takes `clock` (a callable
returning the current datetime; `clock.time` where it wants epoch seconds), and the test
moves it instead of waiting. It stands still until moved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def time(self) -> float:
        return self.now.timestamp()

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now
