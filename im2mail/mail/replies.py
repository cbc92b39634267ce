"""Reply extraction: the manager's own words from a reply email, without quotes or signatures.

`extract(message)` returns a `Reply`: the text the customer should receive, the files the
manager attached or pasted, and whether the text came from an HTML-only body.

Rules (DESIGN.md "Email side"; corpus under tests/data/replies/):

* The text/plain alternative is preferred (format=flowed joined back into paragraphs,
  flowed.py); HTML-only mail is converted to text (reply_html.py) after dropping quote
  containers (gmail_quote, blockquote, moz-cite-prefix,
  yahoo_quoted) and everything from Outlook's divRplyFwdMsg on. Signature containers the
  HTML names (gmail_signature, moz-signature, Outlook's Signature...) are dropped too,
  and their lines cut from the end of the text/plain alternative (a first reply has no
  learned signature yet), compared by their words when the plain text rewraps them
  (Mailtrack's "Sender notified by" block, its links on lines of their own). A picture's
  placeholder ("[image: …]") goes with the link line under it, and a line that only
  names a file of the mail ("<logo.png>", Apple Mail's) with it (reply_parts.py).
* The shapes themselves are read in reply_shapes.py, whatever the client's language.
* A hard cut happens at: a sig-dash line ("-- "), a mobile-client signature ("Sent from my
  iPhone", "Отправлено с iPhone", "Надіслано з iPhone", K-9, Yandex, mail.ru apps), an
  "-----Original Message-----" style separator or any words between dashes (or The Bat!'s
  "===8<===" equals signs) followed by an address or a label, or a header block (a
  From-like line with a Sent/Date-like one, or three "Label: value" lines naming an
  address and a date), or a header line framed by ">>>" runs naming an address and a
  date (GroupWise's '>>> "A" <a@b> 11/23/2026 4:05 PM >>>'); the short line ending in
  ":" that introduces a separator or header block ("Begin forwarded message:") goes too.
  A mobile client's footer standing FIRST, above everything the manager wrote, is no cut:
  the phone put it at the top and the manager typed under it; it goes alone
  (footers.drop_leading_footer).
* Above a ">" quote (or The Bat!'s "ИЛ> " initials prefix, on two lines or more), the
  lines that end in ":" and name a date, time or address are its attribution, in any
  language (at most three: a wrapped one); so is a line right over the quote without the
  colon when it names a date and an address (or the customer; with no date, the customer
  and the address in brackets: "\"X via Telegram\" <orders+…> wrote") and ends no
  sentence, or a paragraph of its own over it (wrapped, a blank line between) that names
  the address in brackets as clients write it ("<orders@…>") or the customer. A line above
  it is its wrapped start only when it reads so (long, ending no sentence, naming a year,
  a time or an address): an HTML reply lays the attribution right under the manager's last
  line ("Ціна 480 грн, до 12:00."), which stays. An attribution the client quoted and
  wrapped, its rest on a line without ">" right under the quote's first line ('>>> A
  <a@b> schrieb am … in' / 'Nachricht <id>:'), goes whole.
* An attribution line ("On … wrote:", "Am … schrieb", "… пише:", "… пишет:", Gmail RU
  "пт, 21 нояб. 2026 г. в 10:15, Олена <…>:", Yandex, mail.ru, Thunderbird) is dropped.
  If what follows it is ">"-quoted the reply may be inline/bottom-posted: quoted lines are
  dropped and the manager's unquoted lines between them are kept (inline answers, in order,
  separated by blank lines). If unquoted text follows an attribution, it is history
  without ">" markers and everything from the attribution on is cut.
* An HTML reply whose quote container holds lines that are not ours between lines of
  ours (the manager answered inside the quote: Roundcube, Thunderbird) keeps those lines
  as inline answers (quoted_history.answers_inside); known history only.
* Where a quote that no ">" marks starts (a header block, a separator, an attribution
  over unmarked text), lines that are not ours between lines of ours are the manager's
  answers typed inside it (Outlook; a quote without class or blockquote in HTML), kept
  in order (quoted_history.answers_under; under the last line of ours nothing: a mail
  server's disclaimer added to our email reads like an answer); in
  HTML the same goes for Outlook's divRplyFwdMsg history. Known history only.
* Lines starting with ">" are dropped, except those the manager typed (a price list:
  "> 100 pcs: €4.20"): space-stuffed in format=flowed (RFC 3676 4.4), or text outside the
  quote container in the HTML alternative, and never holding our emails' words; and,
  knowing our emails' text, lines inside the quote
  at the depth of ours, between lines of ours, that are not ours (answers typed inside
  the blockquote, which Roundcube and Thunderbird write to text/plain with ">" too:
  quoted_history.answers_in_quote).
* Never empty for a real answer: if stripping leaves nothing, the whole body text is
  returned (trimmed) — keep more rather than lose the answer. A text/plain answer that is
  the start of the HTML one (a stale copy) gives way to it. Signed and encrypted mail,
  winmail.dat: envelopes.py (`Reply.unreadable`: nothing goes, the manager is told).

Decoding relies on policy.default's get_content(); a missing or unknown charset falls back to
UTF-8, then windows-1251. Broken MIME gives best-effort text, never an exception; only a
non-message argument raises `ReplyError`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses
from itertools import islice

from ..errors import RuntimeFailure
from ..untrusted import file_name, mime_type
from .reply import (
    added_blocks,
    envelopes,
    flowed,
    helpdesk_comment,
    pasted_quotes,
    quoted_history,
    rewrap,
    signatures,
)
from .reply.alternatives import typed_marks, unshown_tail
from .reply.envelopes import unarmour
from .reply.footers import drop_client_footer, drop_leading_footer
from .reply.invisible import strip as _visible
from .reply.quoted_history import SentText
from .reply.reply_html import html_to_text as html_to_text  # part of this module's API
from .reply.reply_html import parse_html, tidy
from .reply.reply_parts import blank_file_names, continuation, rich_text, unwrapped
from .reply.reply_parts import decode as _decode
from .reply.reply_parts import is_attachment as _is_attachment_disposition
from .reply.reply_parts import leaves as _leaves
from .reply.reply_parts import problems as _problems
from .reply.reply_shapes import (
    SIG_DASH,
    attribution_span,
    continues_attribution,
    cut_back,
    drop_attribution,
    drop_wrapped_start,
    heads_an_indented_quote,
    is_header_block,
    is_ours,
    is_separator,
    is_signature_start,
    quote_marks,
)

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
    # Why the reply cannot be read (encrypted, or signed in a form that wraps the text):
    # `text` is empty, nothing goes to the customer, the manager is told.
    unreadable: str | None = None


_LOST = "\ufffd"  # what a decoder writes for bytes it could not read
_LOST_AT_MOST = 3  # one or two may be the manager's own, pasted; more is a garbled text
_FORCE = re.compile(r"\A\s*/send[ \t]*(\n|\Z)", re.I)  # the manager's "send it as it is"
_FORCE_LINE = re.compile(r"^[ \t>]*/send[ \t]*$", re.I | re.M)
_QUOTE_PREFIX = re.compile(r"^\s*(?:>\s?)+")
_IMAGE_PLACEHOLDER = re.compile(r"^\[(image|изображение|зображення|cid):[^\]]*\]$", re.I)
_LONE_LINK = re.compile(r"^\s*<[a-z][a-z0-9+.-]*:[^<>\s]*>\s*$", re.I)  # Gmail: "<https://…>"


def strip_text(text: str, history: SentText | None = None, typed: Collection[int] = ()) -> str:
    """The manager's words from a plain-text body; see the module docstring for the rules.
    `history`, our emails' text in the thread, also tells a quoted line's wrapped
    continuation that lost its ">" and an attribution naming the customer. `typed` are
    the numbers of lines that start with ">" the manager typed (alternatives.typed_marks): no quote,
    unless they hold our emails' words."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")  # a BOM
    lines = [ln.rstrip() if not SIG_DASH.match(ln) else ln for ln in text.split("\n")]
    quoted = quote_marks(lines)
    for n in typed:
        if n < len(lines) and quoted[n] and not (history and is_ours(history, lines[n])):
            quoted[n] = False
    pasted = pasted_quotes.pasted(lines, quoted)  # "Як написала Олена:" + "> …" of theirs
    for n in pasted:
        quoted[n] = False
    lead_in = pasted_quotes.lead_in(lines, pasted)  # the manager's, no attribution
    for n in quoted_history.answers_in_quote(lines, quoted, history) if history else ():
        lines[n], quoted[n] = _QUOTE_PREFIX.sub("", lines[n], count=1), False
    kept: list[str] = []
    seen_quote = in_quote = False
    i = 0
    while i < len(lines):
        line = lines[i]
        bare = line.strip()
        # a wrapped quoted line's rest that lost its ">" (our words say it is ours)
        continued = in_quote and history and bare and is_ours(history, line)
        # or an attribution's rest, wrapped from the quote's first line without its ">"
        continued = continued or (in_quote and continues_attribution(lines, quoted, i))
        in_quote = quoted[i] or bool(continued)
        if in_quote:
            if not seen_quote:  # an attribution heads the first quote only
                drop_attribution(kept, history)
                seen_quote = True
            if kept and kept[-1].strip():
                kept.append("")
            i += 1
            continue
        if is_signature_start(line):
            if not SIG_DASH.match(line) and not any(k.strip() for k in kept):
                kept.append(line)  # a phone's footer above the answer: drop_leading_footer
                i += 1
                continue
            cut_back(kept)
            break
        if added_blocks.is_tag_block(lines, i):  # an antivirus's tag, at the very end
            cut_back(kept)
            break
        if (
            is_separator(lines, i, history)
            or is_header_block(lines, i, history)
            or heads_an_indented_quote(lines, i)
        ):
            cut_back(kept, intro=True)
            _answers_under(kept, lines[i:], history)
            break
        span = attribution_span(lines, i) if bare and i != lead_in else 0
        if span:
            drop_wrapped_start(kept, " ".join(lines[i : i + span]))
            j = i + span
            while j < len(lines) and not lines[j].strip():
                j += 1
            if j >= len(lines) or not quoted[j]:
                cut_back(kept)
                _answers_under(kept, lines[i:], history)
                break
            i = j
            continue
        if _IMAGE_PLACEHOLDER.match(bare):  # a picture, and the link it carries, if any
            i += 2 if i + 1 < len(lines) and _LONE_LINK.match(lines[i + 1]) else 1
            continue
        kept.append(line)
        i += 1
    drop_client_footer(kept)
    drop_leading_footer(kept)
    return tidy("\n".join(kept))


