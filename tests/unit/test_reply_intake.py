"""A manager's email → the archive (outbound.ReplyIntake): what is relayed, what is left
alone, and what comes back to the manager as a notice. Emails are bytes as IMAP gives them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest

from im2mail.archive import Archive
from im2mail.mail.builder import MailSettings
from im2mail.model import COLLEAGUE, NOT_SENT, UNVERIFIED, Message
from im2mail.relay.mailer import LinkSettings, Mailer
from im2mail.relay.reply_intake import ReplyIntake, ReplySettings
from tests.support.archive_sql import reading
from tests.support.authres_mail import FORGED_PASS, gmail, stamped
from tests.support.chats import T0, customer, say
from tests.unit.test_compose import wire

MAILBOX = "orders@shop.example"
ANNA, PETRO = "anna@shop.example", "petro@shop.example"


class Woken:
    def __init__(self) -> None:
        self.delivery = self.mail = 0


@pytest.fixture
def intake(archive: Archive):
    woken = Woken()

    def delivery() -> None:
        woken.delivery += 1

    def mail() -> None:
        woken.mail += 1

    made = ReplyIntake(archive, ReplySettings(MailSettings(MAILBOX, (ANNA, PETRO))), delivery, mail)
    made.woken = woken  # type: ignore[attr-defined]
    return made


def reply(token: str, text: str, *, sender: str = ANNA, msgid: str = "<r1@mail.example>",
          **headers: str) -> EmailMessage:  # fmt: skip
    m = EmailMessage()
    m["From"] = sender
    m["To"] = f"orders+{token}@shop.example"
    m["Subject"] = "Re: [Telegram] Олена Коваленко #1"
    m["Message-ID"] = msgid
    for name, value in headers.items():
        m[name.replace("_", "-")] = value
    m.set_content(text)
    return m


def outbox(archive: Archive) -> list[tuple[str, str, str | None]]:
    with reading(archive) as db:
        rows = db.execute("SELECT target, kind, note FROM outbox ORDER BY id").fetchall()
    return [tuple(r) for r in rows]


def test_a_reply_is_archived_with_its_delivery_and_the_watcher_told_done(archive, intake):
    conv = customer(archive)
    say(archive, conv, "Скільки коштує?")
    email = reply(conv.token, "350 грн\n\n> Скільки коштує?")
    assert intake.handle(7, email.as_bytes()) == "done"
    (stored,) = [e for e in archive.recent(5) if e.direction == "out"]
    assert (stored.author, stored.text) == (ANNA, "350 грн")
    message = archive.message(stored.message_id)
    assert message.email_message_id == "<r1@mail.example>"  # threads the notices under it
    assert archive.conversation_by_email_id("<r1@mail.example>").id == conv.id
    assert outbox(archive) == [("channel", "message", None)]
    assert intake.woken.delivery == 1


def test_the_same_reply_read_twice_is_delivered_once(archive, intake):
    conv = customer(archive)
    raw = reply(conv.token, "Так").as_bytes()
    assert intake.handle(1, raw) == "done"
    assert intake.handle(2, raw) == "done"  # moved away again, nothing new
    assert len(outbox(archive)) == 1


def test_a_reply_without_message_id_is_still_delivered_once(archive, intake):
    conv = customer(archive)
    email = reply(conv.token, "Так")
    del email["Message-ID"]
    raw = email.as_bytes()
    assert intake.handle(1, raw) == intake.handle(2, raw) == "done"
    assert len(outbox(archive)) == 1
    (entry,) = archive.recent(1)
    assert archive.message(entry.message_id).email_message_id.endswith("@shop.example>")


@pytest.mark.parametrize(
    "make",
    [
        lambda tok: reply("zzzzzzzz9999", "forged token"),
        lambda tok: reply(tok, "stranger", sender="mallory@evil.example"),
        lambda tok: reply(tok, "away", Auto_Submitted="auto-replied"),
        lambda tok: reply(tok, "loop", sender=MAILBOX),
        lambda tok: reply(tok, "list", Precedence="bulk"),
    ],
    ids=["forged-token", "stranger", "auto-reply", "own-address", "bulk"],
)
def test_what_must_not_be_relayed_is_left_alone(archive, intake, make):
    conv = customer(archive)
    assert intake.handle(3, make(conv.token).as_bytes()) == "ignore"
    assert outbox(archive) == []
    assert [e for e in archive.recent(5) if e.direction == "out"] == []


def test_our_own_email_coming_back_is_a_loop(archive, intake):
    conv = customer(archive)
    from im2mail.model import Message, OutboxItem

    archive.add_message(
        Message(conv.id, "in", "Олена", "Привіт", conv.created),
        outbox=[OutboxItem("mail", "<ours@shop.example>")],
    )
    bounced = reply(conv.token, "Привіт", sender=ANNA, msgid="<ours@shop.example>")
    assert intake.handle(4, bounced.as_bytes()) == "ignore"


def test_a_reply_with_only_the_quote_sends_nothing_and_tells_its_author(archive, intake):
    conv = customer(archive)
    quoted = "On Mon, 5 Jan 2026 Олена wrote:\n> Скільки коштує?\n"
    assert intake.handle(5, reply(conv.token, quoted).as_bytes()) == "done"
    assert outbox(archive) == [("mail", NOT_SENT, outbox(archive)[0][2])]
    assert "nothing was sent" in outbox(archive)[0][2]
    assert intake.woken.delivery == 0 and intake.woken.mail == 1


def test_an_encrypted_reply_sends_no_word_nor_file_and_tells_its_author_why(archive, intake):
    conv = customer(archive)
    email = reply(conv.token, "")
    email.make_mixed()
    kind = 'multipart/encrypted; protocol="application/pgp-encrypted"'
    email.replace_header("Content-Type", kind)
    version = EmailMessage()
    version.set_content(b"Version: 1\n", "application", "pgp-encrypted")
    data = EmailMessage()
    data.set_content(b"-----BEGIN PGP MESSAGE-----\n\nhF4D\n-----END PGP MESSAGE-----\n",
                     "application", "octet-stream", filename="encrypted.asc")  # fmt: skip
    email.attach(version)
    email.attach(data)
    assert intake.handle(5, email.as_bytes()) == "done"
    assert [row[:2] for row in outbox(archive)] == [("mail", NOT_SENT)]
    assert "encrypted" in outbox(archive)[0][2] and "nothing was sent" in outbox(archive)[0][2]
    assert intake.woken.delivery == 0


def test_an_empty_reply_sends_nothing_and_tells_its_author(archive, intake):
    conv = customer(archive)
    assert intake.handle(5, reply(conv.token, "\n\n").as_bytes()) == "done"
    assert [row[:2] for row in outbox(archive)] == [("mail", NOT_SENT)]


def test_a_picture_alone_is_delivered(archive, intake):
    conv = customer(archive)
    email = reply(conv.token, "")
    email.add_attachment(b"\x89PNG\r\n\x1a\n" + b"0" * 50, maintype="image", subtype="png",
                         filename="maket.png")  # fmt: skip
    assert intake.handle(6, email.as_bytes()) == "done"
    assert [row[:2] for row in outbox(archive)] == [("channel", "message")]
    (entry,) = archive.recent(1)
    assert entry.attachments == ("maket.png",) and entry.kind == "photo"


def test_a_second_manager_soon_after_a_colleague_gets_a_warning(archive, intake):
    conv = customer(archive)
    assert intake.handle(1, reply(conv.token, "О 9:00").as_bytes()) == "done"
    second = reply(conv.token, "З дев'ятої", sender=PETRO, msgid="<r2@mail.example>")
    assert intake.handle(2, second.as_bytes()) == "done"
    kinds = [row[:2] for row in outbox(archive)]
    assert kinds == [("channel", "message"), ("channel", "message"), ("mail", COLLEAGUE)]
    assert outbox(archive)[2][2].startswith(ANNA + " ")


def test_no_warning_when_the_customer_wrote_again_in_between(archive, intake):
    conv = customer(archive)
    assert intake.handle(1, reply(conv.token, "О 9:00").as_bytes()) == "done"
    say(archive, conv, "А в суботу?")
    second = reply(conv.token, "І в суботу", sender=PETRO, msgid="<r2@mail.example>")
    assert intake.handle(2, second.as_bytes()) == "done"
    assert COLLEAGUE not in [row[1] for row in outbox(archive)]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage without headers",
        b"From: anna@shop.example\r\nTo: orders+TOKEN@shop.example\r\n"
        b'Content-Type: multipart/mixed; boundary="x"\r\n\r\n--x\r\n--x--',
        b"From: =?utf-8?q?broken\r\nTo: \r\nSubject: =?koi8-u?B?!!!?=\r\n\r\nbody",
    ],
    ids=["empty", "binary", "broken-multipart", "broken-headers"],
)
def test_broken_mail_is_never_an_exception_nor_a_delivery(archive, intake, raw):
    conv = customer(archive)
    outcome = intake.handle(9, raw.replace(b"TOKEN", conv.token.encode()))
    # A reply with nothing readable in it is answered with a notice, never delivered.
    assert outcome in ("ignore", "done")
    assert [row for row in outbox(archive) if row[0] == "channel"] == []


def test_unknown_charset_and_huge_html_still_give_the_managers_words(archive, intake):
    conv = customer(archive)
    m = EmailMessage()
    m["From"] = ANNA
    m["To"] = f"orders+{conv.token}@shop.example"
    m["Message-ID"] = "<big@mail.example>"
    html = "<p>Готово, забирайте</p>" + "<div>" + "x " * 5_000_000 + "</div>"
    m.set_content(html, subtype="html")
    assert intake.handle(1, m.as_bytes()) == "done"
    (entry,) = archive.recent(1)
    assert entry.text.startswith("Готово, забирайте")
    odd = reply(conv.token, "Добре", msgid="<odd@mail.example>").as_bytes()
    odd = odd.replace(b'charset="utf-8"', b'charset="x-unknown-8"')
    assert intake.handle(2, odd) == "done"
    assert archive.recent(1)[0].text == "Добре"


# -- replies the shop's server did not vouch for (mail.authserv_id) ------------------------------


@pytest.fixture
def checked(archive: Archive):
    """An intake that trusts mx.google.com's Authentication-Results; a conversation whose
    customer's message was emailed to the managers."""
    woken = Woken()
    settings = ReplySettings(MailSettings(MAILBOX, (ANNA, PETRO)), authserv_id="mx.google.com")
    made = ReplyIntake(
        archive, settings, lambda: None, lambda: setattr(woken, "mail", woken.mail + 1)
    )
    made.woken = woken  # type: ignore[attr-defined]
    conv = customer(archive)
    emailed = Message(
        conv.id, "in", "Олена", "Скільки?", T0, email_message_id="<1.1.im2mail@shop.example>"
    )
    assert archive.add_message(emailed) is not None
    return made, conv


