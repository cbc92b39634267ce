"""Set-up commands: init, bot, webhook."""

import inspect
import sys
from enum import StrEnum
from typing import Annotated

import typer

from ..channels import CHANNELS
from .common import (
    Channel,
    JsonOption,
    app,
    bot_app,
    note,
    paths,
    report_warnings,
    warn,
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
    authserv_id: Annotated[
        str | None,
        _opt(
            "--authserv-id",
            'Your mail server\'s Authentication-Results id, vouching for replies ("-": none).',
            "ID",
        ),
    ] = None,
    no_check: Annotated[
        bool, _opt("--no-check", "Save without checking the servers (not recommended).")
    ] = False,
) -> None:
    """Set up the mailbox, managers and mail servers.

    Asks for the mailbox address, the managers, SMTP and IMAP settings and passwords, the
    public URL and the greeting, and the id of the mail server whose Authentication-Results
    vouch for replies (read from recent mail in the mailbox), then checks IMAP and SMTP
    live before saving. Running it again edits the existing set-up; bots are kept.
    """
    from .. import secrets
    from ..errors import UsageError
    from ..ops import init_wizard as wizard

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
        authserv_id="" if authserv_id is not None and authserv_id.strip() == "-" else authserv_id,
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
        from ..ops import ask

        ask.answers(answers)
        smtp_pw = ask.password("SMTP", bool(stored[secrets.SMTP])) or None
        imap_pw = ask.password("IMAP", bool(stored[secrets.IMAP])) or None
    imap_password = imap_pw or stored[secrets.IMAP] or ""
    found = None if no_check else wizard.detect_authserv_id(answers, previous, imap_password)
    suggested = found.suggested if found else None
    if not non_interactive:
        from ..ops import ask

        ask.authserv_id(answers, suggested)
    elif authserv_id is None and not answers.authserv_id and suggested:
        note(
            f"recent mail carries Authentication-Results from {suggested}: add "
            f"--authserv-id {suggested} so that only replies it vouches for reach customers"
        )
    elif answers.authserv_id and found and found.emails and not found.vouched:
        warn(
            f"none of the last {found.emails} emails carries Authentication-Results from "
            f"{answers.authserv_id}, so every reply would be refused"
            + (f"; recent mail has {suggested}" if suggested else "")
        )
    cfg = wizard.save(
        answers,
        previous,
        smtp_pw or stored[secrets.SMTP] or "",
        imap_password,
        check=not no_check,
        progress=note,
    )
    report_warnings(cfg)
    note(f"saved {paths().config}")
    if not cfg.bots:
        note(f"next: add the shop's bot with: im2mail bot add {FIRST_CHANNEL} NAME")


def _stored_secret(name: str) -> str | None:
    from .. import secrets
    from ..errors import SecretError

    try:
        return secrets.get(name)
    except SecretError:
        return None


FIRST_CHANNEL = next(iter(CHANNELS))  # the one the hints suggest
# The channels whose token goes with an app secret (Meta's): bot add reads both.
_WITH_APP_SECRET = ", ".join(s.title for s in CHANNELS.values() if s.credentials)


def _either(words: list[str]) -> str:
    return " or ".join([", ".join(words[:-1]), words[-1]] if len(words) > 1 else words)


# How bots may receive, as the registry's channels offer it (polling, webhook).
_MODES = dict.fromkeys(mode for s in CHANNELS.values() for mode in s.modes)
Mode = StrEnum("Mode", [(mode, mode) for mode in _MODES])
_MODE_HELP = "; ".join(f"{s.title}: {s.modes[0]} (the default) or {_either(list(s.modes[1:]))}"
                       for s in CHANNELS.values() if len(s.modes) > 1)  # fmt: skip


def _with_channel_keys(command):
    """`bot add` takes each [[bots]] key a channel declares with a flag (its spec's
    BotKey.flag: WhatsApp's --phone-number-id) as an option of its own, after
    --token-stdin; the command gets them in `keys`. So a new channel's key needs no
    change here."""
    flagged = {key.key: (s.title, key) for s in CHANNELS.values() for key in s.keys if key.flag}
    options = [
        inspect.Parameter(
            name,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            default=None,
            annotation=Annotated[str | None, _opt(key.flag, f"{title}: {key.help}.", key.metavar)],
        )
        for name, (title, key) in flagged.items()
    ]
    params = [p for p in inspect.signature(command).parameters.values() if p.name != "keys"]
    at = [p.name for p in params].index("token_stdin") + 1
    command.__signature__ = inspect.Signature([*params[:at], *options, *params[at:]])
    return command


