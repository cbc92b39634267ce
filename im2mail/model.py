"""Plain values that cross module lines: customers, conversations, messages, attachments.

Adapters produce and consume these; the archive stores and returns them. Times are
timezone-aware datetimes (UTC when they come from the archive).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

Direction = Literal["in", "out"]
IN: Direction = "in"  # from the customer
OUT: Direction = "out"  # to the customer

# What a message without text is called where its text would be: "(voice message)".
KIND_LABELS = {
    "photo": "photo",
    "video": "video",
    "voice": "voice message",
    "video_note": "video message",
    "audio": "audio",
    "animation": "GIF",
    "sticker": "sticker",
    "document": "file",
    "location": "location",
    "contact": "contact",
    "text": "empty message",
}


FORGOTTEN = "(forgotten customer)"  # the name of a customer erased by im2mail forget


@dataclass(frozen=True)
class Customer:
    channel: str
    external_id: str
    first_name: str = ""
    last_name: str = ""
    username: str | None = None
    phone: str | None = None
    source: str | None = None  # deep-link payload / Viber context: where the lead came from
    blocked: bool = False  # the customer blocked the bot (the platform told us)
    id: int | None = None
    # The shop blocked the customer (im2mail block, /block): who (a manager's address, or
    # "command line") and when; None when not. Their messages are archived, mailed to nobody.
    blocked_by_shop: str | None = None
    blocked_by_shop_at: datetime | None = None
    # One person across channels (im2mail customers link): the person's id, shared by the
    # customers linked to each other; None: a customer on their own.
    person: int | None = None
    forgotten: datetime | None = None  # im2mail forget: when; their name and ids are gone

    @property
    def display_name(self) -> str:
        """First + last name, else @username, else "Customer <id>" (DESIGN.md subject rule)."""
        if self.forgotten is not None:
            return FORGOTTEN
        return display_name(self.first_name, self.last_name, self.username, self.external_id)


def display_name(first_name: str, last_name: str, username: str | None, external_id: str) -> str:
    """Customer.display_name of a customer not forgotten, from its fields (search shows 20
    at once: no Customer made for each)."""
    first, last = first_name.strip(), last_name.strip()
    if first or last:
        return f"{first} {last}" if first and last else first or last
    if username:
        return f"@{username}"
    return f"Customer {external_id}"


@dataclass(frozen=True)
class Conversation:
    id: int
    customer: Customer
    bot: str
    token: str  # routing token in the Reply-To address
    state: str = "open"
    created: datetime | None = None
    # Outlook's Thread-Index is derived from this (the first token, kept when the token
    # is rotated, so the thread stays one); None: the token itself.
    thread_key: str | None = None
    # The connected account the chat is with (a Telegram Business chat with the owner's
    # own account), as people name it ("@iryna_shop"); None: a chat with the bot itself.
    via: str | None = None
    # A linked person's first conversation, whose email thread this conversation's emails
    # continue (its Subject and Thread-Index); None: its own. Set by whoever builds emails
    # (archive.people.threaded), not by every read.
    thread: Conversation | None = None

    @property
    def channel(self) -> str:
        return self.customer.channel


@dataclass(frozen=True)
class Attachment:
    """A file on a message. sha256 is None when the file was not downloaded (too big)."""

    filename: str
    mime: str
    size: int
    sha256: str | None = None
    id: int | None = None


@dataclass(frozen=True)
class NewAttachment:
    """A file to be stored with a new message; its bytes go to the blob store."""

    filename: str
    mime: str
    data: bytes | None = None  # None: known by name and size only (over a download limit)
    size: int | None = None
    sha256: str | None = None  # already in the blob store (a streamed download), `size` long


@dataclass(frozen=True)
class Reaction:
    """An emoji on a message: the customer's on a reply (direction "in"), or the shop's on
    the customer's message (direction "out": a manager's reply of only that emoji)."""

    emoji: str
    direction: Direction  # who reacted: "in" the customer, "out" the shop
    author: str  # the customer's display name, or the manager's address
    changed: datetime  # when it was set (or, removed, taken back)
    removed: datetime | None = None  # taken back then; None: on the message now


@dataclass(frozen=True)
class Version:
    """An earlier text of a message the customer edited (the message holds the latest)."""

    text: str
    created: datetime  # when this text was written: the message's time, or an edit's
    id: int | None = None


@dataclass(frozen=True)
class Message:
    conversation_id: int
    direction: Direction
    author: str  # the customer's display name, or the manager's address
    text: str
    created: datetime
    kind: str = "text"  # text, photo, document, video, voice, sticker, contact, location, ...
    channel_message_id: str | None = None
    email_message_id: str | None = None
    sent: datetime | None = None
    delivered: datetime | None = None
    seen: datetime | None = None
    raw: dict[str, Any] | None = None  # the platform's payload as received
    attachments: tuple[Attachment, ...] = ()
    id: int | None = None
    edited: bool = False  # the customer edited it: `text` is the latest version
    group: str | None = None  # album (Telegram media_group_id): one email for all parts
    flood_digest: str | None = None  # came in a flood: the Message-ID of the digest listing it
    deleted: datetime | None = None  # the platform reported it deleted (kept, only marked)
    edited_at: datetime | None = None  # when the latest text was written, if edited
    # Read where asked (exports, tail): its earlier texts, oldest first, and the emoji on it.
    versions: tuple[Version, ...] = ()
    reactions: tuple[Reaction, ...] = ()


@dataclass(frozen=True)
class IncomingFile:
    """A file a customer sent, as the platform describes it; fetched by the channel."""

    ref: str  # the platform's handle: Telegram file_id, Viber media URL
    filename: str
    mime: str
    size: int | None = None  # as announced by the platform, if it says
    kind: str = "document"  # photo, document, video, voice, audio, sticker, animation


@dataclass(frozen=True)
class Incoming:
    """One thing a customer did, parsed from a platform update; channel-neutral.

    The relay archives it (with its files fetched) and mails it to the managers. Several
    Incoming sharing `group` (a Telegram album) become one email.
    """

    bot: str
    customer: Customer
    dedupe_key: str  # e.g. telegram:<bot>:update:<update_id>
    created: datetime
    kind: str = "text"  # text, photo, document, video, voice, sticker, contact, location, ...
    text: str = ""  # the message text or caption, or a description (location, contact)
    channel_message_id: str | None = None
    chat_id: str | None = None  # where replies go
    files: tuple[IncomingFile, ...] = ()
    group: str | None = None  # media_group_id: an album
    # A new text of the customer's message channel_message_id (edited_message, Messenger's
    # message_edit, WhatsApp's edit); `created` is when they edited it.
    edited: bool = False
    start: bool = False  # the customer pressed Start (/start)
    event: str | None = None  # blocked, unblocked, started, delivered, seen, failed, reaction
    raw: dict[str, Any] | None = None
    # event "reaction": the customer's emoji on message channel_message_id now (the whole
    # set; empty: they took their reaction back)
    reactions: tuple[str, ...] = ()
    # A chat with a connected account (Telegram Business): the connection it came through.
    via: str | None = None
    # Who wrote it when it was not the customer: the connected account's owner, from their
    # own phone (`customer` is then the person they wrote to).
    author: str | None = None
    connection: Connection | None = None  # event "connection": the connection as it is now
    message_ids: tuple[str, ...] = ()  # event "deleted": the platform's ids of those deleted


@dataclass(frozen=True)
class Connection:
    """A person's own messenger account connected to a bot, so that the bot relays that
    account's private chats (Telegram Business: the owner's personal Telegram, with
    Premium). Replies go out as that account, while it is `enabled` and `can_reply`."""

    bot: str
    id: str  # the platform's connection id (business_connection_id)
    owner_id: str  # the account's user id
    owner_name: str = ""
    owner_username: str | None = None
    chat_id: str = ""  # the bot's private chat with the owner (user_chat_id)
    enabled: bool = True
    can_reply: bool = False
    rights: tuple[str, ...] = ()  # what else the account lets the bot do, by name
    since: datetime | None = None  # when it was connected
    changed: datetime | None = None  # when im2mail last saw it change
    change: str = ""  # what that change was: "connected", "reply rights removed", ...

    @property
    def label(self) -> str:
        """How people name the account: "@iryna_shop", else the owner's name, else the id."""
        if self.owner_username:
            return f"@{self.owner_username}"
        return self.owner_name.strip() or f"account {self.owner_id}"

    @property
    def refusal(self) -> str | None:
        """Why a reply can't go out through it now; None when it can."""
        if not self.enabled:
            return f"{self.label} has disconnected the bot from their account"
        if not self.can_reply:
            return f"{self.label} connected the bot without the right to reply in their chats"
        return None


