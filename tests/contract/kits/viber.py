"""Viber on the REST Bot API double (im2mail/testing/viber_api.py), files by the relay's
public links."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from im2mail.channels import Channel, open_channel
from im2mail.channels.viber.channel import SIGNATURE_HEADER, Viber
from im2mail.testing.viber_api import ViberDouble, ViberUser
from tests.contract.kit import BOT, SECRET, Receiver, Request, Rig

KEYS: dict = {}  # its own [[bots]] keys: none
REFUSED_TOKEN = "4453b6ac12345678-e02c5f12174805f9-daec9cbb5448c51f"


@dataclass
class ViberRig(Rig):
    double: ViberDouble | None = None
    token: str = ""
    customer: ViberUser | None = None

    async def customer_writes(self, text: str) -> Request:
        assert self.double and self.customer
        await self.double.push_text(self.token, self.customer, text)
        return self.receiver.requests[-1]

    async def receipt(self, event: str, message_id: str) -> tuple[Request, str | None]:
        assert self.double and self.customer
        push = {"delivered": self.double.push_delivered, "seen": self.double.push_seen,
                "failed": self.double.push_failed}[event]  # fmt: skip
        await push(self.token, self.customer, int(message_id))
        return self.receiver.requests[-1], message_id

    def received(self) -> list[str]:
        assert self.double and self.customer
        return [sent.text or "" for sent in self.double.sent_messages(self.customer.id)]

    def block(self) -> None:
        assert self.double
        self.double.fail("send_message", 6)  # receiverNotSubscribed: they unsubscribed

    def throttle(self) -> None:
        assert self.double
        self.double.fail("send_message", 12)  # tooManyRequests

    def revoke(self) -> None:
        assert self.double
        self.double.revoke(self.token)

    def refused(self) -> Channel:
        assert self.double
        return Viber(BOT, REFUSED_TOKEN, self.double.url, timeout=2)

    def opened(self) -> Channel:
        assert self.double
        return open_channel("viber", BOT, self.token, self.double.url, links=self.receiver.link)

    def secrets(self) -> list[str]:
        return [REFUSED_TOKEN, REFUSED_TOKEN.split("-")[1], self.token]


@asynccontextmanager
async def rig(files: Path) -> AsyncIterator[Rig]:
    async with ViberDouble() as double:
        token = double.add_bot("Друкарня «Аркуш»", "arkush_print")
        receiver = Receiver(files)
        async with Viber(BOT, token, double.url, timeout=2, links=receiver.link) as channel:
            await receiver.start(channel)
            try:
                # Viber calls the URL as it is registered: the route answers its check.
                await channel.set_webhook(receiver.url("viber"), SECRET)
                olena = double.customer("Олена Коваль")
                double.subscribe(token, olena)
                yield ViberRig(
                    channel, receiver, olena.id, olena.id,
                    signature_header=SIGNATURE_HEADER, signs_body=True,
                    refused_token_words="invalidAuthToken", blocked_words="receiverNotSubscribed",
                    double=double, token=token, customer=olena,
                )  # fmt: skip
            finally:
                await receiver.stop()
