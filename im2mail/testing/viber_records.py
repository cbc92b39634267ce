"""Records of the Viber REST Bot API double (viber_api.py): what the tests read (ViberUser,
Sent, Call, Delivery, Media), the Viber statuses and limits it enforces, the error a
method answers with (ViberError) and the double's state for one bot (_Bot) and for a fault.
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from .streams import Stream

# The status codes of https://developers.viber.com/docs/api/rest-bot-api/#error-codes; the
# name is what `status_message` says. Other numbers mean a general error.
STATUS = {
    0: "ok",
    1: "invalidUrl",
    2: "invalidAuthToken",
    3: "badData",
    4: "missingData",
    5: "receiverNotRegistered",
    6: "receiverNotSubscribed",
    7: "publicAccountBlocked",
    8: "publicAccountNotFound",
    9: "publicAccountSuspended",
    10: "webhookNotSet",
    11: "receiverNoSuitableDevice",
    12: "tooManyRequests",
    13: "apiVersionNotSupported",
    14: "incompatibleWithVersion",
    15: "publicAccountNotAuthorized",
    16: "inchatReplyMessageNotAllowed",
    17: "publicAccountIsNotInline",
    18: "noPublicChat",
    19: "cannotSendBroadcast",
    20: "broadcastNotAllowed",
    21: "unsupportedCountry",
    22: "paymentUnsupported",
    23: "freeMessagesExceeded",
    24: "noBalance",
}
# Viber's "forbidden file formats" (executables and scripts); a file message whose
# file_name ends so is refused.
FORBIDDEN_EXTENSIONS = (
    ".action", ".apk", ".app", ".bat", ".bin", ".cmd", ".com", ".command", ".cpl", ".csh",
    ".dll", ".exe", ".gadget", ".inf1", ".ins", ".inx", ".ipa", ".isu", ".jar", ".job", ".js",
    ".jse", ".ksh", ".lnk", ".msc", ".msi", ".msp", ".mst", ".osx", ".out", ".paf", ".pif",
    ".prg", ".ps1", ".reg", ".rgs", ".run", ".scr", ".sct", ".sh", ".shb", ".shs", ".u3p",
    ".vb", ".vbe", ".vbs", ".vbscript", ".workflow", ".ws", ".wsf",
)  # fmt: skip
# set_webhook without event_types subscribes to these; message, subscribed and
# unsubscribed (and the webhook check) come whatever the filter says.
DEFAULT_EVENT_TYPES = (
    "delivered", "seen", "failed", "subscribed", "unsubscribed", "conversation_started",
)  # fmt: skip
ALWAYS_SENT = ("message", "subscribed", "unsubscribed", "webhook")
MESSAGE_TYPES = ("text", "picture", "video", "file", "contact", "location", "url", "sticker",
                 "rich_media")  # fmt: skip
CHAT_HOSTNAME = "SN-CHAT-05_"

TEXT_LIMIT = 7000  # characters of a text message
CAPTION_LIMIT = 768  # characters of a picture's description
SENDER_NAME_LIMIT = 28
TRACKING_DATA_LIMIT = 4096
FILE_NAME_LIMIT = 256
PICTURE_LIMIT = 1024 * 1024  # bytes; 1 MB is the iOS limit (Android takes 3 MB)
VIDEO_LIMIT = 26 * 1024 * 1024
FILE_LIMIT = 50 * 1024 * 1024
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"  # a JPEG's start
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


@dataclass(frozen=True)
class ViberUser:
    """A Viber user (a customer). `id` is shaped like Viber's (base64 of 16 bytes)."""

    id: str
    name: str
    language: str = "uk"
    country: str = "UA"
    avatar: str | None = None
    api_version: int = 10
    primary_device_os: str = "Android 13"
    viber_version: str = "21.6.0.1"
    device_type: str = "SM-A525F"
    mcc: int = 255
    mnc: int = 1

    def profile(self, *, name: bool = True, photo: bool = True) -> dict[str, Any]:
        """The user object of callbacks (`sender` of a message, `user` of others)."""
        data: dict[str, Any] = {"id": self.id}
        if name:
            data["name"] = self.name
        if photo and self.avatar:
            data["avatar"] = self.avatar
        return {**data, "language": self.language, "country": self.country,
                "api_version": self.api_version}  # fmt: skip

    def details(self) -> dict[str, Any]:
        """The `user` of a get_user_details answer."""
        data = {"id": self.id, "name": self.name}
        if self.avatar:
            data["avatar"] = self.avatar
        return {
            **data,
            "country": self.country,
            "language": self.language,
            "primary_device_os": self.primary_device_os,
            "api_version": self.api_version,
            "viber_version": self.viber_version,
            "mcc": self.mcc,
            "mnc": self.mnc,
            "device_type": self.device_type,
        }


