"""Reply-parser libraries against im2mail's own extract, on the reply corpus.

    python benches/reply_parsers.py [--corpus tests/data/replies/dev] [--failures 4]

On the held-out half (--corpus tests/data/replies/heldout) only the totals are printed:
it is measured, never looked into.

The issue asked to evaluate email-reply-parser, mail-parser-reply and quotequail before
writing our own parser. This runs each of them over tests/data/replies/ (every *.eml has a
*.expected.txt, as in tests/unit/test_replies.py) and prints Markdown: matches per library,
per client family, and representative failures. The libraries are not dependencies of
im2mail; install them in a throw-away virtualenv:

    python3 -m venv /tmp/rp
    /tmp/rp/bin/pip install -e . email-reply-parser mail-parser-reply quotequail
    /tmp/rp/bin/python benches/reply_parsers.py

A library that is not importable is skipped with a message.

Inputs. im2mail gets the parsed message (`extract(msg).text`). A library replaces only
`strip_text`, so it gets exactly what `strip_text` gets inside `extract`: the decoded
text/plain body (im2mail's MIME decoding), or for a mail without a usable text/plain part
the HTML turned into text by `im2mail.mail.replies.html_to_text`, without the lone ">"
lines it leaves where it dropped a quote ("pipeline" table). That converter already drops
HTML quote containers, so a second table gives the HTML-only mails
to the libraries on their own: HTML turned into text by a neutral converter in this file
(blockquote -> "> " lines, nothing dropped), and quotequail's own HTML mode (`quote_html`).

Scoring. "exact": output.strip() == expected.strip() (the unit test compares
`extract(msg).text` to the expected file without its final newline). "normalized": blank
lines dropped, each line stripped, \\xa0 as a space, on both sides: spacing forgiven, the
same words on the same lines needed. Failures (on normalized text) are
classified: empty (nothing returned for a real answer), kept quote (a ">" line, an
attribution or a header block of the history is in the output), kept extra (the answer plus
more, e.g. a signature), cut (a prefix of the answer only), other.
"""

from __future__ import annotations

import argparse
import email
import importlib.metadata
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from email.message import Message
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run from anywhere, on this checkout's im2mail
    sys.path.insert(0, str(REPO))

from im2mail.mail import replies as im2mail_replies  # noqa: E402
from im2mail.mail.reply.signatures import learn  # noqa: E402
from tests.support.reply_corpus import leaked  # noqa: E402  (the corpus tests' leak check)

CORPUS = REPO / "tests" / "data" / "replies" / "dev"

# mail-parser-reply: the languages we would ask for; unsupported ones are dropped silently
MPR_LANGUAGES = ["en", "de", "ru", "uk"]

FAMILIES = [
    "Gmail",
    "Outlook EN",
    "Outlook UK",
    "Outlook RU",
    "Thunderbird",
    "Apple/iOS",
    "Yandex",
    "mail.ru",
    "K-9",
    "Other",
]


def family(name: str) -> str:
    """Client family from the corpus file name."""
    if name.startswith("gmail_"):
        return "Gmail"
    if name.startswith("outlook_"):
        tokens = name.split("_")
        return "Outlook UK" if "uk" in tokens else "Outlook RU" if "ru" in tokens else "Outlook EN"
    if "thunderbird" in name:
        return "Thunderbird"
    if name.startswith(("apple_", "iphone_")):
        return "Apple/iOS"
    if name.startswith("yandex_"):
        return "Yandex"
    if name.startswith("mailru_"):
        return "mail.ru"
    if name.startswith("k9_"):
        return "K-9"
    return "Other"


# --- the corpus ---------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    msg: Message
    expected: str
    plain: str | None  # decoded text/plain body, if usable (as extract picks it)
    html: str | None  # decoded text/html body
    family: str = ""
    html_only: bool = False  # no usable text/plain part: the text comes from the HTML
    sent: tuple[str, ...] = ()  # the text of our emails the reply answers (thread.json)
    signature: str | None = None  # the manager's, as learned from earlier replies
    own: tuple[str, ...] = ()  # the managers' replies our notices quote (thread.json "own")

    @property
    def pipeline_input(self) -> str:
        """What strip_text gets inside extract()."""
        if self.plain is not None and self.plain.strip():
            return self.plain
        if self.html is not None:
            return drop_markers(im2mail_replies.html_to_text(self.html))
        return self.plain or ""


def drop_markers(text: str) -> str:
    """html_to_text leaves a lone ">" where it dropped a quote container, as a hint for
    strip_text; a library would keep it as text, so it is taken out of the libraries' input."""
    return "\n".join(ln for ln in text.split("\n") if ln.strip() != ">")


