"""Edits and reactions where the owner reads the archive: `tail` (the latest text, marked
edited, reactions after it; `--versions` the earlier texts), exports (mbox and HTML, the
same, `--versions` writing the earlier texts out) and transcript pages (the earlier texts
behind the "edited" mark)."""

from __future__ import annotations

import json
import mailbox
from datetime import timedelta

import pytest

from im2mail.archive import edits, reactions
from im2mail.model import EDITED, Message, OutboxItem
from im2mail.relay.transcripts import Transcripts, link
from tests.conftest import run_cli
from tests.support.archive_sql import writing
from tests.support.chats import T0, customer, say

ANNA = "anna@shop.example"
KEY = "k" * 43


@pytest.fixture
def shop(archive):
    """Olena asked for 200 cards and edited it to 300; Anna answered; Olena liked it."""
    olena = customer(archive, "Олена", "Коваленко")
    asked = archive.add_message(Message(olena.id, "in", "Олена Коваленко", "200 візиток", T0,
                                        channel_message_id="41"))  # fmt: skip
    notice = OutboxItem("mail", email_message_id="<e@shop.example>", kind=EDITED)
    edits.add_version(archive, olena.id, "41", "300 візиток", T0 + timedelta(minutes=2),
                      dedupe_key="u:2", outbox=notice)  # fmt: skip
    answer = say(archive, olena, "Зробимо до п’ятниці", direction="out", minutes=5)
    with writing(archive) as db:
        db.execute("UPDATE messages SET channel_message_id = '42' WHERE id = ?", (answer.id,))
    reactions.customer_reacted(archive, olena.bot, olena.customer, "42", ["👍"],
                               T0 + timedelta(minutes=6), dedupe_key="u:3")  # fmt: skip
    say(archive, olena, "Дякую", minutes=7)
    return olena, asked, answer


def test_tail_marks_the_edit_and_shows_reactions(shop):
    human = run_cli("tail").out.splitlines()
    assert "300 візиток  (edited)" in human[0] and "200 візиток" not in human[0]
    assert human[1].endswith("Зробимо до п’ятниці  👍")
    assert len(human) == 3  # the earlier text only on request


def test_tail_versions_lists_the_earlier_texts_under_the_message(shop):
    human = run_cli("tail", "--versions").out.splitlines()
    assert "300 візиток  (edited)" in human[0]
    assert human[1].strip().startswith("was, ") and human[1].endswith("200 візиток")
    records = [json.loads(line) for line in run_cli("tail", "--json", "--versions").out.split("\n")
               if line]  # fmt: skip
    edited, answer, _ = records
    assert (edited["text"], edited["edited"]) == ("300 візиток", True)
    assert [v["text"] for v in edited["versions"]] == ["200 візиток"]
    assert edited["versions"][0]["created"] == T0.isoformat()
    assert answer["reactions"] == [{"emoji": "👍", "by": "Олена Коваленко", "direction": "in"}]
    plain = json.loads(run_cli("tail", "--json").out.splitlines()[0])
    assert "versions" not in plain and plain["edited"] is True


def test_mbox_marks_the_edit_and_writes_versions_on_request(shop, tmp_path):
    assert run_cli("export", "--all", "-o", str(tmp_path / "a.mbox")).code == 0
    first, answer, _ = mailbox.mbox(tmp_path / "a.mbox")
    body = first.get_payload(decode=True).decode()
    assert body.startswith("(edited) 300 візиток") and "200 візиток" not in body
    assert first["X-Im2mail-Edited"]
    assert "Reactions: 👍 Олена Коваленко" in answer.get_payload(decode=True).decode()
    assert run_cli("export", "--all", "--versions", "-o", str(tmp_path / "v.mbox")).code == 0
    first = next(iter(mailbox.mbox(tmp_path / "v.mbox")))
    body = first.get_payload(decode=True).decode()
    assert "Earlier versions:\n[Mon, 05 Jan 2026 09:00:00 +0000]\n200 візиток" in body


def test_html_pages_keep_the_earlier_texts_behind_the_mark(shop, tmp_path):
    olena, _, _ = shop
    assert run_cli("export", "--all", "--format", "html", "-o", str(tmp_path / "h")).code == 0
    page = (tmp_path / "h" / f"conversation-{olena.id}.html").read_text()
    assert '<details class="versions"><summary>edited</summary>' in page
    assert "200 візиток" in page and "300 візиток" in page
    assert '<p class="reactions" title="👍 Олена Коваленко">👍</p>' in page
    run_cli("export", "--all", "--format", "html", "--versions", "-o", str(tmp_path / "v"))
    opened = (tmp_path / "v" / f"conversation-{olena.id}.html").read_text()
    assert '<details class="versions" open>' in opened


def test_a_transcript_page_shows_the_mark_and_the_reactions(shop, archive):
    olena, _, _ = shop
    url = link("https://bot.shop.example", KEY, olena.id)
    page = Transcripts(archive, KEY).render(url.rsplit("/c/", 1)[1])
    assert page is not None
    assert "<summary>edited</summary>" in page and "200 візиток" in page
    assert 'class="reactions"' in page


def test_an_edit_never_seen_before_is_marked_without_a_history(archive, tmp_path):
    olena = customer(archive)
    archive.add_message(Message(olena.id, "in", "Олена", "нова версія", T0, edited=True))
    assert "(edited)" in run_cli("tail").out
    run_cli("export", "--all", "--format", "html", "-o", str(tmp_path / "h"))
    page = (tmp_path / "h" / f"conversation-{olena.id}.html").read_text()
    assert '<p class="edited">edited</p>' in page
