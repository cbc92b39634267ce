"""The retry schedule every outbox worker uses."""

from __future__ import annotations

import random

import pytest

from im2mail.archive.deliveries import BACKOFF_STEPS, backoff_delay


def middle() -> float:
    return 0.5  # no jitter: 2 * 0.5 - 1 == 0


def test_the_schedule_without_jitter() -> None:
    delays = [backoff_delay(n, rand=middle) for n in range(1, 10)]
    assert delays == [5, 15, 60, 300, 900, 1800, 1800, 1800, 1800]
    assert tuple(delays[:6]) == BACKOFF_STEPS


def test_before_the_first_failure_it_is_the_first_step() -> None:
    assert backoff_delay(0, rand=middle) == 5
    assert backoff_delay(-3, rand=middle) == 5


@pytest.mark.parametrize("attempts", [1, 3, 6, 50])
def test_jitter_stays_within_its_fraction(attempts: int) -> None:
    base = backoff_delay(attempts, rand=middle)
    rng = random.Random(attempts)
    delays = [backoff_delay(attempts, jitter=0.2, rand=rng.random) for _ in range(500)]
    assert all(base * 0.8 <= d <= base * 1.2 for d in delays)
    assert max(delays) - min(delays) > base * 0.3  # it does spread
    assert backoff_delay(attempts, jitter=0.2, rand=lambda: 0.0) == pytest.approx(base * 0.8)
    assert backoff_delay(attempts, jitter=0.2, rand=lambda: 1.0) == pytest.approx(base * 1.2)


def test_a_schedule_for_tests() -> None:
    steps = (0.01, 0.02)
    assert [backoff_delay(n, steps=steps, jitter=0) for n in (1, 2, 3)] == [0.01, 0.02, 0.02]


def test_never_negative_and_needs_steps() -> None:
    assert backoff_delay(1, steps=(1.0,), jitter=5, rand=lambda: 0.0) == 0.0
    with pytest.raises(ValueError):
        backoff_delay(1, steps=())
