"""Facebook Messenger: webhook POSTs -> Incoming values (parse.py); replies ->
Graph API Send API calls (graph.py's GraphClient: aiohttp, every failure a ChannelError).

One bot is one Facebook Page, reached through a Meta app: the Page access token makes the
calls, the app secret signs every webhook POST (X-Hub-Signature-256). The keyring secret
is graph.encode(token, app_secret), and that JSON string is the `token` this class gets.

Sending: `POST /me/messages` with {recipient: {id: PSID}, messaging_type: "RESPONSE",
message: {text}} -> {recipient_id, message_id}; a file goes up with its message in one
multipart POST (fields recipient, messaging_type, message with the attachment's type, and
the file as `filedata`). Texts go in pieces of 2000 characters; files up to 25 MB.

The messaging window: a Page may answer only within 24 hours of the customer's last
message. Meta is the judge: outside the window it refuses with code 10 / subcode 2018278
(graph.error -> WindowClosed). Then, when `human_agent_days` > 0, the same message goes
once more with messaging_type MESSAGE_TAG and tag HUMAN_AGENT (a person answering, allowed
up to 7 days after the customer's last message); refused again, or with the tag turned
off (0), send_step raises WindowClosed with a reason the manager can act on. The channel
also remembers when each customer last wrote (from parse()) and does not try the tag
when that was more than `human_agent_days` ago; after a restart Meta decides alone.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, ClassVar

from ...model import Customer, Incoming, IncomingFile
from ..base import (
    AuthFailed,
    Blocked,
    BotInfo,
    ChannelBase,
    ChannelError,
    FileTooBig,
    OutgoingFile,
    Rejected,
    RetryLater,
    Sink,
    Step,
    WebhookInfo,
    send_steps,
)
from ..graph import (
    DEFAULT_API_URL,
    WINDOW,
    GraphClient,
    WindowClosed,
    credentials,
    verify_signature,
)
from ..media import too_big
from . import HUMAN_AGENT_LIMIT, SPEC
from .parse import (
    ATTACHMENT_SORTS,
    FILE_LIMIT,
    REFUSED,
    SUBSCRIBED_FIELDS,
    TEXT_LIMIT,
    parse_webhook,
    plan_steps,
    refusal,
    source_of,
    window_reason,
)

__all__ = ["FILE_LIMIT", "SUBSCRIBED_FIELDS", "TEXT_LIMIT", "Messenger", "parse_webhook",
           "source_of", "window_reason"]  # fmt: skip

log = logging.getLogger("im2mail.channels.messenger")

DAY = 24 * 3600


class Messenger(ChannelBase):
    """One Facebook Page. `api_url` is the Graph API base with its version (a test double:
    http://127.0.0.1:PORT/v21.0); `human_agent_days` (0-7, default 7) how long after the
    customer's last message a reply may still go with the HUMAN_AGENT tag (0: never)."""

    spec = SPEC
    name: ClassVar[str] = SPEC.name
    text_limit: ClassVar[int] = TEXT_LIMIT
    download_limit: ClassVar[int] = FILE_LIMIT
    receipts: ClassVar[frozenset[str]] = frozenset({"delivered", "seen"})

    def __init__(
        self,
        bot: str,
        token: str,
        api_url: str | None = None,
        *,
        timeout: float = 10.0,
        human_agent_days: int = HUMAN_AGENT_LIMIT,
    ) -> None:
        self.bot = bot
        self._who = f"messenger bot '{bot}'"
        creds = credentials(token, self._who)
        self._app_secret = creds.app_secret
        self.human_agent_days = max(0, min(int(human_agent_days), HUMAN_AGENT_LIMIT))
        self._graph = GraphClient(self._who, "Messenger", api_url or DEFAULT_API_URL,
                                  creds.token, timeout)  # fmt: skip
        self._me: BotInfo | None = None
        self._last_wrote: dict[str, float] = {}  # PSID -> time.time() of their last message

    async def start(self) -> None:
        """Check the token (GET /me: the Page): AuthFailed, RetryLater."""
        self._me = await self._identify()

    async def stop(self) -> None:
        await self._graph.close()

    async def get_me(self) -> BotInfo:
        """The Page as start() found it (asked again when not started). `username` is
        what m.me links take: the Page's username, else its id."""
        if self._me is None:
            self._me = await self._identify()
        return self._me

    async def _identify(self) -> BotInfo:
        page = await self._graph.get("me", "the token check", fields="id,name,username")
        page_id = page.get("id")
        if not isinstance(page_id, str | int) or not str(page_id):
            raise RetryLater(f"{self._who}: Messenger's answer to /me names no Page")
        name = page.get("name") if isinstance(page.get("name"), str) else ""
        username = page.get("username") if isinstance(page.get("username"), str) else ""
        return BotInfo(id=str(page_id), name=name or self.bot, username=username or str(page_id))

    # -- receiving ---------------------------------------------------------------------------

    def parse(self, raw: dict[str, Any]) -> list[Incoming]:
        """See parse.parse_webhook; once started, only this Page's events."""
        found = parse_webhook(self.bot, raw, self._me.id if self._me else None)
        for item in found:
            if item.event is None and item.chat_id:
                wrote = item.created.timestamp()
                if wrote > self._last_wrote.get(item.chat_id, 0.0):
                    self._last_wrote[item.chat_id] = wrote
        return found

    async def describe(self, customer: Customer) -> Customer:
        """The customer with the name Messenger's webhook leaves out: the user profile
        (GET /<PSID>?fields=first_name,last_name), which the Page may read once the
        person has written to it. ChannelError when Messenger won't tell."""
        profile = await self._graph.get(customer.external_id, "the customer's profile",
                                        fields="first_name,last_name")  # fmt: skip
        first, last = profile.get("first_name"), profile.get("last_name")
        return replace(customer, first_name=first if isinstance(first, str) else "",
                       last_name=last if isinstance(last, str) else "")  # fmt: skip

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        """Whether X-Hub-Signature-256 is the HMAC-SHA256 of the raw body keyed by the app
        secret. `secret` is not used: Meta signs with the app secret, nothing else."""
        return verify_signature(self._app_secret, headers, body)

    # -- files -------------------------------------------------------------------------------

    async def fetch(self, file: IncomingFile, limit: int, sink: Sink) -> None:
        """Download a customer's file from its CDN URL (open, no token; it expires soon:
        an expired one is FileTooBig saying so)."""
        if file.size is not None and file.size > limit:
            raise too_big(self._who, file.filename, file.size, limit)
        await self._graph.download(file.ref, file.filename, limit, sink, bearer=False)

    # -- sending -----------------------------------------------------------------------------

    def plan(self, text: str, files: Sequence[OutgoingFile] = ()) -> list[Step]:
        """See parse.plan_steps: refused files first, text, one message a file."""
        return plan_steps(text, files)

    async def send_step(self, chat_id: str, step: Step) -> list[str]:
        """One Send API call (a text piece, or one file uploaded with its message); outside
        the 24-hour window, once more with the HUMAN_AGENT tag (see the module docstring)."""
        if step.sort == REFUSED:
            raise refusal(self.bot, step)
        if step.sort != "text" and not (step.sort in ATTACHMENT_SORTS and len(step.files) == 1):
            raise ValueError(f"not a Messenger step: {step.sort!r} with {len(step.files)} files")
        try:
            return [await self._send(chat_id, step, {"messaging_type": "RESPONSE"})]
        except WindowClosed as closed:
            if not self._may_tag(chat_id):
                raise self._closed(chat_id, closed) from None
        tagged = {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
        try:
            return [await self._send(chat_id, step, tagged)]
        except (AuthFailed, Blocked, RetryLater, FileTooBig):
            raise
        except Rejected as refused:  # WindowClosed, or the tag refused another way
            raise self._closed(chat_id, refused) from None

    async def send_text(self, chat_id: str, text: str) -> list[str]:
        return await send_steps(self, chat_id, self.plan(text))

    async def send_files(
        self, chat_id: str, files: Sequence[OutgoingFile], caption: str = ""
    ) -> list[str]:
        return await send_steps(self, chat_id, self.plan(caption, files))

    def _may_tag(self, chat_id: str) -> bool:
        if self.human_agent_days <= 0:
            return False
        wrote = self._last_wrote.get(chat_id)
        return wrote is None or time.time() - wrote <= self.human_agent_days * DAY

    def _closed(self, chat_id: str, refused: ChannelError) -> WindowClosed:
        days = self.human_agent_days
        meta = refused.reason
        if meta.startswith("Messenger refused "):
            meta = meta.partition(": ")[2] or meta
        reason = window_reason(days, meta)
        log.info("%s: chat %s: the messaging window is closed (%s)", self.bot, chat_id,
                 refused.reason)  # fmt: skip
        return WindowClosed(
            f"{self._who}, chat {chat_id}: outside Messenger's messaging window "
            f"({WINDOW // 3600} hours" + (f", {days} days tagged)" if days else ")"),
            hint="the customer has to write to the Page again",
            reason=reason,
        )

    async def _send(self, chat_id: str, step: Step, kind: dict[str, str]) -> str:
        recipient = {"id": chat_id}
        if step.sort == "text":
            payload = {"recipient": recipient, **kind, "message": {"text": step.text}}
            answer = await self._graph.post("me/messages", "the message", payload)
        else:
            (file,) = step.files
            attachment = {"type": step.sort, "payload": {"is_reusable": False}}
            fields = {
                "recipient": json.dumps(recipient),
                **kind,
                "message": json.dumps({"attachment": attachment}),
            }
            answer = await self._graph.upload(
                "me/messages", f"the file {file[0]}", fields, file, file_field="filedata"
            )
        message_id = answer.get("message_id")
        if not isinstance(message_id, str) or not message_id:
            raise RetryLater(
                f"{self._who}: Messenger's answer to a send names no message_id",
                reason="Messenger gave an unreadable answer",
                maybe_sent=True,
            )
        return message_id

    # -- webhook -----------------------------------------------------------------------------

    async def set_webhook(self, url: str, secret: str) -> None:
        """Meta has no API for the callback URL: the owner enters it (and the verify token)
        in the app's dashboard. What can be done here is subscribing the app to the Page's
        events (POST /me/subscribed_apps); a failure is logged, never raised."""
        fields = ",".join(SUBSCRIBED_FIELDS)
        try:
            await self._graph.post("me/subscribed_apps", "subscribing the app to the Page",
                                   {"subscribed_fields": fields})  # fmt: skip
        except ChannelError as e:
            log.warning("%s: could not subscribe the app to the Page's events: %s", self.bot,
                        e.message)  # fmt: skip

    async def delete_webhook(self) -> None:
        """Unsubscribe the app from the Page's events (DELETE /me/subscribed_apps); a
        failure is logged, never raised."""
        try:
            await self._graph.delete("me/subscribed_apps", "unsubscribing the app")
        except ChannelError as e:
            log.warning("%s: could not unsubscribe the app from the Page: %s", self.bot,
                        e.message)  # fmt: skip

    async def webhook_info(self) -> WebhookInfo:
        """Meta does not tell the callback URL through the Page token."""
        return WebhookInfo(url="")
