"""The fast lane stays fast: a unit test starts no process and opens no network socket.
Such a test belongs in tests/e2e/ (marked e2e); here it fails, even where the code under
test catches the error and carries on (every attempt is recorded and the test fails at
teardown). A local socket pair (what asyncio's event loop wakes itself with) is allowed:
it neither binds nor connects."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

# urllib3 binds a socket once, when first imported (its IPv6 probe): imported here, before
# any test, so a test that is the first to load requests (the Viber channel) is not taken
# for one that opens sockets.
import urllib3  # noqa: F401


class StartsAProcessOrSocket(BaseException):
    """Raised where a unit test would start a process or bind or connect a socket."""


FORBIDDEN = [
    (subprocess.Popen, "_execute_child", "starts a process"),
    (os, "system", "starts a process"),
    (os, "posix_spawn", "starts a process"),
    (os, "posix_spawnp", "starts a process"),
    (os, "fork", "starts a process"),
    (socket.socket, "bind", "binds a socket"),
    (socket.socket, "connect", "connects a socket"),
    (socket.socket, "connect_ex", "connects a socket"),
    (socket, "create_connection", "connects a socket"),
    (socket, "create_server", "binds a socket"),
]


@pytest.fixture(autouse=True)
def no_process_no_socket(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest):
    attempts: list[str] = []

    def forbid(owner: object, name: str, what: str) -> None:
        def refuse(*args: object, **kwargs: object):
            attempt = f"{request.node.nodeid} {what} ({name}{_shown(args)})"
            attempts.append(attempt)
            raise StartsAProcessOrSocket(f"{attempt}: move the test to tests/e2e/")

        monkeypatch.setattr(owner, name, refuse)

    for owner, name, what in FORBIDDEN:
        if hasattr(owner, name):
            forbid(owner, name, what)
    yield attempts
    if attempts:
        pytest.fail("a unit test must not: " + "; ".join(attempts), pytrace=False)


def _shown(args: tuple) -> str:
    shown = [a for a in args if isinstance(a, (str, tuple, list)) and not hasattr(a, "fileno")]
    return f": {shown[0]!r}" if shown else ""
