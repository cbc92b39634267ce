"""Rotating a conversation's reply token (reply_tokens.py), and what becomes of a manager's
reply to an email from before the rotation: routed as "retired-token" (mail/routing.py),
never relayed, its author told why in the thread (outbound.ReplyIntake)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest

from im2mail.archive import Archive
from im2mail.archive.tokens import OWNER_ROTATED, Rotation
from im2mail.errors import NotFound
from im2mail.mail.builder import MailBuilder, MailSettings
from im2mail.mail.routing import Refused, Routed, route
from im2mail.model import NOT_SENT, Message, OutboxItem
from im2mail.relay.reply_intake import ReplyIntake, ReplySettings
from tests.conftest import run_cli
from tests.support.archive_sql import reading, writing
from tests.support.chats import customer, say
from tests.unit.test_compose import wire

MAILBOX = "orders@shop.example"
ANNA, PETRO, MALLORY = "anna@shop.example", "petro@shop.example", "mallory@evil.example"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def intake(archive: Archive) -> ReplyIntake:
    return ReplyIntake(archive, ReplySettings(MailSettings(MAILBOX, (ANNA, PETRO))))


def our_email(archive: Archive, conversation, text: str, *, sent: datetime) -> str:
    """A customer's message mailed to the managers at `sent`; its Message-ID."""
    mid = f"<{text}.{conversation.id}@shop.example>"
    message = Message(conversation.id, "in", "Олена", text, sent - timedelta(seconds=1))
    stored = archive.add_message(message, outbox=[OutboxItem("mail", email_message_id=mid)])
    assert stored is not None
    queue = archive.deliveries
    due = queue.due_deliveries("mail", datetime.now(UTC) + timedelta(days=1), 50)
    (item,) = [i for i in due if i.message_id == stored.id]
    assert queue.delivery_sent(item.id, sent)
    return mid


def reply(to_token: str | None, text: str, *, sender: str = ANNA, msgid: str = "<r1@mail.example>",
          answers: str | None = None) -> EmailMessage:  # fmt: skip
    m = EmailMessage()
    m["From"] = sender
    m["To"] = f"orders+{to_token}@shop.example" if to_token else MAILBOX
    m["Subject"] = "Re: [Telegram] Олена Коваленко #1"
    m["Message-ID"] = msgid
    if answers:
        m["In-Reply-To"] = answers
        m["References"] = answers
    m.set_content(text)
    return m


def outbox(archive: Archive) -> list[tuple[str, str, str | None]]:
    with reading(archive) as db:
        rows = db.execute("SELECT target, kind, note FROM outbox ORDER BY id").fetchall()
    return [tuple(r) for r in rows]


# -- the archive -----------------------------------------------------------------------------


def test_rotation_replaces_the_token_and_remembers_the_old_one(archive):
    conv = customer(archive)
    new = archive.tokens.rotate(conv.id, "the owner asked", when=T0)
    assert new != conv.token and len(new) == len(conv.token) and new.isalnum()
    assert archive.conversation_by_token(new).id == conv.id
    assert archive.conversation_by_token(conv.token) is None
    retired = archive.tokens.retired(conv.token.upper())  # mail servers may change case
    assert (retired.conversation_id, retired.when, retired.reason) == (
        conv.id,
        T0,
        "the owner asked",
    )
    assert archive.tokens.retired(new) is None  # the current token is not retired
    assert archive.tokens.retired("zzzzzz999999") is None  # nor one we never made


def test_every_rotation_retires_the_token_it_replaces(archive):
    conv = customer(archive)
    second = archive.tokens.rotate(conv.id, "first", when=T0)
    third = archive.tokens.rotate(conv.id, "second", when=T0 + timedelta(hours=1))
    assert archive.tokens.retired(conv.token).reason == "first"
    assert archive.tokens.retired(second).reason == "second"
    assert archive.conversation(conv.id).token == third


def test_rotating_an_unknown_conversation_is_not_found_and_changes_nothing(archive):
    conv = customer(archive)
    with pytest.raises(NotFound, match="no conversation #99"):
        archive.tokens.rotate(99, "typo")
    assert archive.conversation(conv.id).token == conv.token


