"""The reply corpus itself, and the held-out half measured (never tuned on).

The held-out figures are a floor that only goes up: a change to the extractor that
makes the held-out half worse fails here. Raising the floor after an improvement is
fine; changing a held-out case to make it pass is not (fix a case only with a source
showing the client does otherwise, as its README says).
"""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from im2mail.mail.replies import extract
from tests.support.reply_corpus import (
    HALVES,
    Case,
    as_relay,
    cases,
    leaked,
    learned_signature,
    score,
)

# The extractor before issue 19's changes, measured on 2026-12-07: 29/65 exact, 3 leaks;
# after format=flowed, and attributions, header blocks, dashed separators and client
# footers read by their shape (tuned on the development half only): 48/65, 1 leak. With
# the thread's own text as ground truth and learned signatures, as the relay runs it: a
# manager's first reply 48/65 and no leak (the one leak became a notice to the manager);
# a manager whose signature is learned 60/65, no leak. After more shapes read by structure
# (tuned on a development half grown to 162 cases; reply_shapes.py, HTML signature and
# quote containers by name): first reply 54/65, known manager 62/65, no leak. After a
# footer had to say it sent the mail (a manager's "Є чохли для iPhone 15." was cut): 55, 63.
# Session 27: a second held-out batch of 32 cases (ho2_*), written by a helper that never
# read the extractor, its benches or tests, nor the first held-out half, and never ran
# anything on them; measured once on the code of that moment (31/32 in every run, one
# leak), then after the session's four development batches were merged (with them, the
# corpus scores a reply of quoted text only as the relay handles it: nothing sent): first
# reply 32/32, known manager 32/32, no leak. Both held-out batches together: 89/97, 95/97.
# A third batch of 32 (ho3_*, written the same way, our emails built with MailBuilder),
# measured once as it came, before the second wave of development batches was merged:
# 32/32 in every run, no leak; after that merge the same. The three: 121/129, 127/129.
HELDOUT_FLOOR = {"first reply": 121 / 129, "known manager": 127 / 129}
MAX_LEAKS = 0
# The development half (tuned on): 196 cases after the fourth batch (17 written before
# the change for them), first reply 179 -> 194 with typed signatures cut from the first
# reply on and the customer's words echoed in the manager's own sentence let through;
# known manager 195 -> 196. Five more cases of inline answers under an unprefixed quote
# and the like, written before the change for them: 196/201 and 198/201; with answers
# between our lines under an unprefixed quote kept (plain and Outlook's HTML): 199, 201.
# With 5 regression cases written after their rules: 204/206 and 206/206.
# Sixth batch (21 shapes written before the change for them, 249 cases): 241 and 246
# as they came; with typed ">" lines, rewrapped marked signatures and linked picture
# placeholders read: 244/249 and 249/249 (a server's footer on a first reply is cut by
# what the colleagues' replies teach, which the corpus does not model).
# Session 27, seventh batch (blind29, 16 cases of clients never seen: GroupWise, Notes,
# Pegasus, Opera, Front, Superhuman…, written first): 13/16 and 13/16 as they came; after
# ">>>"-framed headers, wrapped quoted attributions and footers with links: 260/265, 265/265.
# Eighth batch (blind31, 19 replies in UI languages the tables lack, written before the
# change for them, 268 cases with the sixth): 260 and 266 as they came; with a name
# wrapped off an attribution that starts with its address, a footer that is a link naming
# a mail app, and dotted company forms in typed signatures read: 263/268 and 268/268.
# Four more (uz, az, et, ro-MD): 266 and 271 of 272 as they came; with a day's number
# wrapped in an attribution read: 267, 272.
# Ninth batch (blind32, 19 hurried managers' shapes written before the change for them,
# 268 cases with the sixth): 260 and 265 as they came (a phone's footer above the answer,
# bank details in the manager's own name read as a typed signature, a forward with
# nothing written); with those read and the relay's "nothing to send" for a reply of
# quoted text only: 263/268, 268/268.
# Tenth batch (blind30, 16 signed, encrypted and HTML-structure shapes written before
# the change for them, 265 cases with the sixth): 254 and 259 as they came; with the PGP
# armour taken off, the parts that sign or wrap a mail read, table rows, list items and
# a link's preview card laid out, a stale text/plain giving way to the HTML and legal
# forms ("Co.") in typed signatures: 260/265 and 265/265.
# The four batches together (323 cases): 318/323 and 323/323.
# Eleventh batch (blind35, 18 webmail replies with HTML quirks written before the change
# for them, 341 cases with the tenth): 333 and 338 as they came (all three failures a
# webmail's lines as <p style="margin:0"> laid out a blank line apart); with margin-less
# paragraphs read as lines: 336/341 and 341/341.
# Twelfth batch (blind33, 20 everyday replies of common clients written before the
# change for them, 343 cases with the tenth): 334 and 341 as they came (Gmail's
# text/plain hard-wrapped at 78 columns, a first name under the sign-off cut with the
# signature set apart under it); with wrapped lines given the HTML's breaks, that name
# kept and a signature container's client footer read as the footer: 338/343 and
# 343/343.
# Thirteenth batch (blind34, 21 replies from mobile mail apps written before the change
# for them, 344 cases with the tenth): 338 and 344 as they came (20/21 and 21/21 of the
# batch: a phone's signature set to one line of the manager's own); with a whole
# signature on the name's line read: 339/344 and 344/344. Four more mobile shapes
# written after that change but before any for them (data detectors, an app signature, a
# second reply, a camera photo): 4/4 as they came; 343/348 and 348/348.
# The three batches together (386 cases): 381/386 and 386/386.
# Third wave, batch blind36 (18 Outlook desktop replies, 2016 to 365 and the new one, in
# 13 languages): 14/18 first reply and 16/18 known manager as they came (answers tagged
# "AK:" under an unmarked quote read as a header block; a Word list's bullet padded to its
# tab stop in text/plain); with both read: 398/404 and 404/404 (a company signature with
# legal lines and a confidentiality sentence is cut only once learned).
# Batch blind38 (33 Apple Mail and Thunderbird desktop replies in 14 languages, in four
# groups each written before any change for it): 30/33 as they came (Apple Mail's
# "<logo.png>" line in text/plain reached the chat; two expected texts corrected to the
# corpus's sign-off convention, .eml unchanged); with a line naming a file of the mail
# blanked: 33/33. With blind36: 431/437 and 437/437.
# Batch blind37 (25 complex threads: reply-all to a colleague who answered first, chains
# of header blocks, inline answers beside a colleague's, pasted quotations, customers who
# pasted ">" lines or headers, replies to emails of ours that carry context; 21 written
# before any change, 4 after the first rules but before any for them): 19/21 as they came
# (a colleague's header block and answer went to the customer; a pasted quotation and
# its lead-in were lost); with a chain of one client's header blocks read as history and
# a pasted quotation kept: 25/25. The third wave together: 456/462 and 462/462.
# Fourth wave, batch blind41 (18 MIME and text quirks: mislabelled charsets, KOI8-U,
# split multibyte quoted-printable, a BOM, bidi and zero-width marks, soft hyphens,
# Apple's text split around a file, a meeting invite, a gateway's message/rfc822
# wrapper, text/enriched), written first: 9/18 as they came (one real leak the 8-word
# check could not see: the quote in mojibake); with charsets.py, invisible.py,
# enriched.py and the split or wrapped bodies read: 18/18; 474/480 and 480/480.
# Fourth wave, batch blind39 (22 adversarial replies for trust, written before any
# change for them): 16/22 first reply and 16/22 known manager as they came, no leak (an
# Apple Mail answer split in two text/plain parts around a picture lost its second half;
# a text/plain of the quote only while the HTML held the answer; a sentence of the
# customer's the manager quoted in „…“ asked about; a BOM and Outlook's padded list
# marks reached the text; a gateway's disclaimer under the quote); with those read, one
# expected text corrected to the corpus's list convention and the gateway's disclaimer
# learned as the signature: 21/22 and 22/22. Together: 477/484 and 484/484.
# The two together (502 cases; Apple's split text read by one rule, blind39's, which
# asks when no part holds the quote): 495/502 and 502/502.
# Fourth wave, batch blind40 (18 replies written from CRM, helpdesk and sales tools,
# before any change): 13/18 first reply and 14/18 as the relay runs it as they came,
# 14/18 and 15/18 once two of the cases' own mistakes were mended (still before any
# change to the code): a Zendesk notification went whole, a tracking extension's white
# mark and a helpdesk's white ticket reference went out. With white text on no
# background unseen and a helpdesk notification read as its first comment: 16/18 and
# 18/18 (a team line and a sign-off that only a learned signature tells). The
# development half: 472/480 and 480/480; with blind41's 18 cases merged: 490/498 and
# 498/498.
# The fourth wave together (520 cases): 511/520 and 520/520.
# Fifth wave, batch blind43 (13 answers whose own lines look like history, a signature or
# a footer: "-- " bullets, a dashed heading, IBAN lines, a Nova Poshta block, order
# "Label:" lines, a "From: Kyiv, To: Lviv" route over "Sent: Wednesday", a P.S. under
# the name, a joke "Sent from my office"), written first: 12/13 as they came (the route
# read as Outlook's header block, seven lines lost); with a From/Sent pair a header only
# when it names a date or an address or heads an email of ours: 13/13; 524/533, 533/533.
# Fifth wave, batch blind42 (10 replies with what servers and gateways stamp on them:
# antivirus tags and footers, classification markings, encryption and compliance
# footers, a promotional footer with its icon; written first): 2/10 as they came; with a
# marking stamped at the top and the very end, a tag block ending in a bare link, a
# trademark-named footer and a footer's icon line read: 9/9, one moved to dev_open (a
# translator's note that reads like the manager's own line); three still fail a first
# reply by design (a footer on every mail: learned, not yet).
# The fifth wave together (542 cases): 530/542 and 542/542.
DEV_FLOOR = {"first reply": 530 / 542, "known manager": 542 / 542}


