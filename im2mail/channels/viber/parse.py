"""Viber, the pure half: callbacks -> Incoming values, their signatures, and the plan of an
answer as Viber messages. No network; `im2mail.channels.viber` re-exports all of it.

Callbacks are read as the dicts Viber POSTs (https://developers.viber.com/docs/api/
rest-bot-api/#callbacks), not through viberbot's request classes, which refuse message
types they don't know: a customer's message of a new type should still reach the managers.
"""

from __future__ import annotations

import hashlib
import hmac
import mimetypes
import posixpath
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from ...model import Customer, Incoming, IncomingFile
from ...signing import same_secret
from ...untrusted import file_name as clean_file_name
from .. import fields
from ..base import FileTooBig, MalformedUpdate, OutgoingFile, Rejected, Step
from ..text import split_text, utf16_len

SIGNATURE_HEADER = "X-Viber-Content-Signature"
# Callbacks the webhook asks for; message, subscribed and unsubscribed come regardless.
WEBHOOK_EVENTS = ("delivered", "seen", "failed", "subscribed", "unsubscribed",
                  "conversation_started")  # fmt: skip

TEXT_LIMIT = 7000  # characters of a text message
DESCRIPTION_LIMIT = 768  # characters of a picture's description
SENDER_NAME_LIMIT = 28  # sender.name, required on every message
FILE_NAME_LIMIT = 256
MB = fields.MB
PICTURE_LIMIT = 1 * MB  # iOS shows pictures up to 1 MB (Android 3 MB): larger ones go as files
VIDEO_LIMIT = 26 * MB  # larger videos go as files
FILE_LIMIT = 50 * MB  # nothing larger can be sent
PICTURE_MIMES = frozenset({"image/jpeg", "image/png"})
VIDEO_MIMES = frozenset({"video/mp4"})  # Viber plays MP4 (H.264) only; other videos go as files
# Viber's "forbidden file formats" (developers.viber.com/docs/api/rest-bot-api/
# #forbiddenFileFormats): executables, scripts and installers, refused as file messages
# whatever their content. Taken as the Viber test double has it (testing/viber_records.py);
# not re-checked word for word against Viber's page, which could not be read in full.
FORBIDDEN_EXTENSIONS = frozenset({
    ".action", ".apk", ".app", ".bat", ".bin", ".cmd", ".com", ".command", ".cpl", ".csh",
    ".dll", ".exe", ".gadget", ".inf1", ".ins", ".inx", ".ipa", ".isu", ".jar", ".job", ".js",
    ".jse", ".ksh", ".lnk", ".msc", ".msi", ".msp", ".mst", ".osx", ".out", ".paf", ".pif",
    ".prg", ".ps1", ".reg", ".rgs", ".run", ".scr", ".sct", ".sh", ".shb", ".shs", ".u3p",
    ".vb", ".vbe", ".vbs", ".vbscript", ".workflow", ".ws", ".wsf",
})  # fmt: skip

_EXTENSIONS = {"image/jpeg": ".jpg", "video/mp4": ".mp4"}
# Step sorts: "text", "picture", "video", "file", and "refused" (files Viber can't take:
# send_step raises `refusal(step)` before anything goes out).
REFUSED = "refused"


_Bad = fields.BadField
_id, _dict, _text, _required_text = fields.ident, fields.obj, fields.text, fields.required_text
_number, _is_int, _mb = fields.number, fields.is_int, fields.megabytes


# -- signatures ------------------------------------------------------------------------------


def verify_signature(token: str, headers: Mapping[str, str], body: bytes) -> bool:
    """Whether X-Viber-Content-Signature is the hex HMAC-SHA256 of the raw body keyed by the
    bot's token (compared in constant time); False when the header is missing."""
    wanted = SIGNATURE_HEADER.lower()
    given = next((v for k, v in headers.items() if k.lower() == wanted), "")
    if not given or not token:
        return False
    expected = hmac.new(token.encode(), body, hashlib.sha256).hexdigest()
    return same_secret(given.strip().lower(), expected)


# -- callbacks -------------------------------------------------------------------------------


def parse_callback(bot: str, raw: Any) -> list[Incoming]:
    """What a customer did, from one Viber callback.

    [] for the `webhook` check and events of no interest (or from the future); raises
    MalformedUpdate, never anything else, for a callback without the fields Viber
    documents or with fields of the wrong type.
    """
    if not isinstance(raw, dict):
        raise MalformedUpdate(f"viber bot '{bot}': a callback that is not a JSON object")
    event = raw.get("event")
    if not isinstance(event, str):
        raise MalformedUpdate(f"viber bot '{bot}': a callback without an event")
    reader = _READERS.get(event)
    if reader is None:
        return []
    try:
        return [reader(bot, raw)]
    except _Bad as e:
        raise MalformedUpdate(f"viber bot '{bot}': a malformed {event} callback ({e})") from None


