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
manager's out-of-office never reaches a customer), the sender, the token, References,
and last the sender's authentication (when mail.authserv_id is set).

The sender is the one From address a DMARC checker takes, read strictly
(mail/addresses.py): a From the parser finds anything wrong with is refused, never
guessed at. With mail.authserv_id set, the shop's own server must also vouch for it in
its Authentication-Results (mail/authres.py); a manager's reply that it does not vouch
for is refused with kind "unverified" and names the conversation, so the manager can be
told. Without it, the managers list and the capabilities are all there is: a forged From
with a leaked token or Message-ID gets through, and `doctor` says so.

In-Reply-To and References cost the same for every email: at most MAX_REFERENCES ids are
looked up, the newest, and only the last REFERENCES_TAIL characters of a References
header are read at all (an email with 100,000 ids is no slower than one with ten).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser

from . import authres
from .addresses import Sender, address_key, sender

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
MAX_REFERENCES = 20  # the newest References ids looked up (after In-Reply-To's)
MAX_IN_REPLY_TO = 3  # In-Reply-To ids looked up (it should hold one)
REFERENCES_TAIL = 8192  # characters read from the end of a References header
ID_HEADER_HEAD = 2048  # characters read from the start of In-Reply-To and Message-ID


Email = EmailMessage  # an email as read from the mailbox


def parse(raw: bytes) -> Email:
    """An email from the mailbox, read the way route() and replies.extract() want it. The
    parser is lenient: a broken email is read as well as it can be."""
    return BytesParser(policy=policy.default).parsebytes(raw)  # type: ignore[return-value]


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
    sender: str  # the manager, as written in managers (lower-cased): the From matched it
    sender_name: str  # display name from From, "" if none
    message_id: str  # the email's Message-ID with <>, or "" when it has none
    via: str  # "token" or "references"


@dataclass(frozen=True)
class Refused:
    reason: str  # one line for the log
    # "not-a-reply" | "auto-reply" | "loop" | "sender" | "token" | "malformed" | "unverified"
    # | "retired-token": a manager answered an email from before the conversation's token
    # was rotated (archive/tokens.py); `retired` is the reply it would have been
    kind: str
    conversation_id: int | None = None  # "unverified": the conversation it answered
    sender: str = ""  # "unverified": the manager it claims to be (as in managers)
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
    authserv_id: str | None = None,
) -> Routed | Refused:
    """Decide whether `msg` is a manager's reply to relay (rules in DESIGN.md, order above).
    `authserv_id` (mail.authserv_id): whose Authentication-Results vouch for the sender."""
    verdict = _route(
        msg, mailbox, managers, by_token, by_email_id, own_message_id,
        retired_token, retired_email_id,
    )  # fmt: skip
    # A reply to a retired address is authenticated too: its notice goes to the manager
    # it claims to be, and only a verified manager may learn the conversation's news.
    claimed = verdict.retired if isinstance(verdict, Refused) else verdict
    if claimed is None or not authserv_id:
        return verdict
    domain = (address_key(claimed.sender, lenient=True) or "").rpartition("@")[2]
    why = authres.verify(msg, domain, authserv_id)
    if why is None:
        return verdict
    return Refused(
        f"sender {claimed.sender} not authenticated by {authserv_id}: {why}",
        "unverified",
        conversation_id=claimed.conversation_id,
        sender=claimed.sender,
    )


def _route(
    msg: Message,
    mailbox: str,
    managers: Sequence[str],
    by_token: Callable[[str], int | None],
    by_email_id: Callable[[str], int | None],
    own_message_id: Callable[[str], bool],
    retired_token: Callable[[str], int | None],
    retired_email_id: Callable[[str], int | None],
) -> Routed | Refused:
    author = sender(msg)
    found_sender = author if isinstance(author, Sender) else None
    message_id = next(iter(_ids(_raw_values(msg, "Message-ID", head=ID_HEADER_HEAD))), "")
    loop = _loop_reason(msg, mailbox, found_sender, message_id, own_message_id)
    if loop:
        return Refused(f"loop ({loop})", "loop")
    auto = auto_reply_reason(msg)
    if auto:
        return Refused(f"auto-reply ({auto})", "auto-reply")
    if found_sender is None:
        return Refused(f"sender not certain: {author}", "malformed")
    address, name = _manager(found_sender.address, managers), found_sender.name
    if address is None:
        return Refused(f"sender {found_sender.address} is not in managers", "sender")
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
                was = Routed(old, address, name, message_id, "token")
                return Refused(why, "retired-token", retired=was)
        more = f" (and {len(tokens) - 1} more)" if len(tokens) > 1 else ""
        return Refused(f"unknown conversation token +{tokens[0][:4]}…{more}", "token")
    for ref in referenced_ids(msg):
        found = by_email_id(ref)
        if found is not None:
            old = retired_email_id(ref)
            if old is not None:  # sent with a token since retired: as good as that token
                why = f"answers {_short(ref)}, sent before conversation {old}'s token was rotated"
                was = Routed(old, address, name, message_id, "references")
                return Refused(why, "retired-token", retired=was)
            return Routed(found, address, name, message_id, "references")
    return Refused("not a reply (no token, no In-Reply-To/References of ours)", "not-a-reply")


def _manager(address: str, managers: Sequence[str]) -> str | None:
    """The configured manager (lower-cased, as written in managers) whose address is
    `address` (compared by address_key: case, IDN and punycode forms alike)."""
    for manager in managers:
        if address_key(manager, lenient=True) == address:
            return manager.strip().lower()
    return None


def _loop_reason(
    msg: Message, mailbox: str, author: Sender | None, mid: str, own: Callable[[str], bool]
) -> str | None:
    local, domain = _split(address_key(mailbox, lenient=True) or mailbox)
    if author is not None:
        s_local, s_domain = _split(author.address)
        if s_domain == domain and (s_local == local or s_local.startswith(f"{local}+")):
            return f"From is the mailbox itself, {author.address}"
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
    """In-Reply-To (its first MAX_IN_REPLY_TO ids), then the newest MAX_REFERENCES ids of
    References, newest first; each as `<id>`, once each. Bounded work, however long the
    headers: see the module's docstring."""
    replied = _ids(_raw_values(msg, "In-Reply-To", head=ID_HEADER_HEAD))[:MAX_IN_REPLY_TO]
    tails = _raw_values(msg, "References", tail=REFERENCES_TAIL)
    references = _ids(tails[-1:])[-MAX_REFERENCES:][::-1]
    return list(dict.fromkeys([*replied, *references]))


def sender_address(msg: Message) -> tuple[str, str] | None:
    """(address, display name) of the email's author, read strictly (mail/addresses.py);
    None when it cannot be told for sure."""
    author = sender(msg)
    return (author.address, author.name) if isinstance(author, Sender) else None


def _raw_values(msg: Message, name: str, *, head: int = 0, tail: int = 0) -> list[str]:
    """Every value of header `name` as stored (unparsed, unfolded); [] if unreadable.
    `head`/`tail`: only that many characters from the start/end of each value are read;
    an id cut at the edge of a tail is dropped (`_ids` needs its `<`)."""
    try:
        items = list(msg.raw_items())
    except Exception:
        return []
    values = []
    for k, v in items:
        if k.lower() != name.lower():
            continue
        text = str(v)
        if head and len(text) > head:
            text = text[:head]
        if tail and len(text) > tail:
            text = text[-tail:]
            text = text[text.find("<") :] if "<" in text else ""
        values.append(re.sub(r"\r?\n", "", text))
    return values


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
