"""Reply extraction: the manager's own words from a reply email, without quotes or signatures.

`extract(message)` returns a `Reply`: the text the customer should receive, the files the
manager attached or pasted, and whether the text came from an HTML-only body.

Rules (DESIGN.md "Email side"; corpus under tests/data/replies/):

* The text/plain alternative is preferred (format=flowed joined back into paragraphs,
  flowed.py); HTML-only mail is converted to text (reply_html.py) after dropping quote
  containers (gmail_quote, blockquote, moz-cite-prefix,
  yahoo_quoted) and everything from Outlook's divRplyFwdMsg on. Signatures marked by the
  clients (gmail_signature, moz-signature) are dropped too.
* A hard cut happens at: a sig-dash line ("-- "), a mobile-client signature ("Sent from my
  iPhone", "Отправлено с iPhone", "Надіслано з iPhone", K-9, Yandex, mail.ru apps), an
  "-----Original Message-----" style separator, or an Outlook header block
  (From:/Sent:, Від:/Надіслано:, От:/Отправлено:, Von:/Gesendet: within a few lines).
* Above a ">" quote, the lines that end in ":" and name a date, time or address are its
  attribution, in any language (at most three: a wrapped one).
* An attribution line ("On … wrote:", "Am … schrieb", "… пише:", "… пишет:", Gmail RU
  "пт, 21 нояб. 2026 г. в 10:15, Олена <…>:", Yandex, mail.ru, Thunderbird) is dropped.
  If what follows it is ">"-quoted the reply may be inline/bottom-posted: quoted lines are
  dropped and the manager's unquoted lines between them are kept (inline answers, in order,
  separated by blank lines). If unquoted text follows an attribution, it is history
  without ">" markers and everything from the attribution on is cut.
* Lines starting with ">" are always dropped (so is a manager's own line beginning with
  ">": a known, accepted limitation).
* Never empty for a real answer: if stripping leaves nothing, the whole body text is
  returned (trimmed) — keep more rather than lose the answer.

Decoding relies on policy.default's get_content(); a missing or unknown charset falls back to
UTF-8, then windows-1251. Broken MIME gives best-effort text, never an exception; only a
non-message argument raises `ReplyError`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import Message

from ..errors import RuntimeFailure
from ..untrusted import file_name, mime_type
from . import flowed, quoted_history, signatures, transfer_encoding
from .quoted_history import SentText
from .reply_html import html_to_text as html_to_text  # part of this module's API
from .reply_html import parse_html, tidy

Attachment = tuple[str, str, bytes]  # (filename, mime type, content)


class ReplyError(RuntimeFailure):
    """The object handed to extract() is not an email message."""


@dataclass(frozen=True)
class Reply:
    text: str
    attachments: tuple[Attachment, ...] = ()
    html_only: bool = False
    # Nothing of the manager's own was found: `text` is the whole body (quotes and all),
    # kept rather than lost; the relay asks before sending such a text to a customer.
    quoted_only: bool = False
    # Parts whose transfer encoding is broken, each named with what is wrong
    # (mail/transfer_encoding.py): their content must not go out as it came.
    broken: tuple[str, ...] = ()
    # Words of im2mail's own emails in the thread are left in `text` (a run of
    # quoted_history.LEAK_WORDS, given here) that the extractor could not tell apart from
    # the answer: the relay sends nothing and shows the manager `text` instead.
    doubt: str | None = None
    # The manager's first line was "/send": `text` goes as it is, without that check.
    forced: bool = False
    # The manager's learned signature, as it stood at the end of the answer and was cut.
    signature: str | None = None


# --- plain-text rules ---------------------------------------------------------------------

_WROTE = (
    r"wrote|schrieb|пише|пишет|написав|написала|написал|написал\(а\)|написав\(ла\)"
    r"|a écrit|escribió|napisał"
)
_ATTRIBUTION = [
    re.compile(r"^On\b.{4,250}\bwrote:$", re.I),
    re.compile(r"^Am\b.{4,250}\bschrieb\b.{0,120}:$", re.I),
    re.compile(r"^.{4,250}\b(" + _WROTE + r")\s*:$", re.I),
]
_TIME = re.compile(r"\b\d{1,2}:\d{2}\b")
_YEAR = re.compile(r"\b(19|20)\d{2}\b")

_SEPARATOR = re.compile(
    r"^\s*-{2,}\s*(Original Message|Forwarded message|Исходное сообщение|Пересылаемое сообщение"
    r"|Оригінальне повідомлення|Початкове повідомлення|Переслане повідомлення"
    r"|Ursprüngliche Nachricht)\s*-{2,}\s*$"
    r"|^\s*(Begin forwarded message|Начало переадресованного сообщения):\s*$",
    re.I,
)
_HEADER_FROM = re.compile(r"^\*?\s*(From|Від|От|Von|De)\s*:\*?\s*\S", re.I)
_HEADER_NEXT = re.compile(
    r"^\*?\s*(Sent|Date|Надіслано|Відправлено|Дата|Отправлено|Gesendet|Envoyé)\s*:", re.I
)
_RULE = re.compile(r"^\s*(_{8,}|-{8,}|={8,})\s*$")
_SIG_DASH = re.compile(r"^--\s?$")
_MOBILE_SIG = re.compile(
    r"^(Sent from my .{1,80}|Sent from (Mail|Outlook|Yahoo Mail)\b.{0,80}"
    r"|Get Outlook for (iOS|Android).{0,40}"
    r"|Отправлено с (iPhone|iPad|моего .{1,60})\.?|Надіслано з (iPhone|iPad|мого .{1,60})\.?"
    r"|Відправлено з (iPhone|iPad|мого .{1,60})\.?"
    r"|Отправлено из мобильной Яндекс[. ]Почты.{0,40}|Отправлено из мобильной Почты Mail\.ru.{0,40}"
    r"|Отправлено из Mail\.ru для (Android|iOS|iPhone).{0,40}"
    r"|Надіслано з мобільної .{1,60})$",
    re.I,
)
# A mail app or device a client footer names, in any language ("Von meinem iPhone
# gesendet", "Sent with Proton Mail secure email.", "Wysłane z aplikacji Outlook").
_CLIENT_BRAND = re.compile(
    r"\b(iPhone|iPad|iOS|Android|Samsung|Galaxy|Huawei|Xiaomi|Outlook|Proton\s?Mail|Tuta"
    r"|Tutanota|Yahoo|AOL|BlueMail|Spark|Gmail|Mail\.ru|Yandex|Яндекс|eM Client|FairEmail"
    r"|K-9|Thunderbird"
    # Windows' Mail app, never Windows alone ("Підходить для Windows 11." is the manager's)
    r"|(?:E-?mail|Mail|Courrier|Correo|Posta|Poczta|Почта|Пошта)\s+\S{1,6}\s+Windows)\b",
    re.I,
)
_FOOTER_WORDS = 12
_FORCE = re.compile(r"\A\s*/send[ \t]*(\n|\Z)", re.I)  # the manager's "send it as it is"
_FORCE_LINE = re.compile(r"^[ \t>]*/send[ \t]*$", re.I | re.M)
_IMAGE_PLACEHOLDER = re.compile(r"^\[(image|изображение|зображення|cid):[^\]]*\]$", re.I)


def _is_quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _is_attribution(s: str) -> bool:
    s = " ".join(s.split())
    if not s or len(s) > 300:
        return False
    if any(p.match(s) for p in _ATTRIBUTION):
        return True
    # Gmail RU, Yandex, mail.ru: a date, a time and an address or name, ending with ':'
    return bool(
        s.endswith(":")
        and _TIME.search(s)
        and _YEAR.search(s)
        and ("@" in s or "<" in s or '"' in s or "«" in s)
    )


def _attribution_span(lines: list[str], i: int) -> int:
    """Number of lines (1-3) forming an attribution starting at i, or 0."""
    if _is_attribution(lines[i]):
        return 1
    if not re.search(r"\d", lines[i]):
        return 0
    for k in (2, 3):
        if i + k > len(lines):
            break
        tail = lines[i + 1 : i + k]
        if any(
            _is_quoted(t) or not t.strip() or (_is_attribution(t) and re.search(r"\d", t))
            for t in tail
        ):
            break
        if _is_attribution(" ".join(lines[i : i + k])):
            return k
    return 0


# "Label: value" in any language ("Von:", "Wysłano:", "Envoyé :", "*Від:*"): a label of
# one to three words of letters, then the value on the same line.
_LABELLED = re.compile(r"^\s*\*?[^\W\d_][^\W\d_ .'-]*(?:[ .'-][^\W\d_]+){0,2}\*?\s?:\*?\s+\S")
_DATED = re.compile(r"\b(19|20)\d\d\b|\b\d{1,2}:\d\d\b")


def _is_header_block(lines: list[str], i: int) -> bool:
    if _HEADER_FROM.match(lines[i]):
        following = [ln for ln in lines[i + 1 : i + 8] if ln.strip()][:5]
        if any(_HEADER_NEXT.match(ln) for ln in following):
            return True
    return _is_labelled_block(lines, i)


# "-------- Původní zpráva --------", "‐‐‐‐‐‐‐ Original Message ‐‐‐‐‐‐‐" (any dash)
_DASHED = re.compile(
    r"^\s*[-\u2010-\u2015\u2212_]{2,}\s*[^\W\d_][^\d]{0,40}?[-\u2010-\u2015\u2212_]{2,}\s*$"
)


def _is_dashed_separator(lines: list[str], i: int) -> bool:
    """A line of words between runs of dashes, in any language, with an address or a
    "Label: value" line among the next four: the head of a quoted or forwarded email. A
    manager's "--- Акція ---" heading is followed by no such line and stays."""
    if not _DASHED.match(lines[i]):
        return False
    following = [ln for ln in lines[i + 1 : i + 9] if ln.strip()][:4]
    return any("@" in ln or _LABELLED.match(ln) for ln in following)


