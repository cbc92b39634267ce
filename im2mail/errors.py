"""Typed errors: each carries a one-line message, an optional hint and an exit code.

Core code raises these; only the CLI entry point turns them into output (see cli.main).
Exit codes are part of the contract in DESIGN.md.
"""

from __future__ import annotations

import re

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_SECRET = 4
EXIT_NOT_FOUND = 5


class Im2mailError(Exception):
    """Base of every error the CLI reports as one line plus a hint."""

    exit_code = EXIT_RUNTIME

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class RuntimeFailure(Im2mailError):
    """A network failure, a remote refusal, or a local resource that did not cooperate."""


class ArchiveError(RuntimeFailure):
    """The archive file is locked, corrupt, or written by a newer im2mail."""


class NotBuiltYet(RuntimeFailure):
    """A command whose feature lands in a later release."""


class UsageError(Im2mailError):
    """Arguments that parse but make no sense together."""

    exit_code = EXIT_USAGE


class ConfigError(Im2mailError):
    """config.toml is missing or invalid."""

    exit_code = EXIT_CONFIG


class SecretError(Im2mailError):
    """A secret is missing, or the keyring cannot be used."""

    exit_code = EXIT_SECRET


class NotFound(Im2mailError):
    """A conversation, bot or similar named by the user does not exist."""

    exit_code = EXIT_NOT_FOUND


# Values registered here are masked wherever im2mail prints text it did not write itself
# (exception messages from libraries, log records): a library error can quote a URL that
# embeds a bot token.
_known_secrets: set[str] = set()
_BOT_TOKEN = re.compile(r"(?<!\d)\d{6,12}:[A-Za-z0-9_-]{30,}")
MASK = "********"


def register_secret(value: str) -> None:
    """Remember a secret so that redact() masks it from now on."""
    if value and len(value) >= 4:
        _known_secrets.add(value)


def redact(text: str) -> str:
    """Mask every registered secret and anything shaped like a Telegram bot token."""
    for secret in sorted(_known_secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return _BOT_TOKEN.sub(MASK, text)
