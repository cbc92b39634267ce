"""Blobs written as they arrive (a download, a large local file): hashed on the way into
a temporary file under blobs/.incoming/, renamed into place by sha256, stored once, and
nothing left behind when the writing stops early."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest

from im2mail.archive.blobs import INCOMING, BlobStore

DATA = bytes(range(256)) * 4096  # 1 MiB


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def write_in_pieces(store: BlobStore, data: bytes, piece: int = 65536) -> tuple[str, int]:
    with store.writer() as blob:
        for start in range(0, len(data), piece):
            blob.write(data[start : start + piece])
        return blob.commit(), blob.size


def test_a_blob_written_in_pieces_lands_under_its_sha256(store: BlobStore) -> None:
    sha, size = write_in_pieces(store, DATA)
    assert sha == hashlib.sha256(DATA).hexdigest() and size == len(DATA)
    assert store.path(sha).read_bytes() == DATA
    assert files_under(store.root) == [store.path(sha)]  # no temporary file left
    assert stat.S_IMODE(store.path(sha).stat().st_mode) == 0o600  # private, as put() makes


def test_the_same_file_twice_is_stored_once(store: BlobStore) -> None:
    first = store.put(DATA)
    again, _ = write_in_pieces(store, DATA, piece=1000)
    assert again == first and files_under(store.root) == [store.path(first)]


def test_a_blob_given_up_midway_leaves_nothing(store: BlobStore) -> None:
    with pytest.raises(ConnectionResetError), store.writer() as blob:
        blob.write(DATA[:1000])
        assert len(files_under(store.root / INCOMING)) == 1  # on disk while it arrives
        raise ConnectionResetError("the server hung up")
    assert files_under(store.root) == []


def test_a_blob_not_committed_is_discarded(store: BlobStore) -> None:
    with store.writer() as blob:
        blob.write(b"part of a file")
    assert files_under(store.root) == []
    with pytest.raises(ValueError):
        blob.write(b"more")  # a discarded blob takes no more


def test_an_empty_file_is_a_blob(store: BlobStore) -> None:
    sha, size = write_in_pieces(store, b"")
    assert (sha, size) == (hashlib.sha256(b"").hexdigest(), 0)
    assert store.path(sha).read_bytes() == b""


def test_put_file_streams_a_local_file(store: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "макет.pdf"
    source.write_bytes(DATA * 3)
    sha, size = store.put_file(source)
    assert (sha, size) == (hashlib.sha256(DATA * 3).hexdigest(), 3 * len(DATA))
    assert store.path(sha).read_bytes() == DATA * 3
