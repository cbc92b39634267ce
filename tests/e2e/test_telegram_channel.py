"""The real Telegram channel (python-telegram-bot underneath) against the Bot API double."""

from __future__ import annotations

import asyncio
import re
import time

import aiohttp
import pytest
from aiohttp import web

from im2mail.channels import (
    Blocked,
    Conflict,
    FileTooBig,
    Rejected,
    RetryLater,
)
from im2mail.channels.telegram.channel import Telegram
from im2mail.model import IncomingFile
from im2mail.testing.telegram_api import JPEG
from tests.support.sinks import fetched

pytestmark = pytest.mark.e2e

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


# -- identity and the token ------------------------------------------------------------------


async def test_get_me_goes_to_the_bot_url_shape(telegram_api, token, channel):
    me = await channel.get_me()
    assert (me.id, me.name, me.username) == ("7000000001", "Друкарня", "shop_bot")
    assert {c.method for c in telegram_api.calls(token=token)} == {"getMe"}


# -- sending text ----------------------------------------------------------------------------

SENTENCES = [
    "Дякуємо за замовлення візиток на крейдованому папері 350 г/м².",
    "Макет перевірили: поля в нормі, шрифти вбудовані, кольори в CMYK.",
    "Друк займе два робочі дні, після чого ми передамо замовлення на Нову пошту.",
    "Якщо потрібна ламінація, напишіть, будь ласка, до завтрашнього полудня.",
    "Оплатити можна карткою за посиланням або на рахунок ФОП.",
]


def ukrainian_text(length: int) -> str:
    paragraphs, size, i = [], 0, 0
    while size < length:
        paragraph = " ".join(SENTENCES[(i + k) % len(SENTENCES)] for k in range(7))
        paragraphs.append(f"{i + 1}. {paragraph}")
        size += len(paragraph) + 5
        i += 1
    return "\n\n".join(paragraphs)[:length].rsplit(" ", 1)[0] + "."


async def test_long_text_arrives_in_valid_pieces_in_order(telegram_api, channel, olena):
    text = ukrainian_text(10_000)
    assert 9_900 <= len(text) <= 10_000
    ids = await channel.send_text(str(olena.id), text)
    sent = telegram_api.sent_messages(olena.id)
    assert [str(s.message_id) for s in sent] == ids
    assert len(ids) == 3
    pieces = [s.text for s in sent]
    assert all(0 < len(p) <= 4096 for p in pieces)
    assert all(p.endswith(".") for p in pieces)  # cut at sentence or paragraph ends
    assert " ".join(" ".join(pieces).split()) == " ".join(text.split())


async def test_text_over_the_limit_is_refused_by_the_double_as_by_telegram(
    telegram_api, token, olena
):
    async with aiohttp.ClientSession() as http:
        url = f"{telegram_api.url}/bot{token}/sendMessage"
        async with http.post(url, json={"chat_id": olena.id, "text": "я" * 4097}) as r:
            assert r.status == 400
            body = await r.json()
    assert body == {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: message is too long",
    }


async def test_an_unknown_chat_is_rejected_with_the_platforms_words(channel):
    with pytest.raises(Rejected) as caught:
        await channel.send_text("123456", "Доброго дня")
    assert caught.value.reason == "Chat not found"  # PTB drops "Bad Request: "


# -- delivery errors -------------------------------------------------------------------------


async def test_blocking_through_my_chat_member_blocks_every_send(
    telegram_api, token, channel, olena
):
    await telegram_api.push_member(token, olena, "kicked")
    with pytest.raises(Blocked):
        await channel.send_files(str(olena.id), [("a.pdf", "application/pdf", b"%PDF")])
    await telegram_api.push_member(token, olena, "member")
    assert await channel.send_text(str(olena.id), "Знову на звʼязку")


