"""systemd: the unit file for `im2mail run` and installing it (the relay's sd_notify side
is relay/sd_notify.py).

Credentials, one scheme: a system unit loads each secret from a root-only file
/etc/im2mail/credentials/<name>, a user unit from <config dir>/credentials/<name>
(~/.config/im2mail/credentials/ or $IM2MAIL_HOME/credentials/); <name> is the secret's
name with ':' as '-' (`bot-shop`), as secrets.get looks for it in $CREDENTIALS_DIRECTORY.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import sys
from pathlib import Path

from .. import secrets
from ..config import Config
from ..errors import RuntimeFailure
from ..home import HOME_ENV, paths

log = logging.getLogger("im2mail.systemd")

UNIT_NAME = "im2mail.service"
SYSTEM_UNIT_DIR = Path("/etc/systemd/system")
SYSTEM_CREDENTIALS = Path("/etc/im2mail/credentials")
WATCHDOG_SEC = 60  # the relay pings at half of it


# -- the unit ------------------------------------------------------------------------------


def credential_name(secret: str) -> str:
    """`bot:shop` → `bot-shop`: the file name secrets.get reads in $CREDENTIALS_DIRECTORY."""
    return secret.replace(":", "-")


def needed_secrets(cfg: Config) -> list[str]:
    """Every secret `run` reads (as relay.preflight does)."""
    bots = [secrets.bot_secret(bot.name) for bot in cfg.bots]
    return [secrets.SMTP, secrets.IMAP, secrets.SIGNING_KEY, *bots]


def credentials_dir(*, user: bool) -> Path:
    return paths().config.parent.absolute() / "credentials" if user else SYSTEM_CREDENTIALS


def exec_command(python: str | None = None, name: str = "im2mail") -> list[str]:
    """How to start a console script of ours: the one beside the interpreter (a venv's or
    pipx's bin/), else `<python> -m <name>`. Not resolved: a venv's python is a link."""
    interpreter = Path(os.path.abspath(python or sys.executable))
    script = interpreter.parent / name
    found = script.is_file() and os.access(script, os.X_OK)
    return [str(script)] if found else [str(interpreter), "-m", name]


def credential_commands(cfg: Config, *, user: bool, python: str | None = None) -> list[str]:
    """Shell commands that copy each secret from the keyring to its credential file."""
    creds, sudo = credentials_dir(user=user), "" if user or os.geteuid() == 0 else "sudo "
    keyring = shlex.join(exec_command(python, "keyring"))
    return [f"{sudo}install -d -m 700 {shlex.quote(str(creds))}"] + [
        f"{keyring} get im2mail {s} | {sudo}install -m 600 /dev/stdin "
        + shlex.quote(str(creds / credential_name(s)))
        for s in needed_secrets(cfg)
    ]


def writable_dirs() -> list[Path]:
    """What the relay writes (archive.db, blobs/) and its config folder: ReadWritePaths=."""
    where = paths()
    return list(dict.fromkeys([where.archive.parent.absolute(), where.config.parent.absolute()]))


def unit(cfg: Config, *, user: bool = False, python: str | None = None) -> str:
    """The unit file: a system unit running as the current user, or a user unit."""
    creds, flag = credentials_dir(user=user), " --user" if user else ""
    env = {name: os.environ.get(name) for name in (HOME_ENV, "PYTHON_KEYRING_BACKEND")}
    command = " ".join(_word(part, exec_start=True) for part in [*exec_command(python), "run"])
    copy = credential_commands(cfg, user=user, python=python)
    names = [credential_name(secret) for secret in needed_secrets(cfg)]
    lines = [
        f"# im2mail relay, made by `im2mail systemd-unit{flag}` for {paths().config.absolute()}",
        "# Secrets come as systemd credentials: one file for each LoadCredential= line",
        f"# below, {'yours' if user else 'owned by root'}, mode 600. From the keyring:",
        *(f"#   {line}" for line in copy),
        f'# or from the value itself: printf %s "$VALUE" | {copy[-1].partition("| ")[2]}',
        "# systemd reads them at each start (one missing: the start fails, 243/CREDENTIALS)",
        "# into $CREDENTIALS_DIRECTORY. For a secret kept in the keyring, delete its line.",
        f"# Check this file with: systemd-analyze{flag} verify {unit_path(user=user)}",
        "",
        "[Unit]",
        "Description=im2mail: the shop's messenger bots to its sales mailbox and back",
        "Wants=network-online.target",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=notify",
        "NotifyAccess=main",
        f"ExecStart={command}",
        *([] if user else _account()),
        *(f"Environment={_word(f'{name}={value}')}" for name, value in env.items() if value),
        "Restart=on-failure",
        "RestartSec=5",
        f"WatchdogSec={WATCHDOG_SEC}",
        "TimeoutStopSec=20",
        *(f"LoadCredential={name}:{_rest(creds / name)}" for name in names),
        "",
        *_hardening(user),
        "",
        "[Install]",
        f"WantedBy={'default.target' if user else 'multi-user.target'}",
    ]
    return "\n".join(lines) + "\n"


def _account() -> list[str]:
    import grp
    import pwd

    user, group = pwd.getpwuid(os.geteuid()).pw_name, grp.getgrgid(os.getegid()).gr_name
    return [f"User={user}", f"Group={group}"]


def _hardening(user: bool) -> list[str]:
    common = [
        "NoNewPrivileges=yes",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "LockPersonality=yes",
        "RestrictRealtime=yes",
        "SystemCallArchitectures=native",
        "# CPython needs no memory both writable and executable (no ctypes callbacks here).",
        "MemoryDenyWriteExecute=yes",
        "UMask=0077",
    ]
    if user:
        return [
            "# Hardening. Not ProtectSystem=, ProtectHome=, PrivateTmp=, ProtectKernel*=: a user",
            "# manager can't make their mount namespaces (but with PrivateUsers=, not everywhere).",
            *common,
        ]
    writable = " ".join(_word(str(path)) for path in writable_dirs())
    return [
        "# Hardening: network, and writes only to its data and config folders (which must exist).",
        "# ReadWritePaths= stay writable inside ProtectHome=read-only (a venv in /home works).",
        "PrivateTmp=yes",
        "ProtectSystem=strict",
        f"ReadWritePaths={writable}",
        "ProtectHome=read-only",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectControlGroups=yes",
        *common,
    ]


def _rest(value: Path | str) -> str:
    """A value systemd reads to the end of the line (LoadCredential='s path): '%' doubled."""
    text = str(value)
    if "\n" in text or "\r" in text:
        raise RuntimeFailure(f"a line break can't go in a unit file: {text!r}")
    return text.replace("%", "%%")


def _word(value: str, exec_start: bool = False) -> str:
    """One word of ExecStart=, Environment= or ReadWritePaths=: '%' (and in ExecStart '$')
    doubled, in double quotes when it holds blanks, quotes or backslashes."""
    text = _rest(value)
    if exec_start:
        text = text.replace("$", "$$")
    if not text or any(c in text for c in " \t\"'\\"):
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


# -- installing ----------------------------------------------------------------------------


def unit_path(*, user: bool) -> Path:
    """Where systemd looks for the unit: the system's or the user's unit folder."""
    if not user:
        return SYSTEM_UNIT_DIR / UNIT_NAME
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "systemd" / "user" / UNIT_NAME


def install(unit_text: str, *, user: bool, force: bool = False, path: Path | None = None) -> Path:
    """Write the unit (mode 644) at `path` (default: unit_path), atomically. An identical
    file stays as it is; a different one is replaced only with force."""
    path = path or unit_path(user=user)
    try:
        if path.read_text(encoding="utf-8") == unit_text:
            return path
        if not force:
            raise RuntimeFailure(
                f"{path} exists and is different; not replaced",
                hint=f"compare: im2mail systemd-unit{' --user' if user else ''} | diff {path} -;"
                " replace it: add --force",
            )
    except FileNotFoundError:
        pass
    except OSError as e:
        raise _cannot_write(path, e, user) from None
    temporary = path.with_name(f".{path.name}.new")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(unit_text, encoding="utf-8")
        temporary.chmod(0o644)
        temporary.replace(path)
    except OSError as e:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise _cannot_write(path, e, user) from None
    return path


def next_steps(cfg: Config, *, user: bool) -> list[str]:
    """What to do once the unit is installed, as commands to type."""
    sudo = "" if os.geteuid() == 0 else "sudo "
    ctl = "systemctl --user" if user else f"{sudo}systemctl"
    linger = f"{sudo}loginctl enable-linger $USER   (so it runs while you are logged out)"
    return [
        "put each secret in its credential file (more in the unit's comments):"
        + "".join(f"\n     {line}" for line in credential_commands(cfg, user=user)),
        f"{ctl} daemon-reload",
        f"{ctl} enable --now im2mail",
        *([linger] if user else []),
        f"journalctl{' --user' if user else ''} -u im2mail -f   (its log)",
    ]


def _cannot_write(path: Path, error: OSError, user: bool) -> RuntimeFailure:
    if user:
        return RuntimeFailure(f"cannot write {path}: {error.strerror}")
    return RuntimeFailure(
        f"cannot write {path}: {error.strerror} (a system unit needs root)",
        hint=f"as the user im2mail runs as: im2mail systemd-unit | sudo tee {path} >/dev/null;"
        " or a unit of your own: im2mail systemd-unit --user --install",
    )
