"""Big inputs, in the slow lane for the time they take: a 25 MB Telegram Desktop export
imported with flat memory (measured with tracemalloc, which slows Python several times)
and `stats` over a generated archive of 50,000 messages. (The import's and stats' other
tests: tests/unit/test_tgimport.py, tests/unit/test_stats.py.)"""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from im2mail.archive import Archive
from im2mail.home import paths
from im2mail.importing.telegram_import import import_export
from tests.conftest import run_cli
from tests.support import tgexport as tg

pytestmark = pytest.mark.e2e


def _peak_bytes(archive: Archive, path: Path, seen: list[int]) -> int:
    tracemalloc.start()
    try:
        import_export(archive, path, seen.append)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# Busies a core for a minute: at most two such groups run at once, each on one worker
# (pyproject's addopts), so the other workers' tests keep their timing.
@pytest.mark.xdist_group("cpu-a")
def test_a_big_export_streams_with_flat_memory_and_steady_progress(tmp_path):
    small, big = tmp_path / "small.json", tmp_path / "big.json"
    tg.write_big(small, chats=10, per_chat=1000)
    count = tg.write_big(big, chats=100, per_chat=1000)
    seen_small: list[int] = []
    seen_big: list[int] = []

    with Archive.open(tmp_path / "a.db") as a:
        peak_small = _peak_bytes(a, small, seen_small)
    with Archive.open(tmp_path / "b.db") as b:
        peak_big = _peak_bytes(b, big, seen_big)
        assert b.last_message_id() == count == 100_000

    size = big.stat().st_size
    assert size > 25_000_000
    assert peak_big < 1.5 * peak_small + 2_000_000  # ten times the messages, not the memory
    assert peak_big < size / 3
    assert seen_big == sorted(seen_big) and seen_big[-1] == size and len(seen_big) > 100


def test_a_big_generated_archive(tmp_path):
    """50k messages: the command finishes and agrees with the generator on who waits."""
    from tests.support.generate import generate

    where = paths()
    with Archive.open(where.archive, where.blobs) as archive:
        made = generate(archive, conversations=2000, messages=50_000, seed=3, attachments_every=0)
    result = run_cli("stats", "--since", "2025-01-01", "--json")
    assert result.code == 0, result.err
    lines = [json.loads(line) for line in result.out.splitlines()]
    waiting = [x for x in lines if x["kind"] == "unanswered"]
    assert len(waiting) == made.unanswered
    channels = [x for x in lines if x["kind"] == "channel"]
    assert sum(x["conversations"] for x in channels) == made.conversations
