"""A linked person (archive/people.py) as one in `stats`, exports (mbox and HTML) and the
relay's transcript pages: their conversations interleaved by time, each message marked
with its channel; and `conversations`/`doctor` suggesting whom to link."""

from __future__ import annotations

import json
import mailbox
import re
from datetime import timedelta
from email import policy
from email.parser import BytesParser

import pytest

from im2mail.archive import people, stats
from im2mail.export.write import export
from im2mail.hours import BusinessHours
from im2mail.ops.doctor import check_archive
from im2mail.relay.transcripts import Transcripts, link
from tests.conftest import run_cli
from tests.support.chats import T0, customer, say

ANNA = "anna@shop.example"
KEY = "k" * 43


@pytest.fixture
def person(archive):
    """Олена on Telegram (#1) and Viber (#2), linked, and Ігор (#3) on Telegram. She
    asks on Telegram, adds on Viber; Anna answers (it went to Viber)."""
    tg = customer(archive, "Олена", "Коваленко", channel="telegram", source="flyer")
    vb = customer(archive, "Олена", "К.", channel="viber", bot="vshop")
    igor = customer(archive, "Ігор", "Петренко")
    people.link(archive, tg.id, vb.id)
    say(archive, tg, "1. Скільки коштують візитки?", minutes=0)
    say(archive, igor, "Ігорове питання", minutes=1)
    say(archive, vb, "2. Я тут, у вайбері", minutes=2)
    say(archive, vb, "3. 300 грн", direction="out", minutes=10)
    say(archive, tg, "4. Дякую!", minutes=20)
    return tg, vb, igor


def report(archive) -> stats.Report:
    return stats.report(archive, BusinessHours(None), T0 - timedelta(days=1),
                        T0 + timedelta(days=1), T0 + timedelta(hours=1), (ANNA,))  # fmt: skip


def test_stats_count_a_person_as_one_conversation(archive, person):
    tg, _, igor = person
    r = report(archive)
    (anna,) = [f for f in r.managers if f.name == ANNA]
    # One wait, started on Telegram at 0, answered on Viber at 10: 10 minutes.
    assert (anna.conversations, anna.replies, anna.responses, anna.median) == (1, 1, 1, 600)
    by_channel = {f.name: f for f in r.channels}
    assert by_channel["telegram"].conversations == 2  # Олена and Ігор
    assert by_channel["viber"].conversations == 1
    assert by_channel["telegram"].responses == 1 and by_channel["viber"].responses == 0
    # Waiting now: Ігор, and Олена once (her thanks on Telegram), not per conversation.
    assert sorted(w.conversation for w in r.unanswered) == [tg.id, igor.id]


def test_a_person_answered_on_another_channel_is_not_waiting(archive):
    tg = customer(archive, "Олена", channel="telegram")
    vb = customer(archive, "Олена", channel="viber", bot="vshop")
    say(archive, vb, "Є хтось?", minutes=0)
    say(archive, tg, "Так, ми тут", direction="out", minutes=5)
    assert [w.conversation for w in report(archive).unanswered] == [vb.id]  # not linked yet
    assert [c.id for c in archive.conversations() if c.waiting] == [vb.id]
    people.link(archive, tg.id, vb.id)
    assert report(archive).unanswered == ()
    assert [c.id for c in archive.conversations() if c.waiting] == []  # `conversations` too
    say(archive, vb, "А ще питання", minutes=10)
    assert [c.id for c in archive.conversations() if c.waiting] == [vb.id]


