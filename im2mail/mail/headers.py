"""Header fields written for SMTP: folded (RFC 5322), with RFC 2047 encoded words where
there are non-ASCII characters, and the threading headers (References, Thread-Index).

Each function returns the whole field, `Name: value`, ending in CRLF, 7-bit, folded at
spaces so lines stay within 78 characters (76 when they hold encoded words, as RFC 2047
asks); a Message-ID or a Thread-Index, which can't be folded, gets a line of its own.

- Words with non-ASCII characters (and ASCII words that would read as encoded words,
  `=?...?=`) go as "B" encoded words of UTF-8, each at most 72 characters and split
  between characters, never inside one; a run of such words is encoded as one text, so
  the spaces between them survive (a reader drops whitespace between encoded words).
- A display name (`mailbox`) is written as plain words when it is only atoms, quoted
  when it is ASCII with specials (`"Dr. Who, Jr."`), else as atoms and encoded runs.
- Address lists (`address_list`) are read by the email package, which refuses a malformed
  address, and remembered: they are the managers' and a few authors' addresses.

This is what the email package spends milliseconds on per header when it folds Cyrillic:
written here, a customer's From, Reply-To and Subject cost microseconds, so even the first
email of a conversation is cheap.

Thread-Index, as Outlook writes it (MS-OXOMSG 2.2.1.3 PidTagConversationIndex, read the
way Microsoft's MFCMAPI and libpst decode it), is base64 of
- a 22-byte header: the 6 high bytes, big-endian, of the FILETIME (100 ns ticks since
  1601-01-01 UTC) when the conversation began (the first byte is the 0x01 the spec calls
  reserved, for any date before 2057), then a 16-byte GUID: uuid5 of the conversation's
  routing token, the same for all its emails;
- a 5-byte child block per email since: 1 bit DeltaCode, 31 bits TimeDelta (the email's
  time minus the header time, >> 18; or >> 23 with DeltaCode 1 beyond ~1.7 years), and
  a byte of random/sequence nibbles, here from the email's Message-ID so a resend is
  byte-identical. So email n starts with email n-1's Thread-Index and adds 5 bytes.
It is written on one line, as Outlook writes it (folded, the email package made RFC 2047
words of it, which Outlook does not read there).
"""

from __future__ import annotations

import base64
import hashlib
import re
import string
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from functools import lru_cache

MAX_LINE = 78
MAX_ENCODED_LINE = 76  # RFC 2047 §2: a line holding encoded words
MAX_REFERENCES = 20  # References keeps the first email and the newest others
MAX_THREAD_CHILDREN = 40  # beyond this, later emails share the last level
_WORD_BYTES = 36  # UTF-8 bytes per encoded word: 48 base64 characters, 60 in all (fits
# after the longest header name we encode, "Thread-Topic: ")
_LONGEST = 60  # characters of a word written as it is
_ATEXT = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~")
# A Message-ID we write as it is: printable ASCII without spaces or angle brackets inside
# (a manager's mail program may have made it; anything else is left out of the threading).
_MSG_ID = re.compile(r"<[!-;=?-~]{1,900}>")
_POLICY = policy.SMTP.clone(cte_type="7bit")  # for address lists
_THREAD_GUID_NAMESPACE = uuid.UUID("7d6c3f0e-5b1a-4f3e-9a57-1c2b3d4e5f60")
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=4096)
def unstructured(name: str, text: str) -> str:
    """Subject, Thread-Topic: `text` (one line) as it reads."""
    return _fold(name, _words(text.split(" "), _printable))


@lru_cache(maxsize=4096)
def mailbox(name: str, display_name: str, address: str) -> str:
    """From, Reply-To: `"display name" <address>`; `address` is plain ASCII (ours)."""
    if not _printable(address) or " " in address or "<" in address or ">" in address:
        raise ValueError(f"not an address of ours: {address!r}")
    return _fold(name, [*_phrase(display_name), f"<{address}>"])


