"""The Viber REST Bot API double (im2mail/testing/viber_api.py) speaks what viberbot, the
client the Viber channel uses, sends and parses: if these shapes drift from the real API,
the channel's tests would pass against a Viber that does not exist."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import requests
from aiohttp import web
from viberbot import Api, BotConfiguration
from viberbot.api.messages import FileMessage, PictureMessage, TextMessage
from viberbot.api.viber_requests import (
    ViberConversationStartedRequest,
    ViberDeliveredRequest,
    ViberMessageRequest,
    ViberSeenRequest,
)

from im2mail.testing.viber_api import DEFAULT_EVENT_TYPES, JPEG, STATUS, ViberDouble, ViberUser
from tests.support.clock import Clock


class Receiver:
    """The test's side of the wire: a webhook that records what it gets and answers as told,
    and a file server for the media the bot sends."""

    def __init__(self) -> None:
        self.requests: list[tuple[bytes, dict[str, str]]] = []
        self.status = 200
        self.reply: Any = None  # JSON to answer with
        self.files: dict[str, bytes] = {}
        self.url = self.hook = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/viber", self._hook)
        app.router.add_get("/files/{name}", self._file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        self.hook = f"{self.url}/viber"
        return self

    async def close(self) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    def serve(self, name: str, data: bytes) -> str:
        self.files[name] = data
        return f"{self.url}/files/{name}"

    async def _hook(self, request: web.Request) -> web.Response:
        self.requests.append((await request.read(), dict(request.headers)))
        if self.reply is not None:
            return web.json_response(self.reply, status=self.status)
        return web.Response(status=self.status, text="ok")

    async def _file(self, request: web.Request) -> web.Response:
        data = self.files.get(request.match_info["name"])
        return web.Response(body=data) if data is not None else web.Response(status=404)


@pytest.fixture
def viber(viber_api: ViberDouble) -> ViberDouble:
    return viber_api


@pytest.fixture
async def relay() -> AsyncIterator[Receiver]:
    receiver = await Receiver().start()
    yield receiver
    await receiver.close()


def client(double: ViberDouble, token: str, name: str = "Друкарня") -> Api:
    """viberbot's Api pointed at the double, as the Viber channel does."""
    api = Api(BotConfiguration(name=name, avatar=None, auth_token=token))
    api._request_sender._viber_bot_api_url = double.url
    return api


async def call(fn: Any, *args: Any) -> Any:
    return await asyncio.to_thread(fn, *args)


async def send(api: Api, user_id: str, message: Any) -> int:
    return (await call(api.send_messages, user_id, [message]))[0]


async def hooked(viber: ViberDouble, relay: Receiver) -> tuple[str, Api]:
    token = viber.add_bot()
    api = client(viber, token)
    await call(api.set_webhook, relay.hook)
    relay.requests.clear()
    return token, api


ONE_MB = 1_048_576  # Viber's picture limit, as documented


def subscribed(viber: ViberDouble, token: str) -> ViberUser:
    olena = viber.customer()
    viber.subscribe(token, olena)
    return olena


def status_of(error: BaseException) -> int:
    match = re.search(r"failed with status: (\d+), message: (\w+)", str(error))
    assert match, str(error)
    assert STATUS[int(match[1])] == match[2]
    return int(match[1])


# -- ids and account --------------------------------------------------------------------------


async def test_tokens_and_ids_look_like_real_ones(viber):
    token = viber.add_bot()
    assert re.fullmatch(r"[0-9a-f]{16}-[0-9a-f]{16}-[0-9a-f]{16}", token)
    ids = {viber.customer(f"Клієнт {i}").id for i in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"[A-Za-z0-9+/]{22}==", i) for i in ids)


async def test_get_account_info_has_the_real_shape(viber, relay):
    token = viber.add_bot("Друкарня", uri="drukarnia")
    info = await call(client(viber, token).get_account_info)
    assert info["status"] == 0 and info["status_message"] == "ok"
    assert re.fullmatch(r"pa:\d{19}", info["id"])
    assert (info["name"], info["uri"], info["webhook"]) == ("Друкарня", "drukarnia", "")
    for key in ("icon", "background", "category", "subcategory", "country", "chat_hostname"):
        assert isinstance(info[key], str) and info[key]
    assert set(info["location"]) == {"lon", "lat"}
    assert info["event_types"] == list(DEFAULT_EVENT_TYPES)
    assert info["subscribers_count"] == 0
    assert [m["role"] for m in info["members"]] == ["admin"]
    assert set(info["members"][0]) == {"id", "name", "avatar", "role"}

    await call(client(viber, token).set_webhook, relay.hook)
    await viber.push_text(token, viber.customer(), "Привіт")
    info = await call(client(viber, token).get_account_info)
    assert (info["webhook"], info["subscribers_count"]) == (relay.hook, 1)


