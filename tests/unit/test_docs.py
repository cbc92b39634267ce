"""The README's set-up commands are what CI runs: `.ci/run` ends with the README's test
command, verbatim, and the lanes the README names select by markers pytest knows."""

from __future__ import annotations

import re
import shlex
import tomllib

from tests.conftest import REPO


def set_up_commands() -> list[str]:
    """The shell blocks of the README's "Set up" section, in order: install and demo,
    the test command, then one per lane."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Set up\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section, flags=re.S)


def test_ci_runs_the_readmes_test_command_verbatim():
    test_command = set_up_commands()[1]
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").rstrip("\n").splitlines()
    assert ci[-2:] == ["# The README's test command, verbatim:", test_command]


def test_the_lanes_select_by_markers_pytest_knows():
    lanes = set_up_commands()[2:]
    options = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    known = {m.split(":")[0] for m in options["tool"]["pytest"]["ini_options"]["markers"]}
    selected = []
    for lane in lanes:
        words = shlex.split(lane)
        assert words[:3] == ["python3", "-m", "pytest"] and words[3] == "-m", lane
        expression = words[4]
        selected.append(expression)
        names = set(re.findall(r"\w+", expression)) - {"not", "and", "or"}
        assert names and names <= known, f"{lane}: unknown marker"
    assert selected == ["not e2e", "e2e"]  # together: every test, once
