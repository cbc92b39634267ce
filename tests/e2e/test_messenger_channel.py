"""The real Messenger channel (GraphClient underneath) against the Messenger Graph API
double, with a tiny webhook standing in for the relay's /messenger/<bot> route."""

from __future__ import annotations

import asyncio
import json
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
    graph,
    open_channel,
)
from im2mail.channels.graph import WindowClosed
from im2mail.channels.messenger.channel import Messenger
from im2mail.model import IncomingFile
from im2mail.testing.messenger_api import JPEG, MP4, MessengerDouble, MessengerPage
from im2mail.testing.streams import Stream
from tests.support.sinks import Collected, fetched

pytestmark = pytest.mark.e2e

SENTENCE = "Друк займе два робочі дні, після чого передамо замовлення на Нову пошту. "
VERIFY = "verify-me-7f3a"


@pytest.fixture
def page(messenger_api: MessengerDouble) -> MessengerPage:
    return messenger_api.add_page("Друкарня «Аркуш»", "arkush.print")


@pytest.fixture
async def channel(messenger_api, page) -> AsyncIterator[Messenger]:
    async with Messenger("shop", page.secret, messenger_api.url, timeout=2) as started:
        yield started


class Receiver:
    """The relay's /messenger/<bot> route, in small: Meta's verification GET, then signed
    POSTs checked before they are parsed."""

    def __init__(self, channel: Messenger) -> None:
        self.channel = channel
        self.got: list = []
        self.forged = 0

    async def handle(self, request: web.Request) -> web.Response:
        if request.method == "GET":
            challenge = graph.handshake(request.query, VERIFY)
            return web.Response(text=challenge) if challenge else web.Response(status=403)
        body = await request.read()
        if not self.channel.verify_webhook(request.headers, body, ""):
            self.forged += 1
            return web.Response(status=403)
        self.got += self.channel.parse(json.loads(body))
        return web.Response(text="EVENT_RECEIVED")


