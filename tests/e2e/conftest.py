"""Fixtures shared by the end-to-end tests: a customer at the Telegram double, a client of
the shop mailbox (IMAP), and `running_relay`, which starts `im2mail run` on the test's
home. The doubles, the Telegram bot and its started channel and the SMTP server are in
tests/support/fixtures.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from im2mail.testing.telegram_api import TelegramDouble
from tests.e2e.relay_rig import RelayProcess, write_home
from tests.support.mailbox import Mailbox

StartRelay = Callable[..., Awaitable[RelayProcess]]


@pytest.fixture
def olena(telegram_api: TelegramDouble):
    return telegram_api.customer("Олена", "Коваль", username="olena_k")


@pytest.fixture
def mailbox(imap_server) -> Iterator[Mailbox]:
    box = Mailbox(imap_server)
    yield box
    box.close()


@pytest.fixture
async def running_relay(
    request: pytest.FixtureRequest, isolated_home, telegram_api: TelegramDouble, smtp_server
) -> AsyncIterator[StartRelay]:
    """`await running_relay(**options)`: config and secrets written by relay_rig.write_home
    with these options (a Telegram bot 'shop' on the double unless `token` names one, mail
    to the SMTP test server; `imap=imap_server` to read replies), then `im2mail run` in a
    subprocess, healthy when it returns. Killed after the test, with its log printed (shown
    when the test fails). A test marked `@pytest.mark.debug_log` gets `im2mail --debug run`."""
    debug = request.node.get_closest_marker("debug_log") is not None
    started: list[RelayProcess] = []

    async def start(**options) -> RelayProcess:
        options.setdefault("token", telegram_api.add_bot("shop_bot", "Shop"))
        port = write_home(
            isolated_home, api_url=telegram_api.url, smtp_port=smtp_server.port, **options
        )
        process = RelayProcess(isolated_home, port, debug=debug)
        started.append(process)
        await process.wait_healthy()
        return process

    try:
        yield start
    finally:
        for process in started:
            process.kill()
            print(process.log)