# What an outbox row stands for. Target "mail": MESSAGE is a customer's message to the
# managers; the others are notices about a manager's reply (its message_id) to managers.
# Target "channel": MESSAGE is a manager's reply to deliver to the customer.
MESSAGE = "message"
UNDELIVERED = "undelivered"  # to the reply's author: it did not reach the customer (note: why)
NOT_SENT = "not-sent"  # to the reply's author: im2mail did not send it (note: why)
TEAM = "team"  # to the other managers: a colleague answered (note: their addresses)
COLLEAGUE = "colleague"  # to the reply's author: a colleague had just answered (note: who)
# to the managers: messages of a connected account's chat were deleted (on the first of
# them; note: the archive ids of all, comma-separated)
DELETED = "deleted"
IN_DOUBT = "in-doubt"  # to the reply's author: part of it may not have gone (note: which)
FLOOD = "flood"  # to the managers: a digest of a flood's messages (on the first; they name it)
# to a manager: an email in their name was not relayed, the shop's server did not vouch for
# it (note: "<manager address> <why>"); on the conversation's newest emailed message
UNVERIFIED = "unverified"
EDITED = "edited"  # to the managers: the customer edited a message (note: the earlier text's id)
# to a reply's author: the customer reacted to their replies (note: "<author> <since>", the
# batch of reactions from that time on, a minute of them: archive/reactions.py)
REACTED = "reacted"


