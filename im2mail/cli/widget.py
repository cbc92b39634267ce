"""For the shop's website and flyers: `widget`."""

from .common import app, not_built


@app.command()
def widget() -> None:
    """Print a website snippet that links to the bots.

    Buttons and QR codes for each bot, tagged with a lead source.
    """
    raise not_built("widget", "it comes with the owner's reports")
