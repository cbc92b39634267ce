"""Telegram Business in the Telegram double (telegram_api.py), mixed into TelegramDouble: an
owner with Telegram Premium connects the bot to their own account, and the bot gets that
account's private chats.

Test side:

    owner = tg.customer("Ірина", username="iryna_shop")
    connection = await tg.connect_business(token, owner)           # business_connection
    await tg.push_business_text(token, connection, olena, "Привіт!") # business_message
    await tg.push_owner_text(token, connection, olena, "Вітаю!")     # the owner, from the phone
    await tg.push_business_deleted(token, connection, olena, [1, 2]) # deleted_business_messages
    await tg.change_business(token, connection, enabled=False)       # disconnected

The Bot API side: getBusinessConnection, and `business_connection_id` on sendMessage,
sendPhoto, sendDocument and sendMediaGroup, which send into the account's chat as the
account (the sent message has the owner as `from`, the customer's chat as `chat`, and
`sender_business_bot`). Message ids count per chat of the account, apart from the bot's
own chats. What is sent this way comes back as a `business_message` update too, as the
account's outgoing message (`business_echo`; UNCONFIRMED that Telegram sends these).

Refusals, as the Bot API words them. The Bot API server (tdlib/telegram-bot-api,
telegram-bot-api/Client.cpp, Client::fail_query_with_error) prefixes an error with its
status ("Bad Request: ", "Forbidden: "), lower-cases the first letter of a sentence,
passes an upper-case MTProto error id as it is, and answers a 403 whose text is such an id
with 400 instead:
- an unknown connection id: 400 "Bad Request: business connection not found". Confirmed:
  tdlib's BusinessConnectionManager::check_business_connection (tdlib/td,
  td/telegram/BusinessConnectionManager.cpp: "Business connection not found"), and
  vendelieu/telegram-bot's tests against the live Bot API expect these exact words
  (telegram-bot/src/jvmTest/kotlin/eu/vendeli/api/business/BusinessApiTest.kt);
- the owner's own chat: 400 "Bad Request: messages must not be sent to self". Confirmed:
  the same tdlib function ("Messages must not be sent to self"), worded by Client.cpp;
- a disabled connection: 400 "Bad Request: BUSINESS_CONNECTION_INVALID". The wording is
  the MTProto error's (https://core.telegram.org/method/messages.sendMultiMedia, "Possible
  errors": 400 BUSINESS_CONNECTION_INVALID), as Client.cpp passes it; UNCONFIRMED that a
  disabled connection gets it (tdlib leaves is_disabled to Telegram's servers: "no need to
  check connection->can_reply_ and connection->is_disabled_", and nothing public says
  what they answer);
- a connection without the right to reply: 400 "Bad Request: BOT_ACCESS_FORBIDDEN". The
  MTProto error is 403 BOT_ACCESS_FORBIDDEN ("an operation that is not allowed over a
  business connection": https://core.telegram.org/method/messages.deleteMessages,
  "Possible errors"), which the Bot API server turns into 400 (above);
  UNCONFIRMED that a missing can_reply gets it (the same tdlib comment).
"""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .telegram_records import ApiError, User

if TYPE_CHECKING:
    from .telegram_records import _Bot

NOT_FOUND = "Bad Request: business connection not found"
TO_SELF = "Bad Request: messages must not be sent to self"
# Wordings confirmed; UNCONFIRMED which error Telegram gives for these two cases (above).
INVALID = "Bad Request: BUSINESS_CONNECTION_INVALID"
NO_RIGHTS = "Bad Request: BOT_ACCESS_FORBIDDEN"


@dataclass
class Account:
    """A business connection of one bot to one owner's account."""

    token: str
    id: str
    owner: User
    enabled: bool = True
    can_reply: bool = True
    date: int = field(default_factory=lambda: int(time.time()))
    message_ids: dict[int, itertools.count[int]] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        """A BusinessConnection as Bot API 9.0+ sends it: the rights an owner granted,
        each present only when true."""
        rights = {"can_read_messages": True, **({"can_reply": True} if self.can_reply else {})}
        return {
            "id": self.id,
            "user": self.owner.json(),
            "user_chat_id": self.owner.id,
            "date": self.date,
            "is_enabled": self.enabled,
            "rights": rights,
        }

    def next_message_id(self, chat_id: int) -> int:
        return next(self.message_ids.setdefault(chat_id, itertools.count(1)))


