"""The real WhatsApp channel (graph.GraphClient underneath) against the Cloud API double, with
a tiny webhook standing in for the relay's route: Meta's GET check, then signed POSTs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote

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
from im2mail.channels.graph import WindowClosed, handshake
from im2mail.channels.whatsapp.channel import WINDOW_REASON, WhatsApp
from im2mail.model import Incoming, IncomingFile
from im2mail.testing.streams import Stream
from im2mail.testing.whatsapp_api import JPEG, MP4, Number, WebhookRefused, WhatsAppDouble
from tests.support.sinks import fetched

pytestmark = pytest.mark.e2e

VERIFY = "verify-token-for-the-dashboard"
SENTENCE = "Друк займе два робочі дні, після чого передамо замовлення на Нову пошту. "


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def shop(whatsapp_api: WhatsAppDouble) -> Number:
    return whatsapp_api.add_number("Друкарня «Аркуш»", "+380 44 123 4567")


@pytest.fixture
async def channel(whatsapp_api, shop) -> AsyncIterator[WhatsApp]:
    async with WhatsApp(
        "shop", shop.secret, whatsapp_api.url, timeout=2, phone_number_id=shop.phone_number_id
    ) as started:
        yield started


@pytest.fixture
def olena(whatsapp_api, shop):
    user = whatsapp_api.customer("Олена Коваль", "380671234567")
    whatsapp_api.open_window(shop, user)
    return user


class Hook:
    """The relay's /whatsapp/<bot> route, in small: answers Meta's check, verifies each POST
    with the channel and keeps what it parses."""

    def __init__(self) -> None:
        self.channel: WhatsApp | None = None
        self.items: list[Incoming] = []
        self.refused = 0
        self.url = ""

    async def check(self, request: web.Request) -> web.Response:
        challenge = handshake(request.query, VERIFY)
        return web.Response(text=challenge) if challenge else web.Response(status=403)

    async def post(self, request: web.Request) -> web.Response:
        body = await request.read()
        assert self.channel is not None
        if not self.channel.verify_webhook(request.headers, body, VERIFY):
            self.refused += 1
            return web.Response(status=403)
        self.items += self.channel.parse(await request.json())
        return web.Response(text="ok")


@pytest.fixture
async def hook(whatsapp_api, shop, channel) -> AsyncIterator[Hook]:
    hook = Hook()
    hook.channel = channel
    app = web.Application()
    app.router.add_get("/whatsapp/shop", hook.check)
    app.router.add_post("/whatsapp/shop", hook.post)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    hook.url = f"http://{host}:{port}/whatsapp/shop"
    await whatsapp_api.set_webhook(shop, hook.url, VERIFY)
    yield hook
    await runner.cleanup()


def texts(double: WhatsAppDouble, wa_id: str) -> list[Any]:
    return [s.text for s in double.sent_messages(wa_id)]


# -- identity and the token ------------------------------------------------------------------


async def test_start_reads_the_number_and_get_me_reports_it(whatsapp_api, shop, channel):
    me = await channel.get_me()
    assert (me.id, me.name, me.username) == (
        shop.phone_number_id,
        "Друкарня «Аркуш»",
        "380441234567",
    )
    (call,) = whatsapp_api.calls()
    assert (call.method, call.path) == ("GET", shop.phone_number_id)


async def test_a_number_the_token_cannot_see_is_rejected_at_start(whatsapp_api, shop):
    channel = WhatsApp(
        "shop", shop.secret, whatsapp_api.url, timeout=2, phone_number_id="999999999999999"
    )
    with pytest.raises(Rejected) as caught:
        await channel.start()
    await channel.stop()
    assert "(100/33)" in caught.value.reason


# -- sending ---------------------------------------------------------------------------------


async def test_a_text_goes_without_link_previews(channel, whatsapp_api, olena):
    ids = await channel.send_text(olena.wa_id, "Доброго дня! Візитки будуть у п'ятницю.")
    (sent,) = whatsapp_api.sent_messages(olena.wa_id)
    assert (sent.type, sent.text, sent.preview_url) == (
        "text",
        "Доброго дня! Візитки будуть у п'ятницю.",
        False,
    )
    assert sent.body["recipient_type"] == "individual" and ids == [sent.id]
    assert sent.id.startswith("wamid.")


async def test_long_text_goes_as_two_messages(channel, whatsapp_api, olena):
    paragraph = (SENTENCE * 25).strip()  # about 1850 characters
    text = "\n\n".join(f"{i}. {paragraph}" for i in range(1, 4))
    ids = await channel.send_text(olena.wa_id, text)
    assert texts(whatsapp_api, olena.wa_id) == [
        f"1. {paragraph}\n\n2. {paragraph}",
        f"3. {paragraph}",
    ]
    assert len(ids) == 2


async def test_a_picture_is_uploaded_then_sent_with_its_caption(channel, whatsapp_api, olena):
    picture = JPEG + bytes(range(256)) * 40
    ids = await channel.send_files(olena.wa_id, [("макет.jpg", "image/jpeg", picture)], "Ось макет")
    (upload,) = whatsapp_api.uploads
    assert (upload.type, upload.mime, upload.data) == ("image/jpeg", "image/jpeg", picture)
    assert unquote(upload.filename) == "макет.jpg"  # aiohttp's form data percent-encodes it
    (sent,) = whatsapp_api.sent_messages(olena.wa_id)
    assert (sent.type, sent.text, sent.media) == ("image", "Ось макет", upload)
    assert ids == [sent.id]


async def test_a_document_keeps_its_name_and_audio_has_no_caption(channel, whatsapp_api, olena):
    pdf = b"%PDF-1.7\n" + "Рахунок".encode() * 500
    files = [
        ("Рахунок №12.pdf", "application/pdf", pdf),
        ("відповідь.ogg", "audio/ogg", b"OggS"),
        ("друк.mp4", "video/mp4", MP4),
    ]
    ids = await channel.send_files(olena.wa_id, files, "Рахунок і запис")
    sent = whatsapp_api.sent_messages(olena.wa_id)
    assert [s.type for s in sent] == ["document", "audio", "video"] and len(ids) == 3
    assert (sent[0].filename, sent[0].text, sent[0].media.data) == (
        "Рахунок №12.pdf",
        "Рахунок і запис",
        pdf,
    )
    assert "caption" not in sent[1].body["audio"] and sent[2].text is None


async def test_a_file_over_100_mb_fails_before_anything_goes(channel, whatsapp_api, olena):
    huge = ("архів.zip", "application/zip", bytes(100 * 1024 * 1024 + 1))
    with pytest.raises(FileTooBig) as caught:
        await channel.send_files(olena.wa_id, [("a.jpg", "image/jpeg", JPEG), huge], "Файли")
    assert "WhatsApp takes files up to 100 MB" in caught.value.reason
    assert caught.value.sent == () and whatsapp_api.uploads == []
    assert whatsapp_api.calls("messages") == []


# -- the 24-hour window ----------------------------------------------------------------------


async def test_after_24_hours_the_reply_is_window_closed_with_a_reason_for_the_manager(
    channel, whatsapp_api, shop, olena
):
    whatsapp_api.age(shop, olena, hours=25)
    with pytest.raises(WindowClosed) as caught:
        await channel.send_text(olena.wa_id, "Доброго дня")
    error = caught.value
    assert isinstance(error, Rejected) and error.reason == WINDOW_REASON
    assert "131047" in error.message and olena.wa_id in error.message
    assert "template" in (error.hint or "")
    assert whatsapp_api.sent_messages() == []
    assert whatsapp_api.calls("messages")[0].response["error"]["code"] == 131047


async def test_a_customer_who_never_wrote_cannot_be_messaged(channel, whatsapp_api):
    stranger = whatsapp_api.customer("Петро")
    with pytest.raises(WindowClosed):
        await channel.send_text(stranger.wa_id, "Доброго дня")


async def test_a_new_message_reopens_the_window(channel, whatsapp_api, shop, olena, hook):
    whatsapp_api.age(shop, olena, hours=30)
    with pytest.raises(WindowClosed):
        await channel.send_text(olena.wa_id, "Доброго дня")
    await whatsapp_api.push_text(shop, olena, "Ви тут?")
    assert len(await channel.send_text(olena.wa_id, "Так, доброго дня!")) == 1


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (131026, Blocked),
        (131000, RetryLater),
        (130429, RetryLater),
        (131056, RetryLater),
        (190, AuthFailed),
        (100, Rejected),
        (131053, Rejected),
    ],
)
async def test_each_graph_error_is_the_error_the_relay_acts_on(
    channel, whatsapp_api, olena, code, error
):
    whatsapp_api.fail("messages", code)
    with pytest.raises(ChannelError) as caught:
        await channel.send_text(olena.wa_id, "Доброго дня")
    assert type(caught.value) is error
    assert f"({code})" in caught.value.reason and caught.value.reason.startswith("WhatsApp")
    assert whatsapp_api.sent_messages() == []


async def test_sending_faster_than_the_throughput_is_retry_later(channel, whatsapp_api, olena):
    whatsapp_api.throughput = 2
    await channel.send_text(olena.wa_id, "раз")
    await channel.send_text(olena.wa_id, "два")
    with pytest.raises(RetryLater) as caught:
        await channel.send_text(olena.wa_id, "три")
    assert "130429" in caught.value.reason


async def test_a_bad_gateway_is_retry_later(channel, whatsapp_api, olena):
    whatsapp_api.fail_http("messages", 502)
    with pytest.raises(RetryLater):
        await channel.send_text(olena.wa_id, "Доброго дня")


async def test_a_slow_answer_may_have_been_sent(whatsapp_api, shop, olena):
    whatsapp_api.delay("messages", 1.0)
    async with WhatsApp(
        "shop", shop.secret, whatsapp_api.url, timeout=0.3, phone_number_id=shop.phone_number_id
    ) as channel:
        with pytest.raises(RetryLater) as caught:
            await channel.send_text(olena.wa_id, "Доброго дня")
    assert caught.value.maybe_sent


async def test_a_slow_upload_sent_nothing(whatsapp_api, shop, olena):
    whatsapp_api.delay("media", 1.0)
    async with WhatsApp(
        "shop", shop.secret, whatsapp_api.url, timeout=0.3, phone_number_id=shop.phone_number_id
    ) as channel:
        with pytest.raises(RetryLater) as caught:
            await channel.send_files(olena.wa_id, [("a.jpg", "image/jpeg", JPEG)])
    assert not caught.value.maybe_sent


async def test_a_failure_midway_reports_what_was_already_sent(channel, whatsapp_api, olena):
    whatsapp_api.fail("media", 131053)
    text = "Рахунок у вкладенні. " * 60  # too long for a caption: goes first
    with pytest.raises(Rejected) as caught:
        await channel.send_files(olena.wa_id, [("Рахунок.pdf", "application/pdf", b"%PDF")], text)
    (sent,) = whatsapp_api.sent_messages(olena.wa_id)
    assert caught.value.sent == (sent.id,)


# -- webhooks --------------------------------------------------------------------------------


async def test_the_dashboard_check_needs_the_right_verify_token(whatsapp_api, shop, hook):
    assert shop.webhook == hook.url
    with pytest.raises(WebhookRefused):
        await whatsapp_api.set_webhook(shop, hook.url, "wrong token")


async def test_a_customer_message_arrives_signed_and_parsed(whatsapp_api, shop, hook):
    anna = whatsapp_api.customer("Анна")
    referral = {
        "source_id": "120208746523080046",
        "source_type": "ad",
        "source_url": "https://fb.me/x",
    }
    delivery = await whatsapp_api.push_text(shop, anna, "Хочу візитки", referral=referral)
    assert delivery.ok
    (item,) = hook.items
    assert (item.text, item.chat_id, item.customer.first_name) == (
        "Хочу візитки",
        anna.wa_id,
        "Анна",
    )
    assert item.customer.phone == f"+{anna.wa_id}"
    assert item.customer.source == "ad-120208746523080046"


async def test_a_forged_webhook_is_refused(whatsapp_api, shop, hook):
    delivery = await whatsapp_api.push_raw(
        shop, b'{"object": "whatsapp_business_account"}', signature="sha256=" + "0" * 64
    )
    assert delivery.status == 403 and hook.refused == 1 and hook.items == []


async def test_webhooks_for_another_number_of_the_app_are_not_this_bots(whatsapp_api, shop, hook):
    second = whatsapp_api.add_number("Аркуш Львів", "+380 32 000 1122", same_app_as=shop)
    delivery = await whatsapp_api.push_text(second, whatsapp_api.customer(), "Привіт")
    assert delivery.ok and hook.items == []


async def test_receipts_follow_a_sent_message(whatsapp_api, shop, olena, channel, hook):
    whatsapp_api.auto_receipts = True
    (ident,) = await channel.send_text(olena.wa_id, "Замовлення готове")
    await whatsapp_api.wait_until(lambda: len(hook.items) >= 2)
    assert [(i.event, i.channel_message_id) for i in hook.items] == [
        ("delivered", ident),
        ("seen", ident),
    ]


async def test_a_failed_status_tells_the_manager_why(whatsapp_api, shop, olena, hook):
    errors = [
        {
            "code": 131047,
            "title": "Re-engagement message",
            "message": "Re-engagement message",
            "error_data": {
                "details": "Message failed to send because more than "
                "24 hours have passed since the customer last replied to this number."
            },
        }
    ]
    await whatsapp_api.push_status(shop, olena, "wamid.X", "failed", errors)
    (item,) = hook.items
    assert (item.event, item.text) == ("failed", WINDOW_REASON)


async def test_set_and_delete_webhook_call_nothing(channel, whatsapp_api):
    await channel.set_webhook("https://shop.example/whatsapp/shop", VERIFY)
    await channel.delete_webhook()
    assert (await channel.webhook_info()).url == ""
    assert len(whatsapp_api.calls()) == 1  # start()'s check only


# -- customers' files ------------------------------------------------------------------------


async def test_a_customers_photo_is_fetched_with_the_token(whatsapp_api, shop, olena, hook):
    picture = JPEG + b"photo bytes" * 100
    await whatsapp_api.push_image(shop, olena, picture, caption="Ось так")
    (item,) = hook.items
    (file,) = item.files
    assert await fetched(hook.channel, file, 10 * 1024 * 1024) == picture
    media = whatsapp_api.media(file.ref)
    assert media.downloads == 1
    assert [c.path for c in whatsapp_api.calls()][-1] == file.ref


async def test_the_media_url_expires_so_the_channel_fetches_at_once(
    whatsapp_api, shop, olena, channel
):
    media_id = whatsapp_api.add_media(shop, b"%PDF" * 10, "application/pdf")
    file = IncomingFile(media_id, "a.pdf", "application/pdf")
    whatsapp_api.media_url_ttl = 0.2
    assert await fetched(channel, file, 1000) == b"%PDF" * 10
    whatsapp_api.delay("download", 0.4)  # the link expires while the download waits
    with pytest.raises(FileTooBig) as caught:
        await fetched(channel, file, 1000)
    assert "expired" in caught.value.reason


async def test_a_media_id_whatsapp_forgot_is_kept_without_the_file(channel):
    with pytest.raises(FileTooBig) as caught:
        await fetched(channel, IncomingFile("1234567890", "a.jpg", "image/jpeg"), 1000)
    assert "no longer" in caught.value.reason


async def test_a_file_over_the_limit_is_not_downloaded(whatsapp_api, shop, channel):
    media_id = whatsapp_api.add_media(shop, bytes(5000), "video/mp4")
    with pytest.raises(FileTooBig) as caught:
        await fetched(channel, IncomingFile(media_id, "v.mp4", "video/mp4"), 1000)
    assert caught.value.size == 5000 and whatsapp_api.media(media_id).downloads == 0


async def test_a_size_whatsapp_understates_is_cut_off_at_the_limit(whatsapp_api, shop, channel):
    """GET /<media id> says 500 bytes; the download brings 3 MB, no Content-Length."""
    big = Stream(3 * 1024 * 1024, content_length=False)
    media_id = whatsapp_api.add_media(shop, big, "video/mp4", size=500)
    with pytest.raises(FileTooBig) as caught:
        await fetched(channel, IncomingFile(media_id, "v.mp4", "video/mp4"), 100_000)
    assert caught.value.size is not None and caught.value.size > 100_000
    assert whatsapp_api.media(media_id).downloads == 1


async def test_many_sends_at_once_all_go(channel, whatsapp_api, olena):
    ids = await asyncio.gather(*(channel.send_text(olena.wa_id, f"№{i}") for i in range(10)))
    assert len({i for (i,) in ids}) == 10
