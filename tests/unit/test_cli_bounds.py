"""Numbers, dates and ages a user can type that no computer date or SQLite integer holds:
a clear one-line error and exit 2 (or 5 for an id no conversation can have, 3 for such a
value in config.toml), never an OverflowError."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from im2mail import config
from im2mail.cli import archive as cli_archive
from im2mail.errors import UsageError
from im2mail.timeutil import parse_when
from tests.conftest import VALID_CONFIG, run_cli
from tests.support.chats import customer, say

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
HUGE = "99999999999999999999999"


@pytest.mark.parametrize(
    "when",
    ["0001-01-01", "0001-01-01T00:00+14:00", "1969-12-31T23:59Z", "99999999999d",
     "999999999d", "9" * 5000 + "m", "9999-12-31T23:59:59-14:00", "9999-12-31"],
)  # fmt: skip
def test_times_out_of_range_are_usage_errors(when):
    with pytest.raises(UsageError, match="out of range: a time must be between 1970-01-01"):
        parse_when(when, now=NOW)


@pytest.mark.parametrize("when", ["1970-01-01T00:00Z", "0d", "30d", "2026-11-01", "9999-01-01"])
def test_times_in_range_still_read(when):
    assert parse_when(when, now=NOW).tzinfo is not None


@pytest.fixture
def archive(archive):
    say(archive, customer(archive), "Добрий день")
    return archive


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["search", "x", "--limit", HUGE], "--limit"),
        (["search", "x", "--limit", "1000001"], "--limit"),
        (["search", "x", "--since", "0001-01-01"], "'0001-01-01' is out of range"),
        (["search", "x", "--since", "99999999999d"], "'99999999999d' is out of range"),
        (["search", "x", "--until", "9999-12-31T23:59:59-14:00"], "is out of range"),
        (["tail", "-n", HUGE], "--lines"),
        (["stats", "--since", "99999999999d"], "'99999999999d' is out of range"),
        (["stats", "--until", "9999-12-31T23:59:59-14:00"], "is out of range"),
        (["vacuum", "--keep-files-days", HUGE], "--keep-files-days"),
    ],
)
def test_huge_numbers_and_dates_are_exit_2_with_a_clear_message(archive, argv, says):
    result = run_cli(*argv)
    assert result.code == 2, result.err
    assert says in result.err
    assert "Traceback" not in result.err and "Overflow" not in result.err


@pytest.mark.parametrize("argv", [["tail", "-c", HUGE], ["export", HUGE, "-o", "x.mbox"]])
def test_an_id_beyond_any_conversation_is_not_found(archive, tmp_path, argv):
    result = run_cli(*[a.replace("x.mbox", str(tmp_path / "x.mbox")) for a in argv])
    assert result.code == 5, result.err
    assert f"no conversation #{HUGE}" in result.err
    assert not (tmp_path / "x.mbox").exists()


@pytest.mark.parametrize("argv", [["export", "7", "-o", "x.mbox"], ["tail", "-c", "7"]])
def test_a_named_conversation_without_an_archive_is_exit_5(isolated_home, tmp_path, argv):
    result = run_cli(*[a.replace("x.mbox", str(tmp_path / "x.mbox")) for a in argv])
    assert result.code == 5, result.err
    assert "no conversation #7: there is no archive yet" in result.err
    assert not (tmp_path / "x.mbox").exists()


@pytest.mark.parametrize(
    ("table", "key"),
    [("[archive]\nkeep_files_days = 99999999999\n", "archive.keep_files_days"),
     ('[alerts]\nunanswered_after = "99999999999999999h"\n', "alerts.unanswered_after")],
)  # fmt: skip
def test_such_numbers_in_config_are_config_errors_naming_the_key(write_config, table, key):
    write_config(VALID_CONFIG + "\n" + table)
    result = run_cli("vacuum", "--dry-run")
    assert result.code == 3, result.err
    assert key in result.err and "Traceback" not in result.err


def test_the_cli_bound_on_kept_days_is_the_config_s():
    assert cli_archive.MAX_KEEP_DAYS == config.MAX_KEEP_DAYS


def test_an_error_is_one_line_whatever_it_quotes(archive, tmp_path):
    """An error quoting what the user or a platform gave (here a path with a line break
    and an escape sequence) stays one line: nothing it quotes can fake another."""
    target = tmp_path / "no\nerror: forged\x1b[2K" / "x.mbox"
    result = run_cli("export", "1", "-o", str(target))
    assert result.code == 1
    assert result.err.splitlines() == [
        f"error: cannot write {target}: the folder {target.parent} does not exist".replace(
            "\n", "\\n"
        ).replace("\x1b", "\\x1b"),
        "hint: create it first, or choose another path with -o",
    ]
