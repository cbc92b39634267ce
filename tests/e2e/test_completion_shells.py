"""The completion scripts really complete in bash, fish and zsh, each shell run in a
subprocess (that completions/ matches the CLI is checked in tests/unit/test_completions.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from im2mail.cli import completion
from tests.unit.test_completions import CHANNELS, SCRIPTS, offers

pytestmark = pytest.mark.e2e


def needs(shell: str):
    return pytest.mark.skipif(
        shutil.which(shell) is None,
        reason=f"{shell} is not installed (apt-get install {shell}); its completion is untested",
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A current directory with one file and one folder, for file-name completion."""
    cwd = tmp_path / "cwd"
    (cwd / "reports").mkdir(parents=True)
    (cwd / "result.json").write_text("{}")
    return cwd


# -- bash ----------------------------------------------------------------------------------

BASH_CALL = """\
source "$1"; shift
COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
_im2mail
printf '%s\\n' "${COMPREPLY[@]}"
"""


def bash_complete(cwd: Path, *words: str) -> list[str]:
    """COMPREPLY for `words`, the last being the word under the cursor (as bash splits)."""
    run = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", BASH_CALL, "bash", str(SCRIPTS["bash"]), *words],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return run.stdout.split()


@needs("bash")
def test_bash_completes_commands_options_and_values(workdir: Path) -> None:
    def complete(line: str) -> list[str]:
        words = line.split(" ")  # a trailing space makes an empty word under the cursor
        return sorted(bash_complete(workdir, *words))

    offers(complete("im2mail se"), "se", "search")
    assert complete("im2mail bot ") == ["add", "list", "remove"]
    assert complete("im2mail webhook ") == ["delete", "info", "set"]
    assert complete("im2mail import ") == ["telegram-export"]
    assert complete("im2mail search --ch") == ["--channel"]
    assert complete("im2mail search x --channel ") == CHANNELS
    assert complete("im2mail search x --channel = v") == ["viber"]  # --channel=v
    assert complete("im2mail bot add ") == CHANNELS
    assert complete("im2mail bot add --token-stdin t") == ["telegram"]
    assert complete("im2mail bot add telegram ") == []  # a name: nothing to offer
    assert complete("im2mail export --format ") == ["html", "mbox"]
    assert complete("im2mail export -o re") == ["reports", "result.json"]
    assert complete("im2mail import telegram-export res") == ["result.json"]
    assert complete("im2mail tail -n ") == []  # a number
    offers(complete("im2mail -"), "-", "--debug", "--version", "--help", "-h")
    offers(complete("im2mail tail -"), "-", "-f", "--follow", "-n", "--lines", "--help")
    assert "--debug" not in complete("im2mail tail -")  # global options go before the command


# -- fish ----------------------------------------------------------------------------------