def test_rotate_all_gives_every_conversation_a_new_distinct_token(archive):
    convs = [customer(archive, f"N{i}") for i in range(5)]
    assert archive.tokens.rotate_all("leak") == 5
    new = [archive.conversation(c.id).token for c in convs]
    assert len(set(new)) == 5 and not set(new) & {c.token for c in convs}
    assert all(archive.tokens.retired(c.token).conversation_id == c.id for c in convs)


def test_the_thread_index_stays_the_same_across_a_rotation(archive):
    """Outlook threads by Thread-Index, derived from the first token: a rotation must not
    split the thread, while Reply-To carries the new token."""
    conv = customer(archive)
    first = say(archive, conv, "Привіт")
    builder = MailBuilder(MailSettings(MAILBOX, (ANNA,), 10_000_000))
    before = wire(builder.message([first], conv, message_id="<a@x>"))
    archive.tokens.rotate(conv.id, "test")
    rotated = archive.conversation(conv.id)
    sent = builder.message([first], rotated, message_id="<a@x>")
    after = wire(sent)
    assert after["Thread-Index"] == before["Thread-Index"]
    assert f"+{rotated.token}@" in str(after["Reply-To"])
    assert conv.token.encode() not in sent.data


def test_an_email_sent_before_a_rotation_is_retired_with_it(archive):
    conv = customer(archive)
    old = our_email(archive, conv, "old", sent=T0)
    archive.tokens.rotate(conv.id, "leak", when=T0 + timedelta(minutes=5))
    new = our_email(archive, conv, "new", sent=T0 + timedelta(minutes=10))
    assert archive.tokens.retired_email(old).reason == "leak"
    assert archive.tokens.retired_email(new) is None
    assert archive.tokens.retired_email("<unknown@x>") is None


def test_an_email_queued_before_a_rotation_and_sent_after_is_not_retired(archive):
    """Reply-To is built when the email is sent: one that left after the rotation carries
    the new token, whatever the time it was queued."""
    conv = customer(archive)
    message = Message(conv.id, "in", "Олена", "queued", T0)
    stored = archive.add_message(message, outbox=[OutboxItem("mail", email_message_id="<q@x>")])
    archive.tokens.rotate(conv.id, "leak", when=datetime.now(UTC))
    (item,) = [
        i
        for i in archive.deliveries.due_deliveries("mail", datetime.now(UTC), 50)
        if i.message_id == stored.id
    ]
    archive.deliveries.delivery_sent(item.id, datetime.now(UTC) + timedelta(seconds=1))
    assert archive.tokens.retired_email("<q@x>") is None


def test_managers_are_remembered_and_a_removal_rotates_every_token(archive):
    convs = [customer(archive, f"N{i}") for i in range(3)]
    first = archive.tokens.follow_managers([ANNA, PETRO])
    assert (first.removed, first.rotated) == ((), 0)  # the first run only remembers
    added = archive.tokens.follow_managers([ANNA, PETRO, "ivan@shop.example"])
    assert (added.removed, added.rotated) == ((), 0)  # a new manager gets the current ones
    same = archive.tokens.follow_managers([" Anna@Shop.Example ", PETRO, "ivan@shop.example"])
    assert same.removed == ()  # case and spaces are no change
    assert [archive.conversation(c.id).token for c in convs] == [c.token for c in convs]
    removed = archive.tokens.follow_managers([ANNA, "ivan@shop.example"])
    assert (removed.removed, removed.rotated) == ((PETRO,), 3)
    for c in convs:
        assert archive.conversation(c.id).token != c.token
        assert PETRO in archive.tokens.retired(c.token).reason
    again = archive.tokens.follow_managers([ANNA, "ivan@shop.example"])
    assert (again.removed, again.rotated) == ((), 0)  # once, not at every start


def test_a_removal_with_no_conversations_yet_rotates_nothing_and_is_still_reported(archive):
    archive.tokens.follow_managers([ANNA, PETRO])
    assert archive.tokens.follow_managers([ANNA]) == Rotation((PETRO,), 0)
    assert archive.tokens.follow_managers([ANNA]) == Rotation((), 0)


