"""Waiting for a condition with a deadline, instead of sleeping a fixed time and hoping:
as short as the machine allows, and a clear failure when it never comes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def wait_until(predicate: Callable[[], T], timeout: float = 10.0) -> T:
    """predicate()'s first truthy value, looked at every 10 ms; fails the test after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"condition not met within {timeout} s"
        await asyncio.sleep(0.01)
    return value


def wait_until_blocking(predicate: Callable[[], T], timeout: float = 10.0) -> T:
    """wait_until for code outside an event loop."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"condition not met within {timeout} s"
        time.sleep(0.01)
    return value
