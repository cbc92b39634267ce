"""The guard in tests/unit/conftest.py: a unit test that starts a process or opens a
network socket fails, even when the code under test swallows the error."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.conftest import StartsAProcessOrSocket

GUARD = Path(__file__).with_name("conftest.py")


def test_starting_a_process_is_refused(no_process_no_socket: list[str]) -> None:
    for start in (
        lambda: subprocess.run(["true"], check=False),
        lambda: subprocess.Popen([sys.executable, "-c", "pass"]),
        lambda: os.system("true"),
        lambda: asyncio.run(asyncio.create_subprocess_exec("true")),
    ):
        with pytest.raises(StartsAProcessOrSocket, match="starts a process"):
            start()
    assert len(no_process_no_socket) == 4
    no_process_no_socket.clear()  # wanted here; any other test fails at teardown


def test_binding_or_connecting_a_socket_is_refused(
    no_process_no_socket: list[str], tmp_path: Path
) -> None:
    async def serve() -> None:
        await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)

    async def connect() -> None:
        await asyncio.open_connection("127.0.0.1", 9)

    with socket.socket() as tcp, pytest.raises(StartsAProcessOrSocket, match="binds"):
        tcp.bind(("127.0.0.1", 0))
    with socket.socket(socket.AF_UNIX) as unix, pytest.raises(StartsAProcessOrSocket):
        unix.bind(str(tmp_path / "s"))
    with socket.socket() as tcp, pytest.raises(StartsAProcessOrSocket, match="connects"):
        tcp.connect(("127.0.0.1", 9))
    for attempt in (serve, connect):
        with pytest.raises(StartsAProcessOrSocket):
            asyncio.run(attempt())
    with pytest.raises(StartsAProcessOrSocket):
        socket.create_connection(("127.0.0.1", 9))
    assert len(no_process_no_socket) == 6
    no_process_no_socket.clear()


def test_an_event_loop_still_runs(no_process_no_socket: list[str]) -> None:
    """asyncio wakes its loop through a socket pair: neither bound nor connected."""
    assert asyncio.run(asyncio.sleep(0, result="ran")) == "ran"
    assert no_process_no_socket == []


def test_an_attempt_the_code_swallows_still_fails_the_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # plugins that start git
    pytester.makeconftest(GUARD.read_text(encoding="utf-8"))
    pytester.makepyfile(
        test_quiet="""
        import subprocess

        def test_swallows():
            try:
                subprocess.run(["true"])
            except BaseException:
                pass  # as code under test might: the guard still sees it
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*a unit test must not:*test_swallows starts a process*"])
