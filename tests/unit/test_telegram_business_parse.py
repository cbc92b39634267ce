"""Telegram Business updates -> Incoming values (channels/telegram/parse.py, business.py),
from JSON shaped like the Bot API's: connections (rights as Bot API 9.0 sends them, and
the older can_reply), messages of the owner's chats (the customer's, the owner's own, a
reply the bot sent coming back), edits and deletions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from im2mail.channels import MalformedUpdate
from im2mail.channels.telegram.parse import ALLOWED_UPDATES, parse_update

OWNER = {
    "id": 4242,
    "is_bot": False,
    "first_name": "Ірина",
    "last_name": "Шевченко",
    "username": "iryna_shop",
    "language_code": "uk",
}
OLENA = {
    "id": 5012,
    "is_bot": False,
    "first_name": "Олена",
    "last_name": "Коваль",
    "username": "olena_k",
}
CHAT = {
    "id": 5012,
    "first_name": "Олена",
    "last_name": "Коваль",
    "username": "olena_k",
    "type": "private",
}
BOT = {"id": 7000000001, "is_bot": True, "first_name": "Shop", "username": "shop_bot"}
DATE = 1763900000  # 2025-11-23 12:13:20 UTC


def connection(**fields) -> dict:
    body = {
        "id": "AbCdEf123",
        "user": OWNER,
        "user_chat_id": 4242,
        "date": DATE,
        "is_enabled": True,
        "rights": {"can_reply": True, "can_read_messages": True},
    }
    return {"update_id": 1, "business_connection": {**body, **fields}}


def business(kind: str = "business_message", sender: dict = OLENA, **content) -> dict:
    message = {
        "business_connection_id": "AbCdEf123",
        "message_id": 7,
        "from": sender,
        "chat": CHAT,
        "date": DATE,
        **content,
    }
    return {"update_id": 2, kind: message}


def one(raw: dict):
    parsed = parse_update("shop", raw)
    assert len(parsed) == 1, parsed
    return parsed[0]


def test_the_bot_asks_for_every_business_update():
    for kind in (
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
    ):
        assert kind in ALLOWED_UPDATES


def test_a_connection_names_the_owner_and_what_the_bot_may_do():
    got = one(connection())
    assert (got.event, got.via, got.kind) == ("connection", "AbCdEf123", "event")
    c = got.connection
    assert (c.bot, c.id, c.owner_id, c.chat_id) == ("shop", "AbCdEf123", "4242", "4242")
    assert (c.owner_name, c.owner_username, c.label) == (
        "Ірина Шевченко",
        "iryna_shop",
        "@iryna_shop",
    )
    assert c.enabled and c.can_reply and c.refusal is None
    assert c.rights == ("can_read_messages",)
    assert c.since == datetime.fromtimestamp(DATE, UTC)
    assert got.customer.external_id == "4242"  # the owner, not a customer


def test_rights_without_the_reply_right_or_in_the_older_shape():
    without = one(connection(rights={"can_read_messages": True})).connection
    assert not without.can_reply
    assert "without the right to reply" in (without.refusal or "")
    body = connection()["business_connection"]
    del body["rights"]
    older = one({"update_id": 3, "business_connection": {**body, "can_reply": True}})
    assert older.connection.can_reply  # before Bot API 9.0: can_reply on the connection
    neither = one({"update_id": 4, "business_connection": body}).connection
    assert not neither.can_reply


def test_a_disconnected_account():
    c = one(connection(is_enabled=False)).connection
    assert not c.enabled
    assert c.refusal == "@iryna_shop has disconnected the bot from their account"


def test_a_customers_message_in_the_owners_chat_is_read_like_a_bot_chats():
    got = one(business(text="Добрий день! Ще є візитки?"))
    assert (got.kind, got.text, got.via, got.author) == (
        "text",
        "Добрий день! Ще є візитки?",
        "AbCdEf123",
        None,
    )
    assert (got.customer.external_id, got.customer.display_name) == ("5012", "Олена Коваль")
    assert (got.chat_id, got.channel_message_id, got.start) == ("5012", "7", False)


def test_the_owners_own_message_names_them_and_the_customer_is_still_the_chats_person():
    got = one(business(sender=OWNER, text="Так, є. Скільки вам?"))
    assert got.author == "Ірина Шевченко"
    assert got.customer.external_id == "5012" and got.customer.first_name == "Олена"


def test_start_in_a_business_chat_is_just_words():
    got = one(
        business(text="/start flyer", entities=[{"offset": 0, "length": 6, "type": "bot_command"}])
    )
    assert (got.start, got.customer.source, got.text) == (False, None, "/start flyer")


def test_the_owners_contact_card_does_not_become_the_customers_phone():
    card = {"phone_number": "380501112233", "first_name": "Ірина", "user_id": 4242}
    assert one(business(sender=OWNER, contact=card)).customer.phone is None
    theirs = {"phone_number": "380671234567", "first_name": "Олена", "user_id": 5012}
    assert one(business(contact=theirs)).customer.phone == "+380671234567"


def test_a_reply_the_bot_sent_through_the_connection_is_not_taken_again():
    echo = business(sender=OWNER, text="Відповідь менеджера", sender_business_bot=BOT)
    assert parse_update("shop", echo) == []


def test_an_edited_business_message_is_an_edit():
    got = one(business("edited_business_message", text="Ще є візитки А5?", edit_date=DATE + 60))
    assert (got.edited, got.via, got.text) == (True, "AbCdEf123", "Ще є візитки А5?")
    assert got.created == datetime.fromtimestamp(DATE + 60, UTC)


def test_deleted_messages_name_the_chat_and_the_ids():
    raw = {
        "update_id": 5,
        "deleted_business_messages": {
            "business_connection_id": "AbCdEf123",
            "chat": CHAT,
            "message_ids": [7, 8],
        },
    }
    got = one(raw)
    assert (got.event, got.via, got.message_ids) == ("deleted", "AbCdEf123", ("7", "8"))
    assert got.customer.external_id == "5012" and got.customer.first_name == "Олена"


@pytest.mark.parametrize(
    "raw",
    [
        business(business_connection_id=None, text="x"),  # no connection
        {"update_id": 6, "business_connection": {"id": "x", "date": DATE, "is_enabled": True}},
        {"update_id": 7, "deleted_business_messages": {"chat": CHAT, "message_ids": [1]}},
        {"update_id": 8, "business_connection": "connected"},
    ],
    ids=[
        "message-without-connection",
        "connection-without-user",
        "deleted-without-connection",
        "not-an-object",
    ],
)
def test_malformed_business_updates_are_refused_as_malformed(raw):
    with pytest.raises(MalformedUpdate):
        parse_update("shop", raw)
