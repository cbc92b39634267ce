"""What the shop's receiving server stamps on a manager's reply, shaped like the real thing.

The header blocks follow what each provider writes (captured samples published with
MimeKit's and Delta Chat's test data, the providers' own documentation): Gmail/Google
Workspace's one header with dkim, spf and dmarc under `mx.google.com`; Microsoft 365's
header with no authserv-id at all (and `compauth`, stray `domain;` segments, an internal
message's `X-MS-Exchange-Organization-AuthAs`); Fastmail's four headers per email under
the MX's own name; rspamd's single header; OpenDKIM's and OpenDMARC's separate ones.

`stamped(raw, top, below)` puts a block on top of an email as the receiving server does
(above everything the sender wrote) and `below` lines where an attacker can put them:
among the sender's own headers.
"""

from __future__ import annotations

from email.message import EmailMessage

SHOP = "shop.example"
EVIL_IP = "203.0.113.66"
GOOD_IP = "209.85.220.41"


def gmail(verdict: str, domain: str = SHOP, sender: str = "anna") -> list[str]:
    """mx.google.com. "pass": a Workspace user's signed mail. "spoof": unsigned mail with
    From at `domain` sent by mallory@evil.example (Gmail writes no dkim then). "fail":
    signed by the domain, but the signature broke on the way (dkim=fail, dmarc=fail)."""
    spf = (
        f"spf=pass (google.com: domain of {sender}@{domain} designates {GOOD_IP} as "
        f"permitted sender) smtp.mailfrom={sender}@{domain}"
    )
    if verdict == "pass":
        lines = [
            f"dkim=pass header.i=@{domain} header.s=google header.b=Xb7lM2aQ;",
            f"{spf};",
            f"dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from={domain}",
        ]
    elif verdict == "spoof":
        lines = [
            f"spf=pass (google.com: domain of mallory@evil.example designates {EVIL_IP} as "
            "permitted sender) smtp.mailfrom=mallory@evil.example;",
            f"dmarc=fail (p=NONE sp=NONE dis=NONE) header.from={domain}",
        ]
    else:
        lines = [
            f"dkim=fail header.i=@{domain} header.s=google header.b=Xb7lM2aQ;",
            f"spf=softfail (google.com: domain of transitioning {sender}@{domain} does not "
            f"designate {EVIL_IP} as permitted sender) smtp.mailfrom={sender}@{domain};",
            f"dmarc=fail (p=QUARANTINE sp=QUARANTINE dis=NONE) header.from={domain}",
        ]
    return [
        f"Delivered-To: orders@{SHOP}",
        "Received: by 2002:a05:7010:8c0b:b0:11b:6e4:4d54 with SMTP id w11csp1829553ldb;",
        "        Fri, 21 Nov 2026 00:15:02 -0800 (PST)",
        f"Return-Path: <{sender}@{domain}>",
        "Received: from mail-sor-f41.google.com (mail-sor-f41.google.com. [209.85.220.41])",
        "        by mx.google.com with SMTPS id 5b1f17b1804b1-47a7a8fd1f5sor2131175e9.4",
        f"        for <orders@{SHOP}>",
        "        (Google Transport Security);",
        "        Fri, 21 Nov 2026 00:15:02 -0800 (PST)",
        "Authentication-Results: mx.google.com;",
        *(f"       {line}" for line in lines),
    ]


