"""`im2mail export`: the target checked (never overwritten without --force), the
conversations selected, and the mbox file or HTML folder written beside the target
first, then moved onto it, so a failed export leaves nothing half-written behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..archive import Archive
from ..errors import RuntimeFailure, UsageError
from . import html, mbox
from .select import Progress, Selection, select


@dataclass(frozen=True)
class Exported:
    path: Path
    conversations: int
    messages: int


def export(
    archive: Archive,
    ids: Sequence[int] | None,
    fmt: str,
    output: Path,
    *,
    force: bool = False,
    started: Callable[[Selection], Progress] = lambda selection: lambda n: None,
    versions: bool = False,
) -> Exported:
    """Export conversations `ids` (None: all) as "mbox" (a file) or "html" (a folder) to
    `output`. `started(selection)` is called once the work is known and returns the
    progress callback (for a progress bar). `versions`: the earlier texts of edited
    messages are written too (the HTML pages have them behind a click anyway)."""
    if fmt not in ("mbox", "html"):
        raise UsageError(f"unknown export format '{fmt}'", hint="use --format mbox or html")
    folder = fmt == "html"
    target = check_target(output, folder=folder, force=force)
    selection = select(archive, ids)
    progress = started(selection)
    with staged(target, folder=folder) as temp:
        writer = html if folder else mbox
        count = writer.write(archive, selection, temp, progress, versions=versions)
    return Exported(target, len(selection.conversations), count)


# -- writing safely --------------------------------------------------------------------------


def check_target(path: Path, *, folder: bool, force: bool) -> Path:
    """The absolute target, after refusing to overwrite without force (UsageError, exit 2)
    and checking that its parent folder exists."""
    path = path.expanduser().absolute()
    if path.exists() and not force:
        what = "folder" if path.is_dir() else "file"
        if not (folder and path.is_dir() and not any(path.iterdir())):
            raise UsageError(
                f"{path} exists: not overwriting this {what}",
                hint="add --force to replace it, or choose another path with -o",
            )
    if path.exists() and folder != path.is_dir():
        kind = "a folder" if folder else "a file"
        raise UsageError(f"{path} exists and is not {kind}", hint="choose another path with -o")
    if not path.parent.is_dir():
        raise RuntimeFailure(
            f"cannot write {path}: the folder {path.parent} does not exist",
            hint="create it first, or choose another path with -o",
        )
    return path


@contextlib.contextmanager
def staged(target: Path, *, folder: bool) -> Iterator[Path]:
    """A temporary file or folder beside `target`, moved onto it when the block succeeds
    and removed when it fails."""
    try:
        if folder:
            temp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        else:
            fd, name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
            os.close(fd)
            temp = Path(name)
    except OSError as e:
        raise _unwritable(target, e) from None
    try:
        yield temp
        if folder and target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        temp.replace(target)  # private, like the archive: mkstemp/mkdtemp made it 0600/0700
    except OSError as e:
        _remove(temp)
        raise _unwritable(target, e) from None
    except BaseException:
        _remove(temp)
        raise


def _unwritable(target: Path, e: OSError) -> RuntimeFailure:
    return RuntimeFailure(
        f"cannot write {target}: {e.strerror or e}",
        hint="check the path, its permissions and the free disk space",
    )


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        shutil.rmtree(path) if path.is_dir() else path.unlink()
