"""`im2mail widget`: the real CLI in a subprocess, asking the Telegram and Viber API
doubles who the bots are; the QR codes it writes are read back with zbarimg (Debian's
zbar-tools), and the tag in them is what the channel parsers record as the lead source.

The doubles run in the test's event loop, so the CLI runs in a thread (`cli`).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from im2mail import secrets
from im2mail.channels.telegram.channel import parse_update
from im2mail.channels.viber.parse import parse_callback
from tests.conftest import VALID_CONFIG, Result, run_installed

pytestmark = pytest.mark.e2e

NO_BOTS = VALID_CONFIG.split("[[bots]]")[0]
TELEGRAM_LINK = "https://t.me/shop_bot?start=flyer-may"
VIBER_LINK = "viber://pa?chatURI=arkush_print&context=flyer-may"


async def cli(*args: str) -> Result:
    return await asyncio.to_thread(run_installed, *args)


@pytest.fixture
def two_bots(telegram_api, viber_api, write_config):
    """A Telegram bot 'shop' (@shop_bot) and a Viber bot 'vshop' (uri arkush_print) on the
    doubles, with their tokens stored."""
    tg_token = telegram_api.add_bot("shop_bot", "Друкарня")
    viber_token = viber_api.add_bot("Друкарня «Аркуш»", "arkush_print")
    write_config(
        NO_BOTS
        + f'[[bots]]\nname = "shop"\nchannel = "telegram"\napi_url = "{telegram_api.url}"\n'
        + f'[[bots]]\nname = "vshop"\nchannel = "viber"\napi_url = "{viber_api.url}"\n'
    )
    secrets.put(secrets.bot_secret("shop"), tg_token)
    secrets.put(secrets.bot_secret("vshop"), viber_token)


def decoded(png: Path) -> str:
    zbarimg = shutil.which("zbarimg")
    if zbarimg is None:
        pytest.skip("zbarimg is not installed (Debian: apt-get install zbar-tools)")
    done = subprocess.run(
        [zbarimg, "--raw", "-q", str(png)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


async def test_widget_writes_links_and_qr_codes_that_scan_to_them(two_bots, tmp_path):
    out = tmp_path / "flyer"
    result = await cli("widget", "--source", "flyer-may", "-o", str(out))
    assert result.code == 0, result.err
    assert result.out == ""
    assert f"shop: {TELEGRAM_LINK}" in result.err
    assert f"vshop: {VIBER_LINK}" in result.err
    assert "lead source 'flyer-may'" in result.err
    names = ["preview.html", "shop.png", "shop.svg", "vshop.png", "vshop.svg", "widget.html"]
    assert sorted(p.name for p in out.iterdir()) == names
    assert decoded(out / "shop.png") == TELEGRAM_LINK
    assert decoded(out / "vshop.png") == VIBER_LINK
    html = (out / "widget.html").read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    assert 'href="https://t.me/shop_bot?start=flyer-may"' in html
    assert 'href="viber://pa?chatURI=arkush_print&amp;context=flyer-may"' in html
    assert "Друкарня «Аркуш»" in html

    # The tag in the links is what the relay records as the customer's lead source.
    payload = parse_qs(urlsplit(TELEGRAM_LINK).query)["start"][0]
    start = f"/start {payload}"
    chat = {"id": 501, "first_name": "Олена", "type": "private"}
    update = {"update_id": 1, "message": {
        "message_id": 1, "from": {"id": 501, "is_bot": False, "first_name": "Олена"},
        "chat": chat, "date": 1763900000, "text": start,
        "entities": [{"offset": 0, "length": 6, "type": "bot_command"}]}}  # fmt: skip
    (incoming,) = parse_update("shop", update)
    assert (incoming.start, incoming.customer.source) == (True, "flyer-may")
    context = parse_qs(urlsplit(VIBER_LINK).query)["context"][0]
    started = {"event": "conversation_started", "timestamp": 1763900000123,
               "message_token": 57, "type": "open", "context": context,
               "user": {"id": "01234567890A=", "name": "Олена"}, "subscribed": False}  # fmt: skip
    (incoming,) = parse_callback("vshop", started)
    assert incoming.customer.source == "flyer-may"


async def test_print_puts_the_snippet_on_stdout_and_bot_picks_one(two_bots, tmp_path):
    out = tmp_path / "w"
    result = await cli("widget", "--bot", "vshop", "-o", str(out), "--print")
    assert result.code == 0, result.err
    assert result.out == (out / "widget.html").read_text(encoding="utf-8")
    assert "context=site" in result.out and "t.me" not in result.out
    assert sorted(p.name for p in out.iterdir()) == [
        "preview.html", "vshop.png", "vshop.svg", "widget.html",
    ]  # fmt: skip


async def test_an_existing_widget_is_kept_without_force(two_bots, tmp_path):
    out = tmp_path / "w"
    assert (await cli("widget", "-o", str(out))).code == 0
    before = (out / "shop.png").read_bytes()
    again = await cli("widget", "--source", "other", "-o", str(out))
    assert again.code == 2
    assert "not overwriting" in again.err and "--force" in again.err
    assert (out / "shop.png").read_bytes() == before
    forced = await cli("widget", "--source", "other", "-o", str(out), "--force")
    assert forced.code == 0, forced.err
    assert decoded(out / "shop.png") == "https://t.me/shop_bot?start=other"


async def test_an_unknown_bot_is_not_found(two_bots, tmp_path):
    result = await cli("widget", "--bot", "nope", "-o", str(tmp_path / "w"))
    assert result.code == 5
    assert "no bot named 'nope'" in result.err
    assert "shop, vshop" in result.err
    assert not (tmp_path / "w").exists()


async def test_a_bad_source_tag_is_a_usage_error(two_bots, tmp_path):
    result = await cli("widget", "--source", "флаєр травень", "-o", str(tmp_path / "w"))
    assert result.code == 2
    assert "lead source tag" in result.err
    assert "Traceback" not in result.err
    assert not (tmp_path / "w").exists()
