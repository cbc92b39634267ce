"""Who sent an email (mail/addresses.py): the one address a DMARC checker takes, read
strictly, and addresses compared as mail systems compare them. Each From is bytes as
an IMAP server gives them."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest

from im2mail.mail.addresses import Sender, address_key, domain_key, sender


def _from(value: str | bytes, *extra: str) -> Sender | str:
    head = value if isinstance(value, bytes) else value.encode("utf-8")
    lines = [b"From: " + head, *(e.encode() for e in extra), b"To: orders@shop.example"]
    raw = b"\r\n".join(lines) + b"\r\n\r\nhi\r\n"
    return sender(message_from_bytes(raw, policy=policy.default))


@pytest.mark.parametrize(
    ("value", "address", "name"),
    [
        ("anna@shop.example", "anna@shop.example", ""),
        ("<anna@shop.example>", "anna@shop.example", ""),
        ("Anna Koval <Anna@Shop.Example>", "anna@shop.example", "Anna Koval"),
        ('"Koval, Anna" <anna@shop.example>', "anna@shop.example", "Koval, Anna"),
        ("=?UTF-8?B?0JDQvdC90LA=?= <anna@shop.example>", "anna@shop.example", "Анна"),
        ("Анна Коваль <anna@shop.example>", "anna@shop.example", "Анна Коваль"),  # raw UTF-8
        ("anna@shop.example (Anna Koval)", "anna@shop.example", ""),  # old-style comment
        ("Anna (office) <anna@shop.example>", "anna@shop.example", "Anna"),
        ("Anna <(c)anna@shop.example(c)>", "anna@shop.example", "Anna"),  # CFWS around it
        ("anna+sales@shop.example", "anna+sales@shop.example", ""),
        ("anna@xn--80aairftm.xn--j1amh", "anna@xn--80aairftm.xn--j1amh", ""),
        ("anna@магазин.укр", "anna@xn--80aairftm.xn--j1amh", ""),  # SMTPUTF8, raw UTF-8
        ("anna@МАГАЗИН.УКР", "anna@xn--80aairftm.xn--j1amh", ""),
        # a name that is the sender's own address, or holds it, says nothing false
        ('"anna@shop.example" <anna@shop.example>', "anna@shop.example", ""),
        ('"Anna (anna@shop.example)" <anna@shop.example>', "anna@shop.example",
         "Anna (anna@shop.example)"),
    ],
)  # fmt: skip
def test_the_author_is_the_addr_spec(value: str, address: str, name: str) -> None:
    assert _from(value) == Sender(address, name)


@pytest.mark.parametrize(
    ("value", "address"),
    [
        # the display name says the manager, the address is the attacker's
        ('"anna@shop.example" <mallory@evil.example>', "mallory@evil.example"),
        ("=?utf-8?b?YW5uYUBzaG9wLmV4YW1wbGU=?= <mallory@evil.example>", "mallory@evil.example"),
        ('"Anna <anna@shop.example>" <mallory@evil.example>', "mallory@evil.example"),
        # …and the other way round: a manager's name is never another address either
        ('"petro@shop.example" <anna@shop.example>', "anna@shop.example"),
    ],
)
def test_an_address_in_the_display_name_is_never_the_sender_nor_its_name(
    value: str, address: str
) -> None:
    assert _from(value) == Sender(address, "")


@pytest.mark.parametrize(
    ("value", "why"),
    [
        # what the issue found: the lenient parser took these for anna@shop.example
        ("anna@shop.example <mallory@evil.example>", "malformed"),
        ("=?utf-8?q?anna?=@shop.example", "malformed"),
        ("=?utf-8?q?anna?= @shop.example", "encoded word"),
        ("Anna <=?utf-8?q?anna?=@shop.example>", "malformed"),
        ("Anna <anna@=?utf-8?q?shop?=.example>", "malformed"),
        ('"=?utf-8?q?anna?="@shop.example', "malformed"),
        # two addresses, two angle-addrs, groups, nothing
        ("Anna <anna@shop.example>, Eve <eve@evil.example>", "2 addresses"),
        ("Anna <anna@shop.example> <mallory@evil.example>", "malformed"),
        ("anna@shop.example <anna@shop.example>", "malformed"),
        ("team: anna@shop.example;", "group"),
        ("undisclosed-recipients:;", "0 addresses"),
        ("", "0 addresses"),
        # quoted local parts, comments inside, routes, literals
        ('"anna"@shop.example', "quoted local part"),
        ('"olena@shop.example"@evil.example', "quoted local part"),
        ("anna(x)@shop.example", "comment"),
        ("anna@(x)shop.example", "comment"),
        ("anna@shop(x).example", "malformed"),
        ("<@evil.example:anna@shop.example>", "malformed"),
        ("anna@[192.0.2.1]", "domain literal"),
        ("anna . koval@shop.example", "malformed"),
        # broken syntax
        ("Anna <anna@shop.example", "malformed"),
        ("Anna <anna@shop.example>garbage", "malformed"),
        ("Anna Koval anna@shop.example", "malformed"),
        ("anna@shop.example.", "malformed"),
        ("anna@shop..example", "malformed"),
        ("<<<>>>", "malformed"),
        ("=?utf-8?b?garbage?= <", "unreadable"),  # the parser itself gives up
        ("Anna\x07Koval <anna@shop.example>", "malformed"),
        ("=?utf-8?q?Anna=0D=0ABcc:_x?= <anna@shop.example>", "malformed"),
        # not a name a mail system would deliver to
        ("анна@shop.example", "malformed"),
        ("anna@shop_x.example", "not a valid name"),
        ("anna@-shop.example", "not a valid name"),
        ("anna@xn--zz.example", "not a valid name"),
        ("anna@ｓｈｏｐ.example", "not a valid name"),  # full-width letters
        ("anna@localhost", "not a valid name"),
    ],
)
def test_a_from_that_is_not_certain_is_refused(value: str, why: str) -> None:
    found = _from(value)
    assert isinstance(found, str), found
    assert found.startswith("From: ") and why in found
    assert "\n" not in found


def test_raw_bytes_of_another_charset_are_refused() -> None:
    found = _from("Анна <anna@shop.example>".encode("cp1251"))
    assert found == "From: not UTF-8 (raw 8-bit bytes)"


def test_a_second_from_or_none_is_refused() -> None:
    assert _from("anna@shop.example", "From: petro@shop.example") == "2 From headers"
    raw = b"To: orders@shop.example\r\nSubject: x\r\n\r\nhi"
    assert sender(message_from_bytes(raw, policy=policy.default)) == "0 From headers"


def test_sender_header_defects_refuse_but_a_clean_one_changes_nothing() -> None:
    assert _from("anna@shop.example", "Sender: petro@shop.example") == Sender(
        "anna@shop.example", ""
    )
    assert _from("anna@shop.example", "Sender: a@shop.example <m@evil.example>").startswith(
        "Sender: malformed"
    )
    two = _from("anna@shop.example", "Sender: a@shop.example", "Sender: b@shop.example")
    assert two == "2 Sender headers"
    assert "2 addresses" in _from("anna@shop.example", "Sender: a@x.example, b@x.example")


def test_control_characters_never_reach_the_name() -> None:
    found = _from("=?utf-8?q?Anna=09Koval?= <anna@shop.example>")
    assert found == Sender("anna@shop.example", "Anna Koval")


@pytest.mark.parametrize(
    ("configured", "seen", "same"),
    [
        ("anna@shop.example", "ANNA@SHOP.EXAMPLE", True),
        ("anna@магазин.укр", "anna@xn--80aairftm.xn--j1amh", True),
        ("anna@xn--80aairftm.xn--j1amh", "anna@магазин.укр", True),
        ("Anna@Магазин.Укр", "anna@xn--80aairftm.xn--j1amh", True),
        ("anna@shop.example", "anna@shop.examp1e", False),  # digit one for the letter l
        ("anna@shop.example", "anna@shop.ex\u0430mple", False),  # Cyrillic а
        ("anna@shop.example", "anna@sh\u043ep.example", False),  # Cyrillic о
        ("anna@shop.example", "anna@shop.example.evil.example", False),
        ("anna@shop.example", "anna+x@shop.example", False),
        ("straße@shop.example", "strasse@shop.example", False),  # no case folding beyond lower
    ],
)
def test_addresses_compare_by_key(configured: str, seen: str, same: bool) -> None:
    mine = address_key(configured, lenient=True)
    theirs = address_key(seen)
    assert mine is not None
    assert (mine == theirs) is same


def test_domain_keys() -> None:
    assert domain_key("Shop.Example") == "shop.example"
    assert domain_key("магазин.укр") == "xn--80aairftm.xn--j1amh"
    assert domain_key("ｓｈｏｐ.example") is None
    assert domain_key("ｓｈｏｐ.example", lenient=True) == "shop.example"  # typed by the owner
    for bad in ("", "example", "shop.example.", "a..b", "x" * 64 + ".example", "a b.example"):
        assert domain_key(bad) is None, bad
