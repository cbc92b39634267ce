"""MailboxWatcher against a real IMAP server (pymap): hand-over once, move or flag,
ignored mail left unread, restarts, IDLE latency, prompt stop, reconnect after a drop."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage

import pytest
from imapclient import IMAPClient

from im2mail.config import ImapConfig
from im2mail.mail.watcher import MailboxWatcher
from tests.support.imap_server import (
    PASSWORD,
    USER,
    ImapServer,
    free_port,
    start_pymap,
    stop_pymap,
)

pytestmark = pytest.mark.e2e


def settings(server: ImapServer, **changes) -> ImapConfig:
    values = dict(host=server.host, port=server.port, security="none", username=server.user)
    values.update(changes)
    return ImapConfig(**values)


def mail(subject: str) -> bytes:
    m = EmailMessage()
    m["From"] = "manager@shop.example"
    m["To"] = "orders+tok@shop.example"
    m["Subject"] = subject
    m["Message-ID"] = f"<{subject.replace(' ', '.')}@mua.example>"
    m.set_content(f"body of {subject}\n")
    return m.as_bytes()


class Box:
    """The test's own IMAP session (pymap's login is slow: one per test, not per step)."""

    def __init__(self, server: ImapServer) -> None:
        self.client = IMAPClient(server.host, port=server.port, ssl=False, timeout=5)
        self.client.login(server.user, server.password)
        self.lock = threading.Lock()

    def append(self, subject: str, folder: str = "INBOX") -> None:
        with self.lock:
            self.client.append(folder, mail(subject))

    def listing(self, folder: str) -> dict[str, tuple[bytes, ...]]:
        """Subject -> flags of every message in folder ({} when the folder is missing)."""
        with self.lock:
            c = self.client
            if not c.folder_exists(folder):
                return {}
            c.select_folder(folder, readonly=True)
            data = c.fetch(c.search("ALL"), ["FLAGS", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
        out = {}
        for item in data.values():
            header = item[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().strip()
            out[header.removeprefix("Subject: ")] = item[b"FLAGS"]
        return out

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.logout()


@pytest.fixture
def box(imap_server) -> Iterator[Box]:
    b = Box(imap_server)
    yield b
    b.close()


class Recorder:
    """The handler: remembers what it got; "ignore" for subjects starting with "other"."""

    def __init__(self, box: Box | None = None) -> None:
        self.got: list[tuple[int, str]] = []
        self.flags_when_handled: list[tuple[bytes, ...]] = []
        self.box = box
        self.changed = threading.Condition()

    def __call__(self, uid: int, raw: bytes) -> str:
        subject = next(
            line.split(": ", 1)[1] for line in raw.decode().splitlines() if line.startswith("Subj")
        )
        if self.box is not None:  # not \\Seen by the fetch: checked from outside
            self.flags_when_handled.append(self.box.listing("INBOX")[subject])
        with self.changed:
            self.got.append((uid, subject))
            self.changed.notify_all()
        return "ignore" if subject.startswith("other") else "done"

    def subjects(self) -> list[str]:
        return [s for _, s in self.got]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[str]:
        with self.changed:
            self.changed.wait_for(lambda: len(self.got) >= count, timeout)
        return self.subjects()


def wait_until(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


@pytest.fixture
def running() -> Iterator[Callable[..., MailboxWatcher]]:
    started: list[MailboxWatcher] = []

    def start(server, seen, handle, cls=MailboxWatcher, **kw) -> MailboxWatcher:
        changes = {k: kw.pop(k) for k in ("processed_folder", "folder") if k in kw}
        w = cls(settings(server, **changes), server.password, seen, handle, **kw)
        w.start()
        started.append(w)
        assert w.ready.wait(5), "watcher did not connect"
        return w

    yield start
    for w in started:
        w.stop()


def test_new_mail_handed_over_once_and_moved_unread(imap_server, box, archive, running):
    box.append("reply one")
    box.append("other newsletter")
    rec = Recorder(box)
    w = running(imap_server, archive, rec)
    assert rec.wait_for(2) == ["reply one", "other newsletter"]
    assert rec.flags_when_handled == [(), ()]  # BODY.PEEK: nothing \Seen before the move
    assert wait_until(lambda: "reply one" in box.listing("im2mail"))
    assert b"\\Seen" not in box.listing("im2mail")["reply one"]
    inbox = box.listing("INBOX")
    assert list(inbox) == ["other newsletter"]  # the ignored one stays, unread
    assert b"\\Seen" not in inbox["other newsletter"]
    assert archive.was_seen(w.key(rec.got[0][0]))
    w.stop()

    # restart: the ignored one is still in INBOX but is not handed over again
    rec2 = Recorder()
    box.append("reply two")
    running(imap_server, archive, rec2)
    assert rec2.wait_for(1) == ["reply two"]
    time.sleep(0.3)
    assert rec2.subjects() == ["reply two"]
    assert rec.subjects() == ["reply one", "other newsletter"]


def test_mail_arriving_during_idle_comes_within_two_seconds(imap_server, box, archive, running):
    rec = Recorder()
    w = running(imap_server, archive, rec)
    assert "IDLE" in w._caps
    time.sleep(0.3)  # well inside IDLE
    for n in range(3):
        sent = time.monotonic()
        box.append(f"reply {n}")
        assert rec.wait_for(n + 1, timeout=2) == [f"reply {i}" for i in range(n + 1)]
        assert time.monotonic() - sent < 2
    assert wait_until(lambda: len(box.listing("im2mail")) == 3)


class WithoutMove(MailboxWatcher):
    """A server without MOVE, as far as the watcher knows: COPY + \\Deleted + UID EXPUNGE."""

    def _connect(self) -> None:
        super()._connect()
        self._caps.discard("MOVE")


def test_polling_without_idle_and_without_move(imap_server, box, archive, running):
    box.append("other first")
    rec = Recorder()
    w = running(imap_server, archive, rec, use_idle=False, poll_interval=0.2, cls=WithoutMove)
    assert "UIDPLUS" in w._caps and "MOVE" not in w._caps
    box.append("reply polled")
    assert rec.wait_for(2, timeout=3) == ["other first", "reply polled"]
    assert wait_until(lambda: list(box.listing("im2mail")) == ["reply polled"])
    assert list(box.listing("INBOX")) == ["other first"]  # expunged: that UID only


def test_empty_processed_folder_flags_seen_in_place(imap_server, box, archive, running):
    box.append("reply kept")
    box.append("other kept")
    rec = Recorder()
    running(imap_server, archive, rec, processed_folder="")
    assert rec.wait_for(2) == ["reply kept", "other kept"]
    assert wait_until(lambda: b"\\Seen" in box.listing("INBOX")["reply kept"])
    inbox = box.listing("INBOX")
    assert b"\\Seen" not in inbox["other kept"]
    assert box.listing("im2mail") == {}


def test_handler_error_leaves_the_mail_for_later(imap_server, box, archive, running):
    box.append("reply boom")
    calls = []

    def failing(uid, raw):
        calls.append(uid)
        raise RuntimeError("relay down")

    w = running(imap_server, archive, failing)
    assert wait_until(lambda: calls)
    w.stop()
    assert list(box.listing("INBOX")) == ["reply boom"]
    rec = Recorder()
    running(imap_server, archive, rec)
    assert rec.wait_for(1) == ["reply boom"]  # offered again, since never recorded


def test_stop_is_prompt(imap_server, archive, running):
    for kw in ({}, {"use_idle": False, "poll_interval": 30}):
        w = running(imap_server, archive, Recorder(), **kw)
        time.sleep(0.2)
        began = time.monotonic()
        w.stop()
        assert time.monotonic() - began < 2


def test_uidvalidity_change_rescans_without_handing_twice(imap_server, box, archive, running):
    box.client.create_folder("Orders")
    box.append("reply kept", "Orders")
    box.append("other kept", "Orders")
    rec = Recorder()
    w = running(imap_server, archive, rec, processed_folder="", folder="Orders")
    assert rec.wait_for(2) == ["reply kept", "other kept"]
    before = w.uidvalidity
    w.stop()

    # the folder is rebuilt (a server migration, say): same mail, new UIDVALIDITY
    with box.lock:
        c = box.client
        c.delete_folder("Orders")
        c.create_folder("Orders")
        c.append("Orders", mail("reply kept"))
        c.append("Orders", mail("reply new"))
    rec2 = Recorder()
    w2 = running(imap_server, archive, rec2, processed_folder="", folder="Orders")
    assert w2.uidvalidity != before
    assert rec2.wait_for(1) == ["reply new"]
    time.sleep(0.3)
    assert rec2.subjects() == ["reply new"]  # "reply kept" known by its Message-ID
    flags = box.listing("Orders")
    assert b"\\Seen" in flags["reply kept"] and b"\\Seen" in flags["reply new"]


def test_reconnects_after_the_server_goes_away(archive, running):
    port = free_port()
    server = ImapServer("127.0.0.1", port, USER, PASSWORD)
    proc = start_pymap(port)
    try:
        rec = Recorder()
        w = running(server, archive, rec, backoff_start=0.2)
        box = Box(server)
        box.append("reply before")
        assert rec.wait_for(1) == ["reply before"]
        validity_before = w.uidvalidity
        stop_pymap(
            proc, signal.SIGKILL
        )  # drops the connection mid-IDLE; the new server has a fresh mailbox
        assert wait_until(lambda: not w.ready.is_set(), 3)
        proc = start_pymap(port)
        assert wait_until(lambda: w.sessions == 2 and w.ready.is_set(), 8)
        box = Box(server)
        box.append("reply after")
        box.close()
        assert rec.wait_for(2) == ["reply before", "reply after"]
        assert w.uidvalidity != validity_before or rec.got[1][0] != rec.got[0][0]
    finally:
        stop_pymap(proc, signal.SIGKILL)
