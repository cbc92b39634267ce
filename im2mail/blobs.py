"""Content-addressed file store for attachments: blobs/<sha[:2]>/<sha>, each written once."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

_SHA256 = re.compile(r"[0-9a-f]{64}")


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
        if not target.parent.is_dir():
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)  # attachments are private
            target.parent.mkdir(exist_ok=True, mode=0o700)
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


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform/filesystem allows it
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