def _message(bot: str, raw: dict[str, Any]) -> Incoming:
    token = _token(raw)
    sender = _user(raw, "sender")
    kind, text, files = _content(_dict(raw, "message"), token)
    return Incoming(
        bot=bot,
        customer=_customer(sender),
        dedupe_key=f"viber:{bot}:message:{token}",
        created=_time(raw),
        kind=kind,
        text=text,
        channel_message_id=token,
        chat_id=sender["id"],
        files=files,
        raw=raw,
    )


def _started(bot: str, raw: dict[str, Any]) -> Incoming:
    """conversation_started: the customer opened the chat (maybe from a deep link whose
    `context` names the lead source). Answered with `welcome()`, not with send_message."""
    token = _token(raw)
    user = _user(raw, "user")
    context = _text(raw, "context").strip()
    return Incoming(
        bot=bot,
        customer=_customer(user, source=context[:64] or None),
        dedupe_key=f"viber:{bot}:started:{token}",
        created=_time(raw),
        kind="text",
        chat_id=user["id"],
        start=True,
        event="started",
        raw=raw,
    )


def _subscription(bot: str, raw: dict[str, Any]) -> Incoming:
    """subscribed -> "unblocked"; unsubscribed (only a user_id) -> "blocked"."""
    event = raw["event"]
    if event == "subscribed":
        user = _user(raw, "user")
        customer, state = _customer(user), "unblocked"
    else:
        customer, state = Customer("viber", _id(raw, "user_id")), "blocked"
    # Viber's examples carry a message_token; keyed by user and time should one lack it.
    ident = _token(raw) if "message_token" in raw else f"{customer.external_id}:{_ms(raw)}"
    return Incoming(
        bot=bot,
        customer=customer,
        dedupe_key=f"viber:{bot}:{event}:{ident}",
        created=_time(raw),
        kind="event",
        chat_id=customer.external_id,
        event=state,
        raw=raw,
    )


def _receipt(bot: str, raw: dict[str, Any]) -> Incoming:
    """delivered / seen / failed: about a message the bot sent (its message_token)."""
    event, token, user_id = raw["event"], _token(raw), _id(raw, "user_id")
    return Incoming(
        bot=bot,
        customer=Customer("viber", user_id),
        dedupe_key=f"viber:{bot}:{event}:{token}",
        created=_time(raw),
        kind="event",
        text=_text(raw, "desc") if event == "failed" else "",
        channel_message_id=token,
        chat_id=user_id,
        event=event,
        raw=raw,
    )


_READERS: dict[str, Callable[[str, dict[str, Any]], Incoming]] = {
    "message": _message,
    "conversation_started": _started,
    "subscribed": _subscription,
    "unsubscribed": _subscription,
    "delivered": _receipt,
    "seen": _receipt,
    "failed": _receipt,
}


def _content(m: dict[str, Any], token: str) -> tuple[str, str, tuple[IncomingFile, ...]]:
    """(kind, text, files) of a customer's message. Media URLs expire (about an hour):
    the relay fetches them at once."""
    kind = m.get("type")
    if not isinstance(kind, str) or not kind:
        raise _Bad("a message without a type")
    text = _text(m, "text")
    if kind == "text":
        if not isinstance(m.get("text"), str):
            raise _Bad("a text message without text")
        return "text", text, ()
    if kind == "picture":
        return "photo", text, (_file(m, "photo", f"photo_{token}", "image/jpeg"),)
    if kind == "video":
        return "video", text, (_file(m, "video", f"video_{token}", "video/mp4"),)
    if kind == "file":
        return "document", text, (_file(m, "document", f"file_{token}", ""),)
    if kind == "contact":
        contact = _dict(m, "contact")
        number = _text(contact, "phone_number")
        words = ("👤", _text(contact, "name").strip(), _phone(number) if number else "")
        return "contact", " ".join(w for w in words if w), ()
    if kind == "location":
        place = _dict(m, "location")
        lat, lon = _number(place, "lat"), _number(place, "lon")
        lines = (_text(place, "address").strip(), _where(lat, lon))
        return "location", "📍 " + "\n".join(line for line in lines if line), ()
    if kind == "sticker":
        media = _text(m, "media")
        files = (IncomingFile(media, "sticker.png", "image/png", None, "sticker"),) if media else ()
        return "sticker", "sticker", files
    if kind == "url":
        return "text", _required_text(m, "media"), ()
    return "other", f"(unsupported Viber message: {kind}) {text}".strip(), ()


def _file(m: dict[str, Any], kind: str, stem: str, fallback_mime: str) -> IncomingFile:
    url = _required_text(m, "media")
    name = clean_file_name(_text(m, "file_name")) or clean_file_name(_url_name(url))
    if not name:
        name = stem + _EXTENSIONS.get(fallback_mime, "")
    mime = mimetypes.guess_type(name, strict=False)[0] or fallback_mime
    size = m.get("size")
    if size is not None and not (_is_int(size) and size >= 0):
        raise _Bad("a file size that is not a number of bytes")
    return IncomingFile(url, name, mime or "application/octet-stream", size, kind)


def _url_name(url: str) -> str:
    """The last path segment of a media URL when it looks like a file name."""
    last = unquote(posixpath.basename(urlsplit(url).path))
    return last if "." in last.strip(".") else ""


