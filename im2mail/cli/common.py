"""What every command module shares: the typer apps, common options, small helpers."""

from enum import StrEnum
from typing import Annotated

import typer

from ..channels import CHANNELS

app = typer.Typer(
    name="im2mail",
    help=f"Bridge a shop's messenger bots ({', '.join(s.title for s in CHANNELS.values())}) "
    "to its sales mailbox: customers write "
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
    help="Register the bots' webhooks with their platforms.", no_args_is_help=True
)
import_app = typer.Typer(
    help="Bring history from before im2mail into the archive.", no_args_is_help=True
)
app.add_typer(bot_app, name="bot")
app.add_typer(webhook_app, name="webhook")
app.add_typer(import_app, name="import")

JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]


# Every registered channel, as the commands take it (bot add, search --channel).
Channel = StrEnum("Channel", [(name, name) for name in CHANNELS])


class ExportFormat(StrEnum):
    mbox = "mbox"
    html = "html"


def warn(message: str) -> None:
    typer.echo(f"warning: {message}", err=True)


def note(message: str) -> None:
    typer.echo(message, err=True)


def report_warnings(cfg) -> None:
    for warning in cfg.warnings:
        warn(warning)


def paths():
    from ..home import paths as home_paths

    return home_paths()
