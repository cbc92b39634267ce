"""`im2mail export --format html` with its worker processes: the same pages as one process
writes, in batches that end inside conversations (the rest of export:
tests/unit/test_export.py)."""

from __future__ import annotations

import re

import pytest

from im2mail.export.write import export
from tests.support.chats import customer
from tests.unit.test_export import with_two_customers

pytestmark = pytest.mark.e2e


@pytest.fixture
def archive(archive):
    return with_two_customers(archive)


def test_batched_scans_and_worker_processes_give_the_same_export(archive, tmp_path, monkeypatch):
    from im2mail.archive import exporting
    from im2mail.export import html as export_html

    customer(archive, "Nobody", "Yet")  # a conversation without messages gets a page too
    export(archive, None, "html", tmp_path / "one")
    export(archive, None, "mbox", tmp_path / "one.mbox")
    monkeypatch.setattr(exporting, "BATCH", 2)  # batches end inside conversations
    monkeypatch.setattr(export_html, "PARALLEL_FROM", 0)
    monkeypatch.setattr(export_html.os, "cpu_count", lambda: 2)
    export(archive, None, "html", tmp_path / "two")
    export(archive, None, "mbox", tmp_path / "two.mbox")
    pages = sorted(p.name for p in (tmp_path / "one").glob("*.html"))
    assert pages == ["conversation-1.html", "conversation-2.html", "conversation-3.html",
                     "index.html"]  # fmt: skip
    for name in pages:
        one, two = (re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d", "T", (tmp_path / d / name)
                           .read_text(encoding="utf-8")) for d in ("one", "two"))  # fmt: skip
        assert one == two, name
    assert (tmp_path / "one.mbox").read_bytes() == (tmp_path / "two.mbox").read_bytes()
