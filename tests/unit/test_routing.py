"""Routing of incoming mail: which emails are managers' replies, and to which conversation."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from im2mail.mail.routing import (
    MAX_IN_REPLY_TO,
    MAX_REFERENCES,
    REFERENCES_TAIL,
    Refused,
    Routed,
    auto_reply_reason,
    recipient_tokens,
    referenced_ids,
    route,
    sender_address,
)
from tests.support.authres_mail import FORGED_PASS, gmail, stamped

MAILBOX = "orders@shop.example"
MANAGERS = ["olena@shop.example", "Taras.Koval@Gmail.com"]
TOKEN = "k3j9x2m4q8z1"
OURS = "<171.4242.im2mail@shop.example>"  # the Message-ID of our email about chat 42
OURS_OLD = "<170.4141.im2mail@shop.example>"  # an older one of ours, chat 41
REPLY_ID = "<CAKx1-Rq=reply@mail.gmail.com>"

DEFAULTS: dict[str, str] = {
    "From": "Olena Petrenko <olena@shop.example>",
    "To": f'"Олена Петренко via Telegram" <orders+{TOKEN}@shop.example>',
    "Subject": "Re: [Telegram] Олена Петренко #42",
    "Date": "Fri, 21 Nov 2026 10:15:00 +0200",
    "Message-ID": REPLY_ID,
    "In-Reply-To": OURS,
    "References": OURS,
    "MIME-Version": "1.0",
    "Content-Type": 'text/plain; charset="UTF-8"',
}


def _raw(headers: dict[str, str | None] | None = None, *extra: str) -> bytes:
    """A reply as bytes off the wire: DEFAULTS changed by `headers` (None drops one)."""
    merged = {**DEFAULTS, **(headers or {})}
    lines = [f"{k}: {v}" for k, v in merged.items() if v is not None] + list(extra)
    return ("\r\n".join(lines) + "\r\n\r\nYes, we ship tomorrow.\r\n").encode()


def _mail(headers: dict[str, str | None] | None = None, *extra: str) -> EmailMessage:
    return _parse(_raw(headers, *extra))


def _parse(raw: bytes) -> EmailMessage:
    return message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def _route(msg: EmailMessage, **kw: object) -> Routed | Refused:
    args: dict[str, object] = {
        "mailbox": MAILBOX,
        "managers": MANAGERS,
        "by_token": {TOKEN: 42}.get,
        "by_email_id": {OURS: 42, OURS_OLD: 41}.get,
    }
    return route(msg, **{**args, **kw})  # type: ignore[arg-type]


def _refused(result: Routed | Refused, kind: str) -> str:
    assert isinstance(result, Refused), result
    assert result.kind == kind, result
    assert "\n" not in result.reason
    return result.reason


# -- routed ---------------------------------------------------------------------------------


def test_gmail_reply_with_token_in_to_and_references_routes_by_token() -> None:
    raw = (
        b"Delivered-To: orders@shop.example\r\n"
        b"Return-Path: <olena@shop.example>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"References: <170.4141.im2mail@shop.example> <171.4242.im2mail@shop.example>\r\n"
        b"In-Reply-To: <171.4242.im2mail@shop.example>\r\n"
        b"From: =?UTF-8?B?0J7Qu9C10L3QsCDQn9C10YLRgNC10L3QutC+?= <olena@shop.example>\r\n"
        b"Date: Fri, 21 Nov 2026 10:15:00 +0200\r\n"
        b"Message-ID: <CAKx1-Rq=reply@mail.gmail.com>\r\n"
        b"Subject: Re: [Telegram] =?UTF-8?B?0J7Qu9C10L3QsA==?= #42\r\n"
        b"To: =?UTF-8?B?0J7Qu9C10L3QsCDQstGW0LAgVGVsZWdyYW0=?=\r\n"
        b" <orders+k3j9x2m4q8z1@shop.example>\r\n"
        b'Content-Type: multipart/alternative; boundary="000000000000a1b2"\r\n'
        b"\r\n--000000000000a1b2\r\n"
        b'Content-Type: text/plain; charset="UTF-8"\r\n\r\nYes, tomorrow.\r\n'
        b"--000000000000a1b2--\r\n"
    )
    result = _route(_parse(raw), by_email_id={OURS_OLD: 41}.get)
    assert result == Routed(42, "olena@shop.example", "Олена Петренко", REPLY_ID, "token")


def test_reply_built_with_emailmessage_routes_by_token() -> None:
    msg = EmailMessage()
    msg["From"] = "Taras Koval <taras.koval@gmail.com>"
    msg["To"] = f"Олена via Telegram <orders+{TOKEN}@shop.example>"
    msg["Subject"] = "Re: [Telegram] Олена #42"
    msg.set_content("Done.")
    assert _route(msg) == Routed(42, "taras.koval@gmail.com", "Taras Koval", "", "token")


def test_reply_without_token_routes_by_references_newest_first() -> None:
    msg = _mail({"To": MAILBOX, "In-Reply-To": None, "References": f"{OURS} {OURS_OLD}"})
    result = _route(msg)
    assert result == Routed(41, "olena@shop.example", "Olena Petrenko", REPLY_ID, "references")


def test_in_reply_to_wins_over_references() -> None:
    msg = _mail({"To": MAILBOX, "In-Reply-To": OURS_OLD, "References": OURS})
    assert _route(msg) == Routed(41, "olena@shop.example", "Olena Petrenko", REPLY_ID, "references")


def test_uppercase_token_and_addresses() -> None:
    msg = _mail(
        {
            "From": "TARAS.KOVAL@GMAIL.COM",
            "To": f"ORDERS+{TOKEN.upper()}@SHOP.EXAMPLE",
            "In-Reply-To": None,
            "References": None,
        }
    )
    seen: list[str] = []
    result = _route(msg, by_token=lambda t: seen.append(t) or {TOKEN: 42}.get(t))
    assert result == Routed(42, "taras.koval@gmail.com", "", REPLY_ID, "token")
    assert seen == [TOKEN]
    assert _route(msg, mailbox="Orders@Shop.Example") == result


def test_token_in_delivered_to_only() -> None:
    msg = _mail(
        {"To": "Shop <orders@shop.example>", "In-Reply-To": None, "References": None},
        f"Delivered-To: orders+{TOKEN}@shop.example",
    )
    assert recipient_tokens(msg, MAILBOX) == [TOKEN]
    assert _route(msg) == Routed(42, "olena@shop.example", "Olena Petrenko", REPLY_ID, "token")


def test_first_token_that_resolves_wins() -> None:
    msg = _mail({"To": "orders+aaaaaaaa1111@shop.example", "Cc": f"orders+{TOKEN}@shop.example"})
    assert recipient_tokens(msg, MAILBOX) == ["aaaaaaaa1111", TOKEN]
    assert isinstance(_route(msg), Routed)
    both = _route(msg, by_token={"aaaaaaaa1111": 7, TOKEN: 42}.get)
    assert both == Routed(7, "olena@shop.example", "Olena Petrenko", REPLY_ID, "token")


def test_auto_submitted_no_is_not_an_auto_reply() -> None:
    msg = _mail({}, "Auto-Submitted: no")
    assert auto_reply_reason(msg) is None
    assert isinstance(_route(msg), Routed)


def test_x_auto_response_suppress_is_not_a_sign() -> None:
    msg = _mail({}, "X-Auto-Response-Suppress: All", "X-Autoreply: no")
    assert auto_reply_reason(msg) is None
    assert isinstance(_route(msg), Routed)


def test_ordinary_subjects_and_return_path_are_not_auto_replies() -> None:
    for subject in ["Re: [Telegram] Олена #42", "Re: Automatic reply: x", "Автомобиль #42"]:
        assert auto_reply_reason(_mail({"Subject": subject}, "Return-Path: <a@b.c>")) is None


# -- refused: loops ---------------------------------------------------------------------------


def test_our_own_notice_coming_back_is_a_loop() -> None:
    msg = _mail(
        {"From": "im2mail <orders@shop.example>", "To": "olena@shop.example"},
        "Auto-Submitted: auto-generated",
        "X-Im2mail-Conversation: 42",
    )
    assert "orders@shop.example" in _refused(_route(msg, managers=[*MANAGERS, MAILBOX]), "loop")


def test_from_the_mailbox_with_a_plus_address_is_a_loop() -> None:
    msg = _mail({"From": f'"Олена via Telegram" <ORDERS+{TOKEN}@Shop.Example>'})
    _refused(_route(msg), "loop")
    elsewhere = _mail({"From": "orders@other.example"})  # same local part, other domain
    assert isinstance(_route(elsewhere, managers=["orders@other.example"]), Routed)


def test_own_message_id_is_a_loop() -> None:
    asked: list[str] = []
    msg = _mail({"Message-ID": " <171.4242.im2mail@shop.example> "})
    result = _route(msg, own_message_id=lambda mid: asked.append(mid) or mid == OURS)
    assert "is one we sent" in _refused(result, "loop")
    assert asked == [OURS]


def test_our_conversation_header_with_auto_submitted_is_a_loop() -> None:
    msg = _mail({}, "X-Im2mail-Conversation: 42", "Auto-Submitted: auto-generated")
    _refused(_route(msg), "loop")
    assert isinstance(_route(_mail({}, "X-Im2mail-Conversation: 42")), Routed)


# -- refused: auto-replies ------------------------------------------------------------------


def test_auto_submitted_auto_replied() -> None:
    msg = _mail({}, "Auto-Submitted: auto-replied")
    assert _route(msg) == Refused("auto-reply (Auto-Submitted: auto-replied)", "auto-reply")


@pytest.mark.parametrize(
    "subject",
    [
        "Automatic reply: [Telegram] Olena #42",
        "Out of Office: Re: [Telegram] Olena #42",
        "AUTO: Olena is out of the office",
        "Autoreply: Re: [Telegram] Olena #42",
        "Auto-Reply: away",
        "Away from the office until Monday",
        "On vacation",
        "Автоответ: Re: [Telegram] Олена #42",
        "Автоматический ответ: Re: [Telegram] Олена #42",
        "Нет на месте: Re: [Telegram] Олена #42",
        "в отпуске до 1 декабря",
        "Вне офиса",
        "Автовідповідь: Re: [Telegram] Олена #42",
        "Автоматична відповідь: Re: [Telegram] Олена #42",
        "Немає на місці",
        "У відпустці",
        "Поза офісом: Re: [Telegram] Олена #42",
        "Abwesenheitsnotiz: Re: [Telegram] Olena #42",
    ],
)
def test_out_of_office_subjects(subject: str) -> None:
    msg = EmailMessage()
    msg["From"] = "olena@shop.example"
    msg["To"] = f"orders+{TOKEN}@shop.example"
    msg["Subject"] = subject
    msg.set_content("I am away.")
    assert _refused(_route(msg), "auto-reply").startswith("auto-reply (out-of-office subject")


def test_outlook_automatic_reply_raw() -> None:
    msg = _mail({"Subject": "Automatic reply: [Telegram] Olena #42", "Thread-Topic": "x"})
    assert "Automatic reply" in _refused(_route(msg), "auto-reply")


def test_cyrillic_ooo_subjects_raw_8bit_and_encoded() -> None:
    ru = _mail({"Subject": "Автоматический ответ: Re: [Telegram] Олена #42"})  # raw UTF-8
    uk = _mail(
        {"Subject": "=?UTF-8?B?0JDQstGC0L7QvNCw0YLQuNGH0L3QsCDQstGW0LTQv9C+0LLRltC00Yw6?= x"}
    )
    assert "Автоматический ответ" in _refused(_route(ru), "auto-reply")
    assert "Автоматична відповідь" in _refused(_route(uk), "auto-reply")


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Precedence: bulk", "Precedence: bulk"),
        ("Precedence: auto_reply", "Precedence: auto_reply"),
        ("X-Precedence: junk", "X-Precedence: junk"),
        ("X-Autoreply: yes", "X-Autoreply: yes"),
        ("X-Auto-Reply: YES", "X-Auto-Reply: YES"),
        ("X-Autorespond: Olena is away", "X-Autorespond: Olena is away"),
        ("X-MS-Exchange-Generated-Message-Source: Mailbox Rules Agent", "X-MS-Exchange"),
        ("List-Id: Shop staff <staff.shop.example>", "List-Id"),
        ("List-Unsubscribe: <mailto:leave@shop.example>", "List-Unsubscribe"),
        ("Return-Path: <>", "Return-Path: <>"),
    ],
)
def test_auto_reply_headers(header: str, reason: str) -> None:
    assert reason in _refused(_route(_mail({}, header)), "auto-reply")


def test_precedence_first_class_is_not_a_sign() -> None:
    assert auto_reply_reason(_mail({}, "Precedence: first-class")) is None


@pytest.mark.parametrize(
    "sender", ["MAILER-DAEMON@mx.shop.example", "postmaster@shop.example", "NoReply@x.com"]
)
def test_robot_senders(sender: str) -> None:
    msg = _mail({"From": sender})
    assert "robot sender" in _refused(_route(msg, managers=[sender]), "auto-reply")


def test_multipart_report_bounce() -> None:
    raw = (
        b"Return-Path: <>\r\n"
        b"From: Mail Delivery System <MAILER-DAEMON@mx.shop.example>\r\n"
        b"To: orders+k3j9x2m4q8z1@shop.example\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\n"
        b"Message-ID: <20261121.bounce@mx.shop.example>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        b"\r\n--B\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you...\r\n"
        b"--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.shop.example\r\n\r\nFinal-Recipient: rfc822; x@y.z\r\n"
        b"Action: failed\r\nStatus: 5.1.1\r\n--B--\r\n"
    )
    _refused(_route(_parse(raw)), "auto-reply")


def test_multipart_report_read_receipt_from_a_manager() -> None:
    msg = _mail(
        {"Content-Type": 'multipart/report; report-type=disposition-notification; boundary="R"'}
    )
    assert auto_reply_reason(msg) == "delivery report, multipart/report"
    _refused(_route(msg), "auto-reply")


# -- refused: sender ------------------------------------------------------------------------


def test_stranger_with_valid_token_is_refused() -> None:
    reason = _refused(_route(_mail({"From": "Eve <Eve@Evil.example>"})), "sender")
    assert "eve@evil.example" in reason


@pytest.mark.parametrize(
    "from_",
    [
        "Olena <olena@shop.example>, Taras <taras.koval@gmail.com>",
        "<<<>>>",
        "olena shop example",
        "olena@shop.example@evil.example",
        '"olena@shop.example"@evil.example',
        "=?utf-8?b?garbage?= <",
        "undisclosed-recipients:;",
    ],
)
def test_unusable_from_is_malformed(from_: str) -> None:
    msg = _mail({"From": from_})
    assert sender_address(msg) is None
    _refused(_route(msg), "malformed")


def test_two_from_headers_or_none_is_malformed() -> None:
    two = _mail({}, "From: taras.koval@gmail.com")
    assert sender_address(two) is None
    _refused(_route(two), "malformed")
    _refused(_route(_mail({"From": None})), "malformed")


def test_sender_address_decodes_names() -> None:
    raw_8bit = _mail({"From": "Олена Петренко <OLENA@shop.example>"})
    assert sender_address(raw_8bit) == ("olena@shop.example", "Олена Петренко")
    assert sender_address(_mail({"From": "olena@shop.example (Olena)"})) == (
        "olena@shop.example",
        "",
    )


# -- refused: token / not a reply -----------------------------------------------------------


def test_spoofed_manager_with_wrong_token() -> None:
    msg = _mail({"To": "orders+zq81xx0000aa@shop.example", "In-Reply-To": None, "References": None})
    reason = _refused(_route(msg), "token")
    assert reason == "unknown conversation token +zq81…"
    two = _mail(
        {"To": "orders+zq81xx0000aa@shop.example", "Cc": "orders+pp77yy1111bb@shop.example"}
    )
    reason = _refused(_route(two), "token")
    assert reason == "unknown conversation token +zq81… (and 1 more)"
    assert "pp77" not in reason


def test_forged_token_is_not_rescued_by_valid_references() -> None:
    asked: list[str] = []
    msg = _mail({"To": "orders+zq81xx0000aa@shop.example"})  # In-Reply-To/References: ours
    result = _route(msg, by_email_id=lambda mid: asked.append(mid) or 42)
    _refused(result, "token")
    assert asked == []


def test_spoofed_manager_with_no_token_and_unknown_references() -> None:
    msg = _mail({"To": MAILBOX, "In-Reply-To": "<x@evil.example>", "References": "<y@evil>"})
    _refused(_route(msg), "not-a-reply")
    _refused(_route(_mail({"To": MAILBOX, "In-Reply-To": None, "References": None})), "not-a-reply")


# -- helpers ----------------------------------------------------------------------------------


def test_recipient_tokens_only_counts_the_mailbox_and_good_tokens() -> None:
    msg = _mail(
        {
            "To": (
                "orders+abc@shop.example, orders+bad_token1@shop.example, "
                f"orders+{TOKEN}@evil.example, sales+{TOKEN}@shop.example, "
                f"orders+{'a' * 65}@shop.example"
            ),
            "Cc": f"Shop <Orders+{TOKEN.upper()}@shop.example>",
        },
        f"X-Original-To: orders+{TOKEN}@shop.example",
        "Envelope-To: orders+second22@shop.example",
        f"X-Delivered-To: orders+{'b' * 64}@shop.example",
    )
    assert recipient_tokens(msg, MAILBOX) == [TOKEN, "second22", "b" * 64]
    assert recipient_tokens(msg, "not-an-address") == []


def test_to_header_with_garbage_still_yields_the_token() -> None:
    garbage = f'garbage <<<, "Olena" <orders+{TOKEN}@shop.example>,,,; @@@ <'
    assert recipient_tokens(_mail({"To": garbage}), MAILBOX) == [TOKEN]
    choking = f"orders+{TOKEN}@shop.example, =?utf-8?b?garbage?= <"  # the parser raises here
    msg = _mail({"To": choking, "In-Reply-To": None, "References": None})
    assert recipient_tokens(msg, MAILBOX) == [TOKEN]
    assert isinstance(_route(msg), Routed)


def test_referenced_ids_order_normalization_and_duplicates() -> None:
    msg = _mail(
        {"In-Reply-To": "<c@x> (comment)", "References": "<a@x>\r\n <b@x>\r\n\t<c@x>"},
    )
    assert referenced_ids(msg) == ["<c@x>", "<b@x>", "<a@x>"]
    bare = _mail({"In-Reply-To": "c@x", "References": "a@x, <b@x"})
    assert referenced_ids(bare) == ["<c@x>", "<b@x>", "<a@x>"]
    assert referenced_ids(_mail({"In-Reply-To": "<>", "References": None})) == []


@pytest.mark.parametrize(
    "raw",
    [
        _raw({"Message-ID": "<>"}),
        _raw({"Message-ID": "\xff not an id"}),
        _raw({"Subject": "=?utf-8?q?broken"}),
        _raw({"Content-Type": "multipart/; boundary="}),
        _raw({"To": "=?utf-8?b?garbage?= <", "From": "=?utf-8?b?garbage?= <"}),
        _raw({"References": "<<<>>> <", "In-Reply-To": "<"}),
        b"From: olena@shop.example\r\nTo: \xff\xfe\r\nSubject: \xc0\xaf\r\n\r\nhi",
        b"not an email at all",
    ],
)
def test_broken_mail_never_raises(raw: bytes) -> None:
    result = _route(_parse(raw))
    assert isinstance(result, Routed | Refused)


def test_broken_message_id_reads_as_absent() -> None:
    result = _route(_mail({"Message-ID": "<>"}))
    assert result == Routed(42, "olena@shop.example", "Olena Petrenko", "", "token")


# -- the sender, strictly -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "from_",
    [
        "olena@shop.example <mallory@evil.example>",  # the name says the manager
        "=?utf-8?q?olena?=@shop.example",  # an encoded word decoded into her address
        "Olena <=?utf-8?q?olena?=@shop.example>",
        '"olena"@shop.example',
        "olena(x)@shop.example",
        "<@evil.example:olena@shop.example>",
    ],
)
def test_a_from_that_only_looks_like_a_manager_is_refused_before_any_lookup(from_: str) -> None:
    asked: list[str] = []
    result = _route(
        _mail({"From": from_}),
        by_token=lambda t: asked.append(t) or 42,
        by_email_id=lambda m: asked.append(m) or 42,
    )
    assert _refused(result, "malformed").startswith("sender not certain: From: ")
    assert asked == []


def test_a_quoted_manager_address_as_display_name_is_the_stranger_it_hides() -> None:
    msg = _mail({"From": '"olena@shop.example" <mallory@evil.example>'})
    assert "mallory@evil.example is not in managers" in _refused(_route(msg), "sender")
    assert sender_address(msg) == ("mallory@evil.example", "")


def test_idn_managers_match_both_forms_and_homoglyphs_do_not() -> None:
    managers = ["Anna@Магазин.Укр"]
    for from_ in ("anna@xn--80aairftm.xn--j1amh", "Анна <anna@магазин.укр>"):
        result = _route(_mail({"From": from_}), managers=managers)
        assert isinstance(result, Routed), result
        assert result.sender == "anna@магазин.укр"  # as configured: the archive's author
    for from_ in ("anna@xn--80aairftn.xn--j1amh", "anna@мaгазин.укр"):  # one letter off
        assert isinstance(_route(_mail({"From": from_}), managers=managers), Refused)
    for look_alike in ("olena@shop.examp1e", "olena@shop.ex\u0430mple", "olena@sh\u043ep.example"):
        _refused(_route(_mail({"From": look_alike})), "sender")


# -- authentication ---------------------------------------------------------------------------


def _stamped(block: list[str], below: list[str] = (), **headers: str | None) -> EmailMessage:
    return _parse(stamped(_raw(headers), block, list(below)))


def test_with_authserv_id_a_vouched_reply_routes() -> None:
    msg = _stamped(gmail("pass"))
    assert _route(msg, authserv_id="mx.google.com") == Routed(
        42, "olena@shop.example", "Olena Petrenko", REPLY_ID, "token"
    )


def test_with_authserv_id_a_failing_reply_is_unverified_and_names_its_conversation() -> None:
    for msg in (_stamped(gmail("spoof")), _stamped(gmail("spoof"), FORGED_PASS["gmail"])):
        result = _route(msg, authserv_id="mx.google.com")
        assert isinstance(result, Refused) and result.kind == "unverified"
        assert (result.conversation_id, result.sender) == (42, "olena@shop.example")
        assert "dmarc=fail" in result.reason and "\n" not in result.reason


def test_without_authserv_id_replies_are_accepted_as_before() -> None:
    assert isinstance(_route(_stamped(gmail("spoof"))), Routed)


def test_authentication_is_asked_only_of_a_manager_s_reply() -> None:
    """A stranger, a loop or a mail that answers nothing of ours is refused for that, and
    never counts as an unverified manager (whom a notice would go to)."""
    unsigned = {"To": MAILBOX, "In-Reply-To": None, "References": None}
    _refused(_route(_stamped(gmail("spoof"), **unsigned), authserv_id="mx.google.com"),
             "not-a-reply")  # fmt: skip
    stranger = _stamped(gmail("spoof"), From="mallory@evil.example")
    _refused(_route(stranger, authserv_id="mx.google.com"), "sender")


# -- References: bounded work -------------------------------------------------------------------


def test_100k_references_cost_a_bounded_number_of_lookups() -> None:
    ids = " ".join(f"<{n}.x@evil.example>" for n in range(100_000))
    msg = _mail({"To": MAILBOX, "In-Reply-To": "<a@x> <b@x> <c@x> <d@x>", "References": ids})
    asked: list[str] = []
    result = _route(msg, by_email_id=lambda mid: asked.append(mid) or None)
    _refused(result, "not-a-reply")
    assert len(asked) == MAX_IN_REPLY_TO + MAX_REFERENCES
    assert asked[:MAX_IN_REPLY_TO] == ["<a@x>", "<b@x>", "<c@x>"]
    assert asked[MAX_IN_REPLY_TO] == "<99999.x@evil.example>"  # the newest first
    assert asked[-1] == f"<{100_000 - MAX_REFERENCES}.x@evil.example>"


def test_our_id_among_the_newest_references_still_routes_an_old_one_does_not() -> None:
    filler = " ".join(f"<{n}.x@mail.example>" for n in range(5_000))
    newest = _mail({"To": MAILBOX, "In-Reply-To": None, "References": f"{filler} {OURS}"})
    assert isinstance(_route(newest), Routed)
    buried = _mail({"To": MAILBOX, "In-Reply-To": None, "References": f"{OURS} {filler}"})
    _refused(_route(buried), "not-a-reply")


def test_a_references_header_cut_mid_id_loses_only_that_id() -> None:
    tail = " ".join(f"<{n}@x>" for n in range(3))
    long_id = "<" + "z" * (REFERENCES_TAIL * 2) + "@x>"
    msg = _mail({"In-Reply-To": None, "References": f"{long_id} {tail}"})
    assert referenced_ids(msg) == ["<2@x>", "<1@x>", "<0@x>"]
