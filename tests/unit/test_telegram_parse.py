"""Telegram updates -> Incoming values, from JSON shaped like the Bot API's (no network).

Also the channel seam's pure parts: the registry, text splitting, webhook verification.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from im2mail import errors
from im2mail.channels import (
    CHANNELS,
    Channel,
    ChannelSpec,
    MalformedUpdate,
    Polling,
    channel_class,
    split_text,
    utf16_len,
)
from im2mail.channels.telegram.channel import ALLOWED_UPDATES, Telegram, parse_update
from im2mail.errors import NotBuiltYet, NotFound
from tests.support.bad_names import BAD_MIME, BAD_NAME, assert_clean
from tests.support.mangle import mangled

OLENA = {"id": 5012345678, "is_bot": False, "first_name": "Олена", "last_name": "Коваль",
         "username": "olena_k", "language_code": "uk"}  # fmt: skip
CHAT = {"id": 5012345678, "first_name": "Олена", "last_name": "Коваль", "username": "olena_k",
        "type": "private"}  # fmt: skip
DATE = 1763900000  # 2025-11-23 12:13:20 UTC


def update(update_id: int = 901, kind: str = "message", **content) -> dict:
    message = {"message_id": 42, "from": OLENA, "chat": CHAT, "date": DATE, **content}
    return {"update_id": update_id, kind: message}


def one(raw: dict, bot: str = "shop"):
    parsed = parse_update(bot, raw)
    assert len(parsed) == 1, parsed
    return parsed[0]


def test_text_with_formatting_and_emoji_keeps_text_entities_and_who_wrote():
    text = "Добрий день! 🙂 Потрібні *візитки* 500 шт, ось макет: https://shop.example/m"
    entities = [{"offset": 33, "length": 7, "type": "bold"},
                {"offset": 57, "length": 22, "type": "url"}]  # fmt: skip
    raw = update(text=text, entities=entities)
    got = one(raw)
    assert (got.kind, got.text, got.files) == ("text", text, ())
    assert got.raw is raw and got.raw["message"]["entities"] == entities
    assert got.customer.channel == "telegram"
    assert got.customer.external_id == "5012345678"
    assert (got.customer.first_name, got.customer.last_name) == ("Олена", "Коваль")
    assert got.customer.username == "olena_k"
    assert (got.customer.phone, got.customer.source) == (None, None)
    assert got.chat_id == "5012345678"
    assert got.channel_message_id == "42"
    assert got.dedupe_key == "telegram:shop:update:901"
    assert got.created == datetime(2025, 11, 23, 12, 13, 20, tzinfo=UTC)
    assert got.created.utcoffset() is not None
    assert (got.edited, got.start, got.event, got.group) == (False, False, None, None)
    assert got.bot == "shop"


def test_photo_takes_the_largest_size_whatever_the_order():
    sizes = [
        {"file_id": "AgAD-m", "file_unique_id": "m", "file_size": 21000, "width": 320,
         "height": 240},
        {"file_id": "AgAD-x", "file_unique_id": "x", "file_size": 180000, "width": 1280,
         "height": 960},
        {"file_id": "AgAD-s", "file_unique_id": "s", "file_size": 1500, "width": 90, "height": 67},
    ]  # fmt: skip
    got = one(update(photo=sizes, caption="Такий дизайн"))
    assert (got.kind, got.text) == ("photo", "Такий дизайн")
    (file,) = got.files
    assert (file.ref, file.size, file.mime, file.kind) == ("AgAD-x", 180000, "image/jpeg", "photo")
    assert file.filename == "photo_42.jpg"


def test_document_keeps_its_name_and_type():
    doc = {"file_id": "BQAD-1", "file_unique_id": "d1", "file_name": "Рахунок №17.pdf",
           "mime_type": "application/pdf", "file_size": 48213}  # fmt: skip
    got = one(update(document=doc))
    assert got.kind == "document" and got.text == ""
    assert got.files[0].filename == "Рахунок №17.pdf"
    assert (got.files[0].mime, got.files[0].size) == ("application/pdf", 48213)


def test_document_without_name_gets_one_from_its_type():
    doc = {"file_id": "BQAD-2", "file_unique_id": "d2", "mime_type": "application/pdf"}
    got = one(update(document=doc))
    assert got.files[0].filename == "document_42.pdf"
    assert got.files[0].size is None


@pytest.mark.parametrize(
    ("field", "extra", "kind", "name", "mime"),
    [
        ("video", {"duration": 5, "width": 640, "height": 360, "mime_type": "video/mp4"},
         "video", "video_42.mp4", "video/mp4"),
        ("voice", {"duration": 3, "mime_type": "audio/ogg"}, "voice", "voice_42.ogg", "audio/ogg"),
        ("audio", {"duration": 95, "file_name": "Пісня.mp3", "mime_type": "audio/mpeg"},
         "audio", "Пісня.mp3", "audio/mpeg"),
        ("video_note", {"duration": 4, "length": 240}, "video_note", "video_note_42.mp4",
         "video/mp4"),
    ],
)  # fmt: skip
def test_media_messages_become_files(field, extra, kind, name, mime):
    media = {"file_id": "F-1", "file_unique_id": "u1", "file_size": 9000, **extra}
    got = one(update(**{field: media}, caption="глянь"))
    assert got.kind == kind
    assert got.text == "глянь"
    assert [(f.ref, f.filename, f.mime, f.kind) for f in got.files] == [("F-1", name, mime, kind)]


def test_animation_is_not_mistaken_for_its_document_twin():
    gif = {"file_id": "CgAD-1", "file_unique_id": "a1", "duration": 2, "width": 320,
           "height": 240, "file_name": "giphy.mp4", "mime_type": "video/mp4"}  # fmt: skip
    doc = {k: gif[k] for k in ("file_id", "file_unique_id", "file_name", "mime_type")}
    got = one(update(animation=gif, document=doc))
    assert got.kind == "animation"
    assert got.files[0].filename == "giphy.mp4"


def sticker(**overrides) -> dict:
    return {"file_id": "CAAD-1", "file_unique_id": "s1", "width": 512, "height": 512,
            "is_animated": False, "is_video": False, "type": "regular", "emoji": "😂",
            "set_name": "HotCherry", "file_size": 21000, **overrides}  # fmt: skip


def test_static_sticker_comes_as_a_picture_with_its_emoji_and_set():
    got = one(update(sticker=sticker()))
    assert got.kind == "sticker"
    assert got.text == "😂 sticker «HotCherry»"
    assert [(f.ref, f.mime, f.filename) for f in got.files] == [
        ("CAAD-1", "image/webp", "sticker_42.webp")
    ]


@pytest.mark.parametrize("flag", ["is_animated", "is_video"])
def test_animated_and_video_stickers_come_as_words_only(flag):
    got = one(update(sticker=sticker(**{flag: True})))
    assert (got.kind, got.text, got.files) == ("sticker", "😂 sticker «HotCherry»", ())


def test_own_contact_gives_the_customer_a_phone():
    contact = {"phone_number": "380671234567", "first_name": "Олена", "last_name": "Коваль",
               "user_id": 5012345678}  # fmt: skip
    got = one(update(contact=contact))
    assert got.kind == "contact"
    assert got.customer.phone == "+380671234567"
    assert got.text == "👤 Олена Коваль +380671234567"


def test_someone_elses_contact_is_only_text():
    contact = {"phone_number": "+380501112233", "first_name": "Петро", "user_id": 777}
    got = one(update(contact=contact))
    assert got.customer.phone is None
    assert "+380501112233" in got.text and "Петро" in got.text


def test_location_gives_coordinates_and_a_map_link():
    got = one(update(location={"latitude": 50.450123, "longitude": 30.523456}))
    assert got.kind == "location"
    assert "50.450123, 30.523456" in got.text
    assert "https://maps.google.com/?q=50.450123,30.523456" in got.text


def test_venue_gives_title_address_and_link():
    location = {"latitude": 50.4501, "longitude": 30.5234}
    venue = {"location": location, "title": "Друкарня «Аркуш»", "address": "вул. Хрещатик, 1"}
    got = one(update(location=location, venue=venue))
    assert got.kind == "location"
    assert got.text.splitlines()[:2] == ["📍 Друкарня «Аркуш»", "вул. Хрещатик, 1"]
    assert "q=50.4501,30.5234" in got.text


def test_edited_message_is_marked_and_dated_by_the_edit():
    raw = update(kind="edited_message", text="Ні, 1000 шт", edit_date=DATE + 60)
    got = one(raw)
    assert got.edited is True
    assert got.text == "Ні, 1000 шт"
    assert got.channel_message_id == "42"
    assert got.created == datetime.fromtimestamp(DATE + 60, UTC)


def reaction(new: list, old: list | None = None, **extra) -> dict:
    change = {"chat": CHAT, "message_id": 17, "user": OLENA, "date": DATE + 30,
              "old_reaction": old or [], "new_reaction": new, **extra}  # fmt: skip
    return {"update_id": 950, "message_reaction": change}


def test_a_reaction_is_the_customers_whole_set_on_one_message():
    got = one(reaction([{"type": "emoji", "emoji": "👍"}, {"type": "emoji", "emoji": "🔥"}]))
    assert (got.event, got.kind, got.channel_message_id) == ("reaction", "event", "17")
    assert got.reactions == ("👍", "🔥") and got.text == ""
    assert (got.customer.external_id, got.chat_id) == ("5012345678", "5012345678")
    assert got.customer.display_name == "Олена Коваль"
    assert got.dedupe_key == "telegram:shop:update:950"
    assert got.created == datetime.fromtimestamp(DATE + 30, UTC)
    taken_back = one(reaction([], old=[{"type": "emoji", "emoji": "👍"}]))
    assert taken_back.reactions == ()
    odd = one(reaction([{"type": "custom_emoji", "custom_emoji_id": "5368324170671202286"},
                        {"type": "paid"}]))  # fmt: skip
    assert odd.reactions == ("(custom emoji)", "⭐")


def test_reactions_are_asked_for_and_only_private_ones_count():
    assert "message_reaction" in ALLOWED_UPDATES  # Telegram sends them only when asked
    group = {"id": -1001234567890, "title": "Друкарі", "type": "supergroup"}
    raw = reaction([{"type": "emoji", "emoji": "👍"}])
    raw["message_reaction"]["chat"] = group
    assert parse_update("shop", raw) == []
    with pytest.raises(MalformedUpdate):
        parse_update("shop", {"update_id": 9, "message_reaction": {"chat": CHAT, "date": DATE}})


def test_live_location_moving_is_not_a_new_message():
    location = {"latitude": 50.45, "longitude": 30.52, "live_period": 900}
    assert parse_update("shop", update(kind="edited_message", location=location,
                                       edit_date=DATE + 5)) == []  # fmt: skip


def test_album_items_share_their_group():
    photo = [{"file_id": "AgAD-1", "file_unique_id": "p", "width": 800, "height": 600}]
    first = one(update(901, photo=photo, media_group_id="13841234567890123", caption="Три"))
    second = one(update(902, photo=photo, media_group_id="13841234567890123"))
    assert first.group == second.group == "13841234567890123"
    assert (first.text, second.text) == ("Три", "")


def bot_command(text: str) -> dict:
    length = len(text.split()[0])
    return update(text=text, entities=[{"offset": 0, "length": length, "type": "bot_command"}])


def test_start_without_payload():
    got = one(bot_command("/start"))
    assert got.start is True
    assert got.customer.source is None


def test_start_with_payload_records_the_lead_source():
    got = one(bot_command("/start qr-shop_2025"))
    assert got.start is True
    assert got.customer.source == "qr-shop_2025"


@pytest.mark.parametrize("payload", ["a" * 65, "не-латиниця", "two words", "a.b"])
def test_start_with_a_payload_out_of_spec_keeps_no_source(payload):
    got = one(bot_command(f"/start {payload}"))
    assert got.start is True
    assert got.customer.source is None


def test_start_further_in_the_text_is_not_start():
    assert one(update(text="Натиснула /start але нічого")).start is False


def member_update(new: str, old: str, chat: dict = CHAT) -> dict:
    bot = {"id": 7000000001, "is_bot": True, "first_name": "Shop", "username": "shop_bot"}

    def member(status: str) -> dict:
        return {"user": bot, "status": status, **({"until_date": 0} if status == "kicked" else {})}

    change = {"chat": chat, "from": OLENA, "date": DATE, "old_chat_member": member(old),
              "new_chat_member": member(new)}  # fmt: skip
    return {"update_id": 950, "my_chat_member": change}


def test_blocking_the_bot_is_an_event():
    got = one(member_update("kicked", "member"))
    assert (got.event, got.kind, got.text, got.chat_id) == ("blocked", "event", "", "5012345678")
    assert got.customer.external_id == "5012345678"
    assert got.dedupe_key == "telegram:shop:update:950"


def test_unblocking_the_bot_is_an_event():
    assert one(member_update("member", "kicked")).event == "unblocked"


def test_member_updates_outside_private_chats_are_ignored():
    group = {"id": -1001234567890, "title": "Друкарі", "type": "supergroup"}
    assert parse_update("shop", member_update("administrator", "member", group)) == []


def test_group_and_channel_messages_are_not_customers():
    group = {"id": -1001234567890, "title": "Друкарі", "type": "supergroup"}
    raw = {"update_id": 3, "message": {"message_id": 1, "from": OLENA, "chat": group,
                                       "date": DATE, "text": "всім привіт"}}  # fmt: skip
    assert parse_update("shop", raw) == []
    channel = {"id": -1009876543210, "title": "Новини", "type": "channel"}
    post = {"message_id": 5, "chat": channel, "date": DATE, "text": "акція"}
    assert parse_update("shop", {"update_id": 4, "channel_post": post}) == []


@pytest.mark.parametrize(
    "raw",
    [
        {"update_id": 5, "callback_query": {"id": "1", "from": OLENA, "chat_instance": "c",
                                            "data": "x"}},
        {"update_id": 6, "message_reaction": {"chat": CHAT, "message_id": 1, "date": DATE,
                                              "actor_chat": CHAT, "old_reaction": [],
                                              "new_reaction": []}},  # anonymous: no one
        {"update_id": 7, "some_future_update": {"anything": True}},
        {"update_id": 8},
        update(write_access_allowed={"from_request": True}),  # a service message
    ],
)  # fmt: skip
def test_updates_of_no_interest_give_nothing(raw):
    assert parse_update("shop", raw) == []


def test_poll_and_dice_are_described():
    dice = one(update(dice={"emoji": "🎲", "value": 4}))
    assert (dice.kind, dice.text) == ("other", "🎲 4")
    options = [{"persistent_id": "0", "text": "Так", "voter_count": 0},
               {"persistent_id": "1", "text": "Ні", "voter_count": 0}]  # fmt: skip
    poll = {"id": "1", "question": "Доставка?", "options": options, "total_voter_count": 0,
            "is_closed": False, "is_anonymous": True, "type": "regular",
            "allows_multiple_answers": False, "allows_revoting": True,
            "members_only": False}  # fmt: skip
    assert one(update(poll=poll)).text == "📊 Доставка?\n• Так\n• Ні"


MALFORMED = [
    None,
    [],
    "update",
    {},
    {"update_id": "901", "message": {}},
    {"update_id": True},
    {"update_id": 1, "message": "hello"},
    {"update_id": 1, "message": {"message_id": 1, "chat": CHAT, "from": OLENA}},  # no date
    {"update_id": 1, "message": {"message_id": 1, "date": DATE, "from": OLENA}},  # no chat
    {"update_id": 1, "message": {"message_id": 1, "date": "yesterday", "chat": CHAT}},
    {"update_id": 1, "message": {"message_id": "1", "date": DATE, "chat": CHAT, "from": OLENA}},
    {"update_id": 1, "message": {"message_id": 1, "date": DATE, "chat": {**CHAT, "id": "5"},
                                 "from": OLENA}},
    {"update_id": 1, "message": {"message_id": 1, "date": DATE, "chat": CHAT, "text": "hi"}},
    {"update_id": 1, "message": {"message_id": 1, "date": DATE, "chat": CHAT, "from": "Олена"}},
    update(photo=[{"file_id": "x"}]),
    update(document="file.pdf"),
    update(photo=[]) | {"message": None},
    {"update_id": 1, "my_chat_member": {"chat": CHAT}},
]  # fmt: skip


@pytest.mark.parametrize("raw", MALFORMED)
def test_malformed_updates_raise_malformed_update_only(raw):
    with pytest.raises(MalformedUpdate) as caught:
        parse_update("shop", raw)
    assert "telegram bot 'shop'" in str(caught.value)


SAMPLES = [
    update(text="привіт", entities=[{"offset": 0, "length": 6, "type": "bold"}]),
    update(photo=[{"file_id": "a", "file_unique_id": "b", "width": 1, "height": 1}], caption="c"),
    update(document={"file_id": "a", "file_unique_id": "b", "file_name": "x.pdf"}),
    update(sticker=sticker()),
    update(contact={"phone_number": "1", "first_name": "A", "user_id": 5012345678}),
    update(location={"latitude": 1.0, "longitude": 2.0}),
    update(kind="edited_message", text="x", edit_date=DATE),
    member_update("kicked", "member"),
]


def test_no_mangled_update_makes_parse_raise_anything_but_malformed_update():
    """Every field of realistic updates, deleted or replaced by a value of the wrong type:
    parse either copes or raises MalformedUpdate."""
    tried = 0
    for path, replacement, raw in mangled(SAMPLES, per_field=4):
        tried += 1
        try:
            result = parse_update("shop", raw)
        except MalformedUpdate:
            continue
        assert isinstance(result, list), (path, replacement)
    assert tried > 500


def test_parse_keeps_what_json_round_trips():
    raw = json.loads(json.dumps(update(text="ok")))
    assert one(raw).raw == raw


# -- the seam --------------------------------------------------------------------------------


def test_registry_names():
    assert channel_class("telegram") is Telegram
    assert set(CHANNELS) >= {"telegram", "viber"}
    with pytest.raises(NotFound, match="icq"):
        channel_class("icq")


def test_a_channel_module_not_written_yet_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(CHANNELS, "fax", ChannelSpec("fax", "Fax", "im2mail.channels.fax:Fax"))
    with pytest.raises(NotBuiltYet, match="fax"):
        channel_class("fax")


def test_telegram_fits_the_protocols_and_registers_its_token():
    token = "7000000001:AAHsecretsecretsecretsecretsecret12"
    channel = Telegram("shop", token, "http://127.0.0.1:9")
    assert isinstance(channel, Channel) and isinstance(channel, Polling)
    assert token not in errors.redact(f"GET http://x/bot{token}/getMe")
    assert token not in repr(channel)


def test_webhook_secret_is_checked_before_the_body():
    channel = Telegram("shop", "7000000001:AAHsecretsecretsecretsecretsecret12")
    good = {"X-Telegram-Bot-Api-Secret-Token": "s3cr3t-Token_1"}
    assert channel.verify_webhook(good, b"not even json", "s3cr3t-Token_1")
    assert channel.verify_webhook({"x-telegram-bot-api-secret-token": "s3cr3t-Token_1"}, b"",
                                  "s3cr3t-Token_1")  # fmt: skip
    assert not channel.verify_webhook(good, b"", "another")
    assert not channel.verify_webhook({}, b"", "s3cr3t-Token_1")
    assert not channel.verify_webhook({}, b"", "")


# -- splitting -------------------------------------------------------------------------------


def test_short_text_is_one_piece_and_blank_text_none():
    assert split_text("  Дякуємо!  ", 4096) == ["Дякуємо!"]
    assert split_text(" \n ", 4096) == []


def test_split_prefers_paragraphs_then_sentences_then_words():
    para = "Перший абзац. " * 5 + "\n\n" + "Другий абзац, трохи довший за перший. " * 3
    pieces = split_text(para, 120)
    assert pieces[0] == ("Перший абзац. " * 5).strip()
    assert all(len(p) <= 120 for p in pieces)
    sentences = split_text("Раз два три чотири. Пʼять шість сім. Вісім дев'ять", 30)
    assert sentences == ["Раз два три чотири.", "Пʼять шість сім. Вісім дев'ять"]
    quoted = split_text("Вона відповіла: «Так, беремо.» Потім ще довге речення тут", 40)
    assert quoted[0] == "Вона відповіла: «Так, беремо.»"
    early = split_text("Так. Раз два три чотири пʼять шість", 30)  # the full stop is too early
    assert early == ["Так. Раз два три чотири пʼять", "шість"]
    words = split_text("слово " * 20, 25)
    assert all(len(p) <= 25 and not p.startswith(" ") for p in words)
    assert " ".join(words).split() == ["слово"] * 20


def test_split_cuts_a_word_only_when_it_must_and_never_an_emoji_sequence():
    assert split_text("а" * 10, 4) == ["аааа", "аааа", "аа"]
    family = "👨\u200d👩\u200d👧"  # one picture, five code points
    pieces = split_text("x" * 5 + family, 8, utf16_len)
    assert "".join(pieces) == "x" * 5 + family
    assert all(utf16_len(p) <= 8 for p in pieces)
    assert not any(p.startswith("\u200d") or p.endswith("\u200d") for p in pieces)


def test_split_counts_utf16_when_told():
    emoji = "🙂" * 10  # 20 UTF-16 units
    pieces = split_text(emoji, 8, utf16_len)
    assert [utf16_len(p) for p in pieces] == [8, 8, 4]
    assert "".join(pieces) == emoji


def test_a_file_name_and_type_lose_control_characters_at_parse_time():
    doc = {"file_id": "BQAD-9", "file_unique_id": "d9", "file_name": BAD_NAME,
           "mime_type": BAD_MIME}  # fmt: skip
    (file,) = one(update(document=doc)).files
    assert_clean(file.filename)
    assert file.mime == "application/octet-stream"  # a type with a line break is no type
    odd = {"file_id": "BQAD-8", "file_unique_id": "d8", "file_name": "\r\n..",
           "mime_type": "text/html\n<script>"}  # fmt: skip
    (file,) = one(update(document=odd)).files
    assert (file.filename, file.mime) == ("document_42", "application/octet-stream")
