"""Sender authentication (mail/authres.py): Authentication-Results headers as real servers
write them, which of them count, and what they prove about the author."""

from __future__ import annotations

import time
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from im2mail.mail import authres
from im2mail.mail.authres import MICROSOFT_365, AuthResults, Result, parse, verify
from tests.support.authres_mail import (
    FOREIGN_PASS,
    FORGED_PASS,
    PROVIDERS,
    gmail,
    microsoft365,
    stamped,
)

SHOP = "shop.example"


def _email(*lines: str, from_: str = "Anna Koval <anna@shop.example>") -> EmailMessage:
    raw = "\r\n".join([*lines, f"From: {from_}", "To: orders@shop.example", "", "hi", ""])
    return message_from_bytes(raw.encode(), policy=policy.default)  # type: ignore[return-value]


def _reply(top: list[str], below: list[str] = ()) -> EmailMessage:
    m = EmailMessage()
    m["From"] = "Anna Koval <anna@shop.example>"
    m["To"] = "orders+k3j9x2m4q8z1@shop.example"
    m["Subject"] = "Re: [Telegram] Олена #42"
    m.set_content("Так, завтра.")
    return message_from_bytes(stamped(m, top, list(below)), policy=policy.default)  # type: ignore[return-value]


# -- parsing ---------------------------------------------------------------------------------


def test_rfc_8601_forms() -> None:
    assert parse("example.org 1; none") == AuthResults("example.org", ())
    assert parse('"quoted.id"; spf=pass') == AuthResults("quoted.id", (Result("spf", "pass"),))
    heavy = parse(
        "foo.example.net (foobar) 1 (baz); dkim (Because I like it) / 1 (One yay) = (wait for "
        "it) fail policy (A dot can go here) . (like that) expired (this surprised me) = (as "
        "I wasn't expecting it) 1362471462"
    )
    assert heavy is not None and heavy.authserv_id == "foo.example.net"
    assert [(r.method, r.result) for r in heavy.results] == [("dkim", "fail")]
    multi = parse(
        'example.com; dkim=pass reason="good signature; really" header.i=@mail-router.'
        'example.net; dkim=fail reason="bad" header.i=@newyork.example.com'
    )
    assert multi is not None
    assert [(r.result, r.props["header.i"]) for r in multi.results] == [
        ("pass", "@mail-router.example.net"),
        ("fail", "@newyork.example.com"),
    ]


def test_comments_with_semicolons_and_folding() -> None:
    found = parse(
        "mx1.riseup.net;\r\n\tdkim=pass (1024-bit key; unprotected) header.d=yandex.ru "
        "header.i=@yandex.ru header.a=rsa-sha256 header.s=mail header.b=avNJu6sw;\r\n\t"
        "dkim-atps=neutral"
    )
    assert found is not None and found.authserv_id == "mx1.riseup.net"
    assert [(r.method, r.result) for r in found.results] == [
        ("dkim", "pass"),
        ("dkim-atps", "neutral"),
    ]
    assert found.results[0].props["header.d"] == "yandex.ru"


def test_microsoft_365_has_no_authserv_id_and_stray_domains() -> None:
    found = parse(
        "spf=fail (sender IP is 1.1.1.1) smtp.mailfrom=eu-west-1.amazonses.com; "
        "receivingdomain.com; dkim=pass (signature was verified) header.d=domain.com;"
        "domain1.com; dmarc=bestguesspass action=none header.from=domain.com;"
    )
    assert found is not None and found.authserv_id is None
    assert [(r.method, r.result) for r in found.results] == [
        ("spf", "fail"),
        ("dkim", "pass"),
        ("dmarc", "bestguesspass"),
    ]
    assert found.results[2].props == {"header.from": "domain.com"}
    empty = parse("spf=temperror smtp.helo=x.ru; m.com; dmarc=none action=none header.from=;")
    assert empty is not None and empty.results[-1].props == {"header.from": ""}


def test_yahoo_results_with_underscores_and_glued_comments() -> None:
    found = parse(
        " atlas122.free.mail.gq1.yahoo.com; dkim=dkim_pass header.i=@news.example; "
        "spf=pass smtp.mailfrom=news.example; dmarc=success(p=REJECT) header.from=news.example;"
    )
    assert found is not None
    assert [(r.method, r.result) for r in found.results] == [
        ("dkim", "dkim_pass"),
        ("spf", "pass"),
        ("dmarc", "success"),
    ]


@pytest.mark.parametrize(
    "value",
    ["", ";", "(", ")))", '"', "x;=;=", "dkim=", "a; b=", "a; =pass", "\x00;\xff", "((a;b"],
)
def test_garbage_never_raises(value: str) -> None:
    found = parse(value)
    assert found is None or isinstance(found, AuthResults)


def test_a_huge_header_costs_a_bounded_time() -> None:
    value = "mx.google.com; " + "; ".join(["spf=pass smtp.mailfrom=x.example"] * 200_000)
    started = time.perf_counter()
    found = parse(value)
    assert time.perf_counter() - started < 1.0  # only MAX_VALUE characters are read
    assert found is not None and len(found.results) < 1000


