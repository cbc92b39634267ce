"""Quoted history found by its words: the text of im2mail's own emails as ground truth.

im2mail wrote every email a manager can answer, so the text of those emails (`sent`: the
customer's messages and the notices as the builder wrote them) says what quoted history
looks like in this very thread, whatever client, language or quoting style the manager
uses. Words are compared, not characters: rewrapping, quote prefixes ("> ", "IP> "),
HTML→text differences and a client's own formatting change the lines but not the run of
words.

`cut_trailing(text, sent)` drops a trailing block that reproduces our emails (with the
attribution lines or header block directly above each piece of it); `leak(text, sent)`
then tells whether what is left still holds a run of LEAK_WORDS words of ours that the
manager did not answer in between (inline answers under pasted questions are theirs).
"""

from __future__ import annotations

import email
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email import policy

from .pasted_quotes import in_marks
from .pasted_quotes import marks as typographic_marks

LEAK_WORDS = 8  # a run this long of our own text in an answer is quoted history
_GRAM = 4  # a line is ours when most of its words are in runs of this many of ours
_OURS_SHARE = 0.7
_SHORT = 3  # lines of at most this many words are ours only as a whole run of ours
_OWN_WORDS = 3  # words of the manager's own that make a line echoing ours their sentence
_MAX_WORDS = 50_000  # of our text considered: the thread's recent emails are far fewer

# Scripts written without spaces between words (Chinese, Japanese): each character is a
# word, so that a run of LEAK_WORDS of them is as telling as eight words elsewhere.
_UNSPACED = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD = re.compile(rf"[{_UNSPACED}]|[^\W{_UNSPACED}]+")
# Quote prefixes of any client: "> ", ">> ", "> > ", and initials ("IP> ", The Bat!).
_PREFIX = re.compile(r"^\s*(?:\w{0,4}>\s?)+")
_RULE = re.compile(r"^\W*$|^\s*[-_=*~—–‐]{2,}.*[-_=*~—–‐]{2,}\s*$")
_LABEL = re.compile(r"^\W{0,2}\w[\w.'’ -]{0,24}?\W{0,2}\s?:\s*\S")
_DATE_OR_NAME = re.compile(r"\d|<")  # in a wrapped attribution's upper lines
_SENTENCE_END = re.compile(r"[.!?…]$")
_ADDRESS = re.compile(r"@[\w-]+(\.[\w-]+)+|mailto:", re.I)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


# A link as a text/plain part (or an HTML link read as text) writes it after its words,
# "download <https://…/f/…>": its address is no word of a line (links of ours are signed
# anew each time an email is built, and a quoted line of ours is still ours).
LINK = re.compile(r"<[a-z][a-z0-9+.-]*:[^<>\s]*>", re.I)


def line_words(line: str) -> list[str]:
    line = _PREFIX.sub("", line, count=1)
    return _words(LINK.sub(" ", line) if "<" in line else line)


