"""Fixtures shared by the end-to-end tests: a bot at the Telegram double, the channel
started on it, a customer, and a client of the shop mailbox (IMAP)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from im2mail.channels.telegram import Telegram
from im2mail.testing.telegram_api import TelegramDouble
from tests.support.mailbox import Mailbox


@pytest.fixture
def token(telegram_api: TelegramDouble) -> str:
    return telegram_api.add_bot("shop_bot", "Друкарня")


@pytest.fixture
async def channel(telegram_api: TelegramDouble, token: str):
    async with Telegram("shop", token, telegram_api.url, timeout=2) as started:
        yield started


@pytest.fixture
def olena(telegram_api: TelegramDouble):
    return telegram_api.customer("Олена", "Коваль", username="olena_k")


@pytest.fixture
def mailbox(imap_server) -> Iterator[Mailbox]:
    box = Mailbox(imap_server)
    yield box
    box.close()
