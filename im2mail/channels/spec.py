"""What a channel says of itself before any of it runs: the descriptor the registry holds.

Everything the rest of im2mail must know of a messenger without talking to it is here:
its title, the [[bots]] keys of its own (config validates them with the checks given
here), how its bots may receive (modes), where its owner gets a token, how its webhook
is set and checked, the deep link the widget makes, the reply window its platform
allows. It is plain data and small functions, so the registry is read at start-up
(`im2mail --help`, config.load, the relay's routes) without importing the platform's SDK;
what a running bot does is the channel class's (the Channel protocol in base.py),
imported on first use through `implementation`.

config never imports channels (it sits below them): it reads these descriptors through
the shape its own `ChannelRules` protocol names (name, title, modes, keys), handed to
config.load/parse by whoever loads the config.

The descriptors are NamedTuples, not dataclasses: they are built at every start-up, and a
dataclass costs milliseconds to define where a NamedTuple costs a fraction of one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, NamedTuple

WEBHOOK, POLLING = "webhook", "polling"


class BotKey(NamedTuple):
    """A [[bots]] key of one channel's own, as config.toml names it.

    `default` ... means required. `check(value, table)` sees the value (of `kind`
    already) and the bot's whole table, and gives the problem in words, or None. With a
    `flag`, `bot add` takes the value on the command line: `help` is the flag's help,
    `hint` where the owner finds the value (said when it is missing).
    """

    key: str
    kind: type
    default: Any = ...
    check: Callable[[Any, Mapping[str, Any]], str | None] | None = None
    flag: str | None = None
    help: str = ""
    hint: str = ""
    metavar: str = "VALUE"

    @property
    def required(self) -> bool:
        return self.default is ...


class Dashboard(NamedTuple):
    """A webhook the owner enters by hand in the platform's dashboard (it has no API for
    it); the dashboard checks the URL with a verification GET when it is saved."""

    owner: str  # whose dashboard: "Meta"
    where: str  # its page that holds the webhook
    fields: str  # what to subscribe to there
    # The verification GET: its query and our verify token -> the text to answer 200
    # with, or None (403).
    handshake: Callable[[Mapping[str, str], str], str | None]


class ChannelSpec(NamedTuple):
    """One messenger, as the registry knows it (see the module)."""

    name: str  # config.toml's `channel`, the webhook route's first part, the archive's
    title: str  # as people write it: "WhatsApp" (emails, tables, messages)
    implementation: str  # "module:Class" of its Channel, imported on first use
    modes: tuple[str, ...] = (WEBHOOK,)  # how its bots may receive; the first is the default
    keys: tuple[BotKey, ...] = ()  # its own [[bots]] keys
    token_source: str = "the platform"  # where the owner gets a token (bot add's hint)
    # The token goes with the app's secret, which checks the webhooks: `bot add` asks for
    # both, and the keyring keeps credentials(token, app_secret). None: the token alone.
    credentials: Callable[[str, str], str] | None = None
    # The platform calls the URL as it is registered (Viber): only a running relay can
    # answer, so `run` registers it rather than `webhook set`.
    webhook_called_when_set: bool = False
    dashboard: Dashboard | None = None  # the webhook is entered in a dashboard, not by API
    # How long after a customer's last message a free-form reply may still reach them
    # (Meta's customer service window); None: no limit.
    reply_window: timedelta | None = None
    handle: str = "public name"  # what the platform calls the bot's public name
    handle_prefix: str = ""  # written before it to name the bot ("@" for "@shop_bot")
    # (public name, lead source tag) -> a link that opens a chat with the bot carrying
    # the tag (`im2mail widget`); None: the platform has none.
    deep_link: Callable[[str, str], str] | None = None
    colour: str = "#444444"  # its buttons in the widget

    @property
    def polls(self) -> bool:
        return POLLING in self.modes

    @property
    def default_mode(self) -> str:
        return self.modes[0]

    def key(self, name: str) -> BotKey | None:
        return next((k for k in self.keys if k.key == name), None)

    def shown(self, handle: str | None, name: str) -> str:
        """How messages name a bot: by its public name where that is how people find it
        (`@shop_bot`), else by the name the platform shows (`Друкарня`)."""
        return f"{self.handle_prefix}{handle}" if self.handle_prefix and handle else name