@dataclass(frozen=True)
class SentText:
    """The word runs of our emails in a thread, ready to look lines up in."""

    grams: frozenset[tuple[str, ...]]  # every _GRAM-word run
    short: frozenset[tuple[str, ...]]  # every run of 1.._SHORT words
    runs: frozenset[tuple[str, ...]]  # every LEAK_WORDS-word run
    # each line of ours of _GRAM words or more, by its first word
    lines: Mapping[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict, hash=False)
    marks: frozenset[str] = frozenset()  # the typographic quotation marks they hold

    @classmethod
    def of(cls, sent: Sequence[str], own: Sequence[str] = ()) -> SentText:
        """`own`: the managers' own replies our emails quote (a notice that a reply was
        not delivered, or that a colleague answered): their runs are no leak, a manager
        may send those words again (the customer did not get them, or already has)."""
        grams: set[tuple[str, ...]] = set()
        short: set[tuple[str, ...]] = set()
        runs: set[tuple[str, ...]] = set()
        lines: dict[str, set[tuple[str, ...]]] = {}
        budget = _MAX_WORDS
        for text in sent:
            for line in map(line_words, text.split("\n")) if budget > 0 else ():
                if len(line) >= _GRAM:
                    lines.setdefault(line[0], set()).add(tuple(line))
            words = _words(text)[:budget]
            budget -= len(words)
            for i in range(len(words)):
                for n in range(1, _SHORT + 1):
                    if i + n <= len(words):
                        short.add(tuple(words[i : i + n]))
                if i + _GRAM <= len(words):
                    grams.add(tuple(words[i : i + _GRAM]))
                if i + LEAK_WORDS <= len(words):
                    runs.add(tuple(words[i : i + LEAK_WORDS]))
            if budget <= 0:
                break
        for text in own:
            words = _words(text)[:_MAX_WORDS]
            runs.difference_update(
                tuple(words[i : i + LEAK_WORDS]) for i in range(len(words) - LEAK_WORDS + 1)
            )
        by_first = {first: tuple(found) for first, found in lines.items()}
        return cls(
            frozenset(grams), frozenset(short), frozenset(runs), by_first, typographic_marks(sent)
        )

    def __bool__(self) -> bool:
        return bool(self.short)

    def has_run(self, words: list[str]) -> bool:
        """Whether the words hold a LEAK_WORDS-word run of ours."""
        n = LEAK_WORDS
        return any(tuple(words[i : i + n]) in self.runs for i in range(len(words) - n + 1))

    def names(self, line: str) -> bool:
        """Whether the line names someone our emails name: two capitalised words in a row
        that our text has in a row ("Giulia Bianchi via WhatsApp ha scritto:")."""
        found = _WORD.findall(_PREFIX.sub("", line, count=1))
        return any(
            a[:1].isupper() and b[:1].isupper() and (a.lower(), b.lower()) in self.short
            for a, b in itertools.pairwise(found)
        )

    def is_ours(self, words: list[str]) -> bool:
        """Whether a line of these words reproduces our text."""
        if not words:
            return False
        if len(words) <= _SHORT:
            return tuple(words) in self.short
        return self._covered(words) >= _OURS_SHARE * len(words)

    def echoes(self, words: list[str]) -> bool:
        """Whether a line of these words is the manager's own sentence that repeats some
        of ours ("Так, торт на 2 кг з написом на неділю приймаємо, 1 100 грн."): not ours,
        and _OWN_WORDS or more of its words are in no run of ours. A quoted line is ours
        as a whole; an answer that echoes the question has words of its own around it.
        A whole line of ours in it is no echo but a quoted line with words glued on."""
        if len(words) <= _SHORT or self.is_ours(words):
            return False
        if len(words) - self._covered(words) < _OWN_WORDS:
            return False
        return not any(
            tuple(words[i : i + len(line)]) == line
            for i, word in enumerate(words)
            for line in self.lines.get(word, ())
        )

    def _covered(self, words: list[str]) -> int:
        """How many of the words are in a _GRAM-word run of ours."""
        covered = [False] * len(words)
        for i in range(len(words) - _GRAM + 1):
            if tuple(words[i : i + _GRAM]) in self.grams:
                covered[i : i + _GRAM] = [True] * _GRAM
        return sum(covered)


def plain_text(data: bytes) -> str:
    """The text/plain body of an email im2mail built (the words a manager's client quotes).
    Read with the compat32 policy: our own headers need no parsing into objects (a long
    References header costs milliseconds that way), only the body part is wanted."""
    message = email.message_from_bytes(data, policy=policy.compat32)
    for part in message.walk():
        if part.get_content_type() == "text/plain" and not part.get_filename():
            payload = part.get_payload(decode=True)
            if not isinstance(payload, bytes):
                return ""
            return payload.decode(part.get_content_charset() or "utf-8", errors="replace")
    return ""


# --- a trailing block of ours -----------------------------------------------------------------


