"""`im2mail doctor`, the real CLI in a subprocess, against real local servers: pymap (IMAP),
the SMTP test server, the Telegram and Viber API doubles, and `im2mail run` where the
public URL has to answer. The doubles live in the test's event loop, so the CLI runs in
a thread while the loop answers it.

Each test breaks one thing and looks for what an owner would see: the ✗ line naming it,
its fix, the checks that depend on it skipped, exit 1; and never a secret in the output.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from im2mail import secrets
from im2mail.archive import Archive
from im2mail.channels.telegram.channel import Telegram
from im2mail.home import paths
from im2mail.model import Message, OutboxItem
from tests.conftest import Result, run_installed
from tests.e2e.relay_rig import SMTP_PASSWORD, RelayProcess, write_home
from tests.support.authres_mail import FOREIGN_PASS, gmail, stamped
from tests.support.chats import T0, customer, say
from tests.support.mailbox import Mailbox
from tests.support.smtp_server import free_port

pytestmark = pytest.mark.e2e

SIGNING_KEY = "ab" * 32  # what write_home stores
UNUSABLE_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
MARKS = "✓!✗–"


@dataclass
class Line:
    mark: str
    detail: str
    fix: str | None = None


def report(result: Result) -> dict[str, Line]:
    """doctor's lines by check name: the mark, the detail and the fix line under it."""
    checks: dict[str, Line] = {}
    last = None
    for text in result.out.splitlines():
        if text.startswith("  fix: "):
            assert last is not None, result.out
            last.fix = text.removeprefix("  fix: ")
            continue
        assert text[0] in MARKS and text[1] == " ", f"not a check line: {text!r}"
        name, _, detail = text[2:].partition(": ")
        last = checks[name] = Line(text[0], detail)
    return checks


@dataclass
class Shop:
    """A home set up for the doubles and servers: the secrets it holds, the listen port."""

    home: Path
    port: int
    token: str
    secrets: tuple[str, ...]
    took: float = 0.0

    async def doctor(self, *args: str, env: dict[str, str] | None = None) -> Result:
        started = time.monotonic()
        result = await asyncio.to_thread(run_installed, "doctor", *args, env=env)
        self.took = time.monotonic() - started
        for secret in self.secrets:
            assert secret not in result.both, "a secret was printed"
        assert "Traceback" not in result.err
        return result


def with_smtp_login(home: Path) -> None:
    """write_home's SMTP takes no login; make it log in as the mailbox."""
    path = home / "config.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('username = ""', 'username = "orders@shop.example"'), "utf-8")


@pytest.fixture
def shop(isolated_home, telegram_api, smtp_server, imap_server) -> Shop:
    """A Telegram polling bot, IMAP on pymap, SMTP with a login; every secret stored."""
    token = telegram_api.add_bot("shop_bot", "Друкарня")
    port = write_home(
        isolated_home,
        api_url=telegram_api.url,
        token=token,
        smtp_port=smtp_server.port,
        imap=imap_server,
    )
    with_smtp_login(isolated_home)
    smtp_server.require_auth("orders@shop.example", SMTP_PASSWORD)
    known = (token, SMTP_PASSWORD, imap_server.password, SIGNING_KEY)
    return Shop(isolated_home, port, token, known)


