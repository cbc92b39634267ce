"""Signed links (/f/<token>, /c/<token>) and webhook secrets: what opens, what gives 404."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from im2mail import errors, signing
from im2mail.signing import CONVERSATION, FILE, sign, verify, webhook_secret

KEY = "ab" * 32
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=7)


def test_a_token_opens_what_it_was_made_for() -> None:
    token = sign(KEY, FILE, 1234, LATER)
    assert verify(KEY, FILE, token, now=NOW) == "1234"


def test_string_values_come_back_unchanged() -> None:
    token = sign(KEY, CONVERSATION, "розмова-42", LATER)
    assert verify(KEY, CONVERSATION, token, now=NOW) == "розмова-42"


def test_tokens_are_url_safe_and_short() -> None:
    token = sign(KEY, FILE, 987654, LATER)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert len(token) <= 40


def test_without_now_the_clock_is_used() -> None:
    token = sign(KEY, FILE, 5, datetime.now(UTC) + timedelta(minutes=5))
    assert verify(KEY, FILE, token) == "5"
    stale = sign(KEY, FILE, 5, datetime.now(UTC) - timedelta(seconds=1))
    assert verify(KEY, FILE, stale) is None


def test_an_expired_token_opens_nothing() -> None:
    token = sign(KEY, FILE, 7, LATER)
    assert verify(KEY, FILE, token, now=LATER - timedelta(seconds=1)) == "7"
    assert verify(KEY, FILE, token, now=LATER) is None
    assert verify(KEY, FILE, token, now=LATER + timedelta(days=365)) is None


def test_a_file_token_does_not_open_a_transcript() -> None:
    token = sign(KEY, FILE, 42, LATER)
    assert verify(KEY, CONVERSATION, token, now=NOW) is None


def test_another_key_does_not_verify() -> None:
    token = sign(KEY, FILE, 42, LATER)
    assert verify("cd" * 32, FILE, token, now=NOW) is None


@pytest.mark.parametrize("position", range(30))
def test_any_changed_character_breaks_the_token(position: int) -> None:
    token = sign(KEY, FILE, 42, LATER)
    if position >= len(token):
        pytest.skip("token shorter than this position")
    for other in "AQgw_-z9":
        if other != token[position]:
            tampered = token[:position] + other + token[position + 1 :]
            assert verify(KEY, FILE, tampered, now=NOW) is None, (position, other)


def test_a_token_has_one_spelling() -> None:
    """base64 leaves spare bits in the last character; flipping one must not give a
    second valid spelling of the same token (caches and logs would see two links)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    token = sign(KEY, FILE, 12, LATER)  # 22 bytes: 30 characters, 4 spare bits
    assert len(token) % 4 == 2
    respelled = token[:-1] + alphabet[alphabet.index(token[-1]) ^ 1]
    assert respelled != token
    assert verify(KEY, FILE, respelled, now=NOW) is None


def test_a_forged_longer_expiry_is_rejected() -> None:
    """Someone who knows the format rewrites the expiry but cannot redo the MAC."""
    import base64

    token = sign(KEY, FILE, 42, LATER)
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    forged_raw = (2**32 - 1).to_bytes(4, "big") + raw[4:]
    forged = base64.urlsafe_b64encode(forged_raw).rstrip(b"=").decode()
    assert verify(KEY, FILE, forged, now=LATER + timedelta(days=1)) is None


def test_swapping_the_value_is_rejected() -> None:
    a, b = sign(KEY, FILE, 11, LATER), sign(KEY, FILE, 12, LATER)
    # take the expiry+value of one with the MAC of the other: same length, wrong MAC
    assert len(a) == len(b)
    assert verify(KEY, FILE, a[:8] + b[8:], now=NOW) is None


@pytest.mark.parametrize(
    "garbage",
    ["", "x", "!!!!", "====", "a b c", "токен", "A" * 5000, "AAAA", "A" * 27, "%00", None, 42],
)
def test_garbage_is_none_and_never_raises(garbage) -> None:
    assert verify(KEY, FILE, garbage, now=NOW) is None


def test_verify_with_an_empty_key_is_none_not_an_error() -> None:
    token = sign(KEY, FILE, 1, LATER)
    assert verify("", FILE, token, now=NOW) is None


def test_sign_refuses_a_naive_expiry() -> None:
    with pytest.raises(ValueError, match="timezone"):
        sign(KEY, FILE, 1, datetime(2030, 1, 1))


def test_sign_refuses_an_empty_key() -> None:
    with pytest.raises(ValueError):
        sign("", FILE, 1, LATER)


def test_webhook_secret_is_stable_and_valid_for_telegram() -> None:
    secret = webhook_secret(KEY, "shop")
    assert secret == webhook_secret(KEY, "shop")  # a restart registers the same one
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret)
    assert len(secret) >= 32


def test_webhook_secret_differs_per_bot_and_per_key() -> None:
    secrets = {webhook_secret(KEY, "shop"), webhook_secret(KEY, "shop2")}
    secrets.add(webhook_secret("cd" * 32, "shop"))
    assert len(secrets) == 3


def test_webhook_secret_is_not_a_link_token() -> None:
    """The secret Telegram sends back must not double as a valid link for anything."""
    secret = webhook_secret(KEY, "shop")
    assert verify(KEY, FILE, secret, now=NOW) is None
    assert verify(KEY, CONVERSATION, secret, now=NOW) is None
    assert signing.FILE != signing.CONVERSATION


def test_a_webhook_secret_is_masked_once_derived() -> None:
    secret = signing.webhook_secret("k" * 43, "shop")
    assert secret not in errors.redact(f"X-Telegram-Bot-Api-Secret-Token: {secret}")


@pytest.mark.parametrize(
    "given", ["s3cr3t", "séсрет", "\udcff\udcfe", "\ud800", b"\xff", None, 17, ["s3cr3t"]]
)
def test_same_secret_never_raises_and_only_matches_the_secret(given) -> None:
    assert signing.same_secret(given, "s3cr3t") is (given == "s3cr3t")
    assert signing.same_secret("\udcff", "\udcff")  # equal, however odd
    assert not signing.same_secret("", "")  # no secret configured: nothing matches
