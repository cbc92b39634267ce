"""What Meta's app dashboard does when the owner saves a webhook's callback URL and verify
token ("Verify and save"), for the Messenger and WhatsApp doubles: one GET with
hub.mode=subscribe, hub.verify_token and hub.challenge, and the URL is kept only when the
answer is 200 with the challenge as its body."""

from __future__ import annotations

import secrets

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
