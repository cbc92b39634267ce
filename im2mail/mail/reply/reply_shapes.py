"""The shapes of quoted history in a plain-text reply, whatever the client's language.

replies.strip_text walks a reply's lines and asks these predicates where the quote
starts: a ">" block (or The Bat!'s initials prefix "ИЛ> "), the attribution above it (the
lines ending in ":" that name a date, a time or an address, or without the colon right
over the quote), a header block (a From-like line followed by date/to/subject-like
lines, or three "Label: value" lines naming an address and a date), a dashed or
underscored separator, and a mobile client's signature line ("Sent from my iPhone",
footers.py reads the rest of client footers). The phrase tables are one signal among
these, never the gate.
"""

from __future__ import annotations

import re

from . import quoted_history
from .footers import MOBILE_SIG
from .quoted_history import SentText

_WROTE = (
    r"wrote|schrieb|пише|пишет|написав|написала|написал|написал\(а\)|написав\(ла\)"
    r"|a écrit|escribió|napisał"
)
_ATTRIBUTION = [
    re.compile(r"^On\b.{4,250}\bwrote:$", re.I),
    re.compile(r"^Am\b.{4,250}\bschrieb\b.{0,120}:$", re.I),
    re.compile(r"^.{4,250}\b(" + _WROTE + r")\s*:$", re.I),
]
# digits, not word boundaries: Chinese and Japanese glue them to words ("2026年", "20:05写道")
_TIME = re.compile(r"(?<!\d)\d{1,2}:\d{2}(?!\d)")
_YEAR = re.compile(r"(?<!\d)(19|20)\d{2}(?!\d)")
# the full-width colon of Chinese and Japanese ("写道：") ends a line as ":" does
FULL_COLON = "\uff1a"

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
SIG_DASH = re.compile(r"^--\s?$")


def is_quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


# The Bat!'s quote prefix: the quoted person's initials before ">" ("ИЛ> ", "AK>").
_INITIALS = re.compile(r"^\s*([^\W\d_]{1,3})>(?: |$)")


# A quoted email's header line framed by ">>>" runs, naming who and when (GroupWise:
# '>>> "Name" <addr> 11/23/2026 4:05 PM >>>' over the email without ">"): no quote
# line but a separator, like the words between dashes of "-----Original Message-----".
# A manager's ">>> 50% off till Friday >>>" names no address and no date.
_FRAMED = re.compile(r"^\s*>{3,}\s+(.{4,250}?)\s+>{3,}\s*$")


def is_framed_header(line: str) -> bool:
    found = _FRAMED.match(line)
    return bool(found and "@" in found.group(1) and _DATED.search(found.group(1)))


def quote_marks(lines: list[str]) -> list[bool]:
    """Which lines are quoted: those starting with ">" (but a header line framed by
    ">>>" runs, a separator), and those with an initials prefix ("ИЛ> ") in a run of two
    or more with the same one (a lone "OK> fine" of the manager's is no quote)."""
    marks = [is_quoted(line) and not is_framed_header(line) for line in lines]
    prefixes = [_initials(line) for line in lines]
    for n, prefix in enumerate(prefixes):
        if prefix and not marks[n]:
            near = prefixes[n - 1 : n] + prefixes[n + 1 : n + 2]
            marks[n] = prefix in near
    return marks


def _initials(line: str) -> str | None:
    found = _INITIALS.match(line)
    return found.group(1) if found and found.group(1).isupper() else None


def is_signature_start(line: str) -> bool:
    """A sig-dash line ("-- ") or a mobile client's signature line."""
    return bool(SIG_DASH.match(line) or MOBILE_SIG.match(line.strip()))


def is_separator(lines: list[str], i: int, history: SentText | None = None) -> bool:
    """A separator like "-----Original Message-----": known words, or any between dashes;
    or a header line framed by ">>>" runs that names a date, a time or an address."""
    return (
        bool(_SEPARATOR.match(lines[i]))
        or is_dashed_separator(lines, i, history)
        or is_framed_header(lines[i])
    )


def is_attribution(s: str) -> bool:
    s = " ".join(s.split()).replace(FULL_COLON, ":")
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