@bot_app.command("add")
@_with_channel_keys
def bot_add(
    channel: Annotated[Channel, typer.Argument(help=_either(list(CHANNELS)))],
    name: Annotated[str, typer.Argument(help="A short name: a-z, 0-9, _ and -.")],
    token_stdin: Annotated[
        bool,
        typer.Option(
            "--token-stdin",
            help="Read the bot token from standard input "
            f"({_WITH_APP_SECRET}: the token on the first line, the app secret on the second).",
        ),
    ] = False,
    mode: Annotated[
        Mode | None, typer.Option("--mode", help=f"{_MODE_HELP}.", show_default=False)
    ] = None,
    api_url: Annotated[
        str | None,
        _opt(
            "--api-url", "The platform's API root (a local Bot API server, a test double).", "URL"
        ),
    ] = None,
    **keys: str | None,
) -> None:
    """Add a bot.

    The token is checked with the platform (getMe / get_account_info / a Graph API call),
    then kept in the keyring; config.toml gets the bot's name and channel. Without
    --token-stdin the token is asked for, hidden, on the terminal. Messenger and WhatsApp
    also need the Meta app's secret (App settings → Basic), which checks their webhooks,
    and WhatsApp the number's id (--phone-number-id).
    """
    from ..channels import spec
    from ..ops import bots

    about = spec(channel.value)
    mode_name = mode.value if mode else None
    extra = bots.channel_keys(channel.value, keys)
    bots.check_new_bot(name, channel.value, mode=mode_name, api_url=api_url, extra=extra)
    with_secret = about.credentials is not None
    token, app_secret = _read_token(channel.value, name, token_stdin, app_secret=with_secret)
    note(f"checking the token with {about.title} …")
    info = bots.add_bot(name, channel.value, token, mode=mode_name, api_url=api_url,
                        extra=extra, app_secret=app_secret)  # fmt: skip
    note(f"added bot {name} ({about.shown(info.username, info.name)}, {about.title})")
    if about.dashboard:
        note(f"next: im2mail webhook set {name}  (it shows what to paste into "
             f"{about.dashboard.owner}'s dashboard)")  # fmt: skip
    elif about.webhook_called_when_set:
        # The platform checks a webhook by calling it at once: only a running relay answers.
        note(f"next: im2mail run  (it registers the webhook with {about.title} and receives "
             "on it)")  # fmt: skip
    elif (mode_name or about.default_mode) == "webhook":
        note(f"next: im2mail webhook set {name}  (im2mail run also registers it)")
    else:
        note("next: im2mail run")


def _read_token(
    channel: str, name: str, from_stdin: bool, app_secret: bool = False
) -> tuple[str, str | None]:
    """The token, and for Meta's channels the app secret too."""
    from ..errors import UsageError

    if from_stdin:
        token = sys.stdin.readline().strip()
        if not token:
            raise UsageError(
                "no token on standard input", hint="give the token as the first line of input"
            )
        if not app_secret:
            return token, None
        secret = sys.stdin.readline().strip()
        if not secret:
            raise UsageError(
                "no app secret on standard input",
                hint="give the token on the first line and the app secret on the second",
            )
        return token, secret
    if not sys.stdin.isatty():
        raise UsageError(
            "bot add asks for the token, but standard input is not a terminal",
            hint=f"run it in a terminal, or pipe the token in: im2mail bot add {channel} "
            f"{name} --token-stdin",
        )
    from rich.console import Console
    from rich.prompt import Prompt

    console = Console(stderr=True, highlight=False)
    token = Prompt.ask("Bot token (typing is hidden)", password=True, console=console)
    if not app_secret:
        return token, None
    secret = Prompt.ask("App secret (typing is hidden)", password=True, console=console)
    return token, secret


@bot_app.command("list")
def bot_list(json_output: JsonOption = False) -> None:
    """List the configured bots.

    With each, the accounts connected to it (Telegram Business: a person's own account
    whose chats the bot relays), as the relay last heard from Telegram.
    """
    from .. import config
    from ..ops.status import connection_record, connections
    from . import render

    cfg = config.load(channels=CHANNELS)
    report_warnings(cfg)
    connected = connections(paths())
    for bot in cfg.bots:
        record: dict = {"name": bot.name, "channel": bot.channel, "mode": bot.mode}
        record["api_url"] = bot.api_url
        accounts = [c for c in connected if c.bot == bot.name]
        if json_output:
            record["business_connections"] = [connection_record(c) for c in accounts]
            render.json_line(record)
            continue
        typer.echo("\t".join(str(v) for v in record.values() if v))
        for c in accounts:
            typer.echo(f"  business: {render.connection(c)}")
    if not cfg.bots and not json_output:
        note(f"no bots yet; add one with: im2mail bot add {FIRST_CHANNEL} NAME")


