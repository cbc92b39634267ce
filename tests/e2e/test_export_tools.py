"""Exports read by the programs owners use: notmuch indexes the mbox (one message per file
in a Maildir, as notmuch wants) and finds a Cyrillic word and the threads; mutt opens the
mbox itself and finds the same; headless Chromium renders the HTML, where a customer's
<script> stays text. .ci/run installs all three from Debian's packages; elsewhere these
tests skip and say why."""

from __future__ import annotations

import mailbox
import os
import pty
import re
import select
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from im2mail.export.write import export
from im2mail.model import NewAttachment
from tests.support.chats import customer, say

pytestmark = pytest.mark.e2e

CARD = (Path(__file__).parents[2] / "im2mail" / "testing" / "card.jpg").read_bytes()
HOSTILE = "<script>document.title='PWNED'</script><img src=x onerror=\"document.title='PWNED'\">"


@pytest.fixture
def archive(archive):
    olena = customer(archive, "Олена", "Петренко", username="olena_p")
    say(archive, olena, "Добрий день! Скільки коштують 200 візиток?")
    say(archive, olena, "450 грн, готові завтра", direction="out", minutes=5)
    say(archive, olena, "Макет", minutes=7,
        files=[NewAttachment("card.jpg", "image/jpeg", CARD)])  # fmt: skip
    mallory = customer(archive, "Mallory", "", username="m")
    say(archive, mallory, HOSTILE + " ще питання про банер")
    return archive


def needs(program: str) -> str:
    found = shutil.which(program)
    if found is None:
        pytest.skip(f"{program} is not installed (.ci/run installs it from Debian's packages)")
    return found


def notmuch_over(root: Path, messages: Iterable) -> Callable[..., str]:
    """notmuch with its own database of `messages` (bytes or email messages) under
    `root`, already indexed: run(*args) -> its output (a failure fails the test)."""
    notmuch = needs("notmuch")
    maildir = mailbox.Maildir(root / "mail", create=True)
    for message in messages:
        maildir.add(mailbox.MaildirMessage(message))
    config = root / "notmuch-config"
    config.write_text(f"[database]\npath={root / 'mail'}\n[new]\ntags=\n")
    env = {**os.environ, "NOTMUCH_CONFIG": str(config)}

    def run(*args: str) -> str:
        done = subprocess.run([notmuch, *args], env=env, capture_output=True, text=True,
                              timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("new")
    return run


def test_notmuch_indexes_the_mbox_and_finds_a_cyrillic_word(archive, tmp_path):
    export(archive, None, "mbox", tmp_path / "all.mbox")
    run = notmuch_over(tmp_path, mailbox.mbox(tmp_path / "all.mbox"))
    assert run("count", "*").strip() == "4"
    assert run("count", "--output=threads", "*").strip() == "2"  # one per conversation
    found = run("search", "--output=messages", "візиток").split()
    assert len(found) == 1
    shown = run("show", "--format=raw", found[0])
    assert "X-Im2mail-Conversation: 1" in shown
    assert run("count", "attachment:card.jpg").strip() == "1"


MUTTRC = """\
set pipe_decode=yes
set pipe_split=yes
set wait_key=no
set charset=utf-8
set quit=yes
set read_only=yes
set thorough_search=yes
set sleep_time=0
attachments +A */.*
attachments -A text/plain
"""


def mutt_pipe(mbox: Path, pattern: str, out: Path) -> list[str]:
    """The Message-IDs of the messages mutt's `pattern` selects in `mbox`: mutt, on a
    terminal of its own (it draws with curses), tags them and pipes them, decoded, into
    `out`, then quits."""
    mutt = needs("mutt")
    rc = out.with_suffix(".muttrc")
    # A folder of its own: without one, mutt's first start asks whether to create ~/Mail
    rc.write_text(MUTTRC + f"set folder={out.parent}\n", encoding="utf-8")
    keys = f"<tag-pattern>{pattern}<enter><tag-prefix><pipe-message>cat >> {out}<enter><quit>"
    env = {**os.environ, "TERM": "xterm", "LANG": "C.UTF-8", "HOME": str(out.parent),
           "COLUMNS": "80", "LINES": "24"}  # fmt: skip
    screen, terminal = pty.openpty()
    try:
        process = subprocess.Popen([mutt, "-n", "-F", rc, "-R", "-f", mbox, "-e", f"push '{keys}'"],
                                   stdin=terminal, stdout=terminal, stderr=terminal, env=env,
                                   start_new_session=True)  # fmt: skip
        drawn = b""
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([screen], [], [], 0.1)
            if ready:
                drawn += os.read(screen, 65536)  # mutt stops when nobody reads its screen
        if process.poll() is None:
            process.kill()
        assert process.wait() == 0, drawn[-2000:]
    finally:
        os.close(screen)
        os.close(terminal)
    text = out.read_text(encoding="utf-8") if out.exists() else ""
    return re.findall(r"^Message-ID: (\S+)$", text, flags=re.M)


def test_mutt_reads_the_mbox_and_finds_a_cyrillic_word_and_the_picture(archive, tmp_path):
    export(archive, None, "mbox", tmp_path / "all.mbox")
    ids = {m["Message-ID"]: m for m in mailbox.mbox(tmp_path / "all.mbox")}
    assert len(mutt_pipe(tmp_path / "all.mbox", "~A", tmp_path / "all.txt")) == 4
    found = mutt_pipe(tmp_path / "all.mbox", "~b візиток", tmp_path / "word.txt")
    assert len(found) == 1 and "візиток" in ids[found[0]].get_payload(decode=True).decode()
    assert "Скільки коштують 200 візиток?" in (tmp_path / "word.txt").read_text("utf-8")
    with_files = mutt_pipe(tmp_path / "all.mbox", "~X 1-", tmp_path / "files.txt")
    assert len(with_files) == 1 and "card.jpg" in str(ids[with_files[0]])
    banner = mutt_pipe(tmp_path / "all.mbox", "~b банер", tmp_path / "banner.txt")
    assert len(banner) == 1 and ids[banner[0]]["X-Im2mail-Conversation"] == "2"


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
