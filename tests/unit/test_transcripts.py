"""Transcript pages and their links (transcripts.py): what a valid link shows, and that
anything else (tampered, expired, a file's token, a conversation that isn't there) is
nothing at all, which the relay answers with 404."""

from __future__ import annotations

import html as html_module
from datetime import timedelta

import pytest

from im2mail import signing
from im2mail.archive.db import now
from im2mail.model import NewAttachment
from im2mail.relay.transcripts import Transcripts, link
from tests.support.chats import customer, say
from tests.unit.test_compose import BUILDER, CONV, html, plain, said, wire

KEY = "k" * 43


@pytest.fixture
def archive(archive):
    olena = customer(archive, "Олена", "Петренко")
    say(archive, olena, "Скільки коштують 200 візиток?")
    say(archive, olena, "450 грн", direction="out", minutes=5)
    say(archive, olena, "Рахунок", minutes=7,
        files=[NewAttachment("рахунок.pdf", "application/pdf", b"%PDF-1.4")])  # fmt: skip
    return archive


def token_of(url: str) -> str:
    return url.rsplit("/c/", 1)[1]


def test_a_link_opens_its_conversation_with_files_from_the_relay(archive):
    url = link("https://bot.shop.example/im2mail/", KEY, 1)
    assert url.startswith("https://bot.shop.example/im2mail/c/")
    page = Transcripts(archive, KEY).render(token_of(url))
    assert page is not None
    assert "Скільки коштують 200 візиток?" in page and "450 грн" in page
    assert page.count('class="msg customer"') == 2 and page.count('class="msg shop"') == 1
    (href,) = [h for h in page.split('href="')[1:] if h.startswith("../f/")]
    file_token = href.split('"')[0].removeprefix("../f/")
    assert signing.verify(KEY, signing.FILE, file_token) is not None  # the relay serves it
    assert "all conversations" not in page  # no export index beside it
    assert "img-src data: 'self'" in html_module.unescape(page)  # pictures from the relay


@pytest.mark.parametrize(
    "token",
    [
        signing.sign(KEY, signing.CONVERSATION, 1, now() - timedelta(seconds=1)),  # expired
        signing.sign(KEY, signing.FILE, 1, now() + timedelta(days=1)),  # a file's token
        signing.sign("other" * 9, signing.CONVERSATION, 1, now() + timedelta(days=1)),
        signing.sign(KEY, signing.CONVERSATION, 999, now() + timedelta(days=1)),  # not there
        signing.sign(KEY, signing.CONVERSATION, "1 OR 1=1", now() + timedelta(days=1)),
        "",
        "not-a-token",
    ],
    ids=["expired", "file", "other-key", "unknown", "not-an-id", "empty", "garbage"],
)
def test_anything_but_a_valid_link_shows_nothing(archive, token):
    assert Transcripts(archive, KEY).render(token) is None


def test_a_tampered_link_shows_nothing(archive):
    token = token_of(link("https://bot.shop.example", KEY, 1))
    flipped = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    assert Transcripts(archive, KEY).render(flipped) is None


def test_the_email_carries_the_link_in_text_and_html():
    url = "https://bot.shop.example/c/TOKEN"
    email = wire(BUILDER.message([said("Добрий день")], CONV, message_id="<m@x>", transcript=url))
    assert f"The whole conversation: {url}" in plain(email)
    assert f'href="{url}"' in html(email)
    without = wire(BUILDER.message([said("Добрий день")], CONV, message_id="<m@x>"))
    assert "whole conversation" not in plain(without)
