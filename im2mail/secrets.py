"""Secrets: bot tokens, SMTP/IMAP passwords, the signing key.

Lookup order (DESIGN.md): a systemd credential file $CREDENTIALS_DIRECTORY/<name, ':' as
'-'>, then the OS keyring (service "im2mail"). Every value read or written is registered
with errors.redact, so it is masked in anything im2mail prints or logs. Nothing here
prompts: `run` must work unattended.
"""

from __future__ import annotations

import contextlib
import os
import secrets as _random
from pathlib import Path

from .errors import SecretError, register_secret

SERVICE = "im2mail"
SMTP = "smtp"
IMAP = "imap"
SIGNING_KEY = "signing-key"
CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"

KEYRING_HINT = (
    "on a machine without a desktop keyring, either: pip install keyrings.alt and set "
    "PYTHON_KEYRING_BACKEND=keyrings.alt.file.PlaintextKeyring (a file readable only by "
    "you), or give the secrets as systemd credentials (LoadCredential=, see: im2mail "
    "systemd-unit)"
)


def bot_secret(bot_name: str) -> str:
    return f"bot:{bot_name}"


def credential_file(name: str) -> Path | None:
    """The systemd credential file for a secret, if $CREDENTIALS_DIRECTORY is set."""
    directory = os.environ.get(CREDENTIALS_ENV)
    return Path(directory) / name.replace(":", "-") if directory else None


def get(name: str) -> str:
    """The secret's value; SecretError (exit 4) if it is missing or the keyring is unusable."""
    path = credential_file(name)
    if path is not None:
        try:
            value = path.read_text(encoding="utf-8").rstrip("\r\n")
        except FileNotFoundError:
            value = None  # an absent credential file falls back to the keyring
        except OSError as e:
            raise SecretError(f"cannot read credential {path}: {e.strerror}") from None
        if value:
            register_secret(value)
            return value
    value = _keyring_call("read", name, lambda kr: kr.get_password(SERVICE, name))
    if not value:
        raise SecretError(
            f"secret '{name}' is not stored",
            hint=_missing_hint(name),
        )
    register_secret(value)
    return value


def put(name: str, value: str) -> None:
    """Store a secret in the keyring."""
    register_secret(value)
    _keyring_call("store", name, lambda kr: kr.set_password(SERVICE, name, value))


def delete(name: str) -> None:
    """Forget a secret; a secret that is not there is not an error."""

    def remove(kr):
        with contextlib.suppress(kr.errors.PasswordDeleteError):
            kr.delete_password(SERVICE, name)

    _keyring_call("delete", name, remove)


def new_signing_key() -> str:
    """32 random bytes, hex: signs file and transcript links and webhook secrets."""
    return _random.token_hex(32)


def backend_name() -> str:
    """The keyring backend in use, for doctor; SecretError if none is usable."""

    def name_of(kr) -> str:
        backend = type(kr.get_keyring())
        if backend.__module__ == "keyring.backends.fail":
            raise kr.errors.NoKeyringError()
        return f"{backend.__module__}.{backend.__name__}"

    return _keyring_call("use", "", name_of)


def _keyring_call(action: str, name: str, call):
    # keyring is imported here, not at the top: it is slow to import and most commands
    # never touch a secret.
    what = f"secret '{name}'" if name else "the keyring"
    try:
        import keyring
        import keyring.errors
    except ImportError as e:
        raise SecretError(f"cannot {action} {what}: {e}", hint="pip install keyring") from None
    try:
        return call(keyring)
    except keyring.errors.NoKeyringError:
        raise SecretError("no usable keyring on this machine", hint=KEYRING_HINT) from None
    except ImportError as e:
        backend = os.environ.get("PYTHON_KEYRING_BACKEND", "")
        raise SecretError(
            f"cannot load the keyring backend {backend!r}: {e}", hint=KEYRING_HINT
        ) from None
    except (keyring.errors.KeyringError, RuntimeError, OSError, ValueError) as e:
        # Backend messages don't carry the secret; redact() guards printed errors anyway.
        raise SecretError(
            f"cannot {action} {what}: keyring failed ({type(e).__name__}: {e})",
            hint=KEYRING_HINT,
        ) from None


def _missing_hint(name: str) -> str:
    if name.startswith("bot:"):
        return f"add the bot's token with: im2mail bot add <channel> {name[4:]}"
    if name == SIGNING_KEY:
        return "run: im2mail init (it creates the signing key)"
    return f"store the {name.upper()} password with: im2mail init"
