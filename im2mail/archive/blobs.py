"""Content-addressed file store for attachments: blobs/<sha[:2]>/<sha>, each written once.

Small files go in whole (`put`); a download or a large local file is streamed
(`writer`, `put_file`): its bytes go to a temporary file under blobs/.incoming/ while
they are hashed, and the finished file is renamed into place by its sha256, so no reader
ever sees half a blob and no whole file is held in memory. What a crash leaves in
.incoming/ is an unnamed file that `vacuum` removes.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

from ..errors import ArchiveError

_SHA256 = re.compile(r"[0-9a-f]{64}")
INCOMING = ".incoming"  # the folder of blobs being written; same filesystem: rename is atomic
CHUNK = 256 * 1024  # bytes read at a time from a local file


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        if not _SHA256.fullmatch(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes, *, sync: bool = True) -> str:
        """Store data once; returns its sha256. An existing blob is never rewritten.
        sync=False skips the fsyncs (the caller syncs a whole batch at once)."""
        import hashlib  # only writers hash; readers skip the import

        sha = hashlib.sha256(data).hexdigest()
        target = self.path(sha)
        if target.exists():
            return sha
        _make_dir(self.root, target.parent)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                if sync:
                    os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        if sync:
            _fsync_dir(target.parent)
        return sha

    def writer(self) -> BlobWriter:
        """A blob to be written piece by piece (a download); see BlobWriter."""
        return BlobWriter(self)

    def put_file(self, source: Path, *, sync: bool = True) -> tuple[str, int]:
        """Store a local file once, read in pieces; returns (sha256, size)."""
        with self.writer() as blob, source.open("rb") as f:
            while chunk := f.read(CHUNK):
                blob.write(chunk)
            return blob.commit(sync=sync), blob.size


class BlobWriter:
    """One blob written as it arrives: write() pieces in order, then commit(), which
    moves the file into place by its sha256 (or drops it when the store has that blob
    already). Used as a context manager, anything not committed is removed on the way
    out, an error or a cancelled download included. Blocking file I/O: call it from a
    worker thread when on the event loop; one call at a time runs (a discard waits for a
    write in progress in another thread, so it can't leave a file behind)."""

    def __init__(self, store: BlobStore) -> None:
        import hashlib
        import threading

        self._lock = threading.Lock()
        self.store = store
        self.size = 0
        self._hash = hashlib.sha256()
        self._tmp: str | None = None
        self._file = None
        self._finished = False

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.discard()

    def write(self, chunk: bytes) -> None:
        with self._lock:
            self._write(chunk)

    def commit(self, *, sync: bool = True) -> str:
        """Finish the blob: its sha256. An empty blob is a blob too."""
        with self._lock:
            return self._commit(sync)

    def discard(self) -> None:
        """Remove what was written (nothing left behind; safe to call twice)."""
        with self._lock:
            self._discard()

    def _write(self, chunk: bytes) -> None:
        if self._finished:
            raise ValueError("blob already committed or discarded")
        if self._file is None:
            self._open()
        assert self._file is not None
        self._file.write(chunk)
        self._hash.update(chunk)
        self.size += len(chunk)

    def _commit(self, sync: bool) -> str:
        if self._finished:
            raise ValueError("blob already committed or discarded")
        if self._file is None:
            self._open()
        assert self._file is not None and self._tmp is not None
        self._file.flush()
        if sync:
            os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        sha = self._hash.hexdigest()
        target = self.store.path(sha)
        if target.exists():
            self._discard()  # stored once: the same file came before
            return sha
        _make_dir(self.store.root, target.parent)
        os.replace(self._tmp, target)
        self._tmp, self._finished = None, True
        if sync:
            _fsync_dir(target.parent)
        return sha

    def _discard(self) -> None:
        self._finished = True
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        if self._tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp)
            self._tmp = None

    def _open(self) -> None:
        folder = self.store.root / INCOMING
        _make_dir(self.store.root, folder)
        fd, self._tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        try:
            self._file = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            self._discard()
            raise


def cannot_store(root: Path, name: str, e: OSError) -> ArchiveError:
    """The error for a file that could not be written to the store (a full disk...)."""
    return ArchiveError(
        f"cannot store attachment '{name}' under {root}: {e.strerror or e}",
        hint="check free disk space and the directory's permissions",
    )


def _make_dir(root: Path, folder: Path) -> None:
    if not folder.is_dir():
        root.mkdir(parents=True, exist_ok=True, mode=0o700)  # attachments are private
        folder.mkdir(exist_ok=True, mode=0o700)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform/filesystem allows it
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
