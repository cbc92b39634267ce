"""The archive shared by processes, as the relay and the CLI share it: a new archive
opened by several at once, reading and following while another process writes. (The
rest of the archive's tests are in tests/unit/test_archive.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from im2mail.archive import Archive
from im2mail.archive.migrations import MIGRATIONS
from im2mail.model import SearchQuery
from tests.conftest import REPO
from tests.support.chats import customer, say
from tests.unit.test_archive import raw

pytestmark = pytest.mark.e2e


@pytest.fixture
def path(archive_path: Path) -> Path:
    return archive_path


OPENER = (
    "import sys; from pathlib import Path; from im2mail.archive import Archive; "
    "Archive.open(Path(sys.argv[1])).close()"
)


def test_processes_opening_a_new_archive_at_once_migrate_it_once(path: Path) -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", OPENER, str(path)], cwd=REPO,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]  # fmt: skip
    for proc in procs:
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
    with raw(path) as db:
        names = [name for (name,) in db.execute("SELECT name FROM _migrations")]
    assert names == [fn.__name__ for fn in MIGRATIONS]


WRITER = textwrap.dedent(
    """
    import sys, time
    from datetime import datetime, UTC
    from pathlib import Path
    from im2mail.archive import Archive
    from im2mail.model import Message
    with Archive.open(Path(sys.argv[1])) as a:
        conv = a.conversation(1)
        for i in range(int(sys.argv[2])):
            time.sleep(float(sys.argv[3]))
            a.add_message(Message(conv.id, "in", "x", f"повідомлення {i}", datetime.now(UTC)))
            print(time.time(), flush=True)
    """
)


def start_writer(path: Path, n: int, pause: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(n), str(pause)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_reading_keeps_working_while_another_process_writes(archive: Archive, path: Path) -> None:
    customer(archive)
    writer = start_writer(path, n=300, pause=0)
    seen = set()
    while writer.poll() is None:
        seen.add(len(archive.recent(1000)))
        archive.search(SearchQuery("повідомлення"))
        archive.conversations()
    _, err = writer.communicate()
    assert writer.returncode == 0, err
    assert len(seen) > 2  # the reader saw the archive grow, and never failed
    assert len(archive.recent(1000)) == 300


def test_follow_sees_messages_of_another_process_within_a_second(
    archive: Archive, path: Path
) -> None:
    customer(archive)
    writer = start_writer(path, n=3, pause=0.3)
    received = []
    deadline = time.monotonic() + 10
    for entry in archive.follow(
        archive.last_message_id(),
        poll_interval=0.05,
        stop=lambda: len(received) >= 3 or time.monotonic() > deadline,
    ):
        received.append((entry.text, time.time()))
        if len(received) == 3:
            break
    out, err = writer.communicate(timeout=10)
    assert writer.returncode == 0, err
    committed = [float(line) for line in out.split()]
    assert [text for text, _ in received] == [f"повідомлення {i}" for i in range(3)]
    assert all(got - at < 1.0 for (_, got), at in zip(received, committed, strict=True))


def test_tail_follow_sees_another_process_within_a_second(archive):
    olena = customer(archive, "Олена", "Коваленко")
    say(archive, olena, "Добрий день!")
    proc = subprocess.Popen(
        [sys.executable, "-m", "im2mail", "tail", "-f", "-n", "1", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=os.environ,
    )
    try:
        # The last message is printed once tail has read the archive: it follows from there.
        assert json.loads(proc.stdout.readline())["text"] == "Добрий день!"
        writer = subprocess.run(
            [
                sys.executable,
                "-c",
                "from tests.support.chats import say; from im2mail import config;"
                "from im2mail.archive import Archive; w = config.paths();"
                "a = Archive.open(w.archive, w.blobs);"
                f"say(a, a.conversation({olena.id}), 'Нове повідомлення', minutes=90)",
            ],
            cwd=REPO,
            env=os.environ,
            check=True,
        )
        assert writer.returncode == 0
        written = time.monotonic()
        line = proc.stdout.readline()
        assert time.monotonic() - written < 1.0
        assert json.loads(line)["text"] == "Нове повідомлення"
    finally:
        proc.terminate()
        proc.wait(timeout=5)
