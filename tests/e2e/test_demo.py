"""`im2mail demo` as a new user runs it: the whole round trip with nothing configured,
leaving an archive that the other commands read."""

from __future__ import annotations

import json

import pytest

from im2mail.ops.demo_script import ANSWER, CAPTION, QUESTION, SATURDAY_ANSWER
from tests.conftest import run_cli, run_installed

pytestmark = pytest.mark.e2e


def test_the_demo_plays_the_round_trip_and_leaves_a_searchable_archive(tmp_path):
    home = tmp_path / "demo"
    result = run_installed("demo", "--home", str(home), "--speed", "0", timeout=90)
    assert result.code == 0, result.both
    shown = result.err
    for hop in "①②③④⑤⑥⑦⑧":
        assert hop in shown
    assert QUESTION in shown
    assert "Subject: [Telegram] Олена Петренко #1" in shown
    assert f"Anna's reply → Олена's Telegram: \"{ANSWER}\"" in shown  # the words, no quote
    assert f'Дмитро\'s Telegram: "{SATURDAY_ANSWER}"' in shown
    assert f"IM2MAIL_HOME={home} im2mail search візитки" in shown
    assert "Traceback" not in result.both

    env = {"IM2MAIL_HOME": str(home)}
    search = run_cli("search", "візитки", "--json", env=env).out
    hits = [json.loads(line) for line in search.splitlines()]
    # the word as typed first, then its other forms (візиток), newest first
    assert [(h["direction"], h["text"]) for h in hits] == [
        ("in", CAPTION), ("out", ANSWER), ("in", QUESTION)
    ]  # fmt: skip
    exact = run_cli("search", "візитки", "--exact", "--json", env=env).out
    assert [json.loads(line)["text"] for line in exact.splitlines()] == [CAPTION]
    prefix = run_cli("search", "візит*", "--json", env=env).out  # візиток, візитки
    assert QUESTION in [json.loads(line)["text"] for line in prefix.splitlines()]
    tail = [json.loads(line) for line in run_cli("tail", "--json", env=env).out.splitlines()]
    replies = [(t["author"], t["text"]) for t in tail if t["direction"] == "out"]
    assert ("anna@shop.example", ANSWER) in replies
    assert ("petro@shop.example", SATURDAY_ANSWER) in replies


def test_a_second_run_in_the_same_home_starts_afresh(tmp_path):
    home = tmp_path / "demo"
    for _ in range(2):
        result = run_installed("demo", "--home", str(home), "--speed", "0", timeout=90)
        assert result.code == 0, result.both
    out = run_cli("conversations", "--json", env={"IM2MAIL_HOME": str(home)}).out
    assert len(out.splitlines()) == 2  # Олена and Дмитро, once each


def test_a_home_with_someone_elses_config_is_refused_untouched(tmp_path):
    home = tmp_path / "real"
    home.mkdir()
    config = home / "config.toml"
    config.write_text('[mail]\naddress = "orders@shop.example"\n', encoding="utf-8")
    result = run_installed("demo", "--home", str(home), "--speed", "0")
    assert result.code == 3
    assert "was not made by im2mail demo" in result.err
    assert "hint:" in result.err
    assert config.read_text(encoding="utf-8") == '[mail]\naddress = "orders@shop.example"\n'
    assert sorted(p.name for p in home.iterdir()) == ["config.toml"]