def test_an_unreadable_remembered_list_counts_as_none(archive):
    archive.tokens.follow_managers([ANNA])
    with writing(archive) as db:
        db.execute("UPDATE relay_memory SET value = '{not json'")
    assert archive.tokens.follow_managers([PETRO]) == Rotation((), 0)


# -- routing ---------------------------------------------------------------------------------


def _route(msg: EmailMessage, **kw: object) -> Routed | Refused:
    args: dict[str, object] = {
        "mailbox": MAILBOX,
        "managers": [ANNA, PETRO],
        "by_token": {"newtoken0001": 7}.get,
        "by_email_id": {"<new@x>": 7, "<old@x>": 7}.get,
        "retired_token": {"oldtoken0001": 7}.get,
        "retired_email_id": {"<old@x>": 7}.get,
    }
    return route(msg, **{**args, **kw})  # type: ignore[arg-type]


def test_a_retired_token_is_refused_as_retired_with_the_reply_it_would_have_been():
    verdict = _route(reply("oldtoken0001", "Так"))
    assert isinstance(verdict, Refused) and verdict.kind == "retired-token"
    assert verdict.retired == Routed(7, ANNA, "", "<r1@mail.example>", "token")
    assert "oldt…" in verdict.reason and "oldtoken0001" not in verdict.reason


def test_a_retired_token_in_a_forged_reply_is_unverified_not_retired():
    """With mail.authserv_id set, the notice about a retired address goes only to a manager
    the shop's server vouched for: a forgery in Anna's name is "unverified" (at most an
    hourly notice saying nothing of the conversation's news), a real reply is "retired"."""
    from email import message_from_bytes, policy

    from tests.support.authres_mail import gmail, stamped

    def read(block: list[str]) -> EmailMessage:
        raw = stamped(reply("oldtoken0001", "Так"), block)
        return message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]

    forged = _route(read(gmail("spoof")), authserv_id="mx.google.com")
    assert isinstance(forged, Refused) and forged.kind == "unverified"
    assert (forged.conversation_id, forged.sender, forged.retired) == (7, ANNA, None)
    real = _route(read(gmail("pass")), authserv_id="mx.google.com")
    assert isinstance(real, Refused) and real.kind == "retired-token"


def test_references_never_rescue_a_retired_token():
    verdict = _route(reply("oldtoken0001", "Так", answers="<new@x>"))
    assert isinstance(verdict, Refused) and verdict.kind == "retired-token"


def test_the_current_token_wins_over_a_retired_one_in_the_same_mail():
    msg = reply("oldtoken0001", "Так")
    msg["Cc"] = "orders+newtoken0001@shop.example"
    assert isinstance(_route(msg), Routed)


def test_without_a_token_an_answer_to_an_email_from_before_the_rotation_is_retired():
    verdict = _route(reply(None, "Так", answers="<old@x>"))
    assert isinstance(verdict, Refused) and verdict.kind == "retired-token"
    assert verdict.retired is not None and verdict.retired.via == "references"
    assert _route(reply(None, "Так", answers="<new@x>")) == Routed(
        7, ANNA, "", "<r1@mail.example>", "references"
    )


def test_a_stranger_with_a_retired_token_is_refused_as_a_stranger():
    verdict = _route(reply("oldtoken0001", "pay to 5375…", sender=MALLORY))
    assert isinstance(verdict, Refused) and verdict.kind == "sender"


def test_an_unknown_token_stays_unknown():
    verdict = _route(reply("zzzzzz999999", "Так"))
    assert isinstance(verdict, Refused) and verdict.kind == "token"


# -- intake ----------------------------------------------------------------------------------


def test_a_reply_with_a_retired_token_sends_nothing_and_tells_its_author_once(archive, intake):
    conv = customer(archive)
    archive.tokens.rotate(conv.id, "petro@shop.example no longer in mail.managers", when=T0)
    email = reply(conv.token, "Оплатіть на картку 5375…").as_bytes()
    assert intake.handle(3, email) == "done"  # handled: moved away, not read again
    ((target, kind, note),) = outbox(archive)
    assert (target, kind) == ("mail", NOT_SENT)  # a notice, no delivery to the customer
    assert "2026-03-02 09:00 UTC" in note and "no longer in mail.managers" in note
    assert "newest email" in note
    (stored,) = [e for e in archive.recent(5) if e.direction == "out"]
    assert (stored.author, stored.text) == (ANNA, "")  # not one word of it is archived as sent
    assert intake.handle(3, email) == "done"  # read again (a crash before the move)
    assert len(outbox(archive)) == 1  # no second notice


