"""What customers do, as the updates Telegram would send: the test-side builders of the
Telegram Bot API double (telegram_api.py), mixed into TelegramDouble.

Messages come with the fields Telegram fills in (message ids per chat, dates, a /command's
entity); files are stored in the bot so it can getFile and download them, as on the real
server; each update is queued or delivered by the double's push_update.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .telegram_records import User

if TYPE_CHECKING:
    import itertools

    from .streams import Stream
    from .telegram_records import _Bot

_MEDIA_FIELDS: dict[str, dict[str, Any]] = {
    "video": {"duration": 5, "width": 640, "height": 360, "mime_type": "video/mp4"},
    "voice": {"duration": 3, "mime_type": "audio/ogg"},
    "audio": {"duration": 95, "performer": "Гурт", "title": "Пісня", "mime_type": "audio/mpeg"},
    "video_note": {"duration": 4, "length": 240},
    "animation": {"duration": 2, "width": 320, "height": 240, "file_name": "giphy.mp4",
                  "mime_type": "video/mp4"},
    "sticker": {"width": 512, "height": 512, "emoji": "👍", "set_name": "ShopStickers",
                "is_animated": False, "is_video": False, "type": "regular"},
}  # fmt: skip
_MEDIA_BYTES = {"video": b"\x00\x00\x00\x18ftypmp42", "voice": b"OggS voice",
                "sticker": b"RIFF\x00\x00\x00\x00WEBPVP8 ", "document": b"%PDF-1.4"}  # fmt: skip
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"  # a JPEG's start


class CustomerUpdates:
    """push_message, push_text, push_photo... of TelegramDouble (see its docstring)."""

    if TYPE_CHECKING:  # provided by TelegramDouble
        _ids: itertools.count[int]
        _customer_reactions: dict[tuple[str, int, int], list[dict[str, Any]]]

        def _bot(self, token: str) -> _Bot: ...

        async def push_update(self, token: str, update: dict[str, Any]) -> dict[str, Any]: ...

    async def push_message(self, token: str, user: User, **content: Any) -> dict[str, Any]:
        """A message from `user` with any content fields (text=..., location=...)."""
        return await self.push_update(token, {"message": self.message(token, user, **content)})

    def message(self, token: str, user: User, **content: Any) -> dict[str, Any]:
        """A Message object from `user` in their private chat (not pushed)."""
        return {
            "message_id": self._bot(token).next_message_id(user.id),
            "from": user.json(),
            "chat": user.chat(),
            "date": int(time.time()),
            **content,
        }

    async def push_text(
        self, token: str, user: User, text: str, entities: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """A text message; a leading /command gets its bot_command entity."""
        if entities is None and text.startswith("/"):
            entities = [{"offset": 0, "length": len(text.split()[0]), "type": "bot_command"}]
        extra = {"entities": entities} if entities else {}
        return await self.push_message(token, user, text=text, **extra)

    async def push_start(
        self, token: str, user: User, payload: str | None = None
    ) -> dict[str, Any]:
        """The customer pressed Start, from a deep link t.me/<bot>?start=<payload> or not."""
        return await self.push_text(token, user, f"/start {payload}" if payload else "/start")

    async def push_photo(
        self,
        token: str,
        user: User,
        data: bytes = JPEG + b"photo",
        caption: str = "",
        media_group_id: str | None = None,
        size: int | None = None,
    ) -> dict[str, Any]:
        """A photo in three sizes, as Telegram makes them; the largest holds `data`."""
        return await self.push_message(
            token, user, **self._photo(token, data, caption, media_group_id, size)
        )

    async def push_album(
        self,
        token: str,
        user: User,
        count: int = 3,
        caption: str = "",
        photos: list[bytes] | None = None,
    ) -> list[dict[str, Any]]:
        """`count` photo messages sharing one media_group_id; the caption on the first."""
        group = str(13_000_000_000_000_000 + next(self._ids))
        photos = photos or [JPEG + f"album photo {i}".encode() for i in range(count)]
        return [
            await self.push_photo(token, user, data, caption if i == 0 else "", group)
            for i, data in enumerate(photos)
        ]

    async def push_document(
        self, token: str, user: User, data: bytes | Stream = b"%PDF-1.4 invoice", **fields: Any
    ) -> dict[str, Any]:
        """A document (default: invoice.pdf, application/pdf); fields as for push_file."""
        fields = {"file_name": "invoice.pdf", "mime_type": "application/pdf", **fields}
        return await self.push_file(token, user, "document", data, **fields)

    async def push_file(
        self,
        token: str,
        user: User,
        kind: str,
        data: bytes | Stream | None = None,
        caption: str = "",
        size: int | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """A message with one file of `kind`: document, video, voice, audio, animation,
        video_note, sticker. Realistic fields come by default (duration, mime_type, a
        sticker's emoji and set_name...); `fields` add to or override them (file_name=...,
        is_animated=True). `size` is the size Telegram announces (default: len(data))."""
        fields = {**_MEDIA_FIELDS.get(kind, {}), **fields}
        data = _MEDIA_BYTES.get(kind, b"data") if data is None else data
        stored = self._bot(token).store(data, None, size, kind)
        content: dict[str, Any] = {kind: {**stored.json(), **fields}}
        if kind == "animation":  # Telegram sends a GIF as both
            keep = ("file_name", "mime_type")
            content["document"] = {**stored.json(), **{k: fields[k] for k in keep}}
        if caption:
            content["caption"] = caption
        return await self.push_message(token, user, **content)

    async def push_contact(
        self,
        token: str,
        user: User,
        phone: str = "380671234567",
        own: bool = True,
        first_name: str | None = None,
    ) -> dict[str, Any]:
        """A shared contact; `own`: the customer's own number (the request_contact button)."""
        contact: dict[str, Any] = {
            "phone_number": phone,
            "first_name": first_name or user.first_name,
        }
        if own:
            contact["user_id"] = user.id
            if user.last_name:
                contact["last_name"] = user.last_name
        return await self.push_message(token, user, contact=contact)

    async def push_location(
        self, token: str, user: User, latitude: float = 50.450123, longitude: float = 30.523456
    ) -> dict[str, Any]:
        return await self.push_message(
            token, user, location={"latitude": latitude, "longitude": longitude}
        )

    async def push_venue(
        self,
        token: str,
        user: User,
        title: str = "Друкарня «Аркуш»",
        address: str = "вул. Хрещатик, 1, Київ",
        latitude: float = 50.4501,
        longitude: float = 30.5234,
    ) -> dict[str, Any]:
        location = {"latitude": latitude, "longitude": longitude}
        venue = {"location": location, "title": title, "address": address}
        return await self.push_message(token, user, location=location, venue=venue)

    async def push_edit(self, token: str, original: dict[str, Any], text: str) -> dict[str, Any]:
        """The customer edited the message of an earlier update (text or caption)."""
        message = dict(original.get("message") or original["edited_message"])
        message["edit_date"] = int(time.time())
        message["caption" if "caption" in message else "text"] = text
        return await self.push_update(token, {"edited_message": message})

    async def push_reaction(
        self, token: str, user: User, message_id: int, *emoji: str, big: bool = False
    ) -> dict[str, Any]:
        """message_reaction: the customer's reactions on message `message_id` of their chat
        are now `emoji` (none: taken back); old_reaction is what they were. Telegram sends
        it only to a bot whose allowed_updates name it (not by default)."""
        key = (token, user.id, message_id)
        old = self._customer_reactions.get(key, [])
        new = [{"type": "emoji", "emoji": e} for e in emoji]
        self._customer_reactions[key] = new
        change = {
            "chat": user.chat(),
            "message_id": message_id,
            "user": user.json(),
            "date": int(time.time()),
            "old_reaction": old,
            "new_reaction": new,
        }
        return await self.push_update(token, {"message_reaction": change})

    async def push_member(self, token: str, user: User, status: str) -> dict[str, Any]:
        """my_chat_member: "kicked" (the customer blocked the bot; sends to them now get 403)
        or "member" (unblocked)."""
        bot = self._bot(token)
        if status == "kicked":
            bot.blocked_by.add(user.id)
        else:
            bot.blocked_by.discard(user.id)
        old = "member" if status == "kicked" else "kicked"

        def member(s: str) -> dict[str, Any]:
            return {"user": bot.user(), "status": s, **({"until_date": 0} if s == "kicked" else {})}

        change = {
            "chat": user.chat(),
            "from": user.json(),
            "date": int(time.time()),
            "old_chat_member": member(old),
            "new_chat_member": member(status),
        }
        return await self.push_update(token, {"my_chat_member": change})

    def _photo(
        self,
        token: str,
        data: bytes,
        caption: str = "",
        media_group_id: str | None = None,
        size: int | None = None,
    ) -> dict[str, Any]:
        bot = self._bot(token)
        sizes = []
        variants = (
            ((90, 67), b"thumb", None),
            ((320, 240), b"medium", None),
            ((1280, 960), data, size),
        )
        for (w, h), blob, announced in variants:
            file = bot.store(blob, None, announced, "photo")
            sizes.append({**file.json(), "width": w, "height": h})
        content: dict[str, Any] = {"photo": sizes}
        if caption:
            content["caption"] = caption
        if media_group_id:
            content["media_group_id"] = media_group_id
        return content
