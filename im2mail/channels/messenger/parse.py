"""Messenger, the pure half: webhook POSTs -> Incoming values, and the plan of an answer as
Send API calls. No network; `im2mail.channels.messenger` re-exports the public names.

A webhook POST (https://developers.facebook.com/docs/messenger-platform/webhooks) is
{"object": "page", "entry": [{"id": PAGE_ID, "time": ms, "messaging": [event, ...]}]},
each event {"sender": {"id": PSID}, "recipient": {"id": PAGE_ID}, "timestamp": ms, ...}
with one of:

  message   {mid, text?, attachments?: [{type, payload: {url} | {coordinates: {lat,
            long}}}], quick_reply?, reply_to?, referral?, is_echo?}   -> one Incoming
            (echoes of the Page's own sends are skipped)
  postback  {title, payload, mid?, referral?}   -> a text Incoming: the button's title
  referral  {ref, source, type}   -> event "started" with customer.source = ref
  delivery  {mids?, watermark}    -> one "delivered" receipt per mid; with no mids, one
                                     for everything sent up to the watermark
  read      {watermark}           -> "seen" for everything sent up to the watermark
  (a receipt by watermark has channel_message_id None and `created` = the watermark)
  message_edit  {mid, text, num_edit}   -> an edited Incoming: message mid's new text
  reaction  {reaction, emoji, action: react|unreact, mid}   -> event "reaction" on mid
            (one reaction per person and message: unreact leaves none)

Names are not in the webhook: the customer is Customer("messenger", PSID), until the relay
asks for the profile (Messenger.describe).
"""

from __future__ import annotations

import mimetypes
import posixpath
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from ...model import Customer, Incoming, IncomingFile
from ...untrusted import file_name
from .. import fields
from ..base import FileTooBig, MalformedUpdate, OutgoingFile, Step
from ..text import split_text

TEXT_LIMIT = 2000  # characters of a text message (Send API)
MB = fields.MB
FILE_LIMIT = 25 * MB  # an attachment sent or received
# The webhook fields im2mail subscribes the Page to (POST /me/subscribed_apps).
SUBSCRIBED_FIELDS = ("messages", "messaging_postbacks", "messaging_referrals",
                     "message_deliveries", "message_reads", "message_edits",
                     "message_reactions")  # fmt: skip
SOURCE_LIMIT = 64
REFUSED = "refused"  # a step that names files Messenger can't take; raises without a call
# Step sorts are the Send API's attachment types, plus "text" and REFUSED.
ATTACHMENT_SORTS = ("image", "video", "audio", "file")
IMAGE_MIMES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
VIDEO_MIMES = frozenset({"video/mp4", "video/quicktime", "video/webm", "video/3gpp"})
AUDIO_MIMES = frozenset({"audio/mpeg", "audio/mp4", "audio/aac", "audio/ogg", "audio/wav",
                         "audio/x-wav", "audio/mp3", "audio/x-m4a"})  # fmt: skip

# Customer attachment type -> (Incoming kind, file name stem, default extension, mime).
_MEDIA = {
    "image": ("photo", "photo", ".jpg", "image/jpeg"),
    "video": ("video", "video", ".mp4", "video/mp4"),
    "audio": ("audio", "audio", ".mp4", "audio/mp4"),
    "file": ("document", "file", "", "application/octet-stream"),
    "sticker": ("sticker", "sticker", ".png", "image/png"),
}
_SOURCE_JUNK = re.compile(r"[^A-Za-z0-9_-]+")
# A reaction's "reaction" word, for an event without its emoji.
_REACTIONS = {"love": "❤", "smile": "😆", "wow": "😮", "sad": "😢", "angry": "😠",
              "like": "👍", "dislike": "👎"}  # fmt: skip


_Bad = fields.BadField
_dict, _text, _required_text = fields.obj, fields.text, fields.required_text
_number, _mb = fields.number, fields.megabytes


def _id(holder: dict[str, Any], key: str) -> str:
    return fields.ident(holder, key, numbers=True)


# -- webhooks --------------------------------------------------------------------------------


def parse_webhook(bot: str, raw: Any, page_id: str | None = None) -> list[Incoming]:
    """What customers did, from one webhook POST body (several events may come at once).

    [] for objects other than "page", for echoes, read receipts and events of no interest;
    entries of another Page than `page_id` (when known) are skipped, since one Meta app
    sends every Page's events to the same callback URL. MalformedUpdate, and nothing
    else, for a body without the documented fields or with fields of the wrong type.
    """
    where = f"messenger bot '{bot}'"
    if not isinstance(raw, dict):
        raise MalformedUpdate(f"{where}: a webhook body that is not a JSON object")
    if raw.get("object") != "page":
        return []
    entries = raw.get("entry")
    if not isinstance(entries, list):
        raise MalformedUpdate(f"{where}: a webhook body without entries")
    found: list[Incoming] = []
    for entry in entries:
        try:
            found += _entry(bot, entry, page_id)
        except _Bad as e:
            raise MalformedUpdate(f"{where}: a malformed webhook event ({e})") from None
    return found


