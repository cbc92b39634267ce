"""Small helpers to put customers and messages into an archive in tests."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from im2mail.archive import Archive
from im2mail.model import Conversation, Customer, Message, NewAttachment

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
_ids = itertools.count(1000)


def customer(
    archive: Archive,
    first: str = "Олена",
    last: str = "Коваленко",
    *,
    channel: str = "telegram",
    bot: str = "shop",
    external_id: str | None = None,
    username: str | None = None,
    phone: str | None = None,
    source: str | None = None,
) -> Conversation:
    """A customer and their conversation with `bot`."""
    c = Customer(channel, external_id or str(next(_ids)), first, last, username, phone, source)
    return archive.conversation_for(archive.upsert_customer(c), bot)


def say(
    archive: Archive,
    conversation: Conversation,
    text: str,
    *,
    direction: str = "in",
    minutes: float = 0,
    files: Sequence[NewAttachment] = (),
    author: str | None = None,
) -> Message:
    """A message `minutes` after T0, from the customer ("in") or a manager ("out")."""
    if author is None:
        author = conversation.customer.display_name if direction == "in" else "anna@shop.example"
    when = T0 + timedelta(minutes=minutes)
    message = Message(conversation.id, direction, author, text, when)  # type: ignore[arg-type]
    stored = archive.add_message(message, files)
    assert stored is not None
    return stored
