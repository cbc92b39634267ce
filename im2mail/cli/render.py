"""How listing commands look on a terminal (and as --json lines).

stdout is data, stderr is talk: everything here writes rows to stdout; the commands send
messages, warnings and hints to stderr. Message lines (tail, search) are styled with plain
ANSI codes rather than rich: importing rich.console costs ~35 ms, a quarter of what a
whole `im2mail search` may take. The conversations table uses rich.

Text from customers is untrusted: control characters are made visible before it reaches
a terminal, so a message can't move the cursor or retitle the window.
"""

from __future__ import annotations

import json
import os
import re
import sys
from datetime import UTC, datetime
from typing import Any

from ..channels import title
from ..model import Connection, ConversationSummary, Entry, marked_snippet
from ..timeutil import age, local

ARROW = {"in": "→", "out": "←"}  # customer → shop, manager ← … to the customer
_CODES = {"dim": "2", "cyan": "36", "magenta": "35", "bold": "1", "hit": "1;7"}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def color_wanted(stream=None) -> bool:
    """Colors on a terminal unless NO_COLOR is set (https://no-color.org); FORCE_COLOR wins."""
    stream = stream or sys.stdout
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return stream.isatty() and os.environ.get("TERM") != "dumb"


class Painter:
    """Wraps text in ANSI styles, or leaves it alone when colors are off."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, style: str) -> str:
        return f"\x1b[{_CODES[style]}m{text}\x1b[0m" if self.enabled and text else text


def safe(text: str) -> str:
    """One line of untrusted text: newlines as ⏎, tabs as spaces, control characters as �."""
    text = text.replace("\r\n", "\n").replace("\n", " ⏎ ").replace("\t", " ")
    return _CONTROL.sub("\N{REPLACEMENT CHARACTER}", text)


def write_line(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()  # tail -f and pipes into grep want each line as it comes


def json_line(record: dict[str, Any]) -> None:
    write_line(json.dumps(record, ensure_ascii=False))


def _channel(entry_channel: str) -> str:
    return title(entry_channel)


def entry_line(entry: Entry, paint: Painter) -> str:
    """One message as a line: time, conversation, channel, who, direction, text, files."""
    who = entry.customer if entry.direction == "in" else entry.author
    body = safe(entry.text)
    if entry.attachments:
        files = " ".join(f"[{safe(name)}]" for name in entry.attachments)
        body = f"{body} {files}" if body else files
    if entry.kind == "reaction":
        body += "  " + paint("(as a reaction)", "dim")
    if entry.edited:
        body += "  " + paint("(edited)", "dim")
    if entry.reactions:
        body += "  " + " ".join(safe(r.emoji) for r in entry.reactions)
    if entry.seen:
        body += "  " + paint("✓✓ seen", "dim")
    elif entry.delivered:
        body += "  " + paint("✓✓ delivered", "dim")
    if entry.deleted:
        body += "  " + paint(f"(deleted {local(entry.deleted)})", "dim")
    return (
        f"{paint(local(entry.created), 'dim')}  {paint(f'#{entry.conversation_id}', 'cyan')} "
        f"{paint(_channel(entry.channel), 'magenta')}  "
        f"{paint(f'{safe(who)} {ARROW[entry.direction]}', 'bold')} {body}"
    )


def connection(c: Connection) -> str:
    """An account connected to a bot, in words: "@iryna_shop (Ірина), can reply"."""
    name = f" ({safe(c.owner_name)})" if c.owner_name and c.owner_username else ""
    if not c.enabled:
        state = "disconnected"
    else:
        state = "can reply" if c.can_reply else "connected, cannot reply"
    return f"{safe(c.label)}{name}, {state}"


def version_lines(entry: Entry, paint: Painter) -> list[str]:
    """Under an edited message (tail --versions): each earlier text, oldest first."""
    return [f"    {paint(f'was, {local(v.created)}:', 'dim')} {safe(v.text)}"
            for v in entry.versions]  # fmt: skip


def search_hit(entry: Entry, paint: Painter) -> tuple[str, str]:
    """A hit as two lines: who and when, then the snippet with the hits highlighted (in
    reverse video on a terminal, between ** elsewhere, so piped output still shows them)."""
    who = entry.customer if entry.direction == "in" else f"{entry.author} → {entry.customer}"
    header = (
        f"{paint(local(entry.created), 'dim')}  {paint(f'#{entry.conversation_id}', 'cyan')}"
        f"{paint(f' msg {entry.message_id}', 'dim')}  {paint(_channel(entry.channel), 'magenta')}"
        f"  {paint(safe(who), 'bold')}"
    )
    snippet = entry.snippet or ""
    if not paint.enabled:
        return header, "    " + safe(marked_snippet(snippet, entry.highlights))
    out, last = [], 0
    for start, end in sorted(entry.highlights):
        out += [safe(snippet[last:start]), paint(safe(snippet[start:end]), "hit")]
        last = end
    out.append(safe(snippet[last:]))
    return header, "    " + "".join(out)


def stdout_console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def _reply_by(closes: datetime | None, now: datetime) -> str:
    if closes is None:
        return ""
    return "closed" if closes <= now else local(closes)


def _waiting(row: ConversationSummary, now: datetime) -> str:
    if row.blocked_by_shop is not None:
        return "blocked"  # by the shop: nobody is to answer (im2mail unblock ID)
    return age(now - row.waiting_since) if row.waiting_since else ""


def conversations_table(rows: list[ConversationSummary], width: int, now: datetime | None = None):
    """The conversations as a table at most `width` wide. On a narrow screen the bot and
    source columns go first, then the preview of the last message is cut."""
    from rich.table import Table
    from rich.text import Text

    now = now or datetime.now(UTC)
    columns = {
        "#": [str(row.id) for row in rows],
        "customer": [safe(row.customer) for row in rows],
        "channel": [_channel(row.channel) for row in rows],
        "bot": [row.bot for row in rows],
        "source": [safe(row.source or "") for row in rows],
        "last": [local(row.last_message_at) if row.last_message_at else "—" for row in rows],
        "waiting": [_waiting(row, now) for row in rows],
    }
    if any(row.reply_window_closes for row in rows):  # Messenger, WhatsApp: Meta's 24 h
        columns["reply by"] = [_reply_by(row.reply_window_closes, now) for row in rows]
    if any(row.linked for row in rows):  # im2mail customers link
        columns["same person"] = [", ".join(f"#{i}" for i in row.linked) for row in rows]

    def used() -> int:
        return sum(max(map(len, [name, *values])) + 2 for name, values in columns.items())

    for optional in ("bot", "source"):
        if used() + 20 > width:
            del columns[optional]
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in columns:
        table.add_column(
            name,
            no_wrap=True,
            justify="right" if name == "#" else "left",
            style="bold red" if name == "waiting" else None,
        )
    table.add_column(
        "last message", no_wrap=True, overflow="ellipsis", max_width=max(12, width - used())
    )
    for i, row in enumerate(rows):
        # Text(), not str: a customer named "[/red]" is a name, not rich markup.
        cells = [Text(values[i]) for values in columns.values()]
        table.add_row(*cells, Text(safe(row.last_text)))
    return table
