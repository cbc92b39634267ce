"""The real Viber channel (viberbot underneath, its requests redirected) against the Viber
REST API double, with a tiny file server standing in for the relay's public /f/ links and a
tiny webhook standing in for the relay's /viber/<bot> route."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from im2mail.channels import (
    AuthFailed,
    Blocked,
    ChannelError,
    FileTooBig,
    Rejected,
    RetryLater,
)
from im2mail.channels.viber.channel import Viber
from im2mail.model import IncomingFile
from im2mail.testing.streams import Stream
from im2mail.testing.viber_api import JPEG, MP4, PNG, ViberDouble
from tests.support.sinks import Collected, fetched

pytestmark = pytest.mark.e2e

SENTENCE = "Друк займе два робочі дні, після чого передамо замовлення на Нову пошту. "


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def viber_token(viber_api: ViberDouble) -> str:
    return viber_api.add_bot("Друкарня «Аркуш» — поліграфія та друк", "arkush_print",
                             avatar="https://shop.example/logo.jpg")  # fmt: skip


class Links:
    """The relay's file links, in small: stores bytes, serves them at a loopback URL."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[str, bytes]] = {}
        self.asked: list[tuple[str, str, int]] = []
        self.base = ""

    def __call__(self, filename: str, mime: str, data: bytes) -> str:
        self.asked.append((filename, mime, len(data)))
        key = secrets.token_urlsafe(8)
        self.files[key] = (mime, data)
        return f"{self.base}/f/{key}/{filename}"

    async def serve(self, request: web.Request) -> web.Response:
        mime, data = self.files[request.match_info["key"]]
        return web.Response(body=data, content_type=mime)


