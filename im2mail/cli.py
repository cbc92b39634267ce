"""The im2mail command line: parses, calls the core, prints. No business logic here.

Errors from the core are typed (errors.py) and become one stderr line plus a hint at one
place: main(). Heavy modules are imported inside the commands that need them, so that
`im2mail --help` and `im2mail search` start fast.
"""

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from . import __version__
from .errors import Im2mailError, NotBuiltYet, redact

app = typer.Typer(
    name="im2mail",
    help="Bridge a shop's Telegram and Viber bots to its sales mailbox: customers write "
    "to the bot, managers answer with Reply in their mail client, and every message is "
    "kept in a local archive you can tail, search and export.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
bot_app = typer.Typer(help="Add, list and remove the shop's bots.", no_args_is_help=True)
webhook_app = typer.Typer(
    help="Register the bots' webhooks with Telegram and Viber.", no_args_is_help=True
)
import_app = typer.Typer(
    help="Bring history from before im2mail into the archive.", no_args_is_help=True
)
app.add_typer(bot_app, name="bot")
app.add_typer(webhook_app, name="webhook")
app.add_typer(import_app, name="import")

JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]


class Channel(StrEnum):
    telegram = "telegram"
    viber = "viber"


class ExportFormat(StrEnum):
    mbox = "mbox"
    html = "html"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"im2mail {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks (secrets are still masked).")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Options that apply to every command."""


def _not_built(command: str, what: str) -> NotBuiltYet:
    return NotBuiltYet(
        f"'im2mail {command}' is not available in im2mail {__version__} yet: {what}",
        hint="see README.md, 'Status', for what works today",
    )


def _warn(message: str) -> None:
    typer.echo(f"warning: {message}", err=True)


def _note(message: str) -> None:
    typer.echo(message, err=True)


# -- set-up -------------------------------------------------------------------------------


@app.command()
def init(
    non_interactive: Annotated[
        bool, typer.Option("--non-interactive", help="Take every value from flags.")
    ] = False,
) -> None:
    """Set up the mailbox, managers and mail servers.

    Asks for the mailbox address, the managers, SMTP and IMAP settings and passwords, the
    public URL and the greeting, then checks IMAP and SMTP live before saving.
    """
    raise _not_built("init", "the set-up wizard arrives with the Telegram relay")


@bot_app.command("add")
def bot_add(
    channel: Annotated[Channel, typer.Argument(help="telegram or viber")],
    name: Annotated[str, typer.Argument(help="A short name: a-z, 0-9, _ and -.")],
    token_stdin: Annotated[
        bool, typer.Option("--token-stdin", help="Read the bot token from standard input.")
    ] = False,
) -> None:
    """Add a bot.

    The token is checked with the platform (getMe / get_account_info), then kept in the
    keyring; config.toml gets the bot's name and channel.
    """
    raise _not_built("bot add", f"adding {channel.value} bots arrives with the relay")


@bot_app.command("list")
def bot_list(json_output: JsonOption = False) -> None:
    """List the configured bots."""
    from . import config, render

    cfg = config.load()
    _report_warnings(cfg)
    for bot in cfg.bots:
        record = {"name": bot.name, "channel": bot.channel, "mode": bot.mode}
        record["api_url"] = bot.api_url
        if json_output:
            render.json_line(record)
        else:
            typer.echo("\t".join(str(v) for v in record.values() if v))
    if not cfg.bots and not json_output:
        _note("no bots yet; add one with: im2mail bot add telegram NAME")


@bot_app.command("remove")
def bot_remove(name: Annotated[str, typer.Argument(help="The bot's name.")]) -> None:
    """Remove a bot and forget its token."""
    raise _not_built("bot remove", "managing bots arrives with the relay")


@webhook_app.command("set")
def webhook_set(
    name: Annotated[
        str | None, typer.Argument(help="One bot; all webhook bots if omitted.")
    ] = None,
) -> None:
    """Register <public_url>/telegram/<name> or /viber/<name> with the platform."""
    raise _not_built("webhook set", "webhooks arrive with the relay")


@webhook_app.command("info")
def webhook_info() -> None:
    """Show what each platform has registered for the bots."""
    raise _not_built("webhook info", "webhooks arrive with the relay")


@webhook_app.command("delete")
def webhook_delete(
    name: Annotated[str | None, typer.Argument(help="One bot; all if omitted.")] = None,
) -> None:
    """Unregister the bots' webhooks."""
    raise _not_built("webhook delete", "webhooks arrive with the relay")