def _entry(bot: str, entry: Any, page_id: str | None) -> list[Incoming]:
    if not isinstance(entry, dict):
        raise _Bad("an entry that is not an object")
    entry_page = _id(entry, "id")
    if page_id and entry_page != page_id:
        return []
    events = entry.get("messaging")
    if events is None:  # "standby", "changes": another app's thread or other fields
        return []
    if not isinstance(events, list):
        raise _Bad("messaging is not a list")
    found: list[Incoming] = []
    for event in events:
        if not isinstance(event, dict):
            raise _Bad("an event that is not an object")
        found += _event(bot, event, entry)
    return found


def _event(bot: str, event: dict[str, Any], entry: dict[str, Any]) -> list[Incoming]:
    if "message" in event:
        message = _dict(event, "message")
        if message.get("is_echo") is True:
            return []  # the Page's own message (ours, or typed in the Page inbox)
        return [_message(bot, event, message)]
    if "postback" in event:
        return [_postback(bot, event)]
    if "referral" in event:
        return [_referral(bot, event)]
    if "delivery" in event:
        return _delivery(bot, event, entry)
    if "read" in event:
        read = _dict(event, "read")
        return [_watermark(bot, event, "seen", _time(read, "watermark"))]
    if "message_edit" in event:
        return [_edit(bot, event)]
    if "reaction" in event:
        return [_reaction(bot, event)]
    return []  # optin, handover...: nothing for the managers


def _watermark(bot: str, event: dict[str, Any], receipt: str, until: datetime) -> Incoming:
    """A receipt for every message the Page sent the customer up to `until`."""
    psid = _sender(event)
    return Incoming(
        bot=bot,
        customer=Customer("messenger", psid),
        dedupe_key=f"messenger:{bot}:{receipt}:{psid}:{int(until.timestamp() * 1000)}",
        created=until,
        kind="event",
        chat_id=psid,
        event=receipt,
        raw=event,
    )


def _message(bot: str, event: dict[str, Any], message: dict[str, Any]) -> Incoming:
    psid = _sender(event)
    mid = _id(message, "mid")
    kind, text, files = _content(message, mid)
    return Incoming(
        bot=bot,
        customer=_customer(psid, _referral_source(message)),
        dedupe_key=f"messenger:{bot}:{mid}",
        created=_time(event),
        kind=kind,
        text=text,
        channel_message_id=mid,
        chat_id=psid,
        files=files,
        raw=event,
    )


def _edit(bot: str, event: dict[str, Any]) -> Incoming:
    """message_edits: the customer changed the text of message `mid` (up to five times)."""
    psid = _sender(event)
    edit = _dict(event, "message_edit")
    mid = _id(edit, "mid")
    count = edit.get("num_edit")
    number = str(count) if isinstance(count, int | str) and not isinstance(count, bool) else ""
    return Incoming(
        bot=bot,
        customer=_customer(psid),
        dedupe_key=f"messenger:{bot}:edit:{mid}:{number or _ms(event)}",
        created=_time(event),
        kind="text",
        text=_text(edit, "text"),
        channel_message_id=mid,
        chat_id=psid,
        edited=True,
        raw=event,
    )


def _reaction(bot: str, event: dict[str, Any]) -> Incoming:
    """message_reactions: the customer reacted to message `mid` (one reaction a person:
    a new one replaces theirs), or took it back (action "unreact")."""
    psid = _sender(event)
    reaction = _dict(event, "reaction")
    mid = _id(reaction, "mid")
    action = _text(reaction, "action")
    named = _REACTIONS.get(_text(reaction, "reaction"), "")
    emoji = _text(reaction, "emoji").strip() or named
    return Incoming(
        bot=bot,
        customer=_customer(psid),
        dedupe_key=f"messenger:{bot}:reaction:{mid}:{psid}:{_ms(event)}:{action}",
        created=_time(event),
        kind="event",
        channel_message_id=mid,
        chat_id=psid,
        event="reaction",
        raw=event,
        reactions=(emoji,) if action != "unreact" and emoji else (),
    )


