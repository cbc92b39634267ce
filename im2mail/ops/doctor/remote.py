"""doctor's checks over the network: IMAP, SMTP, each bot's token and webhook, the public
URL. They run at once (asyncio; the blocking IMAP client in a thread), each bounded by
`timeout` seconds. They reuse what `init` and `bot add` check with (mail/watcher.py and
mail/smtp.py check_login, channels' start/get_me/webhook_info), so doctor and init agree
on what works and say so in the same words.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace

from ... import secrets
from ...channels import AuthFailed, WebhookInfo, bot_options, open_channel, spec, webhook_url
from ...config import BotConfig, Config
from ...errors import Im2mailError, RuntimeFailure, redact
from ..status import health_url
from .verdicts import Check, failed, from_error, passed, skipped, warned

INIT_FIX = "change the settings or the password with: im2mail init"
IMAP_CHECKS = ("IMAP", "IMAP IDLE and MOVE", "IMAP processed folder", "sender authentication")
SURVEYED = 40  # recent emails whose headers tell the receiving server's authserv-id
WHO_CAN_ANSWER = 'see "Who can answer customers" in the README'


async def remote_checks(cfg: Config | None, found: dict[str, str], timeout: float) -> list[Check]:
    """IMAP (three checks), SMTP, each bot, each bot's webhook, the public URL, in order."""
    if cfg is None:
        names = [*IMAP_CHECKS, "SMTP", "public URL"]
        return [skipped(name, "no valid config") for name in names]
    results = await asyncio.gather(
        asyncio.to_thread(imap_checks, cfg, found.get(secrets.IMAP), timeout),
        smtp_check(cfg, found.get(secrets.SMTP), timeout),
        public_url_check(cfg, timeout),
        *(bot_checks(cfg, bot, found.get(bot.secret_name), timeout) for bot in cfg.bots),
    )
    imap, smtp, public, *bots = results
    return [*imap, smtp, *(b[0] for b in bots), *(b[1] for b in bots), public]


def _no_secret(name: str) -> str:
    return f"the secret '{name}' is not available"


# -- IMAP ------------------------------------------------------------------------------------


def imap_checks(cfg: Config, password: str | None, timeout: float) -> list[Check]:
    """Login and folder, then the extensions, then the processed folder."""
    from ...mail.watcher import POLL_INTERVAL, check_login

    s = cfg.mail.imap
    later = IMAP_CHECKS[1:]
    if password is None:
        reason = _no_secret(secrets.IMAP)
        return [skipped(name, reason) for name in ("IMAP", *later)]
    try:
        caps = check_login(s, password, timeout=timeout)
    except Im2mailError as e:
        first = from_error("IMAP", e, f"{e.hint}; {INIT_FIX}" if e.hint else INIT_FIX)
        return [first, *(skipped(name, "the IMAP check failed") for name in later)]
    login = passed("IMAP", f"{s.username} at {s.host}:{s.port}, folder {s.folder} exists")
    missing = []
    if "IDLE" not in caps:
        missing.append(f"no IDLE: replies are found by polling every {POLL_INTERVAL:g} s")
    if "MOVE" not in caps:
        missing.append("no MOVE: handled replies are copied, then deleted")
    extensions = (
        warned("IMAP IDLE and MOVE", "; ".join(missing), "nothing to do: it works, a bit slower")
        if missing
        else passed("IMAP IDLE and MOVE", "both offered")
    )
    return [
        login,
        extensions,
        processed_folder_check(cfg, password, timeout),
        authentication_check(cfg, password, timeout),
    ]


