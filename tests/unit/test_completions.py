"""completions/ matches the CLI (that the scripts really complete in bash, fish and zsh is
tests/e2e/test_completion_shells.py)."""

from __future__ import annotations

from typing import Annotated

import pytest
import typer

from im2mail.cli import completion
from tests.conftest import REPO

SCRIPTS = {shell: REPO / "completions" / f"im2mail.{shell}" for shell in completion.SHELLS}
REGENERATE = "run: python -m im2mail.cli.completion"
CHANNELS = ["messenger", "telegram", "viber", "whatsapp"]  # completed in this order


def offers(got: list[str], prefix: str, *expected: str) -> None:
    assert set(expected) <= set(got), f"expected {expected} among {got}"
    assert all(g.startswith(prefix) for g in got), f"{got} should all start with {prefix!r}"


# -- the committed scripts are the generated ones -------------------------------------------


@pytest.mark.parametrize("shell", completion.SHELLS)
def test_committed_script_is_what_the_cli_generates(shell: str) -> None:
    path = SCRIPTS[shell]
    committed = path.read_text(encoding="utf-8") if path.exists() else "(missing)"
    assert committed == completion.generate(shell), (
        f"completions/im2mail.{shell} does not match the CLI; {REGENERATE}"
    )


@pytest.mark.parametrize("shell", completion.SHELLS)
def test_script_says_it_is_generated_and_how_to_regenerate(shell: str) -> None:
    head = "\n".join(completion.generate(shell).splitlines()[:4])
    assert "Generated" in head
    assert "python -m im2mail.cli.completion" in head


def test_generation_is_deterministic() -> None:
    assert [completion.generate(s) for s in completion.SHELLS] == [
        completion.generate(s) for s in completion.SHELLS
    ]


def test_check_reports_stale_files_and_writing_fixes_them(tmp_path, monkeypatch, capsys) -> None:
    out_dir = tmp_path / "completions"
    monkeypatch.setattr(completion, "OUT_DIR", out_dir)
    assert completion.main(["--check"]) == 1
    assert f"im2mail.zsh is out of date; {REGENERATE}" in capsys.readouterr().err
    assert completion.main([]) == 0
    assert completion.main(["--check"]) == 0
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "im2mail.bash",
        "im2mail.fish",
        "im2mail.zsh",
    ]


def test_hidden_options_and_commands_are_left_out() -> None:
    app = typer.Typer()

    @app.command()
    def shown(
        secret: Annotated[bool, typer.Option("--secret", hidden=True)] = False,
        loud: Annotated[bool, typer.Option("--loud", "-l")] = False,
    ) -> None:
        """Shown."""

    @app.command(hidden=True)
    def internal() -> None:
        """Internal."""

    for shell in completion.SHELLS:
        script = completion.generate(shell, app)
        assert "loud" in script and "shown" in script
        assert "secret" not in script and "internal" not in script


def test_a_word_that_would_need_quoting_is_refused() -> None:
    app = typer.Typer()

    @app.command("odd;name")
    def odd() -> None:
        """Odd."""

    @app.command()
    def other() -> None:
        """Other."""

    with pytest.raises(ValueError, match="needs shell quoting"):
        completion.generate("bash", app)


def test_zsh_and_fish_describe_commands_with_their_short_help() -> None:
    bot = next(c for c in completion.load().subcommands if c.path[-1] == "bot")
    add = next(c for c in bot.subcommands if c.path[-1] == "add")
    assert add.help
    assert f"'add:{add.help}'" in completion.generate("zsh")
    assert f"-a add -d '{add.help}'" in completion.generate("fish")
