"""`im2mail bot add/remove` and `im2mail webhook set/info/delete`, the real CLI in a
subprocess against the Telegram Bot API double (`--api-url` / `api_url`).

The double runs in the test's event loop, so the CLI runs in a thread (`cli`) while the
loop answers it.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import subprocess
import sys
import time
import tomllib

import pytest

from im2mail import secrets, signing
from tests.conftest import REPO, VALID_CONFIG, Result, run_installed
from tests.support.smtp_server import free_port

pytestmark = pytest.mark.e2e

NO_BOTS = VALID_CONFIG.split("[[bots]]")[0]
PUBLIC_URL = "https://bot.shop.example"
SIGNING_KEY = "7f" * 32
UNUSABLE_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


async def cli(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> Result:
    return await asyncio.to_thread(run_installed, *args, stdin=stdin, env=env)


def bots_in(path) -> list[dict]:
    return tomllib.loads(path.read_text(encoding="utf-8")).get("bots", [])


def stored(name: str) -> str | None:
    try:
        return secrets.get(secrets.bot_secret(name))
    except secrets.SecretError:
        return None


def webhook_bot(api_url: str, public_url: str | None = PUBLIC_URL, mode: str = "webhook") -> str:
    text = NO_BOTS if public_url else NO_BOTS.replace(f'public_url = "{PUBLIC_URL}"\n', "")
    return (
        text
        + f'[[bots]]\nname = "shop"\nchannel = "telegram"\nmode = "{mode}"\n'
        + (f'api_url = "{api_url}"\n')
    )


@pytest.fixture
def token(telegram_api) -> str:
    return telegram_api.add_bot("orders_bot", "Замовлення")


@pytest.fixture
def hooked(telegram_api, write_config):
    """A webhook-mode bot 'shop' on the double, its token and the signing key stored."""
    shop_token = telegram_api.add_bot("shop_bot", "Друкарня")
    write_config(webhook_bot(telegram_api.url))
    secrets.put(secrets.bot_secret("shop"), shop_token)
    secrets.put(secrets.SIGNING_KEY, SIGNING_KEY)
    return shop_token


# -- bot add -----------------------------------------------------------------------------------


async def test_add_checks_the_token_live_then_saves_it(telegram_api, token, write_config):
    path = write_config(NO_BOTS)
    result = await cli(
        "bot", "add", "telegram", "orders", "--token-stdin", "--api-url", telegram_api.url,
        stdin=token + "\n",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "added bot orders (@orders_bot, Telegram)" in result.err
    assert "next: im2mail run" in result.err
    assert result.out == ""
    assert bots_in(path) == [{"name": "orders", "channel": "telegram", "api_url": telegram_api.url}]
    assert stored("orders") == token
    assert telegram_api.calls("getMe", token)
    assert token not in result.both + path.read_text(encoding="utf-8")
    listed = await cli("bot", "list")
    assert listed.out == f"orders\ttelegram\tpolling\t{telegram_api.url}\n"


async def test_add_webhook_mode_writes_the_mode_and_says_what_next(
    telegram_api, token, write_config
):
    path = write_config(NO_BOTS)
    args = ("--mode", "webhook", "--api-url", telegram_api.url, "--token-stdin")
    result = await cli("bot", "add", "telegram", "orders", *args, stdin=token)
    assert result.code == 0, result.err
    assert bots_in(path)[0]["mode"] == "webhook"
    assert "next: im2mail webhook set orders" in result.err


@pytest.mark.parametrize("how", ["revoked", "unknown"])
async def test_a_refused_token_saves_nothing_and_is_never_echoed(
    telegram_api, token, write_config, how
):
    path = write_config(NO_BOTS)
    before = path.read_bytes()
    if how == "revoked":
        telegram_api.revoke(token)
    else:
        token = "7999999999:AAHnotAtokenTheDoubleKnowsAbout12345"
    args = ("--token-stdin", "--api-url", telegram_api.url)
    result = await cli("bot", "add", "telegram", "orders", *args, stdin=token + "\n")
    assert result.code == 1
    assert "Telegram refused the token" in result.err
    assert "nothing was saved" in result.err
    assert "Traceback" not in result.err
    assert token not in result.both
    assert path.read_bytes() == before
    assert stored("orders") is None


async def test_an_unreachable_api_is_a_runtime_failure(token, write_config):
    path = write_config(NO_BOTS)
    before = path.read_bytes()
    down = f"http://127.0.0.1:{free_port()}"
    args = ("--token-stdin", "--api-url", down)
    result = await cli("bot", "add", "telegram", "orders", *args, stdin=token)
    assert result.code == 1
    assert f"could not check bot 'orders' with Telegram at {down}" in result.err
    assert token not in result.both
    assert path.read_bytes() == before
    assert stored("orders") is None


async def test_a_taken_name_is_refused_before_any_call(telegram_api, token, write_config):
    path = write_config()  # has a bot named shop
    before = path.read_bytes()
    args = ("--token-stdin", "--api-url", telegram_api.url)
    result = await cli("bot", "add", "telegram", "shop", *args, stdin=token)
    assert result.code == 2
    assert "error: a bot named 'shop' exists; remove it first: im2mail bot remove shop" in (
        result.err
    )
    assert not telegram_api.calls("getMe")
    assert path.read_bytes() == before
    assert stored("shop") is None


@pytest.mark.parametrize("name", ["Shop", "my shop", "шоп", "shop/1"])
async def test_an_invalid_name_is_a_usage_error(telegram_api, token, write_config, name):
    path = write_config(NO_BOTS)
    before = path.read_bytes()
    args = ("--token-stdin", "--api-url", telegram_api.url)
    result = await cli("bot", "add", "telegram", name, *args, stdin=token)
    assert result.code == 2
    assert f"'{name}' is not a valid bot name: use only a-z, 0-9, _ and -" in result.err
    assert not telegram_api.calls("getMe")
    assert path.read_bytes() == before


async def test_an_unusable_keyring_stops_it_before_the_token_is_checked(
    telegram_api, token, write_config
):
    path = write_config(NO_BOTS)
    before = path.read_bytes()
    args = ("--token-stdin", "--api-url", telegram_api.url)
    result = await cli("bot", "add", "telegram", "orders", *args, stdin=token, env=UNUSABLE_KEYRING)
    assert result.code == 4
    assert "no usable keyring" in result.err
    assert not telegram_api.calls("getMe")
    assert path.read_bytes() == before


def test_without_a_terminal_it_asks_for_token_stdin(write_config):
    path = write_config(NO_BOTS)
    result = run_installed("bot", "add", "telegram", "orders", stdin="123:abc\n")
    assert result.code == 2
    assert "standard input is not a terminal" in result.err
    assert "--token-stdin" in result.err
    assert bots_in(path) == []


async def test_the_prompt_on_a_terminal_hides_the_token(telegram_api, token, write_config):
    path = write_config(NO_BOTS)
    args = ("bot", "add", "telegram", "orders", "--api-url", telegram_api.url)
    code, screen = await asyncio.to_thread(type_on_terminal, args, token)
    assert code == 0, screen
    assert "Bot token" in screen
    assert "added bot orders (@orders_bot, Telegram)" in screen
    assert token not in screen
    assert stored("orders") == token
    assert bots_in(path)[0]["name"] == "orders"


def type_on_terminal(args: tuple[str, ...], typed: str, timeout: float = 20) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as its controlling terminal (stdin and stderr),
    type `typed` once the terminal stops echoing; returns the exit code and the screen."""
    import fcntl
    import pty
    import termios

    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "im2mail", *args],
        stdin=slave,
        stdout=subprocess.DEVNULL,
        stderr=slave,
        cwd=REPO,
        start_new_session=True,
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
    )
    os.close(slave)
    screen, deadline, typed_yet = b"", time.monotonic() + timeout, False
    try:
        while time.monotonic() < deadline:
            if not typed_yet and not termios.tcgetattr(master)[3] & termios.ECHO:
                os.write(master, typed.encode() + b"\r")
                typed_yet = True
            if not select.select([master], [], [], 0.05)[0]:
                continue
            try:
                chunk = os.read(master, 4096)  # EIO once the child has closed the terminal
            except OSError:
                break
            if not chunk:
                break
            screen += chunk
        return process.wait(timeout=max(deadline - time.monotonic(), 1)), screen.decode()
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()


