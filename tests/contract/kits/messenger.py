"""Messenger on the Graph API double (im2mail/testing/messenger_api.py): the webhook saved
in Meta's dashboard (its verification GET answered by the relay's route), the app
subscribed, a customer who has just written (the 24-hour window open)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from im2mail.channels import Channel, open_channel
from im2mail.channels.graph import SIGNATURE_HEADER
from im2mail.channels.messenger.channel import Messenger
from im2mail.testing.messenger_api import MessengerDouble, MessengerPage, MessengerUser
from tests.contract.kit import BOT, SECRET, Receiver, Request, Rig

KEYS = {"human_agent_days": 7}  # its own [[bots]] keys, as config.toml would give them


@dataclass
class MessengerRig(Rig):
    double: MessengerDouble | None = None
    page: MessengerPage | None = None
    customer: MessengerUser | None = None
    other: MessengerPage | None = None  # a Page whose token Meta refuses

    async def customer_writes(self, text: str) -> Request:
        assert self.double and self.page and self.customer
        await self.double.push_text(self.page.token, self.customer, text)
        return self.receiver.requests[-1]

    async def receipt(self, event: str, message_id: str) -> tuple[Request, str | None]:
        assert self.double and self.page and self.customer
        if event == "delivered":
            await self.double.push_delivery(self.page.token, self.customer, [message_id])
            return self.receiver.requests[-1], message_id
        await self.double.push_read(self.page.token, self.customer)  # seen: by watermark
        return self.receiver.requests[-1], None

    def received(self) -> list[str]:
        assert self.double and self.customer
        return [sent.text or "" for sent in self.double.sent_messages(self.customer.id)]

    async def customer_reacts(self, message_id: str, emoji: str) -> Request:
        assert self.double and self.page and self.customer
        await self.double.push_reaction(self.page.token, self.customer, message_id, emoji,
                                        action="react" if emoji else "unreact")  # fmt: skip
        return self.receiver.requests[-1]

    async def customer_edits(self, message_id: str, text: str) -> Request:
        assert self.double and self.page and self.customer
        await self.double.push_edit(self.page.token, self.customer, message_id, text)
        return self.receiver.requests[-1]

    def block(self) -> None:
        assert self.double and self.page and self.customer
        self.double.block(self.page.token, self.customer)

    def throttle(self) -> None:
        assert self.double
        self.double.fail("me/messages", 613)  # calls to this API have exceeded the rate limit

    def revoke(self) -> None:
        assert self.double and self.page
        self.double.revoke(self.page.token)

    def refused(self) -> Channel:
        assert self.double and self.other
        return Messenger(BOT, self.other.secret, self.double.url, timeout=2)

    def opened(self) -> Channel:
        assert self.double and self.page
        return open_channel("messenger", BOT, self.page.secret, self.double.url, **KEYS)

    def secrets(self) -> list[str]:
        pages = [p for p in (self.page, self.other) if p]
        return [value for p in pages for value in (p.token, p.app_secret)]


@asynccontextmanager
async def rig(files: Path) -> AsyncIterator[Rig]:
    async with MessengerDouble() as double:
        page = double.add_page("Друкарня «Аркуш»", "arkush.print")
        other = double.add_page("Копіцентр", "copy")
        double.revoke(other.token)
        receiver = Receiver(files)
        async with Messenger(BOT, page.secret, double.url, timeout=2) as channel:
            await receiver.start(channel)
            try:
                url = receiver.url("messenger")
                await double.configure_webhook(page.token, url, SECRET)
                await channel.set_webhook(url, SECRET)  # subscribes the app to the Page
                olena = double.customer("Олена", "Коваль")
                await double.push_text(page.token, olena, "Добрий день!")
                yield MessengerRig(
                    channel, receiver, olena.id, olena.id,
                    signature_header=SIGNATURE_HEADER, signs_body=True,
                    refused_token_words="(190)", blocked_words="551/1545041",
                    double=double, page=page, customer=olena, other=other,
                )  # fmt: skip
            finally:
                await receiver.stop()