def authentication_check(cfg: Config, password: str, timeout: float) -> Check:
    """Whether replies are checked against the receiving server's Authentication-Results
    (mail.authserv_id), and whether recent mail carries that server's verdict."""
    from ...mail import authres
    from ...mail.watcher import recent_headers

    name, configured = "sender authentication", cfg.mail.authserv_id
    try:
        found = authres.survey(recent_headers(cfg.mail.imap, password, count=SURVEYED,
                                              timeout=timeout), configured)  # fmt: skip
    except Im2mailError as e:
        return from_error(name, e)
    seen = f"the last {found.emails} emails in {cfg.mail.imap.folder}"
    if found.suggested:
        fix = (f'set mail.authserv_id = "{found.suggested}" in the config (the server id on '
               f"{found.suggested_on} of {seen}); {WHO_CAN_ANSWER}")  # fmt: skip
    else:
        fix = f"no email there carries Authentication-Results yet; {WHO_CAN_ANSWER}"
    if not configured:
        return warned(name, "mail.authserv_id is not set: a reply with a forged manager's From "
                      "can't be told from a real one", fix)  # fmt: skip
    if not found.emails:
        return passed(name, f"{configured}; no email in {cfg.mail.imap.folder} to check it on")
    if not found.vouched:
        detail = (f"{configured}: none of {seen} carries its verdict, so every reply "
                  "would be refused")  # fmt: skip
        return warned(name, detail, fix if found.suggested != configured else WHO_CAN_ANSWER)
    return passed(name, f"{configured}: its verdict is on {found.vouched} of {seen}")


def processed_folder_check(cfg: Config, password: str, timeout: float) -> Check:
    """Whether handled replies have their folder; doctor never creates it (run does)."""
    from ...mail.watcher import check_login

    s, name = cfg.mail.imap, "IMAP processed folder"
    if not s.processed_folder:
        return passed(name, f"none: handled replies stay in {s.folder}, marked read")
    try:
        check_login(replace(s, folder=s.processed_folder), password, timeout=timeout)
    except RuntimeFailure as e:
        if "has no folder" not in e.message:
            return from_error(name, e)
        return passed(name, f"{s.processed_folder} does not exist yet; run creates it")
    return passed(name, f"{s.processed_folder} exists")


# -- SMTP ------------------------------------------------------------------------------------


async def smtp_check(cfg: Config, password: str | None, timeout: float) -> Check:
    from ...mail.smtp import SmtpSettings, check_login

    if password is None:
        return skipped("SMTP", _no_secret(secrets.SMTP))
    settings = SmtpSettings.from_config(cfg.mail.smtp, timeout=timeout)
    try:
        await asyncio.wait_for(check_login(settings, password), timeout)
    except TimeoutError:
        return failed(
            "SMTP",
            f"the SMTP server {settings.address} did not answer within {timeout:g} s",
            f"check host, port and security, and the firewall; {INIT_FIX}",
        )
    except Im2mailError as e:
        return from_error("SMTP", e)
    who = f"logged in as {settings.username}" if settings.username else "no login configured"
    return passed("SMTP", f"{settings.address} ({settings.security}), {who}")


# -- bots and their webhooks -----------------------------------------------------------------


async def bot_checks(
    cfg: Config, bot: BotConfig, token: str | None, timeout: float
) -> tuple[Check, Check]:
    """The token (the platform's getMe / get_account_info), then the webhook, in one
    session with the platform."""
    name, hook = f"bot {bot.name}", f"webhook {bot.name}"
    about = spec(bot.channel)
    platform = about.title
    if token is None:
        reason = _no_secret(bot.secret_name)
        return skipped(name, reason), skipped(hook, reason)
    try:
        me, info = await asyncio.wait_for(_ask(bot, token, timeout), 2 * timeout + 1)
    except AuthFailed:
        fix = (
            "the token was revoked or replaced: im2mail bot remove "
            f"{bot.name}; im2mail bot add {bot.channel} {bot.name}"
        )
        reason = "the token was refused"
        return failed(name, f"{platform} refused the token", fix), skipped(hook, reason)
    except (TimeoutError, Im2mailError) as e:
        where = f" at {bot.api_url}" if bot.api_url else ""
        why = e.message if isinstance(e, Im2mailError) else f"no answer within {timeout:g} s"
        fix = "check the network" + (f" and api_url ({bot.api_url})" if bot.api_url else "")
        check = failed(name, f"could not reach {platform}{where}: {redact(why)}", fix)
        return check, skipped(hook, f"{platform} could not be reached")
    who = about.shown(me.username, me.name)
    return passed(name, f"{who} on {platform}"), webhook_check(cfg, bot, info)


async def _ask(bot: BotConfig, token: str, timeout: float):
    options = bot_options(bot)
    async with open_channel(
        bot.channel, bot.name, token, bot.api_url, timeout=timeout, **options
    ) as ch:
        return await ch.get_me(), await ch.webhook_info()