def _postback(bot: str, event: dict[str, Any]) -> Incoming:
    """A button press (Get Started, a persistent menu item, a postback button): a message
    whose text is the button's title."""
    psid = _sender(event)
    postback = _dict(event, "postback")
    title = _text(postback, "title").strip()
    payload = _text(postback, "payload").strip()
    mid = _text(postback, "mid")
    ident = mid or f"postback:{psid}:{_ms(event)}"
    return Incoming(
        bot=bot,
        customer=_customer(psid, _referral_source(postback)),
        dedupe_key=f"messenger:{bot}:{ident}",
        created=_time(event),
        kind="text",
        text=title or payload,
        channel_message_id=mid or None,
        chat_id=psid,
        raw=event,
    )


def _referral(bot: str, event: dict[str, Any]) -> Incoming:
    """A customer who already has a thread came back through an m.me link (?ref=...) or
    an ad: the chat was opened, with a lead source."""
    psid = _sender(event)
    source = _referral_source(event)
    return Incoming(
        bot=bot,
        customer=_customer(psid, source),
        dedupe_key=f"messenger:{bot}:referral:{psid}:{_ms(event)}",
        created=_time(event),
        kind="text",
        chat_id=psid,
        start=True,
        event="started",
        raw=event,
    )


def _delivery(bot: str, event: dict[str, Any], entry: dict[str, Any]) -> list[Incoming]:
    """One "delivered" receipt per message id. Older clients send only a watermark (every
    message before it was delivered): one receipt by watermark."""
    psid = _sender(event)
    delivery = _dict(event, "delivery")
    mids = delivery.get("mids")
    if mids is None:
        return [_watermark(bot, event, "delivered", _time(delivery, "watermark"))]
    if not isinstance(mids, list) or not all(isinstance(m, str) and m for m in mids):
        raise _Bad("delivery.mids is not a list of ids")
    if "timestamp" in event:
        when = _time(event)
    elif "watermark" in delivery:
        when = _time(delivery, "watermark")
    else:
        when = _time(entry, "time")
    return [
        Incoming(
            bot=bot,
            customer=Customer("messenger", psid),
            dedupe_key=f"messenger:{bot}:delivered:{mid}",
            created=when,
            kind="event",
            channel_message_id=mid,
            chat_id=psid,
            event="delivered",
            raw=event,
        )
        for mid in dict.fromkeys(mids)
    ]


# -- message content ---------------------------------------------------------------------------


def _content(message: dict[str, Any], mid: str) -> tuple[str, str, tuple[IncomingFile, ...]]:
    """(kind, text, files). Media URLs are CDN links that expire: fetched at once."""
    text = _text(message, "text")
    attachments = message.get("attachments", [])
    if not isinstance(attachments, list):
        raise _Bad("attachments is not a list")
    for a in attachments:
        if not isinstance(a, dict) or not isinstance(a.get("type"), str):
            raise _Bad("an attachment without a type")
    # Stickers come as a "sticker" and, during Meta's transition, also as an "image".
    if any(a["type"] == "sticker" for a in attachments):
        attachments = [a for a in attachments if a["type"] != "image"]
    kinds: list[str] = []
    lines = [text] if text else []
    files: list[IncomingFile] = []
    for n, a in enumerate(attachments, 1):
        stem = f"{_short(mid)}_{n}" if len(attachments) > 1 else _short(mid)
        kind, line, file = _attachment(a, stem)
        kinds.append(kind)
        if line:
            lines.append(line)
        if file is not None:
            files.append(file)
    kind = "text" if text or not kinds else kinds[0]
    return kind, "\n".join(lines), tuple(files)


def _attachment(a: dict[str, Any], stem: str) -> tuple[str, str, IncomingFile | None]:
    kind_of = a["type"]
    payload = a.get("payload")
    if payload is not None and not isinstance(payload, dict):
        raise _Bad("an attachment payload that is not an object")
    payload = payload or {}
    if kind_of == "image" and payload.get("sticker_id") is not None:
        kind_of = "sticker"  # older clients: a sticker is an image with a sticker_id
    if kind_of in _MEDIA:
        kind, prefix, extension, mime = _MEDIA[kind_of]
        url = _required_text(payload, "url")
        name = file_name(_url_name(url)) or f"{prefix}_{stem}{extension}"
        guessed = mimetypes.guess_type(name, strict=False)[0]
        file = IncomingFile(url, name, guessed or mime, None, kind)
        return kind, ("sticker" if kind == "sticker" else ""), file
    if kind_of == "location":
        place = _dict(payload, "coordinates")
        lat, lon = _number(place, "lat"), _number(place, "long")
        title = _text(a, "title").strip()
        return "location", "📍 " + "\n".join(x for x in (title, _where(lat, lon)) if x), None
    if kind_of == "fallback":  # a shared link
        words = (_text(a, "title").strip(), _text(a, "url").strip() or _text(payload, "url"))
        return "text", "\n".join(w for w in words if w), None
    url = _text(payload, "url") or _text(a, "url")
    return "other", f"(unsupported Messenger attachment: {kind_of}) {url}".strip(), None


