"""The protocol a channel class meets, the errors the relay acts on, and the values a
channel trades with the relay (Step, BotInfo, WebhookInfo). Re-exported by the package
(`from im2mail.channels import Channel, RetryLater`), loaded on first use.

An answer goes out in steps: `plan(text, files)` lays it out as a list of `Step`s, each one
platform call that happens whole or not at all, and `send_step` makes one call. The plan is
pure, so a delivery that failed after k steps is resumed with `plan(...)[k:]` and nothing
goes out twice.

Errors the relay acts on (all `RuntimeFailure`, exit code 1, messages free of secrets):
`Blocked` (the customer blocked the bot: tell the manager, mark the customer),
`RetryLater` (flood control, 5xx, timeouts: try again, after `seconds` when given),
`Rejected` (the platform refused this call: tell the manager, don't retry),
`FileTooBig` (the platform won't hand out or take the file), `AuthFailed` (bad token),
`Conflict` (another poller or a webhook holds the updates), `MalformedUpdate`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self, runtime_checkable

from ..errors import RuntimeFailure

if TYPE_CHECKING:
    from ..model import Connection, Customer, Incoming, IncomingFile
    from .spec import ChannelSpec

# (filename, mime type, bytes): a file a manager attached to a reply.
OutgoingFile = tuple[str, str, bytes]


class ChannelError(RuntimeFailure):
    """A messenger platform failed or refused a call.

    `reason` is the platform's own words (for the notice that goes back to the manager);
    `sent` holds the ids of the messages that did go out before the failure, when a call
    sends several (a long text in pieces, a batch of files).
    """

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        reason: str | None = None,
        sent: Sequence[str] = (),
    ) -> None:
        super().__init__(message, hint)
        self.reason = reason or message
        self.sent = tuple(sent)


class MalformedUpdate(ChannelError):
    """An update that does not have the shape the platform documents."""


class AuthFailed(ChannelError):
    """The platform refused the bot's token (it never appears in the message)."""


class Blocked(ChannelError):
    """The customer blocked the bot or deleted the account: nothing can reach them."""


class Rejected(ChannelError):
    """The platform refused this request (bad chat, invalid content); retrying won't help."""


class Conflict(ChannelError):
    """Updates are taken elsewhere: a webhook is set, or another instance is polling."""


class RetryLater(ChannelError):
    """A temporary failure; `seconds` is the platform's own wait (429), else None.
    `maybe_sent`: the request reached the platform and its answer did not come back (a
    read timeout), so the platform may have acted on it."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        seconds: float | None = None,
        reason: str | None = None,
        sent: Sequence[str] = (),
        maybe_sent: bool = False,
    ) -> None:
        super().__init__(message, hint, reason=reason, sent=sent)
        self.seconds = seconds
        self.maybe_sent = maybe_sent


class Sink(Protocol):
    """Where a downloaded file's bytes go, piece by piece and in order."""

    async def write(self, piece: bytes) -> None: ...


