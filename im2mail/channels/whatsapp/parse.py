"""WhatsApp, the pure half: Cloud API webhooks -> Incoming values, and the plan of an answer
as Cloud API messages. No network; `im2mail.channels.whatsapp` re-exports all of it.

A webhook POST is {"object": "whatsapp_business_account", "entry": [{"id": <WABA id>,
"changes": [{"field": "messages", "value": {"messaging_product": "whatsapp", "metadata":
{"display_phone_number", "phone_number_id"}, "contacts": [{"profile": {"name"}, "wa_id"}],
"messages": [...], "statuses": [...]}}]}]} (developers.facebook.com, "messages webhook
reference"). One Meta app may serve several business numbers: only changes whose
metadata.phone_number_id is this bot's are read, the others give [].

A "reaction" message is the customer's reaction to a message (emoji "" when taken back):
event "reaction". An "edit" message ({"original_message_id", "message": the new one}) is
an edit; WhatsApp sends it only for numbers that also use the WhatsApp Business app
(Coexistence), and for the others an edit comes as an "unsupported" message.
"""

from __future__ import annotations

import mimetypes
import posixpath
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ...model import Customer, Incoming, IncomingFile
from ...untrusted import OCTET_STREAM, mime_type
from ...untrusted import file_name as clean_file_name
from .. import fields
from ..base import FileTooBig, MalformedUpdate, OutgoingFile, Step
from ..text import split_text

OBJECT = "whatsapp_business_account"
TEXT_LIMIT = 4096  # characters of text.body
CAPTION_LIMIT = 1024  # characters of a media caption
MB = fields.MB
IMAGE_LIMIT = 5 * MB
VIDEO_LIMIT = 16 * MB
AUDIO_LIMIT = 16 * MB
DOCUMENT_LIMIT = 100 * MB  # nothing larger can be sent at all
IMAGE_MIMES = frozenset({"image/jpeg", "image/png"})
VIDEO_MIMES = frozenset({"video/mp4", "video/3gpp"})
AUDIO_MIMES = frozenset({"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"})
LIMITS = {"image": IMAGE_LIMIT, "video": VIDEO_LIMIT, "audio": AUDIO_LIMIT,
          "document": DOCUMENT_LIMIT}  # fmt: skip
# Step sorts: "text", "image", "video", "audio", "document", and "refused" (files WhatsApp
# can't take: send_step raises `refusal(step)` before anything goes out).
REFUSED = "refused"
WINDOW_CODE = 131047  # more than 24 hours since the customer last wrote
# What the manager reads when a reply can't go because the 24-hour window is closed.
WINDOW_REASON = (
    "WhatsApp allows a free-form reply only within 24 hours of the customer's last message; "
    "after that only a message template approved by Meta can reach them, and im2mail does "
    "not send templates. Nothing was sent. Send an approved template from WhatsApp Manager, "
    "or reach the customer another way (phone, email)."
)
RECEIPTS = {"delivered": "delivered", "read": "seen", "failed": "failed"}  # "sent": nothing
_SOURCE = re.compile(r"[^A-Za-z0-9_-]")
_EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp",
               "video/mp4": ".mp4", "video/3gpp": ".3gp", "audio/ogg": ".ogg",
               "audio/mpeg": ".mp3", "audio/mp4": ".m4a", "audio/aac": ".aac",
               "audio/amr": ".amr", "application/pdf": ".pdf"}  # fmt: skip


_Bad = fields.BadField
_id, _dict, _text, _required_text = fields.ident, fields.obj, fields.text, fields.required_text
_mb = fields.megabytes


def _number(raw: dict[str, Any], key: str) -> float:
    return fields.number(raw, key, coordinate=True)


# -- webhooks --------------------------------------------------------------------------------