@pytest.fixture
async def hooked(messenger_api, page, channel) -> AsyncIterator[tuple[Receiver, str]]:
    """The receiver running, its URL saved in the 'dashboard', the app subscribed."""
    receiver = Receiver(channel)
    app = web.Application()
    app.router.add_route("*", "/messenger/shop", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    url = f"http://{host}:{port}/messenger/shop"
    await messenger_api.configure_webhook(page.token, url, VERIFY)
    await channel.set_webhook(url, "")
    yield receiver, url
    await runner.cleanup()


@pytest.fixture
async def olena(messenger_api, page, hooked):
    """A customer who has just written to the Page (the 24-hour window is open)."""
    user = messenger_api.customer("Олена", "Коваль")
    await messenger_api.push_text(page.token, user, "Добрий день!")
    return user


# -- start, identity, webhook ----------------------------------------------------------------


async def test_start_checks_the_token_and_get_me_names_the_page(messenger_api, page):
    channel = open_channel("messenger", "shop", page.secret, messenger_api.url, human_agent_days=3)
    async with channel:
        me = await channel.get_me()
    assert (me.id, me.name, me.username) == (page.id, "Друкарня «Аркуш»", "arkush.print")
    [call] = messenger_api.calls("me")
    assert call.params["fields"] == "id,name,username" and page.token not in str(call.params)


async def test_a_page_without_username_is_linked_by_its_id(messenger_api):
    plain = messenger_api.add_page("Копіцентр", None)
    async with Messenger("copy", plain.secret, messenger_api.url) as channel:
        assert (await channel.get_me()).username == plain.id


async def test_the_dashboard_check_and_the_subscription(messenger_api, page, channel, hooked):
    _, url = hooked
    assert messenger_api.page(page.token).webhook == url
    assert messenger_api.page(page.token).subscribed_fields == [
        "messages",
        "messaging_postbacks",
        "messaging_referrals",
        "message_deliveries",
        "message_reads",
        "message_edits",
        "message_reactions",
    ]
    assert (await channel.webhook_info()).url == ""
    await channel.delete_webhook()
    assert messenger_api.page(page.token).subscribed_fields == []
    customer = messenger_api.customer()
    assert (await messenger_api.push_text(page.token, customer, "Є хто?")).error


async def test_subscribing_failing_does_not_fail_set_webhook(messenger_api, channel, caplog):
    messenger_api.fail("me/subscribed_apps", 200, message="(#200) Permissions error")
    await channel.set_webhook("https://bot.shop.example/messenger/shop", "")
    assert "could not subscribe" in caplog.text


async def test_signed_posts_reach_the_receiver_and_forgeries_do_not(messenger_api, page, hooked):
    receiver, _ = hooked
    petro = messenger_api.customer("Петро")
    await messenger_api.push_postback(page.token, petro, "Почати", ref="qr-vitryna")
    await messenger_api.push_text(page.token, petro, "Скільки коштують 500 візиток?")
    await messenger_api.push_echo(page.token, petro, "our own words")  # not subscribed: not sent
    forged = await messenger_api.push_raw(page.token, b'{"object":"page"}', signature="sha256=00")
    assert forged.status == 403 and receiver.forged == 1
    first, text = receiver.got
    assert (first.text, first.customer.source, first.chat_id) == ("Почати", "qr-vitryna", petro.id)
    assert text.text == "Скільки коштують 500 візиток?"


async def test_events_of_another_page_of_the_same_app_are_skipped(messenger_api, hooked, channel):
    receiver, url = hooked
    other = messenger_api.add_page("Інша сторінка", None)
    await messenger_api.configure_webhook(other.token, url, VERIFY)
    messenger_api.subscribe(other.token)
    other.app_secret = messenger_api.page(channel_token(channel)).app_secret  # one app
    await messenger_api.push_text(other.token, messenger_api.customer(), "не вам")
    assert receiver.got == []


def channel_token(channel: Messenger) -> str:
    return channel._graph._token


# -- sending ---------------------------------------------------------------------------------


async def test_a_long_text_goes_in_pieces_of_at_most_2000(messenger_api, channel, olena):
    text = "\n\n".join([(SENTENCE * 20).strip()] * 3)
    ids = await channel.send_text(olena.id, text)
    sent = messenger_api.sent_messages(olena.id)
    assert [s.message_id for s in sent] == ids and len(ids) >= 3
    assert all(len(s.text) <= 2000 and s.messaging_type == "RESPONSE" for s in sent)
    assert "".join(s.text for s in sent).replace(" ", "") == text.replace(" ", "").replace("\n", "")


async def test_files_are_uploaded_with_their_message(messenger_api, channel, olena):
    pdf = b"%PDF-1.4 invoice"
    files = [
        ("layout.jpg", "image/jpeg", JPEG),
        ("invoice-12.pdf", "application/pdf", pdf),
        ("clip.mp4", "video/mp4", MP4),
    ]
    ids = await channel.send_files(olena.id, files, "Ось файли")
    sent = messenger_api.sent_messages(olena.id)
    assert len(ids) == 4 and [s.message_id for s in sent] == ids
    assert sent[0].text == "Ось файли"
    assert [(s.attachment_type, s.filename, s.data) for s in sent[1:]] == [
        ("image", "layout.jpg", JPEG),
        ("file", "invoice-12.pdf", pdf),
        ("video", "clip.mp4", MP4),
    ]
    assert sent[1].mime == "image/jpeg" and sent[1].messaging_type == "RESPONSE"
    assert json.loads(sent[1].body["message"]) == {
        "attachment": {"type": "image", "payload": {"is_reusable": False}}
    }
    assert json.loads(sent[1].body["recipient"]) == {"id": olena.id}


async def test_a_cyrillic_file_name_arrives_as_written(messenger_api, channel, olena):
    await channel.send_files(olena.id, [("Рахунок №12.pdf", "application/pdf", b"%PDF")])
    (sent,) = messenger_api.sent_messages(olena.id)
    assert sent.filename == "Рахунок №12.pdf"


async def test_a_file_over_25_mb_fails_before_anything_goes(messenger_api, channel, olena):
    big = ("архів.zip", "application/zip", b"\0" * (25 * 1024 * 1024 + 1))
    with pytest.raises(FileTooBig) as caught:
        await channel.send_files(olena.id, [big], "Ось архів")
    assert caught.value.sent == () and messenger_api.sent_messages(olena.id) == []


# -- the messaging window --------------------------------------------------------------------


async def test_after_24_hours_the_reply_goes_with_the_human_agent_tag(
    messenger_api, page, channel, olena
):
    messenger_api.age(page.token, olena, hours=30)
    [mid] = await channel.send_text(olena.id, "Вибачте за затримку, макет готовий")
    attempts = messenger_api.calls("me/messages")
    assert [a.http_status for a in attempts] == [400, 200]
    assert attempts[0].response["error"]["error_subcode"] == 2018278
    [sent] = messenger_api.sent_messages(olena.id)
    assert (sent.messaging_type, sent.tag, sent.message_id) == ("MESSAGE_TAG", "HUMAN_AGENT", mid)


async def test_after_7_days_nothing_goes_and_the_manager_is_told_why(
    messenger_api, page, channel, olena
):
    messenger_api.age(page.token, olena, hours=8 * 24)
    with pytest.raises(WindowClosed) as caught:
        await channel.send_files(olena.id, [("a.pdf", "application/pdf", b"%PDF")], "Рахунок")
    reason = caught.value.reason
    assert "24 hours" in reason and "7 days with the human agent tag" in reason
    assert "nothing was sent" in reason and "write to the Page again" in reason
    assert isinstance(caught.value, Rejected) and caught.value.sent == ()
    assert len(messenger_api.calls("me/messages")) == 2
    assert messenger_api.sent_messages(olena.id) == []


async def test_with_the_tag_turned_off_one_refusal_is_enough(messenger_api, page, olena):
    messenger_api.age(page.token, olena, hours=25)
    async with Messenger("shop", page.secret, messenger_api.url, human_agent_days=0) as channel:
        with pytest.raises(WindowClosed) as caught:
            await channel.send_text(olena.id, "Добрий вечір")
    assert "turned off" in caught.value.reason
    assert len(messenger_api.calls("me/messages")) == 1


async def test_the_tag_is_not_tried_past_the_configured_days(messenger_api, page, hooked):
    receiver, _ = hooked
    async with Messenger("shop", page.secret, messenger_api.url, human_agent_days=2) as channel:
        receiver.channel = channel
        olena = messenger_api.customer()
        await messenger_api.push_text(page.token, olena, "Привіт")
        channel._last_wrote[olena.id] -= 3 * 24 * 3600  # as if parsed three days ago
        messenger_api.age(page.token, olena, hours=3 * 24)
        with pytest.raises(WindowClosed) as caught:
            await channel.send_text(olena.id, "Відповідь")
    assert "2 days with the human agent tag" in caught.value.reason
    assert len(messenger_api.calls("me/messages")) == 1


# -- errors ----------------------------------------------------------------------------------


async def test_someone_who_never_wrote_to_the_page_is_blocked(messenger_api, channel, hooked):
    stranger = messenger_api.customer("Петро")
    with pytest.raises(Blocked) as caught:
        await channel.send_text(stranger.id, "Доброго дня")
    assert "2018001" in caught.value.reason


@pytest.mark.parametrize(
    ("code", "subcode", "error"),
    [
        (613, None, RetryLater),
        (4, None, RetryLater),
        (2, None, RetryLater),
        (190, None, AuthFailed),
        (100, None, Rejected),
        (200, None, Rejected),
    ],
)
async def test_each_graph_error_is_the_error_the_relay_acts_on(
    messenger_api, channel, olena, code, subcode, error
):
    messenger_api.fail("me/messages", code, subcode)
    with pytest.raises(ChannelError) as caught:
        await channel.send_text(olena.id, "Доброго дня")
    assert type(caught.value) is error
    assert f"({code})" in caught.value.reason
    assert messenger_api.sent_messages(olena.id) == []


async def test_a_bad_gateway_and_a_slow_graph_are_retry_later(messenger_api, page, olena):
    async with Messenger("shop", page.secret, messenger_api.url, timeout=0.5) as channel:
        messenger_api.fail_http("me/messages", 502)
        with pytest.raises(RetryLater):
            await channel.send_text(olena.id, "Доброго дня")
        messenger_api.delay("me/messages", 3)
        started = time.monotonic()
        with pytest.raises(RetryLater) as caught:
            await channel.send_text(olena.id, "Доброго дня")
        assert time.monotonic() - started < 2 and caught.value.maybe_sent


async def test_a_failure_midway_reports_what_was_already_sent(messenger_api, channel, olena):
    text, pdf = "Рахунок у вкладенні", ("Рахунок.pdf", "application/pdf", b"%PDF")
    original = channel._send
    calls = 0

    async def second_fails(chat_id, step, kind):
        nonlocal calls
        calls += 1
        if calls == 2:
            messenger_api.fail("me/messages", 551, 1545041)
        return await original(chat_id, step, kind)

    channel._send = second_fails
    with pytest.raises(Blocked) as caught:
        await channel.send_files(olena.id, [pdf], text)
    (sent,) = messenger_api.sent_messages(olena.id)
    assert caught.value.sent == (sent.message_id,) and sent.text == text


# -- fetching customers' files ---------------------------------------------------------------


async def test_fetch_downloads_a_pushed_image_without_the_token(messenger_api, page, hooked):
    receiver, _ = hooked
    picture = JPEG + b"\x17" * 3000
    await messenger_api.push_image(page.token, messenger_api.customer(), picture, "фото.jpg")
    (incoming,) = receiver.got
    (file,) = incoming.files
    assert (incoming.kind, file.filename, file.mime) == ("photo", "фото.jpg", "image/jpeg")
    assert await fetched(receiver.channel, file, 10_000) == picture
    assert messenger_api.media(file.ref).downloads == 1


async def test_fetch_refuses_a_file_over_the_limit(messenger_api, channel):
    url = messenger_api.add_media(b"\x00" * 5000, "каталог.pdf", "application/pdf")
    with pytest.raises(FileTooBig) as caught:
        await fetched(channel, IncomingFile(url, "каталог.pdf", "application/pdf"), 4000)
    assert (caught.value.size, caught.value.limit) == (5000, 4000)


async def test_a_cdn_that_streams_past_the_limit_is_cut_off(messenger_api, channel):
    big = Stream(3 * 1024 * 1024, content_length=False)
    url = messenger_api.add_media(big, "a.mp4", "video/mp4")
    sink = Collected()
    with pytest.raises(FileTooBig) as caught:
        await channel.fetch(IncomingFile(url, "a.mp4", "video/mp4"), 100_000, sink)
    assert caught.value.size is not None and caught.value.size > 100_000
    assert sum(map(len, sink.pieces)) <= 100_000


async def test_a_download_broken_midway_is_retry_later(messenger_api, channel):
    url = messenger_api.add_media(Stream(1024 * 1024, hang_up_after=200_000), "a.mp4", "video/mp4")
    with pytest.raises(RetryLater):
        await fetched(channel, IncomingFile(url, "a.mp4", "video/mp4"), 10 * 1024 * 1024)


async def test_an_expired_cdn_link_is_file_too_big_saying_so(messenger_api, channel):
    url = messenger_api.add_media(JPEG, "фото.jpg", "image/jpeg", ttl=0.01)
    await asyncio.sleep(0.05)
    with pytest.raises(FileTooBig) as caught:
        await fetched(channel, IncomingFile(url, "фото.jpg", "image/jpeg"), 10_000)
    assert "expired" in caught.value.message and "фото.jpg" in caught.value.message


async def test_a_cdn_error_is_retry_later(messenger_api, channel):
    url = messenger_api.add_media(JPEG, "фото.jpg", "image/jpeg")
    messenger_api.fail_http("media", 503)
    with pytest.raises(RetryLater):
        await fetched(channel, IncomingFile(url, "фото.jpg", "image/jpeg"), 10_000)
    assert await fetched(channel, IncomingFile(url, "фото.jpg", "image/jpeg"), 10_000) == JPEG


# -- receipts --------------------------------------------------------------------------------


async def test_auto_receipts_come_back_as_delivered(messenger_api, page, hooked, olena):
    receiver, _ = hooked
    messenger_api.page(page.token).auto_receipts = True
    [mid] = await receiver.channel.send_text(olena.id, "Готово")
    await messenger_api.wait_until(lambda: any(g.event == "delivered" for g in receiver.got))
    await messenger_api.wait_until(lambda: any(g.event == "seen" for g in receiver.got))
    receipts = [g for g in receiver.got if g.event]
    # The read receipt names no message: a watermark, everything sent up to it.
    assert [(r.event, r.channel_message_id) for r in receipts] == [("delivered", mid),
                                                                   ("seen", None)]  # fmt: skip
