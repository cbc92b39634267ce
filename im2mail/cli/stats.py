"""The owner's figures: `stats`."""

from .common import app, not_built


@app.command()
def stats() -> None:
    """Show response times and unanswered customers.

    Per conversation and per manager: first-response time, unanswered now.
    """
    raise not_built("stats", "it comes with the owner's reports")
