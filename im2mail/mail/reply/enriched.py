"""text/enriched (RFC 1896) and its predecessor text/richtext as plain text.

Eudora and older Apple Mail sent styled text this way, sometimes as the only text of a
mail. The rules that matter for the words: a lone newline is a space, n+1 newlines are n
line breaks, "<<" is "<", formatting commands are dropped with their parameters
(<param>…</param>), and <excerpt> holds a quotation (shown here as "> " lines, as a
plain reply quotes). text/richtext (RFC 1341) breaks lines with <nl> instead.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"<<|<(/?)([A-Za-z0-9-]{1,60})>|\n+|[^<\n]+|<")


def to_text(source: str, richtext: bool = False) -> str:
    out: list[str] = []
    depth = skip = 0  # excerpts open; inside <param>
    line_start = True
    for m in _TOKEN.finditer(source.replace("\r\n", "\n")):
        token, closing, name = m.group(0), m.group(1), (m.group(2) or "").lower()
        if name:
            if name == "param":
                skip += -1 if closing else 1
            elif name == "excerpt":
                depth = max(0, depth + (-1 if closing else 1))
            elif name == "nl" and richtext and not skip:
                out.append("\n")
                line_start = True
            continue
        if skip:
            continue
        if token.startswith("\n"):
            if richtext:
                out.append(" ")
                continue
            n = len(token)
            blank = ">" * depth + "\n"  # an empty line of a quotation stays quoted
            out.append(" " if n == 1 else "\n" + blank * (n - 2))
            line_start = line_start or n > 1
            continue
        text = "<" if token == "<<" else token
        if line_start and depth:
            out.append("> " * depth)
        out.append(text)
        line_start = False
    lines = [line.rstrip() for line in "".join(out).split("\n")]
    return "\n".join(lines).strip("\n") + "\n"
