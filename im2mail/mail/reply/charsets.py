"""A text part's bytes as the words they are, when its charset label says otherwise.

Mail in the wild is labelled wrongly in a few well-known ways, and a customer must not get
mojibake ("Äîáðûé äåíü") for a manager's answer:
- a label the bytes cannot be in (windows-1251 bytes labelled utf-8 or us-ascii): the
  decoding fails, and the part is read as UTF-8, else windows-1251 (reply_parts.decode);
- a Latin-1 label on bytes of another charset: ISO-8859-1 and its kin decode any byte,
  so nothing fails. A relay converting 8-bit mail without a label to MIME writes the one it
  is configured with (sendmail's DefaultCharSet, often iso-8859-1); a client with a
  Western default does the same. Two shapes are unmistakable: bytes that are valid UTF-8
  with non-ASCII sequences (Latin-1 text almost never is), and text whose letters are
  mostly in À..ÿ (Latin-1 languages use a few accented letters among ASCII ones; Cyrillic
  in windows-1251 or KOI8 puts nearly every letter there).
"""

from __future__ import annotations

_LATIN1 = {"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "iso-8859-15", "latin-9",
           "windows-1252", "cp1252", "us-ascii", "ascii"}  # fmt: skip
_MIN_LETTERS = 8  # so short: a name with accents, too few letters to tell


def _others(wanted: bytes) -> bytes:
    return bytes(b for b in range(256) if b not in wanted)


_HIGH = _others(bytes(range(0xC0, 0x100)))  # each: the bytes NOT counted
_TOP = _others(bytes(range(0xE0, 0x100)))
_ASCII_LETTERS = _others(bytes(range(0x41, 0x5B)) + bytes(range(0x61, 0x7B)))


def _count(raw: bytes, others: bytes) -> int:
    """How many bytes of `raw` are not among `others` (bytes.translate: no Python loop)."""
    return len(raw.translate(None, others))


def is_latin1(charset: str) -> bool:
    """Whether `charset` is of the family any byte string decodes in."""
    return charset.strip().lower() in _LATIN1


def relabelled(raw: bytes, charset: str | None) -> str | None:
    """`raw` decoded as what it is when the Latin-1 family `charset` can't be right
    (valid UTF-8, or Cyrillic in windows-1251 or KOI8-R), else None."""
    if not charset or not is_latin1(charset) or raw.isascii():
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    high = _count(raw, _HIGH)  # À..ÿ in Latin-1: Cyrillic letters in both
    letters = high + _count(raw, _ASCII_LETTERS)
    if high < _MIN_LETTERS or high * 2 <= letters:
        return None
    # Running text is mostly lower case: а..я is E0..FF in windows-1251, C0..DF in KOI8
    lower_1251 = _count(raw, _TOP)
    return raw.decode("windows-1251" if lower_1251 * 2 >= high else "koi8-r", errors="replace")
