"""The shop's bots: adding and removing them, and their webhooks. Nothing here prints.

Adding a bot is all or nothing. What can be checked without the token is checked first
(`check_new_bot`: the name, the channel, config.toml, the keyring), so the CLI can refuse
before it asks for a token; then the token is checked live with the platform (getMe);
only then are the token (keyring, `bot:<name>`) and the [[bots]] entry (config.toml)
written. A token never appears in a message raised from here.

Webhooks are registered at `<public_url>/<channel>/<name>` with a secret derived from the
signing key (signing.webhook_secret), so registering again, by `webhook set` or by a
restarted `run`, gives the platform the same URL and the same secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import tomllib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

from .. import __version__, config, secrets, signing
from ..channels import (
    CHANNELS,
    AuthFailed,
    BotInfo,
    Channel,
    WebhookInfo,
    bot_options,
    channel_class,
    open_channel,
    spec,
    title,
    webhook_url,
)
from ..config import BotConfig, Config
from ..errors import (
    ConfigError,
    Im2mailError,
    NotBuiltYet,
    NotFound,
    RuntimeFailure,
    UsageError,
    register_secret,
)

T = TypeVar("T")

_TOKEN = re.compile(r"[\x21-\x7e]+")  # printable ASCII without spaces: every real token


def default_mode(channel: str) -> str:
    """How a bot gets its updates when config.toml does not say: its channel's first mode."""
    return spec(channel).default_mode


def channel_keys(channel: str, given: dict[str, str | None]) -> dict[str, str]:
    """The [[bots]] keys `bot add` got as flags (key -> value; None or "": not given),
    checked against what the channel declares: a flag of another channel's is UsageError,
    and so is a required key of this one left out."""
    wanted = spec(channel)
    keys: dict[str, str] = {}
    for key, value in given.items():
        declared = wanted.key(key)
        if not value:
            if declared is not None and declared.required:
                raise UsageError(f"a {wanted.title} bot needs {declared.flag}",
                                 hint=declared.hint or None)  # fmt: skip
            continue
        if declared is None:
            owners = [s.title for s in CHANNELS.values() if s.key(key)]
            flag = next(k.flag for s in CHANNELS.values() if (k := s.key(key)))
            raise UsageError(f"{flag} is for {' and '.join(owners)} bots only")
        keys[key] = value.strip()
    return keys


# -- adding and removing -------------------------------------------------------------------


