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

The descriptors are small records (_Record), not dataclasses or NamedTuples: they are
defined at every start of the CLI, where a dataclass costs milliseconds and a NamedTuple
about half of one each.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

WEBHOOK, POLLING = "webhook", "polling"


class _Record:
    """A small immutable record: fields in order (`_fields`, defaults from the class's own
    attributes), keyword or positional, compared by value. Defining one costs microseconds;
    a NamedTuple or dataclass costs a millisecond or more, and the registry is read at
    every start of the CLI."""

    __slots__ = ("_values",)
    _fields: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(self._fields):
            raise TypeError(f"{type(self).__name__} takes {len(self._fields)} fields")
        values = dict(zip(self._fields, args, strict=False))
        for name, value in kwargs.items():
            if name not in self._fields or name in values:
                raise TypeError(f"{type(self).__name__}: unexpected or repeated {name!r}")
            values[name] = value
        for name in self._fields[len(args) :]:
            if name not in values:
                if name not in _DEFAULTS[type(self)]:
                    raise TypeError(f"{type(self).__name__} needs {name!r}")
                values[name] = _DEFAULTS[type(self)][name]
        object.__setattr__(self, "_values", values)

    def __init_subclass__(cls) -> None:
        fields = tuple(cls.__annotations__)
        cls._fields = fields
        _DEFAULTS[cls] = {n: cls.__dict__[n] for n in fields if n in cls.__dict__}
        for name in fields:  # the defaults give way to per-instance values
            setattr(cls, name, property(lambda self, name=name: self._values[name]))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._values == self._values  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), tuple(self._values.values())))

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"{type(self).__name__}({inner})"


_DEFAULTS: dict[type, dict[str, Any]] = {}


class BotKey(_Record):
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


class Dashboard(_Record):
    """A webhook the owner enters by hand in the platform's dashboard (it has no API for
    it); the dashboard checks the URL with a verification GET when it is saved."""

    owner: str  # whose dashboard: "Meta"
    where: str  # its page that holds the webhook
    fields: str  # what to subscribe to there
    # The verification GET: its query and our verify token -> the text to answer 200
    # with, or None (403).
    handshake: Callable[[Mapping[str, str], str], str | None]


class ChannelSpec(_Record):
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