def test_an_html_export_shows_the_person_once_interleaved_and_marked(archive, person, tmp_path):
    tg, vb, igor = person
    done = export(archive, None, "html", tmp_path / "all")
    assert (done.conversations, done.messages) == (2, 5)  # Олена once, Ігор
    pages = sorted(p.name for p in (tmp_path / "all").glob("conversation-*.html"))
    assert pages == [f"conversation-{tg.id}.html", f"conversation-{igor.id}.html"]
    page = (tmp_path / "all" / f"conversation-{tg.id}.html").read_text(encoding="utf-8")
    texts = re.findall(r"(\d)\. ", page)
    assert texts == ["1", "2", "3", "4"]  # by time, across both conversations
    marks = re.findall(r'class="channel">· (\w+)</span>', page)
    assert marks == ["Telegram", "Viber", "Viber", "Telegram"]
    assert f"conversations #{tg.id}, #{vb.id}" in page
    index = (tmp_path / "all" / "index.html").read_text(encoding="utf-8")
    assert "Telegram, Viber" in index
    # Asking for her Viber conversation exports the same person, under that id.
    export(archive, [vb.id, tg.id], "html", tmp_path / "one")
    assert [p.name for p in (tmp_path / "one").glob("conversation-*.html")] == [
        f"conversation-{vb.id}.html"
    ]


def test_an_mbox_export_is_one_thread_with_each_message_s_channel(archive, person, tmp_path):
    tg, vb, _ = person
    done = export(archive, [tg.id], "mbox", tmp_path / "olena.mbox")
    assert done.messages == 4
    parse = BytesParser(policy=policy.default).parsebytes
    got = [parse(m.as_bytes()) for m in mailbox.mbox(tmp_path / "olena.mbox")]
    assert [m["X-Im2mail-Channel"] for m in got] == ["telegram", "viber", "viber", "telegram"]
    conversations = [int(m["X-Im2mail-Conversation"]) for m in got]
    assert conversations == [tg.id, vb.id, vb.id, tg.id]
    assert {m["Subject"].strip() for m in got} == {f"[Telegram] Олена Коваленко #{tg.id}"}
    assert got[3]["In-Reply-To"] == got[2]["Message-ID"]  # one thread
    assert "viber." in str(got[1]["From"]) and "telegram." in str(got[0]["From"])


def test_a_transcript_link_of_either_conversation_shows_the_person(archive, person):
    _, vb, _ = person
    url = link("https://bot.shop.example", KEY, vb.id)
    page = Transcripts(archive, KEY).render(url.rsplit("/c/", 1)[1])
    assert re.findall(r"(\d)\. ", page) == ["1", "2", "3", "4"]
    assert re.findall(r'class="channel">· (\w+)</span>', page) == [
        "Telegram", "Viber", "Viber", "Telegram",
    ]  # fmt: skip
    assert "Ігорове" not in page


# -- suggestions in conversations and doctor ------------------------------------------------


def test_conversations_shows_links_and_suggests_customers_sharing_a_phone(archive, isolated_home):
    tg = customer(archive, "Олена", phone="+380 67 123 45 67")
    wa = customer(archive, "Olena", channel="whatsapp", bot="wa", phone="380671234567")
    vb = customer(archive, "Олена", channel="viber", bot="vshop")
    for c in (tg, wa, vb):
        say(archive, c, "Привіт")
    result = run_cli("conversations")
    assert result.code == 0, result.err
    assert f"im2mail customers link {tg.id} {wa.id}" in result.err
    assert "+380 67 123 45 67" in result.err
    people.link(archive, tg.id, wa.id)
    records = [json.loads(line) for line in run_cli("conversations", "--json").out.splitlines()]
    linked = {r["id"]: r.get("linked") for r in records}
    assert linked == {tg.id: [wa.id], wa.id: [tg.id], vb.id: None}
    table = run_cli("conversations")
    assert "link" not in table.err
    assert f"#{wa.id}" in table.out  # the "same person" column


def test_doctor_suggests_links_and_is_quiet_when_there_are_none(archive, isolated_home):
    from im2mail.home import paths

    tg = customer(archive, "Олена", phone="+380671234567")
    wa = customer(archive, "Olena", channel="whatsapp", bot="wa", phone="+380671234567")
    checks = {c.name: c for c in check_archive(paths())}
    assert checks["people"].warning
    assert f"im2mail customers link {tg.id} {wa.id}" in checks["people"].fix
    people.link(archive, tg.id, wa.id)
    checks = {c.name: c for c in check_archive(paths())}
    assert "people" not in checks  # nothing to say: no line
