"""Signatures learned per manager: the block of lines that ends most of one manager's
recent replies (as Zammad learns it from the last few tickets) is their signature, cut
from a new reply only at its end.

Pure functions on strings, no I/O and no archive: whoever handles a reply asks the
archive for the manager's recent replies (`archive.threads.recent_replies`) and hands
the texts in. So the rules are tested on plain strings, and learning costs nothing but
the one query the caller chose to make (and may cache).

Lines are compared with their whitespace collapsed (case kept); blank lines inside a
block count as lines, blank lines above and below it do not.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence

from .footers import drop_client_footer
from .quoted_history import LINK

MAX_LINES = 8  # non-blank lines a signature may have
MIN_TEXTS = 3  # replies it must end, besides half of them
LONG = 20_000  # a longer text is looked at only by its last TAIL lines
TAIL = 40

Block = tuple[str, ...]


def learn(texts: Sequence[str]) -> str | None:
    """The signature of the manager who wrote `texts` (their recent replies with what was
    cut from them put back, newest first), in normalized form, or None.

    It is the longest block of whole trailing lines (1 to MAX_LINES non-blank ones) that
    ends at least MIN_TEXTS of the texts and at least half of them, has a letter or digit
    and, alone on its line, more than two characters. None when that block is the whole
    of a text (something must stand above a signature): then the replies repeat the same
    words, and no shorter end of them is a signature either. O(total lines)."""
    counts: dict[Block, int] = {}  # insertion order: the newest text's blocks first
    wholes: set[Block] = set()
    total = 0
    for text in texts:
        endings = list(_endings(text))
        total += bool(endings)
        for block, whole in endings:
            counts[block] = counts.get(block, 0) + 1
            if whole:
                wholes.add(block)
    needed = max(MIN_TEXTS, (total + 1) // 2)
    best: Block | None = None
    best_rank = (0, 0)
    for block, count in counts.items():
        rank = (_size(block), count)
        if count >= needed and _worth(block) and rank > best_rank:
            best, best_rank = block, rank
    return "\n".join(best) if best and best not in wholes else None


def shared(replies: Sequence[tuple[str, str]]) -> str | None:
    """The block (learn) ending the (author, text) `replies` of the team that ends those
    of two authors or more: not one manager's signature but what every reply gets (a
    footer or disclaimer the shop's mail server adds), or None."""
    block = learn([text for _, text in replies])
    if block is None:
        return None
    authors = {author for author, text in replies if cut(text, block)[1] is not None}
    return block if len(authors) >= 2 else None


def cut(text: str, signature: str | None) -> tuple[str, str | None]:
    """`text` without `signature` when it ends with it (trailing blank lines aside) and
    words stand above it: (the text above, without the blank lines between; the block as
    it stood). Else (`text`, None). A signature anywhere but at the end stays."""
    wanted = _strip_blank(tuple(_normal(line) for line in (signature or "").split("\n")))
    if not wanted:
        return text, None
    lines = text.split("\n")
    end = _skip_blank(lines, len(lines))
    start = end - len(wanted)
    if start < 0 or tuple(_normal(line) for line in lines[start:end]) != wanted:
        return text, None
    above = _above(lines, start)
    if not above:
        return text, None  # the whole text: nothing would be left to send
    return "\n".join(lines[:above]), "\n".join(lines[start:end])


def cut_loose(text: str, signature: str | None) -> tuple[str, str | None]:
    """`text` without the block that ends it with the words of `signature` (a signature
    the HTML part marks), compared by their letters only: a plain-text alternative
    rewraps the block, writes its links as "<https://…>" lines and shows text the HTML
    hides (a time stamp), so its lines rarely equal the HTML's. The block starts on a
    line whose words begin the signature's and holds no other words. Else (`text`, None).
    A container that holds the client's footer under the manager's lines (Proton's
    signature block: the user's signature, then "Sent with Proton Mail…") matches
    without it too: the footer went from the text's end as a client's."""
    text, cut = _cut_loose(text, signature)
    if cut is None and signature:
        lines = signature.split("\n")
        drop_client_footer(lines)
        shorter = "\n".join(lines).strip()
        if shorter and shorter != signature.strip():
            text, cut = _cut_loose(text, shorter)
    return text, cut