def test_a_reply_to_the_new_token_goes(archive, intake):
    conv = customer(archive)
    new = archive.tokens.rotate(conv.id, "test")
    assert intake.handle(1, reply(new, "Так, завтра").as_bytes()) == "done"
    assert outbox(archive) == [("channel", "message", None)]


def test_a_stranger_using_a_retired_token_gets_no_notice(archive, intake):
    conv = customer(archive)
    archive.tokens.rotate(conv.id, "test")
    assert intake.handle(1, reply(conv.token, "hi", sender=MALLORY).as_bytes()) == "ignore"
    assert outbox(archive) == []  # never backscatter: the log says it, nothing is sent


def test_a_removed_manager_with_an_old_token_is_refused_without_a_notice(archive, tmp_path):
    conv = customer(archive)
    archive.tokens.follow_managers([ANNA, PETRO])
    archive.tokens.follow_managers([ANNA])  # Petro left: every token rotated
    intake = ReplyIntake(archive, ReplySettings(MailSettings(MAILBOX, (ANNA,))))
    assert intake.handle(1, reply(conv.token, "still here", sender=PETRO).as_bytes()) == "ignore"
    assert outbox(archive) == []


def test_a_tokenless_answer_to_an_email_from_before_the_rotation_is_refused(archive, intake):
    conv = customer(archive)
    old = our_email(archive, conv, "old", sent=T0)
    archive.tokens.rotate(conv.id, "leak", when=T0 + timedelta(minutes=1))
    assert intake.handle(1, reply(None, "Так", answers=old).as_bytes()) == "done"
    assert [row[:2] for row in outbox(archive)] == [("mail", "message"), ("mail", NOT_SENT)]
    new = our_email(archive, conv, "new", sent=datetime.now(UTC) + timedelta(seconds=1))
    msg = reply(None, "Так", answers=new, msgid="<r2@mail.example>")
    assert intake.handle(2, msg.as_bytes()) == "done"
    assert outbox(archive)[-1][:2] == ("channel", "message")


# -- the command -----------------------------------------------------------------------------


def test_rotate_token_without_an_archive_is_not_found_and_creates_none(isolated_home):
    result = run_cli("conversations", "rotate-token", "12")
    assert result.code == 5
    assert "no conversation #12" in result.err and "no archive yet" in result.err
    assert not (isolated_home / "archive.db").exists()
    everything = run_cli("conversations", "rotate-token", "--all")
    assert everything.code == 0 and "no conversation to rotate" in everything.err


@pytest.mark.parametrize("args", [(), ("3", "--all")])
def test_rotate_token_needs_ids_or_all_not_both(args):
    result = run_cli("conversations", "rotate-token", *args)
    assert result.code == 2
    assert "give conversation ids or --all" in result.err


def test_rotate_token_changes_the_given_conversations_or_none_at_all(isolated_home):
    with Archive.open(isolated_home / "archive.db") as archive:
        first, second = customer(archive, "A"), customer(archive, "B")
    typo = run_cli("conversations", "rotate-token", str(first.id), "77")
    assert typo.code == 5 and "no conversation #77" in typo.err
    with Archive.open(isolated_home / "archive.db") as archive:
        assert archive.conversation(first.id).token == first.token  # nothing half done
    done = run_cli("conversations", "rotate-token", str(first.id))
    assert done.code == 0 and done.out == ""
    assert f"conversation #{first.id} got a new reply address" in done.err
    with Archive.open(isolated_home / "archive.db") as archive:
        new = archive.conversation(first.id).token
        assert new != first.token and new not in done.err  # the token is never printed
        assert archive.conversation(second.id).token == second.token
        assert archive.tokens.retired(first.token).reason == OWNER_ROTATED
    listing = run_cli("conversations", "--json")  # still the plain listing it always was
    assert listing.code == 0 and len(listing.out.splitlines()) == 2