@dataclass(frozen=True)
class OutboxItem:
    """A pending delivery created in the same transaction as its message."""

    target: Literal["mail", "channel"]
    email_message_id: str | None = None  # fixed at creation, so a resend keeps it
    id: int | None = None
    message_id: int | None = None
    attempts: int = 0
    next_try: datetime | None = None
    last_error: str | None = None
    state: str = "pending"  # pending, sent, failed
    kind: str = MESSAGE
    note: str | None = None
    progress: int = 0  # steps of the delivery done (a long text sent in several messages)
    in_flight: int | None = None  # the step being sent when the relay last stopped, if any
    conversation_id: int | None = None  # its message's conversation (due items only)


@dataclass(frozen=True)
class Entry:
    """One archived message with the context listing commands show (tail, search)."""

    message_id: int
    conversation_id: int
    channel: str
    bot: str
    customer: str  # display name
    direction: Direction
    author: str
    created: datetime
    text: str
    kind: str = "text"
    attachments: tuple[str, ...] = ()  # file names
    snippet: str | None = None  # search only: original text around the hits
    highlights: tuple[tuple[int, int], ...] = field(default=())  # spans in snippet
    delivered: datetime | None = None  # a message to the customer reached their phone
    seen: datetime | None = None  # ... and they opened it (platforms that tell: Viber)
    deleted: datetime | None = None  # the platform reported it deleted (kept, marked)
    edited: bool = False  # the customer edited it: `text` is the latest version
    reactions: tuple[Reaction, ...] = ()  # emoji on it now (tail)
    versions: tuple[Version, ...] = ()  # its earlier texts, oldest first (tail --versions)

    def record(self, receipts: bool = False) -> dict[str, Any]:
        """The --json record of DESIGN.md (snippet only for search results; with
        receipts, `tail`'s delivered and seen times, null when not known, and its edits
        and reactions)."""
        data: dict[str, Any] = {
            "conversation": self.conversation_id,
            "message": self.message_id,
            "channel": self.channel,
            "customer": self.customer,
            "direction": self.direction,
            "author": self.author,
            "created": self.created.isoformat(),
            "text": self.text,
        }
        if self.snippet is not None:
            data["snippet"] = marked_snippet(self.snippet, self.highlights)
        if receipts:
            data["delivered"] = self.delivered.isoformat() if self.delivered else None
            data["seen"] = self.seen.isoformat() if self.seen else None
            data["edited"] = self.edited
            data["reactions"] = [
                {"emoji": r.emoji, "by": r.author, "direction": r.direction} for r in self.reactions
            ]
            if self.versions:
                data["versions"] = [
                    {"text": v.text, "created": v.created.isoformat()} for v in self.versions
                ]
        if self.deleted is not None:
            data["deleted"] = self.deleted.isoformat()
        return data