def test_a_vouched_reply_goes_out(archive, checked):
    intake, conv = checked
    raw = stamped(reply(conv.token, "350 грн"), gmail("pass"))
    assert intake.handle(1, raw) == "done"
    assert outbox(archive) == [("channel", "message", None)]


def test_an_unvouched_reply_is_left_alone_and_its_manager_told_once_an_hour(archive, checked):
    intake, conv = checked
    forged = reply(conv.token, "Оплатіть на картку 5375 4141 0000 0000", msgid="<f1@evil.example>")
    assert intake.handle(1, stamped(forged, gmail("spoof"))) == "ignore"
    again = reply(conv.token, "Терміново!", msgid="<f2@evil.example>")
    assert intake.handle(2, stamped(again, gmail("spoof"), FORGED_PASS["gmail"])) == "ignore"
    (notice,) = outbox(archive)
    assert notice[:2] == ("mail", UNVERIFIED)
    assert notice[2].startswith(f"{ANNA} ") and "dmarc=fail for shop.example" in notice[2]
    assert intake.woken.mail == 1
    assert [e.direction for e in archive.recent(10)] == ["in"]  # nothing archived as sent

    # The notice: to that manager only, in the thread, automatic, and without a word of
    # the email it is about (that may be an impostor's).
    (item,) = archive.deliveries.due_deliveries("mail", datetime.now(UTC) + timedelta(1), 5)
    sent = Mailer(archive, MailSettings(MAILBOX, (ANNA, PETRO)), LinkSettings(None, "k")).build(
        item
    )
    email = wire(sent)
    assert email["To"] == ANNA
    assert email["Auto-Submitted"] == "auto-generated"
    assert email["In-Reply-To"] == "<1.1.im2mail@shop.example>"
    text = email.get_body(("plain",)).get_content()
    assert "did not confirm that it came from you" in text and "dmarc=fail" in text
    # Every part's decoded text: the raw bytes hold random base64 and ids ("…5375…").
    shown = [p.get_content() for p in email.walk() if p.get_content_maintype() == "text"]
    assert not [t for t in shown if "5375" in t or "Терміново" in t]


