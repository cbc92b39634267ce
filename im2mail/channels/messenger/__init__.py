"""The Facebook Messenger channel: channel.py (the Channel: API calls, webhook, sends,
downloads) over parse.py (its updates turned into model values, and its send plans).

SPEC is what the rest of im2mail knows of Messenger without the Graph API client.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..meta import DASHBOARD_OWNER, REPLY_WINDOW, encode, handshake
from ..spec import BotKey, ChannelSpec, Dashboard

HUMAN_AGENT_LIMIT = 7  # days Meta allows the HUMAN_AGENT tag after the customer's last message


def _days(value: int, table: Mapping[str, Any]) -> str | None:
    if 0 <= value <= HUMAN_AGENT_LIMIT:
        return None
    return f"expected 0 to {HUMAN_AGENT_LIMIT} (Meta allows {HUMAN_AGENT_LIMIT} days)"


SPEC = ChannelSpec(
    name="messenger",
    title="Messenger",
    implementation="im2mail.channels.messenger.channel:Messenger",
    keys=(
        # Days after the customer's last message a reply may go with the HUMAN_AGENT tag
        # (0: never).
        BotKey("human_agent_days", int, HUMAN_AGENT_LIMIT, check=_days),
    ),
    token_source="your Meta app (Messenger → Settings → Access tokens)",
    credentials=encode,
    dashboard=Dashboard(
        DASHBOARD_OWNER,
        "your Meta app → Messenger → Settings → Webhooks",
        "messages, messaging_postbacks, messaging_referrals, message_deliveries, message_reads,"
        " message_edits, message_reactions",
        handshake,
    ),
    reply_window=REPLY_WINDOW,
    handle="username",
)
