"""The run loop: one asyncio process hosting the bots' receivers, the HTTP server, the
mail outbox, and the way back (the IMAP watcher in its thread, handing managers' replies
to the chat outbox), with an explicit lifecycle (initialize → start → run → stop).

Signal handlers only ask for a stop. Stopping takes no new work (the watcher stops
first), ends the customers' files being downloaded (their updates, not acknowledged, come
again), lets a message being archived finish, tells a polled platform which updates are
stored, lets the reply step and the email being sent finish, and closes everything; what
is still queued stays in the archive for next time.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote

from .. import config, secrets, signing
from ..archive import threads
from ..channels import CHANNELS, POLLING, reply_windows, titles
from ..config import BotConfig, Config, MailConfig
from ..errors import RuntimeFailure, redact
from ..untrusted import printable
from . import sd_notify

log = logging.getLogger("im2mail.relay")
T = TypeVar("T")

SENT_FILE_LINK_LIFETIME = timedelta(days=3)  # the platform downloads at once; keep it short
# For the end-to-end tests only, not a user setting (the README's Development section names
# it): the seconds a batch of reactions lasts instead of a minute (archive/reactions.py),
# so that a test of the real process need not wait a minute out. Read once at start-up.
REACTION_BATCH_ENV = "IM2MAIL_TEST_REACTION_BATCH"


@dataclass(frozen=True)
class Secrets:
    smtp_password: str = field(repr=False)
    imap_password: str = field(repr=False)
    signing_key: str = field(repr=False)
    bot_tokens: dict[str, str] = field(repr=False, default_factory=dict)


def preflight() -> tuple[Config, Secrets]:
    """Load config, then every secret it needs: config errors (exit 3) come before
    secret errors (exit 4), so a user fixes them in a sensible order."""
    cfg = config.load(channels=CHANNELS)
    loaded = Secrets(
        smtp_password=secrets.get(secrets.SMTP),
        imap_password=secrets.get(secrets.IMAP),
        signing_key=secrets.get(secrets.SIGNING_KEY),
        bot_tokens={bot.name: secrets.get(secrets.bot_secret(bot.name)) for bot in cfg.bots},
    )
    return cfg, loaded


class Relay:
    def __init__(self, cfg: Config, keys: Secrets) -> None:
        self.cfg, self.keys = cfg, keys
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._once = False
        self.channels: dict = {}  # bot name → started Channel
        # Each message's archive work (intake's store, the outbox's builds and records) in
        # one thread of its own: the archive is one connection behind one lock, and a
        # burst's hundreds of calls spread over the default pool's threads only contend
        # for that lock (and the interpreter); blocking calls of other kinds (a channel's
        # HTTP library, DNS) keep the default pool.
        self._archive_thread = ThreadPoolExecutor(1, thread_name_prefix="im2mail-archive")

    # -- lifecycle ---------------------------------------------------------------------------

    async def initialize(self) -> None:
        from ..archive import Archive
        from ..channels import open_channel
        from ..home import paths
        from ..mail.builder import MailSettings
        from ..mail.smtp import SmtpSettings
        from ..mail.smtp_outbox import MailOutbox
        from .alerts import Alerts, AlertSettings
        from .intake import Intake, IntakeSettings
        from .mailer import LinkSettings, Mailer
        from .pacing import MailPace
        from .retention import Retention
        from .transcripts import Transcripts
        from .web import WebServer

        where, mail = paths(), self.cfg.mail
        self.archive = await asyncio.to_thread(Archive.open, where.archive, where.blobs)
        await self._follow_managers(mail)
        # The one settings value of the mail we send; the channels' titles and reply
        # windows come in as data (mail/ knows no channel).
        self.mail = MailSettings.from_config(mail, titles=titles(), reply_windows=reply_windows())
        alerting = AlertSettings.from_config(self.cfg, self.mail)  # reminders and digest
        self.mailer = mailer = Mailer(
            self.archive,
            self.mail,
            LinkSettings(self.cfg.relay.public_url, self.keys.signing_key),
            hours=self.cfg.hours,
            digest_to=alerting.digest_to,
            flood_per_minute=self.cfg.relay.flood_per_minute,
            reaction_batch=(batch := _reaction_batch()),
        )
        self.outbox = MailOutbox(
            self.archive.deliveries,
            SmtpSettings.from_config(mail.smtp),
            self.keys.smtp_password,
            mailer.build,
            busy_elsewhere=lambda: self.intake.busy(),
            offload=self._in_archive_thread,
        )
        self._all_channels = {
            bot.name: open_channel(
                bot.channel,
                bot.name,
                self.keys.bot_tokens[bot.name],
                bot.api_url,
                **self._channel_options(bot),
            )
            for bot in self.cfg.bots
        }
        self.intake = Intake(
            self.archive,
            self._all_channels,
            IntakeSettings(
                self.mail,
                self.cfg.relay.greeting,
                hours=self.cfg.hours,
                flood_per_minute=self.cfg.relay.flood_per_minute,
                reaction_notices=self.cfg.alerts.reactions,
                reaction_batch=batch,
            ),
            self.outbox.notify,
            offload=self._in_archive_thread,
        )
        self._pace = MailPace(
            self._mail_due, lambda: self.outbox.sent, lambda: self.intake.archived
        )
        self._wire_replies(mail)
        self.alerts = Alerts(self.archive, alerting, self.outbox.notify)
        self.retention = Retention(self.archive, self.cfg.archive.keep_messages_days)
        host, _, port = self.cfg.relay.listen.rpartition(":")
        self.web = WebServer(host.strip("[]"), int(port), trust_proxy=self.cfg.relay.trust_proxy)
        self.web.serve_files(self._served_file)
        self.web.serve_transcripts(Transcripts(self.archive, self.keys.signing_key).render)

    async def _follow_managers(self, mail: MailConfig) -> None:
        """A manager removed since the last run received every conversation's emails, and
        with them the reply addresses: every conversation gets a new one (archive/tokens.py)."""
        rotation = await asyncio.to_thread(self.archive.tokens.follow_managers, mail.managers)
        if rotation.removed:
            log.warning(
                "%s no longer in mail.managers: gave all %d conversation(s) a new reply "
                "address; replies to older emails are refused, with a notice to their author",
                ", ".join(rotation.removed), rotation.rotated,
            )  # fmt: skip

    def _channel_options(self, bot: BotConfig) -> dict:
        """A channel that sends files by URL (Viber) gets signed links to the blob store on
        the public URL; without a public URL it can send text only (and says so)."""
        from ..channels import bot_options, channel_class

        options = bot_options(bot)
        if channel_class(bot.channel).sends_files_by_link:
            options["links"] = self._file_link if self.cfg.relay.public_url else None
        return options

    def _file_link(self, filename: str, mime: str, data: bytes) -> str:
        """A public link to a file a manager's reply carries (its blob is already stored,
        so this writes nothing), for the platform to download it."""
        sha = self.archive.blobs.put(data)
        expires = datetime.now(UTC) + SENT_FILE_LINK_LIFETIME
        token = signing.sign(
            self.keys.signing_key, signing.FILE, f"{sha}:{mime}:{filename}", expires
        )
        name = quote(filename.replace("/", "_")) or "file"
        return f"{(self.cfg.relay.public_url or '').rstrip('/')}/f/{token}/{name}"

    def _wire_replies(self, mail: MailConfig) -> None:
        """Managers' replies: the IMAP watcher hands emails to the reply intake, which
        queues deliveries for the chat outbox."""
        from ..mail.watcher import MailboxWatcher
        from .chat_outbox import ChatOutbox, SenderSettings
        from .reply_intake import ReplyIntake, ReplySettings

        bots = frozenset(bot.name for bot in self.cfg.bots)
        self.chat_outbox = ChatOutbox(
            self.archive,
            self.channels,
            SenderSettings(
                self.mail,
                bots,
                self.cfg.relay.sign_replies,
                resend_in_doubt=self.cfg.relay.in_doubt == "resend",
                max_messages=self.cfg.relay.max_reply_messages,
            ),
            self.outbox.notify,
        )
        self.replies = ReplyIntake(
            self.archive,
            ReplySettings(
                self.mail,
                templates=self.cfg.templates,
                authserv_id=mail.authserv_id,
                public_url=self.cfg.relay.public_url,
            ),
            self.chat_outbox.notify,
            self.outbox.notify,
            sent_texts=self.mailer.sent_texts,
            own_texts=self.mailer.own_texts,
        )
        self.watcher = MailboxWatcher(
            mail.imap, self.keys.imap_password, self.archive, self.replies.handle
        )

    async def start(self, once: bool = False) -> None:
        """Start the outbox and the HTTP server, then each bot; a bot whose token is refused
        is logged and left out, the others run. /healthz answers 200 once all is started.
        once: no outbox worker and no pollers; run(once=True) does one round of each."""
        self._once = once
        if not once:
            await self.outbox.start()
        await self.web.start()
        for bot in self.cfg.bots:
            await self._start_bot(bot)
        if self.cfg.bots and not self.channels:
            raise RuntimeFailure(
                "no bot could start (see the log above)", hint="check with: im2mail bot list"
            )
        if not once:
            await self.chat_outbox.start()
            self.watcher.start()
            await self.alerts.start()
            await self.retention.start()  # erases old messages now, then once a day
        self.web.ready = True
        log.info(
            "relay running: %d bot(s), mail via %s", len(self.channels), self.cfg.mail.smtp.host
        )

    async def _start_bot(self, bot: BotConfig) -> None:
        from ..channels import ChannelError, webhook_url

        channel = self._all_channels[bot.name]
        try:
            await channel.start()
            info = await channel.get_me()
        except ChannelError as e:
            log.error("bot %s not started: %s", bot.name, redact(e.message))
            return
        self.channels[bot.name] = channel
        if bot.mode == "webhook":
            secret = signing.webhook_secret(self.keys.signing_key, bot.name)
            self.web.add_webhook(
                bot.channel,
                bot.name,
                lambda headers, body, c=channel, s=secret: c.verify_webhook(headers, body, s),
                lambda body, name=bot.name: self._take_webhook(name, body),
                handshake=_handshake(bot.channel, secret),
            )
            url = webhook_url(self.cfg.relay.public_url or "", bot.channel, bot.name)
            try:
                await channel.set_webhook(url, secret)
            except ChannelError as e:
                log.error("bot %s: webhook not registered: %s", bot.name, redact(e.message))
            log.info("bot %s (@%s) receives by webhook at %s", bot.name, info.username, url)
        elif not self._once:
            self._tasks.append(asyncio.create_task(self._poller(bot.name, channel).run()))
            log.info("bot %s (@%s) receives by polling", bot.name, info.username)

    async def run(self, once: bool = False) -> None:
        """Until stop() is asked for; with once, until what is pending is done."""
        if once:
            for bot in self.cfg.bots:
                if bot.mode == POLLING and bot.name in self.channels:
                    await self._poller(bot.name, self.channels[bot.name]).once()
            await self._check_mailbox_once()
            await self.chat_outbox.flush()
            if self.alerts.enabled:  # from cron, each pass sends what is due by then
                await asyncio.to_thread(self.alerts.check, self.alerts.clock())
            if self.retention.enabled:
                await asyncio.to_thread(self.retention.check, self.retention.clock())
            await self.outbox.flush()
            return
        await self._stopping.wait()

    async def _check_mailbox_once(self) -> None:
        try:
            await asyncio.to_thread(self.watcher.check_once)
        except Exception as e:
            imap = self.cfg.mail.imap
            log.error("IMAP %s:%s: replies not read: %s", imap.host, imap.port, redact(repr(e)))

    def stop(self) -> None:
        """Ask for a stop (safe from a signal handler)."""
        self._stopping.set()

    async def shutdown(self) -> None:
        self._stopping.set()
        self.web.ready = False
        self.intake.downloads.abort()  # their updates are not acknowledged: they come again
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.to_thread(self.watcher.stop)
        await self.alerts.stop()
        await self.retention.stop()
        await self.chat_outbox.stop()
        await self.web.stop()
        for channel in self._all_channels.values():
            try:
                await channel.stop()
            except Exception as e:  # stopping the others matters more
                log.warning("bot %s did not stop cleanly: %s", channel.bot, redact(repr(e)))
        await self.outbox.stop()
        await asyncio.to_thread(self._archive_thread.shutdown)  # what it was handed has ended
        self.intake.downloads.close()
        await asyncio.to_thread(self.archive.close)
        log.info("relay stopped")

    # -- receiving ---------------------------------------------------------------------------

    async def _in_archive_thread(self, fn: Callable[..., T], /, *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(
            self._archive_thread, functools.partial(fn, *args)
        )

    async def _mail_due(self, at_most: int) -> int:
        from ..archive.db import now
        from ..mail.smtp_outbox import TARGET

        count = self.archive.deliveries.count_due
        return await self._in_archive_thread(count, TARGET, now(), at_most)

    def _poller(self, name: str, channel):
        from .polling import Poller

        return Poller(name, channel, self.intake.take, self._stopping, self._pace)

    async def _take_webhook(self, name: str, body: bytes) -> dict | None:
        import json

        from .web import BadUpdate

        try:
            raw = json.loads(body)
        except (ValueError, RecursionError) as e:  # RecursionError: [[[[… nested too deep
            raise BadUpdate(f"not JSON: {e}") from None
        if not isinstance(raw, dict):
            raise BadUpdate("not a JSON object")
        taken = await asyncio.shield(self.intake.take(name, raw))
        return taken.answer

    def _served_file(self, token: str):
        from .web import ServedFile

        value = signing.verify(self.keys.signing_key, signing.FILE, token)
        if value is None:
            return None
        if not value.isdigit():  # a file sent to a platform that fetches by link
            sha, _, rest = value.partition(":")
            mime, _, filename = rest.partition(":")
            try:
                path = self.archive.blob_path(sha)
            except ValueError:
                return None
            return ServedFile(path, filename, mime)
        found = threads.attachment(self.archive, int(value))
        if found is None or found[1] is None:
            return None
        attachment, path = found
        return ServedFile(path, attachment.filename, attachment.mime)


async def serve(cfg: Config, keys: Secrets, once: bool = False) -> None:
    """`im2mail run`: the whole lifecycle, with SIGTERM/SIGINT asking for a stop. Under
    systemd (Type=notify) it says READY=1 once /healthz answers 200, pings the watchdog
    from the event loop while running, and says STOPPING=1 when asked to stop."""
    relay, notify = Relay(cfg, keys), sd_notify.Notifier()
    await relay.initialize()
    loop = asyncio.get_running_loop()

    def stop() -> None:
        notify.stopping("stopping: finishing the work in hand")
        relay.stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    watchdog = None
    try:
        notify.status(f"starting: {len(cfg.bots)} bot(s)")
        await relay.start(once=once)
        bots, wanted = len(relay.channels), len(cfg.bots)
        notify.ready(f"relaying: {bots if bots == wanted else f'{bots} of {wanted}'} bot(s)")
        interval = sd_notify.watchdog_interval()
        if notify.enabled and interval:
            watchdog = asyncio.create_task(_keep_alive(notify, interval))
        await relay.run(once=once)
    finally:
        if watchdog:  # pings stop as shutdown starts: it is far shorter than WatchdogSec
            watchdog.cancel()
            await asyncio.gather(watchdog, return_exceptions=True)
        await relay.shutdown()


async def _keep_alive(notify: sd_notify.Notifier, interval: float) -> None:
    """WATCHDOG=1 every interval, for as long as the event loop runs tasks."""
    while True:
        notify.watchdog()
        await asyncio.sleep(interval)


def _reaction_batch() -> timedelta:
    """REACTION_BATCH_ENV's seconds when it is a positive number, else the minute."""
    from ..archive.reactions import BATCH

    try:
        seconds = float(os.environ.get(REACTION_BATCH_ENV, ""))
    except ValueError:
        return BATCH
    return timedelta(seconds=seconds) if 0 < seconds < BATCH.total_seconds() else BATCH