async def test_get_user_details_shape_and_its_twice_per_12_hours_limit(viber):
    token = viber.add_bot()
    olena = viber.customer("Олена", language="uk", country="UA")
    api = client(viber, token)
    user = await call(api.get_user_details, olena.id)
    assert user["id"] == olena.id and user["name"] == "Олена"
    assert (user["language"], user["country"]) == ("uk", "UA")
    for key in ("primary_device_os", "api_version", "viber_version", "mcc", "mnc", "device_type"):
        assert key in user
    await call(api.get_user_details, olena.id)
    with pytest.raises(Exception) as third:
        await call(api.get_user_details, olena.id)
    assert status_of(third.value) == 12
    with pytest.raises(Exception) as unknown:
        await call(api.get_user_details, "AAAAAAAAAAAAAAAAAAAAAA==")
    assert status_of(unknown.value) == 5


# -- set_webhook ------------------------------------------------------------------------------


async def test_set_webhook_first_posts_a_signed_webhook_callback(viber, relay):
    token = viber.add_bot()
    api = client(viber, token)
    event_types = await call(api.set_webhook, relay.hook)
    assert event_types == list(DEFAULT_EVENT_TYPES)
    [(body, headers)] = relay.requests
    assert api.verify_signature(body, headers["X-Viber-Content-Signature"])
    assert not client(viber, viber.add_bot()).verify_signature(
        body, headers["X-Viber-Content-Signature"]
    )
    check = json.loads(body)
    assert check["event"] == "webhook"
    assert isinstance(check["message_token"], int) and check["timestamp"] > 1.6e12
    assert check["chat_hostname"].startswith("SN-")
    assert api.parse_request(body).event_type == "webhook"
    assert viber.webhook(token)["url"] == relay.hook
    assert viber.calls("set_webhook")[0].body == {"url": relay.hook, "is_inline": False}


async def test_set_webhook_fails_with_invalid_url_unless_the_check_gets_200(viber, relay):
    token = viber.add_bot()
    relay.status = 500
    with pytest.raises(Exception) as failed:
        await call(client(viber, token).set_webhook, relay.hook)
    assert status_of(failed.value) == 1
    assert len(relay.requests) == 1
    assert viber.webhook(token) is None


async def test_set_webhook_takes_plain_http_only_on_loopback_and_empty_url_removes_it(viber, relay):
    token = viber.add_bot()
    api = client(viber, token)
    with pytest.raises(Exception) as refused:
        await call(api.set_webhook, "http://shop.example/viber")
    assert status_of(refused.value) == 1
    assert viber.deliveries == []

    await call(api.set_webhook, relay.hook, ["failed", "conversation_started"])
    assert viber.webhook(token)["event_types"] == ["failed", "conversation_started"]
    olena = viber.customer()
    assert (await viber.push_delivered(token, olena, 1)).error  # filtered out
    assert (await viber.push_text(token, olena, "Привіт")).status == 200  # always sent

    relay.requests.clear()
    await call(api.unset_webhook)
    assert viber.webhook(token) is None and relay.requests == []
    assert (await viber.push_text(token, olena, "Є хто?")).error == "no webhook set"


# -- send_message -----------------------------------------------------------------------------


async def test_send_text_is_recorded_with_a_19_digit_token(viber, relay):
    token, api = await hooked(viber, relay)
    olena = viber.customer()
    await viber.push_text(token, olena, "Скільки коштують візитки?")
    first = await send(
        api, olena.id, TextMessage(text="Від 300 грн за 100 шт.", tracking_data="t1")
    )
    second = await send(api, olena.id, TextMessage(text="Ще питання?"))
    assert len(str(first)) == 19 and second > first
    [sent, _] = await viber.wait_for_sent(olena.id, 2)
    assert (sent.type, sent.sender_name) == ("text", "Друкарня")
    assert sent.text == "Від 300 грн за 100 шт."
    assert (sent.message_token, sent.tracking_data, sent.welcome) == (first, "t1", False)
    [logged, _] = viber.calls("send_message")
    assert "auth_token" not in logged.body and logged.status == 0
    assert logged.response["chat_hostname"] and logged.response["billing_status"] == 1