def fish_complete(cwd: Path, line: str) -> dict[str, str]:
    """What fish offers after `line`: {completion: description}."""
    run = subprocess.run(
        [
            "fish",
            "--no-config",
            "-c",
            "source $argv[1]; complete -C $argv[2]",
            str(SCRIPTS["fish"]),
            line,
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    rows = (row.split("\t", 1) for row in run.stdout.splitlines())
    return {row[0]: row[-1] if len(row) > 1 else "" for row in rows}


@needs("fish")
def test_fish_completes_commands_options_and_values(workdir: Path) -> None:
    def complete(line: str) -> list[str]:
        return sorted(fish_complete(workdir, line))

    offers(complete("im2mail se"), "se", "search")
    assert complete("im2mail bot ") == ["add", "list", "remove"]
    assert complete("im2mail webhook ") == ["delete", "info", "set"]
    assert complete("im2mail import ") == ["telegram-export"]
    assert complete("im2mail search --ch") == ["--channel"]
    assert complete("im2mail search x --channel ") == CHANNELS
    assert complete("im2mail search x --channel=") == [f"--channel={c}" for c in CHANNELS]
    assert complete("im2mail bot add ") == CHANNELS
    assert complete("im2mail bot add telegram ") == []
    assert complete("im2mail export --format ") == ["html", "mbox"]
    assert complete("im2mail export -o re") == ["reports/", "result.json"]
    assert complete("im2mail import telegram-export res") == ["result.json"]
    assert complete("im2mail search x ") == []  # no file names where none are wanted
    offers(complete("im2mail -"), "-", "--debug", "--version", "--help", "-h")
    offers(complete("im2mail tail -"), "-", "-f", "--follow", "-n", "--lines", "--help")
    assert "--debug" not in complete("im2mail tail -")


@needs("fish")
def test_fish_shows_each_commands_short_help(workdir: Path) -> None:
    shown = fish_complete(workdir, "im2mail ")
    commands = {c.path[-1]: c.help for c in completion.load().subcommands}
    assert shown == commands


# Drives one interactive zsh in a pseudo-terminal (zpty): for each line given, types it and
# a Tab, prints every match the completion system adds (caught by wrapping compadd), then
# a \x1e line, and clears the line. \x02 and \x03 frame the matches in the terminal output.
ZSH_HARNESS = r"""
zmodload zsh/zpty || exit 2
zpty z zsh -f -i
zpty -w z 'PS1= RPS1=; bindkey -e; unsetopt auto_list beep; autoload -Uz compinit; compinit -u -D'
zpty -w z "source ${(q)1}"
zpty -w z 'compadd() {
    if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return; fi
    local -a m; builtin compadd -A m "$@"
    (( $#m )) && print -rn -- $'"'"'\x02'"'"'${^m}$'"'"'\x03'"'"' >/dev/tty
    builtin compadd "$@"
}'
zpty -w z '__done() { print -rn -- $'"'"'\x02\x04\x03'"'"' >/dev/tty; comppostfuncs=(__done) }'
zpty -w z 'comppostfuncs=(__done)'
for line in ${@[2,-1]}; do
    zpty -n -w z "$line"$'\t'
    zpty -r z out '*'$'\x02\x04\x03'
    out=${out%%$'\x02\x04\x03'*}
    for m in ${(ps:\x03:)out}; do [[ $m == *$'\x02'* ]] && print -r -- ${m##*$'\x02'}; done
    print -r -- $'\x1e'
    zpty -n -w z $'\C-u'
done
zpty -d z
"""


def zsh_complete(cwd: Path, *lines: str) -> dict[str, list[str]]:
    """What zsh offers after each line: {line: sorted matches}."""
    run = subprocess.run(
        ["zsh", "-f", "-c", ZSH_HARNESS, "zsh", str(SCRIPTS["zsh"]), *lines],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answers = run.stdout.split("\x1e\n")[: len(lines)]
    return {line: sorted(set(a.split())) for line, a in zip(lines, answers, strict=True)}


@needs("zsh")
def test_zsh_script_parses() -> None:
    subprocess.run(["zsh", "-n", str(SCRIPTS["zsh"])], check=True, timeout=30)


@needs("zsh")
def test_zsh_completes_commands_options_and_values(workdir: Path) -> None:
    expected = {
        "im2mail bot ": ["add", "list", "remove"],
        "im2mail webhook ": ["delete", "info", "set"],
        "im2mail import ": ["telegram-export"],
        "im2mail search --ch": ["--channel"],
        "im2mail search x --channel ": CHANNELS,
        "im2mail search x --channel=": CHANNELS,
        "im2mail bot add ": CHANNELS,
        "im2mail bot add telegram ": [],
        "im2mail export --format ": ["html", "mbox"],
        "im2mail import telegram-export res": ["result.json"],
    }
    got = zsh_complete(workdir, "im2mail se", "im2mail -", "im2mail tail -", *expected)
    offers(got.pop("im2mail se"), "se", "search")
    offers(got.pop("im2mail -"), "-", "--debug", "--version", "--help", "-h")
    tail = got.pop("im2mail tail -")
    offers(tail, "-", "-f", "--follow", "-n", "--lines", "--help")
    assert "--debug" not in tail
    assert got == expected