def _is_header_line(line: str) -> bool:
    """A line of an attribution, a header block or a separator, in any language."""
    bare = line.strip()
    if not bare:
        return False
    return bool(
        _RULE.match(bare)
        or (bare.endswith((":", "\uff1a")) and len(bare.split()) <= 40)
        or _LABEL.match(bare)
        or _ADDRESS.search(bare)
    )


def _is_header_paragraph(lines: list[str]) -> bool:
    """A header block ("Label: value" lines, three or more, or fewer naming an address),
    or a separator."""
    if not lines or len(lines) > 8:
        return False
    bare = [ln.strip() for ln in lines]
    if all(_RULE.match(b) for b in bare):
        return True
    if not all(_is_header_line(b) for b in bare):
        return False
    return len(lines) >= 3 or any(_ADDRESS.search(b) or b.endswith((":", "\uff1a")) for b in bare)


def _attribution_start(lines: list[str], end: int) -> int:
    """Where an attribution ending just above `end` starts (`end` when there is none): its
    last line ends in ":", and it goes up over at most two more lines (four when one
    names a date or address) that read as its wrapped start: no sentence ends on them
    ("Ціна 480 грн." glued above it is the manager's), and each is header-like or names a
    date, a time or an address."""
    if not end or not lines[end - 1].strip().endswith((":", "\uff1a")):
        return end
    group = []
    j = end
    while j > 0 and end - j < 5 and lines[j - 1].strip():
        j -= 1
        group.append(lines[j])
    reach = 5 if any(_DATE_OR_NAME.search(ln) for ln in group) else 3
    start = end - 1
    while start > 0 and end - start < reach and lines[start - 1].strip():
        above = lines[start - 1].strip()
        if _SENTENCE_END.search(above) or not (
            _is_header_line(above) or _DATE_OR_NAME.search(above)
        ):
            break
        start -= 1
    return start


def _introduction(lines: list[str], end: int) -> int:
    """Where the attribution, header block or separator that ends just above `end`
    starts (`end` when there is none), with a separator paragraph above a header block
    taken too."""
    start = end
    while start > 0 and end - start < 8 and lines[start - 1].strip():
        start -= 1
    if start == end:
        return end
    if not _is_header_paragraph(lines[start:end]) or (start and lines[start - 1].strip()):
        start = _attribution_start(lines, end)
        if start == end:
            return end
    above = start
    while above > 0 and not lines[above - 1].strip():
        above -= 1
    if above and above < start and _RULE.match(lines[above - 1].strip()):
        start = above - 1
    return start


def cut_trailing(text: str, sent: SentText) -> str:
    """`text` without its trailing block of our own emails' text: from the end, every
    line that is ours (it reproduces our text), and above each piece of such lines the
    attribution, header block or separator that introduces it. The block must hold a run
    of LEAK_WORDS words of ours, so an answer that ends by repeating some of the
    customer's words keeps them."""
    if not sent:
        return text
    lines = text.split("\n")
    cut = i = len(lines)
    block: list[list[str]] = []  # the words of the block's lines, last line first
    introduced = False  # the piece of ours just above has its introduction taken
    while i > 0:
        line = lines[i - 1]
        words = line_words(line)
        if not line.strip() or not words or sent.is_ours(words):
            block.append(words)
            i -= 1
            if line.strip():
                cut, introduced = i, False
            continue
        if not block or introduced:
            break
        start = _introduction(lines, i)
        if start == i:
            break
        cut = i = start
        introduced = True
    if not sent.has_run([word for words in reversed(block) for word in words]):
        return text
    while cut and not lines[cut - 1].strip():
        cut -= 1
    return "\n".join(lines[:cut])


# --- what is left ----------------------------------------------------------------------------


