"""The WhatsApp Cloud API double (im2mail/testing/whatsapp_api.py) answers in the shapes of
Meta's reference, checked here with a plain HTTP client: if they drift from the real API,
the channel's tests would pass against a WhatsApp that does not exist."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from im2mail.channels.graph import verify_signature
from im2mail.testing.whatsapp_api import JPEG, WebhookRefused, WhatsAppDouble


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_the_24_hour_refusal_has_metas_exact_shape(whatsapp_api, http):
    shop = whatsapp_api.add_number()
    olena = whatsapp_api.customer()
    payload = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": olena.wa_id,
        "type": "text",
        "text": {"body": "Доброго дня"},
    }
    url = f"{whatsapp_api.url}/{shop.phone_number_id}/messages"
    async with http.post(url, json=payload, headers=bearer(shop.token)) as response:
        assert response.status == 400
        error = (await response.json())["error"]
    assert error["message"] == "(#131047) Re-engagement message"
    assert (error["type"], error["code"]) == ("OAuthException", 131047)
    assert error["error_data"] == {
        "messaging_product": "whatsapp",
        "details": "Message failed to send because more than 24 hours have passed since the "
        "customer last replied to this number.",
    }
    assert error["fbtrace_id"]
    whatsapp_api.open_window(shop, olena)
    async with http.post(url, json=payload, headers=bearer(shop.token)) as response:
        answer = await response.json()
    assert answer["messaging_product"] == "whatsapp"
    assert answer["contacts"] == [{"input": olena.wa_id, "wa_id": olena.wa_id}]
    assert answer["messages"][0]["id"].startswith("wamid.")


async def test_a_bad_token_is_401_with_code_190(whatsapp_api, http):
    shop = whatsapp_api.add_number()
    url = f"{whatsapp_api.url}/{shop.phone_number_id}"
    async with http.get(url, headers=bearer("EAAGnonsense")) as response:
        assert response.status == 401
        assert (await response.json())["error"]["code"] == 190
    async with http.get(url) as response:
        assert response.status == 401


async def test_an_unknown_id_is_code_100(whatsapp_api, http):
    shop = whatsapp_api.add_number()
    async with http.get(f"{whatsapp_api.url}/123", headers=bearer(shop.token)) as response:
        error = (await response.json())["error"]
    assert response.status == 400 and (error["code"], error["error_subcode"]) == (100, 33)


async def test_the_number_answers_the_fields_asked_for(whatsapp_api, http):
    shop = whatsapp_api.add_number("Аркуш", "+380 44 123 4567")
    url = f"{whatsapp_api.url}/{shop.phone_number_id}?fields=verified_name,display_phone_number"
    async with http.get(url, headers=bearer(shop.token)) as response:
        assert await response.json() == {
            "verified_name": "Аркуш",
            "id": shop.phone_number_id,
            "display_phone_number": "+380 44 123 4567",
        }


async def test_upload_then_media_url_then_download_with_the_token(whatsapp_api, http):
    shop = whatsapp_api.add_number()
    form = aiohttp.FormData()
    form.add_field("messaging_product", "whatsapp")
    form.add_field("type", "image/jpeg")
    form.add_field("file", JPEG, filename="a.jpg", content_type="image/jpeg")
    url = f"{whatsapp_api.url}/{shop.phone_number_id}/media"
    async with http.post(url, data=form, headers=bearer(shop.token)) as response:
        assert set(await response.json()) == {"id"}
    media_id = whatsapp_api.add_media(shop, b"customer's file", "application/pdf")
    async with http.get(f"{whatsapp_api.url}/{media_id}", headers=bearer(shop.token)) as r:
        info = await r.json()
    assert set(info) == {"url", "mime_type", "sha256", "file_size", "id", "messaging_product"}
    assert (info["file_size"], info["mime_type"]) == (15, "application/pdf")
    async with http.get(info["url"]) as response:
        assert response.status == 401  # the URL wants the token too
    async with http.get(info["url"], headers=bearer(shop.token)) as response:
        assert await response.read() == b"customer's file"


async def test_webhooks_are_signed_with_the_app_secret_after_the_check(whatsapp_api):
    got: list[tuple[bytes, dict]] = []

    async def check(request: web.Request) -> web.Response:
        assert request.query["hub.mode"] == "subscribe"
        if request.query["hub.verify_token"] != "vt":
            return web.Response(status=403)
        return web.Response(text=request.query["hub.challenge"])

    async def post(request: web.Request) -> web.Response:
        got.append((await request.read(), dict(request.headers)))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/hook", check)
    app.router.add_post("/hook", post)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    shop = whatsapp_api.add_number()
    try:
        with pytest.raises(WebhookRefused):
            await whatsapp_api.set_webhook(shop, f"http://{host}:{port}/hook", "wrong")
        assert (await whatsapp_api.push_text(shop, whatsapp_api.customer(), "x")).error
        await whatsapp_api.set_webhook(shop, f"http://{host}:{port}/hook", "vt")
        delivery = await whatsapp_api.push_text(shop, whatsapp_api.customer(), "Привіт")
    finally:
        await runner.cleanup()
    assert delivery.ok
    (body, headers) = got[0]
    assert verify_signature(shop.app_secret, headers, body)
    assert b"\\u041f" in body  # non-ASCII escaped, as Meta sends it
    value = delivery.sent["entry"][0]["changes"][0]["value"]
    assert value["metadata"]["phone_number_id"] == shop.phone_number_id


async def test_a_double_on_its_own():
    async with WhatsAppDouble() as double:
        assert double.url.endswith("/v21.0")