def _text(case: Case) -> str:
    return extract(case.message).text


def _first_reply(case: Case) -> str:
    return as_relay(case, known_manager=False)


RUNS = {"first reply": _first_reply, "known manager": as_relay}


@pytest.mark.parametrize("half", HALVES)
def test_every_case_is_whole_and_parses_cleanly(half: str) -> None:
    found = cases(half)
    assert found
    for case in found:
        message = case.message
        defects = [d for part in message.walk() for d in part.defects]
        assert not defects, (case.name, defects)
        assert case.thread["sent"] and all(s["text"].strip() for s in case.thread["sent"])
        assert {"client", "ui_language", "shape", "manager", "source"} <= set(case.thread)
        assert case.expected or case.thread.get("expect_nothing"), case.name


def test_the_corpus_is_as_wide_as_issue_19_asks() -> None:
    both = [c for half in HALVES for c in cases(half)]
    assert len(both) >= 120
    assert len({c.pair for c in both}) >= 30
    assert len({c.thread["ui_language"] for c in both}) >= 6
    assert len(cases("heldout")) >= 120


def test_as_the_relay_runs_it_a_reply_with_nothing_of_the_managers_sends_nothing() -> None:
    """reply_intake sends nothing (and tells the manager) when the extractor found only
    quoted text and no file came: our email forwarded back with nothing written."""
    ours = "Lukas Wagner\nTelegram\n\nHallo, ist meine Bestellung 2231 schon verschickt?\n"
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@shop.example", "orders+t@shop.example", "WG: x"
    msg.set_content(
        "\n\n-----Ursprüngliche Nachricht-----\nVon: Lukas Wagner <orders@shop.example>\n"
        "Gesendet: Montag, 23. November 2026 13:05\nAn: a@shop.example\nBetreff: x\n\n" + ours
    )
    case = Case("fwd", "dev", msg.as_bytes(), "", {"sent": [{"text": ours}], "signature": None})
    assert extract(case.message, case.sent).quoted_only
    assert as_relay(case, known_manager=False) == ""