def check_new_bot(
    name: str,
    channel: str,
    *,
    mode: str | None = None,
    api_url: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Refuse a bot that could not be added whatever its token: a bad name or a taken one
    (UsageError), a channel not built yet (exit 1), an invalid resulting config (exit 3),
    an unusable keyring (exit 4). Returns the config data with the bot appended."""
    if not config.BOT_NAME.fullmatch(name):
        raise UsageError(
            f"'{name}' is not a valid bot name: use only a-z, 0-9, _ and -",
            hint=f"for example: im2mail bot add {channel} shop",
        )
    try:
        channel_class(channel)  # before anything is asked or read
    except NotBuiltYet as e:
        raise NotBuiltYet(
            f"cannot add bot '{name}': {e.message}",
            hint=f"see README.md, 'Status', for the channels im2mail {__version__} bridges",
        ) from None
    if api_url is not None:
        _check_api_url(api_url)
    cfg, data = _load()
    if cfg.bot(name) is not None:
        raise UsageError(
            f"a bot named '{name}' exists; remove it first: im2mail bot remove {name}",
            hint="or choose another name (see: im2mail bot list)",
        )
    entry: dict[str, Any] = {"name": name, "channel": channel}
    if mode is not None and mode != default_mode(channel):
        entry["mode"] = mode
    if api_url:
        entry["api_url"] = api_url.rstrip("/")
    entry.update({k: v for k, v in (extra or {}).items() if v is not None})
    data = {**data, "bots": [*data.get("bots", []), entry]}
    config.parse(data, source=str(config.paths().config), channels=CHANNELS)  # e.g. public_url
    secrets.backend_name()
    return data


def add_bot(
    name: str,
    channel: str,
    token: str,
    *,
    mode: str | None = None,
    api_url: str | None = None,
    extra: dict[str, Any] | None = None,
    app_secret: str | None = None,
) -> BotInfo:
    """Check everything, the token live with the platform last, then save the bot.
    Nothing is written when any check fails. `extra`: channel-specific [[bots]] keys;
    `app_secret`: for a channel whose token goes with its app's secret (spec.credentials)."""
    token = _clean_token(token)
    credentials = spec(channel).credentials
    if credentials is not None:
        token = credentials(token, _clean_token(app_secret or ""))
    data = check_new_bot(name, channel, mode=mode, api_url=api_url, extra=extra)
    added = config.parse(data, channels=CHANNELS).bot(name)
    info = asyncio.run(_identify(name, channel, token, api_url, bot_options(added)))
    secret = secrets.bot_secret(name)
    secrets.put(secret, token)
    try:
        _write(data)
    except BaseException:
        with contextlib.suppress(Im2mailError):
            secrets.delete(secret)
        raise
    return info


def remove_bot(name: str) -> list[str]:
    """Remove the bot from config.toml and forget its token; a webhook-mode bot's webhook
    is deleted first, if the platform lets us. Returns warnings (nothing here prints)."""
    cfg, data = _load()
    bot = _named(cfg, name)
    secrets.backend_name()  # exit 4 before anything changes
    warnings: list[str] = []
    if bot.mode == "webhook":
        try:
            _each([bot], lambda channel, _: channel.delete_webhook())
        except Im2mailError as e:
            warnings.append(
                f"the webhook of bot '{name}' may still be registered ({e.message}); "
                f"to stop {title(bot.channel)} calling it, revoke the bot's token"
            )
    data = dict(data)
    data["bots"] = [b for b in data.get("bots", []) if b.get("name") != name]
    if not data["bots"]:
        del data["bots"]
    _write(data)
    secrets.delete(bot.secret_name)
    credential = secrets.credential_file(bot.secret_name)
    if credential is not None and credential.exists():
        warnings.append(f"the systemd credential {credential} still holds the token")
    return warnings


# -- webhooks ------------------------------------------------------------------------------


def set_webhooks(name: str | None = None) -> list[tuple[BotConfig, str]]:
    """Register the webhook of the named bot, or of every webhook-mode bot; returns each
    bot with its URL. Registering again is harmless: same URL, same secret."""
    cfg = config.load(channels=CHANNELS)
    public_url = cfg.relay.public_url
    if not public_url:
        raise ConfigError(
            "relay.public_url is not set; webhooks need the HTTPS address of this machine",
            hint=f"set public_url in the [relay] table of {config.paths().config}",
        )
    if name is None:
        chosen = [bot for bot in cfg.bots if bot.mode == "webhook"]
    else:
        chosen = [_named(cfg, name)]
        if chosen[0].mode != "webhook":
            raise ConfigError(
                f"bot '{name}' polls for its updates (mode = \"{chosen[0].mode}\"), "
                "and a webhook would stop that",
                hint=f'set mode = "webhook" in its [[bots]] table in {config.paths().config}',
            )
    key = secrets.get(secrets.SIGNING_KEY) if chosen else ""
    targets = [(bot, webhook_url(public_url, bot.channel, bot.name)) for bot in chosen]
    urls = {bot.name: url for bot, url in targets}

    def register(channel: Channel, bot: BotConfig) -> Awaitable[None]:
        return channel.set_webhook(urls[bot.name], signing.webhook_secret(key, bot.name))

    _each(chosen, register)
    return targets


def verify_token(name: str) -> str:
    """What Meta's dashboard needs as the webhook's verify token: the same derived secret
    as Telegram's secret_token, so the relay can check Meta's GET with no config."""
    return signing.webhook_secret(secrets.get(secrets.SIGNING_KEY), name)


def webhook_info() -> list[tuple[BotConfig, WebhookInfo]]:
    """What each platform has registered for each bot (polling bots included: a webhook
    left over from before stops their polling)."""
    cfg = config.load(channels=CHANNELS)
    bots = list(cfg.bots)
    return list(zip(bots, _each(bots, lambda channel, _: channel.webhook_info()), strict=True))


def delete_webhooks(name: str | None = None) -> list[BotConfig]:
    """Unregister the named bot's webhook, or every bot's; returns the bots."""
    cfg = config.load(channels=CHANNELS)
    chosen = [_named(cfg, name)] if name is not None else list(cfg.bots)
    _each(chosen, lambda channel, _: channel.delete_webhook())
    return chosen


# -- who the bots are ----------------------------------------------------------------------


def identify(names: Sequence[str] | None = None) -> list[tuple[BotConfig, BotInfo]]:
    """Each named bot (None: every bot, in config order) with what its platform says it
    is, asked live (getMe / get_account_info). An unknown name is NotFound (exit 5),
    before any call goes out."""
    cfg = config.load(channels=CHANNELS)
    chosen = list(cfg.bots) if names is None else [_named(cfg, n) for n in dict.fromkeys(names)]
    infos = _each(chosen, lambda channel, _: channel.get_me())
    return list(zip(chosen, infos, strict=True))


# -- helpers -------------------------------------------------------------------------------


def _load() -> tuple[Config, dict[str, Any]]:
    """The validated config and the raw data it came from (to write back changed)."""
    cfg = config.load(channels=CHANNELS)
    path = config.paths().config
    return cfg, tomllib.loads(path.read_text(encoding="utf-8"))


def _write(data: dict[str, Any]) -> None:
    try:
        config.write(data, channels=CHANNELS)
    except OSError as e:
        raise ConfigError(f"cannot write {config.paths().config}: {e.strerror}") from None


def _named(cfg: Config, name: str) -> BotConfig:
    bot = cfg.bot(name)
    if bot is None:
        known = ", ".join(b.name for b in cfg.bots)
        raise NotFound(
            f"no bot named '{name}'",
            hint=f"the bots are: {known}" if known else "add one with: im2mail bot add",
        )
    return bot


def _check_api_url(api_url: str) -> None:
    try:
        parts = urlsplit(api_url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # a broken [IPv6] host
        valid = False
    if not valid:
        raise UsageError(
            f"api_url '{api_url}' is not an http(s) URL",
            hint="give the server's root, e.g. http://127.0.0.1:8081",
        )


def _clean_token(token: str) -> str:
    token = token.strip()
    register_secret(token)  # masked in whatever is printed from now on
    if not token:
        raise UsageError("the token is empty", hint="paste the token the platform gave you")
    if not _TOKEN.fullmatch(token):
        raise UsageError(
            "the token has spaces or unusual characters in it",
            hint="paste only the token itself, as the platform shows it",
        )
    return token


async def _identify(
    name: str, channel: str, token: str, api_url: str | None, options: dict[str, Any]
) -> BotInfo:
    where = f" at {api_url}" if api_url else ""
    try:
        async with open_channel(channel, name, token, api_url, **options) as bot:
            return await bot.get_me()
    except AuthFailed as e:
        hint = f"copy the token again from {spec(channel).token_source} and retry"
        if api_url:
            hint += f"; check too that {api_url} is the {title(channel)} API"
        raise AuthFailed(f"{e.message}; nothing was saved", hint=hint) from None
    except RuntimeFailure as e:
        raise RuntimeFailure(
            f"could not check bot '{name}' with {title(channel)}{where}: {e.message}",
            hint="nothing was saved; check the network and try again",
        ) from None


def _each(
    bots: Sequence[BotConfig], action: Callable[[Channel, BotConfig], Awaitable[T]]
) -> list[T]:
    """`action` on each bot's started channel, one after the other. Channels and tokens
    are all looked up first, so a missing one fails before any call goes out."""
    for bot in bots:
        channel_class(bot.channel)
    tokens = {bot.name: secrets.get(bot.secret_name) for bot in bots}

    async def run_all() -> list[T]:
        results = []
        for bot in bots:
            try:
                async with open_channel(
                    bot.channel, bot.name, tokens[bot.name], bot.api_url, **bot_options(bot)
                ) as channel:
                    results.append(await action(channel, bot))
            except AuthFailed as e:
                raise AuthFailed(
                    e.message,
                    hint=f"the token was revoked or replaced: im2mail bot remove {bot.name}, "
                    f"then: im2mail bot add {bot.channel} {bot.name}",
                ) from None
        return results

    return asyncio.run(run_all()) if bots else []
