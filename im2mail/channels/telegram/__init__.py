"""The Telegram channel: channel.py (the Channel: API calls, webhook, polling, sends,
downloads) over parse.py (its updates turned into model values, and its send plans).

SPEC is what the rest of im2mail knows of Telegram without python-telegram-bot.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ..spec import POLLING, WEBHOOK, BotKey, ChannelSpec

OFFICIAL_DOWNLOAD_MB = 20  # getFile hands bots files up to 20 MB on Telegram's own server
LOCAL_DOWNLOAD_MB = 2000  # ... and up to 2000 MB on a local Bot API server


def _megabytes(value: int, table: Mapping[str, Any]) -> str | None:
    if not 1 <= value <= LOCAL_DOWNLOAD_MB:
        return f"expected 1 to {LOCAL_DOWNLOAD_MB} (MB)"
    if value > OFFICIAL_DOWNLOAD_MB and not table.get("api_url"):
        return (f"Telegram's own server hands bots files up to {OFFICIAL_DOWNLOAD_MB} MB; more "
                "needs a local Bot API server (its address in api_url)")  # fmt: skip
    return None


def _deep_link(handle: str, tag: str) -> str:
    """`https://t.me/<username>?start=<tag>`: the /start payload carries the tag."""
    return f"https://t.me/{quote(handle.lstrip('@'), safe='')}?start={tag}"


SPEC = ChannelSpec(
    name="telegram",
    title="Telegram",
    implementation="im2mail.channels.telegram.channel:Telegram",
    modes=(POLLING, WEBHOOK),
    keys=(
        # Customers' files are fetched up to this; over 20 only from a local Bot API server.
        BotKey("max_download_mb", int, OFFICIAL_DOWNLOAD_MB, check=_megabytes),
    ),
    token_source="@BotFather",
    handle="@username",
    handle_prefix="@",
    deep_link=_deep_link,
    colour="#2AABEE",
)