def leak(text: str, sent: SentText) -> str | None:
    """A run of LEAK_WORDS words of our text left in `text`, unless the manager answered
    under every piece of ours (inline answers to pasted questions: two or more pieces,
    each followed by lines of the manager's own, not by a signature under one block).
    None when nothing of ours is left."""
    if not sent.runs:
        return None
    lines = text.split("\n")
    words: list[str] = []
    line_of: list[int] = []
    for n, line in enumerate(lines):
        found = line_words(line)
        words += found
        line_of += [n] * len(found)
    leaky: set[int] = set()
    first: str | None = None
    echoes: dict[int, bool] = {}
    for i in range(len(words) - LEAK_WORDS + 1):
        run = tuple(words[i : i + LEAK_WORDS])
        if run in sent.runs:
            n = line_of[i]
            if n == line_of[i + LEAK_WORDS - 1]:
                if n not in echoes:
                    echoes[n] = sent.echoes(line_words(lines[n]))
                if echoes[n]:
                    continue  # the customer's words inside a sentence of the manager's
                if in_marks(lines, n, sent.marks, lambda ln: sent.is_ours(line_words(ln))):
                    continue  # the customer's sentence the manager quoted, in „…“
            first = first or " ".join(run)
            leaky.update(line_of[i : i + LEAK_WORDS])
    if first is None:
        return None
    # Pieces of ours (leaky lines and lines that are ours), each answered when lines of
    # the manager's own follow it; attributions and header lines answer nothing.
    pieces, answered, inside = 0, 0, False
    for n, line in enumerate(lines):
        words = line_words(line)
        if n in leaky or (words and sent.is_ours(words)):
            if not inside:
                pieces += 1
                inside = True
        elif words and not _is_header_line(line):
            if inside:
                answered += 1
            inside = False
    if pieces >= 2 and answered == pieces:
        return None
    return first


# --- answers typed inside the quote ---------------------------------------------------------


def answers_inside(lines: Sequence[tuple[str, bool]], sent: SentText) -> str | None:
    """The text of an HTML reply laid out with its quote containers (each line with
    whether it sits inside one), the quoted lines marked "> " except the manager's own
    typed inside the quote: a line that is not ours, not an attribution or header line,
    between lines of ours (inline answers under each piece of our email, in a client
    that keeps them in the quote container). None when the quote holds no such line:
    a quote that only holds older history above ours (a manager's earlier reply, a
    colleague's note) is left to the usual rules."""
    if not sent:
        return None
    # "ours", "answer" (not ours yet) or "" per line (a header line is no answer here)
    kinds = [_kind(line, sent) if quoted else "" for line, quoted in lines]
    kinds = _lone_labels([line for line, _ in lines], kinds)
    kinds = ["" if kind == "header" else kind for kind in kinds]
    ours = [n for n, kind in enumerate(kinds) if kind == "ours"]
    if not ours:
        return None
    answers = {n for n, kind in enumerate(kinds) if kind == "answer" and ours[0] < n < ours[-1]}
    if not answers:
        return None
    out = []
    for n, (line, quoted) in enumerate(lines):
        if quoted and n not in answers:
            out.append(f"> {line}".rstrip() if line.strip() else ">")
        else:
            out.append(line)
    return "\n".join(out)


def _kind(line: str, sent: SentText) -> str:
    """What a line of a quote is: "ours" (our email's text), "header" (a header or
    attribution line), "answer" (neither: maybe the manager's), "" (no words)."""
    words = line_words(line)
    if not words:
        return ""
    if sent.is_ours(words):
        return "ours"
    return "header" if _is_header_line(line) else "answer"


def _lone_labels(lines: Sequence[str], kinds: list[str]) -> list[str]:
    """`kinds` with a header line that only reads as "Label: value" taken for an answer
    when it stands alone, no header line right above or under it: a header block is
    several such lines ("From:", "Sent:", "To:"), or one that names an address, ends in
    ":" or is a rule; one line between lines of ours is the manager's answer typed with
    a tag of their own ("AK: from S to XXL", "Note: …")."""
    out = list(kinds)
    for n, kind in enumerate(kinds):
        if kind != "header":
            continue
        bare = lines[n].strip()
        if _RULE.match(bare) or _ADDRESS.search(bare) or bare.endswith((":", "\uff1a")):
            continue
        near = [kinds[m] for m in (n - 1, n + 1) if 0 <= m < len(kinds)]
        if "header" not in near:
            out[n] = "answer"
    return out