def test_an_unvouched_reply_to_nothing_of_ours_tells_nobody(archive, checked):
    intake, _ = checked
    stray = reply("zzzzzz999999", "hello")
    assert intake.handle(1, stamped(stray, gmail("spoof"))) == "ignore"
    assert outbox(archive) == []


# --- quoted history by our own words, learned signatures (issue 19) -------------------------

QUESTION = (
    "Доброго дня! Хочу замовити двісті візиток на матовому папері, двосторонні, "
    "і забрати їх у п'ятницю."
)


@pytest.fixture
def checking(archive: Archive):
    """An intake that checks replies against our emails as the relay wires it."""
    settings = MailSettings(MAILBOX, (ANNA, PETRO))
    mailer = Mailer(archive, settings, LinkSettings(None, "k"))
    intake = ReplyIntake(archive, ReplySettings(settings), sent_texts=mailer.sent_texts,
                         own_texts=mailer.own_texts)  # fmt: skip
    return intake, mailer


def asked(archive: Archive):
    """A customer's question, emailed to the managers as <q1@shop.example>."""
    from im2mail.model import OutboxItem

    conv = customer(archive)
    archive.add_message(
        Message(conv.id, "in", "Олена Коваленко", QUESTION, conv.created),
        outbox=[OutboxItem("mail", "<q1@shop.example>")],
    )
    return conv


