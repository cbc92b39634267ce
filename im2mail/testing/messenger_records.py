"""Records of the Messenger (Graph API) double (messenger_api.py): what the tests read
(MessengerPage, MessengerUser, Sent, Call, Delivery, Media), the Graph errors it answers
with (GraphError and the ready-made ones below), the limits it enforces, and its state for
a fault.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from ..channels import graph
from .streams import Stream

API_VERSION = "v21.0"
TEXT_LIMIT = 2000  # characters of message.text
FILE_LIMIT = 25 * 1024 * 1024  # bytes of an uploaded attachment
WINDOW = 24 * 3600  # RESPONSE / UPDATE: seconds after the customer's last message
HUMAN_AGENT_WINDOW = 7 * 24 * 3600  # MESSAGE_TAG + HUMAN_AGENT
MESSAGING_TYPES = ("RESPONSE", "UPDATE", "MESSAGE_TAG")
TAGS = ("HUMAN_AGENT", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "ACCOUNT_UPDATE")
ATTACHMENT_TYPES = ("image", "video", "audio", "file", "template")
# What POST /me/subscribed_apps accepts in subscribed_fields (a part of Meta's list).
WEBHOOK_FIELDS = (
    "messages", "messaging_postbacks", "messaging_referrals", "message_deliveries",
    "message_reads", "message_echoes", "messaging_optins", "messaging_handovers",
    "standby", "message_reactions", "message_edits", "messaging_account_linking",
)  # fmt: skip
# The webhook field each event comes under (a Page must be subscribed to it).
EVENT_FIELDS = {
    "message": "messages",
    "echo": "message_echoes",
    "postback": "messaging_postbacks",
    "referral": "messaging_referrals",
    "delivery": "message_deliveries",
    "read": "message_reads",
    "message_edit": "message_edits",
    "reaction": "message_reactions",
}


class GraphError(Exception):
    """A Graph API error answer: HTTP `http_status` with {"error": {...}}."""

    def __init__(
        self,
        code: int,
        message: str,
        subcode: int | None = None,
        *,
        kind: str = "OAuthException",
        http_status: int = 400,
    ) -> None:
        super().__init__(code, message)
        self.code, self.subcode, self.message = code, subcode, message
        self.kind, self.http_status = kind, http_status

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.kind, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        error["fbtrace_id"] = "A" + secrets.token_urlsafe(15)[:20]
        return {"error": error}


def bad_token() -> GraphError:
    return GraphError(190, "Invalid OAuth access token - Cannot parse access token")


def no_user() -> GraphError:
    return GraphError(100, "(#100) No matching user found", 2018001)


def outside_window() -> GraphError:
    return GraphError(10, "(#10) This message is sent outside of allowed window.", 2018278)


def unavailable() -> GraphError:
    return GraphError(551, "(#551) This person isn't available right now.", 1545041)


def bad_param(words: str) -> GraphError:
    return GraphError(100, f"(#100) {words}")


def rate_limited() -> GraphError:
    return GraphError(613, "(#613) Calls to this api have exceeded the rate limit.")


@dataclass
class MessengerPage:
    """A Facebook Page and the Meta app it is reached through. `secret` is what im2mail
    keeps in the keyring (and what the Messenger channel class takes as its token)."""

    id: str
    name: str
    username: str | None
    token: str
    app_secret: str
    app_id: str
    auto_receipts: bool | None = None  # None: the double's setting
    revoked: bool = False
    webhook: str | None = None  # the callback URL saved in the app's dashboard
    verify_token: str | None = None
    subscribed_fields: list[str] = field(default_factory=list)  # POST /me/subscribed_apps
    last_wrote: dict[str, float] = field(default_factory=dict)  # PSID -> time.time()
    blocked: set[str] = field(default_factory=set)  # PSIDs who blocked the Page

    @property
    def secret(self) -> str:
        return graph.encode(self.token, self.app_secret)


@dataclass(frozen=True)
class MessengerUser:
    """A customer. One PSID for every Page of the double (real PSIDs are per Page)."""

    id: str
    first_name: str
    last_name: str = ""
    locale: str = "uk_UA"
    profile_pic: str = "https://platform-lookaside.fbsbx.com/platform/profilepic/?psid=0"

    def profile(self, fields: list[str]) -> dict[str, Any]:
        """GET /<PSID>?fields=...: the fields asked for (first_name, last_name by default)."""
        known = {"first_name": self.first_name, "last_name": self.last_name,
                 "profile_pic": self.profile_pic, "locale": self.locale}  # fmt: skip
        asked = fields or ["first_name", "last_name"]
        return {**{k: known[k] for k in asked if k in known}, "id": self.id}


@dataclass(frozen=True)
class Sent:
    """One message the Page sent through POST /me/messages."""

    page_id: str
    recipient: str
    messaging_type: str
    tag: str | None
    text: str | None
    attachment_type: str | None
    data: bytes | None  # the uploaded file (filedata)
    filename: str | None
    mime: str | None
    message_id: str
    body: dict[str, Any]  # the request's fields, the file left out
    at: float = field(default_factory=time.time)


@dataclass
class Call:
    """One request the Page's token made to the Graph API."""

    method: str  # GET, POST, DELETE
    path: str  # after the version: "me/messages"
    token: str | None
    params: dict[str, Any]  # query and body fields (JSON-decoded where Meta takes JSON)
    http_status: int = 200
    response: Any = None
    at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class Delivery:
    """One webhook POST to the app's callback URL (one attempt; the double does not retry)."""

    page_id: str
    url: str | None
    body: bytes  # the exact bytes sent (and signed)
    signature: str
    status: int | None  # the callback's HTTP status; None: not delivered (see error)
    text: str = ""
    error: str | None = None
    at: float = field(default_factory=time.time)

    @property
    def sent(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass
class Media:
    """A customer's file, served at a signed CDN URL that expires."""

    id: str
    data: bytes | Stream
    filename: str
    mime: str
    expires_at: float
    url: str = ""
    downloads: int = 0


@dataclass
class Fault:
    path: str  # "me/messages", "me", "*", or "media" for CDN downloads
    page_id: str | None
    error: GraphError | None
    http_status: int | None  # a non-JSON answer instead
    body: str | None
    delay: float
    times: int


def page_id() -> str:
    return str(100_000_000_000_000 + secrets.randbelow(9 * 10**14))


def psid() -> str:
    return str(2_000_000_000_000_000 + secrets.randbelow(8 * 10**15))


def page_token() -> str:
    """Shaped like a Page access token (EAA... and about 200 letters)."""
    return "EAAG" + secrets.token_urlsafe(150).replace("-", "a").replace("_", "b")


def message_id() -> str:
    return "m_" + secrets.token_urlsafe(64)[:86]


def now_ms() -> int:
    return int(time.time() * 1000)
