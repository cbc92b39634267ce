"""Pytest fixtures for the Telegram Bot API double (im2mail/testing/telegram_api.py): the
double, a bot on it (`token`) and the Telegram channel started on that bot (`channel`);
tests/conftest.py registers them with `pytest_plugins = ["tests.support.fixtures_telegram"]`.
A test module with a `token` or `channel` fixture of its own (another channel) overrides
these."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from im2mail.channels.telegram.channel import Telegram
from im2mail.testing.telegram_api import TelegramDouble


@pytest.fixture
async def telegram_api() -> AsyncIterator[TelegramDouble]:
    """A running Telegram Bot API double on a free loopback port; `.url` is the api_url."""
    async with TelegramDouble() as double:
        yield double


@pytest.fixture
def token(telegram_api: TelegramDouble) -> str:
    return telegram_api.add_bot("shop_bot", "Друкарня")


@pytest.fixture
async def channel(telegram_api: TelegramDouble, token: str) -> AsyncIterator[Telegram]:
    async with Telegram("shop", token, telegram_api.url, timeout=2) as started:
        yield started