def answers_under(lines: Sequence[str], sent: SentText) -> list[str]:
    """The manager's answers typed inside a quote that no ">" marks (Outlook's header
    block, or an attribution, then our text as it was; the answers in colour or prefaced
    with the manager's name): each run of lines that are not ours nor header lines,
    between lines of ours. Under the last line of ours nothing is taken: what the mail
    system added to our email there (a server's disclaimer, a scanner's note) reads like
    an answer and must not reach the customer; a manager who wrote only under the quote
    is told to write above it (the reply is quoted only). Once a header line follows
    lines of ours (an older email quoted under ours), the rest is history; a colleague's
    note above our text is history too; and lines that outnumber ours are an email of
    ours whose text is not known (a notice), not answers. [] when there is none."""
    if not sent:
        return []
    # "ours", "header", "answer", or "" for a line without words or a picture's place
    kinds = ["" if _PLACEHOLDER.match(line.strip()) else _kind(line, sent) for line in lines]
    kinds = _lone_labels(lines, kinds)
    seen = [n for n, kind in enumerate(kinds) if kind == "ours"]
    if not seen:
        return []
    stop = next((n for n in range(seen[0], len(kinds)) if kinds[n] == "header"), len(kinds))
    kinds = kinds[:stop]  # an older email quoted under ours is history to its end
    if kinds[seen[0] :].count("answer") > kinds[seen[0] :].count("ours"):
        return []  # mostly lines we do not know: an email of ours not in `sent`, not answers
    last = max(n for n, kind in enumerate(kinds) if kind == "ours")
    kinds = kinds[: last + 1]  # under our last line: what was added to our email, not answers
    found: list[str] = []
    n = seen[0]
    while n < len(kinds):
        if kinds[n] != "answer":
            n += 1
            continue
        end = n
        while end < len(kinds) and kinds[end] == "answer":
            end += 1
        found.append("\n".join(line.strip() for line in lines[n:end]))
        n = end
    return found


_PLACEHOLDER = re.compile(r"^\[[^\]]{0,200}\]$")  # "[image: logo.png]", "[cid:image001.png]"


def answers_in_quote(lines: Sequence[str], quoted: Sequence[bool], sent: SentText) -> set[int]:
    """The quoted lines of a text/plain body that are the manager's answers typed inside
    the quote (a client that writes its text/plain from the HTML marks them ">" with
    the rest: Roundcube, Thunderbird): not ours, not attribution or header lines, at the
    depth of our lines, between the first and the last quoted line of ours. A quote that
    only holds older history above ours (replies nested deeper) has none, and neither
    has one where such lines outnumber ours (an email of ours whose text is not known)."""
    if not sent:
        return set()
    ours: list[int] = []
    depth: dict[int, int] = {}
    candidates: list[int] = []
    for n, line in enumerate(lines):
        if not quoted[n]:
            continue
        words = line_words(line)
        if not words:
            continue
        prefix = _PREFIX.match(line)
        depth[n] = prefix.group(0).count(">") if prefix else 0
        if sent.is_ours(words):
            ours.append(n)
        elif not _is_header_line(_PREFIX.sub("", line, count=1)):
            candidates.append(n)
    if len(ours) < 2:
        return set()
    levels = {depth[n] for n in ours}
    found = {n for n in candidates if ours[0] < n < ours[-1] and depth[n] in levels}
    # answers are typed among our lines, fewer than they: a quote mostly of lines we do
    # not know is an email of ours not in `sent` (a notice), not answers
    return found if len(found) <= len(ours) else set()