class FileTooBig(ChannelError):
    """The file is over our limit or the platform's; `size` is None when unknown (for a
    download cut off at the limit: the bytes that had come, a lower bound)."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        size: int | None = None,
        limit: int | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message, hint, reason=reason)
        self.size = size
        self.limit = limit


@dataclass(frozen=True)
class Step:
    """One platform call that goes out whole or not at all: a piece of text, or files
    (one file, or one album) with an optional caption."""

    text: str = ""
    files: tuple[OutgoingFile, ...] = ()
    sort: str = "text"  # "text", "photo", "document" for Telegram


@dataclass(frozen=True)
class BotInfo:
    """Who the bot is, as the platform says (getMe / get_account_info)."""

    id: str
    name: str
    username: str | None = None
    avatar: str | None = None  # the bot's picture (Viber: the account's icon URL)


@dataclass(frozen=True)
class WebhookInfo:
    url: str  # "" when no webhook is set
    pending: int | None = None  # updates waiting to be delivered
    last_error: str | None = None
    last_error_at: datetime | None = None


class ChannelBase:
    """What every channel class shares: `async with` around start()/stop(), a repr that
    names the bot (never the token), and no optional ability until it declares one."""

    bot: str
    spec: ClassVar[ChannelSpec]
    receipts: ClassVar[frozenset[str]] = frozenset()
    sends_files_by_link: ClassVar[bool] = False
    describe: Callable[[Customer], Awaitable[Customer]] | None = None
    welcome: Callable[[str], dict[str, Any]] | None = None
    connection: Callable[[str], Awaitable[Connection]] | None = None
    send_via: Callable[[str, str, Step], Awaitable[list[str]]] | None = None
    react: Callable[[str, str, str], Awaitable[None]] | None = None

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(bot={self.bot!r})"

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            with contextlib.suppress(Exception):  # what start() opened, closed again
                await self.stop()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


@runtime_checkable
class Channel(Protocol):
    """One bot on one messenger. Lifecycle: start() (checks the token: AuthFailed when
    the platform refuses it) ... stop(), or `async with`; get_me() says who the bot is.
    Classes are built as Class(bot, token, api_url=None, **options), the options being
    the bot's own config.toml keys (its spec's `keys`) and `links` where it takes them.

    An optional ability is a member too: a flag, or None where the platform lacks it.
    """

    name: ClassVar[str]  # "telegram", the key in the registry (channels.CHANNELS)
    spec: ClassVar[ChannelSpec]  # what the registry knows of it
    text_limit: ClassVar[int]  # longest text one message carries
    download_limit: ClassVar[int]  # the largest customer's file fetched (the platform's cap)
    # What its platform reports of the shop's messages, as Incoming events: "delivered",
    # "seen", "failed" (empty: nothing).
    receipts: ClassVar[frozenset[str]]
    # Files go out as links the platform downloads (Viber): the class then takes `links`,
    # a function (filename, mime, bytes) -> public URL, or None (it sends text only).
    sends_files_by_link: ClassVar[bool]
    # The name of a customer whose updates carry none, asked of the platform (Messenger).
    describe: Callable[[Customer], Awaitable[Customer]] | None
    # The webhook's answer to a chat being opened, carrying the greeting (Viber).
    welcome: Callable[[str], dict[str, Any]] | None
    # Accounts connected to the bot (Telegram Business): connection(id) asks the platform
    # about a connection (Rejected: it knows none by that id); send_via(connection id,
    # chat id, step) is send_step on the account's behalf, into its chat.
    connection: Callable[[str], Awaitable[Connection]] | None
    send_via: Callable[[str, str, Step], Awaitable[list[str]]] | None
    # react(chat_id, message_id, emoji): set the bot's reaction on a customer's message
    # (Telegram's setMessageReaction); Rejected for an emoji the platform does not take.
    react: Callable[[str, str, str], Awaitable[None]] | None
    bot: str  # the bot's name in config.toml

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def __aenter__(self) -> Channel: ...  # start()
    async def __aexit__(self, *exc_info: object) -> None: ...  # stop()
    async def get_me(self) -> BotInfo: ...

    def parse(self, raw: dict[str, Any]) -> list[Incoming]:
        """What a customer did, from one raw update; [] for updates of no interest.
        Raises MalformedUpdate and nothing else."""
        ...

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        """Whether a webhook request is genuine; checked before the body is parsed."""
        ...

    async def fetch(self, file: IncomingFile, limit: int, sink: Sink) -> None:
        """The file's bytes into `sink`, in order, never whole in memory (channels/media.py).
        FileTooBig when over `limit` (announced, or once more bytes than that came; the
        owner of `sink` drops what it got) or when the platform no longer has the file."""
        ...

    def plan(self, text: str, files: Sequence[OutgoingFile] = ()) -> list[Step]:
        """The calls that deliver text and files, in order; [] for blank text and no files.
        Pure and deterministic: the same input gives the same steps, so a resumed delivery
        skips exactly what was sent."""
        ...

    async def send_step(self, chat_id: str, step: Step) -> list[str]:
        """Make one planned call; the sent message ids (several for an album)."""
        ...

    async def send_text(self, chat_id: str, text: str) -> list[str]:
        """Deliver text, split over text_limit; the sent message ids, in order."""
        ...

    async def send_files(
        self, chat_id: str, files: Sequence[OutgoingFile], caption: str = ""
    ) -> list[str]:
        """Deliver files (pictures as pictures, several as an album); the message ids."""
        ...

    async def set_webhook(self, url: str, secret: str) -> None: ...
    async def delete_webhook(self) -> None: ...
    async def webhook_info(self) -> WebhookInfo: ...


@runtime_checkable
class Polling(Channel, Protocol):
    """A channel that can also pull updates (Telegram getUpdates): one whose spec has the
    "polling" mode.

    poll() returns raw updates from the first one not yet confirmed; confirm(raw) says one
    is stored. Only a confirmed update is acknowledged to the platform, so an update that
    was returned but not confirmed comes again (after a restart too); confirm them in order.
    update_id(raw) tells updates apart (the platform hands one out again until it is
    acknowledged).
    """

    async def poll(self, timeout: float = 30.0) -> list[dict[str, Any]]: ...
    def confirm(self, raw: dict[str, Any]) -> None: ...
    def update_id(self, raw: dict[str, Any]) -> int: ...


async def send_steps(channel: Channel, chat_id: str, steps: Iterable[Step]) -> list[str]:
    """Send steps in order; the message ids. A ChannelError goes on with `sent` holding
    the ids of the steps that went out before it."""
    sent: list[str] = []
    for step in steps:
        try:
            sent += await channel.send_step(chat_id, step)
        except ChannelError as e:
            e.sent = (*sent, *e.sent)
            raise
    return sent
