"""History from before im2mail: `import telegram-export`."""

from pathlib import Path
from typing import Annotated

import typer

from .common import import_app, not_built


@import_app.command("telegram-export")
def import_telegram_export(
    file: Annotated[Path, typer.Argument(help="result.json from Telegram Desktop's export.")],
) -> None:
    """Load a Telegram Desktop chat export (JSON).

    Customers, messages and media go into the archive; safe to repeat.
    """
    raise not_built("import telegram-export", "it comes with the owner's reports")
