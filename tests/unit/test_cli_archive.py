"""search, tail and conversations as a user runs them, on archives made by the tests."""

from __future__ import annotations

import json
import os

import pytest

from im2mail import config
from im2mail.model import NewAttachment
from tests.conftest import run_cli
from tests.support.archive_sql import writing
from tests.support.chats import customer, say


@pytest.fixture
def shop(archive):
    """Two customers: Olena (Telegram, answered) and Petro (Viber, waiting)."""
    olena = customer(archive, "Олена", "Коваленко", username="olena_k", source="qr-shop")
    petro = customer(archive, "Петро", "", channel="viber", bot="vb", phone="+380671234567")
    say(archive, olena, "Добрий день! Потрібні візитки, 200 шт, формат А4?", minutes=0)
    say(archive, olena, "Так, зробимо до п’ятниці. Ще щось?", direction="out", minutes=5)
    say(
        archive,
        olena,
        "Ещё банер 2x1",
        minutes=7,
        files=[NewAttachment("макет_банер.pdf", "application/pdf", b"%PDF-1.4 x")],
    )
    say(archive, olena, "Готово, рахунок у листі.", direction="out", minutes=30)
    say(archive, petro, "Скільки коштують наліпки A4?", minutes=60)
    return olena, petro


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_search_json_records_have_the_documented_fields(shop):
    result = run_cli("search", "візитки", "--json")
    assert result.code == 0, result.err
    (hit,) = lines(result.out)
    assert set(hit) == {
        "conversation",
        "message",
        "channel",
        "customer",
        "direction",
        "author",
        "created",
        "text",
        "snippet",
    }
    assert hit["customer"] == "Олена Коваленко"
    assert hit["channel"] == "telegram"
    assert hit["direction"] == "in"
    assert hit["created"] == "2026-01-05T09:00:00+00:00"
    assert "**візитки**" in hit["snippet"]


def test_search_folds_case_yo_apostrophes_and_lookalikes(shop):
    def found(query: str) -> list[str]:
        return [h["text"] for h in lines(run_cli("search", query, "--json").out)]

    assert found("ВІЗИТКИ") == ["Добрий день! Потрібні візитки, 200 шт, формат А4?"]
    assert found("еще банер") == ["Ещё банер 2x1"]
    assert found("п'ятниці") == found("пʼятниці") == ["Так, зробимо до п’ятниці. Ще щось?"]
    # Cyrillic А4 in one message, Latin A4 in the other: each query finds both, newest first.
    assert (
        found("A4")
        == found("А4")
        == [
            "Скільки коштують наліпки A4?",
            "Добрий день! Потрібні візитки, 200 шт, формат А4?",
        ]
    )


def test_search_finds_file_and_customer_names(shop):
    assert [h["text"] for h in lines(run_cli("search", "макет_банер", "--json").out)] == [
        "Ещё банер 2x1"
    ]
    assert {h["customer"] for h in lines(run_cli("search", "петро", "--json").out)} == {"Петро"}


def test_search_filters(shop):
    def count(*args: str) -> int:
        return len(lines(run_cli("search", *args, "--json").out))

    assert count("A4") == 2
    assert count("A4", "--channel", "viber") == 1
    assert count("A4", "--customer", "olena_k") == 1
    assert count("A4", "--customer", "+38067") == 1
    assert count("A4", "--since", "2026-01-05T09:30+00:00") == 1
    assert count("A4", "--until", "2026-01-05T09:30+00:00") == 1
    assert count("A4", "--limit", "1") == 1


def test_search_human_output_shows_original_text(shop):
    result = run_cli("search", "еще")
    assert result.code == 0
    assert "**Ещё** банер 2x1" in result.out  # the original ё, hit marked when piped
    assert "#1" in result.out and "Олена Коваленко" in result.out


def test_search_without_hits_prints_nothing_and_succeeds(shop):
    result = run_cli("search", "телескоп")
    assert (result.code, result.out) == (0, "")


@pytest.mark.parametrize("query", ['"візитки', "AND", "NEAR(", "a:b", "-x", "^(", '"" OR *'])
def test_fts_syntax_is_never_a_traceback(shop, query):
    result = run_cli("search", "--", query)
    assert result.code in (0, 2), result.err
    assert "Traceback" not in result.err
    if result.code == 2:
        assert result.err.startswith("error: ")


