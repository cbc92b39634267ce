"""The run loop. For now: the checks `run` makes before it starts anything."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import config, secrets
from .config import Config


@dataclass(frozen=True)
class Secrets:
    smtp_password: str = field(repr=False)
    imap_password: str = field(repr=False)
    signing_key: str = field(repr=False)
    bot_tokens: dict[str, str] = field(repr=False, default_factory=dict)


def preflight() -> tuple[Config, Secrets]:
    """Load config, then every secret it needs: config errors (exit 3) come before
    secret errors (exit 4), so a user fixes them in a sensible order."""
    cfg = config.load()
    loaded = Secrets(
        smtp_password=secrets.get(secrets.SMTP),
        imap_password=secrets.get(secrets.IMAP),
        signing_key=secrets.get(secrets.SIGNING_KEY),
        bot_tokens={bot.name: secrets.get(secrets.bot_secret(bot.name)) for bot in cfg.bots},
    )
    return cfg, loaded
