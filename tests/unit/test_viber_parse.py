"""Viber callbacks -> Incoming values, webhook signatures, and the plan of an answer as Viber
messages: the pure half of the Viber channel (no network)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from im2mail.channels import Channel, FileTooBig, MalformedUpdate, Rejected, Step
from im2mail.channels.viber.channel import Viber, parse_callback, verify_signature
from im2mail.channels.viber.parse import (
    FILE_LIMIT,
    FORBIDDEN_EXTENSIONS,
    PICTURE_LIMIT,
    TEXT_LIMIT,
    VIDEO_LIMIT,
    refusal,
    sender_name,
)
from tests.support.bad_names import BAD_NAME, assert_clean
from tests.support.mangle import mangled

TOKEN = "4453b6ac12345678-e02c5f12174805f9-daec9cbb5448c51f"
OLENA = {"id": "01234567890A=", "name": "Олена Коваль", "avatar": "https://media.example/a.jpg",
         "language": "uk", "country": "UA", "api_version": 10}  # fmt: skip
STAMP = 1763900000123  # 2025-11-23 12:13:20.123 UTC
MEDIA = "https://dl-media.viber.com/5/media/2/short/any/sig/image/0x0/a1b2/c3d4.jpg?e=1763903600"


@pytest.fixture(scope="module")
def viber() -> Viber:
    return Viber("shop", TOKEN, "http://127.0.0.1:9/pa")  # nothing listens: no call may go


def message(message: dict, token: int = 5741311803571721087, **extra) -> dict:
    return {"event": "message", "timestamp": STAMP, "chat_hostname": "SN-CHAT-05_",
            "message_token": token, "sender": OLENA, "message": message, "silent": False,
            **extra}  # fmt: skip


def one(raw, bot: str = "shop"):
    parsed = parse_callback(bot, raw)
    assert len(parsed) == 1, parsed
    return parsed[0]


# -- messages --------------------------------------------------------------------------------


def test_text_message_gives_text_customer_chat_and_keys():
    text = "Добрий день! Потрібні візитки 500 шт 🙂"
    raw = message({"type": "text", "text": text})
    got = one(raw)
    assert (got.kind, got.text, got.files) == ("text", text, ())
    assert got.customer.channel == "viber"
    assert got.customer.external_id == "01234567890A="
    assert got.customer.first_name == "Олена Коваль"  # Viber has one name field
    assert got.customer.display_name == "Олена Коваль"
    assert (got.customer.last_name, got.customer.username, got.customer.source) == ("", None, None)
    assert got.chat_id == "01234567890A="
    assert got.channel_message_id == "5741311803571721087"
    assert got.dedupe_key == "viber:shop:message:5741311803571721087"
    assert got.created == datetime(2025, 11, 23, 12, 13, 20, 123000, tzinfo=UTC)
    assert (got.start, got.event, got.edited, got.group) == (False, None, False, None)
    assert got.raw is raw and got.bot == "shop"


def test_a_sender_without_a_name_is_known_by_id():
    sender = {"id": "Zm9vYmFyYmF6cXV4MTIzNA==", "language": "uk", "country": "UA"}
    got = one(message({"type": "text", "text": "Є хтось?"}, sender=sender))
    assert got.customer.first_name == ""
    assert got.customer.display_name == "Customer Zm9vYmFyYmF6cXV4MTIzNA=="


def test_picture_is_a_photo_with_its_caption_and_expiring_url():
    picture = {"type": "picture", "text": "Такий макет", "media": MEDIA,
               "thumbnail": MEDIA + "&t=1", "file_name": "макет.jpg", "size": 84211}  # fmt: skip
    got = one(message(picture))
    assert (got.kind, got.text) == ("photo", "Такий макет")
    (file,) = got.files
    assert (file.ref, file.filename, file.mime, file.size, file.kind) == (
        MEDIA, "макет.jpg", "image/jpeg", 84211, "photo")  # fmt: skip


def test_picture_without_a_name_is_named_after_its_url_or_token():
    got = one(message({"type": "picture", "media": MEDIA}))
    assert got.files[0].filename == "c3d4.jpg" and got.text == ""
    got = one(message({"type": "picture", "media": "https://dl-media.viber.com/x/abc"}, 77))
    assert (got.files[0].filename, got.files[0].mime) == ("photo_77.jpg", "image/jpeg")


def test_png_picture_keeps_its_type():
    got = one(message({"type": "picture", "media": MEDIA, "file_name": "схема.png"}))
    assert got.files[0].mime == "image/png"


def test_video_and_file_messages_become_files():
    video = one(message({"type": "video", "media": MEDIA, "size": 1200000, "duration": 12,
                         "file_name": "відгук.mp4"}))  # fmt: skip
    assert video.kind == "video"
    assert (video.files[0].filename, video.files[0].mime, video.files[0].size) == (
        "відгук.mp4", "video/mp4", 1200000)  # fmt: skip
    doc = one(message({"type": "file", "media": MEDIA, "size": 30211,
                       "file_name": "Рахунок №12.pdf"}))  # fmt: skip
    assert doc.kind == "document"
    (file,) = doc.files
    assert (file.filename, file.mime, file.size, file.kind) == (
        "Рахунок №12.pdf", "application/pdf", 30211, "document")  # fmt: skip


def test_contact_reads_like_telegrams():
    contact = {"name": "Петро Іваненко", "phone_number": "380501112233"}
    got = one(message({"type": "contact", "contact": contact}))
    assert (got.kind, got.text, got.files) == ("contact", "👤 Петро Іваненко +380501112233", ())
    assert got.customer.phone is None  # nobody can tell whose number it is


def test_location_gives_coordinates_and_a_map_link():
    got = one(message({"type": "location", "location": {"lat": 50.4501234, "lon": 30.5234567}}))
    assert got.kind == "location"
    assert got.text == "📍 50.450123, 30.523457\nhttps://maps.google.com/?q=50.450123,30.523457"


def test_location_with_an_address_names_it_first():
    place = {"lat": 50.45, "lon": 30.52, "address": "вул. Хрещатик, 1, Київ"}
    got = one(message({"type": "location", "location": place}))
    assert got.text.splitlines()[0] == "📍 вул. Хрещатик, 1, Київ"


def test_sticker_comes_as_its_png():
    media = "https://viber-stickers.example/46105.png"
    got = one(message({"type": "sticker", "sticker_id": 46105, "media": media}))
    assert (got.kind, got.text) == ("sticker", "sticker")
    (file,) = got.files
    assert (file.ref, file.filename, file.mime, file.kind) == (
        media, "sticker.png", "image/png", "sticker")  # fmt: skip


def test_sticker_without_media_is_words_only():
    got = one(message({"type": "sticker", "sticker_id": 46105}))
    assert (got.kind, got.text, got.files) == ("sticker", "sticker", ())


def test_url_message_is_the_url_as_text():
    got = one(message({"type": "url", "media": "https://shop.example/товар/42"}))
    assert (got.kind, got.text) == ("text", "https://shop.example/товар/42")


def test_a_message_of_an_unknown_type_still_reaches_the_managers():
    got = one(message({"type": "rich_media", "rich_media": {"Type": "rich_media"}}))
    assert (got.kind, got.text) == ("other", "(unsupported Viber message: rich_media)")
    got = one(message({"type": "poll_2031", "text": "Так"}))
    assert got.text == "(unsupported Viber message: poll_2031) Так"


# -- other callbacks -------------------------------------------------------------------------


def test_conversation_started_carries_the_lead_source():
    raw = {"event": "conversation_started", "timestamp": STAMP, "chat_hostname": "SN-CHAT-05_",
           "message_token": 5741311803571721088, "type": "open", "context": "qr-vitryna",
           "user": OLENA, "subscribed": False}  # fmt: skip
    got = one(raw)
    assert (got.start, got.event, got.kind) == (True, "started", "text")
    assert got.customer.source == "qr-vitryna"
    assert got.customer.first_name == "Олена Коваль"
    assert got.chat_id == "01234567890A="
    assert got.dedupe_key == "viber:shop:started:5741311803571721088"
    assert got.created == datetime(2025, 11, 23, 12, 13, 20, 123000, tzinfo=UTC)


def test_conversation_started_without_context_has_no_source():
    raw = {"event": "conversation_started", "timestamp": STAMP, "message_token": 9,
           "type": "open", "user": OLENA, "subscribed": True}  # fmt: skip
    assert one(raw).customer.source is None
    assert one({**raw, "context": "  "}).customer.source is None


def test_subscribed_and_unsubscribed_are_unblocked_and_blocked():
    sub = one({"event": "subscribed", "timestamp": STAMP, "user": OLENA, "message_token": 31})
    assert (sub.kind, sub.event, sub.customer.first_name) == ("event", "unblocked", "Олена Коваль")
    assert sub.dedupe_key == "viber:shop:subscribed:31"
    unsub = one({"event": "unsubscribed", "timestamp": STAMP, "user_id": "01234567890A=",
                 "message_token": 32})  # fmt: skip
    assert unsub.event == "blocked"
    assert unsub.customer.external_id == "01234567890A=" and unsub.customer.first_name == ""
    assert unsub.chat_id == "01234567890A="
    assert unsub.dedupe_key == "viber:shop:unsubscribed:32"


def test_an_unsubscribe_without_a_token_is_keyed_by_user_and_time():
    got = one({"event": "unsubscribed", "timestamp": STAMP, "user_id": "01234567890A="})
    assert got.dedupe_key == f"viber:shop:unsubscribed:01234567890A=:{STAMP}"


@pytest.mark.parametrize("event", ["delivered", "seen"])
def test_receipts_name_the_message_and_when(event):
    raw = {"event": event, "timestamp": STAMP, "chat_hostname": "SN-CHAT-05_",
           "message_token": 5741311803571721090, "user_id": "01234567890A="}  # fmt: skip
    got = one(raw)
    assert (got.kind, got.event) == ("event", event)
    assert got.channel_message_id == "5741311803571721090"
    assert got.created == datetime(2025, 11, 23, 12, 13, 20, 123000, tzinfo=UTC)
    assert got.dedupe_key == f"viber:shop:{event}:5741311803571721090"
    assert got.chat_id == "01234567890A="


def test_failed_carries_vibers_description():
    raw = {"event": "failed", "timestamp": STAMP, "message_token": 44,
           "user_id": "01234567890A=", "desc": "Не вдалося доставити"}  # fmt: skip
    got = one(raw)
    assert (got.event, got.text, got.channel_message_id) == ("failed", "Не вдалося доставити", "44")
    assert got.dedupe_key == "viber:shop:failed:44"


@pytest.mark.parametrize("raw", [
    {"event": "webhook", "timestamp": STAMP, "chat_hostname": "SN-CHAT-05_",
     "message_token": "241256543215"},
    {"event": "action_2030", "timestamp": STAMP},
    {"event": "client_status", "whatever": [1, 2]},
])  # fmt: skip
def test_webhook_checks_and_unknown_events_give_nothing(raw):
    assert parse_callback("shop", raw) == []


def test_a_numeric_string_token_is_read_as_the_number():
    assert one(message({"type": "text", "text": "x"}, token="0042")).channel_message_id == "42"


MALFORMED = [
    None,
    [],
    "message",
    42,
    {},
    {"event": None},
    {"event": "message", "timestamp": STAMP, "message_token": 1, "message": {"type": "text",
     "text": "x"}},  # no sender
    message({"type": "text", "text": "x"}, token="abcdef"),
    message({"type": "text", "text": "x"}, token=True),
    message({"type": "text", "text": "x"}, token=-5),
    message({"type": "text", "text": "x"}, sender={"name": "Олена"}),
    message({"type": "text", "text": "x"}, sender="Олена"),
    message({"type": "text", "text": "x"}, timestamp="вчора"),
    message({"type": "text", "text": "x"}, timestamp=10**30),
    message({"type": "text"}),
    message({"type": "text", "text": 5}),
    message({"text": "без типу"}),
    message("hello"),
    message({"type": "picture", "text": "без медіа"}),
    message({"type": "picture", "media": MEDIA, "size": "big"}),
    message({"type": "contact"}),
    message({"type": "location", "location": {"lat": "50.4", "lon": 30.5}}),
    message({"type": "url"}),
    {"event": "conversation_started", "timestamp": STAMP, "message_token": 1, "type": "open"},
    {"event": "unsubscribed", "timestamp": STAMP, "message_token": 1},
    {"event": "delivered", "timestamp": STAMP, "user_id": "01234567890A="},
    {"event": "seen", "timestamp": STAMP, "message_token": 1, "user_id": 7},
    {"event": "failed", "message_token": 1, "user_id": "01234567890A="},
]  # fmt: skip


@pytest.mark.parametrize("raw", MALFORMED)
def test_malformed_callbacks_raise_malformed_update_only(raw):
    with pytest.raises(MalformedUpdate) as caught:
        parse_callback("shop", raw)
    assert "viber bot 'shop'" in str(caught.value)


SAMPLES = [
    message({"type": "text", "text": "привіт", "tracking_data": "t"}),
    message({"type": "picture", "media": MEDIA, "file_name": "a.jpg", "size": 5, "text": "c"}),
    message({"type": "contact", "contact": {"name": "A", "phone_number": "1"}}),
    message({"type": "location", "location": {"lat": 1.0, "lon": 2.0}}),
    message({"type": "sticker", "sticker_id": 1, "media": MEDIA}),
    {"event": "conversation_started", "timestamp": STAMP, "message_token": 1, "type": "open",
     "context": "c", "user": OLENA, "subscribed": False},
    {"event": "failed", "timestamp": STAMP, "message_token": 1, "user_id": "u", "desc": "d"},
]  # fmt: skip


def test_no_mangled_callback_makes_parse_raise_anything_but_malformed_update():
    tried = 0
    for path, replacement, raw in mangled(SAMPLES, per_field=5):
        tried += 1
        try:
            result = parse_callback("shop", raw)
        except MalformedUpdate:
            continue
        assert isinstance(result, list), (path, replacement)
    assert tried > 300


def test_the_channel_parses_with_its_bot_name(viber):
    got = viber.parse(message({"type": "text", "text": "x"}))
    assert got[0].bot == "shop" and got[0].dedupe_key.startswith("viber:shop:")
    assert isinstance(viber, Channel)
    assert Viber.sends_files_by_link  # what makes the relay hand it its public file links


# -- signatures ------------------------------------------------------------------------------

BODY = json.dumps(message({"type": "text", "text": "Привіт"}), separators=(",", ":")).encode()


def sign(body: bytes, token: str = TOKEN) -> str:
    return hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


def test_a_callback_signed_with_the_token_is_genuine(viber):
    assert viber.verify_webhook({"X-Viber-Content-Signature": sign(BODY)}, BODY, "unused")
    # header names are case-insensitive; the secret argument plays no part for Viber
    assert viber.verify_webhook({"x-viber-content-signature": sign(BODY)}, BODY, "")


def test_a_tampered_body_or_another_token_fails(viber):
    tampered = BODY.replace(b'"silent":false', b'"silent":true')
    assert tampered != BODY
    assert not viber.verify_webhook({"X-Viber-Content-Signature": sign(BODY)}, tampered, "")
    other = sign(BODY, "0000000000000000-0000000000000000-0000000000000000")
    assert not viber.verify_webhook({"X-Viber-Content-Signature": other}, BODY, "")
    assert not viber.verify_webhook({"X-Viber-Content-Signature": sign(BODY)[:-1]}, BODY, "")


def test_a_missing_or_empty_signature_fails(viber):
    assert not viber.verify_webhook({}, BODY, TOKEN)
    assert not viber.verify_webhook({"X-Viber-Content-Signature": ""}, BODY, TOKEN)
    assert not viber.verify_webhook({"X-Telegram-Bot-Api-Secret-Token": TOKEN}, BODY, TOKEN)
    assert not verify_signature("", {"X-Viber-Content-Signature": sign(BODY, "")}, BODY)


# -- welcome ---------------------------------------------------------------------------------


def test_welcome_is_a_text_message_from_the_bot(viber):
    body = viber.welcome("Вітаємо! Напишіть, що саме вам надрукувати.")
    assert body == {"sender": {"name": "shop"}, "type": "text",
                    "text": "Вітаємо! Напишіть, що саме вам надрукувати."}  # fmt: skip
    assert len(viber.welcome("я" * 8000)["text"]) == TEXT_LIMIT


@pytest.mark.parametrize(("name", "shown"), [
    ("Друкарня «Аркуш»", "Друкарня «Аркуш»"),
    ("Друкарня «Аркуш» — поліграфія та друк", "Друкарня «Аркуш»"),
    ("Поліграфічнийцентрбезпробілівувсійназві", "Поліграфічнийцентрбезпробілі"),
    ("  Друк   і  дизайн  ", "Друк і дизайн"),
])  # fmt: skip
def test_sender_name_fits_vibers_28_characters(name, shown):
    assert sender_name(name) == shown and len(shown) <= 28


# -- plan ------------------------------------------------------------------------------------

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
PDF = ("Рахунок.pdf", "application/pdf", b"%PDF-1.7")
SENTENCE = "Друк займе два робочі дні, після чого передамо замовлення на Нову пошту. "


def picture(size: int = 1000, name: str = "макет.jpg") -> tuple[str, str, bytes]:
    return (name, "image/jpeg", JPEG + b"\x00" * (size - len(JPEG)))


def video(size: int) -> tuple[str, str, bytes]:
    return ("відгук.mp4", "video/mp4", b"\x00" * size)


def test_blank_text_and_no_files_plan_nothing(viber):
    assert viber.plan("") == [] and viber.plan(" \n\t") == []


def test_short_text_is_one_text_step(viber):
    assert viber.plan("  Доброго дня!\n") == [Step("Доброго дня!")]


def test_text_over_7000_is_split_on_paragraphs(viber):
    paragraph = (SENTENCE * 40).strip()  # about 2900 characters
    text = "\n\n".join(f"{i}. {paragraph}" for i in range(1, 4))  # about 8800
    assert len(text) > TEXT_LIMIT
    steps = viber.plan(text)
    assert [s.sort for s in steps] == ["text", "text"]
    assert all(0 < len(s.text) <= TEXT_LIMIT for s in steps)
    assert steps[0].text.endswith(paragraph) and steps[1].text.startswith("3. ")
    assert "\n\n".join(s.text for s in steps) == text


def test_7001_characters_without_breaks_still_fit(viber):
    steps = viber.plan("я" * 7001)
    assert [len(s.text) for s in steps] == [7000, 1]


def test_a_small_picture_is_a_picture_with_a_short_text_as_description(viber):
    assert viber.plan("Ось макет", [picture()]) == [Step("Ось макет", (picture(),), "picture")]


def test_a_long_text_goes_first_and_the_picture_has_no_description(viber):
    text = "Опис " * 200  # 1000 characters: over the 768 of a description
    steps = viber.plan(text, [picture()])
    assert [s.sort for s in steps] == ["text", "picture"]
    assert steps[0].text == text.strip() and steps[1] == Step("", (picture(),), "picture")


def test_pictures_over_1_mb_and_other_images_go_as_files(viber):
    big = picture(int(1.5 * 1024 * 1024))
    gif = ("анімація.gif", "image/gif", b"GIF89a")
    steps = viber.plan("", [picture(PICTURE_LIMIT), big, gif])
    assert [s.sort for s in steps] == ["picture", "file", "file"]
    assert steps[1].files == (big,)


def test_text_comes_before_a_first_file_that_is_not_a_picture(viber):
    steps = viber.plan("Рахунок у вкладенні", [PDF, picture()])
    assert steps == [Step("Рахунок у вкладенні"), Step("", (PDF,), "file"),
                     Step("", (picture(),), "picture")]  # fmt: skip


def test_videos_up_to_26_mb_are_videos_larger_ones_files(viber):
    small, large = video(VIDEO_LIMIT), video(27 * 1024 * 1024)
    mov = ("clip.mov", "video/quicktime", b"\x00" * 100)
    steps = viber.plan("", [small, large, mov])
    assert [s.sort for s in steps] == ["video", "file", "file"]


def test_a_forbidden_file_is_refused_first_so_nothing_goes_out(viber):
    exe = ("report.exe", "application/octet-stream", b"MZ")
    steps = viber.plan("Ось звіт", [picture(), exe])
    assert steps[0] == Step("Viber does not accept .exe files: report.exe", (exe,), "refused")
    assert [s.sort for s in steps[1:]] == ["picture"]


@pytest.mark.parametrize("name", ["install.BAT", "setup.msi", "app.apk", "run.sh", "x.ps1"])
def test_forbidden_extensions_ignore_case(viber, name):
    assert viber.plan("", [(name, "application/octet-stream", b"x")])[0].sort == "refused"
    assert {".exe", ".bat", ".cmd", ".com", ".scr", ".vbs", ".js", ".jar", ".msi", ".apk",
            ".dll", ".ps1", ".sh"} <= FORBIDDEN_EXTENSIONS  # fmt: skip


def test_a_file_over_50_mb_is_refused(viber):
    huge = ("каталог.pdf", "application/pdf", b"\x00" * (60 * 1024 * 1024))
    steps = viber.plan("Каталог", [huge])
    assert steps[0].sort == "refused"
    assert steps[0].text == "каталог.pdf is 60 MB; Viber takes files up to 50 MB"
    assert steps[1:] == [Step("Каталог")]
    assert viber.plan("", [("ok.pdf", "application/pdf", b"\x00" * FILE_LIMIT)])[0].sort == "file"


async def test_a_refused_step_raises_before_any_call(viber):
    exe = ("report.exe", "application/octet-stream", b"MZ")
    huge = ("video.mp4", "video/mp4", b"\x00" * (60 * 1024 * 1024))
    with pytest.raises(Rejected) as caught:
        await viber.send_step("01234567890A=", viber.plan("", [exe, huge])[0])
    assert caught.value.reason == (
        "Viber does not accept .exe files: report.exe; "
        "video.mp4 is 60 MB; Viber takes files up to 50 MB"
    )
    with pytest.raises(FileTooBig) as too_big:
        await viber.send_step("01234567890A=", viber.plan("", [huge])[0])
    assert (too_big.value.size, too_big.value.limit) == (60 * 1024 * 1024, FILE_LIMIT)
    assert "video.mp4" in too_big.value.reason


def test_refusal_of_a_forbidden_file_is_rejected_not_too_big():
    step = Step("Viber does not accept .exe files: a.exe", (("a.exe", "x", b""),), "refused")
    assert type(refusal("shop", step)) is Rejected


async def test_files_without_a_link_maker_are_rejected_with_a_hint(viber):
    with pytest.raises(Rejected) as caught:
        await viber.send_step("01234567890A=", Step("", (picture(),), "picture"))
    assert "relay.public_url" in caught.value.reason
    assert "public_url" in (caught.value.hint or "")


def test_the_plan_is_deterministic_so_a_resume_skips_what_was_sent(viber):
    files = [PDF, picture(), video(5000)]
    text = "\n\n".join([(SENTENCE * 50).strip()] * 3)
    first, again = viber.plan(text, files), viber.plan(text, files)
    assert first == again
    assert [s.sort for s in first] == ["text", "text", "text", "file", "picture", "video"]


def test_a_file_name_loses_control_characters_at_parse_time():
    got = one(message({"type": "file", "media": MEDIA, "size": 5, "file_name": BAD_NAME}))
    assert_clean(got.files[0].filename)
    assert got.files[0].mime == "application/pdf"
    # No name given: the one in the media URL, where %0D%0A is a CR/LF once unquoted
    url = "https://dl-media.viber.com/5/media/a%0D%0AFrom%20x%E2%80%AE.pdf?e=1"
    got = one(message({"type": "file", "media": url, "size": 5}))
    assert got.files[0].filename == "a From x.pdf"
