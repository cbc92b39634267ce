"""The im2mail command line: parses, calls the core, prints. No business logic here.

Errors from the core are typed (errors.py) and become one stderr line plus a hint at one
place: main(). Heavy modules are imported inside the commands that need them, so that
`im2mail --help` and `im2mail search` start fast. The commands live in the modules beside
this one, by theme; this module is the app and its error boundary.

No `from __future__ import annotations` in this package: typer would have to evaluate
every annotation string at start-up (measured: 12 ms instead of 5 ms to build the app).
"""

import sys
from collections.abc import Sequence
from typing import Annotated

import typer

from .. import __version__
from ..errors import Im2mailError, redact
from .common import app
from .environment import Environment


def _version(value: bool) -> None:
    if value:
        typer.echo(f"im2mail {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks (secrets are still masked).")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Options that apply to every command."""


# The command modules register their commands on `app` when imported; the order here is
# the order of `im2mail --help`.
from . import setup, running, checks, archive, people, stats, importing, widget  # noqa: E402, F401, I001


def main(args: Sequence[str] | None = None, env: Environment | None = None) -> int:
    """One run of the command line; returns its exit code. The console script and
    `python -m im2mail` give it sys.argv and the process's streams and environment; tests
    give it their own (cli/environment.py). The one place where errors become messages
    and exit codes."""
    args = list(sys.argv[1:] if args is None else args)
    with (env or Environment()).applied():
        return _run(args)


def _run(args: list[str]) -> int:
    debug = "--debug" in args
    try:
        app(args=args, prog_name="im2mail")
    except SystemExit as exited:  # how click ends every run, with the code or a message
        return _exit_code(exited.code)
    except Im2mailError as error:
        if debug:
            _print_traceback()
        _print_error(error.message, error.hint)
        return error.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        if debug:
            _print_traceback()
        _print_error(
            f"unexpected {type(error).__name__}: {error}",
            "run again with --debug to see where, and please report it",
        )
        return 1
    return 0


def _exit_code(code: object) -> int:
    """What the interpreter makes of sys.exit(code): None is 0, a message is printed and 1."""
    if code is None or isinstance(code, int):
        return code or 0
    sys.stderr.write(f"{code}\n")
    return 1


def _print_error(message: str, hint: str | None) -> None:
    """One line each, whatever a platform's answer or a file quoted in them holds."""
    from ..untrusted import printable

    sys.stderr.write(f"error: {redact(printable(message))}\n")
    if hint:
        sys.stderr.write(f"hint: {redact(printable(hint))}\n")


def _print_traceback() -> None:
    import traceback

    sys.stderr.write(redact("".join(traceback.format_exc())))
