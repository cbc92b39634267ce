"""What customers change after the fact, the words: the email about an edited message
(to the managers: the text before and after the edit) and the notice about reactions to
a manager's replies (to that manager: which emoji, on which reply).

builder.py puts the edit in the conversation's thread as an answer to the message's own
email, from the customer like their messages (Reply answers them); the reaction notice as
an answer to the reply, from im2mail, automatic. `channel` is the channel's title, `title`
the email's subject.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC

from ..model import KIND_LABELS, Conversation, Message, Reaction
from .compose import Content, clean, plain_text
from .html_body import Quote, notice_html

REACTIONS_OFF = "alerts.reactions = false in config.toml turns these notices off"


def edited(
    message: Message, conversation: Conversation, *, channel: str, title: str, before: str,
    after: str, transcript: str | None = None,
) -> Content:  # fmt: skip
    """The customer changed `message` from `before` to `after`."""
    name = clean(conversation.customer.display_name)
    sent = message.created.astimezone(UTC)
    lead = f"{name} edited a message in {channel} (first sent {sent:%d %b %H:%M} UTC):"
    quotes = [Quote("Before:", _shown(before, message)), Quote("Now:", _shown(after, message))]
    footer = f"Reply to this email to answer in {channel}."
    links = [f"The whole conversation: {transcript}"] if transcript else []
    plain = plain_text([lead], *_plain(quotes), ["-- ", footer, *links])
    html = notice_html(title=title, lead=lead, quotes=quotes, footer=footer, transcript=transcript)
    return Content(plain, html)


def reacted(
    replies: Sequence[tuple[Message, Sequence[Reaction]]], conversation: Conversation, *,
    channel: str, title: str,
) -> Content:  # fmt: skip
    """The customer reacted to the manager's `replies` (each with the reactions changed in
    the batch: set, or taken back when `removed`)."""
    name = clean(conversation.customer.display_name)
    one = len(replies) == 1
    if one:
        lead = f"{name} {_what(replies[0][1])} your reply in {channel}."
    else:
        lead = f"{name} reacted to your replies in {channel}:"
    quotes = [
        Quote("Your reply:" if one else f"{_what(changed).capitalize()}:", _shown(r.text, r))
        for r, changed in replies
    ]
    footer = (
        f"This is an automatic notice from im2mail, at most one a minute ({REACTIONS_OFF}). "
        "Reply to this email to write to the customer."
    )
    plain = plain_text([lead], *_plain(quotes), ["-- ", footer])
    return Content(plain, notice_html(title=title, lead=lead, quotes=quotes, footer=footer))


def _what(changed: Sequence[Reaction]) -> str:
    """How the reactions changed: "reacted 👍 🔥 to", "took back 👍 from", or both."""
    now = " ".join(clean(r.emoji, 20) for r in changed if r.removed is None)
    gone = " ".join(clean(r.emoji, 20) for r in changed if r.removed is not None)
    parts = [f"reacted {now} to" if now else "", f"took back {gone} from" if gone else ""]
    return " and ".join(p for p in parts if p) or "reacted to"


def _shown(text: str, message: Message) -> str:
    return text.strip() or f"({KIND_LABELS.get(message.kind, message.kind)})"


def _plain(quotes: Sequence[Quote]) -> list[list[str]]:
    return [[q.label, *(f"> {line}" for line in q.text.splitlines())] for q in quotes]