async def test_text_longer_than_7000_characters_is_bad_data(viber):
    token = viber.add_bot()
    olena = subscribed(viber, token)
    api = client(viber, token)
    await send(api, olena.id, TextMessage(text="z" * 7000))
    with pytest.raises(Exception) as too_long:
        await send(api, olena.id, TextMessage(text="z" * 7001))
    assert status_of(too_long.value) == 3
    assert len(viber.sent_messages(olena.id)) == 1


async def test_a_request_over_30_kb_is_bad_data(viber):
    """Plain viberbot escapes each Cyrillic letter as 6 bytes of JSON: 7000 of them make a
    42 kB request, over Viber's 30 kB (im2mail's channel sends UTF-8 instead)."""
    token = viber.add_bot()
    olena = subscribed(viber, token)
    api = client(viber, token)
    with pytest.raises(Exception) as too_big:
        await send(api, olena.id, TextMessage(text="я" * 7000))
    assert status_of(too_big.value) == 3
    assert viber.sent_messages(olena.id) == []


async def test_only_subscribed_customers_can_be_messaged(viber, relay):
    token, api = await hooked(viber, relay)
    olena = viber.customer()
    with pytest.raises(Exception) as never:
        await send(api, olena.id, TextMessage(text="Вітаємо!"))
    assert str(never.value) == "failed with status: 6, message: receiverNotSubscribed"

    await viber.push_subscribed(token, olena)
    await send(api, olena.id, TextMessage(text="Дякуємо за підписку"))
    await viber.push_unsubscribed(token, olena)
    with pytest.raises(Exception) as gone:
        await send(api, olena.id, TextMessage(text="Ви тут?"))
    assert status_of(gone.value) == 6

    with pytest.raises(Exception) as stranger:
        await send(api, "AAAAAAAAAAAAAAAAAAAAAA==", TextMessage(text="Хто ви?"))
    assert status_of(stranger.value) == 5


async def test_sender_name_is_required_and_at_most_28_characters(viber):
    token = viber.add_bot()
    olena = subscribed(viber, token)
    api = client(viber, token, name="Д" * 29)
    with pytest.raises(Exception) as too_long:
        await send(api, olena.id, TextMessage(text="Привіт"))
    assert status_of(too_long.value) == 3
    async with aiohttp.ClientSession() as http:
        body = {"auth_token": token, "receiver": olena.id, "type": "text", "text": "Привіт"}
        async with http.post(f"{viber.url}/send_message", json=body) as response:
            assert (response.status, (await response.json())["status"]) == (200, 4)


async def test_picture_is_downloaded_from_the_bots_url(viber, relay):
    token = viber.add_bot()
    olena = subscribed(viber, token)
    layout = JPEG + b"layout" * 1000
    url = relay.serve("layout.jpg", layout)
    await send(client(viber, token), olena.id, PictureMessage(media=url, text="Ваш макет"))
    [sent] = viber.sent_messages(olena.id)
    assert (sent.type, sent.media, sent.text, sent.data) == ("picture", url, "Ваш макет", layout)


