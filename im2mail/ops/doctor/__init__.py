"""`im2mail doctor`: every part of the set-up checked, each with what to fix. Nothing here
prints; the CLI shows one line per Check.

The checks, in order: config, keyring, each secret (where it was found), IMAP (login and
folder, IDLE and MOVE, the processed folder, sender authentication: mail.authserv_id and
the Authentication-Results of recent mail), SMTP, each bot's token, each bot's webhook,
the public URL, the archive's integrity, the outbox backlog, and (only when there are
some) customers who may be one person, sharing a phone number. A check whose premise failed
(no password, no config, a refused token) is skipped and says why, so a user fixes the
first cause first. The checks that go over the network (remote.py) run at once,
each bounded by TIMEOUT seconds, so doctor finishes in seconds even when nothing answers;
the archive is read meanwhile in a thread.

A warning is a check that passed with a caveat worth knowing (IMAP without IDLE, plain
http on loopback, the relay not running so the public URL could not be tried, no
mail.authserv_id): it is shown, and it does not make doctor fail.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ... import secrets
from ...config import Config
from ...errors import ArchiveError, Im2mailError, redact
from ...home import Paths, paths
from ...timeutil import age
from ..status import counted, one_line
from .remote import remote_checks
from .verdicts import Check, all_passed, failed, from_error, passed, skipped, warned

__all__ = ["Check", "all_passed", "run"]

TIMEOUT = 5.0  # seconds for each network check
BACKLOG_LIMIT = timedelta(hours=1)  # an older pending delivery fails the outbox check

# -- running them --------------------------------------------------------------------------


def run(where: Paths | None = None) -> list[Check]:
    """Every check, in order (see the module's docstring)."""
    return asyncio.run(run_checks(where or paths()))


async def run_checks(where: Paths) -> list[Check]:

    cfg, config_check = check_config(where.config)
    keyring = check_keyring()
    secret_checks, found = check_secrets(cfg, keyring)
    remote, stored = await asyncio.gather(
        remote_checks(cfg, found, TIMEOUT),
        asyncio.to_thread(check_archive, where),
    )
    return [config_check, keyring, *secret_checks, *remote, *stored]


def check_config(path: Path) -> tuple[Config | None, Check]:
    from ... import config
    from ...channels import CHANNELS

    try:
        cfg = config.load(path, channels=CHANNELS)
    except Im2mailError as e:
        return None, from_error("config", e)
    detail = f"{path}, {counted(len(cfg.bots), 'bot')}"
    # The public URL has a check of its own, which tells of plain http too.
    notes = [w for w in cfg.warnings if not w.startswith("relay.public_url:")]
    if notes:
        return cfg, warned("config", f"{detail}; " + "; ".join(notes), f"edit {path}")
    return cfg, passed("config", detail)


def check_keyring() -> Check:
    try:
        return passed("keyring", secrets.backend_name())
    except Im2mailError as e:
        if os.environ.get(secrets.CREDENTIALS_ENV):
            # A service given every secret by systemd needs no keyring.
            return warned(
                "keyring", f"{e.message}; every secret must then be a credential file", e.hint
            )
        return from_error("keyring", e)


def secret_names(cfg: Config | None) -> list[str]:
    names = [secrets.SMTP, secrets.IMAP, secrets.SIGNING_KEY]
    return names + [bot.secret_name for bot in cfg.bots] if cfg else names


def check_secrets(cfg: Config | None, keyring: Check) -> tuple[list[Check], dict[str, str]]:
    """One check per secret, saying where it was found; and the values found (for the
    checks that log in with them; never shown)."""
    checks: list[Check] = []
    found: dict[str, str] = {}
    keyring_usable = keyring.ok is True and not keyring.warning
    for name in secret_names(cfg):
        label = f"secret {name}"
        credential = secrets.credential_file(name)
        in_file = credential is not None and credential.is_file()
        if not keyring_usable and not in_file:
            if credential is None:
                checks.append(skipped(label, "the keyring is unusable"))
            else:
                checks.append(
                    failed(
                        label,
                        f"no credential file {credential}, and the keyring is unusable",
                        f"give it to the service: LoadCredential={credential.name}:<file>",
                    )
                )
            continue
        try:
            value = secrets.get(name)
        except Im2mailError as e:
            checks.append(_missing(label, name, e, cfg))
            continue
        found[name] = value
        where = f"credential file {credential}" if in_file and _holds(credential, value) else None
        checks.append(passed(label, where or "keyring"))
    return checks, found


def _missing(label: str, name: str, error: Im2mailError, cfg: Config | None) -> Check:
    detail = error.message.removeprefix(f"secret '{name}' is ")
    bot = cfg.bot(name.removeprefix("bot:")) if cfg and name.startswith("bot:") else None
    if bot is None or detail != "not stored":
        return failed(label, redact(detail), error.hint)
    # `bot add` refuses a name that is configured: the bot goes, then comes back.
    fix = f"im2mail bot remove {bot.name}, then: im2mail bot add {bot.channel} {bot.name}"
    return failed(label, detail, fix)


def _holds(path: Path, value: str) -> bool:
    """Whether the credential file gave the value (secrets.get reads it first)."""
    try:
        return path.read_text(encoding="utf-8").rstrip("\r\n") == value
    except OSError:
        return False


# -- the archive ---------------------------------------------------------------------------


def check_archive(where: Paths, now: datetime | None = None) -> list[Check]:
    """The archive's integrity (PRAGMA quick_check) and the outbox backlog."""
    from ...archive import Archive

    if not where.archive.exists():
        reason = f"no archive yet at {where.archive}: im2mail run creates it"
        return [skipped("archive", reason), skipped("outbox", reason)]
    try:
        with Archive.open(where.archive, where.blobs, create=False) as archive:
            integrity = _integrity(archive)
            if not integrity.ok:
                return [integrity, skipped("outbox", "the archive is damaged")]
            people = check_people(archive)
            return [integrity, check_outbox(archive, now or datetime.now(UTC)), *people]
    except Im2mailError as e:
        return [from_error("archive", e), skipped("outbox", "the archive cannot be read")]


def _integrity(archive) -> Check:
    from ...archive.status import quick_check

    damaged = (
        "stop the relay, then restore archive.db from a backup; or keep what is readable: "
        "sqlite3 archive.db .recover | sqlite3 recovered.db"
    )
    try:
        found = quick_check(archive)
        if found == ["ok"]:
            messages = archive.message_count()
    except ArchiveError as e:  # a page too broken for quick_check to walk
        why = str(e.__cause__ or e.message)
        return failed("archive", f"{archive.path} is damaged: {why}", damaged)
    if found != ["ok"]:
        lines = [line for text in found for line in text.splitlines() if "***" not in line]
        shown = "; ".join(lines[:3]) + ("; …" if len(lines) > 3 else "")
        return failed("archive", f"{archive.path} is damaged: {shown}", damaged)
    size = sum(p.stat().st_size for p in _files_of(archive.path))
    detail = f"{archive.path}: intact, {_megabytes(size)}, {counted(messages, 'message')}"
    return passed("archive", detail)


def _files_of(path: Path) -> list[Path]:
    """The database file and its WAL beside it, if there is one."""
    wal = path.with_name(path.name + "-wal")
    return [path, wal] if wal.exists() else [path]


def check_outbox(archive, now: datetime) -> Check:
    """Pending deliveries both ways; one older than BACKLOG_LIMIT fails."""
    mail = archive.deliveries.outbox_counts("mail")
    chats = archive.deliveries.outbox_counts("channel")
    pending = f"{counted(mail['pending'], 'email')} and {counted(chats['pending'], 'chat message')}"
    detail = f"{pending} pending"
    oldest = min((c["oldest_pending"] for c in (mail, chats) if c["oldest_pending"]), default=None)
    if oldest is not None:
        detail += f", the oldest for {age(now - oldest)}"
    given_up = mail["failed"] + chats["failed"]
    if given_up:
        detail += f"; {given_up} given up over time"
    if oldest is None or now - oldest <= BACKLOG_LIMIT:
        return passed("outbox", detail)
    error = mail["last_error"] or chats["last_error"]
    if error:
        detail += f"; last error: {one_line(error)}"
    return failed(
        "outbox",
        detail,
        "is the relay running? start it: im2mail run (systemctl status im2mail); if it "
        "is, the last error says which server refuses: im2mail status",
    )


def check_people(archive) -> list[Check]:
    """Customers who share a phone number and are not linked (archive/people.py): a
    warning with the commands that would link them; nothing when there are none."""
    from ...archive import people
    from ...untrusted import printable

    found = people.suggestions(archive)
    if not found:
        return []
    pairs = "; ".join(
        f"#{s.first} {printable(s.first_customer.display_name)} and #{s.second} "
        f"{printable(s.second_customer.display_name)} ({printable(s.phone)})"
        for s in found[:5]
    ) + ("; …" if len(found) > 5 else "")
    commands = "; ".join(f"im2mail customers link {s.first} {s.second}" for s in found)
    return [
        warned(
            "people",
            f"{counted(len(found), 'pair')} of customers share a phone number: {pairs}",
            f"if they are one person: {commands}",
        )
    ]


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"
