"""pytest fixtures for the SMTP test server (tests/support/smtp_server.py).

Enabled for every test by `pytest_plugins = ["tests.support.fixtures_smtp"]` in
tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.smtp_server import SmtpServer


@pytest.fixture
def smtp_servers() -> Iterator[Callable[..., SmtpServer]]:
    """Make servers: smtp_servers(tls="starttls"), smtp_servers(start=False) for one that
    is down at first (its port is reserved by start() later: pass port=free_port()).
    All are closed after the test."""
    made: list[SmtpServer] = []

    def make(*, start: bool = True, **options: object) -> SmtpServer:
        server = SmtpServer(**options)  # type: ignore[arg-type]
        made.append(server)
        return server.start() if start else server

    yield make
    for server in made:
        server.close()


@pytest.fixture
def smtp_server(smtp_servers: Callable[..., SmtpServer]) -> SmtpServer:
    """A running plain SMTP server on a free loopback port, collecting what it receives."""
    return smtp_servers()
