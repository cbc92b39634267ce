"""Fixtures shared by the end-to-end tests: a customer at the Telegram double and a client
of the shop mailbox (IMAP). The bot and its started channel are in
tests/support/fixtures_telegram.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from im2mail.testing.telegram_api import TelegramDouble
from tests.support.mailbox import Mailbox


@pytest.fixture
def olena(telegram_api: TelegramDouble):
    return telegram_api.customer("Олена", "Коваль", username="olena_k")


@pytest.fixture
def mailbox(imap_server) -> Iterator[Mailbox]:
    box = Mailbox(imap_server)
    yield box
    box.close()