def heads_an_indented_quote(lines: list[str], i: int) -> bool:
    """Outlook for Mac's quote without ">": a line ending in ":" that names a date or time
    and an address ("Op 23-11-26 13:05 heeft \"Daan\" <orders@…> geschreven:", a year of
    two digits), over lines that are all indented, to the end."""
    line = " ".join(lines[i].split())
    if not line.endswith(":") or not _DATED.search(line) or not _MAILBOX.search(line):
        return False
    rest = [ln for ln in lines[i + 1 :] if ln.strip()]
    return bool(rest) and all(ln[:1] in (" ", "\t") for ln in rest)


def continues_attribution(lines: list[str], quoted: list[bool], i: int) -> bool:
    """An unquoted line right under the line that opens a quote, ending in ":", that
    completes that line into an attribution (it names a date or time and an address),
    with the quote going on under it: the attribution's rest that the client wrapped
    onto a line without ">" (GroupWise: '>>> A <a@b> schrieb am 23.11.2026 um 13:05 in'
    over 'Nachricht <id>:'; a rewrapped '> On 23 Nov 2026 14:05, A <a@b>' over 'wrote:').
    A manager's line under a quoted question ends no attribution's start: the question
    ends a sentence or names no date."""
    if not (0 < i < len(lines)) or quoted[i] or not quoted[i - 1]:
        return False
    if i >= 2 and quoted[i - 2]:
        return False  # the line above must open its quote
    line = lines[i].strip().replace(FULL_COLON, ":")
    head = re.sub(r"^\s*(?:>\s?)+", "", lines[i - 1]).strip()
    if not line.endswith(":") or is_attribution(head) or not _wrapped_part(head, None):
        return False
    if not is_attribution(f"{head} {line}"):
        return False
    rest = next((n for n in range(i + 1, len(lines)) if lines[n].strip()), None)
    return rest is None or quoted[rest]


def attribution_span(lines: list[str], i: int) -> int:
    """Number of lines (1-3) forming an attribution starting at i, or 0."""
    if is_attribution(lines[i]):
        return 1
    below = lines[i + 1] if i + 1 < len(lines) else ""
    if not re.search(r"\d", lines[i]) or not _wrapped_part(lines[i], None, below):
        return 0
    for k in (2, 3):
        if i + k > len(lines):
            break
        tail = lines[i + 1 : i + k]
        if any(
            is_quoted(t) or not t.strip() or (is_attribution(t) and re.search(r"\d", t))
            for t in tail
        ):
            break
        if is_attribution(" ".join(lines[i : i + k])):
            return k
    return 0


# "Label: value" in any language ("Von:", "Wysłano:", "Envoyé :", "*Від:*"): a label of
# one to three words of letters, then the value on the same line.
_LABELLED = re.compile(r"^\s*\*?[^\W\d_][^\W\d_ .'-]*(?:[ .'-][^\W\d_]+){0,2}\*?\s?:\*?\s+\S")
_DATED = re.compile(r"(?<!\d)(19|20)\d\d(?!\d)|(?<!\d)\d{1,2}:\d\d(?!\d)")


def is_header_block(lines: list[str], i: int, history: SentText | None = None) -> bool:
    """A quoted email's header block: "From:" with a "Sent:"/"Date:" line under it, or
    a block of "Label: value" lines (is_labelled_block). Not knowing our emails' text,
    the pair is taken as it looks (cut rather than leak: "Отправлено: вчера"). Knowing
    it, the "Sent:" line names a date (a year or a time, on it or wrapped to the next
    line), or the lines name an address, or the block heads an email of ours: a
    manager's route "From: Kyiv, To: Lviv" over "Sent: Wednesday, arrives Thursday"
    is none of these."""
    if _HEADER_FROM.match(lines[i]):
        following = [ln for ln in lines[i + 1 : i + 8] if ln.strip()][:5]
        for k, line in enumerate(following):
            if _HEADER_NEXT.match(line) and (
                not history
                or _DATED.search(" ".join([line.split(":", 1)[1], *following[k + 1 : k + 2]]))
                or any("@" in ln for ln in [lines[i], *following[: k + 1]])
                or _heads_an_email(lines, _block_end(lines, i), history)
            ):
                return True
    return is_labelled_block(lines, i, history)


def _block_end(lines: list[str], i: int) -> int:
    """The line after the "Label: value" lines from `i` (blank lines skipped)."""
    end = i
    while end < len(lines) and (not lines[end].strip() or _LABELLED.match(lines[end])):
        end += 1
    return end


