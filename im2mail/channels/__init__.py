"""The seam between the relay and the messengers: a registry by name, one small protocol.

A channel turns a platform's raw updates into `model.Incoming` values, fetches the files
they mention, and delivers the managers' answers. It knows nothing of mail or the archive.

The registry (CHANNELS) holds each messenger's descriptor (spec.py: its title, config
keys, modes, token source, webhook set-up and check, widget link, reply window). Nothing
outside this package branches on a channel's name: it asks the registry, or the channel's
protocol members (base.py: Channel, with its optional abilities). A new messenger is a
module group beside telegram/ viber/ messenger/ whatsapp/, with its SPEC added to CHANNELS.

The registry is read at start-up (the CLI's choices, config, the relay's routes), so this
module imports only the descriptors: the protocol and the errors (base.py) load on first
use of one of their names, and a channel's class (its platform's SDK: python-telegram-bot,
viberbot) when a bot is opened, so `im2mail --help` pays for none of them.
"""

from __future__ import annotations

import importlib
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ..errors import NotBuiltYet, NotFound
from . import messenger, telegram, viber, whatsapp
from .spec import POLLING, WEBHOOK, BotKey, ChannelSpec, Dashboard

if TYPE_CHECKING:
    from .base import *  # noqa: F403  (what __getattr__ hands out, for type checkers)
    from .base import Channel

# The registry: every messenger im2mail bridges, in the order lists and messages show them.
CHANNELS: dict[str, ChannelSpec] = {
    found.name: found for found in (telegram.SPEC, viber.SPEC, messenger.SPEC, whatsapp.SPEC)
}

# The names of base.py and text.py handed out from here, each module imported on first use.
_BASE = ("AuthFailed", "Blocked", "BotInfo", "Channel", "ChannelBase", "ChannelError",
         "Conflict", "FileTooBig", "MalformedUpdate", "OutgoingFile", "Polling", "Rejected",
         "RetryLater", "Sink", "Step", "WebhookInfo", "send_steps")  # fmt: skip
_TEXT = ("split_text", "utf16_len")
__all__ = ["CHANNELS", "POLLING", "WEBHOOK", "BotKey", "ChannelSpec", "Dashboard",
           "bot_options", "channel_class", "open_channel", "reply_windows", "spec", "title",
           "titles", "webhook_url", *_BASE, *_TEXT]  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _BASE:
        from . import base

        return getattr(base, name)
    if name in _TEXT:
        from . import text

        return getattr(text, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def spec(name: str) -> ChannelSpec:
    """The registry's descriptor of a channel; NotFound (exit 5) for a name it lacks."""
    try:
        return CHANNELS[name]
    except KeyError:
        known = ", ".join(sorted(CHANNELS))
        raise NotFound(f"no channel called '{name}'", hint=f"known channels: {known}") from None


def title(name: str) -> str:
    """The channel as people write it ("WhatsApp"); the name itself when the registry has
    no such channel (an archive from elsewhere)."""
    found = CHANNELS.get(name)
    return found.title if found else name


def titles() -> dict[str, str]:
    """Every channel's title by name: what `mail` gets as data (it never imports channels)."""
    return {name: found.title for name, found in CHANNELS.items()}


def reply_windows() -> dict[str, timedelta]:
    """The channels whose platform limits how long after a customer's last message a
    reply may go, with that time (Meta's 24 hours)."""
    return {n: found.reply_window for n, found in CHANNELS.items() if found.reply_window}


def webhook_url(public_url: str, channel: str, bot: str) -> str:
    """Where a bot's platform calls: `<public_url>/<channel>/<bot>` (the relay's route)."""
    return f"{public_url.rstrip('/')}/{channel}/{bot}"


def channel_class(name: str) -> type[Channel]:
    """The class implementing a channel, imported now."""
    module_name, _, class_name = spec(name).implementation.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name != module_name:
            raise
        raise NotBuiltYet(f"the {name} channel is not built yet") from None
    return getattr(module, class_name)


def bot_options(bot: Any) -> dict[str, Any]:
    """A bot's own config.toml keys (its channel's spec names them: WhatsApp's
    phone_number_id, Messenger's human_agent_days), as config read them."""
    return dict(bot.options)


def open_channel(
    name: str, bot: str, token: str, api_url: str | None = None, **options: Any
) -> Channel:
    """A channel for one configured bot (not started yet)."""
    return channel_class(name)(bot, token, api_url, **options)
