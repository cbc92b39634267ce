"""Is a MIME part's Content-Transfer-Encoding intact? If not, its content is not sent.

The email package is lenient on purpose: base64 with characters outside the alphabet is
decoded without them, a payload of impossible length comes back still encoded, and an
encoding it does not know (a typo, `Base64 ` with a trailing space, uuencode that fails)
comes back as the raw text. Fine for reading mail, not for relaying it: a customer would
get a wall of base64 as "text", or a file with bytes missing. `problem(part)` says what
is wrong so that the manager can be told instead (mail/replies.py collects it per part).

What counts as broken:
- base64 that the email package records a defect for: characters outside the alphabet,
  missing padding (RFC 2045 requires it; an encoder never leaves it out, a cut-off mail
  does), a length no data can have;
- quoted-printable with an escape cut short: "=" and one hex digit where two belong (the
  mark of a mail truncated on the way). Other stray "=" are kept as written, as RFC 2045
  §6.7 tells decoders to;
- any other encoding than 7bit, 8bit, binary, base64 and quoted-printable.
"""

from __future__ import annotations

import re
from email import errors
from email.message import Message

IDENTITY = {"", "7bit", "8bit", "binary"}  # no decoding: the bytes are the content
_BASE64_DEFECTS = {
    errors.InvalidBase64CharactersDefect: "characters that are not base64",
    errors.InvalidBase64PaddingDefect: "its end cut off (padding missing)",
    errors.InvalidBase64LengthDefect: "a length no base64 data can have",
}
_CUT_ESCAPE = re.compile(r"=[0-9A-Fa-f](?![0-9A-Fa-f])")


def problem(part: Message) -> str | None:
    """Why the part's content can't be decoded faithfully ("its base64 encoding has
    characters that are not base64"), or None when it can."""
    # The very string Message.get_payload(decode=True) compares, so both agree.
    cte = str(part.get("content-transfer-encoding", "")).lower()
    if cte.strip() in IDENTITY:
        return None
    if cte == "base64":
        return _base64_problem(part)
    if cte == "quoted-printable":
        payload = part.get_payload()
        if isinstance(payload, str) and _CUT_ESCAPE.search(payload):
            return "its quoted-printable encoding is cut short (an escape missing a digit)"
        return None
    shown = cte.strip()[:40] or "(blank)"
    return f"it is in a transfer encoding im2mail does not read ({shown!r})"


def _base64_problem(part: Message) -> str | None:
    before = len(part.defects)
    try:
        part.get_payload(decode=True)
    except Exception as e:  # the email package mends what it can; this is a last resort
        return f"its base64 encoding can't be decoded ({type(e).__name__})"
    found = [d for d in part.defects[before:] if type(d) in _BASE64_DEFECTS]
    del part.defects[before:]  # reading it again (extract does) records them again
    if not found:
        return None
    what = " and ".join(dict.fromkeys(_BASE64_DEFECTS[type(d)] for d in found))
    return f"its base64 encoding is broken: {what}"
