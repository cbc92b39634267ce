"""What the contract suite needs of one channel, and the parts every channel's rig shares.

A kit (tests/contract/kits/<channel>.py, one per registered channel, found by name) starts
its platform's API double (im2mail/testing/), a bot on it, the channel started on that
bot, and a customer who has written; it wires the double's webhook to the relay's own web
server (relay/web.py, the route the relay registers), and knows how to make the double
answer as the platform does when a customer blocked the bot, when it throttles, when a
token is refused. The suite asks nothing else of a channel, so every channel is held to
the same behaviours.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from im2mail.channels import Channel, ChannelSpec, spec, webhook_url
from im2mail.model import Incoming
from im2mail.relay.web import BadUpdate, ServedFile, WebServer

BOT = "shop"
SECRET = "contract-webhook-secret-7f3a"  # what the relay derives per bot (signing.py)


@dataclass(frozen=True)
class Request:
    """A webhook POST as it reached the relay's route: its headers and raw bytes."""

    headers: Mapping[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


class Receiver:
    """The relay's web server with this bot's webhook on it, as Relay._start_bot registers
    one (the channel's check with the bot's secret, the dashboard's handshake where the
    spec has one), keeping every request and what the channel parsed of the genuine ones;
    and the relay's /f/ file links, for a channel that sends files by link."""

    def __init__(self, files: Path) -> None:
        self.server = WebServer("127.0.0.1", 0)
        self.requests: list[Request] = []
        self.parsed: list[Incoming] = []
        self._files = files
        self._served: dict[str, ServedFile] = {}

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    async def start(self, channel: Channel) -> None:
        def check(headers: Mapping[str, str], body: bytes) -> bool:
            self.requests.append(Request(dict(headers), body))
            return channel.verify_webhook(headers, body, SECRET)

        async def handle(body: bytes) -> None:
            try:
                raw = json.loads(body)
            except ValueError as e:
                raise BadUpdate(f"not JSON: {e}") from None
            self.parsed += channel.parse(raw)

        dashboard = spec(channel.name).dashboard
        handshake = (lambda q: dashboard.handshake(q, SECRET)) if dashboard else None
        self.server.add_webhook(channel.name, BOT, check, handle, handshake=handshake)
        self.server.serve_files(self._served.get)
        await self.server.start()

    def url(self, channel: str) -> str:
        return webhook_url(self.base, channel, BOT)

    def link(self, filename: str, mime: str, data: bytes) -> str:
        """A public link to a file, as the relay's _file_link makes for Viber."""
        key = secrets.token_urlsafe(8)
        path = self._files / key
        path.write_bytes(data)
        self._served[key] = ServedFile(path, filename, mime)
        return f"{self.base}/f/{key}/{filename}"

    async def stop(self) -> None:
        await self.server.stop()


@dataclass
class Rig:
    """One channel's bot on its double, ready: see the module. Kits fill in the rest."""

    channel: Channel
    receiver: Receiver
    customer_id: str  # the customer as parse() names them (Customer.external_id)
    chat_id: str  # where an answer to them goes
    # The header that proves a webhook genuine, and whether its proof covers the body.
    signature_header: str
    signs_body: bool
    # What the platform's words say when a token is refused / a customer blocked the bot.
    refused_token_words: str
    blocked_words: str
    retry_seconds: float | None = None  # the wait a throttled call gets, when it says one
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> ChannelSpec:
        return spec(self.channel.name)

    # -- to be given by each kit -------------------------------------------------------------

    async def customer_writes(self, text: str) -> Request:
        """The customer sends `text`; the webhook request the double made for it."""
        raise NotImplementedError

    async def receipt(self, event: str, message_id: str) -> tuple[Request, str | None]:
        """The platform reports `event` ("delivered", "seen", "failed") of the bot's message
        `message_id`; the request, and the message id the receipt names (None: a receipt
        by time, for everything sent until then)."""
        raise NotImplementedError

    def received(self) -> list[str]:
        """What the customer got, one entry per message in order: its text or caption."""
        raise NotImplementedError

    async def customer_reacts(self, message_id: str, emoji: str) -> Request:
        """The customer reacts with `emoji` ("" takes their reaction back) to message
        `message_id`; the webhook request. NotImplementedError: the platform reports no
        reactions (Viber)."""
        raise NotImplementedError

    async def customer_edits(self, message_id: str, text: str) -> Request:
        """The customer changes the text of their message `message_id`; the webhook
        request. NotImplementedError: the platform reports no edits."""
        raise NotImplementedError

    def reactions_set(self) -> dict[str, list[str]]:
        """The bot's reactions on the customer's messages, by message id (a channel with
        `react` only)."""
        raise NotImplementedError

    def block(self) -> None:
        """The customer blocks the bot (or leaves): sends to them are refused."""
        raise NotImplementedError

    def throttle(self) -> None:
        """The platform's flood control refuses the bot's next send."""
        raise NotImplementedError

    def revoke(self) -> None:
        """The bot's token stops working."""
        raise NotImplementedError

    def refused(self) -> Channel:
        """A channel (not started) for a bot whose token the platform refuses."""
        raise NotImplementedError

    def opened(self) -> Channel:
        """Another channel for this bot, made through the registry (open_channel) with the
        bot's config.toml keys, as the relay and `bot add` make one; not started."""
        raise NotImplementedError

    def secrets(self) -> list[str]:
        """What no error may show: the bot's token and whatever else it is kept with."""
        raise NotImplementedError