def parse_webhook(bot: str, phone_number_id: str, raw: Any) -> list[Incoming]:
    """What customers did, from one webhook POST: their messages, and receipts for the
    bot's own (delivered, seen, failed). [] for other objects, fields and numbers; raises
    MalformedUpdate, never anything else, for a body without the documented fields."""
    who = f"whatsapp bot '{bot}'"
    if not isinstance(raw, dict):
        raise MalformedUpdate(f"{who}: a webhook that is not a JSON object")
    if raw.get("object") != OBJECT:
        return []
    try:
        return [
            item
            for entry in _list(raw, "entry")
            for change in _list(_object(entry), "changes")
            for item in _change(bot, phone_number_id, _object(change))
        ]
    except _Bad as e:
        raise MalformedUpdate(f"{who}: a malformed webhook ({e})") from None


def _change(bot: str, phone_number_id: str, change: dict[str, Any]) -> list[Incoming]:
    if change.get("field") != "messages":
        return []
    value = _dict(change, "value")
    if _id(_dict(value, "metadata"), "phone_number_id") != phone_number_id:
        return []
    names = {}
    for contact in _list(value, "contacts", required=False):
        contact = _object(contact)
        profile = contact.get("profile")
        name = _text(profile, "name") if isinstance(profile, dict) else ""
        names[_id(contact, "wa_id")] = name.strip()
    items = [_message(bot, _object(m), names) for m in _list(value, "messages", required=False)]
    for status in _list(value, "statuses", required=False):
        receipt = _receipt(bot, _object(status))
        if receipt is not None:
            items.append(receipt)
    return [item for item in items if item is not None]


def _message(bot: str, m: dict[str, Any], names: dict[str, str]) -> Incoming | None:
    wa_id, ident = _id(m, "from"), _id(m, "id")
    customer = Customer(
        "whatsapp",
        wa_id,
        first_name=names.get(wa_id, ""),
        phone=_phone(wa_id),
        source=_source(m.get("referral")),
    )
    common = {"bot": bot, "customer": customer, "dedupe_key": f"whatsapp:{bot}:{ident}",
              "created": _time(m), "chat_id": wa_id, "raw": m}  # fmt: skip
    kind = _text(m, "type")
    if kind == "reaction":  # {"message_id", "emoji"}; "" when taken back
        reaction = _dict(m, "reaction")
        emoji = _text(reaction, "emoji").strip()
        return Incoming(**common, kind="event", channel_message_id=_id(reaction, "message_id"),
                        event="reaction", reactions=(emoji,) if emoji else ())  # fmt: skip
    edited, original = kind == "edit", ident
    if edited:  # only numbers that also use the WhatsApp Business app ("Coexistence")
        edit = _dict(m, "edit")
        original, m = _id(edit, "original_message_id"), _dict(edit, "message")
    content = _content(m, ident)
    if content is None:
        return None
    kind, text, files = content
    return Incoming(**common, kind=kind, text=text, channel_message_id=original, files=files,
                    edited=edited)  # fmt: skip


def _receipt(bot: str, s: dict[str, Any]) -> Incoming | None:
    """delivered / read / failed: about a message the bot sent (the id its send returned)."""
    event = RECEIPTS.get(_text(s, "status"))
    if event is None:
        return None
    ident, recipient = _id(s, "id"), _id(s, "recipient_id")
    return Incoming(
        bot=bot,
        customer=Customer("whatsapp", recipient, phone=_phone(recipient)),
        dedupe_key=f"whatsapp:{bot}:{event}:{ident}",
        created=_time(s),
        kind="event",
        text=failure(s.get("errors")) if event == "failed" else "",
        channel_message_id=ident,
        chat_id=recipient,
        event=event,
        raw=s,
    )