def delivered(archive: Archive) -> list[str]:
    """What the managers' replies sent, newest first."""
    with reading(archive) as db:
        found = db.execute(
            "SELECT text FROM messages WHERE direction = 'out' AND text != '' ORDER BY id DESC"
        ).fetchall()
    return [row[0] for row in found]


def test_history_quoted_in_a_shape_no_rule_knows_is_cut_by_its_words(archive, checking):
    intake, _ = checking
    conv = asked(archive)
    text = (
        "Так, до п'ятниці встигнемо, 480 грн.\n\n"
        "Olena Kovalenko kirjoitti 23.11.2026 klo 14.05:\n\n"  # no table has Finnish
        + QUESTION.replace(", двосторонні", ",\nдвосторонні")
    )
    email = reply(conv.token, text, In_Reply_To="<q1@shop.example>")
    assert intake.handle(1, email.as_bytes()) == "done"
    assert delivered(archive) == ["Так, до п'ятниці встигнемо, 480 грн."]
    assert outbox(archive)[-1][:2] == ("channel", "message")


def test_a_reply_that_still_holds_our_text_sends_nothing_and_shows_the_manager(archive, checking):
    intake, mailer = checking
    conv = asked(archive)
    answer = "Так, 480 грн, до п'ятниці встигнемо, забирайте після обіду."
    text = f"{answer}\n\nOlena kirjoitti:\n{QUESTION}\n\nАнна Коваль\nДрукарня «Колір»"
    email = reply(conv.token, text, In_Reply_To="<q1@shop.example>")
    assert intake.handle(1, email.as_bytes()) == "done"
    assert delivered(archive) == []  # not a word to the customer
    (notice,) = [row for row in outbox(archive) if row[0] == "mail" and row[1] == NOT_SENT]
    assert "could not be told apart" in notice[2] and answer in notice[2]
    assert "/send" in notice[2]

    # The notice as the manager gets it shows what would have gone and how to send it.
    due = archive.deliveries.due_deliveries("mail", datetime.now(UTC) + timedelta(1), 9)
    (item,) = [i for i in due if i.kind == NOT_SENT]
    shown = wire(mailer.build(item)).get_body(("plain",)).get_content()
    assert answer in shown and "/send" in shown

    # "/send" on the first line of a reply to the notice: the text goes as it is, and the
    # manager's words the notice showed are not taken for quoted history.
    again = reply(
        conv.token, f"/send\n{answer}\n\nАнна Коваль", msgid="<r2@mail.example>",
        In_Reply_To=item.email_message_id, References=f"<q1@shop.example> {item.email_message_id}",
    )  # fmt: skip
    assert intake.handle(2, again.as_bytes()) == "done"
    assert delivered(archive) == [f"{answer}\n\nАнна Коваль"]