async def loopback(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


@pytest.fixture
async def links() -> AsyncIterator[Links]:
    links = Links()
    app = web.Application()
    app.router.add_get("/f/{key}/{name}", links.serve)
    runner, links.base = await loopback(app)
    yield links
    await runner.cleanup()


@pytest.fixture
async def channel(viber_api, viber_token, links) -> AsyncIterator[Viber]:
    async with Viber("shop", viber_token, viber_api.url, timeout=2, links=links) as started:
        yield started


@pytest.fixture
def olena(viber_api, viber_token):
    user = viber_api.customer("Олена Коваль")
    viber_api.subscribe(viber_token, user)
    return user


# -- identity and the token ------------------------------------------------------------------


async def test_start_reads_the_account_and_get_me_reports_it(viber_api, viber_token, channel):
    me = await channel.get_me()
    assert me.name == "Друкарня «Аркуш» — поліграфія та друк"
    assert me.username == "arkush_print"
    assert me.id.startswith("pa:") and me.avatar == "https://shop.example/logo.jpg"
    assert {c.method for c in viber_api.calls(token=viber_token)} == {"get_account_info"}


async def test_the_sender_name_is_the_account_name_shortened(channel, viber_api, olena):
    await channel.send_text(olena.id, "Доброго дня!")
    (sent,) = viber_api.sent_messages(olena.id)
    assert sent.sender_name == "Друкарня «Аркуш»"  # 28 at most, cut at a word
    assert sent.sender_avatar == "https://shop.example/logo.jpg"


async def test_a_blocked_bot_account_is_auth_failed_not_the_customers_fault(
    viber_api, channel, olena
):
    viber_api.fail("send_message", 7)
    with pytest.raises(AuthFailed) as caught:
        await channel.send_text(olena.id, "Доброго дня")
    assert caught.value.reason == "Viber refused the message: publicAccountBlocked (7)"
    assert not isinstance(caught.value, Blocked)


async def test_debug_logging_never_shows_the_token(channel, viber_api, viber_token, olena, caplog):
    caplog.set_level(logging.DEBUG)
    await channel.send_text(olena.id, "Доброго дня")
    viber_api.fail("send_message", 3)
    with pytest.raises(Rejected):
        await channel.send_text(olena.id, "ще раз")
    assert len(viber_api.sent_messages(olena.id)) == 1
    assert viber_token not in caplog.text


# -- sending ---------------------------------------------------------------------------------


async def test_long_text_goes_as_two_messages_cut_at_a_paragraph(channel, viber_api, olena):
    paragraph = (SENTENCE * 45).strip()  # about 3300 characters
    text = "\n\n".join(f"{i}. {paragraph}" for i in range(1, 4))  # about 9900
    ids = await channel.send_text(olena.id, text)
    sent = viber_api.sent_messages(olena.id)
    assert len(viber_api.calls("send_message")) == 2
    assert [s.type for s in sent] == ["text", "text"]
    assert [str(s.message_token) for s in sent] == ids
    assert sent[0].text == f"1. {paragraph}\n\n2. {paragraph}"
    assert sent[1].text == f"3. {paragraph}"


async def test_a_picture_goes_by_link_and_viber_gets_the_same_bytes(
    channel, viber_api, olena, links
):
    picture = JPEG + bytes(range(256)) * 40
    ids = await channel.send_files(olena.id, [("макет.jpg", "image/jpeg", picture)], "Ось макет")
    (sent,) = viber_api.sent_messages(olena.id)
    assert (sent.type, sent.text, sent.data) == ("picture", "Ось макет", picture)
    assert sent.media.startswith(links.base + "/f/")
    assert links.asked == [("макет.jpg", "image/jpeg", len(picture))]
    assert ids == [str(sent.message_token)]


async def test_a_document_and_a_video_go_as_file_and_video(channel, viber_api, olena):
    pdf = b"%PDF-1.7\n" + "Рахунок".encode() * 500
    video = MP4 + b"\x00" * 5000
    text = "Рахунок і відео з друку"
    ids = await channel.send_files(
        olena.id, [("Рахунок №12.pdf", "application/pdf", pdf), ("друк.mp4", "video/mp4", video)],
        text,
    )  # fmt: skip
    sent = viber_api.sent_messages(olena.id)
    assert [s.type for s in sent] == ["text", "file", "video"] and len(ids) == 3
    assert sent[0].text == text
    assert (sent[1].file_name, sent[1].size, sent[1].data) == ("Рахунок №12.pdf", len(pdf), pdf)
    assert (sent[2].size, sent[2].data) == (len(video), video)


async def test_a_big_png_goes_as_a_file(channel, viber_api, olena):
    big = PNG + b"\x00" * (1536 * 1024)
    await channel.send_files(olena.id, [("схема.png", "image/png", big)])
    (sent,) = viber_api.sent_messages(olena.id)
    assert (sent.type, sent.file_name, sent.data) == ("file", "схема.png", big)


async def test_a_forbidden_file_fails_the_whole_answer_before_anything_goes(
    channel, viber_api, olena
):
    files = [("макет.jpg", "image/jpeg", JPEG), ("setup.exe", "application/x-msdownload", b"MZ")]
    with pytest.raises(Rejected) as caught:
        await channel.send_files(olena.id, files, "Ось файли")
    assert caught.value.reason == "Viber does not accept .exe files: setup.exe"
    assert caught.value.sent == ()
    assert viber_api.calls("send_message") == []


async def test_files_without_links_are_rejected_naming_public_url(viber_api, viber_token, olena):
    async with Viber("shop", viber_token, viber_api.url, timeout=2) as channel:
        with pytest.raises(Rejected) as caught:
            await channel.send_files(olena.id, [("макет.jpg", "image/jpeg", JPEG)])
    assert "relay.public_url" in caught.value.message
    assert viber_api.calls("send_message") == []


# -- errors ----------------------------------------------------------------------------------


async def test_an_unsubscribed_customer_is_blocked(channel, viber_api):
    stranger = viber_api.customer("Петро")
    with pytest.raises(Blocked) as caught:
        await channel.send_text(stranger.id, "Доброго дня")
    assert caught.value.reason == "Viber refused the message: receiverNotSubscribed (6)"
    assert stranger.id in caught.value.message


@pytest.mark.parametrize(("status", "name", "error"), [
    (5, "receiverNotRegistered", Blocked),
    (6, "receiverNotSubscribed", Blocked),
    (2, "invalidAuthToken", AuthFailed),
    (9, "publicAccountSuspended", AuthFailed),
    (10, "webhookNotSet", RetryLater),
    (12, "tooManyRequests", RetryLater),
    (3, "badData", Rejected),
    (11, "receiverNoSuitableDevice", Rejected),
    (24, "noBalance", Rejected),
    (99, "generalError", Rejected),
])  # fmt: skip
async def test_each_viber_status_is_the_error_the_relay_acts_on(
    channel, viber_api, olena, status, name, error
):
    viber_api.fail("send_message", status)
    with pytest.raises(ChannelError) as caught:
        await channel.send_text(olena.id, "Доброго дня")
    assert type(caught.value) is error
    assert caught.value.reason == f"Viber refused the message: {name} ({status})"
    assert viber_api.sent_messages(olena.id) == []


async def test_a_wrong_api_url_is_refused_not_retried(viber_api, viber_token):
    channel = Viber("shop", viber_token, viber_api.base_url + "/api", timeout=2)
    with pytest.raises(Rejected) as caught:
        await channel.start()
    await channel.stop()
    assert "HTTP 404" in caught.value.message


async def test_a_failure_midway_reports_what_was_already_sent(viber_api, viber_token, olena, links):
    def unsubscribe_then_link(filename: str, mime: str, data: bytes) -> str:
        viber_api.fail("send_message", 6)  # the customer leaves while the file is prepared
        return links(filename, mime, data)

    text, pdf = "Рахунок у вкладенні", ("Рахунок.pdf", "application/pdf", b"%PDF")
    async with Viber("shop", viber_token, viber_api.url, links=unsubscribe_then_link) as channel:
        with pytest.raises(Blocked) as caught:
            await channel.send_files(olena.id, [pdf], text)
    (sent,) = viber_api.sent_messages(olena.id)
    assert sent.text == text
    assert caught.value.sent == (str(sent.message_token),)


async def test_a_bad_gateway_is_retry_later(channel, viber_api, olena):
    viber_api.fail_http("send_message", 502)
    with pytest.raises(RetryLater) as caught:
        await channel.send_text(olena.id, "Доброго дня")
    assert "502" in caught.value.message
    assert viber_api.sent_messages(olena.id) == []


async def test_viber_taking_too_long_is_retry_later_within_the_timeout(
    viber_api, viber_token, olena
):
    async with Viber("shop", viber_token, viber_api.url, timeout=0.5) as channel:
        viber_api.delay("send_message", 3)
        started = time.monotonic()
        with pytest.raises(RetryLater) as caught:
            await channel.send_text(olena.id, "Доброго дня")
        assert time.monotonic() - started < 2
    assert "did not answer" in caught.value.message


async def test_nothing_listening_is_retry_later():
    channel = Viber("shop", "4453b6ac12345678-e02c5f12174805f9-daec9cbb5448c51f",
                    "http://127.0.0.1:9/pa", timeout=1)  # fmt: skip
    with pytest.raises(RetryLater):
        await channel.start()
    await channel.stop()


async def test_the_event_loop_keeps_running_while_viber_is_slow(viber_api, viber_token, olena):
    async with Viber("shop", viber_token, viber_api.url, timeout=3) as channel:
        viber_api.delay("send_message", 0.6)
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        ticker = asyncio.create_task(tick())
        await channel.send_text(olena.id, "Доброго дня")
        ticker.cancel()
    assert ticks >= 8


# -- fetching customers' files ---------------------------------------------------------------


async def test_fetch_downloads_a_pushed_picture(viber_api, viber_token, channel, olena):
    picture = JPEG + b"\x17" * 3000
    delivery = await viber_api.push_picture(viber_token, olena, picture, "фото.jpg", "Ось так")
    (incoming,) = channel.parse(delivery.sent)
    (file,) = incoming.files
    assert (incoming.kind, incoming.text, file.filename) == ("photo", "Ось так", "фото.jpg")
    assert await fetched(channel, file, 10_000) == picture


async def test_fetch_refuses_a_file_over_the_limit(viber_api, channel):
    url = viber_api.add_media(b"\x00" * 5000, "каталог.pdf", "application/pdf")
    with pytest.raises(FileTooBig) as caught:
        await fetched(channel, IncomingFile(url, "каталог.pdf", "application/pdf"), 4000)
    assert (caught.value.size, caught.value.limit) == (5000, 4000)
    announced = IncomingFile(url, "каталог.pdf", "application/pdf", size=5000)
    with pytest.raises(FileTooBig):
        await fetched(channel, announced, 4000)


async def test_a_media_server_that_streams_past_the_limit_is_cut_off(viber_api, channel):
    """The callback said 1 KB; the server sends 3 MB without a Content-Length."""
    url = viber_api.add_media(Stream(3 * 1024 * 1024, content_length=False), "a.mp4", "video/mp4")
    sink = Collected()
    with pytest.raises(FileTooBig) as caught:
        await channel.fetch(IncomingFile(url, "a.mp4", "video/mp4", size=1024), 100_000, sink)
    assert caught.value.size is not None and caught.value.size > 100_000
    assert sum(map(len, sink.pieces)) <= 100_000  # the sink never got a byte past it


async def test_an_expired_media_link_is_a_channel_error_saying_so(viber_api, channel):
    url = viber_api.add_media(JPEG, "фото.jpg", "image/jpeg", ttl=0.01)
    await asyncio.sleep(0.05)
    with pytest.raises(ChannelError) as caught:
        await fetched(channel, IncomingFile(url, "фото.jpg", "image/jpeg"), 10_000)
    assert "expired" in caught.value.message and "фото.jpg" in caught.value.message


async def test_a_media_server_error_is_retry_later(viber_api, channel):
    url = viber_api.add_media(JPEG, "фото.jpg", "image/jpeg")
    viber_api.fail_http("media", 503)
    with pytest.raises(RetryLater):
        await fetched(channel, IncomingFile(url, "фото.jpg", "image/jpeg"), 10_000)
    assert await fetched(channel, IncomingFile(url, "фото.jpg", "image/jpeg"), 10_000) == JPEG


# -- the webhook -----------------------------------------------------------------------------


class Receiver:
    """The relay's /viber/<bot> route, in small: checks the signature, parses, answers
    conversation_started with the welcome message."""

    def __init__(self, channel: Viber, status: int = 200) -> None:
        self.channel = channel
        self.status = status
        self.got: list = []
        self.forged = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not self.channel.verify_webhook(request.headers, body, ""):
            self.forged += 1
            return web.Response(status=403)
        parsed = self.channel.parse(json.loads(body))
        self.got += parsed
        if self.status != 200:
            return web.Response(status=self.status)
        if parsed and parsed[0].event == "started":
            return web.json_response(self.channel.welcome("Вітаємо в «Аркуші»!"))
        return web.Response(text="ok")


@pytest.fixture
async def receiver(channel) -> AsyncIterator[tuple[Receiver, str]]:
    receiver = Receiver(channel)
    app = web.Application()
    app.router.add_post("/viber/shop", receiver.handle)
    runner, base = await loopback(app)
    yield receiver, f"{base}/viber/shop"
    await runner.cleanup()


async def test_set_webhook_on_a_live_receiver(viber_api, viber_token, channel, receiver):
    handler, url = receiver
    await channel.set_webhook(url, "unused")
    hook = viber_api.webhook(viber_token)
    assert hook["url"] == url and hook["send_name"] is True
    assert set(hook["event_types"]) == {"delivered", "seen", "failed", "subscribed",
                                        "unsubscribed", "conversation_started"}  # fmt: skip
    assert (await channel.webhook_info()).url == url
    assert handler.forged == 0 and handler.got == []  # the signed `webhook` check: no Incoming
    await channel.delete_webhook()
    assert viber_api.webhook(viber_token) is None
    assert (await channel.webhook_info()).url == ""


async def test_set_webhook_on_a_receiver_that_fails_is_rejected_with_a_hint(
    viber_api, viber_token, channel, receiver
):
    handler, url = receiver
    handler.status = 500
    with pytest.raises(Rejected) as caught:
        await channel.set_webhook(url, "unused")
    assert "invalidUrl" in caught.value.reason and url in caught.value.message
    assert "running and reachable" in (caught.value.hint or "")
    assert viber_api.webhook(viber_token) is None


async def test_callbacks_through_the_webhook_and_the_welcome_answer(
    viber_api, viber_token, channel, receiver
):
    handler, url = receiver
    await channel.set_webhook(url, "")
    petro = viber_api.customer("Петро Іваненко")
    started = await viber_api.push_conversation_started(viber_token, petro, context="qr-vitryna")
    assert started.status == 200
    (welcome,) = viber_api.sent_messages(petro.id)
    assert welcome.welcome and welcome.text == "Вітаємо в «Аркуші»!"
    assert welcome.sender_name == "Друкарня «Аркуш»"
    await viber_api.push_text(viber_token, petro, "Скільки коштують 500 візиток?")
    forged = await viber_api.push_raw(viber_token, b'{"event":"message"}', signature="00" * 32)
    assert forged.status == 403 and handler.forged == 1
    first, text = handler.got
    assert (first.event, first.customer.source, first.customer.first_name) == (
        "started", "qr-vitryna", "Петро Іваненко")  # fmt: skip
    assert (text.text, text.chat_id) == ("Скільки коштують 500 візиток?", petro.id)
    await channel.send_text(text.chat_id, "500 шт — 450 грн")  # he wrote: now subscribed
    assert viber_api.sent_messages(petro.id)[-1].text == "500 шт — 450 грн"