def _is_labelled_block(lines: list[str], i: int) -> bool:
    """A quoted email's header block by its shape, whatever the client's language: three
    or more "Label: value" lines in a row, one naming an address and one a date or time
    (From/Sent/To/Subject as Outlook, GMX or webmail write them in any language). A
    manager's own "Ціна: 1450 грн" lines name no address, and a contact block no date."""
    block = []
    for line in lines[i : i + 6]:
        if not _LABELLED.match(line):
            break
        block.append(line)
    if len(block) < 3:
        return False
    values = [line.split(":", 1)[1] for line in block]
    return any("@" in v for v in values) and any(_DATED.search(v) for v in values)


def _cut_back(kept: list[str]) -> None:
    """Drop rules and blank lines left right above a hard cut (Outlook's underscores)."""
    while kept and (not kept[-1].strip() or _RULE.match(kept[-1])):
        kept.pop()


_ATTRIBUTION_MARK = re.compile(r"[\d@]")  # a date, a time or an address: who wrote when
_SENTENCE_END = re.compile(r"[.!?…]$")
_DASHED_ATTRIBUTION = re.compile(r"^\s*[-\u2010-\u2015]{2,}\s.{4,250}\s[-\u2010-\u2015]{2,}\s*$")


def _drop_attribution(kept: list[str], history: SentText | None = None) -> None:
    """Above a quote, by its shape whatever its language: the last lines right over it
    (a blank line between allowed) that end in ":", from the first of at most three
    (a wrapped attribution) that names a date, a time or an address ("23.11.26 13:40,
    Олена Петренко:", "În 23 nov. 2026, ... a scris:") or, given our emails' text, the
    person they name ("Giulia Bianchi via WhatsApp ha scritto:"); or one line wrapped in
    dashes that names a date or address ("---- On Mon, 23 Nov 2026 … wrote ---"). A line
    of the manager's own that ends in ":" ("Ось ціни:") names none of these and stays,
    and so do lines above a blank one."""
    end = len(kept)
    while end and not kept[end - 1].strip():
        end -= 1
    if not end:
        return
    last = kept[end - 1].rstrip()
    if _DASHED_ATTRIBUTION.match(last) and _ATTRIBUTION_MARK.search(last):
        del kept[end - 1 :]
        return
    if not last.endswith(":"):
        return
    start = end - 1
    while start > 0 and end - start < 3 and kept[start - 1].strip():
        start -= 1
    for first in range(start, end):
        if _ATTRIBUTION_MARK.search(kept[first]) or (history and history.names(kept[first])):
            del kept[first:]
            return