def test_a_managers_signature_is_learned_from_their_replies_and_cut(archive, checking):
    intake, _ = checking
    conv = asked(archive)
    sign = "Друкарня «Колір»\nвул. Січових Стрільців, 12, +380 44 123 45 67"  # names nobody
    for n, answer in enumerate(["Так.", "Ні, вибачте.", "Завтра о 10:00."], 1):
        email = reply(conv.token, f"{answer}\n\n{sign}", msgid=f"<s{n}@mail.example>")
        intake.handle(n, email.as_bytes())
    assert delivered(archive)[0] == f"Завтра о 10:00.\n\n{sign}"  # learned from three...
    email = reply(conv.token, f"Готово, забирайте.\n\n{sign}", msgid="<s4@mail.example>")
    intake.handle(4, email.as_bytes())
    assert delivered(archive)[0] == "Готово, забирайте."  # ...cut from the fourth on
    email = reply(conv.token, f"І ще: доставка безкоштовна.\n\n{sign}", msgid="<s5@mail.example>")
    intake.handle(5, email.as_bytes())
    assert delivered(archive)[0] == "І ще: доставка безкоштовна."  # what was cut still counts
    other = reply(conv.token, f"Петро тут.\n\n{sign}", sender=PETRO, msgid="<s6@mail.example>")
    intake.handle(6, other.as_bytes())
    assert delivered(archive)[0] == f"Петро тут.\n\n{sign}"  # one manager's, not the team's


def test_a_signature_typed_under_a_first_reply_is_cut_before_anything_is_learned(archive, checking):
    intake, _ = checking
    conv = asked(archive)
    sign = "Анна Коваль\nДрукарня «Колір», +380 44 123 45 67"  # "anna@…" signs it
    email = reply(conv.token, f"Так, до п'ятниці встигнемо.\n\n{sign}", msgid="<t1@mail.example>")
    intake.handle(1, email.as_bytes())
    assert delivered(archive)[0] == "Так, до п'ятниці встигнемо."
    # Another manager's reply under Anna's name and number: not their signature, it goes.
    other = reply(conv.token, f"Петро тут.\n\n{sign}", sender=PETRO, msgid="<t2@mail.example>")
    intake.handle(2, other.as_bytes())
    assert delivered(archive)[0] == f"Петро тут.\n\n{sign}"


def test_a_reply_is_checked_against_the_emails_it_answers_in_its_own_conversation(archive):
    from im2mail.archive import threads
    from im2mail.model import OutboxItem

    conv, other = customer(archive), customer(archive, "Петро")
    for n, where in enumerate([conv, conv, other, conv]):
        archive.add_message(
            Message(where.id, "in", "x", f"питання {n}", conv.created),
            outbox=[OutboxItem("mail", f"<e{n}@shop.example>")],
        )

    def found(ids: list[str]) -> list[str]:
        return [i.email_message_id for i in threads.sent_emails(archive, conv.id, ids, limit=2)]

    # In the order the reply names them (In-Reply-To first), another conversation's never.
    assert found(["<e1@shop.example>", "<e2@shop.example>", "<e0@shop.example>"]) == [
        "<e1@shop.example>", "<e0@shop.example>",
    ]  # fmt: skip
    # A reply naming none of ours (a client that drops References): the newest ones.
    assert found(["<elsewhere@mail.example>"]) == ["<e3@shop.example>", "<e1@shop.example>"]
    assert found([]) == ["<e3@shop.example>", "<e1@shop.example>"]


