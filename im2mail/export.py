"""`im2mail export`: conversations out of the archive, as mbox (export_mbox.py) or as HTML
pages (export_html.py).

Both read the archive as a stream, conversation by conversation and message by message,
so memory stays flat however big the archive is. Output goes to a temporary name beside
the target and is renamed into place at the end: an export that fails or is interrupted
leaves nothing half-written, and an existing file or folder is replaced only with force.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import rows
from .archive import Archive
from .errors import NotFound, RuntimeFailure, UsageError
from .model import Conversation, Message

BATCH = 2000  # messages read per query round trip

Progress = Callable[[int], None]  # called with how many messages were just written


@dataclass(frozen=True)
class Selection:
    """The conversations to export, in order, and how many messages they hold."""

    conversations: tuple[Conversation, ...]
    messages: int


def select(archive: Archive, ids: Sequence[int] | None) -> Selection:
    """Conversations by id (in the order given, each once), or all of them (None).
    NotFound (exit 5) names the first unknown id."""
    with archive.reading() as db:
        if ids is None:
            wanted = [r[0] for r in db.execute("SELECT id FROM conversations ORDER BY id")]
        else:
            wanted = list(dict.fromkeys(ids))
            known = {
                r[0]
                for r in db.execute(
                    f"SELECT id FROM conversations WHERE id IN ({','.join('?' * len(wanted))})",
                    wanted,
                )
            }
            missing = [i for i in wanted if i not in known]
            if missing:
                raise NotFound(
                    f"no conversation #{missing[0]}",
                    hint="list them with: im2mail conversations",
                )
        count = _count(db, wanted if ids is not None else None)
    return Selection(tuple(archive.conversation(i) for i in wanted), count)


def _count(db, ids: list[int] | None) -> int:
    if ids is None:
        return db.execute("SELECT count(*) FROM messages").fetchone()[0]
    total = 0
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        total += db.execute(
            f"SELECT count(*) FROM messages WHERE conversation_id IN ({marks})", chunk
        ).fetchone()[0]
    return total


def messages(archive: Archive, conversation_id: int) -> Iterator[Message]:
    """The conversation's messages, oldest first, with their attachments, read in batches."""
    last = 0
    while True:
        with archive.reading() as db:
            found = db.execute(
                "SELECT * FROM messages WHERE conversation_id = ? AND id > ? ORDER BY id LIMIT ?",
                (conversation_id, last, BATCH),
            ).fetchall()
            batch = rows.messages_from(db, found)
        yield from batch
        if len(found) < BATCH:
            return
        last = found[-1]["id"]


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
) -> Exported:
    """Export conversations `ids` (None: all) as "mbox" (a file) or "html" (a folder) to
    `output`. `started(selection)` is called once the work is known and returns the
    progress callback (for a progress bar)."""
    if fmt not in ("mbox", "html"):
        raise UsageError(f"unknown export format '{fmt}'", hint="use --format mbox or html")
    folder = fmt == "html"
    target = check_target(output, folder=folder, force=force)
    selection = select(archive, ids)
    progress = started(selection)
    with staged(target, folder=folder) as temp:
        if folder:
            from . import export_html as writer
        else:
            from . import export_mbox as writer  # type: ignore[no-redef]
        count = writer.write(archive, selection, temp, progress)
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
        temp.replace(target)
        if not folder:
            temp_mode = 0o644 & ~_umask()
            with contextlib.suppress(OSError):
                target.chmod(temp_mode)
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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
