"""The stand-in servers as pytest fixtures, all made the same way: a factory fixture that
starts as many as a test wants, with options, and closes them after it; and for each kind
one fixture with the defaults. tests/conftest.py registers this module (`pytest_plugins`).

- The platform API doubles (im2mail/testing/), each on a free loopback port, its `.url`
  the api_url a bot is configured with: `telegram_api`, `viber_api`, `messenger_api`,
  `whatsapp_api`, or `await doubles("viber", media_ttl=3.0)`. `double` is each of them
  in turn (a test that takes it runs once per channel).
- The Telegram bot on its double (`token`) and the Telegram channel started on that bot
  (`channel`). A test module with a `token` or `channel` fixture of its own (another
  channel's) overrides these.
- The SMTP test server (tests/support/smtp_server.py), collecting what it receives:
  `smtp_server`, or `smtp_servers(tls="starttls")`, `smtp_servers(start=False)` for one
  that is down at first (pass port=free_port(): its port is taken by start() later).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from im2mail.channels.telegram.channel import Telegram
from im2mail.testing.messenger_api import MessengerDouble
from im2mail.testing.telegram_api import TelegramDouble
from im2mail.testing.viber_api import ViberDouble
from im2mail.testing.whatsapp_api import WhatsAppDouble
from tests.support.smtp_server import SmtpServer

DOUBLES: dict[str, type] = {
    "telegram": TelegramDouble,
    "viber": ViberDouble,
    "messenger": MessengerDouble,
    "whatsapp": WhatsAppDouble,
}

StartDouble = Callable[..., Awaitable[Any]]


@pytest.fixture
async def doubles() -> AsyncIterator[StartDouble]:
    """Start a channel's API double: `await doubles("viber", media_ttl=3.0)`; every one
    started is closed after the test."""
    async with contextlib.AsyncExitStack() as running:

        async def start(channel: str, **options: Any) -> Any:
            return await running.enter_async_context(DOUBLES[channel](**options))

        yield start


def _double_with_defaults(channel: str):
    async def fixture(doubles: StartDouble) -> Any:
        return await doubles(channel)

    fixture.__name__ = f"{channel}_api"
    fixture.__doc__ = f"A running {DOUBLES[channel].__name__} with its defaults."
    return pytest.fixture(name=f"{channel}_api")(fixture)


telegram_api = _double_with_defaults("telegram")
viber_api = _double_with_defaults("viber")
messenger_api = _double_with_defaults("messenger")
whatsapp_api = _double_with_defaults("whatsapp")


@pytest.fixture(params=sorted(DOUBLES))
async def double(request: pytest.FixtureRequest, doubles: StartDouble) -> Any:
    """Each channel's API double in turn, with its defaults."""
    return await doubles(request.param)


@pytest.fixture
def token(telegram_api: TelegramDouble) -> str:
    return telegram_api.add_bot("shop_bot", "Друкарня")


@pytest.fixture
async def channel(telegram_api: TelegramDouble, token: str) -> AsyncIterator[Telegram]:
    async with Telegram("shop", token, telegram_api.url, timeout=2) as started:
        yield started


@pytest.fixture
def smtp_servers() -> Iterator[Callable[..., SmtpServer]]:
    """Make SMTP servers: smtp_servers(tls="starttls"), smtp_servers(start=False); all are
    closed after the test."""
    made: list[SmtpServer] = []

    def make(*, start: bool = True, **options: object) -> SmtpServer:
        server = SmtpServer(**options)  # type: ignore[arg-type]
        made.append(server)
        return server.start() if start else server

    yield make
    for server in made:
        server.close()


@pytest.fixture
def smtp_server(smtp_servers: Callable[..., SmtpServer]) -> SmtpServer:
    """A running plain SMTP server on a free loopback port, collecting what it receives."""
    return smtp_servers()