@dataclass(frozen=True)
class Sent:
    """One message the bot sent (send_message), or a welcome message it answered a
    conversation_started callback with (`welcome`; no send_message, no receipts)."""

    token: str  # the bot's
    receiver: str
    type: str
    text: str | None
    media: str | None  # the URL the bot gave
    data: bytes | None  # what the double downloaded from `media` (picture, video, file)
    file_name: str | None
    size: int | None  # as the bot declared it
    duration: int | None
    sender_name: str
    sender_avatar: str | None
    tracking_data: str | None
    message_token: int
    body: dict[str, Any]  # the request, auth_token removed
    welcome: bool = False
    at: float = field(default_factory=time.time)


@dataclass
class Call:
    """One request the bot made to /pa/<method>."""

    token: str | None
    method: str
    body: dict[str, Any]  # auth_token removed
    http_status: int = 200
    status: int | None = None  # Viber's status; None when the HTTP answer was not JSON
    response: Any = None
    at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class Delivery:
    """One callback POSTed to the bot's webhook (one attempt; the double does not retry)."""

    token: str
    event: str
    url: str | None
    body: bytes  # the exact bytes sent (and signed)
    signature: str
    status: int | None  # the webhook's HTTP status; None: not delivered (see error)
    text: str = ""  # the webhook's answer
    json: Any = None  # the answer parsed, when it was JSON
    error: str | None = None  # connection refused, timeout, not sent (no webhook, filtered)
    at: float = field(default_factory=time.time)

    @property
    def sent(self) -> dict[str, Any]:
        """The callback as a dict."""
        return json.loads(self.body)

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass
class Media:
    """A file a customer sent, served at a signed, expiring URL as Viber's CDN does."""

    id: str
    data: bytes | Stream
    filename: str
    mime: str
    expires_at: float  # time.time() after which the URL answers 403
    url: str = ""
    downloads: int = 0


MEDIA_LIMITS = {"picture": PICTURE_LIMIT, "video": VIDEO_LIMIT, "file": FILE_LIMIT}
_REQUIRED = {  # absent: missingData (4)
    "text": ("text",),
    "picture": ("media",),
    "video": ("media", "size"),
    "file": ("media", "size", "file_name"),
    "contact": ("contact",),
    "location": ("location",),
    "url": ("media",),
    "sticker": ("sticker_id",),
    "rich_media": ("rich_media",),
}


class ViberError(Exception):
    """A method's failure: HTTP 200 with a non-zero status, as Viber answers."""

    def __init__(self, status: int, message: str | None = None) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message or STATUS.get(status, "generalError")


@dataclass
class _Fault:
    method: str  # "*" for any; "media" for downloads of add_media URLs
    token: str | None
    status: int | None  # a Viber status
    message: str | None
    http_status: int | None  # a non-JSON HTTP answer instead
    body: str | None
    delay: float
    times: int


