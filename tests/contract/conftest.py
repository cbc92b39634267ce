"""Every test here runs once per registered channel (channels.CHANNELS), each against its
own API double: `name` is the channel, `rig` its bot started on the double (kit.py)."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from im2mail.channels import CHANNELS
from tests.contract.kit import Rig


def kit(name: str):
    """The channel's kit module, tests/contract/kits/<name>.py."""
    return importlib.import_module(f"tests.contract.kits.{name}")


@pytest.fixture(params=list(CHANNELS))
def name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def rig(name: str, tmp_path: Path) -> AsyncIterator[Rig]:
    async with kit(name).rig(tmp_path) as started:
        yield started