def failure(errors: Any) -> str:
    """Why a message failed, from a status's `errors`: the 24-hour rule in words a manager
    understands, else WhatsApp's title and details with the code."""
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return "WhatsApp could not deliver the message"
    error = errors[0]
    code = error.get("code")
    if code == WINDOW_CODE:
        return WINDOW_REASON
    data = error.get("error_data")
    details = data.get("details") if isinstance(data, dict) else None
    words = [w for w in (error.get("title"), details or error.get("message")) if w]
    words = [str(w).strip() for w in words if isinstance(w, str) and w.strip()]
    text = ": ".join(dict.fromkeys(words)) or "WhatsApp could not deliver the message"
    return f"{text} ({code})" if isinstance(code, int) else text


def _content(m: dict[str, Any], ident: str) -> tuple[str, str, tuple[IncomingFile, ...]] | None:
    """(kind, text, files) of a customer's message."""
    kind = _text(m, "type")
    if not kind:
        raise _Bad("a message without a type")
    stem = ident.removeprefix("wamid.")[-12:].strip("=") or "file"
    stem = _SOURCE.sub("", stem) or "file"
    if kind == "text":
        return "text", _required_text(_dict(m, "text"), "body"), ()
    if kind in ("image", "video", "audio", "document", "sticker"):
        media = _dict(m, kind)
        file = _file(media, kind, stem)
        caption = _text(media, "caption")
        if kind == "image":
            return "photo", caption, (file,)
        if kind == "audio":
            return ("voice" if media.get("voice") is True else "audio"), "", (file,)
        if kind == "sticker":
            return "sticker", "sticker", (file,)
        return kind, caption, (file,)
    if kind == "location":
        return "location", _location(_dict(m, "location")), ()
    if kind == "contacts":
        cards = [_contact(_object(c)) for c in _list(m, "contacts")]
        return "contact", "\n".join(c for c in cards if c) or "👤", ()
    if kind == "button":
        return "text", _required_text(_dict(m, "button"), "text"), ()
    if kind == "interactive":
        return "text", _interactive(_dict(m, "interactive")), ()
    return "other", f"(unsupported WhatsApp message: {kind})", ()


def _file(media: dict[str, Any], kind: str, stem: str) -> IncomingFile:
    """A customer's file by its media id: fetch() asks for a URL, which expires in minutes."""
    media_id = _id(media, "id")
    given = _text(media, "mime_type")
    mime = mime_type(given) if given.strip() else ""
    mime = mime or ("image/webp" if kind == "sticker" else OCTET_STREAM)
    name = clean_file_name(_text(media, "filename"))
    if not name:
        extension = _EXTENSIONS.get(mime) or mimetypes.guess_extension(mime, strict=False) or ""
        name = f"{'photo' if kind == 'image' else kind}_{stem}{extension}"
    sort = {"image": "photo", "audio": "voice" if media.get("voice") is True else "audio"}
    return IncomingFile(media_id, name, mime, None, sort.get(kind, kind))


def _location(place: dict[str, Any]) -> str:
    lat, lon = round(_number(place, "latitude"), 6), round(_number(place, "longitude"), 6)
    lines = (_text(place, "name").strip(), _text(place, "address").strip(),
             f"{lat}, {lon}", f"https://maps.google.com/?q={lat},{lon}")  # fmt: skip
    return "📍 " + "\n".join(line for line in lines if line)


def _contact(card: dict[str, Any]) -> str:
    name = card.get("name")
    full = _text(name, "formatted_name").strip() if isinstance(name, dict) else ""
    phones = []
    for phone in _list(card, "phones", required=False):
        if isinstance(phone, dict) and isinstance(phone.get("phone"), str):
            phones.append(phone["phone"].strip())
    words = [w for w in (full, *phones) if w]
    return "👤 " + " ".join(words) if words else ""


def _interactive(reply: dict[str, Any]) -> str:
    """A tap on a reply button or a list row: its title (and a row's description)."""
    chosen = reply.get(_text(reply, "type"))
    if not isinstance(chosen, dict):
        raise _Bad("an interactive reply without its button or row")
    title = _required_text(chosen, "title")
    description = _text(chosen, "description").strip()
    return f"{title}\n{description}" if description else title


