"""The Viber channel: channel.py (the Channel: API calls, webhook, sends, downloads)
over parse.py (its updates turned into model values, and its send plans).

SPEC is what the rest of im2mail knows of Viber without viberbot.
"""

from __future__ import annotations

from urllib.parse import quote

from ..spec import ChannelSpec


def _deep_link(handle: str, tag: str) -> str:
    """`viber://pa?chatURI=<uri>&context=<tag>`: the conversation's context carries the tag."""
    return f"viber://pa?chatURI={quote(handle, safe='')}&context={tag}"


SPEC = ChannelSpec(
    name="viber",
    title="Viber",
    implementation="im2mail.channels.viber.channel:Viber",
    token_source="the Viber Admin Panel",
    webhook_called_when_set=True,  # Viber checks a webhook by calling it at once
    handle="public account URI",
    deep_link=_deep_link,
    colour="#7360F2",
)