@pytest.mark.parametrize("status", [500, 502])
async def test_server_errors_are_temporary(telegram_api, channel, olena, status):
    telegram_api.fail("sendMessage", status)
    with pytest.raises(RetryLater) as caught:
        await channel.send_text(str(olena.id), "Доброго дня")
    assert caught.value.seconds is None
    assert await channel.send_text(str(olena.id), "Доброго дня")  # the fault was one-off


async def test_a_timeout_is_temporary(telegram_api, token, olena):
    telegram_api.delay("sendMessage", 2.0)
    async with Telegram("shop", token, telegram_api.url, timeout=0.3) as channel:
        started = time.monotonic()
        with pytest.raises(RetryLater):
            await channel.send_text(str(olena.id), "Доброго дня")
        assert time.monotonic() - started < 1.5


async def test_a_failure_midway_says_what_was_already_sent(telegram_api, channel, olena):
    telegram_api.fail("sendMessage", 429, retry_after=3, skip=1)
    with pytest.raises(RetryLater) as caught:
        await channel.send_text(str(olena.id), ukrainian_text(6000))
    (first,) = telegram_api.sent_messages(olena.id)
    assert caught.value.sent == (str(first.message_id),)


# -- sending files ---------------------------------------------------------------------------


async def test_one_photo_goes_as_a_photo_by_multipart(telegram_api, channel, olena):
    ids = await channel.send_files(str(olena.id), [("макет.jpg", "image/jpeg", JPEG + b"1")], "Ось")
    (sent,) = telegram_api.sent_messages(olena.id)
    assert ids == [str(sent.message_id)]
    assert (sent.method, sent.kind, sent.text) == ("sendPhoto", "photo", "Ось")
    assert sent.file.data == JPEG + b"1" and sent.file.filename == "макет.jpg"
    (call,) = telegram_api.calls("sendPhoto")
    assert "photo" in call.files  # uploaded as a multipart part, not by reference


async def test_one_document_keeps_name_and_bytes(telegram_api, channel, olena):
    data = b"%PDF-1.7 " + bytes(range(256)) * 40
    await channel.send_files(str(olena.id), [("Рахунок №17.pdf", "application/pdf", data)])
    (sent,) = telegram_api.sent_messages(olena.id)
    assert (sent.method, sent.kind) == ("sendDocument", "document")
    assert (sent.file.filename, sent.file.data) == ("Рахунок №17.pdf", data)


async def test_pictures_go_as_an_album_and_other_files_as_documents(telegram_api, channel, olena):
    files = [
        ("1.jpg", "image/jpeg", JPEG + b"one"),
        ("price.pdf", "application/pdf", b"%PDF price"),
        ("2.png", "image/png", PNG),
        ("3.jpg", "image/jpeg", JPEG + b"three"),
    ]
    ids = await channel.send_files(str(olena.id), files, caption="Три варіанти")
    sent = telegram_api.sent_messages(olena.id)
    assert ids == [str(s.message_id) for s in sent]
    album, document = sent[:3], sent[3]
    assert {s.method for s in album} == {"sendMediaGroup"}
    assert len({s.media_group_id for s in album}) == 1 and album[0].media_group_id
    assert [s.file.data for s in album] == [JPEG + b"one", PNG, JPEG + b"three"]
    assert [s.text for s in album] == ["Три варіанти", "", ""]
    assert (document.method, document.file.filename, document.text) == (
        "sendDocument",
        "price.pdf",
        "",
    )
    (call,) = telegram_api.calls("sendMediaGroup")
    assert len(call.files) == 3 and all(
        m["media"].startswith("attach://") for m in call.params["media"]
    )


async def test_more_than_ten_pictures_make_several_albums(telegram_api, channel, olena):
    files = [(f"{i}.jpg", "image/jpeg", JPEG + bytes([i])) for i in range(12)]
    assert len(await channel.send_files(str(olena.id), files)) == 12
    assert [len(c.params["media"]) for c in telegram_api.calls("sendMediaGroup")] == [10, 2]