def test_unbalanced_quote_searches_the_words(shop):
    found = lines(run_cli("search", '"візитки 200', "--json").out)
    assert [h["message"] for h in found] == [1]


def test_bad_since_is_a_usage_error(shop):
    result = run_cli("search", "x", "--since", "last tuesday")
    assert result.code == 2
    assert "cannot read 'last tuesday' as a time" in result.err


def test_tail_shows_both_directions_in_order(shop):
    result = run_cli("tail", "--json")
    records = lines(result.out)
    assert [r["direction"] for r in records] == ["in", "out", "in", "out", "in"]
    assert records[1]["author"] == "anna@shop.example"
    human = run_cli("tail", "-n", "2").out.splitlines()
    assert len(human) == 2
    assert "Готово, рахунок у листі." in human[0]
    assert "Петро →" in human[1]


def test_tail_one_conversation_and_unknown_id(shop):
    olena, _ = shop
    records = lines(run_cli("tail", "-c", str(olena.id), "--json").out)
    assert {r["conversation"] for r in records} == {olena.id}
    missing = run_cli("tail", "-c", "999")
    assert missing.code == 5
    assert "no conversation #999" in missing.err


def test_conversations_show_who_is_waiting(shop):
    records = lines(run_cli("conversations", "--json").out)
    assert [r["customer"] for r in records] == ["Петро", "Олена Коваленко"]
    petro, olena = records
    assert petro["waiting_since"] == "2026-01-05T10:00:00+00:00"
    assert olena["waiting_since"] is None
    assert olena["source"] == "qr-shop"
    assert set(olena) == {
        "id",
        "channel",
        "bot",
        "customer",
        "source",
        "last_message_at",
        "waiting_since",
    }
    waiting = lines(run_cli("conversations", "--waiting", "--json").out)
    assert [r["customer"] for r in waiting] == ["Петро"]
    table = run_cli("conversations").out
    assert "Петро" in table and "Viber" in table


def test_commands_on_a_missing_archive_say_so(isolated_home):
    for argv in (["search", "x"], ["tail"], ["conversations"]):
        result = run_cli(*argv)
        assert result.code == 0
        assert result.out == ""
        assert "no archive yet" in result.err


def test_corrupt_archive_is_a_clear_error(isolated_home):
    config.paths().archive.write_bytes(os.urandom(8192))
    result = run_cli("search", "x")
    assert result.code == 1
    assert "is not an im2mail archive or is damaged" in result.err
    assert "Traceback" not in result.err


def test_archive_from_a_newer_version_is_refused(archive, shop):
    with writing(archive) as db:
        db.execute(
            "INSERT INTO _migrations (name, applied_at) VALUES ('m999_future', '2030-01-01')"
        )
    result = run_cli("conversations")
    assert result.code == 1
    assert "written by a newer version of im2mail" in result.err
    assert "pip install -U im2mail" in result.err


def test_non_utf8_text_in_the_archive_is_shown_not_crashed_on(archive, shop):
    with writing(archive) as db:
        db.execute("UPDATE messages SET text = CAST(x'd0bfd0ff41' AS TEXT) WHERE id = 2")
    result = run_cli("tail", "--json")
    assert result.code == 0, result.err
    assert lines(result.out)[1]["text"] == bytes.fromhex("d0bfd0ff41").decode(errors="replace")


def test_hostile_text_cannot_drive_the_terminal_or_break_the_table(archive):
    mallory = customer(archive, "[/red]Mallory[bold]", "\x1b]0;pwned\x07")
    say(archive, mallory, "clear\x1b[2J screen \x1b[31mred\x9b1m", minutes=1)
    for argv in (["tail"], ["search", "screen"], ["conversations"]):
        result = run_cli(*argv, env={"FORCE_COLOR": "1", "NO_COLOR": ""})
        assert result.code == 0, result.err
        assert "[/red]Mallory[bold]" in result.out  # a name, not markup
        assert "\x1b]0;" not in result.out and "\x1b[2J" not in result.out
        assert "\x07" not in result.out and "\x9b" not in result.out
