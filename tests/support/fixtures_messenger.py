"""Pytest fixtures for the Messenger (Graph API) double (im2mail/testing/messenger_api.py);
tests/conftest.py registers them with `pytest_plugins`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from im2mail.testing.messenger_api import MessengerDouble


@pytest.fixture
async def messenger_api() -> AsyncIterator[MessengerDouble]:
    """A running Messenger double on a free loopback port; `.url` is the api_url (/v21.0)."""
    async with MessengerDouble() as double:
        yield double