class BusinessAccounts:
    """connect_business, push_business_text ... of TelegramDouble (see the docstring)."""

    business_echo: bool = True  # sent messages come back as business_message updates

    if TYPE_CHECKING:  # provided by TelegramDouble
        _accounts: dict[str, Account]
        _users: dict[int, User]

        def _bot(self, token: str) -> _Bot: ...
        def _spawn(self, coro: Any) -> None: ...

        async def push_update(self, token: str, update: dict[str, Any]) -> dict[str, Any]: ...

    # -- test side ---------------------------------------------------------------------------

    async def connect_business(
        self, token: str, owner: User, *, can_reply: bool = True, enabled: bool = True,
        announce: bool = True,
    ) -> str:  # fmt: skip
        """The owner connects the bot to their account (Settings > Telegram Business >
        Chatbots); returns the connection id. `announce`: Telegram sends the
        business_connection update (False: the bot never heard of it)."""
        self._bot(token).business = True
        self._users.setdefault(owner.id, owner)
        account = Account(token, secrets.token_urlsafe(12), owner, enabled, can_reply)
        self._accounts[account.id] = account
        if announce:
            await self.push_update(token, {"business_connection": account.json()})
        return account.id

    async def change_business(
        self, token: str, connection: str, *, enabled: bool | None = None,
        can_reply: bool | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """The owner turns the connection off or on, or changes its rights."""
        account = self._account(token, connection)
        if enabled is not None:
            account.enabled = enabled
        if can_reply is not None:
            account.can_reply = can_reply
        return await self.push_update(token, {"business_connection": account.json()})

    def business_message(
        self, token: str, connection: str, user: User, *, from_owner: bool = False, **content: Any
    ) -> dict[str, Any]:
        """A message in the account's chat with `user` (not pushed): theirs, or the
        owner's (`from_owner`)."""
        account = self._account(token, connection)
        self._users.setdefault(user.id, user)
        return {
            "business_connection_id": account.id,
            "message_id": account.next_message_id(user.id),
            "from": (account.owner if from_owner else user).json(),
            "chat": user.chat(),
            "date": int(time.time()),
            **content,
        }

    async def push_business_text(
        self, token: str, connection: str, user: User, text: str, **content: Any
    ) -> dict[str, Any]:
        """`user` writes to the owner's account."""
        message = self.business_message(token, connection, user, text=text, **content)
        return await self.push_update(token, {"business_message": message})

    async def push_owner_text(
        self, token: str, connection: str, user: User, text: str
    ) -> dict[str, Any]:
        """The owner writes to `user` from their own phone."""
        message = self.business_message(token, connection, user, from_owner=True, text=text)
        return await self.push_update(token, {"business_message": message})

    async def push_business_edit(
        self, token: str, original: dict[str, Any], text: str
    ) -> dict[str, Any]:
        """The message of an earlier business_message update, edited."""
        message = dict(original.get("business_message") or original["edited_business_message"])
        message["edit_date"] = int(time.time())
        message["caption" if "caption" in message else "text"] = text
        return await self.push_update(token, {"edited_business_message": message})

    async def push_business_deleted(
        self, token: str, connection: str, user: User, message_ids: list[int]
    ) -> dict[str, Any]:
        """Messages deleted in the account's chat with `user` (by either of them)."""
        account = self._account(token, connection)
        deleted = {"business_connection_id": account.id, "chat": user.chat(),
                   "message_ids": list(message_ids)}  # fmt: skip
        return await self.push_update(token, {"deleted_business_messages": deleted})

    # -- the Bot API -------------------------------------------------------------------------

    async def _m_getbusinessconnection(self, bot: _Bot, params: dict[str, Any], files: Any) -> Any:
        account = self._accounts.get(str(params.get("business_connection_id") or ""))
        if account is None or account.token != bot.token:
            raise ApiError(400, NOT_FOUND)
        return account.json()

    def _business_chat(self, bot: _Bot, params: dict[str, Any]) -> int:
        """The chat a send with business_connection_id goes to, checked as Telegram does."""
        account = self._accounts.get(str(params["business_connection_id"]))
        if account is None or account.token != bot.token:
            raise ApiError(400, NOT_FOUND)
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int) or chat_id not in self._users:
            raise ApiError(400, "Bad Request: chat not found")
        if chat_id == account.owner.id:
            raise ApiError(400, TO_SELF)
        if not account.enabled:
            raise ApiError(400, INVALID)
        if not account.can_reply:
            raise ApiError(400, NO_RIGHTS)
        return chat_id

    def _as_account(self, bot: _Bot, via: str, chat_id: int, message: dict[str, Any]) -> None:
        """A message the bot sent through a connection, as Telegram returns it: from the
        owner, numbered in the account's chat; echoed as a business_message update."""
        account = self._accounts[via]
        message.update(
            message_id=account.next_message_id(chat_id),
            business_connection_id=via,
            sender_business_bot=bot.user(),
        )
        message["from"] = account.owner.json()
        if self.business_echo:
            self._spawn(self.push_update(bot.token, {"business_message": dict(message)}))

    def _account(self, token: str, connection: str) -> Account:
        account = self._accounts.get(connection)
        if account is None or account.token != token:
            raise KeyError("no such business connection in the double; use connect_business()")
        return account
