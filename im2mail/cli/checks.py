"""Looking after a running set-up: status (the relay's state, from the archive) and
doctor (every part of the set-up checked, each with its fix)."""

from .common import app, not_built


@app.command()
def status() -> None:
    """Show the running relay's state.

    Last activity per bot, outbox backlog, oldest pending delivery, last error.
    """
    raise not_built("status", "it arrives with the relay")


@app.command()
def doctor() -> None:
    """Check the set-up and say what to fix.

    Config, keyring, IMAP, SMTP, bots, webhooks, the public URL and the archive.
    """
    raise not_built("doctor", "it arrives with the relay")