def test_the_emails_a_reply_answers_are_rebuilt_without_reading_their_files(archive):
    """Only their words count: a file of megabytes is not read for each reply, and one
    gone from the blob store does not keep the check from working."""
    from im2mail.model import NewAttachment, OutboxItem

    conv = customer(archive)
    pdf = NewAttachment("rahunok.pdf", "application/pdf", b"%PDF-1.4 " + b"x" * 5000)
    stored = archive.add_message(
        Message(conv.id, "in", "Олена", QUESTION, conv.created),
        [pdf], outbox=[OutboxItem("mail", "<f1@shop.example>")],
    )  # fmt: skip
    (attachment,) = stored.attachments
    archive.blob_path(attachment.sha256).unlink()
    mailer = Mailer(archive, MailSettings(MAILBOX, (ANNA, PETRO)), LinkSettings(None, "k"))
    (text,) = mailer.sent_texts(conv.id, ["<f1@shop.example>"])
    assert QUESTION in text.replace("\n", " ") and "rahunok.pdf" in text


def test_a_reply_to_an_edit_email_sends_only_the_answer(archive, checking):
    """The email of a customer's edit (both texts) is checked against like any other:
    its texts quoted back in a shape no rule knows are cut."""
    from im2mail.archive import edits
    from im2mail.model import EDITED, OutboxItem

    intake, _ = checking
    conv = customer(archive)
    archive.add_message(
        Message(conv.id, "in", "Олена Коваленко", QUESTION, conv.created,
                channel_message_id="7"),
        outbox=[OutboxItem("mail", "<q1@shop.example>")],
    )  # fmt: skip
    changed = QUESTION.replace("двісті", "триста")
    edits.add_version(
        archive, conv.id, "7", changed, conv.created + timedelta(minutes=2),
        dedupe_key="telegram:shop:update:2",
        outbox=OutboxItem("mail", "<e1@shop.example>", kind=EDITED),
    )  # fmt: skip
    quoted = "\n".join(f"| {line}" for line in ["Before:", QUESTION, "", "Now:", changed])
    text = f"Так, триста теж встигнемо.\n\nOlena Kovalenko kirjoitti:\n{quoted}"
    email = reply(conv.token, text, In_Reply_To="<e1@shop.example>")
    assert intake.handle(1, email.as_bytes()) == "done"
    assert delivered(archive) == ["Так, триста теж встигнемо."]


def test_a_reply_undelivered_and_typed_again_goes_out(archive, checking):
    """The undelivered notice quotes the manager's own reply: typing those words again,
    under the notice quoted in a shape no rule knows, is an answer, not quoted history."""
    from im2mail.model import UNDELIVERED, OutboxItem

    intake, mailer = checking
    conv = asked(archive)
    first = "Замовлення готове, можна забрати завтра з десятої ранку у нас на Подолі."
    archive.add_message(
        Message(conv.id, "out", ANNA, first, conv.created + timedelta(minutes=5)),
        outbox=[OutboxItem("mail", "<u1@shop.example>", kind=UNDELIVERED,
                           note="Forbidden: bot was blocked by the user")],
    )  # fmt: skip
    assert mailer.own_texts(conv.id, ["<u1@shop.example>"]) == [first]
    assert mailer.own_texts(conv.id, ["<q1@shop.example>"]) == []  # a customer's email
    again = f"Добрий день! {first} Після 18:00 вже зачинено."
    email = reply(conv.token, again, In_Reply_To="<u1@shop.example>")
    assert intake.handle(1, email.as_bytes()) == "done"
    assert delivered(archive)[0] == again, delivered(archive)