# An address as a mail header writes it: "Name <addr>", "<addr>", "[mailto:addr]".
_MAILBOX = re.compile(r"<[^<>\s]+@[^<>\s]+>|mailto:", re.I)


def _heads_an_email(lines: list[str], end: int, history: SentText | None) -> bool:
    """Whether what follows a header block or separator (from `end`) is a quoted email:
    nothing but quoted or blank lines, or, given our emails' text, lines of ours among
    the next three. A manager's order details ("Дата: 25.11.2026", "E-mail: olena@…")
    are followed by more of the manager's words."""
    rest = [ln for ln in lines[end : end + 12] if ln.strip() and not is_quoted(ln)][:3]
    return not rest or bool(history and any(is_ours(history, ln) for ln in rest))


# "-------- Původní zpráva --------", "‐‐‐‐‐‐‐ Original Message ‐‐‐‐‐‐‐" (any dash), The
# Bat!'s "===8<======Original message text======" (equals signs, scissors)
_DASHED = re.compile(
    r"^\s*[-\u2010-\u2015\u2212_=]{2,}\s*(?:(?:8<|>8|\u2702)[-\u2010-\u2015\u2212_=]*\s*)?"
    r"[^\W\d_][^\d]{0,40}?[-\u2010-\u2015\u2212_=]{2,}\s*$"
    # or naming the sender's address: mutt's "----- Forwarded message from A <a@b> -----"
    r"|^\s*[-\u2010-\u2015\u2212_]{2,}\s*[^\W\d_][^<>]{0,120}<[^<>\s]+@[^<>\s]+>"
    r"\s*[-\u2010-\u2015\u2212_]{2,}\s*$"
)


def is_dashed_separator(lines: list[str], i: int, history: SentText | None = None) -> bool:
    """A line of words between runs of dashes, in any language, with a header-like line
    among the next four: the head of a quoted or forwarded email. Given our emails'
    text, header-like is an address as a header writes it ("Name <addr>"), a "Label:
    value" naming a date, or a line of ours; else any address or "Label: value". A
    manager's "--- Акція ---" heading, or (knowing our text) "---- Контакти ----" over
    "email: info@shop.ua", is followed by no such line."""
    if not _DASHED.match(lines[i]):
        return False
    following = [ln for ln in lines[i + 1 : i + 9] if ln.strip()][:4]
    if not history:  # not knowing our text: taken as it looks (cut rather than leak)
        return any("@" in ln or _LABELLED.match(ln) for ln in following)
    return any(
        _MAILBOX.search(ln)
        or (_LABELLED.match(ln) and _DATED.search(ln.split(":", 1)[1]))
        or (history and is_ours(history, ln))
        for ln in following
    )


def is_labelled_block(lines: list[str], i: int, history: SentText | None = None) -> bool:
    """A quoted email's header block by its shape, whatever the client's language: three
    or more "Label: value" lines in a row, one naming an address and one a date or time
    (From/Sent/To/Subject as Outlook, GMX or webmail write them in any language); given
    our emails' text, over a quoted email: what follows is quoted, ours, or nothing. A
    manager's own "Ціна: 1450 грн" lines name no address, a contact block no date, and
    order details ("Дата: 25.11.2026", "E-mail: olena@…") are followed by more of theirs."""
    block = _labelled(lines, i)
    if not block:
        return False
    # not knowing our text, a block is taken as it looks (cut rather than leak)
    if not history or _heads_an_email(lines, i + len(block), history):
        return True
    return _heads_a_chain(lines, i, block, history)


def _labelled(lines: list[str], i: int) -> list[str]:
    """The "Label: value" lines from `i` when they read as a header block (three or
    more, one naming an address and one a date or time), else []."""
    block = []
    for line in lines[i : i + 6]:
        if not _LABELLED.match(line):
            break
        block.append(line)
    if len(block) < 3:
        return []
    values = [line.split(":", 1)[1] for line in block]
    if not (any("@" in v for v in values) and any(_DATED.search(v) for v in values)):
        return []
    return block


def _labels(block: list[str]) -> list[str]:
    return [line.split(":", 1)[0].strip(" \t*").casefold() for line in block]


_CHAIN_REACH = 150  # lines down to the next block of the chain: a colleague's answer is short