async def test_a_picture_telegram_cannot_process_goes_as_a_document(telegram_api, channel, olena):
    await channel.send_files(str(olena.id), [("scan.jpg", "image/jpeg", b"not really a jpeg")])
    assert [c.status for c in telegram_api.calls()] == [200, 400, 200]  # getMe, photo, document
    (sent,) = telegram_api.sent_messages(olena.id)
    assert (sent.kind, sent.file.filename) == ("document", "scan.jpg")


async def test_a_caption_over_1024_goes_ahead_as_text(telegram_api, channel, olena):
    caption = ukrainian_text(1500)
    await channel.send_files(str(olena.id), [("a.pdf", "application/pdf", b"%PDF")], caption)
    text, document = telegram_api.sent_messages(olena.id)
    assert (text.kind, document.kind, document.text) == ("text", "document", "")
    assert " ".join(text.text.split()) == " ".join(caption.split())


async def test_no_files_still_delivers_the_caption(telegram_api, channel, olena):
    assert len(await channel.send_files(str(olena.id), [], "Файл надішлю пізніше")) == 1
    assert telegram_api.sent_messages(olena.id)[0].text == "Файл надішлю пізніше"


async def test_an_upload_over_telegrams_limit_is_file_too_big(telegram_api, channel, olena):
    telegram_api.upload_limit = 1000  # the real one is 50 MB
    with pytest.raises(FileTooBig):
        await channel.send_files(str(olena.id), [("big.zip", "application/zip", b"z" * 2000)])
    assert telegram_api.calls("sendDocument")[0].status == 413


# -- fetching files --------------------------------------------------------------------------


async def test_fetch_downloads_the_largest_photo_a_customer_sent(
    telegram_api, token, channel, olena
):
    raw = await telegram_api.push_photo(token, olena, JPEG + b"the real picture")
    (incoming,) = channel.parse(raw)
    assert await fetched(channel, incoming.files[0], limit=1024) == JPEG + b"the real picture"
    (get_file,) = telegram_api.calls("getFile")
    assert get_file.params["file_id"] == incoming.files[0].ref


async def test_fetch_over_telegrams_20_mb_is_file_too_big(telegram_api, token, channel, olena):
    raw = await telegram_api.push_document(token, olena, b"%PDF huge", size=25 * 1024 * 1024)
    file = channel.parse(raw)[0].files[0]
    unknown_size = IncomingFile(file.ref, file.filename, file.mime)  # so getFile is asked
    with pytest.raises(FileTooBig) as caught:
        await fetched(channel, unknown_size, limit=100 * 1024 * 1024)
    assert caught.value.reason == "File is too big"
    assert telegram_api.calls("getFile")[0].status == 400


async def test_fetch_over_our_limit_asks_telegram_nothing(telegram_api, token, channel, olena):
    raw = await telegram_api.push_document(token, olena, b"%PDF " + b"x" * 5000)
    file = channel.parse(raw)[0].files[0]
    with pytest.raises(FileTooBig) as caught:
        await fetched(channel, file, limit=1000)
    assert (caught.value.size, caught.value.limit) == (5005, 1000)
    assert telegram_api.calls("getFile") == []


async def test_fetch_of_a_file_gone_from_the_server_is_rejected(telegram_api, token, channel):
    file_id = telegram_api.add_file(token, b"data", file_path="documents/file_9.pdf")
    telegram_api.fail("download", 404)  # getFile still knows it; the download is gone
    with pytest.raises(Rejected):
        await fetched(channel, IncomingFile(file_id, "a.pdf", "application/pdf"), limit=100)


# -- long polling ----------------------------------------------------------------------------


