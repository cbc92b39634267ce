"""HTML replies as text: the stdlib parser walks the body and keeps the manager's part.

Quote containers (gmail_quote, blockquote, moz-cite-prefix, yahoo_quoted, any element named
"…quote…", a div or table cell drawn with a bar on one side) are skipped, and
everything from Outlook's divRplyFwdMsg on; signature containers too, named by any
client (an id or class naming a signature: gmail_signature, moz-signature, Outlook's
Signature, Zoho's Zm-_Id_-Sgn...), their text kept in `signatures` so replies.py cuts the
same lines from the end of the text/plain alternative; and whatever the manager's client
does not show (display:none, visibility:hidden, mso-hide:all, the hidden attribute, a
zero-height box with its overflow hidden; inline, or by a class or id a <style> sheet
hides everywhere): text the manager never saw is not theirs to send. What is left is laid
out as plain text (paragraphs, lists, line breaks) for replies.py, which reads it like a
text/plain body: a table row of one-line cells as one line, a list item's first block on
its marker's line, Word's list paragraphs as numbered lines; a block the manager cannot
edit that only previews a link the text already has (Outlook on the web's link card)
goes; a web link's address follows its text, as a text/plain part writes it. The
pictures the kept part shows (cid: links) are noted, so pictures of the quoted history
are not sent.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from .reply_css import flush, paints, unseen
from .reply_css import hidden as _hidden


def tidy(text: str) -> str:
    """Each line without trailing blanks, no-break spaces or U+FEFF (a client's BOM), at
    most one blank line between paragraphs, none at either end."""
    lines = [ln.replace("\xa0", " ").replace("\ufeff", "").rstrip() for ln in text.split("\n")]
    out = "\n".join(lines)
    out = re.sub(r"\n{3,}", "\n\n", out)
    return out.strip("\n")


_VOID = {"br", "img", "hr", "meta", "link", "input", "col", "area", "base", "wbr", "source"}
_INVISIBLE = {"head", "style", "script", "title", "xml", "template"}
_QUOTE_CLASSES = {
    "gmail_quote",
    "gmail_quote_container",
    "gmail_attr",
    "moz-cite-prefix",
    "yahoo_quoted",
}
# A signature container, by its name whatever the client: an id or class naming a
# signature ("gmail_signature", "moz-signature", Outlook's "Signature", eM Client's
# "signature_old", Evolution's "-x-evo-signature", Zoho's "Zm-_Id_-Sgn", Fastmail's
# "sig112847310", Roundcube's "_rc_sig", Mailbird's "mb_sig"), or a data-signatureblock /
# data-smartmail="gmail_signature" mark. "design" or "signup" name none.
_SIG_NAME = re.compile(r"signature|(?:^|[-_])(?:sgn|sig)(?:$|[-_\d])", re.I)
# Where a client's quoted history starts, everything after it being history: Outlook's
# divRplyFwdMsg (x_ when forwarded by OWA) and appendonsend, Outlook for Mac's
# OLK_SRC_BODY_SECTION, Zimbra's hr#zwchr.
_CUT_IDS = {
    "divrplyfwdmsg", "x_divrplyfwdmsg", "mail-editor-reference-message-container",
    "appendonsend", "olk_src_body_section", "zwchr",
}  # fmt: skip
# A quote container named so by any client: a class, id or name holding "quote"
# (protonmail_quote, tutanota_quote, GMX's name="quote", gmail_quote_container...).
_QUOTE_NAME = re.compile(r"quote", re.I)
# The bar a quote is drawn with when its container has no name (I.UA, Onet, WP, Virgilio
# put our email in a div or table cell with a left border; right-to-left mail, Hebrew or
# Arabic, draws it on the right): "border-left: 2px solid …".
_BAR_STYLE = re.compile(r"\b(solid|dotted|dashed|double|groove|ridge)\b", re.I)
_NO_WIDTH = re.compile(r"(?<![\d.])0+(\.0+)?(px|pt|em)?\b|\b(none|hidden)\b", re.I)
_BAR_SIDES = ("border-left", "border-right", "border-inline-start")


def _quote_bar(style: str) -> bool:
    """Whether an inline style draws a border on one side, left or right (the side a line
    starts on), and no other: a quote's bar (a table cell pasted from a spreadsheet draws
    its other sides too, and is no quote)."""
    bars = set()
    for declaration in style.split(";"):
        name, _, value = declaration.partition(":")
        name = name.strip().lower()
        drawn = bool(_BAR_STYLE.search(value)) and not _NO_WIDTH.search(value)
        if name in _BAR_SIDES:
            bars.discard(name)
            if drawn:
                bars.add(name)
        elif name in ("border", "border-top", "border-bottom") and drawn:
            return False
    return len(bars) == 1


_BLOCK = {
    "div", "table", "tr", "ul", "ol", "pre", "center", "section", "article", "header",
    "footer", "address", "dl", "dt", "dd", "body", "html", "form",
}  # fmt: skip
_PARA = {"p", "h1", "h2", "h3", "h4", "h5", "h6"}
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_ONE_CLASS_OR_ID = re.compile(r"^[a-z0-9]*([.#])([\w-]+)$", re.I)


def hidden_by_sheet(css: str) -> tuple[set[str], set[str]]:
    """The classes and ids a <style> sheet hides everywhere (rules of one simple selector,
    `.preheader` or `span#x`, whose declarations hide as an inline style would). Rules
    inside @media and the like hide only on some screens, and compound selectors only in
    some places: they are left out (the text stays, as the manager's client may show it)."""
    classes: set[str] = set()
    ids: set[str] = set()
    css = _CSS_COMMENT.sub("", css)
    at, depth, selector, body = 0, 0, "", ""
    for n, ch in enumerate(css):
        if ch == "{":
            if depth == 0:
                selector, at = css[at:n].strip(), n + 1
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                body, at = css[at:n], n + 1
                if not selector.startswith("@") and _hidden({"style": body}):
                    for one in selector.split(","):
                        match = _ONE_CLASS_OR_ID.match(one.strip())
                        if match:
                            (classes if match[1] == "." else ids).add(match[2].lower())
    return classes, ids


class _HtmlText(HTMLParser):
    def __init__(self, keep_quotes: bool = False) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = [""]
        # keep_quotes: quote containers are laid out too, their lines marked "> " (the
        # manager may have answered inside one: quoted_history.answers_inside)
        self.keep_quotes = keep_quotes
        self.quote_at: list[int] = []  # stack depths of the quote containers open
        self.quoted: set[int] = set()  # the indexes of the lines written inside one
        self.stack: list[str] = []
        self.skip_at: int | None = None  # stack depth of the element being skipped
        self.stopped = False
        self.pre = 0
        self.lists: list[list[int | None]] = []  # per open list: [counter or None]
        self.kept_cids: set[str] = set()
        # Text of the signature containers skipped, each once it ends (replies.py cuts
        # the same lines from the end of the text/plain alternative).
        self.signatures: list[str] = []
        self.signature: list[str] | None = None  # the one being read
        self.all_cids: set[str] = set()
        # <style> sheets read so far: the classes and ids they hide (hidden_by_sheet)
        self.in_style = False
        self.css: list[str] = []
        self.hidden_classes: set[str] = set()
        self.hidden_ids: set[str] = set()
        # the web link being read (<a href>) and its text so far: see _end_link
        self.link: str | None = None
        self.link_text: list[str] = []
        # a list item's marker just written (the line's index and text): the item's first
        # block (Outlook on the web: li > div) goes on the marker's line
        self.item_at: tuple[int, str] | None = None
        self.marker_at: int | None = None  # stack depth of Word's list number span
        # per open table row, the line each of its cells starts on (_join_row)
        self.rows: list[list[int]] = []
        self.links: set[str] = set()  # the links of the text kept so far
        # a block the manager could not edit (contenteditable=false) being read: its stack
        # depth, where it starts (line index and text) and its links (_end_card)
        self.card: tuple[int, int, str, set[str]] | None = None
        self.painted: list[int] = []  # stack depths of the elements that paint a background

    def _hidden(self, attrs: dict[str, str]) -> bool:
        if _hidden(attrs) or (not self.painted and unseen(attrs)):
            return True
        if self.hidden_ids and attrs.get("id", "").lower() in self.hidden_ids:
            return True
        if not self.hidden_classes:
            return False
        return bool({c.lower() for c in attrs.get("class", "").split()} & self.hidden_classes)

    # output helpers
    def _newline(self) -> None:
        self.lines.append("")

    def _block(self) -> None:
        if self.lines[-1].strip(" ") and not self._at_marker():
            self._newline()

    def _para(self) -> None:
        if self._at_marker():
            return
        self._block()
        if len(self.lines) >= 2 and self.lines[-2].strip(" "):
            self._newline()

    def _emit(self, data: str) -> None:
        if not self.pre:
            data = re.sub(r"[ \t\r\n\f\v]+", " ", data)
            if not self.lines[-1].strip(" "):
                data = data.lstrip(" ")
                self.lines[-1] = self.lines[-1].strip(" ")
            if not data:
                return
            self.lines[-1] += data
            if self.quote_at:
                self.quoted.add(len(self.lines) - 1)
        else:
            parts = data.replace("\r\n", "\n").split("\n")
            self.lines[-1] += parts[0]
            for p in parts[1:]:
                self.lines.append(p)
                if self.quote_at:
                    self.quoted.add(len(self.lines) - 1)
            if self.quote_at:
                self.quoted.add(len(self.lines) - len(parts))

    def _at_marker(self) -> bool:
        return self.item_at == (len(self.lines) - 1, self.lines[-1])

    def _join_row(self) -> None:
        """A table row whose cells hold one line each (a price list pasted from a
        spreadsheet, the cells' paragraphs included) becomes one line, its cells
        separated by a space; a row with a longer cell, or a skipped quote in a cell,
        stays as it was laid out."""
        cells = self.rows.pop()
        if len(cells) < 2:
            return
        texts: list[str] = []
        for n, start in enumerate(cells):
            end = cells[n + 1] if n + 1 < len(cells) else len(self.lines)
            got = [line.strip(" ") for line in self.lines[start:end] if line.strip(" ")]
            if len(got) > 1 or ">" in got:
                return
            texts += got
        if len(texts) < 2:
            return
        first = cells[0]
        quoted = any(n >= first for n in self.quoted)
        self.lines[first:] = [" ".join(texts)]
        if quoted:
            self.quoted = {n for n in self.quoted if n < first} | {first}
        self._newline()

    def _end_card(self) -> None:
        """A block the manager could not edit whose every link goes where a link of the
        text above already goes is the client's preview of that link (Outlook on the
        web's link card: the site's own title and description): it is taken back out."""
        assert self.card is not None
        _, line, text, links = self.card
        self.card = None
        if links and links <= self.links:
            del self.lines[line + 1 :]
            self.lines[line] = text
            self.quoted = {n for n in self.quoted if n <= line}
        self.links |= links

    # parser callbacks
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "style":
            self.in_style = True  # its text is the sheet (html.parser gives it whole)
        hidden = self._hidden(a)
        if tag == "img" and a.get("src", "").lower().startswith("cid:"):
            cid = a["src"][4:].strip("<>")
            self.all_cids.add(cid)
            if self.skip_at is None and not self.stopped and not hidden:
                self.kept_cids.add(cid)
        if self.stopped:
            return
        if tag not in _VOID:
            self.stack.append(tag)
            if paints(a):
                self.painted.append(len(self.stack))
        if self.skip_at is not None:
            if self.signature is not None and tag in _LINE_TAGS:
                self.signature.append("\n")
            return
        classes = set(a.get("class", "").split())
        if a.get("id", "").lower() in _CUT_IDS:
            if not self.keep_quotes:
                self.stopped = True
                return
            if not self.quote_at or self.quote_at[0]:
                self.quote_at.insert(0, 0)  # a quote to the end: no end tag closes it
            self._block()
        if tag in _INVISIBLE or hidden:
            self._start_skip(tag, marker=False)
            return
        if _is_signature(a, classes):
            self._start_skip(tag, marker=False)
            self.signature = [] if tag not in _VOID else None
            return
        if (
            tag == "blockquote"
            or classes & _QUOTE_CLASSES
            or any(_QUOTE_NAME.search(n) for n in (*classes, a.get("id", ""), a.get("name", "")))
            or (tag in ("div", "td") and _quote_bar(a.get("style", "")))
        ):
            if not self.keep_quotes:
                self._start_skip(tag, marker=True)
                return
            if tag not in _VOID:
                self.quote_at.append(len(self.stack))
            self._block()
        if tag == "a" and _WEB_LINK.match(a.get("href", "").strip()):
            self.link, self.link_text = a["href"].strip(), []
        href = a.get("href", "") if tag == "a" else ""
        if href:
            (self.card[3] if self.card is not None else self.links).add(href)
        editable = a.get("contenteditable", "").lower() != "false"
        if not editable and self.card is None and tag not in _VOID:
            self.card = (len(self.stack), len(self.lines) - 1, self.lines[-1], set())
        style = a.get("style", "") if tag not in _VOID else ""
        if "mso-list" in style and "mso-list:ignore" in style.replace(" ", "").lower():
            self.marker_at = len(self.stack)  # Word's list number: "1." and a run of spaces
        if tag == "br":
            self._newline()
        elif tag == "hr":
            self._block()
        elif tag in _PARA:
            # Word's MsoNormal… and margin-less paragraphs are lines; a blank line is an empty one
            if any(c.lower().startswith("mso") for c in classes) or flush(a.get("style", "")):
                self._block()
            else:
                self._para()
        elif tag in ("ul", "ol"):
            self._block()
            self.lists.append([1 if tag == "ol" else None])
        elif tag == "li":
            self._block()
            counter = self.lists[-1] if self.lists else [None]
            if counter[0] is None:
                self._emit("- ")
            else:
                self._emit(f"{counter[0]}. ")
                counter[0] += 1
            self.item_at = (len(self.lines) - 1, self.lines[-1])
        elif tag == "pre":
            self._block()
            self.pre += 1
        elif tag in _BLOCK:
            self._block()
            if tag == "tr":
                self.rows.append([])
        elif tag in ("td", "th"):
            self._block()
            if self.rows:
                self.rows[-1].append(len(self.lines) - 1)

    def _start_skip(self, tag: str, marker: bool) -> None:
        if tag in _VOID:
            return
        self.skip_at = len(self.stack)
        if marker:
            self._block()
            self.lines[-1] = ">"
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag == "style" and self.in_style:
            self.in_style = False
            classes, ids = hidden_by_sheet("".join(self.css))
            self.hidden_classes |= classes
            self.hidden_ids |= ids
            if "background" in "".join(self.css).lower():  # a sheet may paint any element
                self.painted.insert(0, 0)  # so white text is taken as seen everywhere
            self.css = []
        if self.stopped or tag not in self.stack:
            return
        while self.stack:
            top = self.stack.pop()
            depth = len(self.stack) + 1
            if self.painted and self.painted[-1] >= depth:
                self.painted.pop()
            if self.skip_at is not None and depth <= self.skip_at:
                self.skip_at = None
                self._end_signature()
            elif self.skip_at is None:
                self._close(top)
                if self.quote_at and depth <= self.quote_at[-1]:
                    self.quote_at.pop()
                    self._block()
                if self.card is not None and depth <= self.card[0]:
                    self._end_card()
            if self.marker_at is not None and depth <= self.marker_at:
                self.marker_at = None
            if top == tag:
                break

    def _close(self, tag: str) -> None:
        if tag == "a":
            self._end_link()
        elif tag in _PARA:
            self._block()
            if tag != "p":
                self._para()
        elif tag in ("ul", "ol"):
            if self.lists:
                self.lists.pop()
            self._block()
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)
            self._block()
        elif tag in _BLOCK or tag == "li":
            self._block()
            if tag == "tr" and self.rows:
                self._join_row()

    def _end_link(self) -> None:
        """A web link's address after its text, as a client's text/plain part writes it
        ("каталог <https://shop.example/cat>"): the customer reads the text in a chat,
        where the link behind a word is gone. A text that shows the address already, or
        a picture without text, gets nothing."""
        link, shown = self.link, " ".join("".join(self.link_text).split())
        self.link, self.link_text = None, []
        if link is None or not shown:
            return
        if _bare_address(link) in _bare_address(shown):
            return
        self._emit(f" <{link}>")

    def _end_signature(self) -> None:
        if self.signature is not None:
            text = tidy(re.sub(r"[ \t\r\f\v]+", " ", "".join(self.signature)))
            if text.strip():
                self.signatures.append(text)
            self.signature = None

    def handle_data(self, data: str) -> None:
        if self.in_style:
            self.css.append(data)
            return
        if self.signature is not None and self.skip_at is not None and not self.stopped:
            self.signature.append(data)
        if self.stopped or self.skip_at is not None:
            return
        if self.link is not None:
            self.link_text.append(data)
        if self.marker_at is not None:
            data = data.replace("\xa0", " ")
        self._emit(data)

    def text(self) -> str:
        return tidy("\n".join(self.lines))

    def marked_lines(self) -> list[tuple[str, bool]]:
        """keep_quotes: each line with whether it was written inside a quote container."""
        return [(line, n in self.quoted) for n, line in enumerate(self.lines)]