HIGHLIGHT_START = "**"
HIGHLIGHT_END = "**"


def marked_snippet(snippet: str, spans: tuple[tuple[int, int], ...]) -> str:
    """The snippet with each highlighted span wrapped in ** (for --json and plain output)."""
    out, last = [], 0
    for start, end in sorted(spans):
        out += [snippet[last:start], HIGHLIGHT_START, snippet[start:end], HIGHLIGHT_END]
        last = end
    out.append(snippet[last:])
    return "".join(out)


@dataclass(frozen=True)
class ConversationSummary:
    """A row of `im2mail conversations`."""

    id: int
    channel: str
    bot: str
    customer: str
    source: str | None
    last_message_at: datetime | None
    last_text: str
    waiting_since: datetime | None  # oldest unanswered customer message; None when answered
    messages: int
    last_in_at: datetime | None = None  # the customer's newest message
    blocked_by_shop: str | None = None  # who blocked the customer (im2mail block, /block)
    blocked_by_shop_at: datetime | None = None
    # How long after the customer's last message a reply may still go, where the channel
    # limits it (its spec's reply_window, as Archive.conversations was given it).
    reply_window: timedelta | None = None
    linked: tuple[int, ...] = ()  # the other conversations of the customer's person, if linked

    @property
    def waiting(self) -> bool:
        """Whether the customer waits for an answer: a blocked one waits for nothing."""
        return self.waiting_since is not None and self.blocked_by_shop is None

    @property
    def reply_window_closes(self) -> datetime | None:
        """When a free-form reply stops being allowed (Messenger, WhatsApp), else None."""
        window = self.reply_window
        return self.last_in_at + window if window and self.last_in_at else None

    def record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "channel": self.channel,
            "bot": self.bot,
            "customer": self.customer,
            "source": self.source,
            "last_message_at": self.last_message_at.isoformat() if self.last_message_at else None,
            "waiting_since": self.waiting_since.isoformat() if self.waiting_since else None,
            **(
                {"blocked_since": _iso(self.blocked_by_shop_at), "blocked_by": self.blocked_by_shop}
                if self.blocked_by_shop is not None
                else {}
            ),
            **(
                {"reply_window_closes": closes.isoformat()}
                if (closes := self.reply_window_closes)
                else {}
            ),
            **({"linked": list(self.linked)} if self.linked else {}),
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


@dataclass(frozen=True)
class SearchQuery:
    text: str
    channel: str | None = None
    customer: str | None = None  # matches name, @username, phone or external id
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 20
    exact: bool = False  # only the words as written (folded), not their other forms
