"""Telegram Business in unit tests: the owner's account connected to bot "shop" (IRYNA,
with the right to reply) and a customer of that account's chats (OLENA)."""

from __future__ import annotations

from datetime import UTC, datetime

from im2mail.model import Connection, Customer

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
IRYNA = Connection(
    "shop",
    "AbCdEf123",
    "4242",
    "Ірина Шевченко",
    "iryna_shop",
    "4242",
    enabled=True,
    can_reply=True,
    rights=("can_read_messages",),
    since=T0,
)
OLENA = Customer("telegram", "5012", "Олена", "Коваль", "olena_k")
