"""format=flowed (RFC 3676): the soft line breaks of a text/plain part, undone.

Thunderbird, Roundcube, K-9, Apple Mail and others send plain text as format=flowed: a
line that ends in a space continues on the next one. Read as-is, a customer in a
messenger sees the sender's line breaks at every ~72 characters. Decoding joins such
lines into the paragraph the manager typed, keeps quoted lines quoted ("> " once per
depth, as strip_text expects), and leaves the signature separator "-- " alone.
"""

from __future__ import annotations

from email.message import Message

SIGNATURE = "-- "


def is_flowed(part: Message) -> bool:
    return (part.get_param("format", header="content-type") or "").lower() == "flowed"


def del_sp(part: Message) -> bool:
    return (part.get_param("delsp", header="content-type") or "").lower() == "yes"


def unflow(text: str, delsp: bool = False, typed: list[int] | None = None) -> str:
    """The text with its soft line breaks joined (RFC 3676 section 4.2 and 4.5).
    `typed`, when given, gets the numbers of the lines that start with ">" but are not
    quoted: the writer typed the ">" and the client space-stuffed the line (4.4)."""
    out: list[str] = []
    paragraph: list[str] = []
    depth_of_paragraph = 0

    def finish() -> None:
        if paragraph:
            prefix = "> " * depth_of_paragraph if depth_of_paragraph else ""
            out.append(prefix + "".join(paragraph))
            paragraph.clear()

    for raw in text.replace("\r\n", "\n").split("\n"):
        depth = len(raw) - len(raw.lstrip(">"))
        line = raw[depth:]
        if line.startswith(" "):
            line = line[1:]  # space-stuffing, or the space after the quote marks
        if paragraph and depth != depth_of_paragraph:
            finish()  # a flowed line followed by another depth counts as fixed
        if typed is not None and not depth and not paragraph and line.startswith(">"):
            typed.append(len(out))
        depth_of_paragraph = depth
        soft = line.endswith(" ") and line != SIGNATURE
        if soft and delsp:
            line = line[:-1]
        paragraph.append(line)
        if not soft:
            finish()
    finish()
    return "\n".join(out)
