"""The relay's log (relay.configure_logging): one entry per line whatever a customer is
called, and secrets masked in tracebacks too, not only in messages."""

from __future__ import annotations

import io
import logging
import re

import pytest

from im2mail.errors import register_secret
from im2mail.relay.loop import configure_logging

SECRET = "imap-pass-Zq81!x"
FORGED = "Олена\n2026-12-07 10:00:00,000 INFO im2mail.relay: relay stopped"
ENTRY = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ")


@pytest.fixture
def relay_log():
    """configure_logging as `im2mail run` calls it; what it wrote (to stderr, here to a
    buffer)."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging()
    (handler,) = root.handlers
    written = io.StringIO()
    handler.setStream(written)  # type: ignore[attr-defined]
    register_secret(SECRET)
    yield written.getvalue
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def entries(text: str) -> list[str]:
    return [line for line in text.splitlines() if ENTRY.match(line)]


def test_a_customer_name_with_a_line_break_cannot_forge_an_entry(relay_log):
    log = logging.getLogger("im2mail.inbound")
    log.info("%s: %s %s the bot", "shop", FORGED + "\r\x1b[2K\u202e", "blocked")

    text = relay_log()

    assert len(text.splitlines()) == 1 and len(entries(text)) == 1
    assert "Олена\\n2026-12-07 10:00:00,000 INFO im2mail.relay: relay stopped" in text
    assert "\\r\\x1b[2K\\u202e blocked the bot" in text


def test_tracebacks_are_masked_and_indented_under_their_entry(relay_log):
    log = logging.getLogger("im2mail.mail.watcher")
    try:
        raise OSError(f"LOGIN failed for password {SECRET}\n{FORGED}")
    except OSError:
        log.exception("IMAP watcher failed; restarting in %.0f s", 5)
    log.warning("stack of %s", SECRET, stack_info=True)

    text = relay_log()

    assert SECRET not in text and "********" in text
    assert [e.split(": ", 1)[1] for e in entries(text)] == [
        "IMAP watcher failed; restarting in 5 s",
        "stack of ********",
    ]
    assert "    OSError: LOGIN failed for password ********" in text
    assert "    2026-12-07 10:00:00,000 INFO im2mail.relay: relay stopped" in text  # indented


def test_other_handlers_still_see_the_record_as_it_was(relay_log, caplog):
    logging.getLogger("im2mail.inbound").warning("name %s", "a\nb")
    assert caplog.records[-1].getMessage() == "name a\nb"
    assert "name a\\nb" in relay_log()
