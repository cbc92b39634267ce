"""Telegram: one raw update (webhook body or getUpdates item) -> Incoming values.

No network and no Bot: python-telegram-bot's `Update.de_json` reads the shape, and what a
customer sent becomes a kind, a text and files. `parse_update` is re-exported by
`im2mail.channels.telegram`, where the `Telegram` channel uses it.
"""

from __future__ import annotations

import os
import re
from typing import Any

from telegram import Message, Update

from ...errors import redact
from ...model import Customer, Incoming, IncomingFile
from ...untrusted import file_name, mime_type
from ..base import MalformedUpdate
from . import business

# PTB 22's documented opt-in to durations as timedelta (RetryAfter.retry_after included);
# without it, PTB warns about the coming change whenever it builds a RetryAfter.
# Set in the first of our modules to import PTB, so it holds on every path that uses PTB.
os.environ.setdefault("PTB_TIMEDELTA", "1")

ALLOWED_UPDATES = (
    "message",
    "edited_message",
    "my_chat_member",
    # Telegram Business (business.py): the owner's personal account connected to the bot
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    # message_reaction is sent only to bots that ask for it (private chats: no admin rights
    # needed); it comes for the customer's own reactions, never for a bot's.
    "message_reaction",
)

_START = re.compile(r"/start(?:@\w+)?(?:\s+(.*))?", re.DOTALL)
_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")
# (attribute, fallback mime, fallback extension); animation before document: a GIF has both.
_MEDIA = (
    ("animation", "video/mp4", ".mp4"),
    ("document", "application/octet-stream", ""),
    ("video", "video/mp4", ".mp4"),
    ("video_note", "video/mp4", ".mp4"),
    ("voice", "audio/ogg", ".ogg"),
    ("audio", "audio/mpeg", ".mp3"),
)
_EXTENSIONS = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png",
               "video/mp4": ".mp4", "audio/mpeg": ".mp3", "audio/ogg": ".ogg"}  # fmt: skip
# Customer content we don't model: described by name so the managers know it came.
_OTHER_CONTENT = ("story", "game", "invoice", "paid_media", "giveaway", "checklist")


def parse_update(bot: str, raw: Any) -> list[Incoming]:
    """What a customer did, from one raw Telegram update (webhook body or getUpdates item).

    [] for updates that are not about a private chat with a customer (groups, channels,
    callback queries, service messages, live-location refreshes). Raises MalformedUpdate,
    never anything else.
    """
    update_id = raw.get("update_id") if isinstance(raw, dict) else None
    if not _is_int(update_id):
        raise MalformedUpdate(f"telegram bot '{bot}': an update without an update_id")
    kind = next((k for k in ALLOWED_UPDATES if k in raw), None)
    if kind is None:
        return []  # callback queries, channel posts, update types of the future...
    if not isinstance(raw[kind], dict):
        raise MalformedUpdate(f"telegram bot '{bot}': update {update_id} has no {kind}")
    chat = raw[kind].get("chat")
    if isinstance(chat, dict) and chat.get("type", "private") != "private":
        return []  # groups and channels: not worth PTB's stricter reading either
    try:
        update = Update.de_json(raw, None)
    except Exception as e:  # PTB raises whatever the shape provokes: KeyError, TypeError, ...
        raise _malformed(bot, update_id, e) from None
    key = f"telegram:{bot}:update:{update_id}"
    try:
        if update.message is not None or update.edited_message is not None:
            edited = update.message is None
            m = update.edited_message if edited else update.message
            return _from_message(bot, key, m, raw, edited)  # type: ignore[arg-type]
        if update.my_chat_member is not None:
            return _from_member(bot, key, update, raw)
        if update.business_message is not None or update.edited_business_message is not None:
            edited = update.business_message is None
            m = update.edited_business_message if edited else update.business_message
            return _from_business(bot, key, m, raw, edited)  # type: ignore[arg-type]
        if update.business_connection is not None:
            return business.from_connection(bot, key, update, raw)
        if update.deleted_business_messages is not None:
            return business.from_deleted(bot, key, update, raw)
        if update.message_reaction is not None:
            return _from_reaction(bot, key, update, raw)
    except (AttributeError, TypeError, ValueError) as e:
        raise _malformed(bot, update_id, e) from None
    return []