def strip_text(text: str, history: SentText | None = None) -> str:
    """The manager's words from a plain-text body; see the module docstring for the rules.
    `history`, our emails' text in the thread, also tells a quoted line's wrapped
    continuation that lost its ">" and an attribution naming the customer."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [ln.rstrip() if not _SIG_DASH.match(ln) else ln for ln in text.split("\n")]
    kept: list[str] = []
    seen_quote = in_quote = False
    i = 0
    while i < len(lines):
        line = lines[i]
        bare = line.strip()
        # a wrapped quoted line's rest that lost its ">" (our words say it is ours)
        continued = in_quote and history and bare and _is_ours(history, line)
        in_quote = _is_quoted(line) or bool(continued)
        if in_quote:
            if not seen_quote:  # an attribution heads the first quote only
                _drop_attribution(kept, history)
                seen_quote = True
            if kept and kept[-1].strip():
                kept.append("")
            i += 1
            continue
        if (
            _SIG_DASH.match(line)
            or _MOBILE_SIG.match(bare)
            or _SEPARATOR.match(line)
            or _is_dashed_separator(lines, i)
        ):
            _cut_back(kept)
            break
        if _is_header_block(lines, i):
            _cut_back(kept)
            break
        span = _attribution_span(lines, i) if bare else 0
        if span:
            _drop_wrapped_start(kept)
            j = i + span
            while j < len(lines) and not lines[j].strip():
                j += 1
            if j >= len(lines) or not _is_quoted(lines[j]):
                _cut_back(kept)
                break
            i = j
            continue
        if _IMAGE_PLACEHOLDER.match(bare):
            i += 1
            continue
        kept.append(line)
        i += 1
    _drop_client_footer(kept)
    return tidy("\n".join(kept))


def _drop_wrapped_start(kept: list[str]) -> None:
    """The start of an attribution a client wrapped ("On Mon, 23 Nov 2026 at 14:05, Ivan"
    over "Petrenko <…> wrote:"): at most two lines right above it, each naming a date,
    time or address and ending no sentence and no label."""
    for _ in range(2):
        line = kept[-1].strip() if kept else ""
        if not line or line.endswith(":") or _SENTENCE_END.search(line):
            return
        if not _ATTRIBUTION_MARK.search(line) and "<" not in line:
            return
        kept.pop()


def _is_ours(history: SentText, line: str) -> bool:
    return history.is_ours(quoted_history.line_words(line))


def _drop_client_footer(kept: list[str]) -> None:
    """A client's footer, by its shape whatever its language: the last paragraph, alone,
    one short line that names a mail app or device. Anything longer, or not last, is the
    manager's ("Надішлемо фото з iPhone за хвилину" followed by more text stays)."""
    end = len(kept)
    while end and not kept[end - 1].strip():
        end -= 1
    if end < 2 or kept[end - 2].strip():
        return  # not a paragraph of its own, or nothing above it to keep
    line = kept[end - 1].strip()
    if len(line.split()) <= _FOOTER_WORDS and _CLIENT_BRAND.search(line):
        del kept[end - 1 :]