# -- running ------------------------------------------------------------------------------


@app.command()
def run(
    once: Annotated[
        bool, typer.Option("--once", help="Process what is pending, then exit.")
    ] = False,
) -> None:
    """Run the relay in the foreground.

    Runs until SIGTERM or Ctrl-C; logs go to stderr. Checks the config first (exit 3),
    then that every secret is there (exit 4).
    """
    from . import relay

    cfg, _ = relay.preflight()  # config errors (exit 3) before missing secrets (exit 4)
    _report_warnings(cfg)
    raise _not_built(
        "run",
        "config and secrets are in order, but the relay itself arrives with the Telegram relay",
    )


@app.command()
def status() -> None:
    """Show the running relay's state.

    Last activity per bot, outbox backlog, oldest pending delivery, last error.
    """
    raise _not_built("status", "it arrives with the relay")


@app.command()
def doctor() -> None:
    """Check the set-up and say what to fix.

    Config, keyring, IMAP, SMTP, bots, webhooks, the public URL and the archive.
    """
    raise _not_built("doctor", "it arrives with the relay")


@app.command("systemd-unit")
def systemd_unit() -> None:
    """Print a systemd unit for im2mail run.

    Type=notify, LoadCredential= lines for the secrets, restart on failure.
    """
    raise _not_built("systemd-unit", "it arrives with the relay")


@app.command()
def demo() -> None:
    """Show the whole round trip offline.

    Local mail servers, a Telegram double, a scripted customer and manager.
    """
    raise _not_built("demo", "it arrives with manager replies")


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
        int, typer.Option("--lines", "-n", min=0, metavar="N", help="How many to show.")
    ] = 20,
    json_output: JsonOption = False,
) -> None:
    """Show recent messages, both directions.

    With -f, keep printing new ones as the relay archives them (Ctrl-C stops).
    """
    archive = _open_archive(wait=follow)
    if archive is None:
        return
    with archive:
        if conversation is not None:
            archive.conversation(conversation)  # NotFound (exit 5) for an unknown id
        entries = archive.recent(lines, conversation_id=conversation) if lines else []
        show = _entry_printer(json_output)
        for entry in entries:
            show(entry)
        if not follow:
            return
        after = entries[-1].message_id if entries else archive.last_message_id()
        try:
            for entry in archive.follow(after, conversation_id=conversation):
                show(entry)
        except KeyboardInterrupt:
            pass


