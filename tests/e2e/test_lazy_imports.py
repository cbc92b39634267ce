"""What only a new Python process shows: which modules are imported, and when. The
channel registry imports a channel's module (and its platform library) only when asked,
so commands that never touch a bot start fast."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.e2e


def test_registry_imports_telegram_lazily():
    code = (
        "import sys, im2mail.channels as c\n"
        "early = {'telegram', 'viberbot', 'aiohttp', 'im2mail.channels.base'} & set(sys.modules)\n"
        "assert not early, early\n"
        "assert [s.title for s in c.CHANNELS.values()]\n"
        "cls = c.channel_class('telegram')\n"
        "assert 'telegram' in sys.modules and cls.name == 'telegram'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