# -- which header counts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("found", "configured", "matches"),
    [
        ("mx.google.com", "mx.google.com", True),
        ("MX.Google.com", "mx.google.com", True),
        ("mx.google.com.evil.example", "mx.google.com", False),
        ("mail.shop.example/4YzK1q3Lg2z9sWF", "mail.shop.example", True),  # OpenDKIM job id
        ("mx3.messagingengine.com", "*.messagingengine.com", True),
        ("messagingengine.com", "*.messagingengine.com", False),
        ("a.b.messagingengine.com", "*.messagingengine.com", False),
        ("mx3.messagingengine.com.evil.example", "*.messagingengine.com", False),
        (None, MICROSOFT_365, True),
        (None, "mx.google.com", False),
        ("microsoft365", "mx.google.com", False),
    ],
)
def test_id_matching(found: str | None, configured: str, matches: bool) -> None:
    assert authres.id_matches(found, configured) is matches


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_each_provider_real_reply_passes(provider: str) -> None:
    configured, block = PROVIDERS[provider]
    assert verify(_reply(block("pass")), SHOP, configured) is None


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_each_provider_spoof_is_refused(provider: str) -> None:
    configured, block = PROVIDERS[provider]
    why = verify(_reply(block("spoof")), SHOP, configured)
    assert why is not None and "\n" not in why


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_our_id_forged_pass_below_the_real_fail_loses(provider: str) -> None:
    configured, block = PROVIDERS[provider]
    forged = _reply(block("spoof"), FORGED_PASS[provider])
    assert verify(forged, SHOP, configured) is not None


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_a_foreign_id_pass_above_or_below_counts_for_nothing(provider: str) -> None:
    configured, block = PROVIDERS[provider]
    assert verify(_reply([*FOREIGN_PASS, *block("spoof")]), SHOP, configured) is not None
    assert verify(_reply(block("spoof"), FOREIGN_PASS), SHOP, configured) is not None
    # and a foreign fail above a real pass takes nothing away
    foreign_fail = ["Authentication-Results: mx.evil.example; dmarc=fail header.from=shop.example"]
    assert verify(_reply([*foreign_fail, *block("pass")]), SHOP, configured) is None


def test_gmail_unsigned_spoof_without_dmarc_record_and_a_forged_header_below() -> None:
    """Gmail writes neither dkim nor dmarc for unsigned mail from a domain without a DMARC
    record: the forged header below would be the first to name them. It is not read."""
    real = [
        "Authentication-Results: mx.google.com;",
        "       spf=pass (google.com: domain of m@evil.example designates 203.0.113.66 as "
        "permitted sender) smtp.mailfrom=m@evil.example",
    ]
    forged = ["Authentication-Results: mx.google.com; dkim=pass header.i=@shop.example"]
    why = verify(_reply(real, forged), SHOP, "mx.google.com")
    assert why is not None and "spf=pass" in why


def test_no_header_of_ours_refuses() -> None:
    why = verify(_reply([]), SHOP, "mx.google.com")
    assert why == "no Authentication-Results from mx.google.com with an SPF, DKIM or DMARC result"
    only_foreign = verify(_reply(FOREIGN_PASS), SHOP, "mx.google.com")
    assert only_foreign is not None


def test_a_different_configured_id_reads_nothing_of_another_servers_pass() -> None:
    assert verify(_reply(gmail("pass")), SHOP, "mail.shop.example") is not None
    assert verify(_reply(gmail("fail")), SHOP, "mx.google.com") is not None


def test_microsoft_365_internal_mail_counts_only_with_microsoft365() -> None:
    internal = _reply(microsoft365("internal"))
    assert verify(internal, SHOP, MICROSOFT_365) is None
    assert verify(internal, SHOP, "mx.google.com") is not None
    outside = _reply(microsoft365("spoof"))  # AuthAs: Anonymous
    assert "dmarc=fail" in (verify(outside, SHOP, MICROSOFT_365) or "")


# -- what the decisive header proves --------------------------------------------------------------


def _judge(*results: str, domain: str = SHOP) -> str | None:
    header = parse("mx.shop.example; " + "; ".join(results))
    assert header is not None
    return authres.judge(header, domain)


def test_dmarc_pass_for_the_author_domain() -> None:
    assert _judge("dmarc=pass header.from=shop.example") is None
    assert _judge("dmarc=pass header.from=anna@Shop.Example") is None
    idn = "xn--80aairftm.xn--j1amh"
    assert _judge(f"dmarc=pass header.from={idn}", domain=idn) is None
    assert _judge("dmarc=pass header.from=магазин.укр", domain=idn) is None