def _short(mid: str) -> str:
    """A file name stem from a message id (they run to 90 characters)."""
    tail = re.sub(r"[^A-Za-z0-9]+", "", mid)[-12:]
    return tail or "message"


def _url_name(url: str) -> str:
    """The last path segment of a CDN URL when it looks like a file name."""
    last = unquote(posixpath.basename(urlsplit(url).path))
    return last if "." in last.strip(".") and len(last) <= 200 else ""


def _where(lat: float, lon: float) -> str:
    lat, lon = round(lat, 6), round(lon, 6)
    return f"{lat}, {lon}\nhttps://maps.google.com/?q={lat},{lon}"


def source_of(ref: str) -> str | None:
    """A referral's ref as a lead source: [A-Za-z0-9_-], at most 64 characters."""
    cleaned = _SOURCE_JUNK.sub("_", ref.strip()).strip("_")[:SOURCE_LIMIT]
    return cleaned or None


def _referral_source(holder: dict[str, Any]) -> str | None:
    referral = holder.get("referral")
    if referral is None:
        return None
    if not isinstance(referral, dict):
        raise _Bad("referral is not an object")
    return source_of(_text(referral, "ref"))


def _customer(psid: str, source: str | None = None) -> Customer:
    return Customer("messenger", psid, source=source)


# -- field readers ---------------------------------------------------------------------------


def _sender(event: dict[str, Any]) -> str:
    return _id(_dict(event, "sender"), "id")


def _ms(holder: dict[str, Any], key: str = "timestamp") -> int:
    """A time in milliseconds; a string of digits and seconds (the dashboard's test
    events) are taken too."""
    value = holder.get(key)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if not ((isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, float)):
        raise _Bad(f"no {key}")
    if value < 0:
        raise _Bad(f"a negative {key}")
    return int(value * 1000) if value < 10**11 else int(value)


def _time(holder: dict[str, Any], key: str = "timestamp") -> datetime:
    try:
        return datetime.fromtimestamp(_ms(holder, key) / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        raise _Bad(f"{key} out of range") from None


# -- planning an answer ----------------------------------------------------------------------


def plan_steps(text: str, files: Sequence[OutgoingFile] = ()) -> list[Step]:
    """The Send API calls that deliver text and files, in order; pure.

    Files over 25 MB make one "refused" step first, so the delivery fails before anything
    went out. Text goes in pieces of up to 2000 characters (a Messenger message carries
    text or one attachment, never both); then each file, in the manager's order, as its own
    message: an image, video or audio by its type, anything else as a file.
    """
    refused = tuple(f for f in files if len(f[2]) > FILE_LIMIT)
    steps: list[Step] = []
    if refused:
        words = "; ".join(f"{name} is {_mb(len(data))}" for name, _, data in refused)
        steps.append(Step(f"{words}; Messenger takes files up to {_mb(FILE_LIMIT)}", refused,
                          REFUSED))  # fmt: skip
    steps += [Step(piece) for piece in split_text(text, TEXT_LIMIT)]
    steps += [Step("", (f,), attachment_type(f[1])) for f in files if f not in refused]
    return steps


def attachment_type(mime: str) -> str:
    """The Send API attachment type for a file of this mime type."""
    mime = mime.lower().split(";")[0].strip()
    if mime in IMAGE_MIMES:
        return "image"
    if mime in VIDEO_MIMES:
        return "video"
    if mime in AUDIO_MIMES:
        return "audio"
    return "file"


def refusal(bot: str, step: Step) -> FileTooBig:
    """The error a "refused" step raises."""
    sizes = [len(data) for _, _, data in step.files]
    return FileTooBig(f"messenger bot '{bot}': {step.text}", size=max(sizes, default=None),
                      limit=FILE_LIMIT, reason=step.text)  # fmt: skip


def window_reason(human_agent_days: int, meta: str = "") -> str:
    """What the manager reads when the messaging window is closed."""
    tag = (
        f"{human_agent_days} days with the human agent tag"
        if human_agent_days > 0
        else "the human agent tag, which allows up to 7 days, is turned off for this bot"
    )
    said = f" (Meta said: {meta})" if meta else ""
    return (
        "Messenger lets a Page answer only within 24 hours of the customer's last message "
        f"({tag}). This customer wrote longer ago, so nothing was sent. They have to write "
        "to the Page again before an answer can reach them; or reach them another way "
        f"(phone, email).{said}"
    )