def _cut_loose(text: str, signature: str | None) -> tuple[str, str | None]:
    wanted = _letter_words(LINK.sub(" ", signature or ""))
    if not wanted:
        return text, None
    lines = text.split("\n")
    end = _skip_blank(lines, len(lines))
    found: list[str] = []
    for start in range(end - 1, max(end - 4 * MAX_LINES, 0) - 1, -1):
        found[:0] = _letter_words(LINK.sub(" ", lines[start]))
        if len(found) > len(wanted) or found != wanted[len(wanted) - len(found) :]:
            return text, None  # words the signature does not have
        if found == wanted:
            above = _above(lines, start)
            if not above:
                return text, None  # nothing would be left to send
            return "\n".join(lines[:above]), "\n".join(lines[start:end])
    return text, None


def _letter_words(text: str) -> list[str]:
    return re.findall(r"[^\W\d_]+", text.lower())


# A rule that sets a signature off ("——————", "________", "-----"): cut with it.
_RULE_LINE = re.compile(r"^\s*[-_=*~\u2010-\u2015\u2212]{2,}\s*$")


def _above(lines: list[str], start: int) -> int:
    """Where the text above a signature starting at `start` ends: without the blank lines
    between, nor a rule that sets the signature off (when words stand above it)."""
    above = _skip_blank(lines, start)
    if above and _RULE_LINE.match(lines[above - 1]) and _skip_blank(lines, above - 1):
        above = _skip_blank(lines, above - 1)
    return above


def _skip_blank(lines: list[str], end: int) -> int:
    while end and not lines[end - 1].strip():
        end -= 1
    return end


def _endings(text: str) -> Iterator[tuple[Block, bool]]:
    """Each trailing block of `text` of 1..MAX_LINES non-blank lines (normalized), and
    whether it is the whole text."""
    lines, more = _last_lines(text)
    normal = _strip_blank(tuple(_normal(line) for line in lines))
    starts: list[int] = []
    for i in range(len(normal) - 1, -1, -1):
        if normal[i]:
            starts.append(i)
            if len(starts) > MAX_LINES:
                break
    for n, start in enumerate(starts[:MAX_LINES], 1):
        yield normal[start:], not more and n == len(starts)


def _last_lines(text: str) -> tuple[list[str], bool]:
    """The lines to look at, and whether there are more above them (a long text)."""
    if len(text) <= LONG:
        return text.split("\n"), False
    pieces = text.rsplit("\n", TAIL)
    return pieces[-TAIL:], len(pieces) > TAIL


def _normal(line: str) -> str:
    """A line as compared: spaces folded, and a link written after words ("Наш сайт
    <https://…>", as a text/plain part or an HTML link's text writes it) left out, so a
    signature learned from replies sent one way is cut from a reply sent the other."""
    words = LINK.sub(" ", line)
    return " ".join((words if words.strip() else line).split())


def _strip_blank(block: Block) -> Block:
    start, end = 0, len(block)
    while start < end and not block[start]:
        start += 1
    while end > start and not block[end - 1]:
        end -= 1
    return block[start:end]


def _size(block: Block) -> int:
    return sum(1 for line in block if line)


def _worth(block: Block) -> bool:
    """Not a lone line of one or two characters, nor only punctuation or symbols."""
    if _size(block) == 1 and len(block[0]) <= 2:
        return False
    return any(ch.isalnum() for line in block for ch in line)


# --- a signature typed without any mark, in a manager's first replies ------------------------