@dataclass
class _Bot:
    token: str
    id: str
    name: str
    uri: str
    avatar: str | None
    auto_receipts: bool | None = None  # None: the double's setting
    webhook: str | None = None
    event_types: list[str] = field(default_factory=lambda: list(DEFAULT_EVENT_TYPES))
    send_name: bool = False
    send_photo: bool = False
    revoked: bool = False
    subscribed: set[str] = field(default_factory=set)
    detail_calls: dict[str, list[float]] = field(default_factory=dict)

    def wants(self, event: str) -> bool:
        return event in ALWAYS_SENT or event in self.event_types

    def account_info(self) -> dict[str, Any]:
        """get_account_info's answer (without status)."""
        icon = self.avatar or (
            "https://media-direct.cdn.viber.com/pg_download?pgtp=icons"
            f"&dlid={self.id[3:]}&fltp=jpg&imsz=0000"
        )
        admin = {"id": "p+MRE0g6rBzr1ACkB0BhbQ==", "name": "Адміністратор", "avatar": icon}
        return {
            "id": self.id,
            "chat_hostname": CHAT_HOSTNAME,
            "name": self.name,
            "uri": self.uri,
            "icon": icon,
            "background": icon.replace("icons", "backgrounds"),
            "category": "Local Businesses",
            "subcategory": "Printing Services",
            "location": {"lon": 30.5234, "lat": 50.4501},
            "country": "UA",
            "webhook": self.webhook or "",
            "event_types": list(self.event_types),
            "subscribers_count": len(self.subscribed),
            "members": [{**admin, "role": "admin"}],
        }


def check_envelope(p: dict[str, Any]) -> None:
    """send_message's fields common to all types: missingData (4) or badData (3)."""
    receiver, kind, sender = p.get("receiver"), p.get("type"), p.get("sender")
    if not receiver or not kind or not isinstance(sender, dict) or not sender.get("name"):
        raise ViberError(4)
    if not isinstance(sender["name"], str) or len(sender["name"]) > SENDER_NAME_LIMIT:
        raise ViberError(3)
    tracking = p.get("tracking_data")
    if tracking is not None and (
        not isinstance(tracking, str) or len(tracking) > TRACKING_DATA_LIMIT
    ):
        raise ViberError(3)


def check_content(p: dict[str, Any]) -> None:
    """Viber's validation of one message type: missingData (4) or badData (3). Media are
    checked once downloaded (viber_api.py)."""
    kind = p["type"]
    if kind not in MESSAGE_TYPES:
        raise ViberError(3)
    if any(p.get(name) in (None, "") for name in _REQUIRED[kind]):
        raise ViberError(4)
    text = p.get("text")
    if text is not None and not isinstance(text, str):
        raise ViberError(3)
    ok = True
    if kind == "text":
        ok = len(text or "") <= TEXT_LIMIT
    elif kind == "picture":
        ok = len(text or "") <= CAPTION_LIMIT
    elif kind in ("video", "file"):
        ok = isinstance(p["size"], int) and not isinstance(p["size"], bool) and p["size"] >= 0
        if kind == "file":
            name = p["file_name"]
            ok = ok and isinstance(name, str) and len(name) <= FILE_NAME_LIMIT
            ok = ok and PurePosixPath(str(name).lower()).suffix not in FORBIDDEN_EXTENSIONS
    elif kind == "contact":
        c = p["contact"]
        ok = isinstance(c, dict) and bool(c.get("name")) and bool(c.get("phone_number"))
        ok = ok and len(str(c["name"])) <= 28 and len(str(c["phone_number"])) <= 18
    elif kind == "location":
        ok = _valid_location(p["location"])
    elif kind == "url":
        ok = isinstance(p["media"], str) and len(p["media"]) <= 2000
    elif kind == "sticker":
        ok = isinstance(p["sticker_id"], int)
    if kind in MEDIA_LIMITS and not isinstance(p["media"], str):
        ok = False
    if not ok:
        raise ViberError(3)


def _valid_location(location: Any) -> bool:
    try:
        lat, lon = float(location["lat"]), float(location["lon"])
    except (TypeError, KeyError, ValueError):
        return False
    return -90 <= lat <= 90 and -180 <= lon <= 180


def bot_token() -> str:
    """Shaped like a real auth token: 445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9."""
    return "-".join(secrets.token_hex(8) for _ in range(3))


def user_id() -> str:
    return base64.b64encode(secrets.token_bytes(16)).decode()


def account_id() -> str:
    return "pa:" + str(secrets.randbelow(9 * 10**18) + 10**18)


def message_tokens() -> itertools.count[int]:
    """19-digit, increasing, like 5741311803571721087."""
    return itertools.count(5_741_311_803_571_721_087 + secrets.randbelow(10**9) * 1000)