# -- bot remove --------------------------------------------------------------------------------


async def test_remove_forgets_the_bot_and_its_token(write_config):
    path = write_config()
    secrets.put(secrets.bot_secret("shop"), "7000000001:AAkeepitsecretkeepitsecretkeepit")
    result = await cli("bot", "remove", "shop")
    assert result.code == 0, result.err
    assert "removed bot shop" in result.err
    assert bots_in(path) == []
    assert stored("shop") is None
    assert tomllib.loads(path.read_text(encoding="utf-8"))["mail"]["address"]  # the rest stays


async def test_removing_an_unknown_bot_is_not_found(write_config):
    path = write_config()
    before = path.read_bytes()
    result = await cli("bot", "remove", "nosuch")
    assert result.code == 5
    assert "no bot named 'nosuch'" in result.err
    assert "shop" in result.err  # the hint lists the bots there are
    assert path.read_bytes() == before


async def test_removing_a_webhook_bot_deletes_its_webhook(telegram_api, hooked):
    assert (await cli("webhook", "set")).code == 0
    result = await cli("bot", "remove", "shop")
    assert result.code == 0, result.err
    assert telegram_api.webhook(hooked) is None
    assert stored("shop") is None


async def test_a_webhook_that_cannot_be_deleted_is_a_warning(telegram_api, hooked, isolated_home):
    telegram_api.revoke(hooked)
    result = await cli("bot", "remove", "shop")
    assert result.code == 0, result.err
    assert "warning: the webhook of bot 'shop' may still be registered" in result.err
    assert hooked not in result.both
    assert bots_in(isolated_home / "config.toml") == []
    assert stored("shop") is None


