"""Inline CSS as a reply's layout reads it (reply_html.py lays HTML out as text).

Webmails that write their own HTML put each line the manager typed in a paragraph with
no margins (`<p style="margin:0">`, Outlook on the web's `margin-top:0;margin-bottom:0`,
`margin: 0px 0px 0px 0px`) and an empty one (`&nbsp;`) where a blank line is: on screen
those paragraphs are lines, so as text they are lines too, not paragraphs a blank line
apart.
"""

from __future__ import annotations

import re

_ZERO = re.compile(r"^[+-]?0*(\.0*)?(px|pt|em|rem|ex|ch|vh|vw|cm|mm|in|pc|%)?$", re.I)


def zero(value: str) -> bool:
    """Whether a CSS length (or opacity) is zero, in any unit: "0", "0px", "-0.0em"."""
    value = value.replace("!important", "").strip()
    return bool(value) and bool(_ZERO.match(value)) and any(c == "0" for c in value)


def flush(style: str) -> bool:
    """Whether an inline style leaves no margin above and below the element: the
    `margin` shorthand (one to four values: top, then right, bottom, left as CSS reads
    them) and the margin-top / margin-bottom longhands, the last declaration winning."""
    top = bottom = None
    for declaration in style.split(";"):
        name, _, value = declaration.partition(":")
        name = name.strip().lower()
        if name == "margin":
            values = value.split()
            if not values:
                continue
            top = values[0]
            bottom = values[0] if len(values) < 3 else values[2]
        elif name in ("margin-top", "margin-block-start"):
            top = value
        elif name in ("margin-bottom", "margin-block-end"):
            bottom = value
    return top is not None and bottom is not None and zero(top) and zero(bottom)
