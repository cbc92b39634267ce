"""`im2mail status`: the relay's state as the archive records it. Nothing here prints.

Per configured bot: its last message in (when, from whom), its last message out, its
conversations. The outbox: what is pending each way, the oldest pending, what failed in
the last 24 hours, and the last error (of the newest row that failed or is being
retried), as one redacted line. The customers the shop blocked (relay/blocking.py) and
those flooding now, whose digest email is still to go (relay/flood.py). The accounts
connected to the bots (Telegram Business: relay/business.py), each as it is now with its
last change. Plus whether the
relay answers on relay.listen (GET /healthz, 1 s). Read only: the archive is opened as
tail and conversations open it, never created. The archive's side is archive/status.py.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..config import Config
from ..errors import redact
from ..home import Paths

if TYPE_CHECKING:
    from ..archive.status import OutboxError
    from ..model import Connection

FAILED_WINDOW = timedelta(hours=24)
ERROR_CHARS = 200
PROBE_TIMEOUT = 1.0

Relay = Literal["running", "starting", "not answering"]


@dataclass(frozen=True)
class BotActivity:
    name: str
    channel: str
    conversations: int = 0
    last_in: datetime | None = None
    last_in_customer: str | None = None
    last_out: datetime | None = None

    def record(self) -> dict[str, Any]:
        return {
            "bot": self.name,
            "channel": self.channel,
            "conversations": self.conversations,
            "last_in": _iso(self.last_in),
            "last_in_customer": self.last_in_customer,
            "last_out": _iso(self.last_out),
        }


@dataclass(frozen=True)
class LastError:
    text: str  # one line, redacted
    target: str  # "mail" or "channel"
    state: str  # "retrying" or "failed"


@dataclass(frozen=True)
class Status:
    archive: Path
    archive_exists: bool
    bots: tuple[BotActivity, ...]
    pending_mail: int = 0
    pending_channel: int = 0
    oldest_pending: datetime | None = None
    failed_24h: int = 0
    last_error: LastError | None = None
    relay: Relay | None = None  # None: not asked
    listen: str = ""
    now: datetime | None = None
    blocked: tuple[Any, ...] = ()  # blocks.Blocked: conversations of blocked customers
    flooding: tuple[Any, ...] = ()  # floods.Flooding: conversations with a digest to go
    connections: tuple[Connection, ...] = ()  # accounts connected to the bots (Business)

    def record(self) -> dict[str, Any]:
        oldest = self.oldest_pending
        now = self.now or datetime.now(UTC)
        return {
            "archive": str(self.archive),
            "archive_exists": self.archive_exists,
            "relay": self.relay,
            "listen": self.listen,
            "bots": [bot.record() for bot in self.bots],
            "outbox": {
                "pending_mail": self.pending_mail,
                "pending_channel": self.pending_channel,
                "oldest_pending": _iso(oldest),
                "oldest_pending_seconds": int((now - oldest).total_seconds()) if oldest else None,
                "failed_24h": self.failed_24h,
                "last_error": asdict(self.last_error) if self.last_error else None,
            },
            "blocked": [b.record() for b in self.blocked],
            "flooding": [f.record() for f in self.flooding],
            "business_connections": [connection_record(c) for c in self.connections],
        }


def connection_record(c: Connection) -> dict[str, Any]:
    """An account connected to a bot, for --json (`status`, `bot list`); its connection id
    is left out: with the bot's token it acts as the account."""
    return {
        "bot": c.bot,
        "account": c.label,
        "owner_id": c.owner_id,
        "owner_name": c.owner_name,
        "enabled": c.enabled,
        "can_reply": c.can_reply,
        "rights": list(c.rights),
        "since": _iso(c.since),
        "changed": _iso(c.changed),
        "change": c.change,
    }


def connections(where: Paths) -> list[Connection]:
    """The accounts connected to the bots, from the archive ([] when there is none yet)."""
    from ..archive import Archive, business

    if not where.archive.exists():
        return []
    with Archive.open(where.archive, where.blobs, create=False) as archive:
        return business.connections(archive)


def read(cfg: Config, where: Paths, *, probe: bool = True, now: datetime | None = None) -> Status:
    """The status from the archive at where.archive (an empty one if there is none yet)."""
    from ..archive import Archive, blocks, business, floods, status

    now = now or datetime.now(UTC)
    relay = relay_state(cfg.relay.listen) if probe else None
    bots = tuple(BotActivity(bot.name, bot.channel) for bot in cfg.bots)
    if not where.archive.exists():
        return Status(where.archive, False, bots, relay=relay, listen=cfg.relay.listen, now=now)
    with Archive.open(where.archive, where.blobs, create=False) as archive:
        bots = tuple(
            BotActivity(bot.name, bot.channel, **asdict(status.activity(archive, bot.name)))
            for bot in bots
        )
        failed = status.failed_since(archive, now - FAILED_WINDOW)
        error = status.last_error(archive)
        blocked, flooding = blocks.blocked(archive), floods.flooding(archive)
        connected = business.connections(archive)
        mail = archive.deliveries.outbox_counts("mail")
        chats = archive.deliveries.outbox_counts("channel")
    oldest = [c["oldest_pending"] for c in (mail, chats) if c["oldest_pending"]]
    return Status(
        archive=where.archive,
        archive_exists=True,
        bots=bots,
        pending_mail=mail["pending"],
        pending_channel=chats["pending"],
        oldest_pending=min(oldest, default=None),
        failed_24h=failed,
        last_error=_last_error(error),
        relay=relay,
        listen=cfg.relay.listen,
        now=now,
        blocked=tuple(blocked),
        flooding=tuple(flooding),
        connections=tuple(connected),
    )


def _last_error(error: OutboxError | None) -> LastError | None:
    if error is None:
        return None
    state = "failed" if error.failed else "retrying"
    return LastError(one_line(error.text), error.target, state)


def one_line(text: str, limit: int = ERROR_CHARS) -> str:
    """A server's error as one redacted line of at most `limit` characters."""
    line = " ".join(redact(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


# -- is the relay there? -----------------------------------------------------------------------


def health_url(listen: str) -> str:
    """http://<relay.listen>/healthz, with a wildcard address (0.0.0.0, ::) as loopback."""
    host, _, port = listen.rpartition(":")
    host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "[::]": "[::1]", "::": "[::1]"}.get(host, host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}/healthz"


def relay_state(listen: str, timeout: float = PROBE_TIMEOUT) -> Relay:
    """Whether the relay answers GET /healthz on relay.listen: 200 is "running", 503
    (receivers not started yet) "starting", anything else "not answering"."""
    try:
        # No proxy: the relay is on this machine, whatever http_proxy says.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(health_url(listen), timeout=timeout) as response:
            return "running" if response.status == 200 else "not answering"
    except urllib.error.HTTPError as e:
        return "starting" if e.code == 503 else "not answering"
    except (OSError, ValueError):
        return "not answering"


def counted(n: int, noun: str) -> str:
    """'1 email', '3 emails'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