@app.command()
def conversations(
    waiting: Annotated[
        bool, typer.Option("--waiting", help="Only customers waiting for an answer.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """List conversations.

    Customer, channel, bot, lead source, last message, and how long the customer has
    been waiting for an answer.
    """
    from . import render

    archive = _open_archive()
    if archive is None:
        return
    with archive:
        rows = archive.conversations()
    if waiting:
        rows = [r for r in rows if r.waiting_since]
    if json_output:
        for row in rows:
            render.json_line(row.record())
    elif rows:
        console = render.stdout_console()
        console.print(render.conversations_table(rows, console.width))
    else:
        _note("no conversations yet")


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
        int, typer.Option("--limit", min=1, metavar="N", help="At most this many hits.")
    ] = 20,
    json_output: JsonOption = False,
) -> None:
    """Search messages, customer names and file names.

    All words must match; "quoted words" match as a phrase; word* matches a prefix.
    Newest first.

    Case, ё/е, apostrophe forms (п'ятниця, п’ятниця) and Cyrillic/Latin look-alikes in
    codes (А4/A4) are folded. Without hits nothing is printed and the exit code is 0.
    """
    from . import render
    from .model import SearchQuery
    from .timeutil import parse_when

    q = SearchQuery(
        text=query,
        channel=channel.value if channel else None,
        customer=customer,
        since=parse_when(since) if since else None,
        until=parse_when(until) if until else None,
        limit=limit,
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
    ids: Annotated[list[int] | None, typer.Argument(help="Conversation ids.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every conversation.")] = False,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="mbox or html.")] = (
        ExportFormat.mbox
    ),
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Where to write.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite what is there.")] = False,
) -> None:
    """Export conversations to mbox or HTML.

    mbox for mail clients and notmuch; HTML as self-contained pages.
    """
    raise _not_built("export", "mbox and HTML export come in a later release")


@app.command()
def stats() -> None:
    """Show response times and unanswered customers.

    Per conversation and per manager: first-response time, unanswered now.
    """
    raise _not_built("stats", "it comes with the owner's reports")


@import_app.command("telegram-export")
def import_telegram_export(
    file: Annotated[Path, typer.Argument(help="result.json from Telegram Desktop's export.")],
) -> None:
    """Load a Telegram Desktop chat export (JSON).

    Customers, messages and media go into the archive; safe to repeat.
    """
    raise _not_built("import telegram-export", "it comes with the owner's reports")


@app.command()
def widget() -> None:
    """Print a website snippet that links to the bots.

    Buttons and QR codes for each bot, tagged with a lead source.
    """
    raise _not_built("widget", "it comes with the owner's reports")


@app.command()
def vacuum() -> None:
    """Compact the archive.

    Applies the retention setting for attachment files, then compacts archive.db.
    """
    raise _not_built("vacuum", "it comes with archive maintenance")


@app.command()
def path(json_output: JsonOption = False) -> None:
    """Print where config, archive and files live."""
    from .home import paths

    where = paths()
    rows = {"config": str(where.config), "archive": str(where.archive), "blobs": str(where.blobs)}
    if json_output:
        from . import render

        render.json_line(rows)
        return
    for key, value in rows.items():
        typer.echo(f"{key}\t{value}")


# -- helpers ------------------------------------------------------------------------------


def _report_warnings(cfg) -> None:
    for warning in cfg.warnings:
        _warn(warning)


def _open_archive(wait: bool = False):
    """The archive for reading; if there is none yet, a note on stderr and None, or with
    wait=True, the archive once the relay has created it."""
    import time

    from .archive import Archive
    from .home import paths

    where = paths()
    if not where.archive.exists():
        _note(f"no archive yet at {where.archive}; it is created when the relay first runs")
        if not wait:
            return None
        while not where.archive.exists():
            time.sleep(0.5)
    return Archive.open(where.archive, where.blobs)


def _entry_printer(json_output: bool):
    from . import render

    if json_output:
        return lambda entry: render.json_line(entry.record())
    paint = render.Painter(render.color_wanted())
    return lambda entry: render.write_line(render.entry_line(entry, paint))


def main() -> None:
    """The console script: the one place where errors become messages and exit codes."""
    debug = "--debug" in sys.argv[1:]
    try:
        app(prog_name="im2mail")
    except Im2mailError as error:
        if debug:
            _print_traceback()
        _print_error(error.message, error.hint)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:
        if debug:
            _print_traceback()
        _print_error(
            f"unexpected {type(error).__name__}: {error}",
            "run again with --debug to see where, and please report it",
        )
        sys.exit(1)


def _print_error(message: str, hint: str | None) -> None:
    sys.stderr.write(f"error: {redact(message)}\n")
    if hint:
        sys.stderr.write(f"hint: {redact(hint)}\n")


def _print_traceback() -> None:
    import traceback

    sys.stderr.write(redact("".join(traceback.format_exc())))
