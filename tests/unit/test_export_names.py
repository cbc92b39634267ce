"""Exports with hostile file names (as an older archive may hold them: before names were
cleaned at parse time, or from a Telegram export): the mbox stays one email per message
with its headers, the HTML export never fails on a name, and what it writes is private."""

from __future__ import annotations

import mailbox
import os
import stat
from email import policy
from email.parser import BytesParser
from pathlib import Path
from urllib.parse import quote

import pytest

from im2mail.export import mbox as export_mbox
from im2mail.export.write import export
from im2mail.model import NewAttachment
from tests.support.bad_names import BAD_NAME, EMOJI, assert_clean
from tests.support.chats import customer, say

PDF = b"%PDF-1.4 invoice"
# Each would end the header and start a new one, or a new message, if written as is.
FORGERS = [
    BAD_NAME,
    'a"; filename="evil.exe',
    "x\nFrom mallory@evil.example Mon Jan  1 00:00:00 2024\nSubject: forged\n\nbody.txt",
    "=?utf-8?q?=0D=0AX-Evil:_1?=.txt",
    "нормальна назва.pdf",
    "plain name (1).pdf",
]


@pytest.fixture
def archive(archive):
    olena = customer(archive, "Олена\r\nX-Evil: 1", "Коваль")
    for n, name in enumerate(FORGERS):
        file = NewAttachment(name, "application/pdf\r\nX-Evil: 2", PDF + bytes([n]))
        say(archive, olena, f"file {n}", minutes=n, files=[file])
    say(archive, olena, "lost", minutes=10, files=[NewAttachment(BAD_NAME, "x/y", size=9)])
    return archive


def test_mbox_names_cannot_add_a_header_or_a_message(archive, tmp_path):
    export(archive, None, "mbox", tmp_path / "o.mbox")
    parse = BytesParser(policy=policy.default).parsebytes
    got = [parse(m.as_bytes()) for m in mailbox.mbox(tmp_path / "o.mbox")]
    assert [m.get_body(("plain",)).get_content().split("\n")[0] for m in got] == [
        *(f"file {n}" for n in range(len(FORGERS))), "lost"]  # fmt: skip
    for n, message in enumerate(got[: len(FORGERS)]):
        assert "X-Evil" not in message and "Subject" in message
        assert message.defects == []
        (part,) = message.iter_attachments()
        assert part.get_content_type() == "application/octet-stream"  # the type had a CR/LF
        assert part.get_content() == PDF + bytes([n])
    names = [next(m.iter_attachments()).get_filename() for m in got[: len(FORGERS)]]
    assert_clean(names[0])
    assert names[1:] == [
        'a"; filename="evil.exe',  # the customer's name, quotes and all, as one value
        "x From mallory@evil.example Mon Jan  1 00:00:00 2024 Subject: forged body.txt",
        "=?utf-8?q?=0D=0AX-Evil:_1?=.txt",  # not decoded into a line break
        "нормальна назва.pdf",
        "plain name (1).pdf",
    ]
    raw = (tmp_path / "o.mbox").read_text(encoding="utf-8")
    assert raw.count("\nFrom ") == len(FORGERS)  # the separators between the messages, no more
    assert "[file not kept: Рахунок X-Evil: 1 From mallory" in raw


def test_a_long_name_is_written_in_rfc_2231_sections_no_line_over_78():
    header = "Content-Disposition: attachment;" + export_mbox.disposition_name(BAD_NAME)
    assert max(len(line) for line in header.split("\n")) <= 78
    assert all(line.startswith(" filename*") for line in header.split("\n")[1:])
    part = BytesParser(policy=policy.default).parsebytes(f"{header}\n\nx".encode())
    assert_clean(part.get_filename())
    assert part.get_filename().encode().count(b"\xf0\x9f\x98\x80") > 40  # emoji intact


def test_html_export_cuts_names_by_bytes_and_never_fails_on_one(archive, tmp_path):
    done = export(archive, None, "html", tmp_path / "site")
    assert done.messages == len(FORGERS) + 1
    files = sorted((tmp_path / "site" / "files").iterdir())
    assert len(files) == len(FORGERS)
    for f in files:
        assert len(f.name.encode()) <= 255
        assert "\n" not in f.name and "\r" not in f.name
    longest = max(files, key=lambda f: len(f.name.encode()))
    assert longest.name.endswith("😀.pdf") and EMOJI[:10] in longest.name
    page = (tmp_path / "site" / "conversation-1.html").read_text(encoding="utf-8")
    for f in files:
        assert f.read_bytes().startswith(PDF)
        assert f'href="files/{quote(f.name)}"' in page


def test_exported_files_are_private_copies_not_links_to_the_archive(archive, tmp_path):
    os.umask(0o022)
    export(archive, None, "html", tmp_path / "site")
    export(archive, None, "mbox", tmp_path / "all.mbox")
    site = tmp_path / "site"
    written = [p for p in site.rglob("*")]
    assert {stat.S_IMODE(p.stat().st_mode) for p in written if p.is_file()} == {0o600}
    assert {stat.S_IMODE(p.stat().st_mode) for p in [site, *written] if p.is_dir()} == {0o700}
    assert stat.S_IMODE((tmp_path / "all.mbox").stat().st_mode) == 0o600
    blob = archive.blob_path(archive.message(1).attachments[0].sha256)
    (copy,) = [f for f in (site / "files").iterdir() if f.read_bytes() == blob.read_bytes()]
    assert copy.stat().st_ino != blob.stat().st_ino and blob.stat().st_nlink == 1
    copy.chmod(0o644)
    copy.write_bytes(b"edited")  # a later edit of the export leaves the archive as it was
    assert blob.read_bytes().startswith(PDF) and stat.S_IMODE(blob.stat().st_mode) == 0o600


def test_a_name_the_file_system_refuses_still_exports(archive, tmp_path, monkeypatch):
    """Whatever a name does on this file system (too long in bytes for a FAT stick, a
    character it refuses), the export goes on with a plain name for that file."""
    import im2mail.export.html as writer

    real = writer._copy

    def picky(source: Path, target: Path) -> None:
        if "Рахунок" in target.name:
            raise OSError(36, "File name too long")
        real(source, target)

    monkeypatch.setattr(writer, "_copy", picky)
    export(archive, None, "html", tmp_path / "site")
    names = [f.name for f in (tmp_path / "site" / "files").iterdir()]
    assert len(names) == len(FORGERS)
    assert sum(1 for n in names if n.endswith("-file.pdf")) == 1