def _answers_under(kept: list[str], rest: list[str], history: SentText | None) -> None:
    """The answers the manager typed between the lines of our email in the quote that
    starts `rest` (quoted_history.answers_under), added to `kept` as paragraphs."""
    for answer in quoted_history.answers_under(rest, history) if history else ():
        drop_client_footer(kept)
        if kept and kept[-1].strip():
            kept.append("")
        kept.append(answer)


def extract(
    message: Message,
    sent: Sequence[str] = (),
    signature: str | None = None,
    own: Sequence[str] = (),
) -> Reply:
    """The manager's reply: own words, attachments and pasted pictures, HTML-only flag.

    `sent` is the text of im2mail's own emails in the thread (the one answered first):
    quoted history is also found by its words (quoted_history.py), and a reply that
    still holds a run of them is not trusted (`Reply.doubt`) unless its first line is
    "/send". `signature` is the manager's, learned from their recent replies
    (signatures.learn): cut where it ends the answer, and given back in `Reply.signature`.
    `own` is the text of the managers' replies our emails in `sent` quote (notices about a
    reply): a run of those words is no doubt, the manager may send them again."""
    if not isinstance(message, Message):
        raise ReplyError(
            f"cannot extract a reply from {type(message).__name__}",
            hint="pass an email.message.EmailMessage (email.policy.default)",
        )
    message = unwrapped(message)  # a gateway's wrapper of the very mail
    leaves = _leaves(message)
    history = SentText.of(sent, own)
    plain_part = html_part = None
    for part in leaves:
        if _is_attachment_disposition(part):
            continue
        ctype = part.get_content_type()
        if ctype == "text/plain" and plain_part is None and not part.get_filename():
            plain_part = part
        elif ctype == "text/html" and html_part is None and not part.get_filename():
            html_part = part
    if plain_part is None and html_part is None:
        plain_part = rich_text(leaves)  # text/enriched: the only text of the mail

    parsed = parse_html(_decode(html_part)) if html_part is not None else None
    html_only = False
    whole = ""
    text = ""
    source = plain_part  # the part the text is read from
    unsure = False
    if plain_part is not None:
        rest, unsure = continuation(plain_part, leaves)  # a text split around a file
        whole = unarmour(_decode(plain_part) + rest)
        typed: list[int] = []
        if flowed.is_flowed(plain_part):
            whole = flowed.unflow(whole, flowed.del_sp(plain_part), typed)
        whole = blank_file_names(whole, leaves)
        whole = helpdesk_comment.latest_comment(whole)
        html_text = parsed.text() if parsed is not None and ">" in whole else None
        text = strip_text(whole, history, typed_marks(whole, html_text, typed))
    # text/plain empty, or only the quote while the HTML the manager edited has an answer
    if (
        not text.strip()
        and parsed is not None
        and (plain_part is None or not whole.strip() or strip_text(parsed.text(), history))
    ):
        html_only, source = plain_part is None, html_part
        whole = helpdesk_comment.latest_comment(unarmour(parsed.text()))
        text = strip_text(whole, history)
        skipped_quote = ">" in whole.split("\n")  # reply_html marks a skipped container
        skipped_quote = skipped_quote or parsed.stopped  # or Outlook's history, to the end
        if history and html_part is not None and skipped_quote:  # answers inside the quote
            kept = parse_html(_decode(html_part), keep_quotes=True).marked_lines()
            inline = quoted_history.answers_inside(kept, history)
            if inline is not None:
                whole = inline
                text = strip_text(whole, history)
    elif text.strip() and parsed is not None:
        fuller = _fuller(text, whole, parsed.text(), history)
        if fuller is not None:
            text, source = fuller, html_part
        else:  # lines the client hard-wrapped in text/plain, as the HTML has them
            text = rewrap.as_typed(text, parsed.text())
        text = unshown_tail(text, parsed.text())
    text = added_blocks.drop_marking(text, whole)  # a label's header and footer
    # A customer's own "/send" line, quoted back without any marker, forces nothing.
    can_force = not any(_FORCE_LINE.search(t) for t in sent)
    # the signatures the HTML part marks (reply_html.py) are cut from the text's end too
    marked = () if parsed is None else tuple(parsed.signatures)
    names = _sender_names(message)
    text = _visible(text)  # HTML's &shy;, &#8203;: as invisible as the characters
    text, forced, doubt, cut = _checked(text, history, (signature, *marked), can_force, names)
    if unsure and not forced:
        doubt = doubt or "a text part after a file, with no quote: the answer's or added?"
    if cut is None and html_only and marked:
        cut = marked[-1]  # skipped with the HTML: given back so learning goes on
    quoted_only = False
    if not text.strip():
        text = tidy(whole.replace("\r\n", "\n"))
        quoted_only = bool(text.strip())
    broken = [f"the text of your email: {why}" for why in _problems(source)]
    if text.count(_LOST) >= _LOST_AT_MOST and not broken:  # "������": garbled before us
        broken.append("the text of your email: characters were lost before it came (shown as �)")
    unreadable = envelopes.unreadable(message, text)  # an armour only the quote has: not ours

    attachments: list[Attachment] = []
    added = envelopes.client_parts(message)  # a signature, a key: no file for a customer
    for n, part in enumerate(leaves, 1):
        if part is plain_part or part is html_part or id(part) in added:
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
                if _is_history(part.get_payload(0), history):
                    continue  # one of our emails, forwarded as an attachment: history
            else:
                data = part.get_payload(decode=True) or b""
        except Exception:
            data = b""
        packed = envelopes.winmail(part, data)  # False: the message again, as RTF
        if packed is False:
            continue
        unreadable = unreadable or (envelopes.PACKED_IN_WINMAIL if packed else None)
        mime = mime_type(part.get_content_type())
        filename = file_name(filename)  # a decoded name can hold CR/LF, a path, 1 KB
        if not filename:
            sub = mime.split("/")[1]
            filename = f"attachment-{n}.{'jpg' if sub == 'jpeg' else sub}"
        attachments.append((filename, mime, data))
        broken += [f"the attached file {filename!r}: {why}" for why in _problems(part)]
    if unreadable:  # not a word nor a file of it goes: the manager is told
        text, attachments, quoted_only, doubt = "", [], False, None
    return Reply(
        text=text, attachments=tuple(attachments), html_only=html_only, quoted_only=quoted_only,
        broken=tuple(broken), doubt=doubt, forced=forced, signature=cut, unreadable=unreadable,
    )  # fmt: skip


