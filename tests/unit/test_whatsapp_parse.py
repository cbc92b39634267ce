"""WhatsApp Cloud API webhooks -> Incoming values, webhook signatures, and the plan of an
answer as Cloud API messages: the pure half of the WhatsApp channel (no network)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from im2mail.channels import Channel, FileTooBig, MalformedUpdate, Step
from im2mail.channels.graph import encode, sign
from im2mail.channels.whatsapp.channel import WINDOW_REASON, WhatsApp, parse_webhook
from im2mail.channels.whatsapp.parse import (
    CAPTION_LIMIT,
    DOCUMENT_LIMIT,
    IMAGE_LIMIT,
    MB,
    TEXT_LIMIT,
    plan_steps,
    refusal,
)
from im2mail.errors import ConfigError
from tests.support.bad_names import BAD_MIME, BAD_NAME, assert_clean
from tests.support.mangle import mangled

NUMBER_ID = "106540352242922"
OTHER_ID = "113270925082447"
SECRET = encode("EAAGtesttoken" + "x" * 40, "0123456789abcdef0123456789abcdef")
APP_SECRET = "0123456789abcdef0123456789abcdef"
OLENA = "380671234567"
STAMP = "1763900000"  # 2025-11-23 12:13:20 UTC
WAMID = "wamid.HBgMMzgwNjcxMjM0NTY3FQIAEhgUM0E0QTY1OTlBRUUwMzgxMDE0NEYA"


@pytest.fixture(scope="module")
def whatsapp() -> WhatsApp:
    # nothing listens at that URL: no call may go
    return WhatsApp("shop", SECRET, "http://127.0.0.1:9/v21.0", phone_number_id=NUMBER_ID)


def hook(*, messages=None, statuses=None, number=NUMBER_ID, name="Олена Коваль") -> dict:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "380441234567", "phone_number_id": number},
    }
    if messages is not None:
        value["contacts"] = [{"profile": {"name": name}, "wa_id": OLENA}]
        value["messages"] = messages
    if statuses is not None:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    }


def msg(kind: str, content, ident: str = WAMID, **extra) -> dict:
    return {"from": OLENA, "id": ident, "timestamp": STAMP, "type": kind, kind: content, **extra}


def status(state: str, **extra) -> dict:
    return {"id": "wamid.OUR1", "status": state, "timestamp": STAMP, "recipient_id": OLENA, **extra}


def one(raw, bot: str = "shop"):
    parsed = parse_webhook(bot, NUMBER_ID, raw)
    assert len(parsed) == 1, parsed
    return parsed[0]


# -- messages --------------------------------------------------------------------------------


def test_text_gives_customer_with_phone_chat_and_keys():
    raw = hook(messages=[msg("text", {"body": "Добрий день! Скільки коштують візитки?"})])
    got = one(raw)
    assert (got.kind, got.text, got.files) == ("text", "Добрий день! Скільки коштують візитки?", ())
    c = got.customer
    assert (c.channel, c.external_id, c.first_name, c.phone) == (
        "whatsapp",
        OLENA,
        "Олена Коваль",
        "+380671234567",
    )
    assert (c.source, c.last_name, c.username) == (None, "", None)
    assert got.chat_id == OLENA and got.channel_message_id == WAMID
    assert got.dedupe_key == f"whatsapp:shop:{WAMID}"
    assert got.created == datetime(2025, 11, 23, 12, 13, 20, tzinfo=UTC)
    assert (got.event, got.start, got.bot) == (None, False, "shop")
    assert got.raw == raw["entry"][0]["changes"][0]["value"]["messages"][0]


def test_a_change_for_another_number_of_the_same_app_is_not_ours():
    raw = hook(messages=[msg("text", {"body": "Привіт"})], number=OTHER_ID)
    assert parse_webhook("shop", NUMBER_ID, raw) == []
    assert len(parse_webhook("other", OTHER_ID, raw)) == 1


def test_other_objects_and_fields_are_of_no_interest():
    assert parse_webhook("shop", NUMBER_ID, {"object": "page", "entry": []}) == []
    raw = hook(messages=[msg("text", {"body": "x"})])
    raw["entry"][0]["changes"][0]["field"] = "account_update"
    assert parse_webhook("shop", NUMBER_ID, raw) == []


def test_several_messages_in_one_webhook_come_in_order():
    raw = hook(
        messages=[msg("text", {"body": "раз"}, "wamid.A"), msg("text", {"body": "два"}, "wamid.B")]
    )
    got = parse_webhook("shop", NUMBER_ID, raw)
    assert [g.text for g in got] == ["раз", "два"]


def test_an_image_is_a_photo_with_its_caption_and_media_id():
    image = {
        "caption": "Такий макет",
        "mime_type": "image/jpeg",
        "sha256": "abc=",
        "id": "1003383421387256",
    }
    got = one(hook(messages=[msg("image", image)]))
    assert (got.kind, got.text) == ("photo", "Такий макет")
    (file,) = got.files
    assert (file.ref, file.mime, file.kind, file.size) == (
        "1003383421387256",
        "image/jpeg",
        "photo",
        None,
    )
    assert file.filename.startswith("photo_") and file.filename.endswith(".jpg")


def test_a_document_keeps_its_file_name():
    doc = {
        "filename": "Рахунок №12.pdf",
        "mime_type": "application/pdf",
        "sha256": "x",
        "id": "2",
        "caption": "Оплачено",
    }
    got = one(hook(messages=[msg("document", doc)]))
    assert (got.kind, got.text) == ("document", "Оплачено")
    assert (got.files[0].filename, got.files[0].mime) == ("Рахунок №12.pdf", "application/pdf")


def test_a_voice_note_and_an_audio_file():
    voice = one(
        hook(
            messages=[
                msg("audio", {"mime_type": "audio/ogg; codecs=opus", "id": "3", "voice": True})
            ]
        )
    )
    assert voice.kind == "voice" and voice.files[0].mime == "audio/ogg"
    assert voice.files[0].filename.endswith(".ogg") and voice.files[0].kind == "voice"
    song = one(hook(messages=[msg("audio", {"mime_type": "audio/mpeg", "id": "4"})]))
    assert song.kind == "audio" and song.files[0].filename.endswith(".mp3")


def test_a_sticker_is_a_webp_file():
    got = one(
        hook(messages=[msg("sticker", {"mime_type": "image/webp", "id": "5", "animated": False})])
    )
    assert (got.kind, got.text, got.files[0].mime) == ("sticker", "sticker", "image/webp")


def test_a_location_reads_as_text_with_a_map_link():
    place = {
        "latitude": 50.450123,
        "longitude": 30.523456,
        "name": "Друкарня",
        "address": "вул. Хрещатик, 1",
    }
    got = one(hook(messages=[msg("location", place)]))
    assert got.kind == "location"
    assert got.text == (
        "📍 Друкарня\nвул. Хрещатик, 1\n50.450123, 30.523456\n"
        "https://maps.google.com/?q=50.450123,30.523456"
    )


def test_shared_contacts_read_as_names_and_numbers():
    card = {
        "name": {"formatted_name": "Петро Шевченко", "first_name": "Петро"},
        "phones": [{"phone": "+380 50 111 2233", "type": "CELL"}],
    }
    got = one(hook(messages=[msg("contacts", [card])]))
    assert (got.kind, got.text) == ("contact", "👤 Петро Шевченко +380 50 111 2233")


def test_button_and_list_replies_are_text():
    button = one(hook(messages=[msg("button", {"text": "Так", "payload": "yes"})]))
    assert (button.kind, button.text) == ("text", "Так")
    row = {"type": "list_reply", "list_reply": {"id": "a4", "title": "А4", "description": "80 г"}}
    assert one(hook(messages=[msg("interactive", row)])).text == "А4\n80 г"


def test_a_reaction_and_its_removal_are_reaction_events_on_the_message():
    reaction = {"message_id": "wamid.OUR1", "emoji": "👍"}
    got = one(hook(messages=[msg("reaction", reaction)]))
    assert (got.event, got.channel_message_id, got.reactions) == ("reaction", "wamid.OUR1",
                                                                   ("👍",))  # fmt: skip
    assert (got.text, got.customer.external_id, got.dedupe_key) == (
        "",
        OLENA,
        f"whatsapp:shop:{WAMID}",
    )
    taken_back = one(hook(messages=[msg("reaction", {"message_id": "wamid.OUR1", "emoji": ""},
                                        ident="wamid.BACK")]))  # fmt: skip
    assert (taken_back.event, taken_back.reactions) == ("reaction", ())


def test_an_edit_names_the_original_and_carries_the_new_text():
    """Coexistence numbers only: the edit has an id of its own, and the message it changes."""
    new = {"type": "text", "text": {"body": "Не 200, а 300 візиток"}}
    edit = {"original_message_id": "wamid.FIRST", "message": new}
    got = one(hook(messages=[msg("edit", edit, ident="wamid.EDIT1")]))
    assert (got.edited, got.channel_message_id, got.text) == (
        True,
        "wamid.FIRST",
        "Не 200, а 300 візиток",
    )
    assert got.dedupe_key == "whatsapp:shop:wamid.EDIT1" and got.event is None
    caption = {"type": "image", "image": {"id": "9", "mime_type": "image/jpeg",
                                          "caption": "Макет, варіант 2"}}  # fmt: skip
    picture = one(hook(messages=[msg("edit", {"original_message_id": "wamid.P",
                                              "message": caption})]))  # fmt: skip
    assert (picture.edited, picture.text, picture.kind) == (True, "Макет, варіант 2", "photo")
    with pytest.raises(MalformedUpdate):
        parse_webhook("shop", NUMBER_ID, hook(messages=[msg("edit", {"message": new})]))


def test_unsupported_and_unknown_types_still_reach_the_managers():
    raw = {
        "from": OLENA,
        "id": WAMID,
        "timestamp": STAMP,
        "type": "unsupported",
        "errors": [{"code": 131051, "title": "Message type unknown"}],
    }
    got = one(hook(messages=[raw]))
    assert (got.kind, got.text) == ("other", "(unsupported WhatsApp message: unsupported)")
    got = one(hook(messages=[msg("order", {"catalog_id": "1", "product_items": []})]))
    assert got.text == "(unsupported WhatsApp message: order)"


def test_an_ad_referral_becomes_the_lead_source():
    referral = {
        "source_url": "https://fb.me/3cr4Wqqkv",
        "source_id": "120208746523080046",
        "source_type": "ad",
        "headline": "Візитки за 1 день",
        "body": "...",
        "media_type": "image",
        "ctwa_clid": "ARAkLkA8rmlFeiCktEJQ-QTwRiyY",
    }
    got = one(hook(messages=[msg("text", {"body": "Хочу візитки"}, referral=referral)]))
    assert got.customer.source == "ad-120208746523080046"
    odd = {"source_id": "ab c/d<e>" + "9" * 80, "source_type": "post"}
    source = one(hook(messages=[msg("text", {"body": "x"}, referral=odd)])).customer.source
    assert source.startswith("post-abcde9") and len(source) == 64


def test_a_customer_without_a_profile_name_is_known_by_number():
    got = one(hook(messages=[msg("text", {"body": "?"})], name=""))
    assert got.customer.display_name == f"Customer {OLENA}"


# -- statuses --------------------------------------------------------------------------------


@pytest.mark.parametrize(("state", "event"), [("delivered", "delivered"), ("read", "seen")])
def test_delivered_and_read_are_receipts_for_our_message(state, event):
    got = one(hook(statuses=[status(state)]))
    assert (got.event, got.kind, got.text) == (event, "event", "")
    assert got.channel_message_id == "wamid.OUR1" and got.chat_id == OLENA
    assert got.dedupe_key == f"whatsapp:shop:{event}:wamid.OUR1"
    assert got.customer.external_id == OLENA


def test_sent_and_other_statuses_are_of_no_interest():
    assert parse_webhook("shop", NUMBER_ID, hook(statuses=[status("sent")])) == []
    assert parse_webhook("shop", NUMBER_ID, hook(statuses=[status("deleted")])) == []


def test_a_failed_status_says_why():
    errors = [
        {
            "code": 131026,
            "title": "Message Undeliverable",
            "message": "Message Undeliverable",
            "error_data": {"details": "Unable to deliver message."},
        }
    ]
    got = one(hook(statuses=[status("failed", errors=errors)]))
    assert got.event == "failed"
    assert got.text == "Message Undeliverable: Unable to deliver message. (131026)"


def test_a_failed_status_for_the_24_hour_rule_explains_it_to_the_manager():
    errors = [
        {
            "code": 131047,
            "title": "Re-engagement message",
            "error_data": {
                "details": "Message failed to send because more than 24 hours "
                "have passed since the customer last replied to this number."
            },
        }
    ]
    got = one(hook(statuses=[status("failed", errors=errors)]))
    assert got.text == WINDOW_REASON
    assert "24 hours" in WINDOW_REASON and "template" in WINDOW_REASON
    assert "Nothing was sent" in WINDOW_REASON


# -- malformed -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        None,
        [],
        "x",
        {"object": "whatsapp_business_account"},
        {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages"}]}]},
        hook(messages=[{"from": OLENA, "id": WAMID, "type": "text", "text": {"body": "x"}}]),
        hook(messages=[msg("text", {"body": 5})]),
        hook(messages=[msg("image", {"mime_type": "image/jpeg"})]),
        hook(messages=[msg("location", {"latitude": "north"})]),
        hook(statuses=[{"id": "wamid.X", "status": "read", "timestamp": STAMP}]),
    ],
)
def test_malformed_webhooks_raise_malformed_update(raw):
    with pytest.raises(MalformedUpdate):
        parse_webhook("shop", NUMBER_ID, raw)


SAMPLES = [
    hook(
        messages=[msg("text", {"body": "Привіт"}, referral={"source_id": "1", "source_type": "ad"})]
    ),
    hook(
        messages=[
            msg(
                "document",
                {"filename": "a.pdf", "mime_type": "application/pdf", "id": "7", "caption": "c"},
            )
        ]
    ),
    hook(messages=[msg("location", {"latitude": 50.1, "longitude": 30.2, "name": "n"})]),
    hook(
        messages=[msg("contacts", [{"name": {"formatted_name": "P"}, "phones": [{"phone": "+1"}]}])]
    ),
    hook(
        messages=[
            msg(
                "interactive", {"type": "button_reply", "button_reply": {"id": "y", "title": "Так"}}
            )
        ]
    ),
    hook(statuses=[status("failed", errors=[{"code": 1, "title": "t"}])]),
]


def test_no_mangled_webhook_makes_parse_raise_anything_but_malformed_update():
    tried = 0
    for path, replacement, raw in mangled(SAMPLES, per_field=5):
        tried += 1
        try:
            result = parse_webhook("shop", NUMBER_ID, raw)
        except MalformedUpdate:
            continue
        assert isinstance(result, list), (path, replacement)
    assert tried > 300


# -- the channel object ----------------------------------------------------------------------


def test_the_channel_parses_with_its_bot_and_number(whatsapp):
    assert isinstance(whatsapp, Channel)
    got = whatsapp.parse(hook(messages=[msg("text", {"body": "x"})]))
    assert got[0].bot == "shop" and got[0].dedupe_key == f"whatsapp:shop:{WAMID}"
    assert whatsapp.parse(hook(messages=[msg("text", {"body": "x"})], number=OTHER_ID)) == []


def test_signatures_are_checked_with_the_app_secret(whatsapp):
    body = json.dumps(hook(messages=[msg("text", {"body": "x"})])).encode()
    good = {"X-Hub-Signature-256": sign(APP_SECRET, body)}
    assert whatsapp.verify_webhook(good, body, "verify-token")
    assert whatsapp.verify_webhook({k.lower(): v for k, v in good.items()}, body, "x")
    assert not whatsapp.verify_webhook(good, body + b" ", "verify-token")
    assert not whatsapp.verify_webhook({"X-Hub-Signature-256": sign("other", body)}, body, "v")
    assert not whatsapp.verify_webhook({}, body, "verify-token")


def test_the_channel_needs_a_phone_number_id():
    with pytest.raises(ConfigError) as caught:
        WhatsApp("shop", SECRET, None, phone_number_id=None)
    assert "phone_number_id" in str(caught.value)
    assert WhatsApp("shop", SECRET, phone_number_id=int(NUMBER_ID)).phone_number_id == NUMBER_ID
    assert [key.key for key in WhatsApp.spec.keys] == ["phone_number_id"]


def test_repr_names_the_bot_never_the_token(whatsapp):
    assert repr(whatsapp) == "WhatsApp(bot='shop')"
    assert "EAAG" not in repr(whatsapp) and "0123456789abcdef" not in repr(whatsapp)


# -- planning --------------------------------------------------------------------------------

JPEG_FILE = ("макет.jpg", "image/jpeg", b"\xff\xd8" + b"\x00" * 100)
PDF_FILE = ("Рахунок.pdf", "application/pdf", b"%PDF" + b"\x00" * 100)


def test_plain_text_is_one_step_and_long_text_is_split():
    assert plan_steps("Доброго дня") == [Step("Доброго дня")]
    assert plan_steps("   ") == []
    long = "\n\n".join(["слово " * 250] * 3)  # about 4500 characters
    steps = plan_steps(long)
    assert len(steps) == 2 and all(len(s.text) <= TEXT_LIMIT for s in steps)


def test_a_short_text_rides_as_the_caption_of_the_first_file():
    assert plan_steps("Ось макет", [JPEG_FILE, PDF_FILE]) == [
        Step("Ось макет", (JPEG_FILE,), "image"),
        Step("", (PDF_FILE,), "document"),
    ]


def test_a_long_text_goes_before_the_files():
    text = "а" * (CAPTION_LIMIT + 1)
    assert plan_steps(text, [JPEG_FILE]) == [Step(text), Step("", (JPEG_FILE,), "image")]


def test_files_go_as_their_kind_and_big_pictures_as_documents():
    big = ("фото.png", "image/png", b"\x89PNG" + b"\x00" * IMAGE_LIMIT)
    files = [
        ("a.mp4", "video/mp4", b"v"),
        ("a.ogg", "audio/ogg", b"o"),
        big,
        ("a.gif", "image/gif", b"g"),
    ]
    assert [s.sort for s in plan_steps("", files)] == ["video", "audio", "document", "document"]


def test_audio_takes_no_caption():
    song = ("пісня.mp3", "audio/mpeg", b"ID3")
    assert plan_steps("Послухайте", [song]) == [Step("Послухайте"), Step("", (song,), "audio")]


def test_a_file_over_100_mb_is_refused_first_and_raises_file_too_big():
    huge = ("архів.zip", "application/zip", b"\x00" * (DOCUMENT_LIMIT + 1))
    steps = plan_steps("Ось файли", [JPEG_FILE, huge])
    assert steps[0].sort == "refused" and steps[0].files == (huge,)
    assert steps[1:] == [Step("Ось файли", (JPEG_FILE,), "image")]
    error = refusal("shop", steps[0])
    assert isinstance(error, FileTooBig) and error.limit == DOCUMENT_LIMIT
    assert error.reason == "архів.zip is 100 MB; WhatsApp takes files up to 100 MB"
    assert error.size == DOCUMENT_LIMIT + 1 and MB == 1024 * 1024


def test_a_file_name_and_type_lose_control_characters_at_parse_time():
    doc = {"filename": BAD_NAME, "mime_type": BAD_MIME, "sha256": "x", "id": "3"}
    (file,) = one(hook(messages=[msg("document", doc)])).files
    assert_clean(file.filename)
    assert file.mime == "application/octet-stream"  # a type with a line break is no type
    odd = {"filename": "a/..", "mime_type": "text/html\x00", "sha256": "x", "id": "4"}
    (file,) = one(hook(messages=[msg("document", odd)])).files
    assert file.mime == "application/octet-stream"
    assert file.filename.startswith("document_") and "/" not in file.filename
