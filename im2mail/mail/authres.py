"""Sender authentication: what the shop's own receiving server says about an email, read
from its Authentication-Results headers (RFC 8601), and whether that proves the author.

Anyone can write an Authentication-Results header into the mail they send, so only the
headers whose authserv-id is the one configured (mail.authserv_id) count, and of those
only the topmost that reports SPF, DKIM or DMARC ("the decisive header"). A receiving
server adds its headers above everything the sender wrote, so a forged header with our
id always sits below the real one: it is never the decisive one, and a forged "pass"
under a real "fail" loses. Servers that write several headers at once (Fastmail: one for
x-csa, bimi and arc, then one with dkim, dmarc, spf) are read right, since the ones
before the decisive header report nothing we use.

An author is authenticated when the decisive header has `dmarc=pass` for the author's
domain (header.from), or, when DMARC gave no verdict (no policy published: `none`, or
Microsoft's `bestguesspass`, or not reported), a `dkim=pass` whose signing domain
(header.d, else the domain of header.i) is aligned with the author's: the same
organizational domain (relaxed alignment, RFC 7489 3.1.1, with the Public Suffix List).
Any other DMARC verdict (fail, temperror, permerror, a pass for another domain) refuses.

Provider quirks handled here: Microsoft 365 writes its header without an authserv-id
(`Authentication-Results: spf=pass (sender IP is …) …; compauth=pass reason=100`) and
removes such headers from incoming mail; the configured id MICROSOFT_365 selects those.
Inside one Microsoft 365 organization mail carries no verdict at all but
`X-MS-Exchange-Organization-AuthAs: Internal`, which Exchange's header firewall strips
from mail that comes from outside; with MICROSOFT_365 that counts as authenticated too.
Fastmail's id names the MX that took the mail (mx1…mx6.messagingengine.com): an id
`*.messagingengine.com` matches any one label in front of the rest. OpenDKIM's
AuthservIDWithJobID appends `/<job id>`, which is ignored.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from functools import lru_cache

from .addresses import domain_key

MICROSOFT_365 = "microsoft365"  # mail.authserv_id for Exchange Online's headers without id
HEADER = "authentication-results"
MAX_HEADERS = 50  # Authentication-Results headers looked at, from the top
MAX_VALUE = 16 * 1024  # characters of one header value looked at
VERDICT_METHODS = frozenset({"spf", "dkim", "dmarc"})
NO_DMARC_VERDICT = frozenset({"none", "bestguesspass"})

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|[^\s;=/"()]+|[;=/]')
_METHOD = re.compile(r"[a-z0-9][a-z0-9_.-]*", re.I)


@dataclass(frozen=True)
class Result:
    """One `method=result` of a header, with its `ptype.property=value`s (keys lower-case)."""

    method: str
    result: str
    props: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AuthResults:
    authserv_id: str | None  # lower-case; None when the header has none (Microsoft 365)
    results: tuple[Result, ...]

    def methods(self) -> set[str]:
        return {r.method for r in self.results}


# -- parsing ---------------------------------------------------------------------------------


def parse(value: str) -> AuthResults | None:
    """One header value, tolerant of what real servers write: comments anywhere, quoted
    strings, folding, a version after the id, no id at all, stray `domain;` segments
    (Microsoft 365), results with underscores (Yahoo). None when there is no id and no
    result to read."""
    segments = _segments(_without_comments(value[:MAX_VALUE]))
    if not segments:
        return None
    first, rest = segments[0], segments[1:]
    authserv_id: str | None = None
    if "=" in first:  # no authserv-id: the first segment is already a result
        rest = segments
    elif first:
        authserv_id = _unquote(first[0]).lower()
    results = tuple(r for r in (_result(s) for s in rest) if r is not None)
    if authserv_id is None and not results:
        return None
    return AuthResults(authserv_id, results)


def headers(msg: Message) -> Iterator[AuthResults]:
    """The email's Authentication-Results headers that can be read, topmost first; each
    is parsed only when asked for (the decisive one is usually the first)."""
    try:
        items = list(msg.raw_items())
    except Exception:
        return
    values = [str(v) for k, v in items if k.lower() == HEADER][:MAX_HEADERS]
    for value in values:
        found = parse(re.sub(r"\r?\n", " ", value[:MAX_VALUE]))
        if found is not None:
            yield found


def _without_comments(text: str) -> str:
    """`text` with its (nested, escaped) comments turned into spaces; quoted strings kept."""
    out: list[str] = []
    depth, quoted, escaped = 0, False, False
    for c in text:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(c)
            continue
        if c == "\\" and (quoted or depth):
            escaped = True
            if depth == 0:
                out.append(c)
            continue
        if quoted:
            quoted = c != '"'
            out.append(c)
        elif c == "(":
            depth += 1
        elif c == ")" and depth:
            depth -= 1
            if not depth:
                out.append(" ")
        elif depth == 0:
            quoted = c == '"'
            out.append(c)
    return "".join(out)


def _segments(text: str) -> list[list[str]]:
    """The value as tokens, split at top-level `;` (empty segments dropped)."""
    segments: list[list[str]] = [[]]
    for token in _TOKEN.findall(text):
        if token == ";":
            segments.append([])
        else:
            segments[-1].append(token)
    return [s for s in segments if s]


def _result(tokens: list[str]) -> Result | None:
    """`method [/ version] = result` then `reason=…`, `action=…`, `ptype.property=value`s;
    None for a segment that is not a result (Microsoft's stray domain names, `none`)."""
    if len(tokens) < 3 or not _METHOD.fullmatch(tokens[0]):
        return None
    method, i = tokens[0].lower(), 1
    if tokens[i] == "/":  # a method version
        i += 2
    if i + 1 >= len(tokens) or tokens[i] != "=":
        return None
    result = tokens[i + 1].lower()
    if not _METHOD.fullmatch(result):
        return None
    props: dict[str, str] = {}
    rest = tokens[i + 2 :]
    j = 0
    while j < len(rest):
        key = rest[j]
        if j + 1 < len(rest) and rest[j + 1] == "=":
            has_value = j + 2 < len(rest) and rest[j + 2] not in ("=", "/")
            value = _unquote(rest[j + 2]) if has_value else ""
            if "." in key:
                props.setdefault(key.lower(), value)
            j += 3 if has_value else 2
        else:
            j += 1
    return Result(method, result, props)


def _unquote(token: str) -> str:
    if token.startswith('"'):
        return re.sub(r"\\(.)", r"\1", token[1:-1] if token.endswith('"') else token[1:])
    return token


# -- which headers count ---------------------------------------------------------------------


def id_matches(found: str | None, configured: str) -> bool:
    """Whether a header's authserv-id is the configured one: equal (any case), or with
    OpenDKIM's `/<job id>` appended, or for `*.rest` any single label before `.rest`;
    MICROSOFT_365 matches a header without id."""
    configured = configured.strip().lower()
    if found is None:
        return configured == MICROSOFT_365
    found = found.partition("/")[0].lower()
    if configured.startswith("*."):
        label, dot, rest = found.partition(".")
        return bool(label) and dot == "." and rest == configured[2:]
    return found == configured


def decisive(found: Iterable[AuthResults], configured: str) -> AuthResults | None:
    """The topmost header of the configured id that reports SPF, DKIM or DMARC."""
    for header in found:
        if id_matches(header.authserv_id, configured) and header.methods() & VERDICT_METHODS:
            return header
    return None


# -- the verdict ---------------------------------------------------------------------------


def verify(msg: Message, author_domain: str, configured: str) -> str | None:
    """None when the shop's server authenticated `author_domain` (lower-case ASCII) as the
    author's; otherwise why not, in one line for the log and the manager's notice."""
    if configured.strip().lower() == MICROSOFT_365 and _exchange_internal(msg):
        return None
    header = decisive(headers(msg), configured)
    if header is None:
        return f"no Authentication-Results from {configured} with an SPF, DKIM or DMARC result"
    return judge(header, author_domain)


def judge(header: AuthResults, author_domain: str) -> str | None:
    """The rules of the module's docstring on the decisive header."""
    dmarc = [r for r in header.results if r.method == "dmarc"]
    for r in dmarc:
        checked = domain_key(r.props.get("header.from", "").rpartition("@")[2], lenient=True)
        if checked is not None and checked != author_domain:
            # the server read another author than we did: never trust either reading
            return f"dmarc={r.result} was for {checked}, not {author_domain}"
        if r.result == "pass" and checked is None:
            return "dmarc=pass names no header.from domain"
        if r.result not in NO_DMARC_VERDICT | {"pass"}:
            return f"dmarc={r.result} for {author_domain}"
    if any(r.result == "pass" for r in dmarc):
        return None
    signers = [_signer(r) for r in header.results if r.method == "dkim" and r.result == "pass"]
    if any(s and aligned(s, author_domain) for s in signers):
        return None
    shown = ", ".join(f"{r.method}={r.result}" for r in header.results
                      if r.method in VERDICT_METHODS)  # fmt: skip
    return f"no dmarc=pass for {author_domain} and no aligned dkim=pass ({shown or 'no result'})"


def _signer(r: Result) -> str | None:
    domain = r.props.get("header.d") or r.props.get("header.i", "").rpartition("@")[2]
    return domain_key(domain, lenient=True) if domain else None


def aligned(signer: str, author_domain: str) -> bool:
    """Relaxed DMARC alignment: the same organizational domain (never a public suffix)."""
    ours = organizational_domain(author_domain)
    return ours is not None and organizational_domain(signer) == ours


def organizational_domain(domain: str) -> str | None:
    """The registrable domain (one label under its public suffix), None for a suffix."""
    return _psl().privatesuffix(domain.lower())


@lru_cache(maxsize=1)
def _psl():
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


def _exchange_internal(msg: Message) -> bool:
    try:
        values = [str(v) for k, v in msg.raw_items()
                  if k.lower() == "x-ms-exchange-organization-authas"]  # fmt: skip
    except Exception:
        return False
    return bool(values) and values[0].strip().lower() == "internal"


# -- detection -------------------------------------------------------------------------------


def topmost_id(msg: Message) -> str | None:
    """The authserv-id of the email's topmost Authentication-Results (MICROSOFT_365 for
    Exchange Online's, which has none); None when there is no such header."""
    first = next(headers(msg), None)
    if first is None:
        return None
    if first.authserv_id is not None:
        return first.authserv_id.partition("/")[0] or None
    return MICROSOFT_365 if _from_exchange(msg) else None


def suggest(ids: Iterable[str | None]) -> str | None:
    """The id to configure, from the topmost ids of recent mail: the most common one, or
    `*.rest` when ids differing only in their first label (one per MX) are the most."""
    counted = Counter(i for i in ids if i)
    if not counted:
        return None
    best, best_count = counted.most_common(1)[0]
    parents = Counter(
        i.partition(".")[2] for i in counted.elements() if i.count(".") >= 2 and "*" not in i
    )
    if parents:
        parent, count = parents.most_common(1)[0]
        labels = {i for i in counted if i.partition(".")[2] == parent}
        if len(labels) > 1 and count > best_count:
            return f"*.{parent}"
    return best


@dataclass(frozen=True)
class Survey:
    """What recent mail in the shop mailbox says about its receiving server."""

    emails: int  # emails looked at
    suggested: str | None  # the id to configure (see suggest)
    suggested_on: int  # emails whose topmost header has the suggested id
    # emails whose decisive header (of the configured id) reports DKIM or DMARC, the only
    # results that can prove an author: 0 when none is configured
    vouched: int


def survey(blobs: Iterable[bytes], configured: str | None) -> Survey:
    """`doctor`'s and `init`'s look at recent emails' headers (raw header sections)."""
    from email.parser import BytesParser
    from email.policy import default

    emails, ids, vouched = 0, [], 0
    for blob in blobs:
        msg = BytesParser(policy=default).parsebytes(blob, headersonly=True)
        emails += 1
        ids.append(topmost_id(msg))
        found = decisive(headers(msg), configured) if configured else None
        if (found is not None and found.methods() & {"dkim", "dmarc"}) or (
            configured == MICROSOFT_365 and _exchange_internal(msg)
        ):
            vouched += 1
    best = suggest(ids)
    on = sum(1 for i in ids if i and best and id_matches(i, best))
    return Survey(emails, best, on, vouched)


def _from_exchange(msg: Message) -> bool:
    try:
        return any(k.lower().startswith("x-ms-exchange-") for k, _ in msg.raw_items())
    except Exception:
        return False
