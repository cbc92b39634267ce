"""WhatsApp (Cloud API): webhooks -> Incoming values (parse.py); replies -> Graph
API calls through graph.GraphClient.

The bot is one business phone number (`phone_number_id` in config.toml) of a Meta app; its
keyring secret holds the Cloud API access token and the app secret (graph.credentials).

  GET  /<phone_number_id>?fields=display_phone_number,verified_name   start(), get_me()
  POST /<phone_number_id>/messages  {"messaging_product": "whatsapp", "to": <wa_id>, ...}
  POST /<phone_number_id>/media     multipart: messaging_product, type, file -> {"id"}
  GET  /<media id>                  -> {"url", "mime_type", "sha256", "file_size", "id"}
  GET  <url>, with the token        the bytes; the URL expires after about 5 minutes

Errors are graph.error's table. One of them needs words of its own: WhatsApp refuses a
free-form reply more than 24 hours after the customer's last message (131047, WindowClosed),
and the manager reads WINDOW_REASON, which says why and what can be done instead.
Meta has no API to set the webhook: the owner pastes its URL and verify token into the
app's dashboard (the relay answers Meta's GET with graph.handshake).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from ...errors import ConfigError
from ...model import Incoming, IncomingFile
from .. import graph
from ..base import (
    BotInfo,
    ChannelBase,
    FileTooBig,
    OutgoingFile,
    Rejected,
    RetryLater,
    Sink,
    Step,
    WebhookInfo,
    send_steps,
)
from ..graph import GraphClient, WindowClosed
from ..media import too_big
from . import SPEC
from .parse import (
    AUDIO_LIMIT,
    CAPTION_LIMIT,
    DOCUMENT_LIMIT,
    IMAGE_LIMIT,
    REFUSED,
    TEXT_LIMIT,
    VIDEO_LIMIT,
    WINDOW_REASON,
    file_name,
    parse_webhook,
    plan_steps,
    refusal,
)

__all__ = ["AUDIO_LIMIT", "CAPTION_LIMIT", "DOCUMENT_LIMIT", "IMAGE_LIMIT", "TEXT_LIMIT",
           "VIDEO_LIMIT", "WINDOW_REASON", "WhatsApp", "parse_webhook"]  # fmt: skip

PLATFORM = SPEC.title
MEDIA_SORTS = ("image", "video", "audio", "document")


class WhatsApp(ChannelBase):
    """One WhatsApp business number. `token` is the bot's keyring secret (the JSON of
    graph.encode: the access token and the app secret); `api_url` the Graph base with its
    version (graph.DEFAULT_API_URL, or a test double's)."""

    spec = SPEC
    name: ClassVar[str] = SPEC.name
    text_limit: ClassVar[int] = TEXT_LIMIT
    # Customers' files are kept up to the size the bot could send back (a document).
    download_limit: ClassVar[int] = DOCUMENT_LIMIT
    receipts: ClassVar[frozenset[str]] = frozenset({"delivered", "seen", "failed"})

    def __init__(
        self,
        bot: str,
        token: str,
        api_url: str | None = None,
        *,
        timeout: float = 10.0,
        phone_number_id: str | int | None = None,
    ) -> None:
        self.bot = bot
        self._who = f"whatsapp bot '{bot}'"
        number = str(phone_number_id).strip() if phone_number_id is not None else ""
        if not (number.isascii() and number.isdigit()):
            raise ConfigError(
                f"{self._who} needs its phone_number_id (digits) in config.toml",
                hint="copy the Phone number ID from WhatsApp > API Setup in Meta's app "
                "dashboard into the bot's [[bots]] entry (phone_number_id = 1065...)",
            )
        self.phone_number_id = number
        creds = graph.credentials(token, self._who)
        self._app_secret = creds.app_secret
        self._client = GraphClient(
            self._who, PLATFORM, api_url or graph.DEFAULT_API_URL, creds.token, timeout
        )
        self._me: BotInfo | None = None

    async def start(self) -> None:
        """Check the token with one call that reads the number: AuthFailed, RetryLater, or
        Rejected (code 100) when the token can't see this phone_number_id."""
        self._me = await self._identify()

    async def stop(self) -> None:
        await self._client.close()

    async def get_me(self) -> BotInfo:
        """The number as start() found it: name = its verified business name, username =
        the digits of the number (wa.me/<digits> opens a chat)."""
        if self._me is None:
            self._me = await self._identify()
        return self._me

    async def _identify(self) -> BotInfo:
        info = await self._client.get(
            self.phone_number_id, "the number check", fields="display_phone_number,verified_name"
        )
        name = info.get("verified_name") if isinstance(info.get("verified_name"), str) else ""
        shown = info.get("display_phone_number")
        digits = "".join(ch for ch in shown if ch.isdigit()) if isinstance(shown, str) else ""
        return BotInfo(id=str(info.get("id") or self.phone_number_id), name=name or self.bot,
                       username=digits or None)  # fmt: skip

    # -- receiving ---------------------------------------------------------------------------

    def parse(self, raw: dict[str, Any]) -> list[Incoming]:
        return parse_webhook(self.bot, self.phone_number_id, raw)

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        """Whether X-Hub-Signature-256 is the HMAC-SHA256 of the raw body keyed by the app
        secret. `secret` (the verify token of Meta's GET check) plays no part in POSTs."""
        return graph.verify_signature(self._app_secret, headers, body)

    # -- files -------------------------------------------------------------------------------

    async def fetch(self, file: IncomingFile, limit: int, sink: Sink) -> None:
        """A customer's file: GET /<media id> gives a URL valid for about 5 minutes, which
        is downloaded at once, with the token. A media id WhatsApp no longer knows (they
        last 7 days) is FileTooBig, so the message is kept without the file."""
        if file.size is not None and file.size > limit:
            raise too_big(self._who, file.filename, file.size, limit)
        try:
            info = await self._client.get(
                file.ref, f"the link to {file.filename}", phone_number_id=self.phone_number_id
            )
        except Rejected as e:
            raise FileTooBig(
                f"{self._who}: WhatsApp no longer has {file.filename} ({e.reason})",
                reason="WhatsApp no longer had the file when it was fetched",
            ) from None
        url = info.get("url")
        if not isinstance(url, str) or not url:
            raise RetryLater(f"{self._who}: WhatsApp gave no link to {file.filename}")
        size = _size(info.get("file_size"))
        if size is not None and size > limit:
            raise too_big(self._who, file.filename, size, limit)
        await self._client.download(url, file.filename, limit, sink, bearer=True)

    # -- sending -----------------------------------------------------------------------------

    def plan(self, text: str, files: Sequence[OutgoingFile] = ()) -> list[Step]:
        """See parse.plan_steps: refused files first, text, then a message a file."""
        return plan_steps(text, files)

    async def send_step(self, chat_id: str, step: Step) -> list[str]:
        """One message: text, or a file uploaded to /media and sent by its id (with the
        step's text as its caption). A "refused" step raises FileTooBig without a call;
        the 24-hour rule raises WindowClosed with WINDOW_REASON."""
        if step.sort == REFUSED:
            raise refusal(self.bot, step)
        if step.sort == "text":
            content: dict[str, Any] = {"body": step.text, "preview_url": False}
        elif step.sort in MEDIA_SORTS and len(step.files) == 1:
            content = await self._media(step.sort, step.files[0], step.text)
        else:
            raise ValueError(f"not a WhatsApp step: {step.sort!r} with {len(step.files)} files")
        payload = {"messaging_product": "whatsapp", "recipient_type": "individual",
                   "to": chat_id, "type": step.sort, step.sort: content}  # fmt: skip
        try:
            answer = await self._client.post(
                f"{self.phone_number_id}/messages", "the message", payload
            )
        except WindowClosed as e:
            raise WindowClosed(
                f"{self._who}, chat {chat_id}: {e.reason}",
                hint="send an approved message template from WhatsApp Manager, or reach the "
                "customer another way",
                reason=WINDOW_REASON,
            ) from None
        return _message_ids(self._who, answer)

    async def send_text(self, chat_id: str, text: str) -> list[str]:
        return await send_steps(self, chat_id, self.plan(text))

    async def send_files(
        self, chat_id: str, files: Sequence[OutgoingFile], caption: str = ""
    ) -> list[str]:
        return await send_steps(self, chat_id, self.plan(caption, files))

    async def _media(self, sort: str, file: OutgoingFile, caption: str) -> dict[str, Any]:
        """Upload the file; the message content that sends it by id."""
        name, mime, data = file
        mime = mime.split(";")[0].strip().lower() or "application/octet-stream"
        fields = {"messaging_product": "whatsapp", "type": mime}
        try:
            answer = await self._client.upload(
                f"{self.phone_number_id}/media", f"the upload of {name}", fields,
                (file_name(name), mime, data),
            )  # fmt: skip
        except RetryLater as e:
            e.maybe_sent = False  # an upload is not a message: nothing reached the customer
            raise
        media_id = answer.get("id")
        if not isinstance(media_id, str) or not media_id:
            raise RetryLater(f"{self._who}: WhatsApp's answer to the upload of {name} has no id",
                             reason="WhatsApp gave an unreadable answer")  # fmt: skip
        content: dict[str, Any] = {"id": media_id}
        if caption and sort != "audio":
            content["caption"] = caption
        if sort == "document":
            content["filename"] = file_name(name)
        return content

    # -- webhook -----------------------------------------------------------------------------

    async def set_webhook(self, url: str, secret: str) -> None:
        """Nothing to call: the callback URL and verify token are pasted into the app's
        dashboard (WhatsApp > Configuration), and Meta checks them with a GET."""

    async def delete_webhook(self) -> None:
        """Nothing to call: the webhook is removed in the app's dashboard."""

    async def webhook_info(self) -> WebhookInfo:
        """Meta does not tell which URL is set."""
        return WebhookInfo(url="")


def _message_ids(who: str, answer: dict[str, Any]) -> list[str]:
    messages = answer.get("messages")
    items = messages if isinstance(messages, list) else []
    ids = [m["id"] for m in items if isinstance(m, dict) and isinstance(m.get("id"), str)]
    ids = [i for i in ids if i]
    if not ids:
        # Accepted (HTTP 200) but no id: it may well go out, so don't send it again.
        raise RetryLater(f"{who}: WhatsApp's answer to the message has no id",
                         reason="WhatsApp gave an unreadable answer", maybe_sent=True)  # fmt: skip
    return ids


def _size(value: Any) -> int | None:
    """file_size: a number, or (in some answers) a string of digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None
