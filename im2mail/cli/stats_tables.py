"""`im2mail stats` as tables: the heading, one table per kind of figures, who is waiting.
Durations are shown as `timeutil.age` shows them (12m, 3h 05m, 2d 4h)."""

from __future__ import annotations

from ..archive import stats
from ..channels import title as channel_title
from ..hours import BusinessHours
from ..timeutil import age, local
from .render import safe

TITLES = {"manager": "Managers", "channel": "Channels", "source": "Lead sources"}


def heading(report: stats.Report, hours: BusinessHours) -> str:
    """What the figures cover: the period, and how response times are measured."""
    zone = getattr(hours.zone, "key", None) or str(hours.zone)
    measured = "wall-clock time" if hours.always_open else f"business hours ({zone})"
    return f"{local(report.since)} – {local(report.until)}; response times in {measured}"


def nothing(report: stats.Report) -> str:
    return (
        f"nothing to count: no messages from {local(report.since)} to {local(report.until)},"
        " and no customer is waiting"
    )


def figures_table(kind: str, rows: tuple[stats.Figures, ...]):
    """A manager's, channel's or source's row each; numbers never cut, long names are."""
    from rich.text import Text

    names = [channel_title(r.label) if kind == "channel" else r.label for r in rows]
    columns = {
        "conversations": [str(r.conversations) for r in rows],
        "replies": [str(r.replies) for r in rows],
        "median": [duration(r.median) for r in rows],
        "p90": [duration(r.p90) for r in rows],
        "waiting": [str(r.unanswered) if r.unanswered else "" for r in rows],
    }
    table = _table(f"{TITLES[kind]} (first reply: median, p90)")
    table.add_column(kind, no_wrap=True, overflow="ellipsis", min_width=8)
    for name, values in columns.items():
        _fixed(table, name, values, justify="right")
    for i, name in enumerate(names):
        # Text, not str: a source tag or an address is never rich markup
        table.add_row(Text(safe(name)), *(values[i] for values in columns.values()))
    return table


def waiting_table(rows: tuple[stats.Waiting, ...], hours: BusinessHours):
    """Who is waiting now, the longest wait first."""
    from rich.text import Text

    rows = tuple(sorted(rows, key=lambda w: -w.waited))
    table = _table("Waiting now")
    _fixed(table, "#", [str(w.conversation) for w in rows], justify="right")
    table.add_column("customer", no_wrap=True, overflow="ellipsis", min_width=8)
    _fixed(table, "channel", [channel_title(w.channel) for w in rows])
    _fixed(table, "waiting", [duration(w.waited) for w in rows], justify="right")
    if not hours.always_open:
        _fixed(table, "open hours", [duration(w.business) for w in rows], justify="right")
    _fixed(table, "since", [local(w.since) for w in rows])
    table.add_column("source", no_wrap=True, overflow="ellipsis")
    table.add_column("last answer by", no_wrap=True, overflow="ellipsis")
    for w in rows:
        cells = [
            str(w.conversation),
            Text(safe(w.customer)),
            channel_title(w.channel),
            duration(w.waited),
        ]
        if not hours.always_open:
            cells.append(duration(w.business))
        cells += [local(w.since), Text(safe(w.source or "")), Text(safe(w.manager or "—"))]
        table.add_row(*cells)
    return table


def _table(title: str):
    from rich.table import Table

    return Table(title=title, title_justify="left", title_style="bold", box=None,
                 pad_edge=False, header_style="bold")  # fmt: skip


def _fixed(table, name: str, values: list[str], justify: str = "left") -> None:
    """A column rich never narrows: figures and times are shown whole or not at all."""
    width = max(map(len, [name, *values]))
    table.add_column(name, no_wrap=True, justify=justify, min_width=width)


def duration(seconds: float | None) -> str:
    from datetime import timedelta

    return "—" if seconds is None else age(timedelta(seconds=seconds))
