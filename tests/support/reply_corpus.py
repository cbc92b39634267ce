"""The reply corpus (tests/data/replies/): its two halves and how a result is scored.

dev/ is the development half, the one the extractor is tuned on; heldout/ was written
before any change for issue 19 and is only ever measured (its README says how). A case
NAME is NAME.eml (the reply as received), NAME.expected.txt (what the customer must get)
and NAME.thread.json (the client, UI language and shape, and "sent": the text of
im2mail's own emails the reply answers, as the builder made them).

A leak is quoted history reaching the customer: a run of LEAK_WORDS words of our own
emails in the thread that is in what would be sent but not in what the manager wrote.
"""

from __future__ import annotations

import email
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "data" / "replies"
HALVES = ("dev", "heldout")
LEAK_WORDS = 8
# Chinese and Japanese are written without spaces: each character counts as a word there
_UNSPACED = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD = re.compile(rf"[{_UNSPACED}]|[^\W{_UNSPACED}]+")


@dataclass(frozen=True)
class Case:
    name: str
    half: str
    raw: bytes
    expected: str
    thread: dict

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.raw, policy=policy.default)  # type: ignore[return-value]

    @property
    def sent(self) -> list[str]:
        return [s["text"] for s in self.thread["sent"]]

    @property
    def own(self) -> list[str]:
        """The managers' replies our notices in `sent` quote (what the relay's
        Mailer.own_texts finds in the archive)."""
        return list(self.thread.get("own", []))

    @property
    def pair(self) -> tuple[str, str]:
        """(client, UI language): what "client/language combinations" count."""
        return self.thread["client"], self.thread["ui_language"]


def cases(half: str) -> list[Case]:
    folder = ROOT / half
    found = []
    for path in sorted(folder.glob("*.eml")):
        name = path.stem
        expected = (folder / f"{name}.expected.txt").read_text(encoding="utf-8").rstrip("\n")
        thread = json.loads((folder / f"{name}.thread.json").read_text(encoding="utf-8"))
        found.append(Case(name, half, path.read_bytes(), expected, thread))
    return found


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def leaked(got: str, expected: str, sent: list[str], run: int = LEAK_WORDS) -> str | None:
    """The first run of `run` words of `sent` that `got` has and `expected` doesn't."""
    ours = set()
    for text in sent:
        words = _words(text)
        ours.update(" ".join(words[i : i + run]) for i in range(len(words) - run + 1))
    meant = " ".join(_words(expected))
    words = _words(got)
    for i in range(len(words) - run + 1):
        candidate = " ".join(words[i : i + run])
        if candidate in ours and candidate not in meant:
            return candidate
    return None


@dataclass
class Score:
    total: int = 0
    exact: int = 0
    failed: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.exact / self.total if self.total else 0.0


def learned_signature(case: Case) -> str | None:
    """The case's signature as the relay knows it once the manager has signed a few
    replies with it (signatures.learn over three earlier answers), or None."""
    from im2mail.mail.reply import signatures

    sig = case.thread.get("signature")
    return signatures.learn([f"Answer {n}.\n\n{sig}" for n in range(3)]) if sig else None


def as_relay(case: Case, *, known_manager: bool = True) -> str:
    """What the customer gets when the relay handles the case: the reply checked against
    the text of our emails in the thread, with the manager's learned signature
    (`known_manager`; without it, their first reply); nothing when the extractor is in
    doubt, nor when it found nothing of the manager's own and no file came with it
    (`quoted_only`: relay/reply_intake.py sends nothing and tells the manager)."""
    from im2mail.mail.replies import extract

    signature = learned_signature(case) if known_manager else None
    reply = extract(case.message, case.sent, signature, case.own)
    return "" if reply.doubt or (reply.quoted_only and not reply.attachments) else reply.text


def score(found: list[Case], extract: Callable[[Case], str]) -> Score:
    """`extract` gets each case and answers what the customer would get."""
    result = Score()
    for case in found:
        result.total += 1
        try:
            got = extract(case)
        except Exception as e:  # a parser that fails sends nothing: not exact, no leak
            got = f"<{type(e).__name__}>"
        if got.rstrip("\n") == case.expected:
            result.exact += 1
        else:
            result.failed.append(case.name)
        if leaked(got, case.expected, case.sent):
            result.leaks.append(case.name)
    return result
