"""The questions `im2mail init` asks on a terminal (rich prompts). Talk goes to stderr,
so nothing here ends up in a pipe that expects data."""

from __future__ import annotations

from ..config import SECURITY_MODES
from .init_wizard import Answers

SECURITY_PORTS = {("smtp", "starttls"): 587, ("smtp", "tls"): 465, ("imap", "tls"): 993}


def _console():
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def answers(a: Answers) -> None:
    """Ask every question, offering what is known as the default."""
    from rich.prompt import IntPrompt, Prompt

    console = _console()
    console.print("[bold]im2mail set-up[/] — Enter keeps the value in brackets.\n")
    a.address = Prompt.ask("Sales mailbox address", default=a.address or None, console=console)
    a.guess_from_address()
    managers = Prompt.ask(
        "Managers' addresses (comma-separated)",
        default=", ".join(a.managers) or None,
        console=console,
    )
    a.managers = [m.strip() for m in managers.split(",") if m.strip()]
    for server in ("smtp", "imap"):
        title = server.upper()
        setattr(
            a,
            f"{server}_host",
            Prompt.ask(f"{title} server", default=getattr(a, f"{server}_host"), console=console),
        )
        security = Prompt.ask(
            f"{title} security",
            choices=list(SECURITY_MODES),
            default=getattr(a, f"{server}_security"),
            console=console,
        )
        setattr(a, f"{server}_security", security)
        port = SECURITY_PORTS.get((server, security), getattr(a, f"{server}_port"))
        setattr(a, f"{server}_port", IntPrompt.ask(f"{title} port", default=port, console=console))
        setattr(
            a,
            f"{server}_username",
            Prompt.ask(
                f"{title} username", default=getattr(a, f"{server}_username"), console=console
            ),
        )
    a.public_url = Prompt.ask(
        "Public HTTPS address of this machine (Enter to skip; needed for webhooks and links)",
        default=a.public_url or "",
        show_default=bool(a.public_url),
        console=console,
    )
    a.greeting = Prompt.ask(
        "Greeting for new customers (Enter for none)",
        default=a.greeting or "",
        show_default=bool(a.greeting),
        console=console,
    )


def authserv_id(a: Answers, suggested: str | None) -> None:
    """The receiving server's authserv-id, offering what recent mail showed."""
    from rich.prompt import Prompt

    console = _console()
    found = f"in your recent mail is [bold]{suggested}[/]" if suggested else "was not found"
    console.print(
        "\nReplies are trusted only when your mail server vouches for their sender in its "
        f"Authentication-Results header. Its id {found}."
    )
    current = a.authserv_id or suggested or ""
    answer = Prompt.ask(
        'Authentication-Results id of your mail server ("-" for none: senders not checked)',
        default=current or "-",
        console=console,
    )
    a.authserv_id = "" if answer.strip() in ("", "-") else answer.strip()


def password(label: str, stored: bool) -> str:
    """A password; with one stored already, Enter keeps it (returns "")."""
    from rich.prompt import Prompt

    hint = " (Enter keeps the stored one)" if stored else ""
    return Prompt.ask(
        f"{label} password{hint}",
        password=True,
        default="" if stored else None,
        show_default=False,
        console=_console(),
    )
