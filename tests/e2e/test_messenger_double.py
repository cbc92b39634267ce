"""The Messenger double (im2mail/testing/messenger_api.py) speaks Meta's shapes: plain HTTP
against it, without the channel, so that a drift in the double can't hide behind the
channel's own code."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from im2mail.channels import graph
from im2mail.testing.messenger_api import MessengerDouble, WebhookNotVerified


@pytest.fixture
def double(messenger_api: MessengerDouble) -> MessengerDouble:
    return messenger_api


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class Hook:
    def __init__(self, verify: str = "vt") -> None:
        self.verify = verify
        self.posts: list[tuple[bytes, dict]] = []

    async def handle(self, request: web.Request) -> web.Response:
        if request.method == "GET":
            challenge = graph.handshake(request.query, self.verify)
            return web.Response(text=challenge) if challenge else web.Response(status=403)
        self.posts.append((await request.read(), dict(request.headers)))
        return web.Response(text="EVENT_RECEIVED")


@pytest.fixture
async def hook() -> AsyncIterator[tuple[Hook, str]]:
    receiver = Hook()
    app = web.Application()
    app.router.add_route("*", "/hook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    yield receiver, f"http://{host}:{port}/hook"
    await runner.cleanup()


async def send(http, double, token: str, payload: dict) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"}
    async with http.post(f"{double.url}/me/messages", json=payload, headers=headers) as r:
        return r.status, await r.json()


def text_to(user_id: str, text: str, kind: str = "RESPONSE", **extra) -> dict:
    return {
        "recipient": {"id": user_id},
        "messaging_type": kind,
        "message": {"text": text},
        **extra,
    }


async def test_errors_have_graphs_shape(double, http):
    page = double.add_page()
    status, answer = await send(http, double, "EAAGnot-a-token", text_to("1", "x"))
    assert status == 400 and set(answer) == {"error"}
    error = answer["error"]
    assert (error["code"], error["type"]) == (190, "OAuthException")
    assert isinstance(error["fbtrace_id"], str) and "error_subcode" not in error
    status, answer = await send(http, double, page.token, text_to("123", "x"))
    assert (answer["error"]["code"], answer["error"]["error_subcode"]) == (100, 2018001)


async def test_the_window_and_the_human_agent_tag(double, http):
    page = double.add_page()
    olena = double.customer()
    double.subscribe(page.token)
    await double.push_text(page.token, olena, "Привіт")  # no callback URL: not delivered
    status, answer = await send(http, double, page.token, text_to(olena.id, "Добрий день"))
    assert status == 200 and answer["recipient_id"] == olena.id
    assert answer["message_id"].startswith("m_")
    double.age(page.token, olena, hours=24.1)
    status, answer = await send(http, double, page.token, text_to(olena.id, "x"))
    assert answer == {
        "error": {
            **answer["error"],
            "code": 10,
            "error_subcode": 2018278,
            "message": "(#10) This message is sent outside of allowed window.",
            "type": "OAuthException",
        }
    }
    tagged = text_to(olena.id, "x", "MESSAGE_TAG", tag="HUMAN_AGENT")
    assert (await send(http, double, page.token, tagged))[0] == 200
    double.age(page.token, olena, hours=24 * 6)
    assert (await send(http, double, page.token, tagged))[1]["error"]["code"] == 10
    wrong_tag = text_to(olena.id, "x", "MESSAGE_TAG", tag="SHIPPING_UPDATE")
    assert (await send(http, double, page.token, wrong_tag))[1]["error"]["code"] == 100
    assert [s.tag for s in double.sent_messages()] == [None, "HUMAN_AGENT"]


async def test_content_rules(double, http):
    page = double.add_page()
    olena = double.customer()
    await double.push_text(page.token, olena, "Привіт")
    assert (await send(http, double, page.token, text_to(olena.id, "я" * 2000)))[0] == 200
    status, answer = await send(http, double, page.token, text_to(olena.id, "я" * 2001))
    assert status == 400 and "2000" in answer["error"]["message"]
    both = text_to(olena.id, "x")
    both["message"]["attachment"] = {"type": "image", "payload": {"url": "https://x/y.jpg"}}
    assert (await send(http, double, page.token, both))[1]["error"]["code"] == 100
    no_type = {"recipient": {"id": olena.id}, "message": {"text": "x"}}
    assert (await send(http, double, page.token, no_type))[1]["error"]["code"] == 100


async def test_a_form_with_access_token_and_the_profile(double, http):
    page = double.add_page()
    olena = double.customer("Олена", "Коваль")
    await double.push_text(page.token, olena, "Привіт")
    form = {
        "recipient": json.dumps({"id": olena.id}),
        "messaging_type": "RESPONSE",
        "message": json.dumps({"text": "Вітаю"}),
        "access_token": page.token,
    }
    async with http.post(f"{double.url}/{page.id}/messages", data=form) as r:
        assert r.status == 200
    assert double.sent_messages(olena.id)[0].text == "Вітаю"
    query = {"fields": "first_name,last_name", "access_token": page.token}
    async with http.get(f"{double.url}/{olena.id}", params=query) as r:
        assert await r.json() == {"first_name": "Олена", "last_name": "Коваль", "id": olena.id}
    async with http.get(f"{double.url}/me/feed", params=query) as r:
        assert (r.status, (await r.json())["error"]["code"]) == (400, 2500)


async def test_the_dashboard_check_signed_posts_and_subscriptions(double, http, hook):
    receiver, url = hook
    page = double.add_page()
    with pytest.raises(WebhookNotVerified):
        await double.configure_webhook(page.token, url, "wrong")
    await double.configure_webhook(page.token, url, "vt")
    olena = double.customer()
    assert (await double.push_text(page.token, olena, "x")).error.startswith("the Page is not")
    headers = {"Authorization": f"Bearer {page.token}"}
    fields = {"subscribed_fields": "messages,bogus"}
    async with http.post(f"{double.url}/me/subscribed_apps", json=fields, headers=headers) as r:
        assert r.status == 400
    fields = {"subscribed_fields": "messages,message_deliveries"}
    async with http.post(f"{double.url}/me/subscribed_apps", json=fields, headers=headers) as r:
        assert await r.json() == {"success": True}
    delivery = await double.push_text(page.token, olena, "Ціна / термін?")
    assert delivery.ok
    [(body, got)] = receiver.posts
    assert graph.verify_signature(page.app_secret, got, body)
    assert got["X-Hub-Signature"].startswith("sha1=")
    assert b"\\/" in body and b"\\u0426" in body  # escaped as Meta does
    entry = json.loads(body)["entry"][0]
    assert (entry["id"], entry["messaging"][0]["recipient"]["id"]) == (page.id, page.id)
    assert (await double.push_read(page.token, olena)).error  # message_reads not subscribed


async def test_cdn_links_expire(double, http):
    url = double.add_media(b"data", "a.jpg", "image/jpeg", ttl=60)
    async with http.get(url) as r:
        assert (r.status, await r.read()) == (200, b"data")
    async with http.get(url.replace("oh=00_", "oh=01_")) as r:
        assert r.status == 403
    expired = double.add_media(b"data", "b.jpg", "image/jpeg", ttl=-1)
    async with http.get(expired) as r:
        assert r.status == 403
