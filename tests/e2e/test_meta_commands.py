"""`im2mail bot add messenger|whatsapp` and `webhook set` for them, the real CLI in a
subprocess against the Graph API doubles (`--api-url`). The doubles run in the test's
event loop, so the CLI runs in a thread."""

from __future__ import annotations

import asyncio
import json
import tomllib

import pytest

from im2mail import secrets, signing
from tests.conftest import VALID_CONFIG, Result, run_installed

pytestmark = pytest.mark.e2e

NO_BOTS = VALID_CONFIG.split("[[bots]]")[0]


async def cli(*args: str, stdin: str | None = None) -> Result:
    return await asyncio.to_thread(run_installed, *args, stdin=stdin)


def bots_in(path) -> list[dict]:
    return tomllib.loads(path.read_text(encoding="utf-8")).get("bots", [])


async def test_a_messenger_page_is_checked_then_kept_with_its_app_secret(
    write_config, messenger_api
):
    path = write_config(NO_BOTS)
    page = messenger_api.add_page("Друкарня «Аркуш»", "arkush.print")

    added = await cli("bot", "add", "messenger", "fb", "--token-stdin", "--api-url",
                      messenger_api.url, stdin=f"{page.token}\n{page.app_secret}\n")  # fmt: skip

    assert added.code == 0, added.both
    assert "added bot fb (Друкарня «Аркуш», Messenger)" in added.err
    assert "im2mail webhook set fb" in added.err
    assert bots_in(path) == [{"name": "fb", "channel": "messenger", "api_url": messenger_api.url}]
    assert json.loads(secrets.get("bot:fb")) == {"token": page.token,
                                                 "app_secret": page.app_secret}  # fmt: skip
    assert page.token not in added.both and page.app_secret not in added.both

    secrets.put(secrets.SIGNING_KEY, "7f" * 32)
    shown = await cli("webhook", "set", "fb")
    assert shown.code == 0, shown.both
    assert "Callback URL:  https://bot.shop.example/messenger/fb" in shown.out
    assert f"Verify token:  {signing.webhook_secret('7f' * 32, 'fb')}" in shown.out
    assert "Messenger → Settings → Webhooks" in shown.err
    assert messenger_api.calls("me/subscribed_apps", "POST")  # the Page sends us its events


async def test_a_revoked_page_token_saves_nothing(write_config, messenger_api):
    path = write_config(NO_BOTS)
    page = messenger_api.add_page()
    messenger_api.revoke(page.token)

    refused = await cli("bot", "add", "messenger", "fb", "--token-stdin", "--api-url",
                        messenger_api.url, stdin=f"{page.token}\n{page.app_secret}\n")  # fmt: skip

    assert refused.code == 1 and "nothing was saved" in refused.err
    assert bots_in(path) == []
    with pytest.raises(secrets.SecretError):
        secrets.get("bot:fb")


async def test_a_whatsapp_number_needs_its_id_and_an_app_secret(write_config, whatsapp_api):
    path = write_config(NO_BOTS)
    number = whatsapp_api.add_number("Друкарня «Аркуш»", "+380 44 123 4567")
    args = ("bot", "add", "whatsapp", "wa", "--token-stdin", "--api-url", whatsapp_api.url)

    no_id = await cli(*args, stdin=f"{number.token}\n{number.app_secret}\n")
    no_secret = await cli(*args, "--phone-number-id", number.phone_number_id,
                          stdin=f"{number.token}\n")  # fmt: skip
    added = await cli(*args, "--phone-number-id", number.phone_number_id,
                      stdin=f"{number.token}\n{number.app_secret}\n")  # fmt: skip

    assert no_id.code == 2 and "--phone-number-id" in no_id.err
    assert no_secret.code == 2 and "no app secret" in no_secret.err
    assert added.code == 0, added.both
    assert "added bot wa (Друкарня «Аркуш», WhatsApp)" in added.err
    assert bots_in(path) == [{"name": "wa", "channel": "whatsapp", "api_url": whatsapp_api.url,
                              "phone_number_id": number.phone_number_id}]  # fmt: skip
    secrets.put(secrets.SIGNING_KEY, "7f" * 32)
    listed = await cli("webhook", "info")
    verify = signing.webhook_secret("7f" * 32, "wa")
    assert (f"wa\t(in Meta's dashboard) callback URL https://bot.shop.example/whatsapp/wa, "
            f"verify token {verify}") in listed.out  # fmt: skip
