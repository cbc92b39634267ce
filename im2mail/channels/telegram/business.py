"""Telegram Business, the pure half: a shop owner with Telegram Premium connects the bot to
their personal account, and the bot then gets that account's private chats.

`business_connection` (connected, disconnected, rights changed) becomes a `Connection`
(model.py) in an Incoming of event "connection"; `deleted_business_messages` an Incoming of
event "deleted" naming the message ids. Messages (`business_message`,
`edited_business_message`) are read like a bot chat's, in parse.py.

Bot API 9.0 moved the reply right from `can_reply` into `rights` (BusinessBotRights);
python-telegram-bot 22 keeps a `can_reply` of an older update in `api_kwargs`. Both are
read: the connection can reply when either says so.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from telegram import BusinessConnection, Update

from ...model import Connection, Customer, Incoming


def connection_from(bot: str, found: BusinessConnection) -> Connection:
    """The connection as im2mail keeps it (also for getBusinessConnection's answer)."""
    user = found.user
    if not found.id or user is None or not isinstance(user.id, int):
        raise TypeError("a business connection without its id or user")
    rights = found.rights.to_dict() if found.rights is not None else {}
    can_reply = bool(rights.pop("can_reply", False) or found.api_kwargs.get("can_reply"))
    granted = tuple(sorted(name for name, value in rights.items() if value is True))
    return Connection(
        bot=bot,
        id=str(found.id),
        owner_id=str(user.id),
        owner_name=" ".join(p for p in (user.first_name, user.last_name) if p),
        owner_username=user.username,
        chat_id=str(found.user_chat_id),
        enabled=bool(found.is_enabled),
        can_reply=can_reply,
        rights=granted,
        since=found.date,
    )


def from_connection(bot: str, key: str, update: Update, raw: dict[str, Any]) -> list[Incoming]:
    found = update.business_connection
    if found is None:
        return []
    connection = connection_from(bot, found)
    owner = found.user
    who = Customer("telegram", connection.owner_id, owner.first_name or "",
                   owner.last_name or "", owner.username)  # fmt: skip
    return [
        Incoming(
            bot=bot,
            customer=who,
            dedupe_key=key,
            created=found.date,
            kind="event",
            event="connection",
            via=connection.id,
            connection=connection,
            raw=raw,
        )
    ]


def from_deleted(bot: str, key: str, update: Update, raw: dict[str, Any]) -> list[Incoming]:
    """Messages deleted in a chat of the connected account: the customer's or the
    account's own (the owner's, or a reply sent through the bot)."""
    found = update.deleted_business_messages
    if found is None:
        return []
    chat = found.chat
    if not found.business_connection_id or chat is None or not isinstance(chat.id, int):
        raise TypeError("deleted business messages without their connection or chat")
    ids = tuple(str(i) for i in found.message_ids if isinstance(i, int))
    person = Customer("telegram", str(chat.id), chat.first_name or "", chat.last_name or "",
                      chat.username)  # fmt: skip
    return [
        Incoming(
            bot=bot,
            customer=person,
            dedupe_key=key,
            created=datetime.now(UTC),  # the update says when nothing happened
            kind="event",
            chat_id=str(chat.id),
            event="deleted",
            via=str(found.business_connection_id),
            message_ids=ids,
            raw=raw,
        )
    ]
