"""Messenger webhook POSTs -> Incoming values, and the plan of an answer as Send API calls:
the pure half of the Messenger channel (no network)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from im2mail.channels import Channel, FileTooBig, MalformedUpdate, Step, graph
from im2mail.channels.messenger.channel import Messenger, parse_webhook, source_of, window_reason
from im2mail.channels.messenger.parse import FILE_LIMIT, TEXT_LIMIT, attachment_type, refusal
from tests.support.mangle import mangled

PAGE = "104839572610385"
PSID = "6937451823974520"
STAMP = 1763900000123  # 2025-11-23 12:13:20.123 UTC
MID = "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P"
CDN = (
    "https://scontent.xx.fbcdn.net/v/t1.15752-9/467891234_1234567890_n.jpg"
    "?_nc_cat=1&ccb=1-7&oh=03_Q7cD1QH&oe=6765ABCD"
)
SECRET = graph.encode("EAAGm0PX4ZCpsBAtoken", "0123456789abcdef0123456789abcdef")


def body(*events: dict, page: str = PAGE) -> dict:
    return {"object": "page", "entry": [{"id": page, "time": STAMP + 5, "messaging": list(events)}]}


def event(**what) -> dict:
    return {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": STAMP, **what}


def message(**fields) -> dict:
    return event(message={"mid": MID, **fields})


def one(raw, bot: str = "shop"):
    parsed = parse_webhook(bot, raw)
    assert len(parsed) == 1, parsed
    return parsed[0]


@pytest.fixture(scope="module")
def messenger() -> Messenger:
    return Messenger("shop", SECRET, "http://127.0.0.1:9/v21.0")  # nothing listens


# -- messages --------------------------------------------------------------------------------


def test_text_message_gives_text_customer_chat_and_keys():
    raw = body(message(text="Добрий день! Потрібні візитки 500 шт 🙂"))
    got = one(raw)
    assert (got.kind, got.text, got.files) == (
        "text",
        "Добрий день! Потрібні візитки 500 шт 🙂",
        (),
    )
    assert got.customer.channel == "messenger" and got.customer.external_id == PSID
    assert got.customer.display_name == f"Customer {PSID}"  # no names in Messenger webhooks
    assert (got.customer.source, got.chat_id, got.channel_message_id) == (None, PSID, MID)
    assert got.dedupe_key == f"messenger:shop:{MID}"
    assert got.created == datetime(2025, 11, 23, 12, 13, 20, 123000, tzinfo=UTC)
    assert (got.start, got.event, got.bot) == (False, None, "shop")
    assert got.raw == raw["entry"][0]["messaging"][0]


def test_a_quick_reply_or_a_reply_is_read_as_its_text():
    quick = one(body(message(text="Так, 500 шт", quick_reply={"payload": "QTY_500"})))
    assert (quick.kind, quick.text) == ("text", "Так, 500 шт")
    reply = one(body(message(text="А цей?", reply_to={"mid": "m_earlier"})))
    assert reply.text == "А цей?"


def test_an_image_is_a_photo_named_from_its_cdn_url():
    got = one(body(message(attachments=[{"type": "image", "payload": {"url": CDN}}])))
    (file,) = got.files
    assert (got.kind, got.text) == ("photo", "")
    assert (file.ref, file.filename, file.mime, file.kind) == (
        CDN,
        "467891234_1234567890_n.jpg",
        "image/jpeg",
        "photo",
    )


def test_several_attachments_come_as_one_message_with_several_files():
    urls = [f"https://cdn.fbsbx.com/v/t59/{n}?_nc=1" for n in range(3)]
    attachments = [
        {"type": t, "payload": {"url": u}}
        for t, u in zip(("image", "video", "file"), urls, strict=True)
    ]
    got = one(body(message(attachments=attachments)))
    assert got.kind == "photo"
    assert [f.kind for f in got.files] == ["photo", "video", "document"]
    names = [f.filename for f in got.files]
    assert names[0].startswith("photo_") and names[0].endswith("_1.jpg")
    assert names[1].endswith("_2.mp4") and names[2].startswith("file_")
    assert len(set(names)) == 3


def test_audio_and_file_attachments():
    clip = "https://cdn.fbsbx.com/v/audioclip-1763900000-2784.mp4?dl=1"
    audio = one(body(message(attachments=[{"type": "audio", "payload": {"url": clip}}])))
    assert (audio.kind, audio.files[0].filename) == ("audio", "audioclip-1763900000-2784.mp4")
    url = "https://cdn.fbsbx.com/v/t59/%D0%9C%D0%B0%D0%BA%D0%B5%D1%82.pdf?dl=1"
    pdf = one(body(message(attachments=[{"type": "file", "payload": {"url": url}}])))
    assert (pdf.kind, pdf.files[0].filename, pdf.files[0].mime) == (
        "document",
        "Макет.pdf",
        "application/pdf",
    )


def test_location_is_described_with_a_map_link():
    place = {
        "type": "location",
        "title": "Pinned Location",
        "payload": {"coordinates": {"lat": 50.4501234, "long": 30.5234567}},
    }
    got = one(body(message(attachments=[place])))
    assert got.kind == "location" and got.files == ()
    assert got.text == (
        "📍 Pinned Location\n50.450123, 30.523457\nhttps://maps.google.com/?q=50.450123,30.523457"
    )


def test_a_sticker_in_both_of_metas_shapes_is_one_sticker():
    payload = {
        "url": "https://scontent.xx.fbcdn.net/v/t39.1997-6/851557_369239263222822_n.png",
        "sticker_id": 369239263222822,
    }
    both = one(
        body(
            message(
                attachments=[
                    {"type": "sticker", "payload": payload},
                    {"type": "image", "payload": payload},
                ]
            )
        )
    )
    old = one(body(message(attachments=[{"type": "image", "payload": payload}])))
    for got in (both, old):
        assert (got.kind, got.text, len(got.files)) == ("sticker", "sticker", 1)
        assert got.files[0].kind == "sticker"


def test_a_shared_link_and_an_unknown_attachment_keep_their_words():
    link = {"type": "fallback", "title": "Візитки — Аркуш", "url": "https://arkush.ua/v"}
    got = one(body(message(attachments=[link])))
    assert (got.kind, got.text) == ("text", "Візитки — Аркуш\nhttps://arkush.ua/v")
    reel = {"type": "ig_reel", "payload": {"url": "https://instagram.com/reel/1"}}
    other = one(body(message(attachments=[reel])))
    assert other.kind == "other" and "ig_reel" in other.text and other.files == ()


def test_echoes_and_other_objects_are_of_no_interest():
    echo = event(message={"mid": MID, "is_echo": True, "app_id": 1517776481860111, "text": "x"})
    assert parse_webhook("shop", body(echo)) == []
    assert parse_webhook("shop", {"object": "instagram", "entry": []}) == []
    standby = {"object": "page", "entry": [{"id": PAGE, "time": STAMP, "standby": [{}]}]}
    assert parse_webhook("shop", standby) == []


def test_an_edit_is_the_new_text_of_the_message_it_names():
    edit = event(message_edit={"mid": MID, "text": "Не 200, а 300 візиток", "num_edit": 1})
    got = one(body(edit))
    assert (got.edited, got.channel_message_id, got.text) == (True, MID, "Не 200, а 300 візиток")
    assert got.dedupe_key == f"messenger:shop:edit:{MID}:1" and got.chat_id == PSID
    again = one(body(event(message_edit={"mid": MID, "text": "ще раз", "num_edit": 2})))
    assert again.dedupe_key != got.dedupe_key
    with pytest.raises(MalformedUpdate):
        parse_webhook("shop", body(event(message_edit={"text": "без mid"})))


def test_a_reaction_and_taking_it_back_are_reaction_events():
    love = {"reaction": "love", "emoji": "\u2764\ufe0f", "action": "react", "mid": MID}
    got = one(body(event(reaction=love)))
    assert (got.event, got.channel_message_id, got.reactions) == ("reaction", MID, ("❤️",))
    unreact = one(body(event(reaction={**love, "action": "unreact"}, timestamp=STAMP + 9)))
    assert (unreact.event, unreact.reactions) == ("reaction", ())
    assert unreact.dedupe_key != got.dedupe_key
    no_emoji = one(body(event(reaction={"reaction": "like", "action": "react", "mid": MID})))
    assert no_emoji.reactions == ("👍",)  # named by its word only: the emoji it stands for


def test_several_events_in_one_post_each_become_an_incoming():
    second = copy.deepcopy(message(text="друге"))
    second["message"]["mid"] = "m_second"
    got = parse_webhook("shop", body(message(text="перше"), second))
    assert [g.text for g in got] == ["перше", "друге"]


def test_other_pages_entries_are_skipped_once_the_page_is_known():
    raw = body(message(text="Привіт"), page="999")
    assert len(parse_webhook("shop", raw)) == 1
    assert parse_webhook("shop", raw, page_id=PAGE) == []


# -- postbacks, referrals, receipts ----------------------------------------------------------


def test_a_postback_is_a_message_whose_text_is_the_button_title():
    referral = {"ref": "qr-vitryna", "source": "SHORTLINK", "type": "OPEN_THREAD"}
    raw = body(
        event(
            postback={
                "title": "Почати",
                "payload": "GET_STARTED",
                "mid": "m_pb",
                "referral": referral,
            }
        )
    )
    got = one(raw)
    assert (got.kind, got.text, got.chat_id) == ("text", "Почати", PSID)
    assert (got.customer.source, got.dedupe_key, got.event) == (
        "qr-vitryna",
        "messenger:shop:m_pb",
        None,
    )


def test_a_postback_without_mid_is_keyed_by_customer_and_time():
    got = one(body(event(postback={"title": "Ціни", "payload": "PRICES"})))
    assert got.dedupe_key == f"messenger:shop:postback:{PSID}:{STAMP}"
    assert got.channel_message_id is None


def test_a_referral_opens_the_chat_with_a_sanitized_source():
    raw = body(
        event(
            referral={"ref": "instagram bio/ліфлет", "source": "SHORTLINK", "type": "OPEN_THREAD"}
        )
    )
    got = one(raw)
    assert (got.event, got.start, got.customer.source) == ("started", True, "instagram_bio")
    assert got.dedupe_key == f"messenger:shop:referral:{PSID}:{STAMP}"


def test_sources_are_at_most_64_safe_characters():
    assert source_of("site-widget_1") == "site-widget_1"
    assert source_of("x" * 100) == "x" * 64
    assert source_of("  ") is None and source_of("ліфлет") is None
    ad = one(body(message(text="Hi", referral={"ref": "ad:spring sale", "source": "ADS"})))
    assert ad.customer.source == "ad_spring_sale"


def test_a_delivery_gives_one_receipt_per_mid():
    raw = body(event(delivery={"mids": ["m_one", "m_two", "m_one"], "watermark": STAMP}))
    del raw["entry"][0]["messaging"][0]["timestamp"]  # as Meta sends it
    got = parse_webhook("shop", raw)
    assert [(g.event, g.channel_message_id, g.kind) for g in got] == [
        ("delivered", "m_one", "event"),
        ("delivered", "m_two", "event"),
    ]
    assert got[0].dedupe_key == "messenger:shop:delivered:m_one"
    assert got[0].created == datetime(2025, 11, 23, 12, 13, 20, 123000, tzinfo=UTC)


@pytest.mark.parametrize(("field", "receipt"), [("read", "seen"), ("delivery", "delivered")])
def test_a_watermark_is_a_receipt_for_everything_sent_until_then(field, receipt):
    (got,) = parse_webhook("shop", body(event(**{field: {"watermark": STAMP}})))

    assert (got.event, got.channel_message_id, got.kind) == (receipt, None, "event")
    assert got.created == datetime(2025, 11, 23, 12, 13, 20, 123000, tzinfo=UTC)
    assert got.customer.external_id == got.chat_id


# -- malformed -------------------------------------------------------------------------------


SAMPLES = [
    body(message(text="Привіт")),
    body(message(attachments=[{"type": "image", "payload": {"url": CDN}}])),
    body(
        message(
            attachments=[
                {"type": "location", "payload": {"coordinates": {"lat": 50.45, "long": 30.52}}}
            ]
        )
    ),
    body(
        event(
            postback={
                "title": "Почати",
                "payload": "GET_STARTED",
                "mid": "m_pb",
                "referral": {"ref": "qr"},
            }
        )
    ),
    body(event(referral={"ref": "qr", "source": "SHORTLINK", "type": "OPEN_THREAD"})),
    body(event(delivery={"mids": ["m_one"], "watermark": STAMP})),
]


def test_any_broken_field_is_malformed_or_parses_never_anything_else():
    for path, replacement, raw in mangled(SAMPLES, per_field=3):
        try:
            parse_webhook("shop", raw)
        except MalformedUpdate:
            pass
        except Exception as e:
            pytest.fail(f"{path} = {replacement!r}: {type(e).__name__}: {e}")


@pytest.mark.parametrize(
    "raw",
    [
        None,
        [],
        "page",
        {"object": "page"},
        {"object": "page", "entry": [{"messaging": []}]},
        body(event(message="text")),
    ],
)
def test_malformed_bodies(raw):
    with pytest.raises(MalformedUpdate):
        parse_webhook("shop", raw)


# -- the channel object, offline -------------------------------------------------------------


def test_the_channel_meets_the_protocol_and_hides_its_secret(messenger):
    assert isinstance(messenger, Channel)
    assert messenger.name == "messenger" and messenger.text_limit == 2000
    assert [key.key for key in Messenger.spec.keys] == ["human_agent_days"]
    assert "EAAG" not in repr(messenger) and "0123456789abcdef" not in repr(messenger)


def test_verify_webhook_checks_the_app_secret_over_the_raw_bytes(messenger):
    raw = b'{"object":"page","entry":[]}'
    good = {"X-Hub-Signature-256": graph.sign("0123456789abcdef0123456789abcdef", raw)}
    assert messenger.verify_webhook(good, raw, "unused")
    assert not messenger.verify_webhook(good, raw + b" ", "unused")
    assert not messenger.verify_webhook({}, raw, "unused")
    wrong = {"X-Hub-Signature-256": graph.sign("EAAGm0PX4ZCpsBAtoken", raw)}  # the token
    assert not messenger.verify_webhook(wrong, raw, "unused")


def test_a_stored_secret_that_is_not_token_and_app_secret_is_auth_failed():
    from im2mail.channels import AuthFailed

    with pytest.raises(AuthFailed):
        Messenger("shop", "EAAGplain-token")


# -- planning --------------------------------------------------------------------------------


def test_plan_splits_text_at_2000_and_sends_each_file_by_its_type(messenger):
    text = "\n\n".join(["Абзац " + "слово " * 200] * 3)
    files = [
        ("макет.jpg", "image/jpeg", b"\xff\xd8"),
        ("ролик.mp4", "video/mp4", b"v"),
        ("голос.mp3", "audio/mpeg", b"a"),
        ("рахунок.pdf", "application/pdf", b"%PDF"),
    ]
    steps = messenger.plan(text, files)
    texts = [s for s in steps if s.sort == "text"]
    assert len(texts) >= 2 and all(len(s.text) <= TEXT_LIMIT for s in texts)
    assert [s.sort for s in steps[len(texts) :]] == ["image", "video", "audio", "file"]
    assert messenger.plan(text, files) == steps  # pure
    assert messenger.plan("  ") == []


def test_a_file_over_25_mb_is_refused_before_anything_goes(messenger):
    big = ("архів.zip", "application/zip", b"\0" * (FILE_LIMIT + 1))
    steps = messenger.plan("Ось", [big, ("a.pdf", "application/pdf", b"%PDF")])
    assert [s.sort for s in steps] == ["refused", "text", "file"]
    error = refusal("shop", steps[0])
    assert isinstance(error, FileTooBig) and error.limit == FILE_LIMIT
    assert "архів.zip" in error.reason and "25 MB" in error.reason


def test_attachment_types_by_mime():
    assert attachment_type("image/png") == "image"
    assert attachment_type("image/svg+xml") == "file"
    assert attachment_type("video/mp4") == "video"
    assert attachment_type("audio/ogg; codecs=opus") == "audio"
    assert attachment_type("application/pdf") == "file"


async def test_a_step_messenger_does_not_know_is_a_programming_error(messenger):
    with pytest.raises(ValueError):
        await messenger.send_step(PSID, Step("", (), "album"))


def test_the_window_reason_says_why_and_what_to_do():
    words = window_reason(7)
    assert "24 hours" in words and "7 days with the human agent tag" in words
    assert "nothing was sent" in words and "write to the Page again" in words
    off = window_reason(0, "(#10) This message is sent outside of allowed window.")
    assert "turned off" in off and "(#10)" in off


def test_a_file_name_from_the_cdn_url_loses_control_characters():
    url = "https://cdn.fbsbx.com/v/t59/%D0%A0%D0%B0%D1%85%0D%0AX-Evil:%201%E2%80%AE.pdf?dl=1"
    (file,) = one(body(message(attachments=[{"type": "file", "payload": {"url": url}}]))).files
    assert (file.filename, file.mime) == ("Рах X-Evil: 1.pdf", "application/pdf")