def _from_business(
    bot: str, key: str, m: Message, raw: dict[str, Any], edited: bool
) -> list[Incoming]:
    """A message in a chat of the connected account: the customer's, or the owner's own
    from their phone (its sender is not the chat's other person). What a bot sent on the
    account's behalf (sender_business_bot: a manager's reply going out) was archived as
    it was sent."""
    if m.sender_business_bot is not None:
        return []
    if not m.business_connection_id:
        raise TypeError("a business message without its connection")
    return _from_message(bot, key, m, raw, edited, via=str(m.business_connection_id))


def _from_message(
    bot: str, key: str, m: Message, raw: dict[str, Any], edited: bool, via: str | None = None
) -> list[Incoming]:
    chat, user = m.chat, m.from_user
    if not _is_int(m.message_id) or chat is None or not _is_int(chat.id):
        raise TypeError("a message without message_id or chat")
    if user is None or not _is_int(user.id):
        raise TypeError("a private message without its sender")
    content = _content(m)
    if content is None or (edited and m.location is not None):
        return []  # a service message, or a live location moving
    kind, text, files = content
    # In a connected account's chat the customer is the chat's other person, whoever wrote.
    person = chat if via is not None else user
    author = None
    if via is not None and user.id != chat.id:  # the account's owner wrote it
        author = _customer(user).display_name
    start = None if edited or via is not None else _START.fullmatch(m.text or "")
    payload = (start.group(1) or "").strip() if start else ""
    phone = m.contact.phone_number if m.contact and m.contact.user_id == person.id else None
    customer = _customer(
        person,
        phone=_phone(phone) if phone else None,
        source=payload if _PAYLOAD.fullmatch(payload) else None,
    )
    return [
        Incoming(
            bot=bot,
            customer=customer,
            dedupe_key=key,
            created=(m.edit_date or m.date) if edited else m.date,
            kind=kind,
            text=text,
            channel_message_id=str(m.message_id),
            chat_id=str(chat.id),
            files=files,
            group=m.media_group_id,
            edited=edited,
            start=start is not None,
            raw=raw,
            via=via,
            author=author,
        )
    ]


def _customer(person: Any, **more: Any) -> Customer:
    """A Telegram user (or a private chat, which names its other person) as a Customer."""
    return Customer(
        channel="telegram",
        external_id=str(person.id),
        first_name=person.first_name or "",
        last_name=person.last_name or "",
        username=person.username,
        **more,
    )


