"""How listing commands look on a terminal (and as --json lines).

stdout is data, stderr is talk: everything here writes rows to stdout; cli.py sends
messages, warnings and hints to stderr.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

from .model import CHANNEL_TITLES, ConversationSummary, Entry, marked_snippet
from .timeutil import age, local

ARROW = {"in": "→", "out": "←"}  # customer → shop, shop ← manager


def stdout_console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def json_line(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def entry_line(entry: Entry):
    """One message as a line: time, conversation, channel, who, direction, text."""
    from rich.text import Text

    who = entry.customer if entry.direction == "in" else entry.author
    line = Text()
    line.append(local(entry.created), style="dim")
    line.append(f"  #{entry.conversation_id} ", style="cyan")
    line.append(CHANNEL_TITLES.get(entry.channel, entry.channel), style="magenta")
    line.append(f"  {who} {ARROW[entry.direction]} ", style="bold")
    body = entry.text.replace("\n", " ⏎ ")
    if entry.attachments:
        body = (body + " " if body else "") + " ".join(f"[{a}]" for a in entry.attachments)
    line.append(body)
    return line


def search_hit(entry: Entry):
    """A search hit: a header line, then the snippet with the hits highlighted."""
    from rich.text import Text

    header = Text()
    header.append(local(entry.created), style="dim")
    header.append(f"  #{entry.conversation_id}", style="cyan")
    header.append(f" msg {entry.message_id}  ", style="dim")
    header.append(CHANNEL_TITLES.get(entry.channel, entry.channel), style="magenta")
    who = entry.customer if entry.direction == "in" else f"{entry.author} → {entry.customer}"
    header.append(f"  {who}", style="bold")
    snippet = Text("    " + (entry.snippet or ""))
    for start, end in entry.highlights:
        snippet.stylize("bold reverse", start + 4, end + 4)
    return header, snippet


def plain_hit(entry: Entry) -> str:
    return marked_snippet(entry.snippet or "", entry.highlights)


def conversations_table(rows: list[ConversationSummary], now: datetime | None = None):
    from rich.table import Table

    now = now or datetime.now(UTC)
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("#", "customer", "channel", "bot", "source", "last message", "waiting"):
        table.add_column(column, no_wrap=column != "last message")
    for row in rows:
        last = local(row.last_message_at) if row.last_message_at else "—"
        preview = row.last_text.replace("\n", " ")
        if len(preview) > 50:
            preview = preview[:49] + "…"
        waiting = age(now - row.waiting_since) if row.waiting_since else ""
        table.add_row(
            str(row.id),
            row.customer,
            CHANNEL_TITLES.get(row.channel, row.channel),
            row.bot,
            row.source or "",
            f"{last}  {preview}",
            f"[bold red]{waiting}[/]" if waiting else "",
        )
    return table
