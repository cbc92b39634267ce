"""`im2mail bot add viber`, `webhook set/info/delete` and `bot remove` for a Viber bot: the
real CLI in a subprocess against the Viber API double (`--api-url` / `api_url`).

Viber checks a webhook by calling it while it is being set, so the tests that set one
answer at the public URL with a small server of their own, as a running relay would.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import tomllib

import pytest
from aiohttp import web

from im2mail import secrets
from im2mail.testing.viber_api import ViberDouble
from tests.conftest import VALID_CONFIG, Result, run_installed
from tests.support.smtp_server import free_port

pytestmark = pytest.mark.e2e

NO_BOTS = VALID_CONFIG.split("[[bots]]")[0]
SIGNING_KEY = "7f" * 32


async def cli(*args: str, stdin: str | None = None) -> Result:
    return await asyncio.to_thread(run_installed, *args, stdin=stdin)


def bots_in(path) -> list[dict]:
    return tomllib.loads(path.read_text(encoding="utf-8")).get("bots", [])


@pytest.fixture
def viber_token(viber_api: ViberDouble) -> str:
    return viber_api.add_bot("Друкарня «Аркуш»", "arkush_print", "https://shop.example/a.png")


class Receiver:
    """What answers at the public URL: a relay stand-in that checks Viber's signature."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.bodies: list[dict] = []
        self.port = free_port()
        self.runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        good = hmac.new(self.token.encode(), body, hashlib.sha256).hexdigest()
        if request.headers.get("X-Viber-Content-Signature") != good:
            return web.Response(status=403)
        self.bodies.append(json.loads(body))
        return web.Response(text="ok")

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/viber/{bot}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


def viber_config(api_url: str, public_url: str) -> str:
    text = NO_BOTS.replace("https://bot.shop.example", public_url)
    return text + f'[[bots]]\nname = "vshop"\nchannel = "viber"\napi_url = "{api_url}"\n'


async def test_add_checks_the_token_with_viber_and_names_the_account(
    viber_api, viber_token, write_config
):
    path = write_config(NO_BOTS)
    result = await cli(
        "bot", "add", "viber", "vshop", "--token-stdin", "--api-url", viber_api.url,
        stdin=viber_token + "\n",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "added bot vshop (Друкарня «Аркуш», Viber)" in result.err
    assert "next: im2mail run" in result.err
    assert bots_in(path) == [{"name": "vshop", "channel": "viber", "api_url": viber_api.url}]
    assert secrets.get("bot:vshop") == viber_token
    assert [c.method for c in viber_api.calls()] == ["get_account_info"]
    assert viber_token not in result.out + result.err


async def test_a_refused_token_saves_nothing(viber_api, viber_token, write_config):
    path = write_config(NO_BOTS)
    viber_api.revoke(viber_token)
    result = await cli(
        "bot", "add", "viber", "vshop", "--token-stdin", "--api-url", viber_api.url,
        stdin=viber_token + "\n",
    )  # fmt: skip
    assert result.code == 1
    assert "nothing was saved" in result.err
    assert "the Viber Admin Panel" in result.err
    assert viber_token not in result.err
    assert "Traceback" not in result.err
    assert bots_in(path) == []
    with pytest.raises(secrets.SecretError):
        secrets.get("bot:vshop")


async def test_without_a_public_url_viber_is_refused_before_the_token(viber_api, write_config):
    path = write_config(NO_BOTS.replace('public_url = "https://bot.shop.example"\n', ""))
    result = await cli("bot", "add", "viber", "vshop", "--token-stdin", stdin="")
    assert result.code == 3
    assert "viber webhooks need relay.public_url" in result.err
    assert "HTTPS address" in result.err
    assert viber_api.calls() == []
    assert bots_in(path) == []


async def test_webhook_set_info_delete_for_a_viber_bot(viber_api, viber_token, write_config):
    async with Receiver(viber_token) as receiver:
        public = f"http://127.0.0.1:{receiver.port}"
        write_config(viber_config(viber_api.url, public))
        secrets.put("bot:vshop", viber_token)
        secrets.put(secrets.SIGNING_KEY, SIGNING_KEY)
        result = await cli("webhook", "set")
        assert result.code == 0, result.err
        assert f"bot vshop: webhook set to {public}/viber/vshop" in result.err
        assert [b["event"] for b in receiver.bodies] == ["webhook"]  # Viber's check call
        hook = viber_api.webhook(viber_token)
        assert hook is not None and hook["url"] == f"{public}/viber/vshop"
        assert {"delivered", "seen", "failed", "unsubscribed"} <= set(hook["event_types"])
        assert {"conversation_started", "subscribed"} <= set(hook["event_types"])
        info = await cli("webhook", "info", "--json")
        assert info.code == 0, info.err
        (record,) = [json.loads(line) for line in info.out.splitlines()]
        assert (record["bot"], record["channel"]) == ("vshop", "viber")
        assert record["url"] == f"{public}/viber/vshop"
        deleted = await cli("webhook", "delete", "vshop")
        assert deleted.code == 0, deleted.err
        assert viber_api.webhook(viber_token) is None


async def test_webhook_set_says_the_relay_must_answer_there(viber_api, viber_token, write_config):
    public = f"http://127.0.0.1:{free_port()}"  # nothing listens: Viber's check call fails
    write_config(viber_config(viber_api.url, public))
    secrets.put("bot:vshop", viber_token)
    secrets.put(secrets.SIGNING_KEY, SIGNING_KEY)
    result = await cli("webhook", "set", "vshop")
    assert result.code == 1
    assert "running" in result.err and "reachable" in result.err
    assert "Traceback" not in result.err
    assert viber_api.webhook(viber_token) is None


async def test_remove_deletes_the_webhook_and_forgets_the_token(
    viber_api, viber_token, write_config
):
    async with Receiver(viber_token) as receiver:
        path = write_config(viber_config(viber_api.url, f"http://127.0.0.1:{receiver.port}"))
        secrets.put("bot:vshop", viber_token)
        secrets.put(secrets.SIGNING_KEY, SIGNING_KEY)
        assert (await cli("webhook", "set")).code == 0
        result = await cli("bot", "remove", "vshop")
    assert result.code == 0, result.err
    assert viber_api.webhook(viber_token) is None
    assert bots_in(path) == []
    with pytest.raises(secrets.SecretError):
        secrets.get("bot:vshop")