def _content(m: Message) -> tuple[str, str, tuple[IncomingFile, ...]] | None:
    """(kind, text, files) of a customer's message; None for a service message."""
    caption, mid = m.caption or "", m.message_id
    if m.text is not None:
        return "text", m.text, ()
    if m.photo:
        big = max(m.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
        file = IncomingFile(big.file_id, f"photo_{mid}.jpg", "image/jpeg", big.file_size, "photo")
        return "photo", caption, (file,)
    for kind, fallback_mime, fallback_ext in _MEDIA:
        media = getattr(m, kind)
        if media is not None:
            given = getattr(media, "mime_type", None)
            mime = mime_type(given) if given else fallback_mime
            name = file_name(getattr(media, "file_name", None)) or (
                f"{kind}_{mid}{fallback_ext or _EXTENSIONS.get(mime, '')}"
            )
            return kind, caption, (IncomingFile(media.file_id, name, mime, media.file_size, kind),)
    if m.sticker is not None:
        return "sticker", *_sticker(m)
    if m.contact is not None:
        c = m.contact
        words = ("👤", c.first_name, c.last_name, _phone(c.phone_number))
        return "contact", " ".join(w for w in words if w), ()
    if m.venue is not None:
        lines = ("📍 " + m.venue.title, m.venue.address, _where(m.venue.location))
        return "location", "\n".join(line for line in lines if line), ()
    if m.location is not None:
        return "location", "📍 " + _where(m.location), ()
    if m.dice is not None:
        return "other", f"{m.dice.emoji} {m.dice.value}", ()
    if m.poll is not None:
        options = "".join(f"\n• {o.text}" for o in m.poll.options)
        return "other", f"📊 {m.poll.question}{options}", ()
    for name in _OTHER_CONTENT:
        if getattr(m, name, None) is not None:
            return "other", f"[{name}] {caption}".strip(), ()
    return None


def _sticker(m: Message) -> tuple[str, tuple[IncomingFile, ...]]:
    """Static stickers (webp) come as a picture; animated (.tgs) and video (.webm) ones,
    which no mail client shows, as words only: emoji, "sticker", the set's name."""
    s = m.sticker
    words = (s.emoji, "sticker", f"«{s.set_name}»" if s.set_name else "")
    text = " ".join(w for w in words if w)
    if s.is_animated or s.is_video:
        return text, ()
    name = f"sticker_{m.message_id}.webp"
    return text, (IncomingFile(s.file_id, name, "image/webp", s.file_size, "sticker"),)


def _from_member(bot: str, key: str, update: Update, raw: dict[str, Any]) -> list[Incoming]:
    change = update.my_chat_member
    if change is None or change.chat is None:
        raise TypeError("a chat member update without its chat")
    user, new, old = change.from_user, change.new_chat_member.status, change.old_chat_member.status
    if not _is_int(user.id) or not _is_int(change.chat.id):
        raise TypeError("a chat member update without user or chat id")
    if new == "kicked":
        event = "blocked"
    elif new == "member" and old != "member":
        event = "unblocked"
    else:
        return []
    customer = _customer(user)
    return [
        Incoming(
            bot=bot,
            customer=customer,
            dedupe_key=key,
            created=change.date,
            kind="event",
            chat_id=str(change.chat.id),
            event=event,
            raw=raw,
        )
    ]


def _from_reaction(bot: str, key: str, update: Update, raw: dict[str, Any]) -> list[Incoming]:
    """message_reaction: the customer's whole set of reactions on a message now (none:
    taken back). An anonymous one (actor_chat, no user) names no customer: []."""
    change = update.message_reaction
    if change is None or change.chat is None or not _is_int(change.message_id):
        raise TypeError("a reaction update without its chat or message")
    user = change.user
    if user is None:
        return []
    if not _is_int(user.id) or not _is_int(change.chat.id):
        raise TypeError("a reaction update without user or chat id")
    customer = _customer(user)
    return [
        Incoming(
            bot=bot,
            customer=customer,
            dedupe_key=key,
            created=change.date,
            kind="event",
            channel_message_id=str(change.message_id),
            chat_id=str(change.chat.id),
            event="reaction",
            raw=raw,
            reactions=tuple(_emoji(r) for r in change.new_reaction),
        )
    ]


def _emoji(reaction: Any) -> str:
    """A reaction as text: its emoji; a custom emoji (a picture only Telegram shows) and a
    paid reaction (a star bought with Telegram Stars) by what they stand for."""
    kind = getattr(reaction, "type", "")
    if kind == "emoji":
        return str(reaction.emoji)
    return "⭐" if kind == "paid" else "(custom emoji)"


def _where(location: Any) -> str:
    lat, lon = round(location.latitude, 6), round(location.longitude, 6)
    return f"{lat}, {lon}\nhttps://maps.google.com/?q={lat},{lon}"


def _phone(number: str) -> str:
    """Telegram sends shared numbers with or without '+': always give it."""
    number = number.strip().replace(" ", "")
    return f"+{number}" if number.isdigit() else number


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _malformed(bot: str, update_id: int, e: Exception) -> MalformedUpdate:
    detail = redact(f"{type(e).__name__}: {e}")
    return MalformedUpdate(f"telegram bot '{bot}': update {update_id} is malformed ({detail})")