@bot_app.command("remove")
def bot_remove(name: Annotated[str, typer.Argument(help="The bot's name.")]) -> None:
    """Remove a bot and forget its token.

    A webhook-mode bot's webhook is deleted first, if the platform can be reached.
    """
    from ..ops import bots

    for warning in bots.remove_bot(name):
        warn(warning)
    note(f"removed bot {name}")


@webhook_app.command("set")
def webhook_set(
    name: Annotated[
        str | None, typer.Argument(help="One bot; all webhook bots if omitted.")
    ] = None,
) -> None:
    """Register <public_url>/<channel>/<name> with the platform.

    The secret is derived from the signing key, so setting it again changes nothing.
    Viber calls the URL while registering it, so for a Viber bot the relay must be
    running and reachable there (im2mail run registers it by itself). Messenger and
    WhatsApp webhooks are entered in Meta's dashboard: this prints the callback URL and
    the verify token to paste there (and subscribes a Messenger Page to the app).
    """
    from ..channels import spec
    from ..ops import bots

    targets = bots.set_webhooks(name)
    for bot, url in targets:
        dashboard = spec(bot.channel).dashboard
        if dashboard is None:
            note(f"bot {bot.name}: webhook set to {url}")
            continue
        note(f"bot {bot.name}: {dashboard.owner} has no API for this; in {dashboard.where}, "
             "enter")  # fmt: skip
        typer.echo(f"  Callback URL:  {url}")
        typer.echo(f"  Verify token:  {bots.verify_token(bot.name)}")
        note(f"  and subscribe to: {dashboard.fields}. {dashboard.owner} checks the URL when "
             "you save, so im2mail run must be running and reachable there.")  # fmt: skip
    if not targets:
        note('no bot has mode = "webhook"; polling bots need no webhook')


@webhook_app.command("info")
def webhook_info(json_output: JsonOption = False) -> None:
    """Show what each platform has registered for the bots.

    One line per bot: name, webhook URL or (none), pending updates, last error. Meta
    does not tell what its dashboard holds: for Messenger and WhatsApp bots the line
    shows what to enter there (the callback URL and the verify token).
    """
    from .. import config
    from ..channels import spec, webhook_url
    from ..ops import bots
    from . import render

    rows = bots.webhook_info()
    public_url = config.load(channels=CHANNELS).relay.public_url or "" if rows else ""
    for bot, info in rows:
        error_at = info.last_error_at.isoformat() if info.last_error_at else None
        meta, dashboard = {}, spec(bot.channel).dashboard
        if dashboard is not None:
            meta = {"callback_url": webhook_url(public_url, bot.channel, bot.name),
                    "verify_token": bots.verify_token(bot.name)}  # fmt: skip
        if json_output:
            render.json_line(
                {
                    "bot": bot.name,
                    "channel": bot.channel,
                    "mode": bot.mode,
                    "url": info.url or None,
                    "pending": info.pending,
                    "last_error": info.last_error,
                    "last_error_at": error_at,
                    **meta,
                }
            )
            continue
        error = " ".join(filter(None, [error_at, info.last_error])) if info.last_error else ""
        pending = "?" if info.pending is None else str(info.pending)
        url = info.url or "(none)"
        if dashboard is not None:
            url = (f"(in {dashboard.owner}'s dashboard) callback URL {meta['callback_url']}, "
                   f"verify token {meta['verify_token']}")  # fmt: skip
        fields = [bot.name, url, pending, error]
        render.write_line("\t".join(render.safe(f) for f in fields).rstrip("\t"))
    if not rows and not json_output:
        note(f"no bots yet; add one with: im2mail bot add {FIRST_CHANNEL} NAME")


@webhook_app.command("delete")
def webhook_delete(
    name: Annotated[str | None, typer.Argument(help="One bot; all if omitted.")] = None,
) -> None:
    """Unregister the bots' webhooks.

    Also what to do when polling fails because a webhook is still set.
    """
    from ..ops import bots

    for bot in bots.delete_webhooks(name):
        note(f"bot {bot.name}: webhook deleted")
