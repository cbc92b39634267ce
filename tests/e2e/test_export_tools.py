"""Exports read by the programs owners use: notmuch indexes the mbox (one message per file
in a Maildir, as notmuch wants) and finds a Cyrillic word and the threads; headless
Chromium renders the HTML, where a customer's <script> stays text. .ci/run installs both
from Debian's packages; elsewhere these tests skip and say why."""

from __future__ import annotations

import mailbox
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from im2mail.archive import Archive
from im2mail.export import export
from im2mail.home import paths
from im2mail.model import NewAttachment
from tests.support.chats import customer, say

pytestmark = pytest.mark.e2e

CARD = (Path(__file__).parents[2] / "im2mail" / "testing" / "card.jpg").read_bytes()
HOSTILE = "<script>document.title='PWNED'</script><img src=x onerror=\"document.title='PWNED'\">"


@pytest.fixture
def archive(isolated_home):
    where = paths()
    with Archive.open(where.archive, where.blobs) as a:
        olena = customer(a, "Олена", "Петренко", username="olena_p")
        say(a, olena, "Добрий день! Скільки коштують 200 візиток?")
        say(a, olena, "450 грн, готові завтра", direction="out", minutes=5)
        say(a, olena, "Макет", minutes=7, files=[NewAttachment("card.jpg", "image/jpeg", CARD)])
        mallory = customer(a, "Mallory", "", username="m")
        say(a, mallory, HOSTILE + " ще питання про банер")
        yield a


def needs(program: str) -> str:
    found = shutil.which(program)
    if found is None:
        pytest.skip(f"{program} is not installed (.ci/run installs it from Debian's packages)")
    return found


def test_notmuch_indexes_the_mbox_and_finds_a_cyrillic_word(archive, tmp_path):
    notmuch = needs("notmuch")
    export(archive, None, "mbox", tmp_path / "all.mbox")
    maildir = mailbox.Maildir(tmp_path / "mail", create=True)
    for message in mailbox.mbox(tmp_path / "all.mbox"):
        maildir.add(mailbox.MaildirMessage(message))
    config = tmp_path / "notmuch-config"
    config.write_text(f"[database]\npath={tmp_path / 'mail'}\n[new]\ntags=\n")
    env = {**os.environ, "NOTMUCH_CONFIG": str(config)}

    def run(*args: str) -> str:
        done = subprocess.run([notmuch, *args], env=env, capture_output=True, text=True,
                              timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("new")
    assert run("count", "*").strip() == "4"
    assert run("count", "--output=threads", "*").strip() == "2"  # one per conversation
    found = run("search", "--output=messages", "візиток").split()
    assert len(found) == 1
    shown = run("show", "--format=raw", found[0])
    assert "X-Im2mail-Conversation: 1" in shown
    assert run("count", "attachment:card.jpg").strip() == "1"


def chromium(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    browser = needs("chromium")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={cwd / 'profile'}"]  # fmt: skip
    return subprocess.run([browser, *flags, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)  # fmt: skip


def test_chromium_renders_the_page_and_runs_nothing_a_customer_wrote(archive, tmp_path):
    export(archive, None, "html", tmp_path / "site")
    page = (tmp_path / "site" / "conversation-2.html").as_uri()
    dom = chromium("--dump-dom", "--virtual-time-budget=2000", page, cwd=tmp_path)
    assert dom.returncode == 0, dom.stderr
    assert "PWNED" not in dom.stdout.split("</title>")[0]  # no script changed the title
    assert "<script" not in dom.stdout  # no element: the text is escaped
    assert re.search(r"<img[^>]*onerror", dom.stdout) is None
    assert "&lt;script&gt;document.title='PWNED'&lt;/script&gt;" in dom.stdout  # shown as text
    assert "ще питання про банер" in dom.stdout


def test_chromium_screenshot_of_a_conversation(archive, tmp_path):
    export(archive, [1], "html", tmp_path / "site")
    shot = tmp_path / "page.png"
    page = (tmp_path / "site" / "conversation-1.html").as_uri()
    done = chromium(f"--screenshot={shot}", "--window-size=900,900", page, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    png = shot.read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000  # a page, not a blank
    dom = chromium("--dump-dom", page, cwd=tmp_path).stdout
    assert dom.count('class="msg customer"') == 2 and dom.count('class="msg shop"') == 1
    assert 'src="data:image/jpeg;base64,' in dom
