"""`im2mail export`: mbox read back by Python's mailbox and email packages, HTML pages
checked as a browser would parse them; refusing to overwrite, unknown ids, bad paths."""

from __future__ import annotations

import mailbox
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from html.parser import HTMLParser
from pathlib import Path

import pytest

from im2mail.export.write import export
from im2mail.model import NewAttachment
from tests.conftest import run_cli
from tests.support.chats import customer, say

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(40))
PDF = b"%PDF-1.4 invoice"
HOSTILE = "<script>alert('x')</script> <img src=x onerror=alert(1)> & \"quotes\""


@pytest.fixture
def archive(archive):
    return with_two_customers(archive)


def with_two_customers(archive):
    """Olena's order with a layout and an invoice, and Dmytro's hostile text."""
    olena = customer(archive, "Олена", "Петренко", username="olena_p", source="qr-flyer")
    say(archive, olena, "Добрий день! Скільки коштують 200 візиток?")
    say(archive, olena, "Ось 200 візиток — 450 грн.", direction="out", minutes=5)
    say(archive, olena, "Макет", minutes=7,
        files=[NewAttachment("макет А4.png", "image/png", PNG)])  # fmt: skip
    say(archive, olena, "Рахунок", direction="out", minutes=9,
        files=[NewAttachment("Рахунок №17.pdf", "application/pdf", PDF)])  # fmt: skip
    say(archive, olena, "From the start\nFrom here\n>From quoted\n" + "довгий " * 300, minutes=11)
    dmytro = customer(archive, "Dmytro", "", username="dm")
    say(archive, dmytro, HOSTILE + " see https://shop.example/price?a=1&b=2.")
    return archive


def emails(path: Path) -> list[EmailMessage]:
    parse = BytesParser(policy=policy.default).parsebytes
    return [parse(m.as_bytes()) for m in mailbox.mbox(path)]


def test_mbox_has_one_threaded_email_per_message_with_files(archive, tmp_path):
    done = export(archive, [1], "mbox", tmp_path / "olena.mbox")
    assert (done.conversations, done.messages) == (1, 5)
    got = emails(tmp_path / "olena.mbox")
    assert len(got) == 5
    first, reply, photo, invoice, long = got
    assert first["Subject"] == "[Telegram] Олена Петренко #1" == invoice["Subject"]
    assert first["From"].addresses[0].display_name == "Олена Петренко"
    assert reply["From"].addresses[0].addr_spec == "anna@shop.example"
    assert reply["In-Reply-To"] == first["Message-ID"]
    assert invoice["References"].split() == [m["Message-ID"] for m in got[:3]]
    assert len({m["Message-ID"] for m in got}) == 5
    assert first.get_body(("plain",)).get_content().strip() == (
        "Добрий день! Скільки коштують 200 візиток?"
    )
    (png,) = [p for p in photo.iter_attachments()]
    assert (png.get_filename(), png.get_content()) == ("макет А4.png", PNG)
    (pdf,) = [p for p in invoice.iter_attachments()]
    assert (pdf.get_filename(), pdf.get_content()) == ("Рахунок №17.pdf", PDF)
    text = long.get_body(("plain",)).get_content()
    assert "довгий " * 300 in text.replace("\n", "")  # a 2,100-character line survives


def test_mbox_escapes_lines_that_would_start_a_new_message(archive, tmp_path):
    export(archive, [1], "mbox", tmp_path / "o.mbox")
    raw = (tmp_path / "o.mbox").read_text(encoding="utf-8")
    assert raw.count("\nFrom ") == 4  # the separators between five messages, no more
    assert "\n>From the start\n>From here\n>>From quoted" in raw or "base64" in raw


def test_mbox_of_everything_in_conversation_order(archive, tmp_path):
    export(archive, None, "mbox", tmp_path / "all.mbox")
    got = emails(tmp_path / "all.mbox")
    assert [m["X-Im2mail-Conversation"] for m in got] == ["1"] * 5 + ["2"]
    assert HOSTILE in got[-1].get_body(("plain",)).get_content()


