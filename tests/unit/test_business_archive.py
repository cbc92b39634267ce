"""The archive's side of Telegram Business (archive/business.py): connections kept as they
are now with every change listed, the account's chats as customers of their own, the
route a reply takes, and deletions marked, never erased (tail, --json, exports)."""

from __future__ import annotations

import mailbox
from dataclasses import replace
from datetime import datetime, timedelta

from im2mail.archive import Archive, business, exporting, pieces
from im2mail.export import html as html_export
from im2mail.export import mbox
from im2mail.export.select import select
from im2mail.model import DELETED, Message, OutboxItem
from tests.support.archive_sql import reading, writing
from tests.support.business import IRYNA, OLENA, T0
from tests.support.chats import customer


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_a_connection_and_each_change_of_it_are_kept(archive: Archive):
    first = business.record(archive, IRYNA, at(0))
    assert first is not None and first.change == "connected" and first.changed == at(0)
    assert business.record(archive, IRYNA, at(1)) is None  # the same update again
    renamed = replace(IRYNA, owner_name="Ірина Ш.")
    assert business.record(archive, renamed, at(2)) is None  # a new name: kept quietly
    steps = [
        (replace(renamed, can_reply=False), "reply rights removed"),
        (replace(renamed, can_reply=False, enabled=False), "disconnected"),
        (replace(renamed, id="NewId456", can_reply=True), "connected again"),
        (
            replace(renamed, id="NewId456", can_reply=True, rights=()),
            "rights changed: -can_read_messages",
        ),
    ]
    for n, (state, words) in enumerate(steps, 3):
        stored = business.record(archive, state, at(n))
        assert stored is not None and stored.change == words
    (now,) = business.connections(archive)
    assert (now.id, now.owner_name, now.enabled, now.can_reply) == (
        "NewId456",
        "Ірина Ш.",
        True,
        True,
    )
    assert (now.change, now.changed, now.since) == ("rights changed: -can_read_messages", at(6), T0)
    listed = [c.change for c in business.changes(archive)]
    assert listed == [w for _, w in reversed(steps)] + ["connected"]
    assert business.by_id(archive, "shop", "NewId456") == now
    assert business.by_id(archive, "shop", "AbCdEf123") is None  # the id before reconnecting
    assert business.by_id(archive, "other", "NewId456") is None


def test_a_connection_first_seen_disabled_or_without_reply_rights():
    assert business.describe(None, replace(IRYNA, enabled=False)) == "disconnected"
    assert business.describe(None, replace(IRYNA, can_reply=False)) == (
        "connected, without the right to reply"
    )


def test_the_accounts_chat_is_a_conversation_apart_from_the_bot_chat(archive: Archive):
    business.record(archive, IRYNA, T0)
    bot_chat = archive.conversation_for(archive.upsert_customer(OLENA), "shop")
    person = business.chat_customer(archive, IRYNA, OLENA, "5012")
    theirs = archive.conversation_for(person, "shop")
    assert theirs.id != bot_chat.id
    assert person.external_id == "5012@4242" and person.display_name == "Олена Коваль"
    assert theirs.via == "@iryna_shop" and bot_chat.via is None
    assert business.route(archive, bot_chat.id) is None
    route = business.route(archive, theirs.id)
    assert (
        route is not None
        and route.chat_id == "5012"
        and route.connection == business.by_id(archive, "shop", IRYNA.id)
    )
    # Another account's chat with the same person is another conversation again.
    other = replace(IRYNA, id="Zz9", owner_id="4343", owner_username=None, owner_name="Петро")
    business.record(archive, other, T0)
    second = archive.conversation_for(business.chat_customer(archive, other, OLENA, "5012"), "shop")
    assert second.id not in (theirs.id, bot_chat.id) and second.via == "Петро"


