"""The WhatsApp channel: channel.py (the Channel: API calls, webhook, sends, downloads)
over parse.py (its updates turned into model values, and its send plans).

SPEC is what the rest of im2mail knows of WhatsApp without the Graph API client.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..meta import DASHBOARD_OWNER, REPLY_WINDOW, encode, handshake
from ..spec import BotKey, ChannelSpec, Dashboard


def _digits(value: str, table: Mapping[str, Any]) -> str | None:
    return None if value.isdigit() else "expected the number's id (digits)"


SPEC = ChannelSpec(
    name="whatsapp",
    title="WhatsApp",
    implementation="im2mail.channels.whatsapp.channel:WhatsApp",
    keys=(
        # The Cloud API's business number the bot sends from.
        BotKey(
            "phone_number_id",
            str,
            check=_digits,
            flag="--phone-number-id",
            help="the number's id (WhatsApp → API Setup)",
            hint="the id shown under WhatsApp → API Setup in your Meta app (digits)",
            metavar="ID",
        ),
    ),
    token_source="your Meta app (WhatsApp → API Setup; a system user's token for good)",
    credentials=encode,
    dashboard=Dashboard(
        DASHBOARD_OWNER, "your Meta app → WhatsApp → Configuration → Webhook", "messages", handshake
    ),
    reply_window=REPLY_WINDOW,
    handle="phone number",
)
