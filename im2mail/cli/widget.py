"""For the shop's website and flyers: `widget`."""

from pathlib import Path
from typing import Annotated

import typer

from .common import app, note

DEFAULT_FOLDER = Path("im2mail-widget")


@app.command()
def widget(
    source: Annotated[
        str,
        typer.Option(
            "--source",
            metavar="TAG",
            help="Lead source tag carried by every link: 1-64 of A-Z a-z 0-9 _ -.",
        ),
    ] = "site",
    bots: Annotated[
        list[str] | None,
        typer.Option(
            "--bot", metavar="NAME", help="Only this bot (repeat for more; default: all)."
        ),
    ] = None,
    output: Annotated[
        Path,
        typer.Option("-o", "--output", metavar="DIR", help="The folder to write into."),
    ] = DEFAULT_FOLDER,
    force: Annotated[
        bool, typer.Option("--force", help="Replace widget files already in the folder.")
    ] = False,
    print_snippet: Annotated[
        bool, typer.Option("--print", help="Print the HTML snippet on stdout as well.")
    ] = False,
) -> None:
    """Write website buttons and QR codes that open the bots, tagged with a lead source.

    Each bot is asked live for its public name and gets a link that carries the tag:
    https://t.me/BOT?start=TAG (Telegram), viber://pa?chatURI=URI&context=TAG (Viber).
    A customer who comes in through it is counted under that source in 'im2mail stats',
    so give each page, flyer or shop window its own tag: --source flyer-may.

    Written into DIR: widget.html (the snippet to paste into a page: a button and an
    inline QR code per bot; inline styles, no script, nothing loaded from elsewhere),
    preview.html (a page around it, to look at in a browser) and NAME.png and NAME.svg,
    each bot's QR code for print. Files already there are replaced only with --force.
    """
    from ..ops import bots as bot_admin
    from ..ops import widget as core

    core.check_source(source)  # before any bot is asked
    bot_links = core.links(bot_admin.identify(bots or None), source)
    written = core.write(output, bot_links, source, force=force)
    note(f"wrote {len(written)} file(s) to {written[0].parent} (lead source '{source}'):")
    for path in written:
        note(f"  {path.name}")
    for link in bot_links:
        note(f"{link.bot}: {link.url}")
    if print_snippet:
        typer.echo(core.snippet(bot_links), nl=False)
