"""`/via NAME`: the first line of a manager's reply choosing where it goes.

A reply to a customer the owner linked to others (one person across channels,
archive/people.py) goes to the conversation the customer last wrote in. A first line of
only `/via` and a channel's name (or a bot's, from config.toml), in any case, sends it to
the person's conversation on that channel instead (the one last written in, when there
are several); the line itself is not sent. A name that is no channel or bot, or one the
person has no conversation on, sends nothing: the manager gets a notice saying why and
where the customer can be reached. Replies to a customer linked to no one may carry the
line too (it must then name their own channel).

Pure: reply_intake.py splits the reply's words here and asks the archive for the target.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..channels import CHANNELS, title
from ..model import Conversation

# "/via" as the whole first line, with a name or without one (then the name is "")
_LINE = re.compile(r"\A[ \t]*/via(?:[ \t]+(\S+))?[ \t]*(?:\r?\n|\Z)", re.IGNORECASE)


@dataclass(frozen=True)
class Via:
    name: str | None  # the channel or bot asked for ("" for /via alone); None: no /via line
    text: str  # the reply without that line


def split(text: str) -> Via:
    """The /via line of a reply's words, and the words without it."""
    found = _LINE.match(text.lstrip("\r\n"))
    if found is None:
        return Via(None, text)
    return Via((found[1] or "").strip(), text.lstrip("\r\n")[found.end() :].lstrip("\r\n"))


def not_there(name: str, conversations: Sequence[Conversation]) -> str:
    """Why a reply with `/via name` was not sent (the customer's `conversations` are the
    ones of their person), for the notice to its author."""
    where = ", ".join(
        f"/via {c.channel} (bot {c.bot})" for c in _by_channel(conversations)
    )  # fmt: skip
    if not name:
        asked = "the first line /via names no channel"
    elif name.lower() in CHANNELS:
        asked = f"this customer has no conversation on {title(name.lower())}"
    else:
        names = ", ".join(CHANNELS)
        asked = f"'{name}' is neither a channel ({names}) nor a bot of this customer"
    return (
        f"{asked}, so nothing was sent. The customer can be reached with: {where}; or "
        "reply without a /via line to answer where they last wrote"
    )


def _by_channel(conversations: Sequence[Conversation]) -> list[Conversation]:
    seen, out = set(), []
    for c in conversations:
        if (c.channel, c.bot) not in seen:
            seen.add((c.channel, c.bot))
            out.append(c)
    return out
