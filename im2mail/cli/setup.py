"""Set-up commands: init, bot, webhook."""

import sys
from typing import Annotated

import typer

from .common import (
    Channel,
    JsonOption,
    app,
    bot_app,
    not_built,
    note,
    paths,
    report_warnings,
    webhook_app,
)

# -- set-up -------------------------------------------------------------------------------


def _opt(flag: str, help_: str, metavar: str | None = None):
    return typer.Option(flag, help=help_, metavar=metavar, show_default=False)


@app.command()
def init(
    non_interactive: Annotated[
        bool, typer.Option("--non-interactive", help="Ask nothing; take values from flags.")
    ] = False,
    address: Annotated[str | None, _opt("--address", "The sales mailbox.", "EMAIL")] = None,
    manager: Annotated[
        list[str] | None, _opt("--manager", "A manager's address (repeat the flag).", "EMAIL")
    ] = None,
    smtp_host: Annotated[str | None, _opt("--smtp-host", "SMTP server.", "HOST")] = None,
    smtp_port: Annotated[int | None, _opt("--smtp-port", "SMTP port.", "PORT")] = None,
    smtp_security: Annotated[
        str | None, _opt("--smtp-security", "starttls, tls or none.", "MODE")
    ] = None,
    smtp_username: Annotated[str | None, _opt("--smtp-username", "SMTP login.", "USER")] = None,
    smtp_password_stdin: Annotated[
        bool, _opt("--smtp-password-stdin", "Read the SMTP password from stdin (1st line).")
    ] = False,
    imap_host: Annotated[str | None, _opt("--imap-host", "IMAP server.", "HOST")] = None,
    imap_port: Annotated[int | None, _opt("--imap-port", "IMAP port.", "PORT")] = None,
    imap_security: Annotated[
        str | None, _opt("--imap-security", "tls, starttls or none.", "MODE")
    ] = None,
    imap_username: Annotated[str | None, _opt("--imap-username", "IMAP login.", "USER")] = None,
    imap_folder: Annotated[str | None, _opt("--imap-folder", "Folder to watch.", "NAME")] = None,
    processed_folder: Annotated[
        str | None, _opt("--processed-folder", 'Where handled replies go ("" keeps them).', "NAME")
    ] = None,
    imap_password_stdin: Annotated[
        bool,
        _opt("--imap-password-stdin", "Read the IMAP password from stdin (next line; none: same)."),
    ] = False,
    public_url: Annotated[
        str | None, _opt("--public-url", "HTTPS address that reaches this machine.", "URL")
    ] = None,
    listen: Annotated[
        str | None, _opt("--listen", "host:port for the HTTP server.", "ADDR")
    ] = None,
    greeting: Annotated[str | None, _opt("--greeting", "Sent to new customers.", "TEXT")] = None,
    no_check: Annotated[
        bool, _opt("--no-check", "Save without checking the servers (not recommended).")
    ] = False,
) -> None:
    """Set up the mailbox, managers and mail servers.

    Asks for the mailbox address, the managers, SMTP and IMAP settings and passwords, the
    public URL and the greeting, then checks IMAP and SMTP live before saving. Running it
    again edits the existing set-up; bots are kept.
    """
    from .. import secrets, wizard
    from ..errors import UsageError

    answers, previous = wizard.existing()
    answers.update(
        address=address,
        managers=manager or None,
        smtp_host=smtp_host,
        smtp_port=smtp_port,
        smtp_security=smtp_security,
        smtp_username=smtp_username,
        imap_host=imap_host,
        imap_port=imap_port,
        imap_security=imap_security,
        imap_username=imap_username,
        imap_folder=imap_folder,
        processed_folder=processed_folder,
        public_url=public_url,
        listen=listen,
        greeting=greeting,
    )
    stored = {name: _stored_secret(name) for name in (secrets.SMTP, secrets.IMAP)}
    if non_interactive:
        answers.guess_from_address()
        lines = sys.stdin.read().splitlines() if smtp_password_stdin or imap_password_stdin else []
        smtp_pw = lines[0] if smtp_password_stdin and lines else None
        imap_pw = (lines[1:2] or lines[:1])[0] if imap_password_stdin and lines else None
    else:
        if not sys.stdin.isatty():
            raise UsageError(
                "init asks questions, but standard input is not a terminal",
                hint="run it in a terminal, or use --non-interactive with flags",
            )
        from .. import ask

        ask.answers(answers)
        smtp_pw = ask.password("SMTP", bool(stored[secrets.SMTP])) or None
        imap_pw = ask.password("IMAP", bool(stored[secrets.IMAP])) or None
    cfg = wizard.save(
        answers,
        previous,
        smtp_pw or stored[secrets.SMTP] or "",
        imap_pw or stored[secrets.IMAP] or "",
        check=not no_check,
        progress=note,
    )
    report_warnings(cfg)
    note(f"saved {paths().config}")
    if not cfg.bots:
        note("next: add the shop's bot with: im2mail bot add telegram NAME")


def _stored_secret(name: str) -> str | None:
    from .. import secrets
    from ..errors import SecretError

    try:
        return secrets.get(name)
    except SecretError:
        return None


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
    raise not_built("bot add", f"adding {channel.value} bots arrives with the relay")


@bot_app.command("list")
def bot_list(json_output: JsonOption = False) -> None:
    """List the configured bots."""
    from .. import config, render

    cfg = config.load()
    report_warnings(cfg)
    for bot in cfg.bots:
        record = {"name": bot.name, "channel": bot.channel, "mode": bot.mode}
        record["api_url"] = bot.api_url
        if json_output:
            render.json_line(record)
        else:
            typer.echo("\t".join(str(v) for v in record.values() if v))
    if not cfg.bots and not json_output:
        note("no bots yet; add one with: im2mail bot add telegram NAME")


@bot_app.command("remove")
def bot_remove(name: Annotated[str, typer.Argument(help="The bot's name.")]) -> None:
    """Remove a bot and forget its token."""
    raise not_built("bot remove", "managing bots arrives with the relay")


@webhook_app.command("set")
def webhook_set(
    name: Annotated[
        str | None, typer.Argument(help="One bot; all webhook bots if omitted.")
    ] = None,
) -> None:
    """Register <public_url>/telegram/<name> or /viber/<name> with the platform."""
    raise not_built("webhook set", "webhooks arrive with the relay")


@webhook_app.command("info")
def webhook_info() -> None:
    """Show what each platform has registered for the bots."""
    raise not_built("webhook info", "webhooks arrive with the relay")


@webhook_app.command("delete")
def webhook_delete(
    name: Annotated[str | None, typer.Argument(help="One bot; all if omitted.")] = None,
) -> None:
    """Unregister the bots' webhooks."""
    raise not_built("webhook delete", "webhooks arrive with the relay")
