"""MIME parts as bytes, written directly: the bodies of the emails builder.py makes.

The email package spends milliseconds per email building its object tree and folding it
back into text; our emails have one shape (text and HTML alternatives, maybe pictures
and files), so the parts are written here as RFC 2045-2047 and 2231 say:

- Text is UTF-8. It goes as 7bit when it is plain ASCII in lines of at most 78 octets,
  else as quoted-printable or base64, whichever is shorter (the email package's rule,
  reckoned from the bytes quoted-printable must escape rather than by encoding both).
- Files are base64 in lines of 76, with the file name in `filename` (Content-Disposition)
  and `name` (Content-Type, for older clients): quoted when short plain ASCII, else
  RFC 2231 UTF-8, split into `*0*`, `*1*`... continuations so no line exceeds 78.
- Lines end in CRLF, everything is 7-bit: the bytes go to SMTP as they are.

A part is (head, body): `head` its header lines, each ending in CRLF; `body` its bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from urllib.parse import quote

CRLF = b"\r\n"
MAX_LINE = 78  # RFC 5322's "SHOULD": every line we write fits, headers and bodies alike
_PLAIN_ASCII = frozenset(range(0x20, 0x7F)) | {0x09}
_QP_ESCAPED = bytes([*range(0x00, 0x09), *range(0x0B, 0x20), 0x3D, *range(0x7F, 0x100)])

Part = tuple[str, bytes]


def text(content: str, subtype: str) -> Part:
    """A text/<subtype> part in UTF-8."""
    lines = content.encode("utf-8").splitlines()  # \r, \n and \r\n, as the email package
    if all(len(line) <= MAX_LINE and _PLAIN_ASCII.issuperset(line) for line in lines):
        cte, body = "7bit", CRLF.join(lines) + CRLF
    else:
        data = b"\n".join(lines) + b"\n"
        # Quoted-printable writes 3 characters for each of these bytes, base64 4 for 3 bytes
        escaped = len(data) - len(data.translate(None, _QP_ESCAPED))
        if len(data) + 2 * escaped <= len(data) * 4 // 3:
            cte, body = "quoted-printable", binascii.b2a_qp(data, istext=True).replace(b"\n", CRLF)
        else:
            cte, body = "base64", _base64(CRLF.join(lines) + CRLF)
    head = f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: {cte}\r\n'
    return head, body


def file(data: bytes, mime: str, filename: str, disposition: str, cid: str | None = None) -> Part:
    """A file, base64; `mime` a checked leaf type, `disposition` "inline" or "attachment",
    `cid` the Content-ID (without <>) of a picture the HTML shows."""
    head = (
        _with_params(f"Content-Type: {mime}", "name", filename)
        + "Content-Transfer-Encoding: base64\r\n"
        + _with_params(f"Content-Disposition: {disposition}", "filename", filename)
        + (f"Content-ID: <{cid}>\r\n" if cid else "")
    )
    return head, _base64(data)


def multipart(subtype: str, parts: Sequence[Part], seed: str, params: str = "") -> Part:
    """A multipart/<subtype> of `parts`; `params` go before the boundary (`type="..."`).
    The boundary comes from `seed` (a resend gets the same one), and is made again should
    a part contain it: base64 and quoted-printable can't, text sent as 7bit might."""
    boundary = _boundary(seed, parts)
    head = f'Content-Type: multipart/{subtype};{params}\r\n boundary="{boundary}"\r\n'
    delimiter = b"--" + boundary.encode("ascii")
    body = bytearray()
    for part_head, part_body in parts:
        body += delimiter + CRLF + part_head.encode("ascii") + CRLF + part_body + CRLF
    body += delimiter + b"--" + CRLF
    return head, bytes(body)


def _boundary(seed: str, parts: Sequence[Part]) -> str:
    for attempt in range(100):
        digest = hashlib.sha256(f"{seed}/{attempt}".encode()).hexdigest()[:32]
        boundary = f"=_im2mail_{digest}"
        marker = boundary.encode("ascii")
        if not any(marker in body or boundary in head for head, body in parts):
            return boundary
    raise ValueError("no MIME boundary found that the email's parts don't contain")


def _base64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", CRLF)


def _with_params(start: str, name: str, value: str) -> str:
    """`start; name="value"` as header lines: on one line when it fits, the value as an
    RFC 2231 continuation over several when it is long or not plain ASCII."""
    if value.isascii() and value.isprintable():
        quoted = value.replace("\\", "\\\\").replace('"', '\\"')
        line = f'{start}; {name}="{quoted}"'
        if len(line) <= MAX_LINE:
            return line + "\r\n"
    # Split between characters, never inside one's UTF-8 bytes: a reader may decode each
    # continuation by itself.
    room = MAX_LINE - len(f" {name}*99*=;")
    chunks, current = [], "utf-8''"
    for char in value:
        piece = quote(char, safe="", encoding="utf-8")
        if len(current) + len(piece) > room and current != "utf-8''":
            chunks.append(current)
            current = ""
        current += piece
    chunks.append(current)
    if len(chunks) == 1:
        return f"{start};\r\n {name}*={chunks[0]}\r\n"
    lines = ";\r\n".join(f" {name}*{i}*={chunk}" for i, chunk in enumerate(chunks))
    return f"{start};\r\n{lines}\r\n"
