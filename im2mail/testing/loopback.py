"""What the API doubles share: an aiohttp server on a free loopback port, a client session
for the calls they make themselves (webhooks, media downloads), background tasks, and the
lifecycle start() / close() / `async with`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any, Self

import aiohttp
from aiohttp import web


class LoopbackServer:
    """Subclasses add their routes in `_routes` and may extend `_before_close`."""

    max_body = 1024 * 1024  # aiohttp's client_max_size for requests to the double

    def __init__(self) -> None:
        self.base_url = ""  # http://127.0.0.1:<port>, once started
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    def _routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def _before_close(self) -> None:
        """Wake whatever waits inside a request (a long poll) so close() is quick."""

    async def start(self) -> Self:
        app = web.Application(client_max_size=self.max_body)
        self._routes(app)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        self._session = aiohttp.ClientSession()
        return self

    async def close(self) -> None:
        self._before_close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def wait_until(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Wait until predicate() is truthy (and return it); fail the test after timeout."""
        deadline = time.monotonic() + timeout
        while not (value := predicate()):
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout} s")
            await asyncio.sleep(0.01)
        return value

    async def wait_for_sent(self, recipient: Any, count: int = 1, timeout: float = 5.0) -> list:
        """Wait until the bot has sent `recipient` (chat id, user id, wa_id) at least `count`
        messages; all of them. Each double keeps its own `sent_messages(recipient)`."""
        await self.wait_until(lambda: len(self.sent_messages(recipient)) >= count, timeout)
        return self.sent_messages(recipient)

    def sent_messages(self, recipient: Any = None) -> list:
        raise NotImplementedError

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