# --- MIME ---------------------------------------------------------------------------------


def _decode(part: Message) -> str:
    charset = part.get_param("charset")
    if charset and hasattr(part, "get_content"):
        try:
            content = part.get_content()
            if isinstance(content, str):
                return content
        except (LookupError, UnicodeError, ValueError, AssertionError, KeyError):
            pass
    raw = part.get_payload(decode=True)
    if raw is None:
        payload = part.get_payload()
        return payload if isinstance(payload, str) else ""
    for enc in ([str(charset)] if charset else []) + ["utf-8", "windows-1251"]:
        try:
            return raw.decode(enc)
        except (LookupError, UnicodeError):
            continue
    return raw.decode("utf-8", errors="replace")


def _is_attachment_disposition(part: Message) -> bool:
    return (part.get_content_disposition() or "") == "attachment"


def _leaves(msg: Message) -> list[Message]:
    out: list[Message] = []
    stack = [msg]
    while stack:
        part = stack.pop(0)
        if part.get_content_maintype() == "multipart" and part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, list):
                stack[0:0] = [p for p in payload if isinstance(p, Message)]
            continue
        out.append(part)
    return out


def extract(message: Message, sent: Sequence[str] = (), signature: str | None = None) -> Reply:
    """The manager's reply: own words, attachments and pasted pictures, HTML-only flag.

    `sent` is the text of im2mail's own emails in the thread (the one answered first):
    quoted history is also found by its words (quoted_history.py), and a reply that
    still holds a run of them is not trusted (`Reply.doubt`) unless its first line is
    "/send". `signature` is the manager's, learned from their recent replies
    (signatures.learn): cut where it ends the answer, and given back in `Reply.signature`."""
    if not isinstance(message, Message):
        raise ReplyError(
            f"cannot extract a reply from {type(message).__name__}",
            hint="pass an email.message.EmailMessage (email.policy.default)",
        )
    leaves = _leaves(message)
    history = SentText.of(sent)
    plain_part = html_part = None
    for part in leaves:
        if _is_attachment_disposition(part):
            continue
        ctype = part.get_content_type()
        if ctype == "text/plain" and plain_part is None and not part.get_filename():
            plain_part = part
        elif ctype == "text/html" and html_part is None and not part.get_filename():
            html_part = part

    parsed = parse_html(_decode(html_part)) if html_part is not None else None
    html_only = False
    whole = ""
    text = ""
    source = plain_part  # the part the text is read from
    if plain_part is not None:
        whole = _decode(plain_part)
        if flowed.is_flowed(plain_part):
            whole = flowed.unflow(whole, flowed.del_sp(plain_part))
        text = strip_text(whole, history)
    if not text.strip() and parsed is not None and (plain_part is None or not whole.strip()):
        html_only, source = plain_part is None, html_part
        whole = parsed.text()
        text = strip_text(whole, history)
    # A customer's own "/send" line, quoted back without any marker, forces nothing.
    can_force = not any(_FORCE_LINE.search(t) for t in sent)
    text, forced, doubt, cut = _checked(text, history, signature, can_force)
    quoted_only = False
    if not text.strip():
        text = tidy(whole.replace("\r\n", "\n"))
        quoted_only = bool(text.strip())
    broken = [f"the text of your email: {why}" for why in _problems(source)]

    attachments: list[Attachment] = []
    for n, part in enumerate(leaves, 1):
        if part is plain_part or part is html_part:
            continue
        maintype = part.get_content_maintype()
        disposition = part.get_content_disposition()
        filename = part.get_filename()
        if disposition != "attachment" and maintype != "image" and not filename:
            continue
        if disposition != "attachment" and maintype == "image" and parsed is not None:
            cid = (part.get("Content-ID") or "").strip().strip("<>")
            if cid and cid in parsed.all_cids and cid not in parsed.kept_cids:
                continue  # a picture of the quoted history or of the signature
        try:
            if maintype == "message" and part.is_multipart():
                data = part.get_payload(0).as_bytes()  # a forwarded mail, kept as .eml
                filename = filename or f"message-{n}.eml"
            else:
                data = part.get_payload(decode=True) or b""
        except Exception:
            data = b""
        mime = mime_type(part.get_content_type())
        filename = file_name(filename)  # a decoded name can hold CR/LF, a path, 1 KB
        if not filename:
            sub = mime.split("/")[1]
            filename = f"attachment-{n}.{'jpg' if sub == 'jpeg' else sub}"
        attachments.append((filename, mime, data))
        broken += [f"the attached file {filename!r}: {why}" for why in _problems(part)]
    return Reply(
        text=text, attachments=tuple(attachments), html_only=html_only, quoted_only=quoted_only,
        broken=tuple(broken), doubt=doubt, forced=forced, signature=cut,
    )  # fmt: skip


