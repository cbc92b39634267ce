"""Routing: is an email in the shop mailbox a manager's reply to relay, and to which chat?

`route()` answers with `Routed` (the conversation, who wrote) or `Refused` (one log line and
a kind). It is pure: the archive lookups come in as callables, nothing here touches the
network or the database, and no header, however broken, makes it raise.

Trust model (DESIGN.md "Email side"). A From header is trivial to forge, so the managers
list alone only keeps out honest strangers. What picks the conversation is a capability
the sender can only have got from us: the `+token` of the Reply-To address we put on
every email of a conversation (random, unguessable, one per conversation), or failing
that a Message-ID of ours in In-Reply-To/References. A mail naming a token that does not
resolve is refused even when its References would match: a forged token signals tampering,
and rescuing it through the other capability would let a wrong guess through. A token
that was rotated away, or a Message-ID sent with one, is refused as "retired-token" (never
rescued either), so that its author can be told why. Tokens are logged cut to four
characters.

Checks run in order: loops (our own mail coming back), auto-replies and bounces (so a
manager's out-of-office never reaches a customer), the sender, the token, References.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from email import policy
from email.message import Message

RECIPIENT_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To", "X-Delivered-To")
TOKEN = re.compile(r"[a-z0-9]{6,64}")
_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}
_ROBOT_LOCALS = {"mailer-daemon", "postmaster", "noreply", "no-reply"}
_OOO_SUBJECT = re.compile(
    r"^\s*(out of office|automatic reply|auto:|autoreply|auto-reply|away from|on vacation"
    r"|автоответ|автоматический ответ|нет на месте|в отпуске|вне офиса"
    r"|автовідповідь|автоматична відповідь|немає на місці|у відпустці|поза офісом"
    r"|abwesenheitsnotiz)",
    re.I,
)
_MSG_ID = re.compile(r"<\s*([^<>\s]+?)\s*>")
_BARE_ADDRESS = re.compile(r"[^\s<>,;:\"()\[\]]+@[^\s<>,;:\"()\[\]]+")
_YES = {"yes", "true", "1"}


def _keyword(value: str) -> str:
    """`auto-replied; by=…` or `no (comment)` → the bare lower-case keyword."""
    return re.sub(r"\([^)]*\)", "", value).split(";")[0].strip().strip('"').lower()


# Header → "this value marks machine mail". X-Auto-Response-Suppress is deliberately absent:
# it asks *others* not to answer automatically, and we put it on our own emails.
_SIGNS: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("Auto-Submitted", lambda v: _keyword(v) != "no"),  # RFC 3834: anything but "no"
    ("X-Autoreply", lambda v: _keyword(v) in _YES),
    ("X-Auto-Reply", lambda v: _keyword(v) in _YES),
    ("X-Autorespond", lambda v: True),
    ("X-MS-Exchange-Generated-Message-Source", lambda v: True),
    ("Precedence", lambda v: _keyword(v) in _PRECEDENCE),
    ("X-Precedence", lambda v: _keyword(v) in _PRECEDENCE),
    ("List-Id", lambda v: True),
    ("List-Unsubscribe", lambda v: True),
    ("Return-Path", lambda v: re.fullmatch(r"\s*<\s*>\s*", v) is not None),  # a bounce
)


@dataclass(frozen=True)
class Routed:
    conversation_id: int
    sender: str  # the manager's address, lower-cased (From)
    sender_name: str  # display name from From, "" if none
    message_id: str  # the email's Message-ID with <>, or "" when it has none
    via: str  # "token" or "references"


@dataclass(frozen=True)
class Refused:
    reason: str  # one line for the log
    kind: str  # "not-a-reply" | "auto-reply" | "loop" | "sender" | "token" | "malformed"
    # | "retired-token": a manager answered an email from before the conversation's token
    # was rotated (reply_tokens.py); `retired` is the reply it would have been
    retired: Routed | None = None


def route(
    msg: Message,
    *,
    mailbox: str,
    managers: Sequence[str],
    by_token: Callable[[str], int | None],
    by_email_id: Callable[[str], int | None],
    own_message_id: Callable[[str], bool] = lambda mid: False,
    retired_token: Callable[[str], int | None] = lambda token: None,
    retired_email_id: Callable[[str], int | None] = lambda mid: None,
) -> Routed | Refused:
    """Decide whether `msg` is a manager's reply to relay (rules in DESIGN.md, order above)."""
    sender = sender_address(msg)
    message_id = next(iter(_ids(_raw_values(msg, "Message-ID"))), "")
    loop = _loop_reason(msg, mailbox, sender, message_id, own_message_id)
    if loop:
        return Refused(f"loop ({loop})", "loop")
    auto = auto_reply_reason(msg)
    if auto:
        return Refused(f"auto-reply ({auto})", "auto-reply")
    if sender is None:
        return Refused("malformed From (not exactly one readable address)", "malformed")
    address, name = sender
    if address not in {m.strip().lower() for m in managers}:
        return Refused(f"sender {address} is not in managers", "sender")
    tokens = recipient_tokens(msg, mailbox)
    for token in tokens:
        found = by_token(token)
        if found is not None:
            return Routed(found, address, name, message_id, "token")
    if tokens:
        for token in tokens:  # an old token: no References may rescue it either
            old = retired_token(token)
            if old is not None:
                why = f"retired token +{token[:4]}… of conversation {old}"
                return Refused(
                    why, "retired-token", Routed(old, address, name, message_id, "token")
                )
        more = f" (and {len(tokens) - 1} more)" if len(tokens) > 1 else ""
        return Refused(f"unknown conversation token +{tokens[0][:4]}…{more}", "token")
    for ref in referenced_ids(msg):
        found = by_email_id(ref)
        if found is not None:
            old = retired_email_id(ref)
            if old is not None:  # sent with a token since retired: as good as that token
                why = f"answers {_short(ref)}, sent before conversation {old}'s token was rotated"
                was = Routed(old, address, name, message_id, "references")
                return Refused(why, "retired-token", was)
            return Routed(found, address, name, message_id, "references")
    return Refused("not a reply (no token, no In-Reply-To/References of ours)", "not-a-reply")