def webhook_check(cfg: Config, bot: BotConfig, info: WebhookInfo) -> Check:
    """A webhook bot's URL must be ours; a polling bot must have none (it blocks polling)."""
    name, about = f"webhook {bot.name}", spec(bot.channel)
    if bot.mode != "webhook":
        if not info.url:
            return passed(name, "none set; the bot polls")
        return failed(
            name,
            f"{info.url} is set, and while it is, {about.title} refuses to be polled",
            f"im2mail webhook delete {bot.name}",
        )
    expected = webhook_url(cfg.relay.public_url or "", bot.channel, bot.name)
    if about.dashboard is not None:  # the platform shows it in its dashboard only
        return skipped(name, f"set in {about.dashboard.owner}'s dashboard, which im2mail cannot "
                             f"read: it must be {expected} (see: im2mail webhook set "
                             f"{bot.name})")  # fmt: skip
    if about.webhook_called_when_set:
        register = "start the relay: im2mail run (it registers the webhook at each start)"
    else:
        register = f"im2mail webhook set {bot.name} (im2mail run registers it too)"
    if not info.url:
        return failed(name, f"not registered; it should be {expected}", register)
    if info.url != expected:
        return failed(name, f"registered at {info.url}, not at {expected}", register)
    detail = f"registered at {expected}"
    if info.pending:
        detail += f", {info.pending} updates waiting"
    if info.last_error:
        when = f" at {info.last_error_at:%Y-%m-%d %H:%M} UTC" if info.last_error_at else ""
        error = redact(" ".join(info.last_error.split()))
        return warned(
            name,
            f"{detail}; last delivery error{when}: {error}",
            f"check that the relay runs and that {cfg.relay.public_url} reaches it",
        )
    return passed(name, detail)


# -- the public URL ---------------------------------------------------------------------------


async def public_url_check(cfg: Config, timeout: float) -> Check:
    """Set when a bot needs webhooks, HTTPS, and reaching the relay (GET /healthz).

    When it does not answer and the relay does not answer on relay.listen either, the
    relay is simply not running: that is a warning (doctor is often run before `im2mail
    run`, and the set-up may well be right). When the relay answers here but not through
    the public URL, the way in (DNS, reverse proxy, firewall) is wrong: a failure."""
    name, url = "public URL", cfg.relay.public_url
    if not url:
        return skipped(name, "not set; no bot needs webhooks")
    # Both within the checks' time limit: a relay not running refuses at once, while a busy
    # one may take a moment, and must not be taken for one that isn't there.
    outside, inside = await asyncio.gather(
        get_health(f"{url}/healthz", timeout), get_health(health_url(cfg.relay.listen), timeout)
    )
    plain = url.startswith("http://")
    if outside is None:
        detail = f"{url}/healthz answers"
        if plain:
            return warned(
                name,
                f"{detail}; plain http, accepted on a loopback host only",
                "for the internet, serve it over HTTPS (a reverse proxy with a certificate)",
            )
        return passed(name, f"{detail} over HTTPS")
    if inside is not None:
        return warned(
            name,
            f"{url}/healthz: {outside}; the relay is not running here, so the URL could "
            "not be tried",
            "start it: im2mail run, then run doctor again",
        )
    return failed(
        name,
        f"{url}/healthz: {outside}, while the relay answers on {cfg.relay.listen}",
        f"make {url} reach {cfg.relay.listen}: check DNS, the reverse proxy and the firewall",
    )


async def get_health(url: str, timeout: float) -> str | None:
    """None when GET url answers 200; else what went wrong, in a few words."""
    import aiohttp

    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.get(url, allow_redirects=False) as response,
        ):
            if response.status == 200:
                return None
            return f"answered {response.status} {response.reason or ''}".rstrip()
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except aiohttp.ClientConnectorCertificateError as e:
        return f"its TLS certificate is not trusted ({e.certificate_error})"
    except aiohttp.ClientConnectorError as e:
        return f"cannot connect ({_why(e.os_error)})"
    except (aiohttp.ClientError, OSError) as e:
        return redact(" ".join(str(e).split())) or type(e).__name__


def _why(error: OSError) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, socket.gaierror):
        return "the name does not resolve"
    return error.strerror or str(error)
