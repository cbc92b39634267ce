"""What Meta's two channels (Messenger, WhatsApp) share without the Graph API client: the
webhook's signature and verification GET, the keyring secret's shape, the reply window.

Kept apart from graph.py (aiohttp, the calls and their errors) because the registry's
descriptors point here, and they are read at every start-up: so the modules these
functions need are imported when one is first called.

Meta has no API to register a webhook: the owner pastes the callback URL and a verify
token into the app's dashboard, and Meta checks them once with a GET (`hub.mode=subscribe`,
`hub.verify_token`, `hub.challenge`: answer the challenge when the token matches). Every
webhook POST is then signed with the app secret: `X-Hub-Signature-256: sha256=<HMAC-SHA256
of the raw body>`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

SIGNATURE_HEADER = "X-Hub-Signature-256"
WINDOW = 24 * 3600  # seconds after a customer's last message when any reply may go
REPLY_WINDOW = timedelta(seconds=WINDOW)
DASHBOARD_OWNER = "Meta"


def encode(token: str, app_secret: str) -> str:
    """What the keyring keeps for a Messenger or WhatsApp bot (graph.credentials reads it)."""
    import json

    return json.dumps({"token": token, "app_secret": app_secret})


def verify_signature(app_secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """Whether X-Hub-Signature-256 is `sha256=` + the HMAC-SHA256 of the raw body."""
    import hashlib
    import hmac

    from ..signing import same_secret

    given = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), "")
    scheme, _, digest = given.partition("=")
    if scheme != "sha256" or not digest:
        return False
    wanted = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return same_secret(digest.strip().lower(), wanted)


def sign(app_secret: str, body: bytes) -> str:
    """The header value Meta sends (for test doubles)."""
    import hashlib
    import hmac

    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def handshake(query: Mapping[str, str], verify_token: str) -> str | None:
    """The challenge to answer Meta's verification GET with, or None (answer 403)."""
    from ..signing import same_secret

    if query.get("hub.mode") != "subscribe":
        return None
    if not same_secret(query.get("hub.verify_token", ""), verify_token):
        return None
    challenge = query.get("hub.challenge", "")
    return challenge if challenge else None
