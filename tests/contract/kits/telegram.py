"""Telegram on the Bot API double (im2mail/testing/telegram_api.py), by webhook."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from im2mail.channels import Channel, open_channel
from im2mail.channels.telegram.channel import SECRET_HEADER, Telegram
from im2mail.testing.telegram_api import TelegramDouble, User
from tests.contract.kit import BOT, SECRET, Receiver, Request, Rig

KEYS = {"max_download_mb": 20}  # its own [[bots]] keys, as config.toml would give them
REFUSED_TOKEN = "7999999999:AAHbadbadbadbadbadbadbadbadbadbadbad"
BLOCKED = "Forbidden: bot was blocked by the user"  # the double's words for a 403, as Telegram's


@dataclass
class TelegramRig(Rig):
    double: TelegramDouble | None = None
    token: str = ""
    customer: User | None = None

    async def customer_writes(self, text: str) -> Request:
        assert self.double and self.customer
        await self.double.push_text(self.token, self.customer, text)
        return self.receiver.requests[-1]

    def received(self) -> list[str]:
        assert self.double and self.customer
        return [sent.text for sent in self.double.sent_messages(self.customer.id)]

    async def customer_reacts(self, message_id: str, emoji: str) -> Request:
        assert self.double and self.customer
        await self.double.push_reaction(self.token, self.customer, int(message_id),
                                        *([emoji] if emoji else []))  # fmt: skip
        return self.receiver.requests[-1]

    async def customer_edits(self, message_id: str, text: str) -> Request:
        assert self.double and self.customer
        original = self.receiver.requests[-1].json()  # the customer's message, just written
        assert str(original["message"]["message_id"]) == message_id
        await self.double.push_edit(self.token, original, text)
        return self.receiver.requests[-1]

    def reactions_set(self) -> dict[str, list[str]]:
        assert self.double and self.customer
        found = self.double.reactions_set(self.customer.id, self.token)
        return {str(message): emoji for message, emoji in found.items()}

    def block(self) -> None:
        assert self.double
        self.double.fail("*", 403)  # "Forbidden: bot was blocked by the user"

    def throttle(self) -> None:
        assert self.double
        self.double.fail("*", 429, retry_after=7)

    def revoke(self) -> None:
        assert self.double
        self.double.revoke(self.token)

    def refused(self) -> Channel:
        assert self.double
        return Telegram(BOT, REFUSED_TOKEN, self.double.url, timeout=2)

    def opened(self) -> Channel:
        assert self.double
        return open_channel("telegram", BOT, self.token, self.double.url, **KEYS)

    def secrets(self) -> list[str]:
        return [REFUSED_TOKEN, REFUSED_TOKEN.split(":")[1], self.token]


@asynccontextmanager
async def rig(files: Path) -> AsyncIterator[Rig]:
    async with TelegramDouble() as double:
        token = double.add_bot("shop_bot", "Друкарня")
        receiver = Receiver(files)
        async with Telegram(BOT, token, double.url, timeout=2) as channel:
            await receiver.start(channel)
            try:
                await channel.set_webhook(receiver.url("telegram"), SECRET)
                olena = double.customer("Олена", "Коваль", username="olena_k")
                yield TelegramRig(
                    channel, receiver, str(olena.id), str(olena.id),
                    signature_header=SECRET_HEADER, signs_body=False,
                    refused_token_words="401", blocked_words=BLOCKED, retry_seconds=7,
                    double=double, token=token, customer=olena,
                )  # fmt: skip
            finally:
                await receiver.stop()