def load_case(path: Path) -> Case:
    msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    expected = path.with_suffix(".expected.txt").read_text(encoding="utf-8").rstrip("\n")
    plain = html = None
    # the same part selection and decoding as im2mail.mail.replies.extract
    for part in im2mail_replies._leaves(msg):
        if im2mail_replies._is_attachment_disposition(part) or part.get_filename():
            continue
        ctype = part.get_content_type()
        if ctype == "text/plain" and plain is None:
            plain = im2mail_replies._decode(part)
        elif ctype == "text/html" and html is None:
            html = im2mail_replies._decode(part)
    html_only = not (plain and plain.strip()) and html is not None
    sent: tuple[str, ...] = ()
    own: tuple[str, ...] = ()
    signature = None
    thread_file = path.with_suffix(".thread.json")
    if thread_file.is_file():
        thread = json.loads(thread_file.read_text(encoding="utf-8"))
        sent = tuple(s["text"] for s in thread.get("sent", []))
        own = tuple(thread.get("own", []))
        if thread.get("signature"):  # learned as the relay would, from three replies
            signature = learn([f"Answer {n}.\n\n{thread['signature']}" for n in range(3)])
    return Case(path.stem, msg, expected, plain, html, family(path.stem), html_only, sent,
                signature, own)  # fmt: skip


# --- a neutral HTML -> text converter (drops nothing, marks blockquotes with "> ") ---------


