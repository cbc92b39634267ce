"""Who sent an email: the one author address a DMARC checker would take, read strictly.

A display name is whatever the sender typed, so it proves nothing; the address that
SPF, DKIM and DMARC are checked against is the addr-spec (in angle brackets when there
are any). The email package is lenient: `anna@shop.example <mallory@evil.example>` reads
as anna@shop.example and `=?utf-8?q?anna?=@shop.example` is decoded into one, each with
a defect noted on the side. Here any such doubt refuses the email instead:

- a defect the parser records on From or Sender (that includes an unterminated `<`,
  a second angle-addr, an obsolete route, words where an address belongs);
- not exactly one From header with exactly one address (groups included), more than one
  Sender header, a Sender that is not one address;
- an encoded word, a comment, a quoted string or a domain literal inside the addr-spec:
  no mail client writes them in an ordinary address, and each is a place where parsers
  disagree (a quoted local part can hide an `@`, a comment a second domain);
- a header that is not UTF-8 (raw 8-bit bytes of another charset), a domain that is not
  a valid host name or IDNA 2008 name.

Comments around the address (`anna@shop.example (Anna)`, `Anna (work) <…>`) are fine.
Addresses compare by `address_key`: the local part lower-cased, the domain lower-cased
and in its ASCII (punycode) form, so `anna@магазин.укр` and `anna@xn--80aairftm.xn--j1amh`
are one address while `shop.examp1e` or a Cyrillic `о` in `shop.examplе` are others.
A display name that holds an address other than the sender's is dropped: it is never
taken for the sender, nor shown as the manager's name.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from email import _header_value_parser as parser
from email.message import Message

import idna

_IN_ADDR_SPEC = {
    "encoded-word": "an encoded word",
    "comment": "a comment",
    "quoted-string": "a quoted local part",
    "domain-literal": "a domain literal",
    "obs-route": "an obsolete route",
}
_ADDRESS_LIKE = re.compile(r"[^\s@<>\"()]+@[^\s@<>\"()]+")
_LDH = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


@dataclass(frozen=True)
class Sender:
    address: str  # the addr-spec as address_key gives it
    name: str  # display name, decoded and cleaned; "" when none or not usable

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


def sender(msg: Message) -> Sender | str:
    """The email's author, or why it cannot be told for sure (one line, for the log)."""
    try:
        headers = [(k.lower(), v) for k, v in msg.raw_items()]
    except Exception:
        return "unreadable headers"
    froms = [v for k, v in headers if k == "from"]
    senders = [v for k, v in headers if k == "sender"]
    if len(froms) != 1:
        return f"{len(froms)} From headers"
    if len(senders) > 1:
        return f"{len(senders)} Sender headers"
    for raw in senders:
        found = _mailbox(raw)
        if isinstance(found, str):
            return f"Sender: {found}"
    author = _mailbox(froms[0])
    return f"From: {author}" if isinstance(author, str) else author


def address_key(address: str, *, lenient: bool = False) -> str | None:
    """`local@domain` compared as mail systems do: the local part lower-cased, the domain
    lower-cased in its ASCII form. None when the domain is not a valid name. `lenient`
    (for addresses the owner typed) also maps full-width and upper-case letters (UTS 46)."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not local:
        return None
    ascii_domain = domain_key(domain, lenient=lenient)
    return f"{local.lower()}@{ascii_domain}" if ascii_domain else None


def domain_key(domain: str, *, lenient: bool = False) -> str | None:
    """A domain's lower-case ASCII (punycode) form; None when it is not a valid name."""
    domain = domain.strip() if lenient else domain
    if not domain or domain.endswith(".") or len(domain) > 253:
        return None
    try:
        if lenient:
            encoded = idna.encode(domain, uts46=True).decode("ascii")
        else:
            lowered = domain.lower()
            if unicodedata.normalize("NFC", lowered) != lowered:
                return None
            encoded = idna.encode(lowered).decode("ascii")
            idna.decode(encoded)  # an xn-- label must be a valid A-label
    except (idna.IDNAError, UnicodeError, ValueError):
        return None
    labels = encoded.lower().split(".")
    if len(labels) < 2 or not all(_LDH.fullmatch(label) for label in labels):
        return None
    return ".".join(labels)