async def test_polling_acknowledges_only_confirmed_updates(telegram_api, token, olena):
    first = await telegram_api.push_text(token, olena, "Перше")
    second = await telegram_api.push_text(token, olena, "Друге")
    async with Telegram("shop", token, telegram_api.url, timeout=2) as channel:
        got = await channel.poll(timeout=0)
        assert [u["update_id"] for u in got] == [first["update_id"], second["update_id"]]
        channel.confirm(got[0])  # stored; the second was not (a crash, say)
    async with Telegram("shop", token, telegram_api.url, timeout=2) as channel:
        again = await channel.poll(timeout=0)
        assert [u["update_id"] for u in again] == [second["update_id"]]
        channel.confirm(again[0])
    async with Telegram("shop", token, telegram_api.url, timeout=2) as channel:
        assert await channel.poll(timeout=0) == []


async def test_confirming_out_of_order_never_acknowledges_a_gap(telegram_api, token, olena):
    updates = [await telegram_api.push_text(token, olena, str(i)) for i in range(3)]
    async with Telegram("shop", token, telegram_api.url, timeout=2) as channel:
        got = await channel.poll(timeout=0)
        channel.confirm(got[2])
        channel.confirm(got[0])
        again = await channel.poll(timeout=0)
        # Telegram holds the second and the third still; the third, stored already, is
        # not handed out twice.
        held = [u["update_id"] for u in telegram_api.pending_updates(token)]
        assert held == [u["update_id"] for u in updates[1:]]
        assert [u["update_id"] for u in again] == [updates[1]["update_id"]]
        channel.confirm(again[0])
        assert await channel.poll(timeout=0) == []
    assert telegram_api.pending_updates(token) == []


async def test_a_long_poll_waits_for_an_update(telegram_api, token, channel, olena):
    async def later():
        await asyncio.sleep(0.3)
        await telegram_api.push_text(token, olena, "Є хтось?")

    pusher = asyncio.create_task(later())
    started = time.monotonic()
    got = await channel.poll(timeout=5)
    await pusher
    assert 0.2 < time.monotonic() - started < 2
    assert [u["message"]["text"] for u in got] == ["Є хтось?"]
    assert telegram_api.calls("getUpdates")[0].params["timeout"] == 5


async def test_a_long_poll_with_nothing_returns_empty_after_its_timeout(channel):
    started = time.monotonic()
    assert await channel.poll(timeout=1) == []
    assert 0.9 < time.monotonic() - started < 2.5


async def test_polling_while_a_webhook_is_set_is_a_conflict(telegram_api, token, channel):
    await channel.set_webhook("https://bot.shop.example/telegram/shop", "s3cret")
    with pytest.raises(Conflict) as caught:
        await channel.poll(timeout=0)
    assert "webhook delete" in caught.value.hint


async def test_a_second_poller_terminates_the_first(telegram_api, token):
    async with (
        Telegram("shop", token, telegram_api.url, timeout=2) as one,
        Telegram("shop", token, telegram_api.url, timeout=2) as two,
    ):
        first = asyncio.create_task(one.poll(timeout=5))
        await telegram_api.wait_until(lambda: telegram_api.calls("getUpdates"))
        second = asyncio.create_task(two.poll(timeout=0))
        with pytest.raises(Conflict, match="terminated by other getUpdates"):
            await first
        assert await second == []


# -- webhook ---------------------------------------------------------------------------------


async def test_webhook_set_info_delete_round_trip(telegram_api, token, channel):
    assert (await channel.webhook_info()).url == ""
    await channel.set_webhook("https://bot.shop.example/telegram/shop", "s3cret-Token_1")
    info = await channel.webhook_info()
    assert (info.url, info.pending, info.last_error) == (
        "https://bot.shop.example/telegram/shop",
        0,
        None,
    )
    hook = telegram_api.webhook(token)
    assert hook["secret_token"] == "s3cret-Token_1"
    assert hook["allowed_updates"][:3] == ["message", "edited_message", "my_chat_member"]
    business = ["business_connection", "business_message", "edited_business_message",
                "deleted_business_messages"]  # fmt: skip
    assert set(business) <= set(hook["allowed_updates"])
    assert "message_reaction" in hook["allowed_updates"]  # not sent unless asked for
    await channel.delete_webhook()
    assert (await channel.webhook_info()).url == ""
    assert telegram_api.webhook(token) is None