def test_deleted_messages_are_marked_with_the_notice_queued_once(archive: Archive):
    business.record(archive, IRYNA, T0)
    conv = archive.conversation_for(business.chat_customer(archive, IRYNA, OLENA, "5012"), "shop")
    first = archive.add_message(
        Message(conv.id, "in", "Олена", "Привіт", at(0), channel_message_id="7")
    )
    edit = archive.add_message(
        Message(conv.id, "in", "Олена", "Привіт!", at(1), channel_message_id="7", edited=True)
    )
    kept = archive.add_message(
        Message(conv.id, "in", "Олена", "Візитки", at(2), channel_message_id="8")
    )
    assert first and edit and kept
    found = business.mark_deleted(
        archive,
        IRYNA,
        OLENA,
        ["7", "404"],
        at(5),
        dedupe_key="telegram:shop:update:9",
        notice_id="<d@shop>",
    )
    assert [m.id for m in found] == [edit.id]  # the newest version stands for the message
    assert archive.message(first.id).deleted == at(5) == archive.message(edit.id).deleted
    assert archive.message(kept.id).deleted is None
    with reading(archive) as db:
        notices = db.execute(
            "SELECT message_id, kind, note, email_message_id FROM outbox WHERE target = 'mail'"
        ).fetchall()
    assert [tuple(n) for n in notices] == [(edit.id, DELETED, str(edit.id), "<d@shop>")]
    again = business.mark_deleted(
        archive,
        IRYNA,
        OLENA,
        ["7"],
        at(6),
        dedupe_key="telegram:shop:update:9",
        notice_id="<d2@shop>",
    )
    assert again == [] and archive.message(first.id).deleted == at(5)


def test_a_reply_sent_as_several_chat_messages_is_deleted_by_any_of_them(archive: Archive):
    # A long reply went as chat messages 20 and 21; the owner deletes 21 in their app.
    business.record(archive, IRYNA, T0)
    conv = archive.conversation_for(business.chat_customer(archive, IRYNA, OLENA, "5012"), "shop")
    reply = archive.add_message(
        Message(conv.id, "out", "Анна", "Довга відповідь", at(0), channel_message_id="20"),
        outbox=[OutboxItem("channel")],
    )
    other = archive.add_message(
        Message(conv.id, "in", "Олена", "Дякую", at(1), channel_message_id="22")
    )
    assert reply and reply.id is not None and other
    with writing(archive) as db:
        (item,) = db.execute("SELECT id FROM outbox WHERE message_id = ?", (reply.id,)).fetchone()
        pieces.record(db, item, ["20", "21"])
    found = business.mark_deleted(
        archive, IRYNA, OLENA, ["21"], at(5), dedupe_key="u:10", notice_id="<d@shop>"
    )
    assert [m.id for m in found] == [reply.id]
    assert archive.message(reply.id).deleted == at(5)
    assert archive.message(other.id).deleted is None
    assert business.mark_deleted(archive, IRYNA, OLENA, ["20"], at(6), dedupe_key="u:11") == []
    # The same chat message id in another chat of the account names nothing there.
    business.chat_customer(archive, IRYNA, replace(OLENA, external_id="6000"), "6000")
    assert (
        business.mark_deleted(
            archive, IRYNA, replace(OLENA, external_id="6000"), ["21"], at(7), dedupe_key="u:12"
        )
        == []
    )


def test_a_deletion_in_a_chat_the_archive_never_had_creates_nothing(archive: Archive):
    business.record(archive, IRYNA, T0)
    found = business.mark_deleted(
        archive, IRYNA, OLENA, ["1"], T0, dedupe_key="k", notice_id="<d@shop>"
    )
    assert found == []
    assert archive.customer("telegram", "5012@4242") is None
    assert archive.conversations() == []


def test_tail_json_and_exports_show_the_deleted_mark(archive: Archive, tmp_path):
    conv = customer(archive, external_id="77")
    message = archive.add_message(
        Message(conv.id, "in", "Олена", "Ой, не те", at(0), channel_message_id="3")
    )
    assert message is not None
    business.record(archive, IRYNA, T0)
    person = business.chat_customer(archive, IRYNA, OLENA, "5012")
    chat = archive.conversation_for(person, "shop")
    gone = archive.add_message(
        Message(chat.id, "in", "Олена", "Стерте", at(1), channel_message_id="9")
    )
    assert gone is not None
    business.mark_deleted(archive, IRYNA, OLENA, ["9"], at(3), dedupe_key="x")
    entries = {e.text: e for e in archive.recent(10)}
    assert entries["Стерте"].record()["deleted"] == at(3).isoformat()
    assert "deleted" not in entries["Ой, не те"].record()
    (exported,) = [m for m in exporting.messages(archive, chat.id)]
    assert exported.deleted == at(3)
    selection = select(archive, [chat.id])
    mbox.write(archive, selection, tmp_path / "chat.mbox", lambda n: None)
    (mail,) = mailbox.mbox(tmp_path / "chat.mbox")
    assert mail["X-Im2mail-Deleted"] == "Mon, 02 Mar 2026 10:03:00 +0000"
    page = html_export.transcript(archive, selection.conversations[0], lambda a: None)
    assert 'class="deleted"' in page and "business: @iryna_shop" in page
