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


# a style hides only with one of these (a collapsed box needs overflow:hidden too)
_HIDING = ("display", "visibility", "mso-hide", "opacity", "overflow")


def _declarations(css: str) -> dict[str, str]:
    style: dict[str, str] = {}
    for declaration in css.lower().split(";"):
        name, _, value = declaration.partition(":")
        style[name.strip()] = value.replace("!important", "").strip()
    return style


def hidden(attrs: dict[str, str]) -> bool:
    """Whether the manager's client does not show this element: its text was never seen by
    the one who pressed Send (a template's preheader, Outlook's mso-hide parts, a hidden
    copy of the thread), so it must not reach the customer either."""
    if "hidden" in attrs:
        return True
    css = attrs.get("style", "").lower()
    if not any(name in css for name in _HIDING):  # most elements: a quick no (1 MB replies)
        return False
    style = _declarations(css)
    if style.get("display") == "none" or style.get("visibility") in ("hidden", "collapse"):
        return True
    if style.get("mso-hide") == "all" or zero(style.get("opacity", "1")):
        return True
    collapsed = any(zero(style.get(k, "1")) for k in ("max-height", "height", "width"))
    return collapsed and style.get("overflow") == "hidden"


# white, as a colour attribute or declaration writes it
_WHITE = re.compile(
    r"^(white|#f{3}|#f{6}|rgba?\(\s*255\s*,\s*255\s*,\s*255\s*(,\s*(1|1\.0*|100%)\s*)?\))$", re.I
)
_PAINT = ("background", "background-color", "background-image")


def paints(attrs: dict[str, str]) -> bool:
    """Whether an element draws a background under its text (a coloured table cell, a
    banner): white text on it is seen."""
    css = attrs.get("style", "")
    if "ackground" not in css.lower() and "bgcolor" not in attrs and "background" not in attrs:
        return False  # most elements: a quick no (1 MB replies)
    if attrs.get("bgcolor", "").strip() or attrs.get("background", "").strip():
        return True
    style = _declarations(css)
    return any(style.get(k, "") not in ("", "none", "transparent") for k in _PAINT)


def unseen(attrs: dict[str, str]) -> bool:
    """Whether an element writes white text on no background of its own: on the white page
    of a mail it cannot be read (a tracking extension's mark, a helpdesk's ticket reference
    kept for its own threading). The caller knows whether an element around it paints a
    background, and asks only when none does."""
    colour = attrs.get("color", "")
    css = attrs.get("style", "")
    if not colour and "olor" not in css.lower():  # most elements: a quick no (1 MB replies)
        return False
    css = css.lower()
    if "color" in css:
        colour = _declarations(css).get("color", colour)
    return bool(_WHITE.match(colour.strip())) and not paints(attrs)
