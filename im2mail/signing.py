"""Signed, expiring tokens for links, and webhook secrets, all from the one signing key.

A link token is base64url (no padding) of

    expiry (4 bytes, big-endian Unix seconds) | value (UTF-8) | MAC (16 bytes)

where MAC is HMAC-SHA256, truncated to 128 bits, over the kind and the rest of the token,
under a key derived from the signing key for links only. The kind ("f" a file, "c" a
conversation transcript) is signed but not carried, so a file token never opens a
transcript. The value is readable by whoever holds the token: sign ids, not secrets.

`webhook_secret` derives, under a different derived key, the `secret_token` a Telegram
webhook is registered with: the same key and bot name give the same secret, so a restart
re-registers what Telegram already has.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from datetime import UTC, datetime

from .errors import register_secret

FILE = "f"
CONVERSATION = "c"

_MAC_BYTES = 16
_EXPIRY_BYTES = 4
_MAX_TOKEN_CHARS = 1024  # anything longer is not ours; don't spend work on it
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_-]+")


def sign(key: str, kind: str, value: str | int, expires: datetime) -> str:
    """A URL-safe token carrying `value` for links of `kind` until `expires` (aware)."""
    _check_kind(kind)
    if expires.tzinfo is None:
        raise ValueError("expires must be timezone-aware")
    expiry = int(expires.timestamp())
    if not 0 <= expiry < 2 ** (8 * _EXPIRY_BYTES):
        raise ValueError(f"expiry out of range: {expires.isoformat()}")
    body = expiry.to_bytes(_EXPIRY_BYTES, "big") + str(value).encode("utf-8")
    return _b64encode(body + _mac(key, kind, body))


def verify(key: str, kind: str, token: str, now: datetime | None = None) -> str | None:
    """The value signed in `token`, or None when the token is not one of ours for `kind`:
    bad or missing signature, another kind or key, expired, or not a token at all.
    Never raises."""
    try:
        return _verify(key, kind, token, now or datetime.now(UTC))
    except Exception:  # a link handler must answer 404, not 500, whatever it is given
        return None


def same_secret(given: object, wanted: str | bytes) -> bool:
    """Whether a secret someone sent equals ours, in constant time. Never raises: a header
    with non-ASCII or undecodable bytes (aiohttp hands those on as lone surrogates) is
    simply not our secret, where hmac.compare_digest itself would raise TypeError on a
    non-ASCII str and str.encode() UnicodeEncodeError on a surrogate."""
    if not isinstance(given, str | bytes) or not wanted:
        return False
    return hmac.compare_digest(_raw(given), _raw(wanted))


def _raw(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")


def webhook_secret(key: str, bot_name: str) -> str:
    """A stable Telegram webhook `secret_token` for a bot: 43 chars of A-Za-z0-9_-. Masked
    in logs and errors from now on (it travels in a header: a logged request shows it)."""
    derived = _derive(key, "webhook-secret")
    secret = _b64encode(hmac.new(derived, bot_name.encode("utf-8"), hashlib.sha256).digest())
    register_secret(secret)
    return secret


def _verify(key: str, kind: str, token: str, now: datetime) -> str | None:
    _check_kind(kind)
    if not isinstance(token, str) or len(token) > _MAX_TOKEN_CHARS:
        return None
    if not _TOKEN_CHARS.fullmatch(token):
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) < _EXPIRY_BYTES + _MAC_BYTES or _b64encode(raw) != token:
        return None  # too short, or a second spelling of the same bytes
    body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if not hmac.compare_digest(mac, _mac(key, kind, body)):
        return None
    expiry = int.from_bytes(body[:_EXPIRY_BYTES], "big")
    if now.timestamp() >= expiry:
        return None
    return body[_EXPIRY_BYTES:].decode("utf-8")


def _mac(key: str, kind: str, body: bytes) -> bytes:
    message = kind.encode("utf-8") + b"\x00" + body
    return hmac.new(_derive(key, "link"), message, hashlib.sha256).digest()[:_MAC_BYTES]


def _derive(key: str, purpose: str) -> bytes:
    """A key per purpose, so a MAC made for one use is never valid for another."""
    if not key:
        raise ValueError("empty signing key")
    return hmac.new(key.encode("utf-8"), b"im2mail:" + purpose.encode(), hashlib.sha256).digest()


def _check_kind(kind: str) -> None:
    if not kind or "\x00" in kind:
        raise ValueError(f"bad token kind: {kind!r}")


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