TYPED_LINES = 5  # lines under the name line
_CONTACT = re.compile(
    r"(?:\+?\d[\d ()./-]{6,}\d)|(?:\bwww\.|https?://)\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
    r"|(?<![\w@])@[^\W\d]\w{2,}"  # a handle: "@tipografia"
)
_LINE_END = re.compile(r"[.!?:;,…。！？：；，]$")
# a company's legal form ends a line with a period and no sentence: "Hart Print Co.",
# "Tiskárna s.r.o.", "Drukarnia sp. z o.o.", "Nyomda Kft." (an abbreviation after a word:
# a capital and at most three letters, or dotted letters)
_LEGAL_FORM = re.compile(r"(?:^|\s)(?:[^\W\d_]{1,3}\.){2,}$|\S\s+[A-ZÀ-Þ][a-z]{1,3}\.$")
_NAME_PART = re.compile(r"\s*[|,]\s*|\s+[-–—]\s+")
_NAME_WORD = re.compile(r"^[^\W\d_][\w.'’-]*$")
# Cyrillic letters in Latin ones, enough to tell a name written in either script
_CYRILLIC = str.maketrans(
    {
        **dict(zip("абвгґдезиійклмнопрстуфыэё", "abvhgdezyiyklmnoprstufyee", strict=True)),
        "ь": None, "ъ": None, "є": "ye", "ж": "zh", "ї": "yi", "х": "kh", "ц": "ts",
        "ч": "ch", "ш": "sh", "щ": "shch", "ю": "yu", "я": "ya",
    }
)  # fmt: skip
_SPELLING = str.maketrans("yjg", "iih")


def typed(text: str, names: Sequence[str]) -> tuple[str, str | None]:
    """`text` without the signature a manager typed at its end without any mark (no "-- ",
    no signature container: a first reply, nothing learned yet): (the text above, the
    block), else (`text`, None).

    Read by its shape: near the end (the last paragraph first, then the ones above while
    the lines under fit: an HTML signature may set each line apart), a line that is only
    the manager's name (a word of it matches `names`, their From name and mailbox, in
    any script), and under it, to the end, 1..TYPED_LINES short lines that end no
    sentence, at least one of them a phone number, a web address or a mailbox, or two of
    them (a role and a shop); or, in a paragraph of its own, the name with a shop or role
    and a contact on its one line (a phone's signature setting: "Анна, Kyiv Print, +380…").
    A lone name under "Regards," is a sign-off and stays (also when a block is set apart
    under it by a blank line: the block alone goes), and
    words must stand above the block, not a line ending in ":" (the block is what it
    introduces: bank details in the manager's own name, "My contacts:")."""
    known = {w for name in names for w in _folded_words(name)}
    if not known:
        return text, None
    lines = text.split("\n")
    end = _skip_blank(lines, len(lines))
    # paragraphs from the last one up (an HTML signature may set each line apart), while
    # a name in them leaves at most TYPED_LINES lines under it; in each, from the top
    bottom = end
    while bottom:
        top = bottom
        while top and lines[top - 1].strip():
            top -= 1
        for start in range(top, bottom):
            under = [line.strip() for line in lines[start + 1 : end] if line.strip()]
            if len(under) > TYPED_LINES:
                continue
            rest = _names(lines[start], known)
            if rest is None:
                continue
            # set off by a rule above it, a name over one short line is a signature too
            ruled = bool(under) and _above(lines, start) < _skip_blank(lines, start)
            if not under:  # all on the name's line, a paragraph of its own
                if start != top or not _one_line(lines[start], rest):
                    continue
            elif not _signature_lines(under, bool(_CONTACT.search(rest)) or ruled):
                continue
            above = _above(lines, start)
            if not above:
                return text, None
            if lines[above - 1].rstrip().endswith((":", "\uff1a")):
                continue  # what a line ending in ":" introduces ("Реквізити для оплати:")
            if above == start and not rest.strip() and not lines[start + 1].strip():
                # a lone name right under the words above, a blank line under it: it
                # signs them off ("Viele Grüße" / "Lena"); the block under it is the
                # signature (a client put it there, set apart)
                first = start + 1
                while not lines[first].strip():
                    first += 1
                return "\n".join(lines[: start + 1]), "\n".join(lines[first:end])
            return "\n".join(lines[:above]), "\n".join(lines[start:end])
        if sum(1 for line in lines[top:end] if line.strip()) > TYPED_LINES:
            break
        bottom = top
        while bottom and not lines[bottom - 1].strip():
            bottom -= 1
    return text, None


