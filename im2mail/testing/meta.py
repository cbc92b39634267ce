"""What Meta does towards an app's webhook, for the Messenger and WhatsApp doubles.

- The dashboard's "Verify and save" of a callback URL and verify token: one GET with
  hub.mode=subscribe, hub.verify_token and hub.challenge; the URL is kept only when the
  answer is 200 with the challenge as its body (verify_callback).
- A webhook POST: the JSON body signed with the app secret in X-Hub-Signature-256, one
  attempt (post_signed)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping

import aiohttp


class WebhookNotVerified(AssertionError):
    """The callback did not echo the challenge: the dashboard refuses to save it."""


async def verify_callback(
    session: aiohttp.ClientSession, url: str, verify_token: str, timeout: float
) -> None:
    challenge = str(secrets.randbelow(10**9) + 10**9)
    query = {"hub.mode": "subscribe", "hub.challenge": challenge,
             "hub.verify_token": verify_token}  # fmt: skip
    try:
        async with session.get(
            url, params=query, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as response:
            status, text = response.status, await response.text(errors="replace")
    except (aiohttp.ClientError, TimeoutError) as e:
        raise WebhookNotVerified(f"the callback URL could not be reached: {e!r}") from None
    if status != 200 or text.strip() != challenge:
        raise WebhookNotVerified(
            "The URL couldn't be validated. Callback verification failed with the following "
            f"errors: HTTP Status Code = {status}; HTTP Message = {text[:100]!r}"
        )


async def post_signed(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    signature: str,
    timeout: float,
    headers: Mapping[str, str] | None = None,
) -> tuple[int | None, str, str | None]:
    """POST `body` as Meta does; (HTTP status, answer text, error) with status None when
    the callback could not be reached."""
    sent = {"Content-Type": "application/json", "X-Hub-Signature-256": signature,
            "User-Agent": "facebookexternalua", **(headers or {})}  # fmt: skip
    try:
        async with session.post(
            url, data=body, headers=sent, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as response:
            return response.status, await response.text(errors="replace"), None
    except TimeoutError:
        return None, "", "timeout"
    except aiohttp.ClientError as e:
        return None, "", f"connection failed: {e}"
