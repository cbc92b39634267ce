"""Viber: callbacks -> Incoming values (parse.py); replies -> REST bot API calls.

Uses viberbot's `Api` with its request sender replaced: viberbot posts with bare
`requests.post` to a fixed base URL, without a timeout, and raises a bare Exception on a
Viber error. `_Requests` posts to `<api_url>/<endpoint>` through one session with a timeout,
and turns every failure into the ChannelError family, its message free of the token:

  HTTP 5xx or 429, a timeout, no connection, an answer without a status  -> RetryLater
  another HTTP 4xx                                                       -> Rejected
  status 2 invalidAuthToken                                              -> AuthFailed
  7 publicAccountBlocked, 8 publicAccountNotFound, 9 publicAccountSuspended,
    15 publicAccountNotAuthorized: the bot's own account can send to no one,
    which is no fault of this customer                                   -> AuthFailed
  5 receiverNotRegistered (left Viber), 6 receiverNotSubscribed
    (unsubscribed): nothing can reach the customer                       -> Blocked
  12 tooManyRequests; 10 webhookNotSet (Viber sends only while a webhook
    is set, and `run` sets it at start)                                  -> RetryLater
  1 invalidUrl (set_webhook: with a hint), 3 badData, 4 missingData,
    11 receiverNoSuitableDevice, 13-24, any other                        -> Rejected

The reason (what the manager reads) is "Viber refused the message: <status_message> (<n>)".
Media go out by URL: Viber downloads them, so `links(filename, mime, data)` must give a
public HTTPS URL (the relay's signed /f/ links). Every viberbot call runs in a thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import requests
import viberbot
from viberbot.api.api_request_sender import ApiRequestSender
from viberbot.api.consts import VIBER_BOT_USER_AGENT
from viberbot.api.messages import FileMessage, PictureMessage, TextMessage, VideoMessage

from ...errors import redact, register_secret
from ...model import Incoming, IncomingFile
from ..base import (
    AuthFailed,
    Blocked,
    BotInfo,
    ChannelBase,
    ChannelError,
    OutgoingFile,
    Rejected,
    RetryLater,
    Sink,
    Step,
    WebhookInfo,
    send_steps,
)
from ..media import MediaClient, too_big
from . import SPEC
from .parse import (
    DESCRIPTION_LIMIT,
    FILE_LIMIT,
    FORBIDDEN_EXTENSIONS,
    PICTURE_LIMIT,
    REFUSED,
    SIGNATURE_HEADER,
    TEXT_LIMIT,
    VIDEO_LIMIT,
    WEBHOOK_EVENTS,
    file_name,
    parse_callback,
    plan_steps,
    refusal,
    sender_name,
    verify_signature,
)

__all__ = ["DESCRIPTION_LIMIT", "FILE_LIMIT", "FORBIDDEN_EXTENSIONS", "PICTURE_LIMIT",
           "SIGNATURE_HEADER", "TEXT_LIMIT", "VIDEO_LIMIT", "Viber", "parse_callback",
           "verify_signature"]  # fmt: skip

DEFAULT_API_URL = "https://chatapi.viber.com/pa"
VIBERBOT_LOGGER = "viber.bot.api"  # logs whole payloads, auth_token included, at DEBUG

BLOCKED = frozenset({5, 6})  # the customer is not on Viber any more, or unsubscribed
ACCOUNT = frozenset({2, 7, 8, 9, 15})  # the token, or the bot's account itself
AGAIN = frozenset({10, 12})

T = TypeVar("T")


class Viber(ChannelBase):
    """One Viber bot. `api_url` is the REST API base, /pa included (a test double).

    `timeout` bounds each API call and each read of a download; `links(filename, mime,
    data)` gives a public HTTPS URL for a file to send (None: files can't be sent).
    """

    spec = SPEC
    name: ClassVar[str] = SPEC.name
    text_limit: ClassVar[int] = TEXT_LIMIT
    receipts: ClassVar[frozenset[str]] = frozenset({"delivered", "seen", "failed"})
    sends_files_by_link: ClassVar[bool] = True  # the relay then passes `links`
    # Customers' files are kept up to the size the bot could send back (50 MB); larger
    # ones are archived by name and size (Viber lets customers send up to 200 MB).
    download_limit: ClassVar[int] = FILE_LIMIT

    def __init__(
        self,
        bot: str,
        token: str,
        api_url: str | None = None,
        *,
        timeout: float = 10.0,
        links: Callable[[str, str, bytes], str] | None = None,
    ) -> None:
        if not token:
            raise AuthFailed(f"viber bot '{bot}' has an empty token")
        register_secret(token)
        _quiet_viberbot()
        self.bot = bot
        self._token = token
        self._timeout = timeout
        self._links = links
        self._who = f"viber bot '{bot}'"
        self._requests = _Requests(bot, token, (api_url or DEFAULT_API_URL), timeout)
        self._media = MediaClient(self._who, timeout)
        self._sender_name = sender_name(bot)  # the account's name once started
        self._avatar: str | None = None
        self._me: BotInfo | None = None
        self._api = self._build_api()

    async def start(self) -> None:
        """Check the token (get_account_info): AuthFailed, RetryLater. The account's name
        and icon become the sender of every message (Viber requires a sender name)."""
        self._me = await self._identify()

    async def stop(self) -> None:
        self._requests.session.close()
        await self._media.close()

    async def get_me(self) -> BotInfo:
        """The account as start() found it (asked again when not started)."""
        if self._me is None:
            self._me = await self._identify()
        return self._me

    async def _identify(self) -> BotInfo:
        info = await self._account_info()
        name = info.get("name") if isinstance(info.get("name"), str) else ""
        icon = info.get("icon") if isinstance(info.get("icon"), str) else None
        self._sender_name = sender_name(name.strip() or self.bot)
        self._avatar = icon or None
        self._api = self._build_api()
        uri = info.get("uri")
        return BotInfo(
            id=str(info.get("id", "")),
            name=name or self.bot,
            username=uri if isinstance(uri, str) and uri else None,
            avatar=self._avatar,
        )

    def _build_api(self) -> viberbot.Api:
        config = viberbot.BotConfiguration(
            auth_token=self._token, name=self._sender_name, avatar=self._avatar
        )
        api = viberbot.Api(config)
        # viberbot 1.0.x keeps its request sender in private attributes, one on the Api and
        # one on its MessageSender (hence the pin viberbot>=1.0.11,<1.1 in pyproject.toml).
        api._request_sender = self._requests
        api._message_sender._request_sender = self._requests
        return api

    # -- receiving ---------------------------------------------------------------------------

    def parse(self, raw: dict[str, Any]) -> list[Incoming]:
        return parse_callback(self.bot, raw)

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        """Whether X-Viber-Content-Signature is the HMAC-SHA256 of the raw body keyed by the
        bot's token. `secret` is not used: Viber has no webhook secret of its own, it signs
        every callback with the token (so the token is the only thing to check against)."""
        return verify_signature(self._token, headers, body)

    def welcome(self, text: str) -> dict[str, Any]:
        """The body that answers a conversation_started callback: Viber shows it as the
        welcome message (the only message that may reach a customer not yet subscribed)."""
        sender: dict[str, str] = {"name": self._sender_name}
        if self._avatar:
            sender["avatar"] = self._avatar
        return {"sender": sender, "type": "text", "text": text[:TEXT_LIMIT]}

    # -- files -------------------------------------------------------------------------------

    async def fetch(self, file: IncomingFile, limit: int, sink: Sink) -> None:
        """Download a customer's file from its media URL (media.py). Viber's links expire
        (about an hour): an expired one is FileTooBig with the reason "the link ...
        expired", since Viber won't hand the file out any more, so the message is kept
        without it."""
        if file.size is not None and file.size > limit:
            raise too_big(self._who, file.filename, file.size, limit)
        await self._media.download(file.ref, file.filename, limit, sink)

    # -- sending -----------------------------------------------------------------------------

    def plan(self, text: str, files: Sequence[OutgoingFile] = ()) -> list[Step]:
        """See parse.plan_steps: refused files first, text, then one message a file."""
        return plan_steps(text, files)

    async def send_step(self, chat_id: str, step: Step) -> list[str]:
        """send_message with a text, picture, video or file message; a "refused" step raises
        Rejected or FileTooBig (naming the files) without calling Viber."""
        if step.sort == REFUSED:
            raise refusal(self.bot, step)
        if step.sort == "text":
            message: Any = TextMessage(text=step.text)
        elif step.sort in ("picture", "video", "file") and len(step.files) == 1:
            message = await self._media_message(step.sort, step.files[0], step.text)
        else:
            raise ValueError(f"not a Viber step: {step.sort!r} with {len(step.files)} files")
        tokens = await self._call(self._api.send_messages, chat_id, [message])
        return [str(token) for token in tokens]

    async def send_text(self, chat_id: str, text: str) -> list[str]:
        return await send_steps(self, chat_id, self.plan(text))

    async def send_files(
        self, chat_id: str, files: Sequence[OutgoingFile], caption: str = ""
    ) -> list[str]:
        return await send_steps(self, chat_id, self.plan(caption, files))

    async def _media_message(self, sort: str, file: OutgoingFile, text: str) -> Any:
        name, mime, data = file
        if self._links is None:
            raise Rejected(
                f"{self._who}: sending files to Viber needs relay.public_url ({name} not sent)",
                hint="set relay.public_url in config.toml: Viber fetches files from a public "
                "HTTPS link",
                reason="sending files to Viber needs relay.public_url, which is not set",
            )
        url = await asyncio.to_thread(self._links, name, mime, data)
        if sort == "picture":
            return PictureMessage(media=url, text=text[:DESCRIPTION_LIMIT])
        if sort == "video":
            return VideoMessage(media=url, size=len(data))
        return FileMessage(media=url, size=len(data), file_name=file_name(name))

    # -- webhook -----------------------------------------------------------------------------

    async def set_webhook(self, url: str, secret: str) -> None:
        """Register the webhook for the events im2mail reads, with send_name (else Viber
        leaves customers' names out of callbacks; viberbot's set_webhook can't ask for it).
        Viber checks the URL at once with a signed `webhook` callback and refuses it
        (invalidUrl: Rejected) unless it answers 200. `secret` is not used: Viber signs
        callbacks with the token."""
        await self._set_webhook(url=url, event_types=list(WEBHOOK_EVENTS), send_name=True)

    async def delete_webhook(self) -> None:
        """set_webhook with an empty URL, as Viber documents it."""
        await self._set_webhook(url="")

    async def _set_webhook(self, **fields: Any) -> None:
        # Posted directly: viberbot's set_webhook has no send_name, and it reads an
        # `event_types` from the answer that Viber may leave out when a webhook is removed.
        payload = json.dumps({"auth_token": self._token, **fields})
        await self._call(self._requests.post_request, "set_webhook", payload)

    async def webhook_info(self) -> WebhookInfo:
        info = await self._account_info()
        webhook = info.get("webhook")
        return WebhookInfo(url=webhook if isinstance(webhook, str) else "")

    # -- calls -------------------------------------------------------------------------------

    async def _account_info(self) -> dict[str, Any]:
        info = await self._call(self._api.get_account_info)
        if not isinstance(info, dict):
            raise RetryLater(f"{self._who}: get_account_info gave no account")
        return info

    async def _call(self, method: Callable[..., T], *args: Any) -> T:
        """A viberbot method, in a thread. Our request sender raises ChannelErrors; anything
        else viberbot raises (a message it finds invalid, an answer it can't read) is
        Rejected, its words redacted."""
        try:
            return await asyncio.to_thread(method, *args)
        except ChannelError:
            raise
        except Exception as e:
            reason = redact(f"{type(e).__name__}: {e}")
            raise Rejected(f"{self._who}: {reason}", reason=reason) from None


class _Requests(ApiRequestSender):
    """viberbot's request sender, with our base URL, a timeout and typed errors."""

    def __init__(self, bot: str, token: str, api_url: str, timeout: float) -> None:
        config = viberbot.BotConfiguration(auth_token=token, name=None, avatar=None)
        logger = logging.getLogger(VIBERBOT_LOGGER)
        super().__init__(logger, api_url.rstrip("/"), config, VIBER_BOT_USER_AGENT)
        self.bot = bot
        self.who = f"viber bot '{bot}'"
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers.update(
            {"User-Agent": VIBER_BOT_USER_AGENT, "Content-Type": "application/json",
             "X-Viber-Auth-Token": token}  # as Viber's docs ask; viberbot puts it in the body
        )  # fmt: skip

    def post_request(self, endpoint: str, payload: str) -> dict[str, Any]:
        """POST a JSON payload (auth_token inside) to <api_url>/<endpoint>; the answer when
        its status is 0, else the ChannelError of the table in this module's docstring."""
        url = f"{self._viber_bot_api_url}/{endpoint}"
        # viberbot escapes every non-ASCII character (6 bytes for a Cyrillic letter), and
        # Viber refuses a request over 30 kB: a 7000-letter Ukrainian text would not go.
        # As UTF-8 it is 2 bytes a letter.
        body = json.dumps(json.loads(payload), ensure_ascii=False).encode("utf-8")
        try:
            response = self.session.post(url, data=body, timeout=self.timeout)
        except requests.Timeout as e:
            raise RetryLater(
                f"{self.who}: Viber did not answer {endpoint} within {self.timeout:g} s",
                reason="Viber did not answer in time",
                maybe_sent=not isinstance(e, requests.ConnectTimeout),
            ) from None
        except requests.RequestException as e:
            raise RetryLater(
                f"{self.who}: cannot reach Viber at {self._viber_bot_api_url}: {_describe(e)}",
                reason="Viber could not be reached",
            ) from None
        code = response.status_code
        if code >= 500 or code == 429:
            raise RetryLater(f"{self.who}: Viber answered HTTP {code} to {endpoint}",
                             reason=f"Viber answered HTTP {code}")  # fmt: skip
        if code >= 400:
            raise Rejected(f"{self.who}: Viber answered HTTP {code} to {endpoint}",
                           reason=f"Viber answered HTTP {code}")  # fmt: skip
        try:
            result = response.json()
        except ValueError:
            result = None
        if not isinstance(result, dict) or not _is_int(result.get("status")):
            raise RetryLater(f"{self.who}: Viber's answer to {endpoint} has no status",
                             reason="Viber gave an unreadable answer")  # fmt: skip
        if result["status"] != 0:
            raise self._refused(endpoint, payload, result)
        return result

    def _refused(self, endpoint: str, payload: str, result: dict[str, Any]) -> ChannelError:
        status = result["status"]
        words = result.get("status_message")
        name = redact(words) if isinstance(words, str) and words else "generalError"
        what = "the message" if endpoint == "send_message" else endpoint
        reason = f"Viber refused {what}: {name} ({status})"
        request = _json(payload)
        chat = request.get("receiver")
        where = f"{self.who}, chat {chat}" if isinstance(chat, str) and chat else self.who
        message = f"{where}: {reason}"
        if status == 2:
            return AuthFailed(
                f"{self.who}: Viber refused the token ({name}, {status})",
                hint="copy the token again from the Viber Admin Panel, then: "
                f"im2mail bot remove {self.bot} && im2mail bot add viber {self.bot}",
                reason=reason,
            )
        if status in ACCOUNT:
            return AuthFailed(message, hint="see the bot's account in the Viber Admin Panel",
                              reason=reason)  # fmt: skip
        if status in BLOCKED:
            return Blocked(message, reason=reason)
        if status in AGAIN:
            hint = "im2mail webhook set" if status == 10 else None
            return RetryLater(message, hint=hint, reason=reason)
        if status == 1 and endpoint == "set_webhook":
            target = request.get("url") or "the URL"
            return Rejected(
                f"{self.who}: Viber could not use the webhook {target} ({name}, {status})",
                hint="Viber calls the URL at once and wants 200: the relay must be running "
                "and reachable at that URL over HTTPS from the internet",
                reason=reason,
            )
        return Rejected(message, reason=reason)


def _quiet_viberbot() -> None:
    """viberbot's logger prints payloads, and every payload carries the auth_token."""
    logger = logging.getLogger(VIBERBOT_LOGGER)
    if logger.level < logging.WARNING:
        logger.setLevel(logging.WARNING)


def _describe(e: Exception) -> str:
    """A requests error in a few words: "[Errno 111] Connection refused" rather than the
    whole chain of pool, URL and connection objects."""
    errno = re.search(r"\[Errno -?\d+\] [^'\")]+", str(e))
    return redact(errno.group(0) if errno else f"{type(e).__name__}: {e}")


def _json(payload: str) -> dict[str, Any]:
    try:
        value = json.loads(payload)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