_WORD = re.compile(r"\w+")


def _fuller(text: str, plain: str, html_text: str, history: SentText) -> str | None:
    """The HTML alternative's answer when the text/plain one is a stale copy of it: the
    plain answer's words are where the HTML answer starts, and the HTML goes on (a client
    that wrote text/plain from an early draft, or cut it short). The HTML is what the
    manager saw in the editor and sent; otherwise None (the plain text stays). Where both
    parts go on alike after the answer (an attribution, a signature) they agree."""
    mine = _WORD.findall(text.lower())
    n = len(mine)
    first = (islice(_WORD.finditer(t), n + 5) for t in (html_text, plain))
    shown, rest = ([w[0].lower() for w in words] for words in first)
    if not mine or shown[:n] != mine or shown == rest:
        return None
    answer = strip_text(unarmour(html_text), history)
    theirs = _WORD.findall(answer.lower())
    return answer if len(theirs) > n and theirs[:n] == mine else None


def _checked(
    text: str,
    history: SentText,
    known: Sequence[str | None],
    can_force: bool = True,
    names: Sequence[str] = (),
) -> tuple[str, bool, str | None, str | None]:
    """The text after the rules of shape, checked against our own emails and the known
    signatures (the learned one, then those the HTML part marks): (text, forced by
    "/send", the run of ours that makes it doubtful, the signature cut). A text that is
    all our emails' words is doubtful too, shown whole: the manager may have repeated
    the customer's words on purpose ("/send" sends it)."""
    forced = can_force and _FORCE.match(text) is not None
    if forced:
        text = _FORCE.sub("", text, count=1)
    marked = tuple(s for s in known[1:] if s)  # those the HTML part marks
    text, cut = _cut_signature(text, known, marked)
    doubt = None
    if history:
        uncut = text
        text = tidy(quoted_history.cut_trailing(text, history))
        if not text.strip() and uncut.strip():
            text = uncut
            if not forced:
                doubt = quoted_history.leak(uncut, history) or "the whole text"
    if cut is None:  # a signature under unmarked history is found once the history is cut
        text, cut = _cut_signature(text, known, marked)
    if cut is None:  # nothing learned or marked: a signature typed under the answer
        text, cut = signatures.typed(text, names)
    if history and not forced and doubt is None:
        doubt = quoted_history.leak(text, history)
    return text, forced, doubt, cut


