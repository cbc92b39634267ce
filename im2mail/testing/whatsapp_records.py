"""Records of the WhatsApp Cloud API double (whatsapp_api.py): what the tests read (Number,
WaUser, Sent, Upload, Call, Delivery), the Graph errors it answers with (GraphError, and
the named ones in ERRORS), its limits, and its state for one fault and one customer's media.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from ..channels.graph import encode
from .streams import Stream

API_VERSION = "v21.0"
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
MB = 1024 * 1024
# Upload limits and types by message type (Cloud API "Supported media types").
MEDIA_LIMITS = {"image": 5 * MB, "video": 16 * MB, "audio": 16 * MB, "document": 100 * MB,
                "sticker": 500 * 1024}  # fmt: skip
MEDIA_TYPES = {
    "image": ("image/jpeg", "image/png"),
    "video": ("video/mp4", "video/3gpp"),
    "audio": ("audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"),
    "sticker": ("image/webp",),
}
WINDOW = 24 * 3600
MEDIA_URL_TTL = 300.0  # seconds a media URL from GET /<media id> works
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
OGG = b"OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00"

# Errors as the Cloud API words them: code -> (HTTP status, type, message, details).
ERRORS: dict[int, tuple[int, str, str, str | None]] = {
    190: (401, "OAuthException", "Invalid OAuth access token - Cannot parse access token",
          None),
    100: (400, "OAuthException", "Invalid parameter", None),
    130429: (400, "OAuthException", "(#130429) Rate limit hit",
             "Cloud API message throughput has been reached."),
    131047: (400, "OAuthException", "(#131047) Re-engagement message",
             "Message failed to send because more than 24 hours have passed since the "
             "customer last replied to this number."),
    131026: (400, "OAuthException", "(#131026) Message Undeliverable",
             "Unable to deliver message."),
    131053: (400, "OAuthException", "(#131053) Media upload error",
             "Unable to upload the media used in the message."),
    131000: (500, "OAuthException", "(#131000) Something went wrong",
             "Message failed to send due to an unknown error."),
    131056: (400, "OAuthException", "(#131056) (Business Account, Consumer Account) pair rate "
             "limit hit", "Too many messages sent from this phone number to the same phone "
             "number in a short period of time."),
    4: (400, "OAuthException", "(#4) Application request limit reached", None),
    80007: (400, "OAuthException", "(#80007) Rate limit issues", None),
}  # fmt: skip


class GraphError(Exception):
    """A call's failure, answered as Graph does: {"error": {...}} with an HTTP status."""

    def __init__(
        self,
        code: int,
        message: str | None = None,
        *,
        details: str | None = None,
        subcode: int | None = None,
        status: int | None = None,
    ) -> None:
        known = ERRORS.get(code, (400, "OAuthException", f"(#{code}) Error", None))
        super().__init__(code, message or known[2])
        self.code, self.subcode = code, subcode
        self.status = status or known[0]
        self.type = known[1]
        self.message = message or known[2]
        self.details = details if details is not None else known[3]

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.type, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.details is not None:
            error["error_data"] = {"messaging_product": "whatsapp", "details": self.details}
        error["fbtrace_id"] = "A" + secrets.token_urlsafe(16)
        return {"error": error}


def param_error(detail: str) -> GraphError:
    """A request that breaks a parameter's rule (code 100, as Graph answers)."""
    return GraphError(100, "(#100) Invalid parameter", details=detail)


def no_object(ident: str, method: str = "get") -> GraphError:
    """The answer for an id the token can't see (an unknown phone_number_id or media id)."""
    return GraphError(
        100,
        f"Unsupported {method} request. Object with ID '{ident}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation. Please read "
        "the Graph API documentation at https://developers.facebook.com/docs/graph-api",
        subcode=33,
    )


@dataclass
class Number:
    """A business phone number of one Meta app. `secret` is what im2mail keeps in the
    keyring for it (graph.encode of the token and the app secret)."""

    phone_number_id: str
    display_phone_number: str
    verified_name: str
    waba_id: str
    token: str
    app_secret: str
    webhook: str | None = None  # the app's callback URL, once set_webhook() checked it
    verify_token: str | None = None
    auto_receipts: bool | None = None  # None: the double's setting
    revoked: bool = False
    last_in: dict[str, float] = field(default_factory=dict)  # wa_id -> customer's last message
    sends: list[float] = field(default_factory=list)  # times of recent sends (rate limit)

    @property
    def secret(self) -> str:
        return encode(self.token, self.app_secret)

    @property
    def digits(self) -> str:
        return "".join(ch for ch in self.display_phone_number if ch.isdigit())


@dataclass(frozen=True)
class WaUser:
    """A WhatsApp user (a customer): wa_id is their number, digits only."""

    wa_id: str
    name: str

    def contact(self) -> dict[str, Any]:
        return {"profile": {"name": self.name}, "wa_id": self.wa_id}


@dataclass(frozen=True)
class Upload:
    """A file the bot uploaded to POST /<phone_number_id>/media."""

    id: str
    phone_number_id: str
    type: str  # the `type` field: a MIME type
    filename: str
    mime: str  # the file part's Content-Type
    data: bytes
    at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class Sent:
    """One message the bot sent (POST /<phone_number_id>/messages, accepted)."""

    id: str  # wamid
    phone_number_id: str
    to: str
    type: str
    text: str | None  # text.body, or the caption
    media: Upload | None  # the uploaded file a media message sent
    filename: str | None
    preview_url: bool | None
    body: dict[str, Any]  # the request
    at: float = field(default_factory=time.time)


@dataclass
class Call:
    """One request the bot made to the Graph API."""

    method: str  # "GET" or "POST"
    path: str  # after the version: "1065.../messages"
    token: str | None  # the Bearer token given
    body: Any  # JSON, or the form fields of an upload
    http_status: int = 200
    response: Any = None
    at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class Delivery:
    """One webhook POST (one attempt; the double does not retry)."""

    phone_number_id: str
    kind: str  # "message", "status", "raw"
    url: str | None
    body: bytes  # the exact bytes sent and signed
    signature: str
    status: int | None  # the webhook's HTTP status; None: not delivered (see error)
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
    """A customer's file, known by media id; GET /<id> hands out a URL that expires."""

    id: str
    phone_number_id: str
    data: bytes | Stream
    mime: str
    size: int | None = None  # what GET /<media id> says (default: the true size)
    url_expires: float = 0.0  # time.time() after which the last URL answers 404
    url_key: str = ""
    downloads: int = 0


@dataclass
class _Fault:
    what: str  # "messages", "media" (upload), "get", "download", or "*"
    error: GraphError | None
    http_status: int | None  # a non-JSON answer instead (a proxy's page)
    delay: float
    times: int


def wamid() -> str:
    """Shaped like a real message id: wamid. + base64 of a protobuf-ish blob."""
    return "wamid.HBgM" + secrets.token_urlsafe(36).replace("-", "A").replace("_", "B") + "="


def digits(n: int) -> str:
    return str(secrets.randbelow(9 * 10 ** (n - 1)) + 10 ** (n - 1))
