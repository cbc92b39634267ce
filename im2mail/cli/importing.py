"""History from before im2mail: `import telegram-export`."""

from pathlib import Path
from typing import Annotated

import typer

from .common import import_app, note, paths


@import_app.command("telegram-export")
def import_telegram_export(
    file: Annotated[
        Path,
        typer.Argument(
            help="result.json from Telegram Desktop's export (or the folder holding it)."
        ),
    ],
) -> None:
    """Load a Telegram Desktop chat export (JSON) into the archive.

    Export one chat (⋮ → Export chat history) or the whole account (Settings → Advanced →
    Export Telegram data), with Format: JSON. Each one-to-one chat becomes a customer
    with a conversation under the bot name "telegram-export", found by search, export
    and stats; photos and files come along when the export includes them. Groups,
    channels and service messages are left out. Nothing is emailed. Safe to repeat:
    messages already imported are not added again.
    """
    from ..archive import Archive
    from ..errors import UsageError
    from ..importing.telegram_import import import_export

    if file.is_dir():
        file = file / "result.json"
    if not file.is_file():
        raise UsageError(
            f"no file at {file}",
            hint="give the result.json that Telegram Desktop wrote (Format: JSON)",
        )
    where = paths()
    with Archive.open(where.archive, where.blobs) as archive, _bytes_bar(file) as progress:
        result = import_export(archive, file, progress)
    note(
        f"imported {result.added} message(s) from {len(result.chats)} chat(s)"
        + (f"; {result.already} were already in the archive" if result.already else "")
    )
    if result.files or result.left_out or result.missing:
        note(
            f"files: {result.files} stored"
            + (f", {result.left_out} not included in the export" if result.left_out else "")
            + (f", {result.missing} missing from its folder or too big" if result.missing else "")
        )
    left = result.skipped
    if left.chats:
        kinds = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in sorted(left.chats.items()))
        note(f"left out {sum(left.chats.values())} chat(s) that are not with a person: {kinds}")
    if left.service or left.unreadable:
        unreadable = f" and {left.unreadable} without an id or a date" if left.unreadable else ""
        note(f"left out {left.service} service message(s) (calls, pins){unreadable}")
    if not result.chats:
        note("no one-to-one chat with a person in this export: nothing to import")


def _bytes_bar(file: Path):
    """A context giving `progress(bytes read)`: a rich bar on stderr when it is a terminal."""
    import contextlib
    import sys

    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    @contextlib.contextmanager
    def bar():
        if not sys.stderr.isatty():
            yield lambda n: None
            return
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        ) as progress:
            task = progress.add_task("importing", total=file.stat().st_size)
            yield lambda n: progress.update(task, completed=n)

    return bar()