def _customer(user: dict[str, Any], source: str | None = None) -> Customer:
    # Viber has a single name field (whatever the user typed, often first and last name).
    return Customer("viber", user["id"], first_name=_text(user, "name").strip(), source=source)


def _where(lat: float, lon: float) -> str:
    lat, lon = round(lat, 6), round(lon, 6)
    return f"{lat}, {lon}\nhttps://maps.google.com/?q={lat},{lon}"


def _phone(number: str) -> str:
    number = number.strip().replace(" ", "")
    return f"+{number}" if number.isdigit() else number


# -- field readers ---------------------------------------------------------------------------


def _token(raw: dict[str, Any]) -> str:
    """message_token as a string of digits (Viber sends a 64-bit number)."""
    value = raw.get("message_token")
    if _is_int(value) and value >= 0:
        return str(value)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return str(int(value))
    raise _Bad("no message_token")


def _ms(raw: dict[str, Any]) -> int:
    value = raw.get("timestamp")
    if not (_is_int(value) or isinstance(value, float)) or value < 0:
        raise _Bad("no timestamp")
    return int(value)


def _time(raw: dict[str, Any]) -> datetime:
    try:
        return datetime.fromtimestamp(_ms(raw) / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        raise _Bad("a timestamp out of range") from None


def _user(raw: dict[str, Any], key: str) -> dict[str, Any]:
    user = _dict(raw, key)
    _id(user, "id")
    return user


def sender_name(name: str) -> str:
    """The account's name as a message's sender.name (at most 28 characters, cut at a word
    when longer, as a person would shorten it)."""
    name = " ".join(name.split())
    if len(name) <= SENDER_NAME_LIMIT:
        return name
    head = name[: SENDER_NAME_LIMIT + 1]
    cut = head.rsplit(" ", 1)[0].rstrip(" -—–,;:.") if " " in head else ""
    return cut if len(cut) >= SENDER_NAME_LIMIT // 2 else name[:SENDER_NAME_LIMIT]


def file_name(name: str) -> str:
    """A file name within Viber's 256 characters, its extension kept."""
    if len(name) <= FILE_NAME_LIMIT:
        return name
    stem, extension = posixpath.splitext(name)
    return stem[: FILE_NAME_LIMIT - len(extension)] + extension


# -- planning an answer ----------------------------------------------------------------------


def plan_steps(text: str, files: Sequence[OutgoingFile] = ()) -> list[Step]:
    """The Viber messages that deliver text and files, in order; pure.

    Files Viber can't take (a forbidden extension, over 50 MB) make one "refused" step that
    comes first, so the delivery fails before anything went out. Text goes in pieces of up
    to 7000 characters; then each file, in the manager's order, as its own message: JPEG/PNG
    up to 1 MB as a picture, MP4 up to 26 MB as a video, everything else as a file. A text of
    up to 768 characters rides as the description of a first picture instead.
    """
    reasons = [_refusal_reason(f) for f in files]
    refused = tuple(f for f, reason in zip(files, reasons, strict=True) if reason)
    steps = [Step("; ".join(r for r in reasons if r), refused, REFUSED)] if refused else []
    files = [f for f, reason in zip(files, reasons, strict=True) if not reason]
    texts = [Step(piece) for piece in split_text(text, TEXT_LIMIT, utf16_len)]
    caption = text.strip()
    if files and _sort(files[0]) == "picture" and len(caption) <= DESCRIPTION_LIMIT:
        steps.append(Step(caption, (files[0],), "picture"))
        files = files[1:]
    else:
        steps += texts
    steps += [Step("", (f,), _sort(f)) for f in files]
    return steps


def refusal(bot: str, step: Step) -> Rejected | FileTooBig:
    """The error a "refused" step raises: FileTooBig when every file is only too big."""
    where = f"viber bot '{bot}'"
    sizes = [len(data) for name, _, data in step.files if not _forbidden(name)]
    if sizes and len(sizes) == len(step.files):
        return FileTooBig(f"{where}: {step.text}", size=max(sizes), limit=FILE_LIMIT,
                          reason=step.text)  # fmt: skip
    return Rejected(f"{where}: {step.text}", reason=step.text)


def _refusal_reason(file: OutgoingFile) -> str:
    name, _, data = file
    extension = _forbidden(name)
    if extension:
        return f"Viber does not accept {extension} files: {name}"
    if len(data) > FILE_LIMIT:
        return f"{name} is {_mb(len(data))}; Viber takes files up to {_mb(FILE_LIMIT)}"
    return ""


def _forbidden(name: str) -> str:
    extension = posixpath.splitext(name.strip().lower())[1]
    return extension if extension in FORBIDDEN_EXTENSIONS else ""


def _sort(file: OutgoingFile) -> str:
    _, mime, data = file
    if mime in PICTURE_MIMES and len(data) <= PICTURE_LIMIT:
        return "picture"
    if mime in VIDEO_MIMES and len(data) <= VIDEO_LIMIT:
        return "video"
    return "file"
