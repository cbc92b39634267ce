"""The Bot API methods the Telegram double (telegram_api.py) answers, mixed into
TelegramDouble: getMe, getUpdates, setWebhook, deleteWebhook, getWebhookInfo, sendMessage,
sendPhoto, sendDocument, sendMediaGroup, getFile, setMessageReaction. Each checks its
parameters as the real server does and raises ApiError with the real description when
they are wrong. A send with `business_connection_id` goes into a connected account's chat
(telegram_business.py).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from telegram.constants import ReactionEmoji

from .telegram_records import ApiError, Sent, Upload

if TYPE_CHECKING:
    import itertools

    from .telegram_records import User, _Bot

TEXT_LIMIT = 4096  # counted in code points (measured on the real API)
CAPTION_LIMIT = 1024
REACTIONS = frozenset(e.value for e in ReactionEmoji)  # what a bot may set, as Telegram lists
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)


class BotApiMethods:
    """Named _m_<lower-case method>: Bot API method names are case-insensitive."""

    if TYPE_CHECKING:  # provided by TelegramDouble
        download_limit: int
        upload_limit: int
        _users: dict[int, User]
        _sent: list[tuple[str, Sent]]
        _ids: itertools.count[int]
        _bot_reactions: dict[tuple[str, int, int], list[dict[str, Any]]]

        def _spawn(self, coro: Any) -> None: ...
        def _business_chat(self, bot: _Bot, params: dict[str, Any]) -> int: ...
        def _as_account(self, bot: _Bot, via: str, chat_id: int, message: dict) -> None: ...

        async def flush_webhook(self, token: str) -> None: ...

    async def _m_getme(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        return {
            **bot.user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": bot.business,
            "has_main_web_app": False,
        }

    async def _m_getupdates(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        if bot.webhook:
            raise ApiError(409, WEBHOOK_CONFLICT)
        if "allowed_updates" in params:
            bot.allowed_updates = params["allowed_updates"] or None
        offset = params.get("offset")
        if isinstance(offset, int) and offset > 0:
            bot.pending = [u for u in bot.pending if u["update_id"] >= offset]
        elif isinstance(offset, int) and offset < 0:
            bot.pending = bot.pending[offset:]
        limit = min(max(params.get("limit") or 100, 1), 100)
        timeout = max(params.get("timeout") or 0, 0)
        bot.wake_poller(ApiError(409))  # "terminated by other getUpdates request"
        if not bot.pending and timeout:
            bot.poller = asyncio.get_running_loop().create_future()
            waiter = bot.poller
            done, _ = await asyncio.wait({waiter}, timeout=timeout)
            if done and isinstance(waiter.result(), ApiError):
                raise waiter.result()  # type: ignore[misc]
        return bot.pending[:limit]

    async def _m_setwebhook(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        url = params.get("url") or ""
        if not url:
            return await self._m_deletewebhook(bot, params, files)
        if not url.startswith(("https://", "http://")):
            raise ApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        secret = params.get("secret_token")
        if secret is not None and not _valid_secret(secret):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            bot.pending.clear()
        if "allowed_updates" in params:
            bot.allowed_updates = params["allowed_updates"] or None
        bot.webhook = {
            "url": url,
            "secret_token": secret,
            "max_connections": params.get("max_connections", 40),
            "allowed_updates": bot.allowed_updates,
        }
        bot.last_error = None
        bot.wake_poller(ApiError(409, "Conflict: terminated by setWebhook request"))
        if bot.pending:
            self._spawn(self.flush_webhook(bot.token))
        return True

    async def _m_deletewebhook(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        if params.get("drop_pending_updates"):
            bot.pending.clear()
        bot.webhook = None
        return True

    async def _m_getwebhookinfo(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        info: dict[str, Any] = {
            "url": "",
            "has_custom_certificate": False,
            "pending_update_count": len(bot.pending),
        }
        if bot.webhook:
            info.update(
                url=bot.webhook["url"],
                max_connections=bot.webhook["max_connections"],
                ip_address="127.0.0.1",
            )
            if bot.webhook["allowed_updates"]:
                info["allowed_updates"] = bot.webhook["allowed_updates"]
        if bot.last_error:
            info["last_error_date"], info["last_error_message"] = bot.last_error
        return info

    async def _m_sendmessage(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        chat_id = self._chat(bot, params)
        text = str(params.get("text") or "").strip()
        if not text:
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > TEXT_LIMIT:
            raise ApiError(400, "Bad Request: message is too long")
        extra = {"entities": params["entities"]} if params.get("entities") else {}
        return self._sent_message(bot, "sendMessage", chat_id, "text", text, None, None, extra,
                                  via=params.get("business_connection_id"))  # fmt: skip

    async def _m_sendphoto(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        return self._send_file(bot, "sendPhoto", "photo", params, files)

    async def _m_senddocument(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        return self._send_file(bot, "sendDocument", "document", params, files)

    async def _m_sendmediagroup(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        chat_id = self._chat(bot, params)
        media = params.get("media")
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise ApiError(400, "Bad Request: wrong number of media in the album")  # wording ~
        kinds = {m.get("type") for m in media}
        if "document" in kinds and kinds != {"document"}:
            raise ApiError(400, "Bad Request: documents can't be mixed with other media types")
        group = str(13_000_000_000_000_000 + next(self._ids))
        items = [(m["type"], _input_file(bot, m.get("media"), files, m["type"]), m) for m in media]
        for kind, upload, item in items:
            self._check_file(kind, upload, item.get("caption") or "")
        return [
            self._sent_message(
                bot,
                "sendMediaGroup",
                chat_id,
                kind,
                item.get("caption") or "",
                upload,
                group,
                via=params.get("business_connection_id"),
            )
            for kind, upload, item in items
        ]

    async def _m_getfile(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        stored = bot.files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if stored.size > self.download_limit:
            raise ApiError(400, "Bad Request: file is too big")
        return {**stored.json(), "file_path": stored.file_path}

    async def _m_setmessagereaction(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        """The bot's reaction on a message of the chat: one at most (a bot is no premium
        user), an emoji from Telegram's list; none removes it."""
        chat_id = self._chat(bot, params)
        message_id = params.get("message_id")
        if not isinstance(message_id, int) or not bot.has_message(chat_id, message_id):
            raise ApiError(400, "Bad Request: message to react not found")
        reaction = params.get("reaction") or []
        if not isinstance(reaction, list):
            raise ApiError(400, "Bad Request: can't parse reaction types JSON object")
        if len(reaction) > 1:
            raise ApiError(400, "Bad Request: REACTIONS_TOO_MANY")
        for item in reaction:
            if not isinstance(item, dict) or item.get("type") != "emoji":
                raise ApiError(400, "Bad Request: REACTION_INVALID")
            if item.get("emoji") not in REACTIONS:
                raise ApiError(400, "Bad Request: REACTION_INVALID")
        self._bot_reactions[(bot.token, chat_id, message_id)] = list(reaction)
        return True

    def _chat(self, bot: _Bot, params: dict[str, Any]) -> int:
        if params.get("business_connection_id"):
            return self._business_chat(bot, params)
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int) or chat_id not in self._users:
            raise ApiError(400, "Bad Request: chat not found")
        if chat_id in bot.blocked_by:
            raise ApiError(403)
        return chat_id

    def _send_file(
        self, bot: _Bot, method: str, kind: str, params: dict[str, Any], files: dict[str, Upload]
    ) -> Any:
        chat_id = self._chat(bot, params)
        upload = _input_file(bot, params.get(kind), files, kind, field_name=kind)
        caption = str(params.get("caption") or "").strip()
        self._check_file(kind, upload, caption)
        via = params.get("business_connection_id")
        return self._sent_message(bot, method, chat_id, kind, caption, upload, None, via=via)

    def _check_file(self, kind: str, upload: Upload, caption: str) -> None:
        if len(caption) > CAPTION_LIMIT:
            raise ApiError(400, "Bad Request: message caption is too long")
        if len(upload.data) > self.upload_limit:
            raise ApiError(413)
        if kind == "photo" and not upload.data.startswith((b"\xff\xd8\xff", b"\x89PNG")):
            raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")

    def _sent_message(
        self,
        bot: _Bot,
        method: str,
        chat_id: int,
        kind: str,
        text: str,
        upload: Upload | None,
        group: str | None,
        extra: dict[str, Any] | None = None,
        *,
        via: str | None = None,
    ) -> dict[str, Any]:
        user = self._users[chat_id]
        message: dict[str, Any] = {
            "message_id": 0 if via else bot.next_message_id(chat_id),
            "from": bot.user(),
            "chat": user.chat(),
            "date": int(time.time()),
        }
        if group:
            message["media_group_id"] = group
        if kind == "text":
            message.update(text=text, **(extra or {}))
        else:
            assert upload is not None
            stored = bot.store(upload.data, None, None, kind)
            if kind == "photo":
                message["photo"] = [{**stored.json(), "width": 1280, "height": 960}]
            else:
                message["document"] = {
                    **stored.json(),
                    "file_name": upload.filename or "file",
                    "mime_type": upload.content_type,
                }
            if text:
                message["caption"] = text
        if via:
            self._as_account(bot, via, chat_id, message)
        sent = Sent(method, chat_id, message["message_id"], kind, text, upload, group, message,
                    business_connection_id=via)  # fmt: skip
        self._sent.append((bot.token, sent))
        return message


def _valid_secret(secret: Any) -> bool:
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
    return isinstance(secret, str) and 1 <= len(secret) <= 256 and set(secret) <= allowed


def _input_file(
    bot: _Bot, value: Any, files: dict[str, Upload], kind: str, field_name: str | None = None
) -> Upload:
    """An InputFile parameter: an uploaded part (by field name or attach://<name>), or the
    file_id of a file the bot knows."""
    if isinstance(value, str) and value.startswith("attach://"):
        upload = files.get(value.removeprefix("attach://"))
    elif field_name and field_name in files:
        upload = files[field_name]
    elif isinstance(value, str) and value in bot.files:
        stored = bot.files[value]
        upload = Upload(
            kind, stored.file_path.rsplit("/", 1)[-1], "application/octet-stream", stored.data
        )
    else:
        upload = None
    if upload is None:
        raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
    return upload
