"""Transcript links: every email to the managers links to the whole conversation as a web
page served by the relay (/c/<signed id>), the page `export --format html` makes, with the
pictures and files from the relay's signed /f/ links. A late-joining manager opens it in a
browser: headless Chromium renders it here, and a customer's <script> stays text."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.relay_rig import RelayProcess, write_home
from tests.e2e.test_export_tools import chromium

pytestmark = pytest.mark.e2e

CARD = (Path(__file__).parents[2] / "im2mail" / "testing" / "card.jpg").read_bytes()
HOSTILE = "<script>document.title='PWNED'</script><img src=x onerror=\"document.title='PWNED'\">"


@pytest.fixture
async def chat(isolated_home, telegram_api, smtp_server):
    """A public relay (webhook mode) and a customer who wrote three times: a question, a
    picture, and something hostile. Yields (the transcript link, the relay's address)."""
    token = telegram_api.add_bot("shop_bot", "Shop")
    port = write_home(isolated_home, api_url=telegram_api.url, token=token,
                      smtp_port=smtp_server.port, mode="webhook", greeting=None)  # fmt: skip
    process = RelayProcess(isolated_home, port)
    try:
        await process.wait_healthy()
        olena = telegram_api.customer("Олена", "Петренко")
        await telegram_api.push_text(token, olena, "Скільки коштують 200 візиток?")
        await telegram_api.push_photo(token, olena, data=CARD, caption="Ось макет")
        await telegram_api.push_text(token, olena, HOSTILE + " ще питання про банер")
        await smtp_server.wait_for(3, timeout=10)
        links = [_transcript_link(m.message) for m in smtp_server.messages]  # every email
        yield links[0], f"http://127.0.0.1:{port}"  # the first email's link shows it all
    finally:
        process.kill()


def _transcript_link(email) -> str:
    plain = email.get_body(("plain",)).get_content()
    (link,) = re.findall(r"The whole conversation: (\S+)", plain)
    assert f'href="{link}"' in email.get_body(("html",)).get_content()
    return link


async def test_the_link_in_the_email_opens_the_whole_conversation(chat):
    link, _ = chat
    async with aiohttp.ClientSession() as http:
        async with http.get(link) as r:
            assert r.status == 200
            assert r.content_type == "text/html"
            assert "script-src" not in r.headers["Content-Security-Policy"]  # none at all
            assert r.headers["Referrer-Policy"] == "no-referrer"
            page = await r.text()
        assert "Скільки коштують 200 візиток?" in page
        assert "ще питання про банер" in page
        assert "<script>" not in page and "&lt;script&gt;" in page
        assert page.count('class="msg customer"') == 3
        (picture,) = re.findall(r'<img src="(\.\./f/[^"]+)"', page)
        async with http.get(f"{link}/../{picture}") as r:  # as the browser resolves it
            assert r.status == 200 and await r.read() == CARD


async def test_a_tampered_or_foreign_token_is_not_found(chat):
    link, relay = chat
    token = link.rsplit("/", 1)[1]
    async with aiohttp.ClientSession() as http:
        for bad in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "x", "A" * 2000):
            async with http.get(f"{relay}/c/{bad}") as r:
                assert r.status == 404
        async with http.get(f"{relay}/f/{token}") as r:  # a transcript token is no file token
            assert r.status == 404


async def test_chromium_renders_the_transcript_with_its_picture(chat, tmp_path):
    link, _ = chat
    shot = tmp_path / "transcript.png"
    done = chromium(f"--screenshot={shot}", "--window-size=900,900", link, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    png = shot.read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000  # a page, not a blank
    dom = chromium("--dump-dom", "--virtual-time-budget=2000", link, cwd=tmp_path).stdout
    assert "PWNED" not in dom.split("</title>")[0]  # no script ran
    assert dom.count('class="msg customer"') == 3
    assert "Олена Петренко" in dom
