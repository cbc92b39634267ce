"""`im2mail widget`'s core (im2mail/widget.py): links, the HTML snippet, the files. No
network: who each bot is comes in as BotInfo values."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from im2mail.channels import BotInfo
from im2mail.config import BotConfig
from im2mail.errors import NotFound, RuntimeFailure, UsageError
from im2mail.ops import widget

SHOP = BotConfig("shop", "telegram", mode="polling")
VSHOP = BotConfig("vshop", "viber")
PAIRS = [
    (SHOP, BotInfo("7000000001", "Друкарня", "shop_bot")),
    (VSHOP, BotInfo("pa:1", "Друкарня «Аркуш»", "arkush_print")),
]


def test_links_for_both_channels():
    got = widget.links(PAIRS, "flyer-may")
    assert got == [
        widget.BotLink("shop", "telegram", "Друкарня", "https://t.me/shop_bot?start=flyer-may"),
        widget.BotLink(
            "vshop",
            "viber",
            "Друкарня «Аркуш»",
            "viber://pa?chatURI=arkush_print&context=flyer-may",
        ),
    ]


def test_default_source_is_site():
    assert widget.DEFAULT_SOURCE == "site"
    assert widget.links(PAIRS[:1], widget.DEFAULT_SOURCE)[0].url.endswith("?start=site")


def test_link_values_are_url_encoded():
    assert widget.link_url("viber", "shop uri/ü&x=1", "a_b-9") == (
        "viber://pa?chatURI=shop%20uri%2F%C3%BC%26x%3D1&context=a_b-9"
    )
    assert widget.link_url("telegram", "@shop_bot", "x") == "https://t.me/shop_bot?start=x"
    assert widget.link_url("telegram", "we?ird", "x") == "https://t.me/we%3Fird?start=x"


@pytest.mark.parametrize(
    "source", ["", "flyer may", "флаєр", "a/b", "a&b=c", "x" * 65, "tag.dot", "a+b"]
)
def test_a_tag_either_platform_would_lose_is_refused(source):
    with pytest.raises(UsageError) as caught:
        widget.links(PAIRS, source)
    assert "lead source tag" in caught.value.message
    assert "1 to 64" in caught.value.message
    with pytest.raises(UsageError):
        widget.check_source(source)


@pytest.mark.parametrize("source", ["x", "x" * 64, "Flyer_May-2026", "0", "-_-"])
def test_tags_both_platforms_keep_are_accepted(source):
    assert widget.check_source(source) == source
    assert widget.links(PAIRS, source)[0].url.endswith(f"?start={source}")


def test_a_bot_without_a_public_name_has_no_link():
    with pytest.raises(RuntimeFailure) as caught:
        widget.links([(VSHOP, BotInfo("pa:1", "Аркуш", None))], "site")
    assert "bot 'vshop' has no public account URI on Viber" in caught.value.message
    assert "--bot" in (caught.value.hint or "")
    with pytest.raises(RuntimeFailure, match="@username on Telegram"):
        widget.links([(SHOP, BotInfo("1", "Shop", ""))], "site")


def test_no_bots_is_not_found():
    with pytest.raises(NotFound):
        widget.links([], "site")


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parsed(html: str) -> Tags:
    parser = Tags()
    parser.feed(html)
    parser.close()
    return parser


def test_snippet_has_a_button_and_an_inline_qr_per_bot_and_nothing_external():
    html = widget.snippet(widget.links(PAIRS, "flyer-may"))
    tags = parsed(html).tags
    assert tags[0] == ("div", {"class": "im2mail-widget", "style": tags[0][1]["style"]})
    hrefs = [attrs["href"] for tag, attrs in tags if tag == "a"]
    assert hrefs == [
        "https://t.me/shop_bot?start=flyer-may",
        "viber://pa?chatURI=arkush_print&context=flyer-may",
    ]
    assert [tag for tag, _ in tags].count("svg") == 2
    lowered = html.lower()
    for banned in ("<script", "<link", "<img", "<iframe", "<style", "src=", "url(", "@import"):
        assert banned not in lowered, banned
    assert not re.search(r"\son[a-z]+\s*=", lowered)  # no event handler attributes
    assert "Друкарня «Аркуш»" in html


def test_titles_are_escaped():
    evil = BotInfo("1", '<script>alert("x")</script>" onmouseover="x', "shop_bot")
    html = widget.snippet(widget.links([(SHOP, evil)], "site"))
    assert "<script" not in html.lower()
    assert "&lt;script&gt;" in html
    assert "onmouseover=" not in html.replace("onmouseover=&quot;", "")
    tags = parsed(html).tags
    titles = [attrs.get("title") for tag, attrs in tags if tag == "a"]
    assert titles == ['<script>alert("x")</script>" onmouseover="x — Telegram']
    page = widget.preview(widget.links([(SHOP, evil)], "site"), "site")
    assert "<script" not in page.lower()


def test_hrefs_are_escaped_in_attributes():
    link = widget.BotLink("v", "viber", "V", "viber://pa?chatURI=a&context=b")
    html = widget.snippet([link])
    assert 'href="viber://pa?chatURI=a&amp;context=b"' in html


def test_preview_is_a_whole_page_that_forbids_scripts():
    page = widget.preview(widget.links(PAIRS, "flyer-may"), "flyer-may")
    assert page.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in page
    assert "default-src 'none'" in page
    assert widget.snippet(widget.links(PAIRS, "flyer-may")) in page
    assert "<script" not in page.lower()


def test_write_makes_the_files(tmp_path):
    bot_links = widget.links(PAIRS, "flyer-may")
    folder = tmp_path / "out"
    written = widget.write(folder, bot_links, "flyer-may")
    assert [p.name for p in written] == [
        "widget.html", "preview.html", "shop.png", "shop.svg", "vshop.png", "vshop.svg",
    ]  # fmt: skip
    assert all(p.parent == folder and p.stat().st_size > 0 for p in written)
    assert (folder / "widget.html").read_text(encoding="utf-8") == widget.snippet(bot_links)
    assert (folder / "shop.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    svg = (folder / "vshop.svg").read_text(encoding="utf-8")
    assert "<svg" in svg and "<script" not in svg
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]  # no temp left


def test_qr_codes_are_full_qr_not_micro():
    # segno.make picks a Micro QR for short content; phone cameras don't read those.
    for content in ("x", "https://t.me/a?start=x"):
        assert not widget._qr(content).is_micro


def test_write_refuses_to_overwrite_without_force(tmp_path):
    bot_links = widget.links(PAIRS, "site")
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "shop.png").write_bytes(b"mine")
    (folder / "notes.txt").write_text("not ours")
    with pytest.raises(UsageError) as caught:
        widget.write(folder, bot_links, "site")
    assert "shop.png" in caught.value.message
    assert "not overwriting" in caught.value.message
    assert "--force" in (caught.value.hint or "")
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "shop.png"]
    assert (folder / "shop.png").read_bytes() == b"mine"
    widget.write(folder, bot_links, "site", force=True)
    assert (folder / "shop.png").read_bytes() != b"mine"
    assert (folder / "notes.txt").read_text() == "not ours"


def test_write_into_an_existing_empty_folder_needs_no_force(tmp_path):
    widget.write(tmp_path, widget.links(PAIRS, "site"), "site")
    assert (tmp_path / "widget.html").exists()


def test_write_refuses_a_file_or_a_missing_parent(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="not a folder"):
        widget.write(tmp_path / "file", widget.links(PAIRS, "site"), "site", force=True)
    with pytest.raises(RuntimeFailure, match="does not exist"):
        widget.write(tmp_path / "no" / "such", widget.links(PAIRS, "site"), "site")