# A reply is read by a person in a chat: parsing stops after this much HTML (a 10 MB HTML
# mail would otherwise take seconds in html.parser); the text is cut, never dropped.
MAX_HTML_CHARS = 1_000_000


_LINE_TAGS = _BLOCK | _PARA | {"br", "li", "p"}
_WEB_LINK = re.compile(r"https?://[^\s<>\"]+$", re.I)


def _bare_address(link: str) -> str:
    """A link as a person would type it: no scheme, "www.", trailing slash or case."""
    bare = re.sub(r"^(?:https?://)?(?:www\.)?", "", link.strip().lower())
    return bare.rstrip("/")


def _is_signature(attrs: dict[str, str], classes: set[str]) -> bool:
    names = [*classes, attrs.get("id", "")]
    return (
        any(_SIG_NAME.search(name) for name in names if name)
        or attrs.get("data-smartmail") == "gmail_signature"
        or "data-signatureblock" in attrs
    )


def parse_html(html: str, keep_quotes: bool = False) -> _HtmlText:
    parser = _HtmlText(keep_quotes)
    html = html[:MAX_HTML_CHARS]
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # html.parser is lenient; this is belt and braces
        pass
    return parser


def html_to_text(html: str) -> str:
    """Visible text of an HTML reply with quote containers dropped ('>' marks where)."""
    return parse_html(html).text()