# -- webhooks ----------------------------------------------------------------------------------


async def test_webhook_set_registers_the_url_and_the_derived_secret(telegram_api, hooked):
    result = await cli("webhook", "set")
    assert result.code == 0, result.err
    url = f"{PUBLIC_URL}/telegram/shop"
    assert f"bot shop: webhook set to {url}" in result.err
    hook = telegram_api.webhook(hooked)
    assert hook["url"] == url
    assert hook["secret_token"] == signing.webhook_secret(SIGNING_KEY, "shop")

    again = await cli("webhook", "set", "shop")
    assert again.code == 0, again.err
    assert telegram_api.webhook(hooked) == hook
    secrets_sent = [c.params["secret_token"] for c in telegram_api.calls("setWebhook", hooked)]
    assert secrets_sent == [hook["secret_token"]] * 2
    assert hooked not in result.both + again.both


async def test_webhook_set_needs_public_url(telegram_api, write_config):
    shop_token = telegram_api.add_bot("shop_bot")
    write_config(webhook_bot(telegram_api.url, public_url=None, mode="polling"))
    secrets.put(secrets.bot_secret("shop"), shop_token)
    result = await cli("webhook", "set", "shop")
    assert result.code == 3
    assert "relay.public_url" in result.err
    assert not telegram_api.calls("setWebhook")


async def test_webhook_set_refuses_a_polling_bot(telegram_api, hooked, write_config):
    write_config(webhook_bot(telegram_api.url, mode="polling"))
    result = await cli("webhook", "set", "shop")
    assert result.code == 3
    assert 'set mode = "webhook"' in result.err
    assert telegram_api.webhook(hooked) is None


async def test_webhook_set_of_an_unknown_bot_is_not_found(hooked):
    result = await cli("webhook", "set", "nosuch")
    assert result.code == 5


async def test_webhook_set_without_the_signing_key_exits_4(telegram_api, hooked):
    secrets.delete(secrets.SIGNING_KEY)
    result = await cli("webhook", "set")
    assert result.code == 4
    assert "signing-key" in result.err
    assert not telegram_api.calls("setWebhook")


async def test_webhook_info_shows_what_is_registered(telegram_api, hooked):
    before = await cli("webhook", "info")
    assert before.code == 0, before.err
    assert before.out == "shop\t(none)\t0\n"
    assert (await cli("webhook", "set")).code == 0
    after = await cli("webhook", "info")
    assert after.out == f"shop\t{PUBLIC_URL}/telegram/shop\t0\n"
    record = json.loads((await cli("webhook", "info", "--json")).out)
    assert record == {
        "bot": "shop", "channel": "telegram", "mode": "webhook",
        "url": f"{PUBLIC_URL}/telegram/shop", "pending": 0,
        "last_error": None, "last_error_at": None,
    }  # fmt: skip


async def test_webhook_delete_clears_it(telegram_api, hooked):
    assert (await cli("webhook", "set")).code == 0
    result = await cli("webhook", "delete")
    assert result.code == 0, result.err
    assert "bot shop: webhook deleted" in result.err
    assert telegram_api.webhook(hooked) is None
    assert (await cli("webhook", "info")).out == "shop\t(none)\t0\n"