def microsoft365(verdict: str, domain: str = SHOP) -> list[str]:
    """Exchange Online: no authserv-id. "pass": signed mail from outside the organization;
    "spoof": an outsider using the domain; "internal": a colleague in the same tenant,
    which carries no verdict but AuthAs: Internal (and often a dkim=none header)."""
    org = [
        "X-MS-Exchange-Organization-ExpirationStartTime: 21 Nov 2026 08:15:03.2161 (UTC)",
        "X-MS-Exchange-Organization-Network-Message-Id: 5c0d2a4e-9f1b-4a6e-08dd-1a2b3c4d5e6f",
    ]
    if verdict == "internal":
        return [
            *org,
            "X-MS-Exchange-Organization-AuthAs: Internal",
            "X-MS-Exchange-Organization-AuthMechanism: 04",
            "X-MS-Exchange-Organization-AuthSource: AM9PR04MB8321.eurprd04.prod.outlook.com",
            "Authentication-Results: dkim=none (message not signed)",
            f" header.d=none;dmarc=none action=none header.from={domain};",
        ]
    if verdict == "pass":
        ar = [
            f"Authentication-Results: spf=pass (sender IP is {GOOD_IP})",
            f" smtp.mailfrom={domain}; dkim=pass (signature was verified)",
            f" header.d={domain};dmarc=pass action=none",
            f" header.from={domain};compauth=pass reason=100",
        ]
    else:
        ar = [
            f"Authentication-Results: spf=fail (sender IP is {EVIL_IP})",
            f" smtp.mailfrom={domain}; {domain}; dkim=none (message not signed)",
            f" header.d=none;{domain}; dmarc=fail action=oreject",
            f" header.from={domain};compauth=fail reason=000",
        ]
    return [
        "Received: from AM9PR04MB8321.eurprd04.prod.outlook.com (2603:10a6:20b:3e4::9) by",
        " DB9PR04MB9426.eurprd04.prod.outlook.com with HTTPS; Fri, 21 Nov 2026 08:15:03",
        " +0000",
        *ar,
        "Received-SPF: Pass (protection.outlook.com: domain of shop.example designates",
        f" {GOOD_IP} as permitted sender) receiver=protection.outlook.com;",
        f" client-ip={GOOD_IP}; helo=mail-sor-f41.google.com; pr=C",
        *org,
        "X-MS-Exchange-Organization-AuthAs: Anonymous",
    ]


def fastmail(verdict: str, domain: str = SHOP, mx: str = "mx3") -> list[str]:
    """Fastmail: four headers under the MX's name (mx1…mx6.messagingengine.com), the
    verdicts in the last; the topmost has only x-csa, x-me-sender and x-ptr."""
    host = f"{mx}.messagingengine.com"
    if verdict == "pass":
        dkim = [
            f"    dkim=pass (2048-bit rsa key sha256) header.d={domain}",
            f"      header.i=@{domain} header.b=hr44hXYS header.a=rsa-sha256",
            "      header.s=fm2 x-bits=2048;",
            "    dmarc=pass policy.published-domain-policy=reject",
            "      policy.applied-disposition=none policy.evaluated-disposition=none",
            f"      (p=reject,d=none,d.eval=none) policy.policy-from=p header.from={domain};",
            f"    spf=pass smtp.mailfrom=anna@{domain} smtp.helo=mail-wm1-f67.google.com",
        ]
    else:
        dkim = [
            "    dkim=none (no signatures found);",
            "    dmarc=fail policy.published-domain-policy=none",
            "      policy.applied-disposition=none policy.evaluated-disposition=none",
            f"      (p=none,d=none,d.eval=none) policy.policy-from=p header.from={domain};",
            "    spf=none smtp.mailfrom=mallory@evil.example smtp.helo=mx.evil.example",
        ]
    return [
        f"Authentication-Results: {host};",
        "    x-csa=none;",
        "    x-me-sender=none;",
        "    x-ptr=pass smtp.helo=mail-wm1-f67.google.com",
        "      policy.ptr=mail-wm1-f67.google.com",
        f"Authentication-Results: {host};",
        "    bimi=skipped (DMARC Policy is not at enforcement)",
        f"Authentication-Results: {host};",
        "    arc=none (no signatures found)",
        f"Authentication-Results: {host};",
        *dkim,
    ]


def rspamd(verdict: str, domain: str = SHOP, host: str = f"mail.{SHOP}") -> list[str]:
    """Dovecot + rspamd (milter_headers' authentication-results): one header."""
    if verdict == "pass":
        body = [
            f"\tdkim=pass header.d={domain} header.s=dkim header.b=kqh3WUKq;",
            f"\tdmarc=pass (policy=reject) header.from={domain};",
            f"\tspf=pass ({host}: domain of anna@{domain} designates 192.0.2.10 as "
            f"permitted sender) smtp.mailfrom=anna@{domain}",
        ]
    else:
        body = [
            "\tdkim=none;",
            f'\tdmarc=fail reason="SPF not aligned (relaxed), No valid DKIM" header.from={domain}'
            " (policy=reject);",
            f"\tspf=pass ({host}: domain of mallory@evil.example designates {EVIL_IP} as "
            "permitted sender) smtp.mailfrom=mallory@evil.example",
        ]
    return [
        f"Received: from mx.evil.example (mx.evil.example [{EVIL_IP}])",
        f"\tby {host} (Postfix) with ESMTPS id 4YzK1q3Lg2z9sWF",
        "\tfor <orders@shop.example>; Fri, 21 Nov 2026 09:15:03 +0100 (CET)",
        f"Authentication-Results: {host};",
        *body,
    ]


