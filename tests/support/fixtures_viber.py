"""Pytest fixtures for the Viber REST API double (im2mail/testing/viber_api.py);
tests/conftest.py registers them with `pytest_plugins`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from im2mail.testing.viber_api import ViberDouble


@pytest.fixture
async def viber_api() -> AsyncIterator[ViberDouble]:
    """A running Viber API double on a free loopback port; `.url` is the api_url (/pa)."""
    async with ViberDouble() as double:
        yield double
