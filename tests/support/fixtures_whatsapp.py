"""Pytest fixtures for the WhatsApp Cloud API double (im2mail/testing/whatsapp_api.py);
tests/conftest.py registers them with `pytest_plugins`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from im2mail.testing.whatsapp_api import WhatsAppDouble


@pytest.fixture
async def whatsapp_api() -> AsyncIterator[WhatsAppDouble]:
    """A running Cloud API double on a free loopback port; `.url` is the api_url (/v21.0)."""
    async with WhatsAppDouble() as double:
        yield double