@contextlib.contextmanager
def silent_port() -> Iterator[int]:
    """A port that takes connections and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


# -- all green -------------------------------------------------------------------------------


async def test_a_working_set_up_passes_every_check(
    isolated_home, telegram_api, viber_api, smtp_server, imap_server
):
    token = telegram_api.add_bot("shop_bot", "Друкарня")
    viber_token = viber_api.add_bot("Друкарня Viber", "drukarnia")
    port = write_home(
        isolated_home,
        api_url=telegram_api.url,
        token=token,
        smtp_port=smtp_server.port,
        imap=imap_server,
        viber=(viber_api.url, viber_token),
    )
    with_smtp_login(isolated_home)
    smtp_server.require_auth("orders@shop.example", SMTP_PASSWORD)
    shop = Shop(
        isolated_home, port, token, (token, viber_token, SMTP_PASSWORD, imap_server.password)
    )
    relay = RelayProcess(isolated_home, port)
    try:
        await relay.wait_healthy()  # it registers the Viber webhook as it starts
        result = await shop.doctor()
    finally:
        await relay.terminate()
    assert result.code == 0, result.out + result.err
    lines = report(result)
    assert list(lines) == [
        "config", "keyring",
        "secret smtp", "secret imap", "secret signing-key", "secret bot:shop", "secret bot:vshop",
        "IMAP", "IMAP IDLE and MOVE", "IMAP processed folder", "sender authentication", "SMTP",
        "bot shop", "bot vshop", "webhook shop", "webhook vshop",
        "public URL", "archive", "outbox",
    ]  # fmt: skip
    public = lines.pop("public URL")
    # No mail.authserv_id: forged replies can't be told from real ones, said as a warning.
    unchecked = lines.pop("sender authentication")
    assert unchecked.mark == "!" and "mail.authserv_id is not set" in unchecked.detail
    assert {name: line.mark for name, line in lines.items()} == dict.fromkeys(lines, "✓")
    assert lines["secret imap"].detail == "keyring"
    assert lines["IMAP"].detail == (
        f"orders@shop.example at 127.0.0.1:{imap_server.port}, folder INBOX exists"
    )
    assert lines["IMAP IDLE and MOVE"].detail == "both offered"
    assert "logged in as orders@shop.example" in lines["SMTP"].detail
    assert lines["bot shop"].detail == "@shop_bot on Telegram"
    assert lines["bot vshop"].detail == "Друкарня Viber on Viber"
    assert lines["webhook shop"].detail == "none set; the bot polls"
    assert lines["webhook vshop"].detail == f"registered at http://127.0.0.1:{port}/viber/vshop"
    assert "intact" in lines["archive"].detail
    assert lines["outbox"].detail.startswith("0 emails and 0 chat messages pending")
    # Plain http on loopback is a warning: shown, with what to do, and not a failure.
    assert public.mark == "!"
    assert "plain http" in public.detail
    assert public.fix and "HTTPS" in public.fix


async def test_json_gives_one_record_per_check(shop):
    result = await shop.doctor("--json")
    records = [json.loads(line) for line in result.out.splitlines()]
    assert [r["check"] for r in records][:3] == ["config", "keyring", "secret smtp"]
    assert {r["status"] for r in records} <= {"ok", "warning", "failed", "skipped"}
    by_name = {r["check"]: r for r in records}
    assert by_name["IMAP"]["status"] == "ok"
    assert by_name["public URL"] == {
        "check": "public URL",
        "status": "skipped",
        "detail": "not set; no bot needs webhooks",
        "fix": None,
    }
    # Skipped checks (no archive yet, no public URL) don't fail the run.
    assert result.code == 0, result.out


# -- the mail servers ------------------------------------------------------------------------


async def test_a_wrong_imap_password_fails_with_its_fix(shop, imap_server):
    secrets.put(secrets.IMAP, "not-the-imap-password")
    shop.secrets += ("not-the-imap-password",)
    result = await shop.doctor()
    assert result.code == 1
    lines = report(result)
    imap = lines["IMAP"]
    assert imap.mark == "✗"
    assert f"127.0.0.1:{imap_server.port} refused the login for orders@shop.example" in imap.detail
    assert imap.fix and "im2mail init" in imap.fix
    assert lines["IMAP IDLE and MOVE"].mark == "–"
    assert lines["IMAP processed folder"].mark == "–"
    assert lines["sender authentication"].mark == "–"
    assert lines["SMTP"].mark == "✓"  # the rest is still checked


async def test_a_closed_smtp_port_fails_quickly(shop):
    closed = free_port()
    path = shop.home / "config.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(f"port = {_smtp_port(text)}\n", f"port = {closed}\n"), "utf-8")
    result = await shop.doctor()
    assert result.code == 1
    smtp = report(result)["SMTP"]
    assert smtp.mark == "✗"
    assert f"127.0.0.1:{closed} refused the connection" in smtp.detail
    assert smtp.fix and "port" in smtp.fix
    assert shop.took < 10


def _smtp_port(config_text: str) -> int:
    section = config_text.split("[mail.smtp]")[1]
    return int(section.split("port = ")[1].split("\n")[0])


async def test_servers_that_never_answer_fail_within_the_time_limit(isolated_home, telegram_api):
    with silent_port() as silent:
        token = telegram_api.add_bot("shop_bot", "Друкарня")
        write_home(isolated_home, api_url=f"http://127.0.0.1:{silent}", token=token,
                   smtp_port=silent)  # fmt: skip
        path = isolated_home / "config.toml"
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("port = 1\n", f"port = {silent}\n"), "utf-8")  # IMAP
        shop = Shop(isolated_home, 0, token, (token, SMTP_PASSWORD, SIGNING_KEY))
        result = await shop.doctor()
    assert result.code == 1
    lines = report(result)
    assert lines["IMAP"].mark == "✗"
    assert "did not answer in time" in lines["IMAP"].detail
    assert lines["SMTP"].mark == "✗"
    assert "did not answer within 5 s" in lines["SMTP"].detail
    assert lines["bot shop"].mark == "✗"
    assert f"could not reach Telegram at http://127.0.0.1:{silent}" in lines["bot shop"].detail
    assert lines["webhook shop"].mark == "–"
    assert shop.took < 15  # the checks wait at once, 5 s each


# -- the bots --------------------------------------------------------------------------------


async def test_revoked_tokens_fail_with_remove_and_add(
    isolated_home, telegram_api, viber_api, smtp_server, imap_server
):
    token = telegram_api.add_bot("shop_bot", "Друкарня")
    viber_token = viber_api.add_bot("Друкарня Viber", "drukarnia")
    write_home(isolated_home, api_url=telegram_api.url, token=token, smtp_port=smtp_server.port,
               imap=imap_server, viber=(viber_api.url, viber_token))  # fmt: skip
    telegram_api.revoke(token)
    viber_api.revoke(viber_token)
    shop = Shop(isolated_home, 0, token, (token, viber_token, SMTP_PASSWORD, SIGNING_KEY))
    result = await shop.doctor()
    assert result.code == 1
    lines = report(result)
    assert lines["bot shop"] == Line(
        "✗",
        "Telegram refused the token",
        "the token was revoked or replaced: im2mail bot remove shop; im2mail bot add telegram shop",
    )
    assert lines["bot vshop"].mark == "✗"
    assert lines["bot vshop"].fix and "im2mail bot add viber vshop" in lines["bot vshop"].fix
    assert lines["webhook shop"].mark == lines["webhook vshop"].mark == "–"
    # The relay is not running: the public URL could not be tried; a warning, not a failure.
    public = lines["public URL"]
    assert public.mark == "!"
    assert "the relay is not running here" in public.detail
    assert public.fix == "start it: im2mail run, then run doctor again"


async def test_a_polling_bot_with_a_webhook_left_set_fails(shop, telegram_api):
    async with Telegram("shop", shop.token, telegram_api.url) as channel:
        await channel.set_webhook("https://old.shop.example/hook", "s3cret")
    result = await shop.doctor()
    assert result.code == 1
    assert report(result)["webhook shop"] == Line(
        "✗",
        "https://old.shop.example/hook is set, and while it is, Telegram refuses to be polled",
        "im2mail webhook delete shop",
    )


@pytest.mark.parametrize("registered", [None, "https://old.shop.example/telegram/shop"])
async def test_a_webhook_bot_must_be_registered_at_the_public_url(
    isolated_home, telegram_api, smtp_server, registered
):
    token = telegram_api.add_bot("shop_bot", "Друкарня")
    port = write_home(isolated_home, api_url=telegram_api.url, token=token,
                      smtp_port=smtp_server.port, mode="webhook")  # fmt: skip
    if registered:
        async with Telegram("shop", token, telegram_api.url) as channel:
            await channel.set_webhook(registered, "s3cret")
    result = await Shop(isolated_home, port, token, (token, SIGNING_KEY)).doctor()
    line = report(result)["webhook shop"]
    expected = f"http://127.0.0.1:{port}/telegram/shop"
    assert line.mark == "✗"
    if registered:
        assert line.detail == f"registered at {registered}, not at {expected}"
    else:
        assert line.detail == f"not registered; it should be {expected}"
    assert line.fix == "im2mail webhook set shop (im2mail run registers it too)"
    assert result.code == 1


async def test_a_public_url_that_does_not_reach_the_running_relay_fails(
    isolated_home, telegram_api, smtp_server, imap_server
):
    token = telegram_api.add_bot("shop_bot", "Друкарня")
    elsewhere = f"http://127.0.0.1:{free_port()}"
    port = write_home(isolated_home, api_url=telegram_api.url, token=token,
                      smtp_port=smtp_server.port, imap=imap_server,
                      extra_relay=f'public_url = "{elsewhere}"\n')  # fmt: skip
    relay = RelayProcess(isolated_home, port)
    try:
        await relay.wait_healthy()
        result = await Shop(isolated_home, port, token, (token, SIGNING_KEY)).doctor()
    finally:
        await relay.terminate()
    public = report(result)["public URL"]
    assert public.mark == "✗"
    assert f"{elsewhere}/healthz: cannot connect" in public.detail
    assert f"while the relay answers on 127.0.0.1:{port}" in public.detail
    assert public.fix and f"make {elsewhere} reach 127.0.0.1:{port}" in public.fix
    assert result.code == 1


async def test_sender_authentication_suggests_the_id_recent_mail_carries(shop, imap_server):
    """Three replies stamped by mx.google.com and one by some other server: doctor names
    mx.google.com in its fix, reads the headers without marking anything seen, and with the
    id configured, says on how many emails it found its verdict."""
    mailbox = Mailbox(imap_server)
    try:
        for n in range(3):
            mailbox.put_raw(stamped(_plain(f"<r{n}@mail.gmail.com>"), gmail("pass")))
        mailbox.put_raw(stamped(_plain("<x@evil.example>"), FOREIGN_PASS))
        result = await shop.doctor()
        unchecked = report(result)["sender authentication"]
        assert unchecked.mark == "!" and "forged" in unchecked.detail
        assert unchecked.fix and 'mail.authserv_id = "mx.google.com"' in unchecked.fix
        assert "3 of the last 4 emails in INBOX" in unchecked.fix
        assert all(b"\\Seen" not in flags for flags in mailbox.subjects("INBOX").values())

        config = shop.home / "config.toml"
        text = config.read_text(encoding="utf-8")
        config.write_text(
            text.replace("[mail.smtp]", 'authserv_id = "mx.google.com"\n\n[mail.smtp]', 1), "utf-8"
        )
        checked = report(await shop.doctor())["sender authentication"]
        assert checked == Line(
            "✓", "mx.google.com: its verdict is on 3 of the last 4 emails in INBOX"
        )

        config.write_text(
            text.replace("[mail.smtp]", 'authserv_id = "mx.other.example"\n\n[mail.smtp]', 1),
            "utf-8",
        )
        wrong = report(await shop.doctor())["sender authentication"]
        assert wrong.mark == "!" and "every reply would be refused" in wrong.detail
        assert wrong.fix and "mx.google.com" in wrong.fix
    finally:
        mailbox.close()


def _plain(message_id: str) -> EmailMessage:
    m = EmailMessage()
    m["From"] = "Anna <anna@shop.example>"
    m["To"] = "orders@shop.example"
    m["Subject"] = "Re: [Telegram] Олена #1"
    m["Message-ID"] = message_id
    m.set_content("Так")
    return m


# -- secrets and keyring ---------------------------------------------------------------------


async def test_a_missing_secret_is_named_and_its_checks_skipped(shop):
    secrets.delete(secrets.IMAP)
    result = await shop.doctor()
    assert result.code == 1
    lines = report(result)
    assert lines["secret imap"] == Line(
        "✗", "not stored", "store the IMAP password with: im2mail init"
    )
    for name in ("IMAP", "IMAP IDLE and MOVE", "IMAP processed folder", "sender authentication"):
        assert lines[name] == Line("–", "skipped (the secret 'imap' is not available)")
    assert lines["secret smtp"].mark == lines["SMTP"].mark == "✓"


async def test_a_missing_bot_token_says_how_to_add_it_back(shop):
    secrets.delete("bot:shop")
    result = await shop.doctor()
    lines = report(result)
    assert lines["secret bot:shop"] == Line(
        "✗", "not stored", "im2mail bot remove shop, then: im2mail bot add telegram shop"
    )
    assert lines["bot shop"].mark == "–"
    assert result.code == 1


async def test_a_credential_file_is_named_as_the_source(shop, imap_server, tmp_path):
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "imap").write_text(imap_server.password + "\n", encoding="utf-8")
    secrets.delete(secrets.IMAP)  # only the file has it
    result = await shop.doctor(env={"CREDENTIALS_DIRECTORY": str(credentials)})
    lines = report(result)
    assert lines["secret imap"] == Line("✓", f"credential file {credentials / 'imap'}")
    assert lines["secret smtp"] == Line("✓", "keyring")
    assert lines["IMAP"].mark == "✓"
    assert result.code == 0, result.out


async def test_an_unusable_keyring_fails_without_a_traceback(shop):
    result = await shop.doctor(env=UNUSABLE_KEYRING)
    assert result.code == 1
    lines = report(result)
    assert lines["keyring"].mark == "✗"
    assert lines["keyring"].detail == "no usable keyring on this machine"
    assert lines["keyring"].fix and "PYTHON_KEYRING_BACKEND" in lines["keyring"].fix
    assert lines["secret smtp"] == Line("–", "skipped (the keyring is unusable)")
    for name in ("IMAP", "SMTP", "bot shop", "webhook shop"):
        assert lines[name].mark == "–", name
    assert lines["config"].mark == "✓"


async def test_an_invalid_config_is_a_failed_check_not_an_exit_3(shop):
    (shop.home / "config.toml").write_text("[mail]\naddress = 'x'\n", encoding="utf-8")
    result = await shop.doctor()
    assert result.code == 1
    lines = report(result)
    assert lines["config"].mark == "✗"
    assert "mail.address" in lines["config"].detail
    assert lines["keyring"].mark == "✓"  # still checked
    assert lines["SMTP"] == Line("–", "skipped (no valid config)")


# -- the archive -----------------------------------------------------------------------------


def make_archive(messages: int = 300) -> Path:
    where = paths()
    with Archive.open(where.archive, where.blobs) as archive:
        for i in range(messages // 20):
            conversation = customer(archive, f"Клієнт{i}")
            for j in range(20):
                say(archive, conversation, f"макет {i}-{j} " * 30, minutes=i * 20 + j)
    with contextlib.closing(sqlite3.connect(where.archive)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the main file
    return where.archive


@pytest.mark.parametrize("where", ["whole file", "middle"])
async def test_a_corrupted_archive_fails_the_integrity_check(shop, where):
    archive = make_archive()
    data = bytearray(archive.read_bytes())
    start, end = (
        (0, len(data)) if where == "whole file" else (len(data) // 2, len(data) // 2 + 8192)
    )
    data[start:end] = os.urandom(end - start)
    archive.write_bytes(bytes(data))
    result = await shop.doctor()
    assert result.code == 1
    lines = report(result)
    assert lines["archive"].mark == "✗"
    assert str(archive) in lines["archive"].detail
    assert "damaged" in lines["archive"].detail
    assert lines["archive"].fix and "backup" in lines["archive"].fix
    if where == "middle":  # it opens; PRAGMA quick_check finds the damage
        assert ".recover" in lines["archive"].fix
    assert lines["outbox"].mark == "–"


async def test_an_intact_archive_is_measured(shop):
    make_archive(messages=40)
    lines = report(await shop.doctor())
    assert lines["archive"].mark == "✓"
    assert lines["archive"].detail.endswith(", 40 messages")


async def test_a_backlog_older_than_an_hour_fails(shop):
    where = paths()
    with Archive.open(where.archive, where.blobs) as archive:
        conversation = customer(archive, "Олена")
        archive.add_message(
            Message(conversation.id, "in", "Олена", "Скільки коштують візитки?", T0),
            outbox=[OutboxItem("mail"), OutboxItem("channel")],
        )
        (item,) = archive.deliveries.due_deliveries("mail", datetime.now(UTC), 10)
        archive.deliveries.delivery_retry(item.id, "SMTP 451 4.3.0 mailbox busy", datetime.now(UTC))
    with contextlib.closing(sqlite3.connect(where.archive)) as db, db:
        two_hours_ago = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
        db.execute("UPDATE outbox SET created = ?", (two_hours_ago,))
    result = await shop.doctor()
    assert result.code == 1
    outbox = report(result)["outbox"]
    assert outbox.mark == "✗"
    assert outbox.detail.startswith("1 email and 1 chat message pending, the oldest for 2h 0")
    assert "last error: SMTP 451 4.3.0 mailbox busy" in outbox.detail
    assert outbox.fix and "im2mail run" in outbox.fix
