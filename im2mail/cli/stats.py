"""The owner's figures: `stats`."""

from typing import Annotated

import typer

from .common import app, note, paths, report_warnings


@app.command()
def stats(
    since: Annotated[
        str,
        typer.Option(
            "--since", metavar="WHEN", help="From: 2026-11-01, 2026-11-01T14:00, 7d, 30d, today."
        ),
    ] = "7d",
    until: Annotated[
        str | None,
        typer.Option("--until", metavar="WHEN", help="Up to (same forms; default: now)."),
    ] = None,
    json_output: Annotated[
        bool,
        typer.Option(
            "--json",
            help='One JSON object per line, with "kind": manager, channel, source or '
            "unanswered; durations in seconds.",
        ),
    ] = False,
) -> None:
    """Show response times, replies, lead sources and who is waiting.

    Per manager, per channel and per lead source (the Telegram deep-link payload or the
    Viber context): conversations, replies that reached the customer, and the first-reply
    time (median and 90th percentile) from a customer's message to the first answer
    after it, counted in business hours when [hours] is configured. Then every customer
    waiting for an answer now, and for how long. Greetings and auto-replies are no
    answer; neither is a reply that could not be delivered.
    """
    from datetime import UTC, datetime

    from .. import config
    from ..channels import CHANNELS
    from ..ops import stats_report
    from ..timeutil import parse_when
    from . import render, stats_tables

    now = datetime.now(UTC)
    start = parse_when(since, now=now)
    end = parse_when(until, now=now) if until else now
    where = paths()
    cfg = None
    if where.config.exists():
        cfg = config.load(where.config, channels=CHANNELS)
        report_warnings(cfg)
    gathered = stats_report.gather(where, cfg, start, end, now)
    report = gathered.report
    if report is None:
        note(f"no archive yet at {where.archive}; it is created when the relay first runs")
        return
    if report.empty:
        note(stats_tables.nothing(report))
        return
    if json_output:
        for record in report.records():
            render.json_line(record)
        return
    console = render.stdout_console()
    console.print(stats_tables.heading(report, gathered.hours), highlight=False, markup=False)
    for kind, rows in (
        ("manager", report.managers),
        ("channel", report.channels),
        ("source", report.sources),
    ):
        if rows:
            console.print()
            console.print(stats_tables.figures_table(kind, rows))
    if report.unanswered:
        console.print()
        console.print(stats_tables.waiting_table(report.unanswered, gathered.hours))