async def test_a_secret_telegram_would_refuse_is_rejected(channel):
    with pytest.raises(Rejected, match=r"(?i)secret token"):
        await channel.set_webhook("https://bot.shop.example/telegram/shop", "not/base64+")


@pytest.fixture
async def receiver():
    """A webhook endpoint on loopback that checks the secret like the relay will."""
    received: list[tuple[dict, dict]] = []
    state = {"secret": "s3cret-Token_1", "channel": None}

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        if not state["channel"].verify_webhook(request.headers, body, state["secret"]):
            return web.Response(status=403)
        received.append((dict(request.headers), await request.json()))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/telegram/shop", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}/telegram/shop", received, state
    await runner.cleanup()


async def test_webhook_push_carries_the_secret_header(
    telegram_api, token, channel, olena, receiver
):
    url, received, state = receiver
    state["channel"] = channel
    await channel.set_webhook(url, "s3cret-Token_1")
    update = await telegram_api.push_text(token, olena, "Через вебхук")
    ((headers, body),) = received
    assert headers["X-Telegram-Bot-Api-Secret-Token"] == "s3cret-Token_1"
    assert body == update
    assert channel.parse(body)[0].text == "Через вебхук"
    assert [(d.status, d.attempt) for d in telegram_api.deliveries] == [(200, 1)]
    assert (await channel.webhook_info()).pending == 0


async def test_webhook_refusal_is_retried_then_left_pending(
    telegram_api, token, channel, olena, receiver
):
    url, received, state = receiver
    state["channel"] = channel
    state["secret"] = "what-the-relay-expects"
    await channel.set_webhook(url, "s3cret-Token_1")
    await telegram_api.push_text(token, olena, "Не пройде")
    assert received == []
    assert [(d.status, d.attempt) for d in telegram_api.deliveries] == [
        (403, 1),
        (403, 2),
        (403, 3),
    ]
    info = await channel.webhook_info()
    assert info.pending == 1
    assert info.last_error == "Wrong response from the webhook: 403 Forbidden"
    state["secret"] = "s3cret-Token_1"
    await telegram_api.flush_webhook(token)
    assert len(received) == 1 and (await channel.webhook_info()).pending == 0


async def test_updates_pending_before_set_webhook_are_delivered_after(
    telegram_api, token, channel, olena, receiver
):
    url, received, state = receiver
    state["channel"] = channel
    await telegram_api.push_text(token, olena, "Поки вебхука не було")
    await channel.set_webhook(url, "s3cret-Token_1")
    await telegram_api.wait_until(lambda: received)
    assert received[0][1]["message"]["text"] == "Поки вебхука не було"


# -- the double's own edges ------------------------------------------------------------------


async def test_double_answers_unknown_tokens_and_methods_like_telegram(telegram_api, token):
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{telegram_api.url}/bot123:nope/getMe") as r:
            assert (r.status, await r.json()) == (
                401,
                {"ok": False, "error_code": 401, "description": "Unauthorized"},
            )
        async with http.get(f"{telegram_api.url}/bot{token}/getMoon") as r:
            assert (r.status, (await r.json())["description"]) == (404, "Not Found")
        async with http.get(f"{telegram_api.url}/bot{token}/GETME") as r:  # case-insensitive
            assert (await r.json())["result"]["username"] == "shop_bot"
        async with http.post(f"{telegram_api.url}/bot{token}/getUpdates", data={"limit": "1"}) as r:
            assert await r.json() == {"ok": True, "result": []}
    assert re.fullmatch(r"\d{10}:[A-Za-z0-9_-]{35}", token)