class Page(HTMLParser):
    """What a browser would build: elements with their attributes, and the text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def test_html_pages_escape_what_customers_wrote(archive, tmp_path):
    export(archive, None, "html", tmp_path / "site")
    page = Page((tmp_path / "site" / "conversation-2.html").read_text(encoding="utf-8"))
    assert [t for t, _ in page.tags if t == "script"] == []
    assert all("onerror" not in attrs for _, attrs in page.tags)
    assert all(attrs.get("src", "").startswith("data:") for t, attrs in page.tags if t == "img")
    (policy,) = [
        a["content"] for t, a in page.tags if a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert policy == "default-src 'none'; img-src data:; style-src 'unsafe-inline'"  # offline
    assert HOSTILE.replace("&", "&") in "".join(page.text)  # shown as text, as written
    links = [attrs["href"] for t, attrs in page.tags if t == "a"]
    assert "https://shop.example/price?a=1&b=2" in links  # the full stop is not in it


def test_html_page_shows_both_sides_pictures_inline_and_files_linked(archive, tmp_path):
    export(archive, [1], "html", tmp_path / "site")
    html = (tmp_path / "site" / "conversation-1.html").read_text(encoding="utf-8")
    page = Page(html)
    sides = [
        attrs["class"] for t, attrs in page.tags if t == "div" and "msg" in attrs.get("class", "")
    ]
    assert sides == ["msg customer", "msg shop", "msg customer", "msg shop", "msg customer"]
    (img,) = [attrs for t, attrs in page.tags if t == "img"]
    assert img["src"].startswith("data:image/png;base64,") and img["alt"] == "макет А4.png"
    hrefs = [attrs["href"] for t, attrs in page.tags if t == "a"]
    (pdf,) = [h for h in hrefs if h.startswith("files/")]
    assert (tmp_path / "site" / Path(pdf.replace("%E2%84%96", "№"))).parent.exists()
    copied = list((tmp_path / "site" / "files").rglob("*.pdf"))
    assert [p.read_bytes() for p in copied] == [PDF]
    assert "anna@shop.example" in html and "@olena_p" in html and "source: qr-flyer" in html
    index = Page((tmp_path / "site" / "index.html").read_text(encoding="utf-8"))
    assert [a["href"] for t, a in index.tags if t == "a"] == ["conversation-1.html"]


def test_cli_export_refuses_to_overwrite_without_force(archive, tmp_path):
    target = tmp_path / "o.mbox"
    target.write_text("precious")
    refused = run_cli("export", "1", "-o", str(target))
    assert refused.code == 2 and "--force" in refused.err
    assert target.read_text() == "precious"
    forced = run_cli("export", "1", "-o", str(target), "--force")
    assert forced.code == 0, forced.err
    assert "exported 5 message(s) of 1 conversation(s)" in forced.err
    assert len(mailbox.mbox(target)) == 5


def test_cli_export_unknown_conversation_is_exit_5_and_writes_nothing(archive, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    result = run_cli("export", "1", "99", "-o", str(out / "o.mbox"))
    assert result.code == 5 and "no conversation #99" in result.err
    assert list(out.iterdir()) == []  # not even a temporary file


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "x.mbox"], "conversation ids or --all"),
        (["1", "--all", "-o", "x.mbox"], "conversation ids or --all"),
        (["1"], "-o PATH"),
    ],
)
def test_cli_export_usage_mistakes(archive, args, message):
    result = run_cli("export", *args)
    assert result.code == 2 and message in result.err


def test_cli_export_to_a_path_that_cannot_be_written(archive, tmp_path):
    result = run_cli("export", "--all", "-o", str(tmp_path / "no" / "such" / "dir.mbox"))
    assert result.code == 1
    assert "does not exist" in result.err and "Traceback" not in result.err
    blocked = tmp_path / "ro"
    blocked.mkdir()
    blocked.chmod(0o500)
    try:
        result = run_cli("export", "--all", "--format", "html", "-o", str(blocked / "site"))
        import os

        if os.geteuid() != 0:  # root writes anyway
            assert result.code == 1 and "cannot write" in result.err
    finally:
        blocked.chmod(0o700)