def _loop_reason(
    msg: Message, mailbox: str, sender: tuple[str, str] | None, mid: str, own: Callable[[str], bool]
) -> str | None:
    local, domain = _split(mailbox)
    if sender is not None:
        s_local, s_domain = _split(sender[0])
        if s_domain == domain and (s_local == local or s_local.startswith(f"{local}+")):
            return f"From is the mailbox itself, {sender[0]}"
    if mid and own(mid):
        return f"Message-ID {_short(mid)} is one we sent"
    if _values(msg, "X-Im2mail-Conversation") and _values(msg, "Auto-Submitted"):
        return "our X-Im2mail-Conversation with Auto-Submitted"
    return None


def auto_reply_reason(msg: Message) -> str | None:
    """Why `msg` looks machine-sent (auto-reply, bounce, list mail), or None."""
    for header, sign in _SIGNS:
        for value in _values(msg, header):
            if sign(value):
                return f"{header}: {_short(value) or '(empty)'}"
    sender = sender_address(msg)
    if sender and _split(sender[0])[0].partition("+")[0] in _ROBOT_LOCALS:
        return f"robot sender {sender[0]}"
    try:
        if msg.get_content_type() == "multipart/report":
            return "delivery report, multipart/report"
    except Exception:
        pass  # an unreadable Content-Type counts as absent
    for subject in _values(msg, "Subject"):
        match = _OOO_SUBJECT.match(subject)
        if match:
            return f"out-of-office subject {match.group(1).strip()!r}"
    return None


def recipient_tokens(msg: Message, mailbox: str) -> list[str]:
    """The `+token`s of `mailbox` among the recipients, lower-cased, once each, in order."""
    local, domain = _split(mailbox)
    if not local or not domain:
        return []
    tokens = []
    for header in RECIPIENT_HEADERS:
        for raw in _raw_values(msg, header):
            for base, plus, token in (_split(a)[0].partition("+") for a in _addresses(raw, domain)):
                if base == local and plus and TOKEN.fullmatch(token) and token not in tokens:
                    tokens.append(token)
    return tokens


def referenced_ids(msg: Message) -> list[str]:
    """In-Reply-To, then References newest first; each as `<id>`, once each."""
    references = _ids(_raw_values(msg, "References"))[::-1]
    return list(dict.fromkeys([*_ids(_raw_values(msg, "In-Reply-To")), *references]))


def sender_address(msg: Message) -> tuple[str, str] | None:
    """(address lower-cased, display name) of the one From address, else None."""
    found: list[tuple[str, str]] = []
    for raw in _raw_values(msg, "From"):
        try:
            addresses = policy.default.header_factory("from", raw).addresses
        except Exception:
            return None
        for a in addresses:
            found.append((f"{a.username}@{a.domain}", _text(a.display_name)))
    if len(found) != 1:
        return None
    address, name = found[0]
    if not re.fullmatch(r"[^\s@<>\"]+@[^\s@<>\"(),;:\\]+", address):
        return None
    return address.lower(), name.strip()


def _raw_values(msg: Message, name: str) -> list[str]:
    """Every value of header `name` as stored (unparsed, unfolded); [] if unreadable."""
    try:
        items = list(msg.raw_items())
    except Exception:
        return []
    return [re.sub(r"\r?\n", "", str(v)) for k, v in items if k.lower() == name.lower()]


def _values(msg: Message, name: str) -> list[str]:
    """Every readable value of header `name`, decoded; a value that can't be read is skipped."""
    out = []
    for raw in _raw_values(msg, name):
        try:
            out.append(_text(str(msg.policy.header_fetch_parse(name, raw))))
        except Exception:
            continue
    return out


def _addresses(raw: str, domain: str) -> list[str]:
    """The addresses at `domain` in one address-list header value, garbage tolerated."""
    try:
        parsed = policy.default.header_factory("to", raw).addresses
        found = [f"{a.username}@{a.domain}" for a in parsed]
    except Exception:  # garbage the parser chokes on: pick out what looks like addresses
        found = _BARE_ADDRESS.findall(raw)
    return [a for a in found if _split(a)[1] == domain]


def _ids(values: Iterable[str]) -> list[str]:
    """Message-IDs in header values as `<id>`, once each; bare `id@host` words count too."""
    found = [
        f"<{m.strip('<>')}>"
        for value in values
        for m in _MSG_ID.findall(value) or [w for w in re.split(r"[\s,]+", value) if "@" in w]
    ]
    return [mid for mid in dict.fromkeys(found) if mid != "<>"]


def _split(address: str) -> tuple[str, str]:
    local, _, domain = address.strip().lower().rpartition("@")
    return local, domain


def _text(value: str) -> str:
    """Undecodable 8-bit header bytes (kept as surrogates) read as UTF-8 where they can."""
    try:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeError:
        return value.encode("utf-8", "replace").decode("utf-8")


def _short(value: str, limit: int = 60) -> str:
    flat = " ".join(value.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
