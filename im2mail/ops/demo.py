"""`im2mail demo`: the whole round trip on this machine, with nothing configured.

A home of its own and the real relay in it (demo_stage.py), local servers on loopback
(pymap for the shop mailbox, an aiosmtpd server for outgoing mail, the Telegram Bot API
double); demo_script.py then plays customers and managers and shows each hop as it
happens; the archive stays in the home for `search`, `tail`, `export`.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from pathlib import Path

from . import demo_script
from .demo_stage import SHOP, DemoFailed, RelayProcess, write_home

# -- the whole demo -------------------------------------------------------------------------


async def run(home: Path, speed: float, show) -> None:
    """Start everything, play the script, stop everything (also on errors and Ctrl-C).
    `show` is a demo_script.Show (the live output)."""
    from ..testing.mail_servers import ImapServer, MailCatcher, free_port, start_pymap, stop_pymap
    from ..testing.telegram_api import TelegramDouble

    async with contextlib.AsyncExitStack() as stack:
        show.step(f"Starting local servers; the demo home is {home}")
        smtp = MailCatcher().start()
        stack.callback(smtp.stop)
        for attempt in range(3):  # a free port may be taken before pymap binds it
            imap = ImapServer("127.0.0.1", free_port(), SHOP, secrets.token_urlsafe(12))
            try:
                pymap = await asyncio.to_thread(start_pymap, imap.port, imap.user, imap.password)
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        stack.callback(stop_pymap, pymap)
        tg = await stack.enter_async_context(TelegramDouble())
        token = tg.add_bot(demo_script.BOT_USERNAME, demo_script.BOT_TITLE)
        listen = free_port()
        credentials = write_home(
            home, managers=[m.address for m in demo_script.MANAGERS], smtp_port=smtp.port,
            imap_port=imap.port, imap_password=imap.password, listen_port=listen,
            api_url=tg.url, token=token, greeting=demo_script.GREETING,
        )  # fmt: skip
        relay = RelayProcess(home, credentials, listen)
        stack.push_async_callback(relay.stop)
        started = time.monotonic()
        await relay.wait_healthy()
        show.step(
            f"IMAP :{imap.port} · SMTP :{smtp.port} · Telegram double {tg.url} · "
            f"relay (im2mail run) ready in {time.monotonic() - started:.1f} s"
        )
        rig = demo_script.Rig(tg, token, smtp, imap, relay, speed)
        try:
            await demo_script.play(rig, show)
        except DemoFailed as e:
            show.log_tail(e.log_tail)
            raise
        show.step("Stopping the relay and the servers")
    show.done(home)
