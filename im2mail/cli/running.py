"""Running the relay: run, systemd-unit, demo (status and doctor: cli/checks.py)."""

from pathlib import Path
from typing import Annotated

import typer

from .common import app, note, report_warnings, warn

# -- running ------------------------------------------------------------------------------


@app.command()
def run(
    ctx: typer.Context,
    once: Annotated[
        bool, typer.Option("--once", help="Process what is pending, then exit.")
    ] = False,
) -> None:
    """Run the relay in the foreground.

    Receives from every bot (Telegram long polling, or webhooks on the built-in HTTP
    server), archives each message and mails it to the managers. Runs until SIGTERM or
    Ctrl-C, then finishes what is in flight; logs go to stderr. Checks the config first
    (exit 3), then that every secret is there (exit 4).
    """
    import asyncio

    from ..relay import loop as relay

    cfg, keys = relay.preflight()  # config errors (exit 3) before missing secrets (exit 4)
    report_warnings(cfg)
    debug = ctx.find_root().params.get("debug", False)
    relay.configure_logging(debug=debug)
    asyncio.run(relay.serve(cfg, keys, once=once))


@app.command("systemd-unit")
def systemd_unit(
    user: Annotated[
        bool,
        typer.Option("--user", help="A unit for your own systemd (systemctl --user), no root."),
    ] = False,
    install: Annotated[
        bool,
        typer.Option(
            "--install",
            help="Write it to /etc/systemd/system (needs root) or, with --user, to "
            "~/.config/systemd/user, and say what to do next.",
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="With --install: replace a different unit.")
    ] = False,
) -> None:
    """Print a systemd unit for im2mail run.

    Type=notify (run tells systemd when it is ready and pings its watchdog), restart on
    failure, sandboxing that leaves the relay its network and its folders, and one
    LoadCredential= line per secret, so a server needs no keyring for run. A system unit
    runs im2mail as you; --user makes one for your own systemd. Reads the config (exit 3),
    not the secrets; creates the data folder if missing, as the unit names it.
    """
    import os

    from .. import config
    from ..channels import CHANNELS
    from ..errors import UsageError
    from ..ops import systemd

    if force and not install:
        raise UsageError(
            "--force goes with --install", hint="im2mail systemd-unit --install --force"
        )
    cfg = config.load(channels=CHANNELS)
    report_warnings(cfg)
    if not user and os.geteuid() == 0:
        warn("the unit runs im2mail as root; a user of its own, with its own config, is safer")
    for folder in [] if user else systemd.writable_dirs():
        folder.mkdir(parents=True, exist_ok=True)
    text = systemd.unit(cfg, user=user)
    if not install:
        typer.echo(text, nl=False)
        return
    path = systemd.install(text, user=user, force=force)
    note(f"wrote {path}\nnext:")
    for number, step in enumerate(systemd.next_steps(cfg, user=user), 1):
        note(f"{number}. {step}")


@app.command()
def demo(
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            help="Keep the demo's config and archive here (an empty or new folder, or an "
            "earlier demo's). Default: a new temporary folder.",
            file_okay=False,
        ),
    ] = None,
    speed: Annotated[
        float,
        typer.Option("--speed", min=0, help="Scale the pauses between steps; 0: no pauses."),
    ] = 1.0,
) -> None:
    """Show the whole round trip on this machine, with nothing configured.

    Starts local IMAP and SMTP servers and a Telegram double on loopback and the relay
    (im2mail run) in its own home; a scripted customer writes to the bot, a scripted
    manager answers by email, and each hop is shown as it happens. Your config and
    keyring are not touched. The archive stays in the demo home for search and tail.
    """
    import asyncio
    import sys

    from rich.console import Console

    from ..ops.demo import run
    from ..ops.demo_script import Show
    from ..ops.demo_stage import prepare_home
    from .render import color_wanted

    console = Console(
        stderr=True, highlight=False, soft_wrap=True, no_color=not color_wanted(sys.stderr)
    )
    where = prepare_home(home)
    asyncio.run(run(where, speed, Show(console)))
