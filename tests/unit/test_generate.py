"""The archive generator the search tests and benchmarks rely on."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from im2mail.archive import Archive
from im2mail.model import SearchQuery
from tests.support.generate import GenerationStats, generate


def build(path: Path, **kw) -> tuple[GenerationStats, list[tuple]]:
    """Generate into a new archive; returns the stats and the archive's content."""
    with Archive.open(path) as archive:
        stats = generate(archive, **kw)
    with sqlite3.connect(path) as db:
        content = db.execute(
            "SELECT m.id, m.conversation_id, m.direction, m.author, m.text, m.created, m.kind,"
            " u.channel, u.external_id, u.first_name, u.last_name, u.username, u.phone,"
            " u.source, c.bot, group_concat(a.filename || ':' || a.sha256, '|')"
            " FROM messages m JOIN conversations c ON c.id = m.conversation_id"
            " JOIN customers u ON u.id = c.customer_id"
            " LEFT JOIN attachments a ON a.message_id = m.id GROUP BY m.id ORDER BY m.id"
        ).fetchall()
    return stats, content


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerationStats, list]:
    path = tmp_path_factory.mktemp("gen") / "archive.db"
    stats, content = build(path, conversations=40, messages=1500, seed=3, attachments_every=10)
    return path, stats, content


def test_the_same_seed_gives_the_same_archive(tmp_path: Path, sample) -> None:
    _, stats, content = sample
    again_stats, again = build(
        tmp_path / "again.db", conversations=40, messages=1500, seed=3, attachments_every=10
    )
    assert again == content
    assert (again_stats.messages, again_stats.attachments, again_stats.unanswered) == (
        stats.messages, stats.attachments, stats.unanswered,
    )  # fmt: skip
    _, other = build(tmp_path / "other.db", conversations=40, messages=1500, seed=4)
    assert [row[4] for row in other] != [row[4] for row in content]


def test_counts_are_what_was_asked(sample) -> None:
    path, stats, content = sample
    assert (stats.messages, stats.conversations, stats.customers) == (1500, 40, 40)
    assert len(content) == 1500
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM conversations").fetchone()[0] == 40
        attachments = db.execute("SELECT count(*) FROM attachments").fetchone()[0]
    assert attachments == stats.attachments == 150
    with Archive.open(path) as archive:
        waiting = [c for c in archive.conversations() if c.waiting_since is not None]
        assert 0 < len(waiting) == stats.unanswered < 40
        assert all(c.messages > 0 for c in archive.conversations())


def test_time_moves_forward_over_months(sample) -> None:
    _, _, content = sample
    created = [row[5] for row in content]
    assert created == sorted(created)  # ids grow with time, as in a live archive
    assert created[0][:7] != created[-1][:7]
    assert {row[2] for row in content} == {"in", "out"}
    assert {row[7] for row in content} == {"telegram", "viber"}
    managers = {row[3] for row in content if row[2] == "out"}
    assert managers and all(m.endswith("@shop.example") for m in managers)


def test_the_tricky_spellings_are_all_there(sample) -> None:
    path, _, content = sample
    text = "\n".join(row[4] for row in content)
    assert re.search(r"\bА4\b", text) and re.search(r"\bA4\b", text)  # Cyrillic and Latin
    assert "ё" in text and "еще" in text.lower()
    for apostrophe in "'’ʼ":
        assert f"п{apostrophe}ятниц" in text
    assert re.search(r"№\d{5}", text) and re.search(r"ORD-2026-\d{4}", text)
    assert "грн" in text and re.search(r"\b2х1\b", text)
    with Archive.open(path) as archive:
        hits = archive.search(SearchQuery("A4", limit=1000))
    assert any("А4" in e.text for e in hits) and any("A4" in e.text for e in hits)


def test_a_file_sent_again_and_again_is_one_blob(sample) -> None:
    path, _, content = sample
    price_lists = {row[15] for row in content if row[15] and row[15].startswith("price-list")}
    assert len(price_lists) == 1
    blobs = [p for p in (path.parent / "blobs").rglob("*") if p.is_file()]
    assert 0 < len(blobs) < 150
