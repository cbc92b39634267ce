"""Telegram: raw updates -> Incoming values; replies -> Bot API calls.

Uses python-telegram-bot's `telegram.Bot` alone (no Application: the relay owns the loop).
PTB builds method URLs as `base_url + token + "/" + method` and file URLs as
`base_file_url + token + "/" + file_path`, so `base_url=<api_url>/bot` and
`base_file_url=<api_url>/file/bot` give the official shape (DESIGN.md, api_url).

Updates are read raw (getUpdates through the request object, not `Bot.get_updates`), so
the archive keeps them as Telegram sent them and one odd update cannot stop polling;
reading them is `parse_update`'s job (parse.py, re-exported here).
The token never appears in an error raised here: PTB's errors are translated into the
ChannelError family with redacted messages, and the token is registered for redaction.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import logging
import re
from collections.abc import Awaitable, Mapping, Sequence
from datetime import timedelta
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlencode

import telegram
from telegram import InputMediaDocument, InputMediaPhoto
from telegram import error as tg_error
from telegram.constants import ReactionEmoji
from telegram.request import HTTPXRequest

from ...errors import redact, register_secret
from ...model import Connection, Incoming, IncomingFile
from ...signing import same_secret
from ..base import (
    AuthFailed,
    Blocked,
    BotInfo,
    ChannelBase,
    ChannelError,
    Conflict,
    FileTooBig,
    MalformedUpdate,
    OutgoingFile,
    Rejected,
    RetryLater,
    Sink,
    Step,
    WebhookInfo,
    send_steps,
)
from ..media import MediaClient, copy_local, too_big
from ..text import split_text, utf16_len
from . import OFFICIAL_DOWNLOAD_MB, SPEC
from .business import connection_from
from .parse import ALLOWED_UPDATES, _is_int, parse_update  # also public from here

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.telegram.org"
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
ALBUM_SIZE = 10  # sendMediaGroup takes 2-10 items
PHOTO_LIMIT = 10 * 1024 * 1024  # larger pictures go as documents
DOWNLOAD_LIMIT = OFFICIAL_DOWNLOAD_MB * 1024 * 1024  # what getFile hands out (official server)
PHOTO_MIMES = frozenset({"image/jpeg", "image/png"})
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

# The emoji a bot may set as a reaction (setMessageReaction), by their form without the
# variation selector U+FE0F, which mail clients add or drop ("❤️" and "❤" are one).
REACTIONS = {e.value.replace("\ufe0f", ""): e.value for e in ReactionEmoji}
# PHOTO_INVALID_DIMENSIONS, IMAGE_PROCESS_FAILED... (PTB changes their case)
_PHOTO_REFUSED = re.compile(r"PHOTO|IMAGE", re.IGNORECASE)

T = TypeVar("T")


class Telegram(ChannelBase):
    """One Telegram bot. `api_url` is the Bot API server root (a local server, a test double).

    `timeout` bounds each API call (connect, read, write) except long polls, which wait
    their own timeout on top of it. `max_download_mb` caps customers' files (default
    20: what getFile hands out on Telegram's own server).
    """

    spec = SPEC
    name: ClassVar[str] = SPEC.name
    text_limit: ClassVar[int] = TEXT_LIMIT
    download_limit: ClassVar[int] = DOWNLOAD_LIMIT  # this bot's: max_download_mb

    def __init__(
        self,
        bot: str,
        token: str,
        api_url: str | None = None,
        *,
        timeout: float = 10.0,
        max_download_mb: int | None = None,
    ) -> None:
        if not token:
            raise AuthFailed(f"telegram bot '{bot}' has an empty token")
        register_secret(token)
        _quiet_httpx()
        self.bot = bot
        self._timeout = timeout
        if max_download_mb is not None:  # a local Bot API server hands out up to 2000 MB
            self.download_limit = max_download_mb * 1024 * 1024
        root = (api_url or DEFAULT_API_URL).rstrip("/")
        times = {"connect_timeout": timeout, "read_timeout": timeout, "write_timeout": timeout}
        self._requests = HTTPXRequest(connection_pool_size=8, media_write_timeout=60, **times)
        self._polls = HTTPXRequest(connection_pool_size=2, **times)
        self._api = telegram.Bot(
            token,
            base_url=f"{root}/bot",
            base_file_url=f"{root}/file/bot",
            request=self._requests,
            get_updates_request=self._polls,
        )
        self._media = MediaClient(f"telegram bot '{bot}'", timeout)
        self._offset: int | None = None  # the first update not yet stored
        self._told: int | None = None  # the offset Telegram last heard
        self._pending: list[int] = []  # update ids handed out, the offset not past them, sorted
        self._confirmed: set[int] = set()  # ... of those, the ones stored

    async def start(self) -> None:
        """Open connections and check the token (getMe): AuthFailed, RetryLater."""
        await self._call(self._api.initialize())

    async def stop(self) -> None:
        """Tell Telegram which polled updates are stored, then close the connections.
        Cancel a running poll() first."""
        try:
            if self._offset is not None and self._offset != self._told:
                with contextlib.suppress(ChannelError):  # at worst, they come again
                    await self._get_updates(timeout=0, limit=1, patience=min(self._timeout, 2))
        finally:
            with contextlib.suppress(tg_error.TelegramError):
                await self._api.shutdown()
            await self._requests.shutdown()
            await self._polls.shutdown()
            await self._media.close()

    async def get_me(self) -> BotInfo:
        user = await self._call(self._api.get_me())
        return BotInfo(id=str(user.id), name=user.first_name, username=user.username)

    def parse(self, raw: dict[str, Any]) -> list[Incoming]:
        return parse_update(self.bot, raw)

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        wanted = SECRET_HEADER.lower()
        given = next((v for k, v in headers.items() if k.lower() == wanted), "")
        return same_secret(given, secret)

    # -- receiving ---------------------------------------------------------------------------

    async def poll(self, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Raw updates from the first unconfirmed one, waiting up to `timeout` seconds;
        those confirmed already (stored after one still being taken, or while the poll
        was on its way) are left out."""
        result = await self._get_updates(timeout=timeout)
        if not isinstance(result, list):
            raise MalformedUpdate(f"telegram bot '{self.bot}': getUpdates gave no list")
        updates = [u for u in result if isinstance(u, dict) and _is_int(u.get("update_id"))]
        if len(updates) < len(result):
            log.warning("telegram bot %r: skipped updates without update_id", self.bot)
        handed = sorted(u["update_id"] for u in updates)
        if handed:  # Telegram hands out from the first it still has: older ones are gone
            self._pending = [i for i in self._pending if i >= handed[0]]
            self._confirmed &= set(self._pending)
        for update_id in handed:
            if update_id not in self._pending and update_id >= (self._offset or 0):
                bisect.insort(self._pending, update_id)
        self._advance()
        # Stored meanwhile (while this poll was on its way): not handed out twice.
        stored = self._offset or 0
        return [u for u in updates
                if u["update_id"] >= stored and u["update_id"] not in self._confirmed]  # fmt: skip

    def confirm(self, raw: dict[str, Any]) -> None:
        """Mark one polled update as stored, in any order. The offset moves past the
        longest confirmed run at the start of those handed out, so a gap (an update still
        being taken, or one that failed) is never acknowledged."""
        update_id = raw.get("update_id")
        if update_id in self._pending:
            self._confirmed.add(update_id)
        self._advance()

    def update_id(self, raw: dict[str, Any]) -> int:
        return raw["update_id"]

    def _advance(self) -> None:
        while self._pending and self._pending[0] in self._confirmed:
            done = self._pending.pop(0)
            self._confirmed.discard(done)
            self._offset = done + 1

    async def _get_updates(self, timeout: float, limit: int = 100, patience: float = 0) -> Any:
        # The parameters go in the query string (the Bot API reads them there too).
        params: dict[str, Any] = {"timeout": int(timeout), "limit": limit}
        params["allowed_updates"] = json.dumps(ALLOWED_UPDATES)
        if self._offset is not None:
            params["offset"] = self._offset
        offset, patience = self._offset, patience or self._timeout
        url = f"{self._api.base_url}/getUpdates?{urlencode(params)}"
        call = self._polls.post(url, read_timeout=timeout + patience, connect_timeout=patience)
        result = await self._call(call)
        self._told = offset
        return result

    # -- files -------------------------------------------------------------------------------

    async def fetch(self, file: IncomingFile, limit: int, sink: Sink) -> None:
        """getFile, then the file from its URL (media.py; on the download client, not the
        API's), or from disk when a local Bot API server (--local) names a path. A size
        announced over `limit` (in the update, or by getFile) is not fetched at all."""
        who, name = f"telegram bot '{self.bot}'", file.filename
        if file.size is not None and file.size > limit:
            raise too_big(who, name, file.size, limit)
        info = await self._call(self._api.get_file(file.ref))
        if info.file_size is not None and info.file_size > limit:
            raise too_big(who, name, info.file_size, limit)
        if not info.file_path:
            raise Rejected(f"{who}: Telegram gave no path to {name}", reason="file not found")
        if not info.file_path.startswith(("https://", "http://")):
            await copy_local(info.file_path, who, name, limit, sink)
            return
        # PTB made file_path the whole URL, token included: media.py never quotes it.
        await self._media.download(info.file_path, name, limit, sink, gone=(401, 404),
                                   gone_error=_vanished)  # fmt: skip

    # -- sending -----------------------------------------------------------------------------

    def plan(self, text: str, files: Sequence[OutgoingFile] = ()) -> list[Step]:
        """Text in pieces of up to 4096; pictures (JPEG/PNG up to 10 MB) as photos, then
        everything else as documents, in albums of up to 10. The text rides as the caption
        of the first file, or goes ahead as text when it is over Telegram's 1024."""
        texts = [Step(piece) for piece in split_text(text, TEXT_LIMIT, utf16_len)]
        if not files:
            return texts
        caption, steps = text.strip(), []
        if utf16_len(caption) > CAPTION_LIMIT:
            caption, steps = "", texts
        photos = [f for f in files if _is_photo(f)]
        others = [f for f in files if not _is_photo(f)]
        for sort, batch in (("photo", photos), ("document", others)):
            for start in range(0, len(batch), ALBUM_SIZE):
                steps.append(Step(caption, tuple(batch[start : start + ALBUM_SIZE]), sort))
                caption = ""
        return steps

    async def send_step(self, chat_id: str, step: Step, via: str | None = None) -> list[str]:
        """sendMessage for text; sendPhoto/sendDocument for one file, sendMediaGroup for
        several. Pictures Telegram refuses as photos go again as documents. `via`: a
        business connection id, to send as the connected account (send_via)."""
        if step.sort == "text":
            call = self._api.send_message(chat_id, step.text, business_connection_id=via)
            return [str((await self._call(call, chat_id, via)).message_id)]
        if step.sort not in ("photo", "document") or not step.files:
            raise ValueError(f"not a Telegram step: {step.sort!r} with {len(step.files)} files")
        try:
            return await self._send_as(chat_id, step.sort, step.files, step.text, via)
        except Rejected as e:
            if step.sort != "photo" or not _PHOTO_REFUSED.search(e.reason):
                raise
            log.info("telegram bot %r: %s; sending the pictures as files", self.bot, e.reason)
            return await self._send_as(chat_id, "document", step.files, step.text, via)

    # -- Telegram Business (business.py) -----------------------------------------------------

    async def send_via(self, connection_id: str, chat_id: str, step: Step) -> list[str]:  # type: ignore[override]
        """One step into a chat of a connected account, as that account
        (business_connection_id). Telegram's refusal is Rejected, never Blocked: the
        customer did not block the bot."""
        return await self.send_step(chat_id, step, via=connection_id)

    async def connection(self, connection_id: str) -> Connection:  # type: ignore[override]
        """getBusinessConnection: the connection as Telegram knows it (Rejected when it
        knows none by that id)."""
        found = await self._call(self._api.get_business_connection(connection_id))
        try:
            return connection_from(self.bot, found)
        except (AttributeError, TypeError) as e:
            raise MalformedUpdate(f"telegram bot '{self.bot}': getBusinessConnection gave "
                                  f"no usable connection ({e})") from None  # fmt: skip

    async def send_text(self, chat_id: str, text: str) -> list[str]:
        return await send_steps(self, chat_id, self.plan(text))

    async def send_files(
        self, chat_id: str, files: Sequence[OutgoingFile], caption: str = ""
    ) -> list[str]:
        return await send_steps(self, chat_id, self.plan(caption, files))

    async def _send_as(
        self, chat_id: str, sort: str, group: Sequence[OutgoingFile], caption: str,
        via: str | None = None,
    ) -> list[str]:  # fmt: skip
        text, how = caption or None, {"business_connection_id": via}
        if len(group) == 1:
            name, _, data = group[0]
            if sort == "photo":
                call = self._api.send_photo(chat_id, data, caption=text, filename=name, **how)
            else:
                call = self._api.send_document(chat_id, data, caption=text, filename=name, **how)
            return [str((await self._call(call, chat_id, via)).message_id)]
        kind = InputMediaPhoto if sort == "photo" else InputMediaDocument
        media = [
            kind(data, caption=text if i == 0 else None, filename=name)
            for i, (name, _, data) in enumerate(group)
        ]
        messages = await self._call(self._api.send_media_group(chat_id, media, **how), chat_id, via)
        return [str(m.message_id) for m in messages]

    async def react(self, chat_id: str, message_id: str, emoji: str) -> None:
        """setMessageReaction: `emoji` on message `message_id` of the chat (a bot sets one,
        replacing its others). Rejected without a call for an emoji that is not one of
        Telegram's reactions; Telegram's own refusals (REACTION_INVALID, the message gone)
        are Rejected too."""
        allowed = REACTIONS.get(emoji.replace("\ufe0f", ""))
        where = f"telegram bot '{self.bot}', chat {chat_id}"
        if allowed is None:
            what = f"{emoji} is not one of Telegram's reactions"
            raise Rejected(f"{where}: {what}", reason="REACTION_INVALID")
        if not message_id.isdigit():
            raise Rejected(f"{where}: no message {message_id} to react to")
        call = self._api.set_message_reaction(chat_id, int(message_id), allowed)
        await self._call(call, chat_id)

    # -- webhook -----------------------------------------------------------------------------

    async def set_webhook(self, url: str, secret: str) -> None:
        """Register the webhook; `secret` (1-256 of A-Z a-z 0-9 _ -) comes back in the
        X-Telegram-Bot-Api-Secret-Token header of every delivery."""
        await self._call(
            self._api.set_webhook(url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)
        )

    async def delete_webhook(self) -> None:
        await self._call(self._api.delete_webhook())

    async def webhook_info(self) -> WebhookInfo:
        info = await self._call(self._api.get_webhook_info())
        return WebhookInfo(
            url=info.url,
            pending=info.pending_update_count,
            last_error=info.last_error_message,
            last_error_at=info.last_error_date,
        )

    # -- errors ------------------------------------------------------------------------------

    async def _call(
        self, call: Awaitable[T], chat_id: str | None = None, via: str | None = None
    ) -> T:
        try:
            return await call
        except tg_error.TelegramError as e:
            raise self._translate(e, chat_id, via) from None

    def _translate(
        self, e: tg_error.TelegramError, chat_id: str | None = None, via: str | None = None
    ) -> ChannelError:
        """PTB's error as ours: typed for the relay, its words redacted. Sent `via` a
        business connection, a 403 is the connection's refusal (Rejected), not a block."""
        who = f"telegram bot '{self.bot}'"
        where = f"{who}, chat {chat_id}" if chat_id else who
        if via is not None and isinstance(e, tg_error.Forbidden):
            reason = redact(str(e)) or type(e).__name__
            return Rejected(f"{where}, business connection: {reason}", reason=reason)
        reason = redact(str(e)) or type(e).__name__
        if isinstance(e, tg_error.RetryAfter):
            seconds = _seconds(e)
            return RetryLater(
                f"{who}: flood control, retry in {seconds:g} s",
                seconds=seconds,
                reason=reason,
            )
        if isinstance(e, tg_error.InvalidToken):
            return AuthFailed(
                f"{who}: Telegram refused the token (401 Unauthorized)",
                hint="get a new token from @BotFather, then: "
                f"im2mail bot remove {self.bot} && im2mail bot add telegram {self.bot}",
                reason="Unauthorized",
            )
        if isinstance(e, tg_error.Forbidden):
            return Blocked(f"{where}: {reason}", reason=reason)
        if isinstance(e, tg_error.Conflict):
            return Conflict(f"{who}: {reason}", hint=_conflict_hint(reason), reason=reason)
        if isinstance(e, tg_error.NetworkError) and re.search(r"too big|Too Large", reason):
            return FileTooBig(f"{where}: {reason}", reason=reason)
        if isinstance(e, tg_error.BadRequest | tg_error.ChatMigrated):
            return Rejected(f"{where}: {reason}", reason=reason)
        if isinstance(e, tg_error.NetworkError):  # timeouts, 5xx, connection failures
            return RetryLater(f"{where}: {reason}", reason=reason, maybe_sent=_maybe_sent(e))
        return Rejected(f"{where}: {reason}", reason=reason)