@lru_cache(maxsize=1024)
def address_list(name: str, addresses: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """To: the addresses, and the addresses as the envelope takes them. A malformed one
    raises ValueError."""
    found = [Address(addr_spec=a.strip()) for a in addresses]
    return _POLICY.header_factory(name, found).fold(policy=_POLICY), tuple(
        a.addr_spec for a in found
    )


def message_id(value: str) -> str:
    """A Message-ID of ours with its <>, as the header takes it; ValueError if malformed."""
    mid = value.strip()
    if not mid.startswith("<"):
        mid = f"<{mid}>"
    if not is_message_id(mid):
        raise ValueError(f"not a Message-ID: {value!r}")
    return mid


def is_message_id(value: str) -> bool:
    return _MSG_ID.fullmatch(value) is not None


def references(ids: list[str]) -> str:
    """References: the first email's id and the newest others (RFC 5322 §3.6.4's way of
    trimming a long thread), a new line when the next one would pass 78 characters."""
    if len(ids) > MAX_REFERENCES:
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
    lines, line = [], "References:"
    for mid in ids:
        if len(line) + 1 + len(mid) > MAX_LINE and line != "References:":
            lines.append(line)
            line = ""
        line += f" {mid}"
    return "\r\n".join([*lines, line]) + "\r\n"


def thread_index(token: str, started: datetime, emails: Sequence[tuple[str, datetime]]) -> str:
    """Outlook's Thread-Index for the last of `emails` ((Message-ID, time), oldest first)
    in the conversation with this routing token that began at `started`."""
    header_time = _filetime(started) >> 16
    guid = uuid.uuid5(_THREAD_GUID_NAMESPACE, token)
    blocks = [header_time.to_bytes(6, "big"), guid.bytes]
    chosen = list(emails)
    if len(chosen) > MAX_THREAD_CHILDREN:
        chosen = [*chosen[: MAX_THREAD_CHILDREN - 1], chosen[-1]]
    for mid, when in chosen:
        delta = max(0, _filetime(when) - (header_time << 16))
        word = delta >> 18 if delta < 1 << 49 else 1 << 31 | min(delta >> 23, (1 << 31) - 1)
        blocks.append(word.to_bytes(4, "big") + hashlib.sha256(mid.encode()).digest()[:1])
    return base64.b64encode(b"".join(blocks)).decode("ascii")


def _filetime(moment: datetime) -> int:
    delta = moment - _FILETIME_EPOCH
    return (delta.days * 86400 + delta.seconds) * 10**7 + delta.microseconds * 10


# -- words -----------------------------------------------------------------------------------


def _printable(word: str) -> bool:
    """Whether the word may stand as it is: printable ASCII that reads as no encoded word,
    and short enough to fit a line (a longer one is encoded, so that it can be split)."""
    return word.isascii() and word.isprintable() and "=?" not in word and len(word) <= _LONGEST


def _atom(word: str) -> bool:
    return bool(word) and _ATEXT.issuperset(word) and "=?" not in word and len(word) <= _LONGEST


def _phrase(text: str) -> list[str]:
    """A display name as tokens: atoms; or a quoted string when it is ASCII with specials
    (folded at its spaces: unfolding gives them back); else atoms and encoded runs."""
    words = [w for w in text.split(" ") if w]
    if all(_atom(w) for w in words):
        return words
    if text.isascii() and text.isprintable() and all(_printable(w) for w in words):
        return ('"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"').split(" ")
    return _words(words, _atom)


def _words(words: list[str], plain: Callable[[str], bool]) -> list[str]:
    """Tokens of `words`: those `plain` accepts as they are, runs of the others (with the
    spaces between them) as encoded words."""
    tokens: list[str] = []
    run: list[str] = []
    for word in words:
        if not word:
            continue
        if plain(word):
            tokens += _encoded(" ".join(run))
            tokens.append(word)
            run = []
        else:
            run.append(word)
    return tokens + _encoded(" ".join(run))


def _encoded(text: str) -> list[str]:
    """`text` as RFC 2047 "B" encoded words of UTF-8 (see _split for where they break)."""
    data, words, start = text.encode("utf-8"), [], 0
    while start < len(data):
        end = _split(data, start)
        words.append(f"=?utf-8?b?{base64.b64encode(data[start:end]).decode('ascii')}?=")
        start = end
    return words


def _split(data: bytes, start: int) -> int:
    """Where the encoded word that starts at `start` ends: never inside a character; a
    whole number of 3 bytes, so its base64 has no padding (GMime, notmuch's and
    Evolution's parser, joins adjacent words' base64 before decoding it, and stops at
    padding); after a space when one is near (the email package's parser, unlike mail
    clients, reads a space into a display name between two encoded words)."""
    end = start + _WORD_BYTES
    if end >= len(data):
        return len(data)
    unpadded = None
    for at in range(end, start + _WORD_BYTES // 2, -1):
        if (at - start) % 3 or 0x80 <= data[at] < 0xC0:
            continue
        if data[at - 1] == 0x20:
            return at
        unpadded = unpadded or at
    if unpadded:
        return unpadded
    while 0x80 <= data[end] < 0xC0:  # no such place: any place between characters
        end -= 1
    return end


def _fold(name: str, tokens: Sequence[str]) -> str:
    """`Name: token token ...`, a new line (CRLF and a space) before a token that would
    pass the line limit, unless the line has no token yet."""
    limit = MAX_ENCODED_LINE if any(t.startswith("=?") for t in tokens) else MAX_LINE
    lines, line, empty = [], f"{name}:", True
    for token in tokens:
        if len(line) + 1 + len(token) > limit and not empty:
            lines.append(line)
            line = ""
        line += f" {token}"
        empty = False
    return "\r\n".join([*lines, line]) + "\r\n"
