"""Quick replies: a manager's reply that is only `/t NAME` sends the [templates] text NAME.

Pure logic: reply_intake.py asks `expand` about each reply's extracted text and sends (and
archives) what it returns, so the archive holds what the customer received.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# "/t" (any case) and a name, as the whole text; "/tomorrow" is not a command
_COMMAND = re.compile(r"\A\s*/t(?:\s+(.*?))?\s*\Z", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class QuickReply:
    name: str  # as the manager wrote it, lowercased
    text: str | None  # the template's text; None when there is no such template


def expand(text: str, templates: Sequence[tuple[str, str]]) -> QuickReply | None:
    """The quick reply `text` asks for, None when `text` is an ordinary reply."""
    m = _COMMAND.match(text)
    if m is None:
        return None
    name = " ".join((m[1] or "").split()).lower()
    found = next((body for key, body in templates if key == name), None)
    return QuickReply(name, found)


def unknown(name: str, templates: Sequence[tuple[str, str]]) -> str:
    """Why nothing was sent, for the notice back to the manager."""
    asked = f"there is no quick-reply template '{name}'" if name else "/t needs a template name"
    known = ", ".join(key for key, _ in templates)
    listing = f"the templates are: {known}" if known else "config.toml has no [templates] section"
    return f"{asked}, so nothing was sent (no files either); {listing}"