class _NeutralText(HTMLParser):
    BLOCK: ClassVar[set[str]] = {
        "p", "div", "table", "tr", "ul", "ol", "li", "pre", "h1", "h2", "h3", "h4", "h5",
        "h6", "hr", "body", "html", "section", "article", "header", "footer", "center",
    }  # fmt: skip
    INVISIBLE: ClassVar[set[str]] = {"head", "style", "script", "title", "xml", "template"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[list] = [[0, ""]]  # [blockquote depth, text]
        self.depth = 0
        self.hidden = 0
        self.lists: list[list[int | None]] = []

    def _newline(self) -> None:
        if self.lines[-1][1].strip():
            self.lines.append([self.depth, ""])
        else:
            self.lines[-1] = [self.depth, ""]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.INVISIBLE:
            self.hidden += 1
        elif tag == "br":
            self.lines.append([self.depth, ""])
        elif tag == "blockquote":
            self.depth += 1
            self._newline()
        elif tag in ("ul", "ol"):
            self._newline()
            self.lists.append([1 if tag == "ol" else None])
        elif tag == "li":
            self._newline()
            counter = self.lists[-1] if self.lists else [None]
            if counter[0] is None:
                self.lines[-1][1] += "- "
            else:
                self.lines[-1][1] += f"{counter[0]}. "
                counter[0] += 1
        elif tag in self.BLOCK:
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag in self.INVISIBLE:
            self.hidden = max(0, self.hidden - 1)
        elif tag == "blockquote":
            self.depth = max(0, self.depth - 1)
            self._newline()
        elif tag in ("ul", "ol"):
            if self.lists:
                self.lists.pop()
            self._newline()
        elif tag in self.BLOCK:
            self._newline()

    def handle_data(self, data: str) -> None:
        if self.hidden:
            return
        data = re.sub(r"\s+", " ", data)
        if not self.lines[-1][1].strip():
            data = data.lstrip()
        self.lines[-1][1] += data

    def text(self) -> str:
        out = []
        for depth, text in self.lines:
            text = text.replace("\xa0", " ").strip()
            out.append(("> " * depth + text).rstrip() if depth else text)
        return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip("\n")


def neutral_html_to_text(html: str) -> str:
    parser = _NeutralText()
    parser.feed(html)
    parser.close()
    return parser.text()


# --- the contenders -----------------------------------------------------------------------


@dataclass
class Contender:
    name: str
    dist: str | None  # PyPI distribution, for the version
    run: Callable[[Case], str | None]  # the pipeline: same input as strip_text
    run_standalone_html: Callable[[Case], str | None] | None = None  # HTML-only, on its own
    notes: list[str] = field(default_factory=list)


def _im2mail(case: Case) -> str:
    return im2mail_replies.extract(case.msg).text


def _im2mail_relay(case: Case) -> str:
    """As the relay runs it: with the text of our emails in the thread and the manager's
    learned signature; nothing when in doubt (the manager gets a notice instead), nor when
    nothing of the manager's own was found and no file came (reply_intake sends nothing)."""
    reply = im2mail_replies.extract(case.msg, case.sent, case.signature, case.own)
    return _sent(reply)


def _im2mail_first_reply(case: Case) -> str:
    """As the relay runs it for a manager's first reply: no signature learned yet."""
    reply = im2mail_replies.extract(case.msg, case.sent, own=case.own)
    return _sent(reply)


def _sent(reply: im2mail_replies.Reply) -> str:
    """What the relay sends the customer of `reply` (relay/reply_intake.py): nothing when
    in doubt, nor when only quoted text was found and no file came with it."""
    return "" if reply.doubt or (reply.quoted_only and not reply.attachments) else reply.text


def contenders() -> tuple[list[Contender], list[str]]:
    found = [
        Contender("im2mail extract (text alone)", "im2mail", _im2mail),
        Contender(
            "im2mail first reply",
            "im2mail",
            _im2mail_first_reply,
            notes=["`extract(msg, sent)`: no learned signature yet, nothing sent when in doubt"],
        ),
        Contender(
            "im2mail as the relay runs it",
            "im2mail",
            _im2mail_relay,
            notes=["`extract(msg, sent, learned signature)`, nothing sent when in doubt"],
        ),
    ]
    skipped: list[str] = []

    try:
        from email_reply_parser import EmailReplyParser as ERP
    except ImportError as e:
        skipped.append(f"email-reply-parser: not importable ({e}); pip install email-reply-parser")
    else:
        found.append(
            Contender(
                "email-reply-parser",
                "email-reply-parser",
                lambda c: ERP.parse_reply(c.pipeline_input),
                lambda c: ERP.parse_reply(neutral_html_to_text(c.html or "")),
                ["`EmailReplyParser.parse_reply(text)`"],
            )
        )

    try:
        from mailparser_reply import EmailReplyParser as MPR
        from mailparser_reply.parser import EmailMessage as MPRMessage
    except ImportError as e:
        skipped.append(f"mail-parser-reply: not importable ({e}); pip install mail-parser-reply")
    else:
        mpr = MPR(languages=list(MPR_LANGUAGES))
        found.append(
            Contender(
                "mail-parser-reply",
                "mail-parser-reply",
                lambda c: mpr.parse_reply(c.pipeline_input),
                lambda c: mpr.parse_reply(neutral_html_to_text(c.html or "")),
                [
                    f"`EmailReplyParser(languages={MPR_LANGUAGES}).parse_reply(text)`; "
                    f"languages in effect: {mpr.languages} (requested but unsupported are "
                    "dropped silently)"
                ],
            )
        )

        def mpr_body(text: str) -> str:
            message = MPRMessage(text=text, languages=list(mpr.languages), keep_hyphen_lists=True)
            return message.read().replies[0].body

        found.append(
            Contender(
                "mail-parser-reply .body",
                "mail-parser-reply",
                lambda c: mpr_body(c.pipeline_input),
                lambda c: mpr_body(neutral_html_to_text(c.html or "")),
                [
                    "`EmailMessage(text, languages, keep_hyphen_lists=True).read()"
                    ".replies[0].body` (latest reply without its signature/disclaimers)"
                ],
            )
        )

    try:
        import quotequail
    except ImportError as e:
        skipped.append(f"quotequail: not importable ({e}); pip install quotequail")
    else:

        def qq_quote(text: str) -> str:
            parts = quotequail.quote(text, quote_intro_line=True)
            return "\n".join(t for expanded, t in parts if expanded)

        def qq_unwrap(text: str) -> str:
            result = quotequail.unwrap(text)
            if result is None:  # nothing recognised as a reply/forward/quote
                return text
            return result.get("text_top", "")

        def qq_quote_html(case: Case) -> str:
            parts = quotequail.quote_html(case.html or "", quote_intro_line=True)
            return neutral_html_to_text("".join(h for expanded, h in parts if expanded))

        found.append(
            Contender(
                "quotequail.quote",
                "quotequail",
                lambda c: qq_quote(c.pipeline_input),
                qq_quote_html,
                [
                    "`quote(text, quote_intro_line=True)`, the expanded parts; HTML-only on "
                    "its own: `quote_html(html, quote_intro_line=True)` then the neutral "
                    "converter"
                ],
            )
        )
        found.append(
            Contender(
                "quotequail.unwrap",
                "quotequail",
                lambda c: qq_unwrap(c.pipeline_input),
                lambda c: qq_unwrap(neutral_html_to_text(c.html or "")),
                ["`unwrap(text)['text_top']` (the whole text when unwrap returns None)"],
            )
        )
    return found, skipped


# --- scoring ------------------------------------------------------------------------------


def normalize(text: str | None) -> str:
    """Non-blank lines, stripped, \\xa0 as a space: the same words on the same lines."""
    lines = (ln.replace("\xa0", " ").strip() for ln in (text or "").splitlines())
    return "\n".join(ln for ln in lines if ln)


_HISTORY = re.compile(
    r"^>|wrote:\s*$|schrieb|пише:?\s*$|пишет:?\s*$|написал|написав"
    r"|^\*?(From|Sent|To|Subject|Date|От|Отправлено|Кому|Тема|Від|Надіслано|Дата)\s*:"
    r"|Original Message|Исходное сообщение|Оригінальне повідомлення"
    r"|\d{1,2}:\d{2}.*[<@].*:\s*$",
    re.I,
)


@dataclass
class Outcome:
    case: Case
    output: str
    exact: bool
    normalized: bool
    kind: str  # "ok", "empty", "kept quote", "kept extra", "cut", "other", "error"
    detail: str
    leaked: bool = False  # a run of LEAK_WORDS words of our emails the answer doesn't have


def _short(line: str, n: int = 70) -> str:
    return line if len(line) <= n else line[: n - 1] + "…"


def judge(case: Case, output: str | None, error: str | None = None) -> Outcome:
    out = output or ""
    if error:
        return Outcome(case, "", False, False, "error", error)
    exact = out.strip() == case.expected.strip()
    got, want = normalize(out), normalize(case.expected)
    if got == want:
        detail = "" if exact else "whitespace/formatting only"
        return Outcome(case, out, exact, True, "ok", detail)
    want_lines = set(want.split("\n"))
    extra = [ln for ln in got.split("\n") if ln and ln not in want_lines]
    got_lines = set(got.split("\n"))
    missing = [ln for ln in want.split("\n") if ln and ln not in got_lines]
    if not got:
        kind = "empty"
    elif any(_HISTORY.search(ln) for ln in extra):
        kind = "kept quote"
    elif got.startswith(want):
        kind = "kept extra"
    elif want.startswith(got):
        kind = "cut"
    else:
        kind = "other"
    bits = []
    history = [ln for ln in extra if _HISTORY.search(ln)]
    if history:
        bits.append(f"kept {len(extra)} line(s), incl. `{_short(history[0])}`")
    elif extra:
        bits.append(f"kept {len(extra)} line(s), first: `{_short(extra[0])}`")
    if missing:
        bits.append(f"lost {len(missing)} line(s), first: `{_short(missing[0])}`")
    return Outcome(case, out, False, False, kind, "; ".join(bits) or "order/spacing differs")


def run(contender: Contender, cases: list[Case], standalone: bool = False) -> list[Outcome]:
    outcomes = []
    for case in cases:
        fn = contender.run
        if standalone:
            if not case.html_only or contender.run_standalone_html is None:
                continue
            fn = contender.run_standalone_html
        try:
            outcome = judge(case, fn(case))
        except Exception as e:  # a library crashing on a mail is a result too
            outcome = judge(case, None, f"{type(e).__name__}: {e}")
        outcome.leaked = bool(leaked(outcome.output, case.expected, list(case.sent)))
        outcomes.append(outcome)
    return outcomes


# --- report -------------------------------------------------------------------------------


def _cyrillic(text: str) -> bool:
    return bool(re.search("[\u0400-\u04ff]", text))


def pct(n: int, total: int) -> str:
    return f"{n}/{total} ({100 * n / total:.0f}%)" if total else "–"


def version(dist: str | None) -> str:
    if not dist:
        return "–"
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def summary_table(results: dict[str, list[Outcome]]) -> list[str]:
    names = list(results)
    out = [
        "| | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]

    def row(label: str, pick: Callable[[Outcome], bool], count: Callable[[Outcome], bool]):
        cells = []
        for name in names:
            sel = [o for o in results[name] if pick(o)]
            cells.append(pct(sum(count(o) for o in sel), len(sel)))
        out.append(f"| {label} | " + " | ".join(cells) + " |")

    row("**exact, all**", lambda o: True, lambda o: o.exact)
    row("normalized, all", lambda o: True, lambda o: o.normalized)
    for fam in FAMILIES:
        if any(o.case.family == fam for o in next(iter(results.values()))):
            row(f"{fam} (exact)", lambda o, f=fam: o.case.family == f, lambda o: o.exact)
    row("HTML-only (exact)", lambda o: o.case.html_only, lambda o: o.exact)
    row("text/plain (exact)", lambda o: not o.case.html_only, lambda o: o.exact)
    row("Cyrillic answer (exact)", lambda o: _cyrillic(o.case.expected), lambda o: o.exact)
    row("Latin answer (exact)", lambda o: not _cyrillic(o.case.expected), lambda o: o.exact)
    leaks = [str(sum(o.leaked for o in results[n])) for n in names]
    out.append("| leaks (8 words of our emails) | " + " | ".join(leaks) + " |")
    out.append("| *failures (normalized)* |" + " |" * len(names))
    for kind in ("empty", "kept quote", "kept extra", "cut", "other", "error"):
        cells = [str(sum(o.kind == kind for o in results[n])) for n in names]
        out.append(f"| {kind} | " + " | ".join(cells) + " |")
    return out


def representative(outcomes: list[Outcome], n: int) -> list[Outcome]:
    """Up to n failures: each kind once, then other families, then the rest."""
    failed = [o for o in outcomes if not o.normalized]
    picked: list[Outcome] = []
    seen_kinds: set[str] = set()
    seen_fams: set[str] = set()
    for o in failed:  # each kind of failure once
        if len(picked) < n and o.kind not in seen_kinds:
            picked.append(o)
            seen_kinds.add(o.kind)
            seen_fams.add(o.case.family)
    for o in failed:  # then a new family
        if len(picked) < n and o not in picked and o.case.family not in seen_fams:
            picked.append(o)
            seen_fams.add(o.case.family)
    for o in failed:
        if len(picked) < n and o not in picked:
            picked.append(o)
    return picked


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--failures", type=int, default=4, help="failures shown per library")
    ap.add_argument("--all-failures", action="store_true", help="list every failure")
    args = ap.parse_args(argv)

    cases = [load_case(p) for p in sorted(args.corpus.glob("*.eml"))]
    if not cases:
        print(f"no *.eml under {args.corpus}", file=sys.stderr)
        return 2
    found, skipped = contenders()
    for msg in skipped:
        print(f"SKIPPED {msg}", file=sys.stderr)

    n_html = sum(c.html_only for c in cases)
    print(f"Corpus: {len(cases)} mails ({n_html} HTML-only) from {args.corpus}\n")
    print("| contender | version | call |")
    print("|---|---|---|")
    for c in found:
        call = "; ".join(c.notes) or "`extract(msg).text`"
        print(f"| {c.name} | {version(c.dist)} | {call} |")
    print(f"\nPython {sys.version.split()[0]}")
    for msg in skipped:
        print(f"\n**Skipped** {msg}")

    if args.corpus.resolve().name == "heldout":
        args.failures, args.all_failures = 0, False  # measured only: no case is shown
    results = {c.name: run(c, cases) for c in found}
    print("\n### Pipeline: each library in place of `strip_text` (same decoded input)\n")
    print("\n".join(summary_table(results)))

    standalone = {c.name: run(c, cases, True) for c in found if c.run_standalone_html}
    if standalone:
        print(
            f"\n### HTML-only mails ({n_html}), libraries on their own "
            "(neutral HTML->text, quotequail: `quote_html`)\n"
        )
        names = list(standalone)
        print("| | " + " | ".join(names) + " |")
        print("|---|" + "---|" * len(names))
        for label, key in (("exact", "exact"), ("normalized", "normalized")):
            cells = [
                pct(sum(getattr(o, key) for o in standalone[n]), len(standalone[n])) for n in names
            ]
            print(f"| {label} | " + " | ".join(cells) + " |")
        for kind in ("empty", "kept quote", "kept extra", "cut", "other", "error"):
            cells = [str(sum(o.kind == kind for o in standalone[n])) for n in names]
            print(f"| {kind} | " + " | ".join(cells) + " |")
        print()
        for name, outcomes in standalone.items():
            shown = representative(outcomes, min(2, args.failures))
            if shown:
                print(
                    f"- **{name}**: "
                    + "; ".join(f"`{o.case.name}` {o.kind} ({o.detail})" for o in shown)
                )

    if args.failures <= 0:
        return 0
    print("\n### Representative failures (pipeline)\n")
    for name, outcomes in results.items():
        failed = [o for o in outcomes if not o.normalized]
        not_exact = [o for o in outcomes if o.normalized and not o.exact]
        print(f"**{name}**: {len(failed)} failed, {len(not_exact)} whitespace-only misses")
        shown = failed if args.all_failures else representative(outcomes, args.failures)
        for o in shown:
            print(f"- `{o.case.name}` ({o.case.family}) — {o.kind}: {o.detail}")
        if not shown and not_exact:
            for o in not_exact[: args.failures]:
                print(f"- `{o.case.name}` ({o.case.family}) — {o.detail}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