def _heads_a_chain(lines: list[str], i: int, block: list[str], history: SentText) -> bool:
    """Whether the block at `i` heads a reply in a chain of quoted emails: further down,
    a block with the same first label and at least three labels in common (one client
    wrote both: "Od:/Wysłano:/Do:/Temat:") heads an email of ours. What lies between is
    the earlier reply that quoted ours (a colleague's answer in a reply-all): history.
    A manager's order details share no client's header labels."""
    labels = _labels(block)
    for j in range(i + len(block), min(len(lines), i + _CHAIN_REACH)):
        below = _labelled(lines, j) if _LABELLED.match(lines[j]) else []
        if not below:
            continue
        theirs = _labels(below)
        if theirs[0] == labels[0] and len(set(theirs) & set(labels)) >= 3:
            return _heads_an_email(lines, j + len(below), history)
    return False


def cut_back(kept: list[str], intro: bool = False) -> None:
    """Drop rules and blank lines left right above a hard cut (Outlook's underscores);
    with `intro`, above a separator or a header block, also the one short line ending in
    ":" that introduces it ("Begin forwarded message:", "Початок листа, що
    пересилається:"), in any language: whatever the manager meant by it, what it
    introduces is not sent."""
    _drop_blank_and_rules(kept)
    if intro and kept and kept[-1].rstrip().endswith(":") and len(kept[-1].split()) <= _INTRO:
        kept.pop()
        _drop_blank_and_rules(kept)


_INTRO = 8  # words of a line introducing a quoted or forwarded email


def _drop_blank_and_rules(kept: list[str]) -> None:
    while kept and (not kept[-1].strip() or _RULE.match(kept[-1])):
        kept.pop()


_ATTRIBUTION_MARK = re.compile(r"[\d@]")  # a date, a time or an address: who wrote when
_SENTENCE_END = re.compile(r"[.!?…]$")
# "---- On … wrote ---", and Notes' "-----\"Name\" <addr> wrote: -----" (no space after the dashes)
_DASHED_ATTRIBUTION = re.compile(
    r"^\s*[-\u2010-\u2015]{2,}\s*[^\s\-\u2010-\u2015].{3,250}\s[-\u2010-\u2015]{2,}\s*$"
)


def drop_attribution(kept: list[str], history: SentText | None = None) -> None:
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
    last = kept[end - 1].rstrip().replace(FULL_COLON, ":")
    if _DASHED_ATTRIBUTION.match(last) and _ATTRIBUTION_MARK.search(last):
        del kept[end - 1 :]
        return
    if not last.endswith(":"):
        if end == len(kept) and _is_bare_attribution(last, history):
            del kept[end - 1 :]  # no colon, but right over the quote
            drop_wrapped_start(kept)
            return
        start = end - 1  # or a paragraph of its own over it, wrapped over up to 3 lines
        while start > 0 and end - start < 3 and kept[start - 1].strip():
            start -= 1
        if (not start or not kept[start - 1].strip()) and _is_bare_attribution(
            " ".join(line.strip() for line in kept[start:end]), history, bracketed=True
        ):
            del kept[start:]
        return
    start = end - 1
    while (
        start > 0
        and end - start < 3
        and not _whole(kept[end - 1])
        and _wrapped_part(kept[start - 1], history, kept[start])
    ):
        start -= 1
    for first in range(start, end):
        if _ATTRIBUTION_MARK.search(kept[first]) or (history and history.names(kept[first])):
            attribution = " ".join(line.strip() for line in kept[first:end])
            del kept[first:]
            drop_wrapped_name(kept, attribution)
            return


_WRAPPED = 30  # characters: a client wraps an attribution only when its line is long
# A sentence's end, not an abbreviation's ("Mo., 23. Nov." wrapped stays an attribution's)
_ENDS_SENTENCE = re.compile(r"[!?…]$|(?:\d|[^\W\d_]{4,})\.$")


def _wrapped_part(line: str, history: SentText | None, below: str = "") -> bool:
    """Whether a line right above an attribution's last line reads as its wrapped start:
    long (the client wrapped it), ending no sentence and no label, naming a year, a time,
    an address or the person our emails name. The manager's last line glued on above it
    (an HTML reply lays the attribution's block right under theirs: "Ціна 480 грн",
    "Hi Ivan, 350 UAH, tomorrow after 12:00.") is none of these. A day's number with its
    dot ("… kirjutas kuupäeval E, 23.") ends no sentence when the line `below` goes on
    in lower case ("november 2026 kell 14:05:")."""
    line = line.strip()
    if len(line) < _WRAPPED or line.endswith(":"):
        return False
    if _ENDS_SENTENCE.search(line) and not (_DAY_DOT.search(line) and _goes_on(below)):
        return False
    named = bool(history and history.names(line))
    return bool(_DATED.search(line)) or "@" in line or "<" in line or named


