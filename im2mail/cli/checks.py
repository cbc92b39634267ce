"""Looking after a running set-up: status (the relay's state, from the archive) and
doctor (every part of the set-up checked, each with its fix)."""

from typing import Annotated

import typer

from .common import JsonOption, app, note, paths, report_warnings

MARKS = {"ok": "✓", "warning": "!", "failed": "✗", "skipped": "–"}


@app.command()
def status(
    json_output: Annotated[
        bool, typer.Option("--json", help="The state as one JSON object.")
    ] = False,
) -> None:
    """Show the running relay's state.

    From the archive: last activity per bot, outbox backlog, oldest pending delivery,
    failures of the last 24 hours and the last error, the accounts connected to the bots
    (Telegram Business) with their last change; and whether the relay answers on
    relay.listen. Exits 0, also when there is no archive yet.
    """
    from .. import config
    from ..channels import CHANNELS
    from ..ops import status as core
    from . import render

    cfg = config.load(channels=CHANNELS)
    report_warnings(cfg)
    state = core.read(cfg, paths())
    if json_output:
        render.json_line(state.record())
    else:
        _show_status(state, render.Painter(render.color_wanted()))
    if not state.archive_exists:
        note(f"no archive yet at {state.archive}: im2mail run creates it")


def _show_status(state, paint) -> None:
    from datetime import UTC, datetime

    from ..channels import title
    from ..ops.status import counted
    from ..timeutil import age, local
    from . import render

    now = state.now or datetime.now(UTC)

    def when(moment) -> str:
        return f"{local(moment)} ({age(now - moment)} ago)"

    relay = state.relay or "not asked"
    rows = [("relay", f"{relay} (http://{state.listen})")]
    for bot in state.bots if state.archive_exists else ():
        parts = [
            title(bot.channel),
            counted(bot.conversations, "conversation"),
        ]
        if bot.last_in:
            parts.append(
                f"last in {when(bot.last_in)} from {render.safe(bot.last_in_customer or '')}"
            )
        if bot.last_out:
            parts.append(f"last out {when(bot.last_out)}")
        rows.append((f"bot {bot.name}", "; ".join(parts)))
    if state.archive_exists:
        pending = (
            f"{counted(state.pending_mail, 'email')} and "
            f"{counted(state.pending_channel, 'chat message')} pending"
        )
        if state.oldest_pending:
            pending += f", the oldest for {age(now - state.oldest_pending)}"
        rows.append(("outbox", f"{pending}; {state.failed_24h} failed in the last 24 h"))
        if state.last_error:
            error = state.last_error
            target = "email" if error.target == "mail" else "chat message"
            rows.append(("last error", f"{target}, {error.state}: {render.safe(error.text)}"))
        for f in state.flooding:
            rows.append(("flood", f"#{f.conversation} {render.safe(f.customer)}: "
                         f"{counted(f.messages, 'message')} since {local(f.since)} in a digest "
                         f"due {local(f.due)}"))  # fmt: skip
        for b in state.blocked:
            since = f", since {local(b.since)}" if b.since else ""
            who = f"#{b.conversation} {render.safe(b.customer)}, by {render.safe(b.by)}"
            rows.append(("blocked", f"{who}{since} (im2mail unblock {b.conversation})"))
        for c in state.connections:
            last = f"; {render.safe(c.change)} {when(c.changed)}" if c.changed else ""
            rows.append(("business", f"bot {c.bot}: {render.connection(c)}{last}"))
    width = max(len(label) for label, _ in rows)
    for label, text in rows:
        render.write_line(f"{paint(label.ljust(width), 'bold')}  {text}")


@app.command()
def doctor(json_output: JsonOption = False) -> None:
    """Check the set-up and say what to fix.

    Config, keyring, secrets, IMAP (login, IDLE, MOVE, folders), SMTP, each bot's token
    and webhook, the public URL, the archive's integrity and the outbox backlog. One line
    each: ✓ passed, ! passed with a warning, ✗ failed (with the fix), – skipped. Exits 0
    when nothing failed, else 1.
    """
    from ..ops import doctor as core
    from . import render

    checks = core.run(paths())
    paint = render.Painter(render.color_wanted())
    for check in checks:
        if json_output:
            render.json_line(check.record())
            continue
        render.write_line(_check_line(check, paint))
        if check.fix and check.status in ("failed", "warning"):
            render.write_line(f"  fix: {render.safe(check.fix)}")
    raise typer.Exit(0 if core.all_passed(checks) else 1)


def _check_line(check, paint) -> str:
    from . import render

    mark = MARKS[check.status]
    detail = render.safe(check.detail)
    if check.status == "skipped":
        return paint(f"{mark} {check.name}: skipped ({detail})", "dim")
    if check.status == "ok":
        return f"{mark} {check.name}: {detail}"
    return f"{paint(f'{mark} {check.name}', 'bold')}: {detail}"