@pytest.mark.parametrize(
    ("name", "data", "accepted"),
    [
        ("exact.jpg", JPEG + b"\0" * (ONE_MB - len(JPEG)), True),
        ("big.jpg", JPEG + b"\0" * (ONE_MB - len(JPEG) + 1), False),
        ("plan.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 100, True),
        ("not-an-image.jpg", b"%PDF-1.4 invoice", False),
    ],
    ids=["exactly-1-MB", "1-MB-and-a-byte", "png", "pdf"],
)
async def test_picture_must_be_a_jpeg_or_png_of_at_most_1_mb(viber, relay, name, data, accepted):
    token = viber.add_bot()
    olena = subscribed(viber, token)
    message = PictureMessage(media=relay.serve(name, data))
    if accepted:
        await send(client(viber, token), olena.id, message)
        assert viber.sent_messages(olena.id)[0].data == data
    else:
        with pytest.raises(Exception) as refused:
            await send(client(viber, token), olena.id, message)
        assert status_of(refused.value) == 3
        assert viber.sent_messages() == []


async def test_files_with_forbidden_extensions_or_unreachable_media_are_bad_data(viber, relay):
    token = viber.add_bot()
    olena = subscribed(viber, token)
    api = client(viber, token)
    invoice = b"%PDF-1.4 invoice"
    url = relay.serve("invoice.pdf", invoice)
    for name in ("invoice.exe", "setup.BAT", "script.js"):
        with pytest.raises(Exception) as forbidden:
            await send(api, olena.id, FileMessage(media=url, size=len(invoice), file_name=name))
        assert status_of(forbidden.value) == 3
    with pytest.raises(Exception) as missing:
        gone = f"{relay.url}/files/gone.pdf"
        await send(api, olena.id, FileMessage(media=gone, size=10, file_name="gone.pdf"))
    assert status_of(missing.value) == 3
    await send(api, olena.id, FileMessage(media=url, size=len(invoice), file_name="invoice.pdf"))
    [sent] = viber.sent_messages(olena.id)
    assert (sent.file_name, sent.size, sent.data) == ("invoice.pdf", len(invoice), invoice)


# -- callbacks --------------------------------------------------------------------------------


async def test_pushed_messages_are_signed_and_parse_with_viberbot(viber, relay):
    token, api = await hooked(viber, relay)
    olena = viber.customer("Олена", avatar="https://media-direct.cdn.viber.com/olena.jpg")
    delivery = await viber.push_text(token, olena, "Привіт! Ціна візиток?", tracking_data="t1")
    assert (delivery.status, delivery.text) == (200, "ok")
    [(body, headers)] = relay.requests
    assert body == delivery.body and headers["Content-Type"] == "application/json"
    assert api.verify_signature(body, headers["X-Viber-Content-Signature"])
    request = api.parse_request(body)
    assert isinstance(request, ViberMessageRequest)
    assert (request.message.text, request.message.tracking_data) == ("Привіт! Ціна візиток?", "t1")
    assert request.sender.id == olena.id
    assert (request.sender.name, request.sender.language) == ("Олена", "uk")
    assert isinstance(request.message_token, int) and request.silent is False
    assert viber.is_subscribed(token, olena.id)

    photo = JPEG + b"photo"
    await viber.push_picture(token, olena, photo, caption="Ось макет")
    picture = api.parse_request(relay.requests[-1][0]).message
    assert picture.text == "Ось макет"
    async with aiohttp.ClientSession() as http, http.get(picture.media) as response:
        assert (response.status, await response.read()) == (200, photo)
    assert viber.media(picture.media).downloads == 1

    for push in (
        viber.push_video(token, olena),
        viber.push_file(token, olena, b"%PDF", "order.pdf", "application/pdf"),
        viber.push_contact(token, olena, "Олена", "+380671234567"),
        viber.push_location(token, olena),
        viber.push_sticker(token, olena),
        viber.push_url(token, olena, "https://shop.example/item/1"),
    ):
        await push
        raw, headers = relay.requests[-1]
        assert api.verify_signature(raw, headers["X-Viber-Content-Signature"])
        assert isinstance(api.parse_request(raw), ViberMessageRequest)
    kinds = [json.loads(body)["message"]["type"] for body, _ in relay.requests]
    assert kinds == ["text", "picture", "video", "file", "contact", "location", "sticker", "url"]


async def test_a_forged_callback_fails_verification(viber, relay):
    token, api = await hooked(viber, relay)
    body = b'{"event":"message"}'
    forged = await viber.push_raw(token, body, signature="0" * 64)
    honest = await viber.push_raw(token, body)
    [(_, forged_headers), (_, honest_headers)] = relay.requests
    assert not api.verify_signature(body, forged_headers["X-Viber-Content-Signature"])
    assert api.verify_signature(body, honest_headers["X-Viber-Content-Signature"])
    assert forged.signature != honest.signature


async def test_customers_media_urls_expire(viber):
    clock = Clock()
    viber.clock = clock.time
    url = viber.add_media(JPEG + b"x", "photo.jpg", "image/jpeg", ttl=0.3)
    forged = re.sub(r"Signature=\w+", "Signature=" + "0" * 64, url)
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as response:
            assert response.status == 200
            assert response.content_type == "image/jpeg"
        async with http.get(forged) as response:
            assert response.status == 403
        clock.advance(0.4)
        async with http.get(url) as response:
            assert response.status == 403
    assert viber.media(url).downloads == 1


async def test_conversation_started_answer_is_a_welcome_message(viber, relay):
    token, api = await hooked(viber, relay)
    olena = viber.customer()
    relay.reply = {"sender": {"name": "Друкарня"}, "type": "text", "text": "Вітаємо у Друкарні!"}
    delivery = await viber.push_conversation_started(token, olena, context="ad-instagram")
    assert delivery.json == relay.reply
    request = api.parse_request(delivery.body)
    assert isinstance(request, ViberConversationStartedRequest)
    assert (request.context, request.subscribed, request.type) == ("ad-instagram", False, "open")
    [welcome] = viber.sent_messages(olena.id)
    assert welcome.welcome and welcome.sender_name == "Друкарня"
    assert welcome.text == "Вітаємо у Друкарні!"
    assert not viber.is_subscribed(token, olena.id)

    relay.reply, relay.status = None, 200
    await viber.push_conversation_started(token, viber.customer("Іван"))
    assert len(viber.sent_messages()) == 1  # a plain "ok" is no welcome


async def test_auto_receipts_push_delivered_then_seen(relay):
    async with ViberDouble(auto_receipts=True, receipt_delay=0.01) as viber:
        token, api = await hooked(viber, relay)
        olena = viber.customer()
        await viber.push_text(token, olena, "Привіт")
        message_token = await send(api, olena.id, TextMessage(text="Вітаємо!"))
        await viber.wait_until(lambda: len(relay.requests) == 3)
        delivered, seen = (api.parse_request(body) for body, _ in relay.requests[1:])
        assert isinstance(delivered, ViberDeliveredRequest) and isinstance(seen, ViberSeenRequest)
        assert delivered.message_token == seen.message_token == message_token
        assert delivered.user_id == seen.user_id == olena.id
        assert delivered.timestamp <= seen.timestamp


# -- faults -----------------------------------------------------------------------------------


async def test_fail_answers_a_viber_status_then_recovers(viber):
    token = viber.add_bot()
    olena = subscribed(viber, token)
    api = client(viber, token)
    viber.fail("send_message", 12, times=2)
    for _ in range(2):
        with pytest.raises(Exception) as limited:
            await send(api, olena.id, TextMessage(text="Привіт"))
        assert str(limited.value) == "failed with status: 12, message: tooManyRequests"
    await send(api, olena.id, TextMessage(text="Привіт"))
    assert [c.status for c in viber.calls("send_message")] == [12, 12, 0]
    assert len(viber.sent_messages()) == 1


async def test_fail_http_answers_a_proxy_page(viber):
    token = viber.add_bot()
    viber.fail_http("get_account_info", 502)
    with pytest.raises(requests.HTTPError) as bad_gateway:
        await call(client(viber, token).get_account_info)
    assert bad_gateway.value.response.status_code == 502
    assert "<html>" in bad_gateway.value.response.text
    assert viber.calls("get_account_info")[0].http_status == 502
    assert (await call(client(viber, token).get_account_info))["status"] == 0


async def test_delay_makes_a_client_time_out(viber):
    viber.delay("get_account_info", 0.5)
    url, headers = f"{viber.url}/get_account_info", {"X-Viber-Auth-Token": viber.add_bot()}
    async with aiohttp.ClientSession(headers=headers) as http:  # the header works as well
        with pytest.raises(TimeoutError):
            await http.post(url, json={}, timeout=aiohttp.ClientTimeout(total=0.1))
        async with http.post(url, json={}) as response:
            assert (await response.json())["status"] == 0


async def test_revoked_token_is_an_invalid_auth_token(viber):
    token = viber.add_bot()
    api = client(viber, token)
    assert (await call(api.get_account_info))["status"] == 0
    viber.revoke(token)
    info = await call(api.get_account_info)
    assert (info["status"], info["status_message"]) == (2, "invalidAuthToken")
    stranger = client(viber, "-".join(["0" * 16] * 3))
    assert (await call(stranger.get_account_info))["status"] == 2
    with pytest.raises(requests.HTTPError) as unknown:  # a wrong URL on Viber
        await call(api._request_sender.post_request, "no_such_method", "{}")
    assert unknown.value.response.status_code == 404