_DAY_DOT = re.compile(r"(?<!\d)\d{1,2}\.$")  # "E, 23." (an ordinal day), not "1 450." nor "2026."


def _goes_on(line: str) -> bool:
    """Whether a line continues the sentence of the one above: it starts in lower case."""
    return line.strip()[:1].islower()


def _whole(line: str) -> bool:
    """Whether an attribution's line names a date or time and an address by itself: no
    start of it was wrapped onto the line above."""
    return bool(_DATED.search(line)) and ("@" in line or bool(_MAILBOX.search(line)))


def _is_bare_attribution(line: str, history: SentText | None, bracketed: bool = False) -> bool:
    """An attribution without its colon ("On 23 nov. 2026 14:05, Andrei Popa <…> wrote"):
    a line right over the quote, no blank line between, that ends no sentence and names
    a date or time and an address (or, given our emails' text, the person they name);
    with no date, both the person and the address in brackets ("\"Olena via Telegram\"
    <orders+…@…> wrote").
    `bracketed`: a paragraph of its own over the quote (a blank line between) must
    name the address as a client does, in brackets or as a mailto ("<orders@…>"), or
    the person: "пишіть на orders@shop.example о 14:00" is the manager's last line."""
    line = line.strip()
    if _SENTENCE_END.search(line) or len(line.split()) > 40:
        return False
    named = bool(history and history.names(line))
    if not _DATED.search(line):  # "Olena via Telegram <orders+…@…> wrote": both, then
        return named and bool(_BRACKETED.search(line))
    if bracketed:
        return named or bool(_BRACKETED.search(line))
    return "@" in line or named


# the address as a client writes it: in brackets, as a mailto, or after the display name
# in double quotes (Nextcloud Mail: '"Name" addr – 23. listopadu 2026 13:05')
_BRACKETED = re.compile(
    r"[<(\[]\s*(?:mailto:)?[^\s<>()@]+@[^\s<>()]+\s*[>)\]]|mailto:"
    r'|"[^"]{1,80}"\s+[^\s<>()@"]+@[^\s<>()"]+',
    re.I,
)


def drop_wrapped_start(kept: list[str], attribution: str = "") -> None:
    """The start of an attribution a client wrapped ("On Mon, 23 Nov 2026 at 14:05, Ivan"
    over "Petrenko <…> wrote:"): at most two lines right above it that read as its
    wrapped start (_wrapped_part), unless the `attribution` line is whole by itself."""
    if attribution and _whole(attribution):
        drop_wrapped_name(kept, attribution)
        return
    for _ in range(2):
        if not kept or not _wrapped_part(kept[-1], None):
            return
        kept.pop()


# An attribution that starts with the address in brackets ("(<orders@…>) erabiltzaileak hau
# idatzi zuen (…):", "<a@b> ezt írta …:"): no client starts one so; the name before it was
# wrapped onto the line above.
_LEADING_ADDRESS = re.compile(r"^\s*[<(\[]\s*<?(?:mailto:)?[^\s<>()@]+@[^\s<>()\]]+")
_WRAP_WIDTH = 70  # columns: clients wrap plain text at 72 to 78


def drop_wrapped_name(kept: list[str], attribution: str) -> None:
    """The name a client wrapped off an attribution that now starts with the bracketed
    address ("Ainhoa Etxeberria … via Telegram" over "(<orders@…>) … idatzi zuen (…):"):
    the line right above it (no blank line between) when it ends no sentence nor label
    and the address would not have fit on it (the client wrapped there). A line of the
    manager's over an attribution that starts as one does stays."""
    if not kept or not _LEADING_ADDRESS.match(attribution):
        return
    line = kept[-1].strip()
    first = attribution.split()[0]
    if not line or line.endswith(":") or _ENDS_SENTENCE.search(line):
        return
    if len(line) + 1 + len(first) > _WRAP_WIDTH:
        kept.pop()


def is_ours(history: SentText, line: str) -> bool:
    return history.is_ours(quoted_history.line_words(line))