def _names(line: str, known: set[str]) -> str | None:
    """Whether the line is a name (1 to 4 capitalised words, or words of a script without
    capitals: "王伟") with a word of the manager's: what follows the name on the line (a
    role after "|" or ",", a phone, a handle: "Giulia Rossi @tipografia"), else None."""
    parts = _NAME_PART.split(line.strip(), maxsplit=1)
    words, rest = parts[0].split(), parts[1] if len(parts) > 1 else ""
    contact = next((n for n, w in enumerate(words) if _CONTACT.match(w)), None)
    if contact:  # a contact right after the name, on its line
        words, rest = words[:contact], " ".join(words[contact:]) + " " + rest
    if not 1 <= len(words) <= 4:
        return None
    if not all(_NAME_WORD.match(w) and not w[0].islower() for w in words):
        return None
    if not any(_matches(w, known) for w in _folded_words(" ".join(words))):
        return None
    return rest


def _one_line(line: str, rest: str) -> bool:
    """A whole signature on the name's line, as a phone's signature setting holds it
    ("Анна, Kyiv Print, +380 67 123 45 67", "Marta | Pracownia Ram Kolor | 601 234 567"):
    after the name, fields set apart by "," "|" or a dash, one of them a contact and one a
    capitalised name of a shop or a role without one, and no sentence ending the line."""
    if len(line) > 80 or len(line.split()) > 10 or _ends_a_sentence(line.strip()):
        return False
    fields = [f.strip() for f in _NAME_PART.split(rest) if f.strip()]
    named = [f for f in fields if not _CONTACT.search(f)]
    return (
        len(named) < len(fields)  # a contact
        and bool(named)
        and all(len(f.split()) <= 4 and f[0].isupper() for f in named)
    )


def _signature_lines(lines: list[str], marked: bool = False) -> bool:
    """Short lines that end no sentence, two or more, or one with a contact (or, when
    `marked`, a contact on the name's line or a rule above it: any one)."""
    if not 1 <= len(lines) <= TYPED_LINES:
        return False
    if any(len(line) > 80 or len(line.split()) > 10 or _ends_a_sentence(line) for line in lines):
        return False
    return len(lines) >= 2 or marked or any(_CONTACT.search(line) for line in lines)


def _ends_a_sentence(line: str) -> bool:
    return bool(_LINE_END.search(line)) and not _LEGAL_FORM.search(line)


def _matches(word: str, known: set[str]) -> bool:
    """A name word matches when it is one of `known`, or both are 4+ letters and begin
    alike (transliterations differ at the ends: Андрій, Andrii, Andrij)."""
    return word in known or (
        len(word) >= 4 and any(len(k) >= 4 and k[:4] == word[:4] for k in known)
    )


def _folded_words(text: str) -> list[str]:
    """Words of 2+ letters in a rough common spelling for names in Latin and Cyrillic
    letters: lower-cased, transliterated, without accents, with y/j as i, g as h and no
    doubled letters ("Ірина", "Iryna", "Irina" and "Ševčenko", "Шевченко" meet)."""
    out = []
    for word in re.findall(r"[^\W\d_]+", text.lower()):
        latin = unicodedata.normalize("NFKD", word.translate(_CYRILLIC))
        plain = latin.encode("ascii", "ignore").decode().translate(_SPELLING)
        plain = re.sub(r"(.)\1+", r"\1", plain)
        if len(plain) >= 2:
            out.append(plain)
        elif not latin.isascii() and len(word) >= 2:
            out.append(word)  # a script with no Latin spelling here: "王伟" as it stands
    return out