def test_the_leak_check_finds_quoted_history() -> None:
    sent = ["Доброго дня! Скільки коштуватиме друк тисячі візиток на щільному папері?"]
    meant = "Добрий день, 1450 грн."
    leak = f"{meant}\n\n> Доброго дня! Скільки коштуватиме друк тисячі візиток на щільному папері?"
    assert leaked(leak, meant, sent)
    assert leaked(meant, meant, sent) is None
    # The manager's own repeat of the customer's words is no leak.
    assert leaked(sent[0], sent[0], sent) is None


# What a mail program adds to what it signs or encrypts, never a file for the customer.
CLIENT_FILES = {
    "application/pkcs7-signature", "application/x-pkcs7-signature", "application/pgp-signature",
    "application/pgp-keys", "application/pgp-encrypted", "application/pkcs7-mime",
    "application/x-pkcs7-mime", "application/ms-tnef", "application/vnd.ms-tnef",
}  # fmt: skip


def test_no_development_case_hands_the_customer_a_file_its_client_added() -> None:
    for case in cases("dev"):
        reply = extract(case.message, case.sent)
        added = [name for name, mime, _ in reply.attachments if mime in CLIENT_FILES]
        assert not added, (case.name, added)
        assert not any(name.endswith((".p7s", ".p7m", ".asc")) for name, _, _ in reply.attachments)