def _vanished(who: str, name: str, status: int) -> Rejected:
    """The file server's 401/404 for a file getFile knew: it is gone (a file_id that is
    too old); nothing later will fetch it."""
    return Rejected(f"{who}: {name} is no longer available (HTTP {status})",
                    reason="file not found")  # fmt: skip


def _is_photo(file: OutgoingFile) -> bool:
    _, mime, data = file
    return mime in PHOTO_MIMES and len(data) <= PHOTO_LIMIT


def _conflict_hint(reason: str) -> str:
    if "webhook" in reason:
        return "polling and a webhook exclude each other: run 'im2mail webhook delete'"
    return "another program is reading this bot's updates: stop it (only one may poll)"


def _seconds(e: tg_error.RetryAfter) -> float:
    value = e.retry_after  # a timedelta with PTB_TIMEDELTA set, else int
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _maybe_sent(e: tg_error.TelegramError) -> bool:
    """A timeout after the request went out: Telegram may have acted on it. PTB raises
    TimedOut from httpx's exception, which says whether the request ever left."""
    import httpx

    if not isinstance(e, tg_error.TimedOut):
        return False
    return not isinstance(e.__cause__, httpx.ConnectTimeout | httpx.PoolTimeout)


def _quiet_httpx() -> None:
    """httpx logs every request URL at INFO, and Bot API URLs carry the token; PTB's own
    loggers ("telegram") say at INFO and DEBUG what the relay logs in its own words."""
    for name in ("httpx", "telegram"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)