FOOTER = (
    "This email and any attachments are confidential. If you are not the intended "
    "recipient, please tell the sender and delete it."
)


def test_a_footer_ending_the_colleagues_replies_is_cut_from_a_first_reply(archive, intake):
    """The shop's mail server adds a footer under every reply, under the quote too: a
    manager's first reply has nothing learned yet, their colleagues' replies have it."""
    conv = customer(archive)
    for n, author in enumerate([PETRO, "olena@shop.example", PETRO]):
        say(archive, conv, f"Відповідь {n}.\n\n{FOOTER}", direction="out", author=author, minutes=n)
    say(archive, conv, "Скільки коштує?", minutes=5)
    email = reply(conv.token, f"350 грн\n\n> Скільки коштує?\n\n{FOOTER}")
    assert intake.handle(7, email.as_bytes()) == "done"
    stored = [e for e in archive.recent(10) if e.direction == "out" and e.author == ANNA]
    assert [e.text for e in stored] == ["350 грн"]


def test_a_colleagues_block_is_no_signature_when_the_reply_does_not_end_with_it(archive, intake):
    conv = customer(archive)
    for n, author in enumerate([PETRO, "olena@shop.example", PETRO]):
        say(archive, conv, f"Відповідь {n}.\n\nКоманда", direction="out", author=author, minutes=n)
    say(archive, conv, "Хто відповідає?", minutes=5)
    email = reply(conv.token, "Команда у відпустці, пише Анна.\n\n> Хто відповідає?")
    assert intake.handle(7, email.as_bytes()) == "done"
    stored = [e for e in archive.recent(10) if e.direction == "out" and e.author == ANNA]
    assert [e.text for e in stored] == ["Команда у відпустці, пише Анна."]


def test_a_reply_holding_a_link_to_the_conversations_page_sends_nothing(archive):
    # The footer of our email ("The whole conversation: <link>") left in a reply, or the
    # link pasted: the page shows the whole conversation to whoever has it.
    settings = ReplySettings(
        MailSettings(MAILBOX, (ANNA,)), public_url="https://Relay.Shop.example/im2mail/"
    )
    made = ReplyIntake(archive, settings)
    conv = customer(archive)
    for n, link in enumerate(
        ("https://relay.shop.example/im2mail/c/abc.def", "http://RELAY.shop.example/im2mail/c/x")
    ):
        text = f"Так, є.\n\nThe whole conversation: {link}\n"
        assert (
            made.handle(n, reply(conv.token, text, msgid=f"<p{n}@mail.example>").as_bytes())
            == "done"
        )
    assert [row[:2] for row in outbox(archive)] == [("mail", NOT_SENT)] * 2
    assert "nothing was sent" in (outbox(archive)[0][2] or "")
    # Other links of the shop's, or a page of another server's, go.
    fine = "Каталог: https://shop.example/c/cups, файли: https://relay.shop.example/im2mail/f/tok\n"
    assert made.handle(9, reply(conv.token, fine, msgid="<p9@mail.example>").as_bytes()) == "done"
    assert [row[0] for row in outbox(archive)] == ["mail", "mail", "channel"]


def test_a_file_sent_under_nothing_but_the_quote_goes_without_the_quote(archive, intake):
    # The manager attached a file and wrote nothing: the quote must not go with it.
    conv = customer(archive)
    quoted = "On Mon, 5 Jan 2026 Олена wrote:\n> Надішліть, будь ласка, макет візитки.\n"
    email = reply(conv.token, quoted)
    email.add_attachment(b"%PDF-1.4 " + b"0" * 50, maintype="application", subtype="pdf",
                         filename="maket.pdf")  # fmt: skip
    assert intake.handle(6, email.as_bytes()) == "done"
    assert [row[0] for row in outbox(archive)] == ["channel"]
    (entry,) = archive.recent(1)
    assert entry.attachments == ("maket.pdf",)
    assert entry.text == ""