def _checked(
    text: str, history: SentText, signature: str | None, can_force: bool = True
) -> tuple[str, bool, str | None, str | None]:
    """The text after the rules of shape, checked against our own emails and the learned
    signature: (text, forced by "/send", the run of ours that makes it doubtful, the
    signature cut). A text that is all our emails' words is doubtful too, shown whole:
    the manager may have repeated the customer's words on purpose ("/send" sends it)."""
    forced = can_force and _FORCE.match(text) is not None
    if forced:
        text = _FORCE.sub("", text, count=1)
    text, cut = signatures.cut(text, signature)
    doubt = None
    if history:
        uncut = text
        text = tidy(quoted_history.cut_trailing(text, history))
        if not text.strip() and uncut.strip():
            text = uncut
            if not forced:
                doubt = quoted_history.leak(uncut, history) or "the whole text"
    if cut is None:  # a signature under unmarked history is found once the history is cut
        text, cut = signatures.cut(text, signature)
    if history and not forced and doubt is None:
        doubt = quoted_history.leak(text, history)
    return text, forced, doubt, cut


def _problems(part: Message | None) -> list[str]:
    """What is wrong with the part's transfer encoding, as a list of none or one."""
    if part is None or part.is_multipart():
        return []
    why = transfer_encoding.problem(part)
    return [why] if why else []
