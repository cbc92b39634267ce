"""A manager's reply of only one emoji goes as a reaction to the customer's last message,
where the channel can set one (Channel.react: Telegram's setMessageReaction), the way a
person answers "👍" in a messenger. Else, or when the platform refuses that emoji as a
reaction (Telegram takes some 70), it goes as text, as any reply.

`single_emoji` tells such a reply: one emoji, with its variation selectors, skin tone,
joiners (👨‍💻), keycap (1️⃣) or flag (🇺🇦), and nothing else but spaces.
"""

from __future__ import annotations

import asyncio
import logging
import unicodedata

from ..archive import Archive, reactions
from ..channels import Rejected
from ..model import Conversation, Message

log = logging.getLogger("im2mail.sender")

_JOINER = "\u200d"
_VARIATION = "\ufe0f"
_KEYCAP = "\u20e3"
_TONES = range(0x1F3FB, 0x1F400)
_FLAGS = range(0x1F1E6, 0x1F200)  # regional indicators: two make a flag
_TAGS = range(0xE0020, 0xE0080)  # 🏴 + tags: England, Scotland, Wales
# Where pictographs live, beside the symbols (category So) outside them.
_PICTOGRAPHS = (range(0x1F000, 0x1FB00), range(0x2600, 0x27C0), range(0x2B00, 0x2C00),
                range(0x2300, 0x2400))  # fmt: skip


def single_emoji(text: str) -> str | None:
    """The emoji when `text` is exactly one (spaces around it aside), else None."""
    text = text.strip()
    if not text or len(text) > 32:
        return None
    chars = list(text)
    if len(chars) in (2, 3) and chars[0] in "0123456789#*" and chars[-1] == _KEYCAP:
        return text if len(chars) == 2 or chars[1] == _VARIATION else None
    if len(chars) == 2 and all(ord(c) in _FLAGS for c in chars):
        return text
    parts = text.split(_JOINER)
    return text if all(_one_pictograph(part) for part in parts) else None


def _one_pictograph(part: str) -> bool:
    """A pictograph with what may follow it in one emoji: a variation selector, a skin
    tone, tags."""
    if not part or not _pictograph(part[0]):
        return False
    return all(c == _VARIATION or ord(c) in _TONES or ord(c) in _TAGS for c in part[1:])


def _pictograph(char: str) -> bool:
    code = ord(char)
    if any(code in block for block in _PICTOGRAPHS):
        return code not in _TONES and code not in _FLAGS
    return unicodedata.category(char) == "So" and code > 0x2000


async def react(channel: object, archive: Archive, reply: Message,
                conversation: Conversation) -> tuple[Message, str] | None:  # fmt: skip
    """Send `reply` as a reaction when it is one emoji, the channel can react and the
    customer has a message to react to: (that message, the emoji). None: send it as text
    (the platform refused the emoji too). Other ChannelErrors (blocked, throttled) go on
    to the caller, as for any delivery."""
    set_reaction = getattr(channel, "react", None)
    if set_reaction is None or reply.attachments:
        return None
    emoji = single_emoji(reply.text)
    if emoji is None:
        return None
    target = await asyncio.to_thread(reactions.last_from_customer, archive, conversation.id)
    if target is None or target.channel_message_id is None:
        return None
    try:
        await set_reaction(conversation.customer.external_id, target.channel_message_id, emoji)
    except Rejected as e:
        log.info("reply #%s: %s not taken as a reaction (%s): sent as text", reply.id, emoji,
                 e.reason)  # fmt: skip
        return None
    return target, emoji