def opendkim_opendmarc(verdict: str, domain: str = SHOP, host: str = f"mail.{SHOP}") -> list[str]:
    """Postfix with OpenDKIM, OpenDMARC and an SPF policy daemon: one header each, in the
    order milters add them (OpenDKIM's on top)."""
    dkim = "pass" if verdict == "pass" else "fail"
    dmarc = "pass" if verdict == "pass" else "fail"
    return [
        f"Authentication-Results: {host};",
        f'\tdkim={dkim} reason="{"" if dkim == "pass" else "signature verification failed"}"'
        f' (2048-bit key; secure) header.d={domain} header.i=@{domain} header.b="kqh3WUKq";',
        "\tdkim-atps=neutral",
        f"Authentication-Results: {host}; dmarc={dmarc} (p=reject dis=none) header.from={domain}",
        f"Authentication-Results: {host}; spf=pass smtp.mailfrom=anna@{domain}",
    ]


PROVIDERS = {
    # name: (mail.authserv_id to configure, header block)
    "gmail": ("mx.google.com", gmail),
    "microsoft365": ("microsoft365", microsoft365),
    "fastmail": ("*.messagingengine.com", fastmail),
    "rspamd": ("mail.shop.example", rspamd),
    "opendkim": ("mail.shop.example", opendkim_opendmarc),
}

FORGED_PASS = {
    # what an attacker writes among their own headers to pass for a real verdict
    "gmail": ["Authentication-Results: mx.google.com; dkim=pass header.i=@shop.example;",
              "       dmarc=pass (p=REJECT) header.from=shop.example"],
    "microsoft365": ["Authentication-Results: spf=pass (sender IP is 209.85.220.41)",
                     " smtp.mailfrom=shop.example; dkim=pass (signature was verified)",
                     " header.d=shop.example;dmarc=pass action=none header.from=shop.example"],
    "fastmail": ["Authentication-Results: mx3.messagingengine.com;",
                 "    dkim=pass header.d=shop.example; dmarc=pass header.from=shop.example"],
    "rspamd": ["Authentication-Results: mail.shop.example; dkim=pass header.d=shop.example;",
               " dmarc=pass (policy=reject) header.from=shop.example"],
    "opendkim": ["Authentication-Results: mail.shop.example; dkim=pass header.d=shop.example",
                 "Authentication-Results: mail.shop.example; dmarc=pass header.from=shop.example"],
}  # fmt: skip

FOREIGN_PASS = [
    "Authentication-Results: mx.evil.example 1; dkim=pass header.d=shop.example;",
    " dmarc=pass (p=reject) header.from=shop.example; spf=pass smtp.mailfrom=shop.example",
]


def stamped(email: bytes | EmailMessage, top: list[str], below: list[str] = (), *,
            from_: str | None = None) -> bytes:  # fmt: skip
    """The email as the shop mailbox holds it: `top` (the receiving server's headers)
    above everything, `below` at the start of the sender's own headers, and with
    `from_` the From header replaced by that raw text (a forgery the email package would
    not write)."""
    raw = email.as_bytes() if isinstance(email, EmailMessage) else email
    head, sep, body = raw.partition(b"\n\n")
    lines = head.split(b"\n")
    if from_ is not None:
        kept: list[bytes] = []
        skipping = False
        for line in lines:
            if line.lower().startswith(b"from:"):
                skipping = True
                kept.append(b"From: " + from_.encode("utf-8"))
                continue
            if skipping and line[:1] in (b" ", b"\t"):
                continue
            skipping = False
            kept.append(line)
        lines = kept
    added = [line.encode("utf-8") for line in [*top, *below]]
    return b"\n".join([*added, *lines]) + sep + body
