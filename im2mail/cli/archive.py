"""The archive: tail, conversations, search, export, vacuum, path."""

from pathlib import Path
from typing import Annotated

import typer

from .common import Channel, ExportFormat, JsonOption, app, note, paths, report_warnings

# How many rows `tail` and `search` print at most: far more than a screen, and what the
# archive can count (a bigger number is refused with exit 2, not an overflow).
MAX_ROWS = 1_000_000
MAX_KEEP_DAYS = 36_500  # = config.MAX_KEEP_DAYS (config is imported by the command, not here)

# -- the archive --------------------------------------------------------------------------


@app.command()
def tail(
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new messages as they come.")
    ] = False,
    conversation: Annotated[
        int | None,
        typer.Option("--conversation", "-c", metavar="ID", help="Only this conversation."),
    ] = None,
    lines: Annotated[
        int,
        typer.Option("--lines", "-n", min=0, max=MAX_ROWS, metavar="N", help="How many to show."),
    ] = 20,
    versions: Annotated[
        bool,
        typer.Option("--versions", help="Under an edited message, its earlier texts too."),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Show recent messages, both directions.

    A message the customer edited shows its latest text, marked (edited); reactions
    follow the text. With -f, keep printing new ones as the relay archives them (Ctrl-C
    stops).
    """
    if conversation is not None:
        _conversations_need_an_archive([conversation])
    archive = _open_archive(wait=follow)
    if archive is None:
        return
    with archive:
        if conversation is not None:
            archive.conversation(conversation)  # NotFound (exit 5) for an unknown id
        from ..archive import edits

        entries = archive.recent(lines, conversation_id=conversation) if lines else []
        show = _entry_printer(json_output)
        for entry in edits.detailed(archive, entries, versions=versions):
            show(entry)
        if not follow:
            return
        after = entries[-1].message_id if entries else archive.last_message_id()
        try:
            for entry in archive.follow(after, conversation_id=conversation):
                show(edits.detailed(archive, [entry], versions=versions)[0])
        except KeyboardInterrupt:
            pass


# A group that lists when no subcommand is given: `im2mail conversations [--json]` as it
# always was, and `im2mail conversations rotate-token ID`.
conversations_app = typer.Typer(no_args_is_help=False)
app.add_typer(conversations_app, name="conversations")


@conversations_app.callback(invoke_without_command=True)
def conversations(
    ctx: typer.Context,
    waiting: Annotated[
        bool, typer.Option("--waiting", help="Only customers waiting for an answer.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """List conversations.

    Customer, channel, bot, lead source, last message, and how long the customer has
    been waiting for an answer.
    """
    from ..channels import reply_windows
    from . import render

    if ctx.invoked_subcommand is not None:
        return
    archive = _open_archive()
    if archive is None:
        return
    from ..archive.people import suggestions

    with archive:
        rows = archive.conversations(reply_windows())
        maybe = suggestions(archive)  # customers who may be one person
    if waiting:
        rows = [r for r in rows if r.waiting]
    if json_output:
        for row in rows:
            render.json_line(row.record())
    elif rows:
        console = render.stdout_console()
        console.print(render.conversations_table(rows, console.width))
    else:
        note("no conversations yet")
    from .people import suggest

    suggest(maybe)


@conversations_app.command("rotate-token")
def rotate_token(
    ids: Annotated[
        list[int] | None, typer.Argument(help="Conversation ids (see: im2mail conversations).")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every conversation.")] = False,
) -> None:
    """Give conversations a new reply address.

    Emails sent from now on carry the new one; a reply to an older email of the
    conversation is not sent to the customer, and its author (a manager) gets a notice
    saying why. Use it when emails of a conversation reached someone who must not
    answer the customer. The relay does it for every conversation by itself when an
    address is removed from mail.managers.
    """
    from ..archive.tokens import OWNER_ROTATED
    from ..errors import NotFound, UsageError

    if all_ == bool(ids):
        raise UsageError(
            "give conversation ids or --all (not both)",
            hint="e.g. im2mail conversations rotate-token 12",
        )
    ids = ids or []
    where = paths()
    if not where.archive.exists():
        if all_:
            note(f"no archive yet at {where.archive}; no conversation to rotate")
            return
        raise NotFound(
            f"no conversation #{ids[0]} (there is no archive yet at {where.archive})",
            hint="the archive is created when the relay first runs",
        )
    archive = _open_archive()
    if archive is None:
        return
    with archive:
        if all_:
            done = archive.tokens.rotate_all(OWNER_ROTATED)
            note(f"{done} conversation(s) got a new reply address; replies to their older "
                 "emails are refused, with a notice to their author")  # fmt: skip
            return
        for conversation_id in ids:
            archive.conversation(conversation_id)  # NotFound (exit 5) before changing any
        for conversation_id in ids:
            archive.tokens.rotate(conversation_id, OWNER_ROTATED)
            note(f"conversation #{conversation_id} got a new reply address; replies to its "
                 "older emails are refused, with a notice to their author")  # fmt: skip


@app.command()
def search(
    query: Annotated[
        str, typer.Argument(metavar="QUERY", help='Words to find (all of them); "a phrase"; pref*.')
    ],
    channel: Annotated[
        Channel | None, typer.Option("--channel", help="Only this messenger.")
    ] = None,
    customer: Annotated[
        str | None,
        typer.Option(
            "--customer",
            metavar="TEXT",
            help="Only customers whose name, @username or phone has this.",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", metavar="WHEN", help="From: 2026-11-01, 2026-11-01T14:00, 7d, 12h."
        ),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", metavar="WHEN", help="Up to (same forms).")
    ] = None,
    limit: Annotated[
        int,
        typer.Option("--limit", min=1, max=MAX_ROWS, metavar="N", help="At most this many hits."),
    ] = 20,
    exact: Annotated[
        bool,
        typer.Option("--exact", help="Only the words as typed, not their other forms."),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Search messages, customer names and file names.

    All words must match; "quoted words" match as a phrase; word* matches a prefix.
    Other forms of a word match too (візитки finds візиток, заказ finds заказа, card
    finds cards), after the hits of the words as typed; newest first within each.

    Case, ё/е, apostrophe forms (п'ятниця, п’ятниця) and Cyrillic/Latin look-alikes in
    codes (А4/A4) are folded. Without hits nothing is printed and the exit code is 0.
    """
    from ..model import SearchQuery
    from ..timeutil import parse_when
    from . import render

    q = SearchQuery(
        text=query,
        channel=channel.value if channel else None,
        customer=customer,
        since=parse_when(since) if since else None,
        until=parse_when(until) if until else None,
        limit=limit,
        exact=exact,
    )
    archive = _open_archive()
    if archive is None:
        return
    with archive:
        hits = archive.search(q)
    if json_output:
        for hit in hits:
            render.json_line(hit.record())
        return
    paint = render.Painter(render.color_wanted())
    for hit in hits:
        for line in render.search_hit(hit, paint):
            render.write_line(line)


@app.command()
def export(
    ids: Annotated[
        list[int] | None, typer.Argument(help="Conversation ids (see: im2mail conversations).")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every conversation.")] = False,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="mbox or html.")] = (
        ExportFormat.mbox
    ),
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="The mbox file, or the folder for HTML pages."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace what is there.")] = False,
    versions: Annotated[
        bool,
        typer.Option("--versions", help="Edited messages with their earlier texts too."),
    ] = False,
) -> None:
    """Export conversations to mbox or HTML.

    mbox: one email per chat message, threaded per conversation, with the files; for mutt,
    Thunderbird (ImportExportTools), notmuch or Python's mailbox. HTML: a folder with one
    self-contained page per conversation and an index.html. Edited messages show their
    latest text, marked edited (HTML: the earlier texts behind the mark); --versions
    writes the earlier texts out.
    """
    from ..errors import UsageError

    if all_ == bool(ids):
        raise UsageError(
            "give conversation ids or --all (not both)",
            hint="im2mail export 12 15 -o chats.mbox, or im2mail export --all -o all.mbox",
        )
    if output is None:
        raise UsageError("say where to write with -o PATH", hint="e.g. -o olena.mbox")
    _conversations_need_an_archive(ids or [])
    archive = _open_archive()
    if archive is None:
        return
    with archive, _progress_bar() as started:
        from ..export.write import export as run_export

        done = run_export(archive, None if all_ else ids, fmt.value, output, force=force,
                          started=started, versions=versions)  # fmt: skip
    note(f"exported {done.messages} message(s) of {done.conversations} conversation(s) "
         f"to {done.path}")  # fmt: skip


@app.command()
def vacuum(
    keep_files_days: Annotated[
        int | None,
        typer.Option(
            "--keep-files-days",
            min=0,
            max=MAX_KEEP_DAYS,
            metavar="DAYS",
            help="Drop the files of messages older than this (default: [archive] "
            "keep_files_days in config.toml; 0 keeps every file).",
            show_default=False,
        ),
    ] = None,
    keep_messages_days: Annotated[
        int | None,
        typer.Option(
            "--keep-messages-days",
            min=0,
            max=MAX_KEEP_DAYS,
            metavar="DAYS",
            help="Erase the messages older than this, as im2mail forget does (default: "
            "[archive] keep_messages_days; 0 keeps every message).",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would go; change nothing.")
    ] = False,
) -> None:
    """Compact the archive.

    Erases messages older than the retention setting for messages (a customer left with
    none is forgotten), applies the one for attachment files (the messages stay, their
    files show as "not kept"), deletes files no message names, then compacts archive.db.
    A running relay waits while archive.db is rewritten: best run when the shop is quiet.
    """
    import sys
    from datetime import UTC, datetime

    from .. import config
    from ..archive.vacuum import vacuum as run_vacuum
    from ..channels import CHANNELS
    from .people import erase_by_age

    days, message_days = keep_files_days, keep_messages_days
    if days is None or message_days is None:
        cfg = config.load(channels=CHANNELS)
        report_warnings(cfg)
        days = cfg.archive.keep_files_days if days is None else days
        message_days = cfg.archive.keep_messages_days if message_days is None else message_days
    archive = _open_archive()
    if archive is None:
        return

    def step(what: str) -> None:
        if sys.stderr.isatty():
            note(what + " …")

    with archive:
        erase_by_age(archive, message_days, dry_run=dry_run, step=step)
        done = run_vacuum(archive, days, now=datetime.now(UTC), dry_run=dry_run, step=step)
    would = "would drop" if dry_run else "dropped"
    if done.cutoff is not None:
        note(f"{would} the files of {done.attachments} attachment(s) of messages before "
             f"{done.cutoff.date().isoformat()}")  # fmt: skip
    note(f"{'would delete' if dry_run else 'deleted'} {done.files} file(s), "
         f"{_megabytes(done.freed)}")  # fmt: skip
    if not dry_run:
        note(f"archive.db: {_megabytes(done.archive_before)} → {_megabytes(done.archive_after)}")


def _megabytes(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB"


@app.command()
def path(json_output: JsonOption = False) -> None:
    """Print where config, archive and files live."""
    from ..home import paths

    where = paths()
    rows = {"config": str(where.config), "archive": str(where.archive), "blobs": str(where.blobs)}
    if json_output:
        from . import render

        render.json_line(rows)
        return
    for key, value in rows.items():
        typer.echo(f"{key}\t{value}")


def _conversations_need_an_archive(ids: list[int]) -> None:
    """Conversations named by id can't be in an archive that isn't there yet: NotFound
    (exit 5), as for an id the archive doesn't have."""
    from ..errors import NotFound
    from ..home import paths

    where = paths()
    if ids and not where.archive.exists():
        raise NotFound(
            f"no conversation #{ids[0]}: there is no archive yet at {where.archive}",
            hint="it is created when the relay first runs (im2mail run)",
        )


def _open_archive(wait: bool = False):
    """The archive for reading; if there is none yet, a note on stderr and None, or with
    wait=True, the archive once the relay has created it."""
    import time

    from ..archive import Archive
    from ..home import paths

    where = paths()
    if not where.archive.exists():
        note(f"no archive yet at {where.archive}; it is created when the relay first runs")
        if not wait:
            return None
        while not where.archive.exists():
            time.sleep(0.5)
    return Archive.open(where.archive, where.blobs)


def _progress_bar():
    """A context giving `started(selection) -> progress(n)`: a rich progress bar on stderr
    when it is a terminal, nothing otherwise."""
    import contextlib
    import sys

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    @contextlib.contextmanager
    def bar():
        if not sys.stderr.isatty():
            yield lambda selection: lambda n: None
            return
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        ) as progress:

            def started(selection):
                task = progress.add_task("exporting", total=selection.messages)
                return lambda n: progress.advance(task, n)

            yield started

    return bar()


def _entry_printer(json_output: bool):
    from . import render

    if json_output:
        return lambda entry: render.json_line(entry.record(receipts=True))
    paint = render.Painter(render.color_wanted())

    def show(entry) -> None:
        render.write_line(render.entry_line(entry, paint))
        for line in render.version_lines(entry, paint):  # tail --versions
            render.write_line(line)

    return show
