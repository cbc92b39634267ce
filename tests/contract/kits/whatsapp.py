"""WhatsApp on the Cloud API double (im2mail/testing/whatsapp_api.py): the webhook saved in
Meta's dashboard (its verification GET answered by the relay's route), a customer whose
24-hour window is open."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from im2mail.channels import Channel, open_channel
from im2mail.channels.graph import SIGNATURE_HEADER
from im2mail.channels.whatsapp.channel import WhatsApp
from im2mail.testing.whatsapp_api import Number, WaUser, WhatsAppDouble
from tests.contract.kit import BOT, SECRET, Receiver, Request, Rig

KEYS = {"phone_number_id": "106540352242922"}  # its own [[bots]] keys, as config.toml has them
STATUSES = {"delivered": "delivered", "seen": "read", "failed": "failed"}


@dataclass
class WhatsAppRig(Rig):
    double: WhatsAppDouble | None = None
    number: Number | None = None
    customer: WaUser | None = None
    other: Number | None = None  # a number of another app, whose token Meta refuses

    async def customer_writes(self, text: str) -> Request:
        assert self.double and self.number and self.customer
        await self.double.push_text(self.number, self.customer, text)
        return self.receiver.requests[-1]

    async def receipt(self, event: str, message_id: str) -> tuple[Request, str | None]:
        assert self.double and self.number and self.customer
        errors = [{"code": 131026, "title": "Message undeliverable"}] if event == "failed" else None
        await self.double.push_status(self.number, self.customer, message_id, STATUSES[event],
                                      errors)  # fmt: skip
        return self.receiver.requests[-1], message_id

    def received(self) -> list[str]:
        assert self.double and self.customer
        return [sent.text or "" for sent in self.double.sent_messages(self.customer.wa_id)]

    async def customer_reacts(self, message_id: str, emoji: str) -> Request:
        assert self.double and self.number and self.customer
        await self.double.push_reaction(self.number, self.customer, message_id, emoji)
        return self.receiver.requests[-1]

    async def customer_edits(self, message_id: str, text: str) -> Request:
        assert self.double and self.number and self.customer
        await self.double.push_edit(self.number, self.customer, message_id, text)
        return self.receiver.requests[-1]

    def block(self) -> None:
        assert self.double
        self.double.fail("messages", 131026)  # Message Undeliverable

    def throttle(self) -> None:
        assert self.double
        self.double.fail("messages", 130429)  # Rate limit hit

    def revoke(self) -> None:
        assert self.double and self.number
        self.double.revoke(self.number)

    def refused(self) -> Channel:
        assert self.double and self.other
        return WhatsApp(BOT, self.other.secret, self.double.url, timeout=2,
                        phone_number_id=self.other.phone_number_id)  # fmt: skip

    def opened(self) -> Channel:
        assert self.double and self.number
        return open_channel("whatsapp", BOT, self.number.secret, self.double.url,
                            phone_number_id=self.number.phone_number_id)  # fmt: skip

    def secrets(self) -> list[str]:
        numbers = [n for n in (self.number, self.other) if n]
        return [value for n in numbers for value in (n.token, n.app_secret)]


@asynccontextmanager
async def rig(files: Path) -> AsyncIterator[Rig]:
    async with WhatsAppDouble() as double:
        number = double.add_number("Друкарня «Аркуш»", "+380 44 123 4567")
        other = double.add_number("Копіцентр", "+380 44 765 4321")
        double.revoke(other)
        receiver = Receiver(files)
        async with WhatsApp(BOT, number.secret, double.url, timeout=2,
                            phone_number_id=number.phone_number_id) as channel:  # fmt: skip
            await receiver.start(channel)
            try:
                url = receiver.url("whatsapp")
                await double.set_webhook(number, url, SECRET)
                await channel.set_webhook(url, SECRET)  # nothing to call: Meta has no API
                olena = double.customer("Олена Коваль", "380671234567")
                double.open_window(number, olena)
                yield WhatsAppRig(
                    channel, receiver, olena.wa_id, olena.wa_id,
                    signature_header=SIGNATURE_HEADER, signs_body=True,
                    refused_token_words="(190)", blocked_words="(131026)",
                    double=double, number=number, customer=olena, other=other,
                )  # fmt: skip
            finally:
                await receiver.stop()