# -- one header ------------------------------------------------------------------------------


def _mailbox(raw: str) -> Sender | str:
    """The one mailbox of an address header's raw value, or what is wrong with it."""
    try:
        text = raw.encode("utf-8", "surrogateescape").decode("utf-8")
    except UnicodeError:
        return "not UTF-8 (raw 8-bit bytes)"
    text = re.sub(r"\r?\n", "", text)
    try:
        tree, rest = parser.get_address_list(text)
    except Exception as e:  # the parser gives up on some garbage
        return f"unreadable ({type(e).__name__})"
    if rest.strip():
        return "unreadable (text after the address)"
    defects = list(tree.all_defects)
    if defects:
        return f"malformed ({_one_line(str(defects[0]))})"
    addresses = tree.addresses
    if len(addresses) != 1 or len(tree.all_mailboxes) != 1:
        return f"{len(tree.all_mailboxes)} addresses, not one"
    if addresses[0].display_name is not None:
        return "a group, not an address"
    mailbox = tree.all_mailboxes[0]
    spec = _find(mailbox, "addr-spec")
    if spec is None:
        return "no address"
    problem = _inside_problem(spec) or (
        "an obsolete route" if _find(mailbox, "obs-route") is not None else None
    )
    if problem:
        return f"{problem} in the address"
    local, domain = mailbox.local_part or "", mailbox.domain or ""
    if not local or not domain or any(c.isspace() or ord(c) < 32 for c in local):
        return "no address"
    if not local.isascii():
        return "a non-ASCII local part"
    ascii_domain = domain_key(domain)
    if ascii_domain is None:
        return f"domain {_one_line(domain)!r} is not a valid name"
    address = f"{local.lower()}@{ascii_domain}"
    return Sender(address, _name(mailbox.display_name or "", address))


def _name(display: str, address: str) -> str:
    """The display name, or "" when it holds an address (other than the sender's own,
    which says nothing either): never let a name pass for an address."""
    shown = "".join(" " if unicodedata.category(c)[0] == "C" else c for c in display)
    name = " ".join(shown.split())
    for found in _ADDRESS_LIKE.findall(name):
        if address_key(found.strip(".,;:'"), lenient=True) != address or name == found:
            return ""
    return name


def _find(token, kind: str):
    return next((t for t in _descendants(token) if t.token_type == kind), None)


def _descendants(token):
    """Every token under `token` (itself included), depth first; terminals too."""
    stack = [token]
    while stack:
        t = stack.pop()
        yield t
        if isinstance(t, list):
            stack.extend(reversed(t))


def _inside_problem(spec) -> str | None:
    """What the addr-spec holds that no ordinary address does: an encoded word, a quoted
    string or a domain literal anywhere, a comment between its first and last character
    (`anna(x)@shop.example`; CFWS around the whole address is fine)."""
    walk = list(_with_cfws(spec))
    text = [i for i, (t, in_cfws) in enumerate(walk) if not isinstance(t, list) and not in_cfws]
    for i, (token, _) in enumerate(walk):
        kind = token.token_type
        if kind == "comment" and text and text[0] < i < text[-1]:
            return _IN_ADDR_SPEC[kind]
        if kind in _IN_ADDR_SPEC and kind != "comment":
            return _IN_ADDR_SPEC[kind]
    return None


def _with_cfws(token, in_cfws: bool = False):
    """(token, whether it is part of CFWS) for every token under `token`, in order."""
    in_cfws = in_cfws or token.token_type in ("cfws", "comment")
    yield token, in_cfws
    if isinstance(token, list):
        for child in token:
            yield from _with_cfws(child, in_cfws)


def _one_line(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
