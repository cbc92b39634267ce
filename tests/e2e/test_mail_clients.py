"""The emails mail/builder.py writes, read by real mail programs: notmuch (GMime) indexes
every kind and shows their headers decoded, threads a conversation's emails together and
finds a Cyrillic word, a name and a file name; mutt opens them as an mbox and finds the
same. Both read RFC 2047 as mail clients do (the email package's parser is not the only
judge). .ci/run installs them; elsewhere these tests skip and say why."""

from __future__ import annotations

import json
import mailbox

import pytest

from im2mail.mail.builder import new_message_id
from im2mail.model import Conversation, Customer
from tests.e2e.test_export_tools import mutt_pipe, notmuch_over
from tests.unit.test_builder import BUILDER, EVERY_EMAIL, MAILBOX
from tests.unit.test_compose import T0, said

pytestmark = pytest.mark.e2e

LONG_NAME = "Олександра-Вікторія Костянтинівна Петрушенко-Голованенко"
LONG = Conversation(43, Customer("viber", "77", LONG_NAME), "shop", "tok4321", created=T0)


def emails() -> dict[str, bytes]:
    """Every kind, and a customer whose name takes several encoded words."""
    made = {kind: build().data for kind, build in EVERY_EMAIL.items()}
    made["long name"] = BUILDER.message(
        [said("Чи можна забрати замовлення в суботу?")], LONG, message_id=new_message_id(MAILBOX)
    ).data
    return made


@pytest.fixture(scope="module")
def notmuch(tmp_path_factory):
    return notmuch_over(tmp_path_factory.mktemp("notmuch"), emails().values())


def test_notmuch_indexes_every_kind_and_threads_a_conversation(notmuch):
    assert int(notmuch("count", "*")) == len(EVERY_EMAIL) + 1
    # The digest is in no thread; the long name's conversation is another; every other
    # email is about conversation #42 and answers its history: one thread.
    assert int(notmuch("count", "--output=threads", "*")) == 3
    assert int(notmuch("count", "--output=threads", "subject:Петренко")) == 1


def test_notmuch_reads_the_headers_as_they_were_meant(notmuch):
    shown = json.loads(notmuch("show", "--format=json", "--body=false", "subject:Костянтинівна"))
    headers = shown[0][0][0]["headers"]
    assert headers["Subject"] == f"[Viber] {LONG_NAME} #43"
    assert headers["From"] == f"{LONG_NAME} via Viber <{MAILBOX}>"
    assert headers["Reply-To"] == f"{LONG_NAME} via Viber <orders+tok4321@shop.example>"
    assert int(notmuch("count", 'from:"Олена Петренко via Telegram"')) >= 3


def test_notmuch_finds_a_cyrillic_word_and_a_file_name(notmuch):
    assert int(notmuch("count", "суботу")) == 1
    assert int(notmuch("count", "attachment:рахунок")) == 1
    # Only the matching message: JSON output shows the whole thread by default, in an
    # order that depends on the emails' times.
    found = json.loads(
        notmuch("show", "--format=json", "--entire-thread=false", "attachment:рахунок")
    )
    names = []

    def walk(node):
        if isinstance(node, list):
            for inner in node:
                walk(inner)
        elif isinstance(node, dict):
            if node.get("filename"):
                names.append(node["filename"])
            walk(node.get("body"))
            walk(node.get("content"))

    walk(found)
    assert 'рахунок "фінальний".pdf' in names
    assert "макет візитки, двосторонній, остаточний варіант 🙂.jpg" in names


def test_mutt_opens_them_and_finds_a_name_a_word_and_the_files(tmp_path):
    box = mailbox.mbox(tmp_path / "built.mbox")
    for data in emails().values():
        box.add(mailbox.mboxMessage(data))
    box.close()
    everything = mutt_pipe(tmp_path / "built.mbox", "~A", tmp_path / "all.txt")
    assert len(everything) == len(EVERY_EMAIL) + 1
    long_name = mutt_pipe(tmp_path / "built.mbox", "~s Костянтинівна", tmp_path / "name.txt")
    assert len(long_name) == 1
    text = (tmp_path / "name.txt").read_text("utf-8")
    assert f"Subject: [Viber] {LONG_NAME} #43" in text and "забрати замовлення" in text
    assert len(mutt_pipe(tmp_path / "built.mbox", "~b суботу", tmp_path / "word.txt")) == 1
    assert len(mutt_pipe(tmp_path / "built.mbox", "~X 2-", tmp_path / "files.txt")) == 1
