"""Where im2mail keeps its files, and config.toml: load, validate, write.

config.toml holds no secret (see secrets.py). Validation names the offending key, so a
user can fix the file by hand: `mail.smtp.port: expected an integer`.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError
from ..home import (  # re-exported: config.paths() is the documented entry
    APP_NAME,
    HOME_ENV,
    Paths,
    paths,
)
from .bots import BOT_NAME, BotConfig, ChannelRules, _one_of, parse_bots
from .checker import ADDRESS, _Checker
from .sections import AlertsConfig, HoursConfig, parse_alerts, parse_hours, parse_templates

__all__ = [
    "APP_NAME",
    "BOT_NAME",
    "HOME_ENV",
    "AlertsConfig",
    "BotConfig",
    "ChannelRules",
    "Config",
    "HoursConfig",
    "Paths",
    "load",
    "parse",
    "paths",
    "write",
]

SECURITY_MODES = ("starttls", "tls", "none")
IN_DOUBT_CHOICES = ("resend", "notify")
DEFAULT_LISTEN = "127.0.0.1:8765"
DEFAULT_MAX_ATTACHMENT_MB = 10.0
DEFAULT_MAX_REPLY_MESSAGES = 8  # relay.max_reply_messages: a longer reply goes back to its author
MAX_REPLY_MESSAGES_CAP = 1000
MAX_KEEP_DAYS = 36_500  # a hundred years: more is "keep all", and no date can hold much more
DEFAULT_FLOOD_PER_MINUTE = 20
MAX_FLOOD_PER_MINUTE = 10_000
AUTHSERV_ID = re.compile(r"(\*\.)?[A-Za-z0-9](?:[A-Za-z0-9._-]{0,252})")


# -- the config values ---------------------------------------------------------------------


@dataclass(frozen=True)
class ServerConfig:
    host: str
    port: int
    security: str
    username: str


@dataclass(frozen=True)
class ImapConfig(ServerConfig):
    folder: str = "INBOX"
    processed_folder: str = "im2mail"  # "" keeps handled replies in place, flagged \Seen


@dataclass(frozen=True)
class MailConfig:
    address: str
    managers: tuple[str, ...]
    smtp: ServerConfig
    imap: ImapConfig
    max_attachment_mb: float = DEFAULT_MAX_ATTACHMENT_MB  # larger files go as links
    # whose Authentication-Results vouch for a manager's reply (RFC 8601); None: nobody's
    authserv_id: str | None = None

    @property
    def max_attachment_bytes(self) -> int:
        return int(self.max_attachment_mb * 1024 * 1024)


@dataclass(frozen=True)
class RelayConfig:
    public_url: str | None = None
    listen: str = DEFAULT_LISTEN
    greeting: str | None = None
    sign_replies: bool = False
    trust_proxy: bool = False  # honour X-Forwarded-* (only behind a proxy of one's own)
    in_doubt: str = "resend"  # a reply step cut off by a crash: "resend" or "notify"
    max_reply_messages: int = DEFAULT_MAX_REPLY_MESSAGES  # a longer reply goes back
    flood_per_minute: int = DEFAULT_FLOOD_PER_MINUTE  # more from one customer: a digest; 0: off


@dataclass(frozen=True)
class ArchiveConfig:
    keep_files_days: int = 0  # `vacuum` drops the files of older messages; 0: keep all
    # `vacuum` and the running relay (daily) erase older messages; 0: keep all
    keep_messages_days: int = 0


@dataclass(frozen=True)
class Config:
    mail: MailConfig
    relay: RelayConfig
    bots: tuple[BotConfig, ...] = ()
    warnings: tuple[str, ...] = field(default=(), compare=False)
    archive: ArchiveConfig = field(default_factory=ArchiveConfig)
    hours: HoursConfig | None = None  # no [hours]: always open
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    templates: tuple[tuple[str, str], ...] = ()  # [templates] name = "text"

    def bot(self, name: str) -> BotConfig | None:
        return next((b for b in self.bots if b.name == name), None)

    def template(self, name: str) -> str | None:
        """The text of quick-reply template `name` (any case), None when there is none."""
        wanted = name.strip().lower()
        return next((text for key, text in self.templates if key == wanted), None)


# -- loading -------------------------------------------------------------------------------


def load(path: Path | None = None, *, channels: Mapping[str, ChannelRules]) -> Config:
    """Read and validate config.toml; ConfigError (exit 3) names the first bad key.
    `channels`: the channel registry (channels.CHANNELS), whose rules the bots follow."""
    path = path or paths().config
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"no config at {path}", hint="create it with: im2mail init") from None
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text", hint="save the file as UTF-8") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(
            f"{path}: invalid TOML: {e}", hint="fix the line it names, or re-run: im2mail init"
        ) from None
    return parse(data, source=str(path), channels=channels)


def parse(
    data: dict[str, Any], source: str = "config", *, channels: Mapping[str, ChannelRules]
) -> Config:
    """Validate a decoded config; unknown keys become warnings, wrong values ConfigError.
    `channels`: the channel registry (channels.CHANNELS), whose rules the bots follow."""
    check = _Checker(source)
    mail = check.table(data, "mail", required=True)
    relay = check.table(data, "relay", required=False)
    archive = check.table(data, "archive", required=False)
    check.unknown(data, "", {"mail", "relay", "bots", "archive", "hours", "alerts", "templates"})
    config = Config(
        mail=_mail(check, mail),
        relay=_relay(check, relay),
        bots=parse_bots(check, data, channels),
        warnings=(),
        archive=_archive(check, archive),
        hours=parse_hours(check, data),
        alerts=parse_alerts(check, data),
        templates=parse_templates(check, data),
    )
    for bot in config.bots:
        if bot.mode == "webhook" and not config.relay.public_url:
            check.fail(
                f"bots.{bot.name}",
                f"{bot.channel} webhooks need relay.public_url",
                hint="set relay.public_url to the HTTPS address that reaches this machine",
            )
    return replace(config, warnings=tuple(check.warnings))


def _address(value: str) -> str | None:
    return None if ADDRESS.match(value) else f"'{value}' is not an email address"


def _port(value: int) -> str | None:
    return None if 0 < value < 65536 else "expected a port number from 1 to 65535"


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _server(check: _Checker, mail: dict[str, Any], key: str, default_port: int):
    prefix = f"mail.{key}."
    table = check.table(mail, key, required=True, prefix="mail.")
    host = check.value(table, "host", str, prefix, check=lambda v: None if v else "is empty")
    values = dict(
        host=host,
        port=check.value(table, "port", int, prefix, default=default_port, check=_port),
        security=check.value(
            table,
            "security",
            str,
            prefix,
            default="tls" if key == "imap" else "starttls",
            check=_one_of(SECURITY_MODES),
        ),
        username=check.value(table, "username", str, prefix),
    )
    if values["security"] == "none" and not is_loopback(host):
        check.fail(
            f"{prefix}security",
            '"none" sends passwords in clear; allowed only for a loopback host',
            hint='use "starttls" or "tls"',
        )
    known = {"host", "port", "security", "username"}
    if key == "imap":
        values["folder"] = check.value(table, "folder", str, prefix, default="INBOX")
        values["processed_folder"] = check.value(
            table, "processed_folder", str, prefix, default="im2mail"
        )
        known |= {"folder", "processed_folder"}
    check.unknown(table, prefix, known)
    return ImapConfig(**values) if key == "imap" else ServerConfig(**values)


def _mail(check: _Checker, mail: dict[str, Any]) -> MailConfig:
    address = check.value(mail, "address", str, "mail.", check=_address)
    managers = check.value(mail, "managers", list, "mail.")
    if not managers:
        check.fail("mail.managers", "needs at least one manager's address")
    for i, manager in enumerate(managers):
        problem = _address(manager)
        if problem:
            check.fail(f"mail.managers[{i}]", problem)
    check.unknown(
        mail, "mail.", {"address", "managers", "smtp", "imap", "max_attachment_mb", "authserv_id"}
    )
    authserv_id = check.value(mail, "authserv_id", str, "mail.", default=None, check=_authserv)
    limit = mail.get("max_attachment_mb", DEFAULT_MAX_ATTACHMENT_MB)
    if isinstance(limit, bool) or not isinstance(limit, int | float) or not 0 <= limit <= 100:
        check.fail("mail.max_attachment_mb", "expected a number of megabytes from 0 to 100")
    return MailConfig(
        address=address,
        managers=tuple(managers),
        smtp=_server(check, mail, "smtp", 587),
        imap=_server(check, mail, "imap", 993),
        max_attachment_mb=float(limit),
        authserv_id=authserv_id.strip().lower() if authserv_id else None,
    )


def _authserv(value: str) -> str | None:
    """An authserv-id as servers write it (a host name, usually), `*.rest` for any one
    label before rest (one id per MX), or "microsoft365" (Exchange Online writes none)."""
    value = value.strip()
    if value.startswith("*.") and "." not in value[2:]:
        return f"'{value}' matches too much: name the server's domain, e.g. *.messagingengine.com"
    if not AUTHSERV_ID.fullmatch(value):
        return (
            f"'{value}' is not an authserv-id (the first word of your server's "
            "Authentication-Results, e.g. mx.google.com)"
        )
    return None


def _public_url(check: _Checker) -> Callable[[str], str | None]:
    def validate(value: str) -> str | None:
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            return f"'{value}' is not an http(s) URL"
        if parts.scheme == "http":
            if not is_loopback(parts.hostname):
                return "must be https:// (the platforms call only HTTPS webhooks)"
            check.warnings.append(
                "relay.public_url: plain http on a loopback host; fine for tests or behind "
                "a local reverse proxy, not for the internet"
            )
        return None

    return validate


def _listen(value: str) -> str | None:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or _port(int(port)):
        return f"'{value}' is not host:port (e.g. {DEFAULT_LISTEN})"
    return None


def _relay(check: _Checker, relay: dict[str, Any]) -> RelayConfig:
    p = "relay."
    public_url = check.value(relay, "public_url", str, p, default=None, check=_public_url(check))
    known = {"public_url", "listen", "greeting", "sign_replies", "trust_proxy", "in_doubt"}
    check.unknown(relay, p, {*known, "max_reply_messages", "flood_per_minute"})
    return RelayConfig(
        public_url=public_url.rstrip("/") if public_url else None,
        listen=check.value(relay, "listen", str, p, default=DEFAULT_LISTEN, check=_listen),
        greeting=check.value(relay, "greeting", str, p, default=None),
        sign_replies=check.value(relay, "sign_replies", bool, p, default=False),
        trust_proxy=check.value(relay, "trust_proxy", bool, p, default=False),
        in_doubt=check.value(
            relay, "in_doubt", str, p, default="resend", check=_one_of(IN_DOUBT_CHOICES)
        ),
        max_reply_messages=check.value(
            relay,
            "max_reply_messages",
            int,
            p,
            default=DEFAULT_MAX_REPLY_MESSAGES,
            check=_reply_messages,
        ),
        flood_per_minute=check.value(
            relay, "flood_per_minute", int, p, default=DEFAULT_FLOOD_PER_MINUTE, check=_flood
        ),
    )


def _reply_messages(value: int) -> str | None:
    if 1 <= value <= MAX_REPLY_MESSAGES_CAP:
        return None
    return f"expected 1 to {MAX_REPLY_MESSAGES_CAP}: the chat messages one reply may become"


def _flood(value: int) -> str | None:
    if 0 <= value <= MAX_FLOOD_PER_MINUTE:
        return None
    return f"expected 0 (off) or a number of messages a minute up to {MAX_FLOOD_PER_MINUTE}"


def _archive(check: _Checker, archive: dict[str, Any]) -> ArchiveConfig:
    p = "archive."
    check.unknown(archive, p, {"keep_files_days", "keep_messages_days"})

    def days(key: str, what: str) -> int:
        return check.value(
            archive, key, int, p, default=0,
            check=lambda v: None
            if 0 <= v <= MAX_KEEP_DAYS
            else f"use 0 (keep every {what}) or a number of days up to {MAX_KEEP_DAYS}",
        )  # fmt: skip

    return ArchiveConfig(
        keep_files_days=days("keep_files_days", "file"),
        keep_messages_days=days("keep_messages_days", "message"),
    )


# -- writing -------------------------------------------------------------------------------


def write(
    data: dict[str, Any], path: Path | None = None, *, channels: Mapping[str, ChannelRules]
) -> Config:
    """Validate then atomically write config.toml; returns the parsed config."""
    import tomli_w

    path = path or paths().config
    config = parse(data, source=str(path), channels=channels)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(tomli_w.dumps(data), encoding="utf-8")
    os.replace(tmp, path)
    return config