@pytest.mark.parametrize(
    "results",
    [
        ["dmarc=pass header.from=evil.example"],  # the server read another author
        ["dmarc=pass"],  # for no named domain
        ["dmarc=fail header.from=shop.example", "dkim=pass header.d=shop.example"],
        ["dmarc=temperror header.from=shop.example", "dkim=pass header.d=shop.example"],
        ["dmarc=none header.from=evil.example", "dkim=pass header.d=shop.example"],
        ["dmarc=pass header.from=shop.example", "dmarc=fail header.from=shop.example"],
        ["spf=pass smtp.mailfrom=anna@shop.example"],  # SPF alone proves nothing of From
        ["dkim=pass header.d=evil.example"],
        ["dkim=pass header.d=shop.example.evil.example"],
        ["dkim=pass header.d=example"],  # a public suffix
        ["dkim=fail header.d=shop.example"],
        ["dkim=neutral header.d=shop.example"],
    ],
)
def test_what_does_not_prove_the_author(results: list[str]) -> None:
    assert _judge(*results) is not None


@pytest.mark.parametrize(
    "results",
    [
        ["dkim=pass header.d=shop.example"],  # no DMARC verdict at all
        ["dmarc=none header.from=shop.example", "dkim=pass header.d=shop.example"],
        ["dmarc=bestguesspass header.from=shop.example", "dkim=pass header.d=shop.example"],
        ["dkim=pass header.d=mail.shop.example"],  # relaxed alignment
        ["dkim=pass header.i=@shop.example"],  # Gmail names only header.i
        ["dkim=fail header.d=shop.example", "dkim=pass header.d=shop.example"],
    ],
)
def test_an_aligned_dkim_pass_proves_it_when_dmarc_gave_no_verdict(results: list[str]) -> None:
    assert _judge(*results) is None


def test_alignment_uses_the_public_suffix_list() -> None:
    assert authres.aligned("mail.shop.co.uk", "shop.co.uk")
    assert not authres.aligned("co.uk", "shop.co.uk")
    assert not authres.aligned("other.co.uk", "shop.co.uk")
    # a private suffix: every user's subdomain is its own organization
    assert not authres.aligned("mallory.github.io", "anna.github.io")
    assert authres.aligned("x.anna.github.io", "anna.github.io")


# -- detection ---------------------------------------------------------------------------------


def _headers(block: list[str]) -> bytes:
    return ("\r\n".join([*block, "From: a@b.example", "", ""])).encode()


def test_survey_suggests_the_most_common_topmost_id() -> None:
    blobs = [_headers(gmail("pass"))] * 3 + [_headers(FOREIGN_PASS)] + [b"From: x@y.z\r\n\r\n"]
    found = authres.survey(blobs, None)
    assert (found.emails, found.suggested, found.suggested_on, found.vouched) == (
        5, "mx.google.com", 3, 0,
    )  # fmt: skip
    assert authres.survey(blobs, "mx.google.com").vouched == 3


def test_survey_of_fastmail_suggests_a_wildcard_for_its_mxes() -> None:
    blobs = [_headers(PROVIDERS["fastmail"][1]("pass", mx=f"mx{n % 3 + 1}")) for n in range(6)]
    found = authres.survey(blobs, "*.messagingengine.com")
    assert found.suggested == "*.messagingengine.com"
    assert (found.suggested_on, found.vouched) == (6, 6)


def test_survey_of_microsoft_365_suggests_microsoft365() -> None:
    blobs = [_headers(microsoft365("pass")), _headers(microsoft365("internal"))]
    found = authres.survey(blobs, MICROSOFT_365)
    assert (found.suggested, found.vouched) == (MICROSOFT_365, 2)


def test_survey_of_nothing() -> None:
    assert authres.survey([], None) == authres.Survey(0, None, 0, 0)
    # an id-less header from anything but Exchange suggests nothing
    assert authres.survey([_headers(["Authentication-Results: spf=pass"])], None).suggested is None


def test_survey_counts_only_verdicts_that_can_prove_an_author() -> None:
    """A server whose topmost header has SPF alone (a policy daemon's, above OpenDKIM's
    and OpenDMARC's) would refuse every reply: the survey shows it."""
    spf_on_top = [
        "Authentication-Results: mail.shop.example; spf=pass smtp.mailfrom=anna@shop.example",
        "Authentication-Results: mail.shop.example; dmarc=pass header.from=shop.example",
    ]
    found = authres.survey([_headers(spf_on_top)] * 2, "mail.shop.example")
    assert (found.suggested, found.vouched) == ("mail.shop.example", 0)
    assert verify(_reply(spf_on_top), SHOP, "mail.shop.example") is not None


def test_a_flood_of_forged_headers_is_read_only_up_to_the_decisive_one() -> None:
    forged = [f"Authentication-Results: mx.google.com; dkim=pass header.d=shop.example{n}"
              for n in range(5_000)]  # fmt: skip
    msg = _reply(gmail("spoof"), forged)
    assert sum(1 for _ in authres.headers(msg)) == authres.MAX_HEADERS
    started = time.perf_counter()
    assert "dmarc=fail" in (verify(msg, SHOP, "mx.google.com") or "")
    assert time.perf_counter() - started < 0.5
