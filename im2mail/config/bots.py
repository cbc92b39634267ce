"""The [[bots]] tables of config.toml, read with the rules each channel declares.

config sits below channels and never imports them: whoever loads the config hands
parse() the channel registry (channels.CHANNELS), and this module reads each entry
through the shape the protocols below name: the channel's name and title, its modes (the
first is the default), and the keys of its own with their checks. So a bot's `channel`
must be a registered one, its `mode` one its channel has, and its other keys the ones
its channel declares.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from .checker import _Checker

BOT_NAME = re.compile(r"^[a-z0-9_-]+$")
WEBHOOK = "webhook"


class ChannelKey(Protocol):
    """A [[bots]] key of one channel's own (channels.spec.BotKey)."""

    key: str
    kind: type
    default: Any  # ...: required
    check: Callable[[Any, Mapping[str, Any]], str | None] | None  # (value, table) -> problem


class ChannelRules(Protocol):
    """What config needs of a channel (channels.spec.ChannelSpec)."""

    name: str
    title: str
    modes: tuple[str, ...]  # the first is the default
    keys: Sequence[ChannelKey]


@dataclass(frozen=True)
class BotConfig:
    name: str
    channel: str
    mode: str = WEBHOOK  # the channel's first mode when config.toml says none
    api_url: str | None = None
    # The keys of the bot's channel's own, as read (WhatsApp's phone_number_id, ...).
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def secret_name(self) -> str:
        return f"bot:{self.name}"


def parse_bots(
    check: _Checker, data: dict[str, Any], channels: Mapping[str, ChannelRules]
) -> tuple[BotConfig, ...]:
    raw = data.get("bots", [])
    if not isinstance(raw, list) or not all(isinstance(b, dict) for b in raw):
        check.fail("bots", "expected [[bots]] tables")
    bots: list[BotConfig] = []
    for i, table in enumerate(raw):
        prefix = f"bots[{i}]."
        name = check.value(
            table,
            "name",
            str,
            prefix,
            check=lambda v: None if BOT_NAME.match(v) else "use only a-z, 0-9, _ and -",
        )
        if any(b.name == name for b in bots):
            check.fail(f"{prefix}name", f"'{name}' is used by two bots")
        channel = channels[check.value(table, "channel", str, prefix, check=_one_of(channels))]
        mode = check.value(
            table, "mode", str, prefix, default=channel.modes[0], check=_mode(channel)
        )
        api_url = check.value(table, "api_url", str, prefix, default=None, check=_url)
        options = {
            key.key: check.value(table, key.key, key.kind, prefix, default=key.default,
                                 check=_with_table(key, table))
            for key in channel.keys
        }  # fmt: skip
        check.unknown(table, prefix, {"name", "channel", "mode", "api_url", *options})
        bots.append(BotConfig(name, channel.name, mode, api_url, options))
    return tuple(bots)


def _one_of(choices: Sequence[str] | Mapping[str, Any]) -> Callable[[str], str | None]:
    return lambda v: None if v in choices else "expected one of: " + ", ".join(choices)


def _mode(channel: ChannelRules) -> Callable[[str], str | None]:
    if len(channel.modes) > 1:
        return _one_of(channel.modes)
    only = f"{channel.title} bots work by {channel.modes[0]} only"
    return lambda v: None if v == channel.modes[0] else only


def _with_table(key: ChannelKey, table: dict[str, Any]) -> Callable[[Any], str | None] | None:
    rule = key.check
    return (lambda value: rule(value, table)) if rule else None


def _url(value: str) -> str | None:
    parts = urlsplit(value)
    ok = parts.scheme in ("http", "https") and parts.hostname
    return None if ok else f"'{value}' is not an http(s) URL"
