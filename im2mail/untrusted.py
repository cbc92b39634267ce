"""Strings that come from outside — platforms, customers, emails, export files — made fit
for where they go: a file name for disk and headers, a MIME type, a log line.

A customer chooses their file's name and their display name; a platform passes on what
the customer's app sent. A CR/LF in a name must not start a new header, mbox message or
log line, a bidi override must not turn "invoice‮fdp.exe" into "invoiceexe.pdf" on
screen, and a 1000-byte name must not fail a write on a file system that allows 255.
"""

from __future__ import annotations

import posixpath
import re

NAME_BYTES = 255  # the longest file name most file systems take (ext4, APFS, NTFS in UTF-16)
OCTET_STREAM = "application/octet-stream"

# C0 and C1 controls, DEL, line and paragraph separators: where they were, a space.
_BREAKS = "\x00-\x1f\x7f-\x9f\u2028\u2029"
# The bidi controls that reorder what is shown (U+061C, U+200E/F, U+202A-E, U+2066-9):
# invisible, so simply dropped. Zero-width joiners stay: emoji sequences and several
# scripts need them.
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
# Lone surrogates (undecodable bytes that aiohttp or os hand on as str): a log line
# shows them escaped rather than failing to encode.
_SURROGATES = "\ud800-\udfff"
_CONTROLS = re.compile(f"[{_BREAKS}{_BIDI}{_SURROGATES}]+")
_BREAK_RUN, _BIDI_RUN = re.compile(f"[{_BREAKS}]+"), re.compile(f"[{_BIDI}]+")
_TOKEN = r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}"  # RFC 6838: at most 127 characters
_MIME = re.compile(rf"{_TOKEN}/{_TOKEN}")


def file_name(name: object, *, limit: int = NAME_BYTES) -> str:
    """A file name as the customer meant it, safe to store, show and put in a header:
    control characters become spaces, any folder part is dropped, and it is cut to
    `limit` UTF-8 bytes keeping its extension. "" when nothing is left ("..", "/")."""
    if not isinstance(name, str):
        return ""
    name = name.encode("utf-8", "replace").decode("utf-8")  # lone surrogates: "?"
    name = _BREAK_RUN.sub(" ", _BIDI_RUN.sub("", name))
    name = posixpath.basename(name.replace("\\", "/")).strip()
    if name in (".", ".."):
        return ""
    return cut_bytes(name, limit)


def cut_bytes(name: str, limit: int) -> str:
    """`name` in at most `limit` UTF-8 bytes, cut between characters, its extension kept
    (when the extension is short enough to keep)."""
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, extension = posixpath.splitext(name)
    room = limit - len(extension.encode("utf-8"))
    if not extension or room < limit // 2:
        stem, extension, room = name, "", limit
    cut = stem.encode("utf-8")[:room].decode("utf-8", "ignore")
    return cut.rstrip() + extension


def mime_type(mime: object) -> str:
    """A MIME type reduced to its type/subtype, lower case (parameters dropped); when it is
    not well-formed (a line break, a space, no subtype), application/octet-stream."""
    if not isinstance(mime, str):
        return OCTET_STREAM
    essence = mime.split(";", 1)[0].strip().lower()
    return essence if _MIME.fullmatch(essence) else OCTET_STREAM


def printable(text: object) -> str:
    """Text for a one-line log entry: control characters shown as escapes (\\n, \\x1b,
    \\u202e), so a customer's name can't start a line of its own or paint the terminal."""
    text = str(text)
    if not _CONTROLS.search(text):
        return text
    return _CONTROLS.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), text)
