"""Pytest fixtures for the Telegram Bot API double (im2mail/testing/telegram_api.py);
tests/conftest.py registers them with `pytest_plugins = ["tests.support.fixtures_telegram"]`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from im2mail.testing.telegram_api import TelegramDouble


@pytest.fixture
async def telegram_api() -> AsyncIterator[TelegramDouble]:
    """A running Telegram Bot API double on a free loopback port; `.url` is the api_url."""
    async with TelegramDouble() as double:
        yield double