@pytest.mark.parametrize("run", RUNS)
def test_the_held_out_half_gets_no_worse(run: str) -> None:
    held = score(cases("heldout"), RUNS[run])
    assert held.rate >= HELDOUT_FLOOR[run], (held.exact, held.total, held.failed)
    assert len(held.leaks) <= MAX_LEAKS, held.leaks


@pytest.mark.parametrize("run", RUNS)
def test_the_development_half_leaks_nothing_and_gets_no_worse(run: str) -> None:
    dev = score(cases("dev"), RUNS[run])
    assert len(dev.leaks) <= MAX_LEAKS, dev.leaks
    assert dev.rate >= DEV_FLOOR[run], (dev.exact, dev.total, dev.failed)


def _re_encoded(message, cte: str):
    """`message` with each text part written again in transfer encoding `cte` (the same
    characters; line ends as the encoding writes them), or None when a part's text can't
    be read back faithfully (a mislabelled charset: rewriting it would change it)."""
    import copy
    from email import message_from_bytes, policy

    changed = copy.deepcopy(message)
    for part in changed.walk():
        if part.is_multipart() or part.get_content_maintype() != "text":
            continue
        if part.get_content_disposition() == "attachment":
            continue
        try:
            content = part.get_content()
        except Exception:
            return None
        if not isinstance(content, str) or "\ufffd" in content:
            return None
        charset = part.get_content_charset() or "utf-8"
        params = [(k, v) for k, v in part.get_params()[1:] if k.lower() != "charset"]
        try:
            content.encode(charset)
        except (LookupError, UnicodeError):
            charset = "utf-8"
        del part["Content-Transfer-Encoding"]
        part.set_content(content, subtype=part.get_content_subtype(), charset=charset, cte=cte)
        for key, value in params:
            part.set_param(key, value)
    return message_from_bytes(changed.as_bytes(policy=policy.default), policy=policy.default)


@pytest.mark.parametrize("cte", ["base64", "quoted-printable"])
def test_a_reply_reads_the_same_whatever_transfer_encoding_its_client_chose(cte: str) -> None:
    """Every development case, its text parts re-encoded: the customer gets the same words
    (MIME decoding is no rule of shape; a client may pick either encoding)."""
    differ = []
    for case in cases("dev"):
        variant = _re_encoded(case.message, cte)
        if variant is None:
            continue
        signature = learned_signature(case)
        before = extract(case.message, case.sent, signature, case.own)
        after = extract(variant, case.sent, signature, case.own)
        if (after.text, bool(after.doubt)) != (before.text, bool(before.doubt)):
            differ.append(case.name)
    assert not differ
