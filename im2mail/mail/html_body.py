"""The HTML alternative of our emails: plain string templates, every value escaped.

Customer text, names, file names and the platforms' error messages are untrusted: they go
through `html.escape` and arrive in the manager's mail client as text, never as markup.
Styles are inline (Gmail and Outlook drop <style> blocks in some views); newlines become
<br> because Outlook's renderer ignores `white-space: pre-wrap`.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import NamedTuple


class Line(NamedTuple):
    """A line about a file: what to say, and where it can be downloaded if anywhere."""

    text: str
    link: str | None = None


class Quote(NamedTuple):
    """A block of a notice: the line above it ("" for none) and the text shown quoted."""

    label: str
    text: str


class Image(NamedTuple):
    """A picture shown in the body, from the related part with this Content-ID."""

    cid: str  # without the angle brackets
    alt: str


_PAGE = """\
<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title></head>
<body style="margin:0;padding:12px;font-family:Arial,Helvetica,sans-serif;\
font-size:14px;line-height:1.45;color:#1a1a1a">
{content}
<p style="margin:16px 0 0;color:#777;font-size:12px">{footer}</p>
</body></html>
"""

_CARD = """\
<p style="margin:0 0 4px;font-size:15px"><b>{name}</b></p>
<p style="margin:0 0 12px;color:#555;font-size:13px">{details}</p>"""

_TEXT = '<p style="margin:0 0 10px">{text}</p>'
_EDITED = '<span style="color:#888;font-style:italic">(edited)</span> '
_IMAGE = (
    '<p style="margin:0 0 10px"><img src="cid:{cid}" alt="{alt}" '
    'style="max-width:100%;height:auto;border:0"></p>'
)
_FILES = '<ul style="margin:8px 0;padding-left:20px;color:#333">\n{items}\n</ul>'
_FILE = "<li>{text}</li>"
_FILE_LINK = '<li>{text}; <a href="{href}">download</a></li>'
_TRANSCRIPT = '<br><a href="{href}" style="color:#777">The whole conversation</a>'
_LABEL = '<p style="margin:12px 0 0">{text}</p>'
_QUOTE = (
    '<blockquote style="margin:8px 0;padding:0 0 0 10px;border-left:3px solid #ccc;'
    'color:#555">{text}</blockquote>'
)


def chat_html(
    *,
    title: str,
    name: str,
    details: Sequence[str],
    texts: Sequence[str],
    edited: bool,
    images: Sequence[Image],
    files: Sequence[Line],
    footer: str,
    transcript: str | None = None,
) -> str:
    """A customer's message: who wrote, what they wrote ("(edited)" before the first
    text of an edited message), the pictures, then a line per other file; `transcript`,
    a link to the whole conversation as a web page, goes with the footer."""
    blocks = [_CARD.format(name=escape(name), details=" · ".join(escape(d) for d in details))]
    if edited and not texts:
        texts = [""]  # the mark alone
    for index, text in enumerate(texts):
        mark = _EDITED if edited and index == 0 else ""
        blocks.append(_TEXT.format(text=mark + _multiline(text)))
    blocks += [_IMAGE.format(cid=escape(i.cid), alt=escape(i.alt)) for i in images]
    if files:
        blocks.append(_FILES.format(items="\n".join(_file(line) for line in files)))
    footer = escape(footer)
    if transcript:
        footer += _TRANSCRIPT.format(href=escape(transcript))
    return _PAGE.format(title=escape(title), content="\n".join(blocks), footer=footer)


def notice_html(
    *,
    title: str,
    lead: str,
    quotes: Sequence[Quote],
    footer: str,
    files: Sequence[str] = (),
    files_label: str = "",
    transcript: str | None = None,
) -> str:
    """A notice to a manager: what happened, then each quoted text (the platform's words,
    a reply) under its label, then the files it concerns as a list; `transcript` as in
    chat_html."""
    blocks = [f'<p style="margin:0 0 10px"><b>{escape(lead)}</b></p>']
    for quote in quotes:
        if quote.label:
            blocks.append(_LABEL.format(text=escape(quote.label)))
        blocks.append(_QUOTE.format(text=_multiline(quote.text)))
    if files:
        if files_label:
            blocks.append(_LABEL.format(text=escape(files_label)))
        blocks.append(_FILES.format(items="\n".join(_FILE.format(text=escape(f)) for f in files)))
    footer = escape(footer)
    if transcript:
        footer += _TRANSCRIPT.format(href=escape(transcript))
    return _PAGE.format(title=escape(title), content="\n".join(blocks), footer=footer)


def _file(line: Line) -> str:
    if line.link and line.link.startswith(("https://", "http://")):
        return _FILE_LINK.format(text=escape(line.text), href=escape(line.link))
    return _FILE.format(text=escape(line.text))


def _multiline(text: str) -> str:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "<br>\n".join(escape(line) for line in lines)