def _sender_names(message: Message) -> tuple[str, ...]:
    """The From header's display names and mailbox names ("Olena Shevchenko", "olena"):
    what a signature the manager typed starts with. Read from the raw header (the parsed
    header objects of policy.default cost ten times more)."""
    values = []
    for name, value in message.raw_items():
        if name.lower() == "from" and isinstance(value, str):
            # an unknown charset or a broken encoded word: the value as it came
            with contextlib.suppress(Exception):
                value = str(make_header(decode_header(value)))
            values.append(value)
    found = getaddresses(values)
    return tuple(part for name, addr in found for part in (name, addr.split("@")[0]) if part)


def _cut_signature(
    text: str, known: Sequence[str | None], marked: Sequence[str] = ()
) -> tuple[str, str | None]:
    """`text` without the first of the `known` signatures that ends it (signatures.cut),
    or else of those the HTML part `marked`, compared by their words (signatures.cut_loose:
    the plain-text alternative rewraps them)."""
    for signature in known:
        text, cut = signatures.cut(text, signature)
        if cut is not None:
            return text, cut
    for signature in marked:
        text, cut = signatures.cut_loose(text, signature)
        if cut is not None:
            return text, cut
    return text, None


def _is_history(attached: Message, history: SentText) -> bool:
    """Whether an attached email is quoted history: its text (or HTML) holds a run of
    LEAK_WORDS words of our emails in the thread (one of them forwarded as an attachment,
    the answer above it)."""
    if not history:
        return False
    for leaf in _leaves(attached):
        kind = leaf.get_content_type()
        if kind not in ("text/plain", "text/html") or _is_attachment_disposition(leaf):
            continue
        text = _decode(leaf)
        if kind == "text/html":
            text = parse_html(text, keep_quotes=True).text()
        words = [w for line in text.split("\n") for w in quoted_history.line_words(line)]
        if history.has_run(words):
            return True
    return False
