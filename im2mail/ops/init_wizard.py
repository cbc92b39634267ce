"""`im2mail init`: turn the owner's answers into config.toml and keyring secrets, after
checking the mail servers live. The questions themselves are asked by the CLI (cli/setup.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, fields
from typing import Any

from .. import config, secrets
from ..channels import CHANNELS
from ..config import Config
from ..errors import ConfigError, SecretError


@dataclass
class Answers:
    """Everything init asks. Defaults come from the existing config, then from guesses."""

    address: str = ""
    managers: list[str] = field(default_factory=list)
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: str = "starttls"
    smtp_username: str = ""
    imap_host: str = ""
    imap_port: int = 993
    imap_security: str = "tls"
    imap_username: str = ""
    imap_folder: str = "INBOX"
    processed_folder: str = "im2mail"
    public_url: str = ""
    listen: str = config.DEFAULT_LISTEN
    greeting: str = ""
    authserv_id: str = ""  # "": replies' senders are not checked against the server's verdict

    def guess_from_address(self) -> None:
        """Fill what can be guessed from the mailbox address (hosts, usernames)."""
        domain = self.address.rpartition("@")[2]
        if domain:
            self.smtp_host = self.smtp_host or f"smtp.{domain}"
            self.imap_host = self.imap_host or f"imap.{domain}"
        self.smtp_username = self.smtp_username or self.address
        self.imap_username = self.imap_username or self.address

    def update(self, **values: Any) -> None:
        """Take the values that were given (None means: not given, keep what is there)."""
        known = {f.name for f in fields(self)}
        for name, value in values.items():
            if name in known and value is not None:
                setattr(self, name, value)


def existing() -> tuple[Answers, dict[str, Any]]:
    """Answers prefilled from config.toml if there is one, and its raw data (for bots and
    keys init does not ask about)."""
    path = config.paths().config
    if not path.exists():
        return Answers(), {}
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Answers(), {}  # a broken file is replaced by what the owner answers now
    mail, relay = data.get("mail", {}), data.get("relay", {})
    smtp, imap = mail.get("smtp", {}), mail.get("imap", {})
    answers = Answers()
    answers.update(
        address=mail.get("address"),
        managers=list(mail.get("managers") or []) or None,
        smtp_host=smtp.get("host"),
        smtp_port=smtp.get("port"),
        smtp_security=smtp.get("security"),
        smtp_username=smtp.get("username"),
        imap_host=imap.get("host"),
        imap_port=imap.get("port"),
        imap_security=imap.get("security"),
        imap_username=imap.get("username"),
        imap_folder=imap.get("folder"),
        processed_folder=imap.get("processed_folder"),
        public_url=relay.get("public_url"),
        listen=relay.get("listen"),
        greeting=relay.get("greeting"),
        authserv_id=mail.get("authserv_id"),
    )
    return answers, data


def config_data(answers: Answers, previous: dict[str, Any]) -> dict[str, Any]:
    """The config.toml content: the answers, plus what init does not ask (bots, other keys)."""
    data = dict(previous)
    mail = dict(previous.get("mail", {}))
    mail.update(address=answers.address, managers=list(answers.managers))
    if answers.authserv_id.strip():
        mail["authserv_id"] = answers.authserv_id.strip()
    else:
        mail.pop("authserv_id", None)
    mail["smtp"] = {
        "host": answers.smtp_host,
        "port": answers.smtp_port,
        "security": answers.smtp_security,
        "username": answers.smtp_username,
    }
    mail["imap"] = {
        "host": answers.imap_host,
        "port": answers.imap_port,
        "security": answers.imap_security,
        "username": answers.imap_username,
        "folder": answers.imap_folder,
        "processed_folder": answers.processed_folder,
    }
    relay = dict(previous.get("relay", {}))
    for key in ("public_url", "listen", "greeting"):
        value = getattr(answers, key)
        if value:
            relay[key] = value
        else:
            relay.pop(key, None)
    data["mail"], data["relay"] = mail, relay
    return data


def detect_authserv_id(answers: Answers, previous: dict[str, Any], imap_password: str):
    """What recent mail in the mailbox says about its receiving server (authres.Survey),
    or None when it can't be read (no password, a server that refuses): best effort, the
    live check in save() says what is wrong."""
    from ..errors import Im2mailError
    from ..mail import authres
    from ..mail.watcher import recent_headers

    if not imap_password:
        return None
    try:
        cfg = config.parse(config_data(answers, previous), source="your answers", channels=CHANNELS)
        blobs = recent_headers(cfg.mail.imap, imap_password, count=40, timeout=10)
    except Im2mailError:
        return None
    return authres.survey(blobs, answers.authserv_id.strip().lower() or None)


def save(
    answers: Answers,
    previous: dict[str, Any],
    smtp_password: str,
    imap_password: str,
    *,
    check: bool = True,
    progress=lambda message: None,
) -> Config:
    """Validate (exit 3), make sure the keyring works (exit 4), check IMAP and SMTP live
    (exit 1), then write config.toml and the secrets. Nothing is written on failure."""
    data = config_data(answers, previous)
    cfg = config.parse(data, source="your answers", channels=CHANNELS)
    if not smtp_password or not imap_password:
        raise ConfigError("the SMTP and IMAP passwords are needed", hint="give both")
    secrets.backend_name()
    if check:
        from ..mail.smtp import check_login as check_smtp
        from ..mail.watcher import check_login as check_imap

        progress(f"checking IMAP login at {cfg.mail.imap.host}:{cfg.mail.imap.port} …")
        check_imap(cfg.mail.imap, imap_password)
        progress(f"checking SMTP login at {cfg.mail.smtp.host}:{cfg.mail.smtp.port} …")
        asyncio.run(check_smtp(cfg.mail.smtp, smtp_password))
    config.write(data, channels=CHANNELS)
    secrets.put(secrets.SMTP, smtp_password)
    secrets.put(secrets.IMAP, imap_password)
    try:
        secrets.get(secrets.SIGNING_KEY)
    except SecretError:
        secrets.put(secrets.SIGNING_KEY, secrets.new_signing_key())
    return cfg
