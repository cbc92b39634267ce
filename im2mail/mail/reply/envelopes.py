"""What wraps a reply, or sits beside its text, and is not the manager's to send.

* OpenPGP's cleartext signature ("PGP inline", RFC 4880 section 7): the armour lines, the
  armour headers, the dash-escaping and the signature block come off (`unarmour`).
* The part that signs a multipart/signed mail (RFC 1847: smime.p7s, OpenPGP_signature.asc)
  and the sender's public key are no files for the customer (`client_parts`).
* An encrypted reply (PGP/MIME multipart/encrypted, S/MIME enveloped data, a PGP message
  inline) and an opaque-signed one (S/MIME signed-data, the text inside the signature)
  cannot be read: `unreadable` says why, and nothing of it goes to the customer.
* Outlook's winmail.dat (TNEF) that only repeats the message as RTF is dropped; one that
  packs the manager's files cannot be passed on (`winmail`, PACKED_IN_WINMAIL).
"""

from __future__ import annotations

import re
from email.message import Message

_ARMOUR_SIGNED = "-----BEGIN PGP SIGNED MESSAGE-----"
_ARMOUR_SIGNATURE = "-----BEGIN PGP SIGNATURE-----"
_ARMOUR_END = "-----END PGP SIGNATURE-----"
_ARMOUR_MESSAGE = re.compile(r"^-----BEGIN PGP MESSAGE-----[ \t]*$", re.M)


def unarmour(text: str) -> str:
    """`text` with its OpenPGP cleartext signatures (RFC 4880 section 7, "PGP inline")
    taken off: the "-----BEGIN PGP SIGNED MESSAGE-----" line and its armour headers
    ("Hash: SHA256") down to the blank line, the dash-escaping of the signed lines ("- -- "
    is the "-- " the manager typed), and the signature block to its END line. An armour
    line inside a quote (">") is the quoted history's and is left to the quote rules; a
    header line without a signature block under it is no armour and stays."""
    if _ARMOUR_SIGNED not in text:
        return text
    lines = text.replace("\r\n", "\n").split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        if lines[i].rstrip() != _ARMOUR_SIGNED:
            out.append(lines[i])
            i += 1
            continue
        start = i + 1
        while start < len(lines) and lines[start].strip():  # armour headers
            start += 1
        ends = (n for n in range(start, len(lines)) if lines[n].rstrip() == _ARMOUR_SIGNATURE)
        sig = next(ends, None)
        if sig is None:
            out.append(lines[i])
            i += 1
            continue
        out += [line[2:] if line.startswith("- ") else line for line in lines[start + 1 : sig]]
        end = next((n for n in range(sig, len(lines)) if lines[n].rstrip() == _ARMOUR_END), sig)
        i = end + 1
    return "\n".join(out)


def _parts(message: Message) -> list[tuple[Message, str]]:
    """Each part of the mail with its content type (read from the raw header: the parsed
    header objects of policy.default cost ten times more), an attached email not looked
    into."""
    found: list[tuple[Message, str]] = []
    stack = [message]
    while stack:
        part = stack.pop(0)
        kind = next((str(v) for k, v in part.raw_items() if k.lower() == "content-type"), "")
        kind = kind.split(";")[0].strip().lower() if "/" in kind else "text/plain"
        found.append((part, kind))
        payload = part.get_payload()
        if kind.startswith("multipart/") and isinstance(payload, list):
            stack += [p for p in payload if isinstance(p, Message)]
    return found


def unreadable(message: Message, text: str) -> str | None:
    """Why the reply cannot be read, if it cannot: encrypted (PGP/MIME's
    multipart/encrypted, S/MIME's enveloped data, a PGP message inline in the text), or
    signed in the opaque form whose text is inside the signature (S/MIME signed-data as
    the mail's own body, smime.p7m). An email attached to the reply is not looked into."""
    for part, kind in _parts(message):
        if kind == "multipart/encrypted":
            return "it is encrypted, and im2mail holds no key to read it"
        if kind in ("application/pkcs7-mime", "application/x-pkcs7-mime") and (
            part is message or (part.get_filename() or "").lower() == "smime.p7m"
        ):
            if "signed" in (part.get_param("smime-type") or "").lower():
                return (
                    "it is signed in the form that wraps the text inside the signature "
                    "(S/MIME opaque signing), which im2mail cannot open"
                )
            return "it is encrypted (S/MIME), and im2mail holds no key to read it"
    if _ARMOUR_MESSAGE.search(text):
        return "its text is an encrypted PGP message, and im2mail holds no key to read it"
    return None


def client_parts(message: Message) -> set[int]:
    """The ids of the parts a mail program adds to what it signs: the part that signs (the
    second of each multipart/signed, RFC 1847: smime.p7s, OpenPGP_signature.asc) and the
    sender's public key (application/pgp-keys). Never a file for the customer."""
    found: set[int] = set()
    for part, kind in _parts(message):
        if kind == "application/pgp-keys":
            found.add(id(part))
        elif kind == "multipart/signed":
            payload = part.get_payload()
            if isinstance(payload, list) and len(payload) > 1:
                found.add(id(payload[1]))
    return found


_TNEF_SIGNATURE = b"\x78\x9f\x3e\x22"
_TNEF_TYPES = ("application/ms-tnef", "application/vnd.ms-tnef")


def winmail(part: Message, data: bytes) -> bool | None:
    """For Outlook's winmail.dat (`part` of a TNEF type, `data` its bytes): whether it
    packs the manager's files (True) or only the message again (False); None for any
    other part, or data that is no TNEF stream (a file as any other)."""
    if part.get_content_type() not in _TNEF_TYPES:
        return None
    return tnef_has_files(data)


def tnef_has_files(data: bytes) -> bool | None:
    """Whether a TNEF stream (Outlook's winmail.dat, MS-OXTNEF) packs attachments (an
    attribute of the attachment level, 2), or only the message again (its RTF body);
    None when the data is no TNEF stream."""
    if data[:4] != _TNEF_SIGNATURE:
        return None
    at = 6  # the signature and the legacy key
    while at + 9 <= len(data):
        if data[at] == 2:
            return True
        at += 9 + int.from_bytes(data[at + 5 : at + 9], "little") + 2
    return False


PACKED_IN_WINMAIL = (
    "the files you attached are packed in winmail.dat (Outlook's Rich Text format), "
    "which the customer could not open"
)