def _handshake(channel: str, verify_token: str):
    """The dashboard's check of the webhook (Meta's GET with hub.* parameters) for a
    channel whose webhook is entered in a dashboard; None for the others."""
    from ..channels import spec

    dashboard = spec(channel).dashboard
    if dashboard is None:
        return None
    return lambda query: dashboard.handshake(query, verify_token)


class LogFormatter(logging.Formatter):
    """One entry per line, secrets masked in all of it. The message has its control
    characters escaped: a customer's name or a platform's text with a line break in it
    can't start a line that reads as an entry of its own. A traceback (an exception's
    text, formatted after any filter has run) is masked too, and indented under its
    entry, so no line of it reads as an entry either."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        record = logging.makeLogRecord(record.__dict__)  # other handlers keep the original
        record.msg, record.args = printable(record.getMessage()), ()
        head, *rest = super().format(record).split("\n")
        return redact("\n".join([head, *(f"    {printable(line)}" for line in rest)]))


def configure_logging(debug: bool = False) -> None:
    """One line per event on stderr, secrets masked, tracebacks indented under it."""
    handler = logging.StreamHandler()
    handler.setFormatter(LogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    # The platforms' SDKs quiet their own loggers as their channels load (channels/).
    for noisy in ("httpx", "httpcore", "aiohttp.access", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