def _source(referral: Any) -> str | None:
    """The lead source of a Click-to-WhatsApp ad or post: "ad-<id>" (64 safe characters)."""
    if not isinstance(referral, dict):
        return None
    ident = referral.get("source_id")
    if not isinstance(ident, str | int) or isinstance(ident, bool) or not str(ident).strip():
        return None
    kind = referral.get("source_type") if isinstance(referral.get("source_type"), str) else ""
    value = _SOURCE.sub("", f"{kind or 'ad'}-{ident}")[:64]
    return value or None


def _phone(wa_id: str) -> str | None:
    return f"+{wa_id}" if wa_id.isascii() and wa_id.isdigit() else None


# -- field readers ---------------------------------------------------------------------------


def _time(raw: dict[str, Any]) -> datetime:
    """`timestamp`: Unix seconds as a string of digits."""
    value = raw.get("timestamp")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        raise _Bad("no timestamp")
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (OverflowError, OSError, ValueError):
        raise _Bad("a timestamp out of range") from None


def _list(raw: dict[str, Any], key: str, required: bool = True) -> list[Any]:
    value = raw.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise _Bad(f"no {key}")
    return value


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Bad("an item that is not an object")
    return value


# -- planning an answer ----------------------------------------------------------------------


def plan_steps(text: str, files: Sequence[OutgoingFile] = ()) -> list[Step]:
    """The Cloud API messages that deliver text and files, in order; pure.

    Files over 100 MB (the document limit, the largest WhatsApp takes) make one "refused"
    step that comes first, so the delivery fails before anything went out. Text goes in
    pieces of up to 4096 characters; then each file, in the manager's order, as its own
    message: JPEG/PNG up to 5 MB as an image, MP4/3GPP up to 16 MB as a video, AAC, AMR,
    MP3, M4A or OGG up to 16 MB as audio, everything else (larger pictures too) as a
    document. A text of up to 1024 characters rides as the caption of a first image, video
    or document instead.
    """
    refused = tuple(f for f in files if len(f[2]) > DOCUMENT_LIMIT)
    reason = "; ".join(
        f"{name} is {_mb(len(data))}; WhatsApp takes files up to {_mb(DOCUMENT_LIMIT)}"
        for name, _, data in refused
    )
    steps = [Step(reason, refused, REFUSED)] if refused else []
    files = [f for f in files if len(f[2]) <= DOCUMENT_LIMIT]
    caption = text.strip()
    if files and sort_of(files[0]) != "audio" and caption and len(caption) <= CAPTION_LIMIT:
        steps.append(Step(caption, (files[0],), sort_of(files[0])))
        files = files[1:]
    else:
        steps += [Step(piece) for piece in split_text(text, TEXT_LIMIT)]
    steps += [Step("", (f,), sort_of(f)) for f in files]
    return steps


def sort_of(file: OutgoingFile) -> str:
    """How WhatsApp takes a file: image, video, audio or document."""
    _, mime, data = file
    mime = mime.split(";")[0].strip().lower()
    for sort, mimes in (("image", IMAGE_MIMES), ("video", VIDEO_MIMES), ("audio", AUDIO_MIMES)):
        if mime in mimes and len(data) <= LIMITS[sort]:
            return sort
    return "document"


def refusal(bot: str, step: Step) -> FileTooBig:
    """The error a "refused" step raises."""
    size = max(len(data) for _, _, data in step.files)
    return FileTooBig(f"whatsapp bot '{bot}': {step.text}", size=size, limit=DOCUMENT_LIMIT,
                      reason=step.text)  # fmt: skip


def file_name(name: str) -> str:
    """A document's file name as the customer sees it (no path, at most 240 characters)."""
    name = posixpath.basename(name.replace("\\", "/")).strip() or "file"
    if len(name) <= 240:
        return name
    stem, extension = posixpath.splitext(name)
    return stem[: 240 - len(extension)] + extension
