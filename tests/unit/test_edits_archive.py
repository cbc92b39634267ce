"""The archive keeps every version of an edited message (archive/edits.py) and the emoji
on messages (archive/reactions.py): in order of the platform's times, whatever order the
updates come in; a thousand toggles stay one row; notices batch by the minute."""

from __future__ import annotations

import time
from datetime import timedelta

from im2mail.archive import edits, reactions
from im2mail.model import EDITED, Customer, Message, OutboxItem, SearchQuery
from tests.support.archive_sql import reading, writing
from tests.support.chats import T0, customer, say

ANNA = "anna@shop.example"


def incoming(archive, conversation, text: str, mid: str, minutes: float = 0) -> Message:
    message = Message(conversation.id, "in", conversation.customer.display_name, text,
                      T0 + timedelta(minutes=minutes), channel_message_id=mid)  # fmt: skip
    stored = archive.add_message(message)
    assert stored is not None
    return stored


def version(archive, conversation, mid: str, text: str, minutes: float, key: str, **kw):
    notice = OutboxItem("mail", email_message_id=f"<{key}@shop.example>", kind=EDITED)
    return edits.add_version(archive, conversation.id, mid, text, T0 + timedelta(minutes=minutes),
                             dedupe_key=key, outbox=notice, **kw)  # fmt: skip


def outbox(archive) -> list[tuple]:
    with reading(archive) as db:
        return [tuple(r) for r in db.execute("SELECT message_id, kind, note FROM outbox")]


# -- edits -------------------------------------------------------------------------------------


def test_an_edit_keeps_the_text_before_and_queues_the_email_naming_it(archive):
    chat = customer(archive)
    original = incoming(archive, chat, "200 візиток на крейдованому", "41")
    done = version(archive, chat, "41", "300 візиток на крейдованому", 3, "u:1")
    assert done is not None and done.how == edits.NEWEST
    again = archive.message(original.id)
    assert (again.text, again.edited, again.edited_at) == (
        "300 візиток на крейдованому",
        True,
        T0 + timedelta(minutes=3),
    )
    (before,) = edits.versions(archive, original.id)
    assert (before.text, before.created, before.id) == ("200 візиток на крейдованому", T0,
                                                       done.earlier_id)  # fmt: skip
    assert outbox(archive) == [(original.id, EDITED, str(done.earlier_id))]
    # search finds the latest text, not the one it replaced
    assert [e.message_id for e in archive.search(SearchQuery("300"))] == [original.id]
    assert archive.search(SearchQuery("200")) == []
    (entry,) = archive.recent(5)
    assert entry.edited and entry.text.startswith("300")


def test_a_repeated_or_unchanged_edit_writes_nothing_but_its_key(archive):
    chat = customer(archive)
    original = incoming(archive, chat, "Макет у PDF", "7")
    assert version(archive, chat, "7", "Макет у PDF", 1, "u:1").how == edits.SAME
    assert version(archive, chat, "7", "Макет у PNG", 2, "u:2").how == edits.NEWEST
    assert version(archive, chat, "7", "Макет у PNG", 2, "u:2").how == edits.SAME  # a retry
    assert len(edits.versions(archive, original.id)) == 1 and len(outbox(archive)) == 1
    assert archive.was_seen("u:1")


def test_an_edit_of_a_message_never_archived_is_none_and_writes_nothing(archive):
    chat = customer(archive)
    assert version(archive, chat, "999", "нова версія", 1, "u:1") is None
    assert not archive.was_seen("u:1") and outbox(archive) == []


def test_an_edit_before_its_original_then_the_original_goes_into_the_history(archive):
    chat = customer(archive)
    # The edit came first: the relay archived it as a message of its own, marked edited.
    first = Message(chat.id, "in", "Олена", "Банер 3×1 м", T0 + timedelta(minutes=5),
                    channel_message_id="12", edited=True,
                    edited_at=T0 + timedelta(minutes=5))  # fmt: skip
    stored = archive.add_message(first)
    assert stored is not None
    late = version(archive, chat, "12", "Банер 2×1 м", 0, "u:orig", original=True)
    assert late is not None and late.how == edits.OLDER
    now = archive.message(stored.id)
    assert (now.text, now.created) == ("Банер 3×1 м", T0)  # the original's time
    assert [v.text for v in edits.versions(archive, stored.id)] == ["Банер 2×1 м"]
    assert outbox(archive) == []  # no email: the managers have the newer text already


def test_an_original_whose_message_was_never_edited_is_left_to_the_caller(archive):
    chat = customer(archive)
    incoming(archive, chat, "Привіт", "3")
    assert version(archive, chat, "3", "Привіт", 0, "u:x", original=True) is None


def test_edits_out_of_order_keep_the_newest_as_the_text(archive):
    chat = customer(archive)
    original = incoming(archive, chat, "v1", "5")
    assert version(archive, chat, "5", "v3", 3, "u:3").how == edits.NEWEST
    assert version(archive, chat, "5", "v2", 2, "u:2").how == edits.OLDER
    assert archive.message(original.id).text == "v3"
    assert [v.text for v in edits.versions(archive, original.id)] == ["v1", "v2"]
    assert len(outbox(archive)) == 1


def test_only_the_customers_message_is_edited(archive):
    chat = customer(archive)
    reply_with_id(archive, chat, "Ваш макет готовий", "1")
    assert version(archive, chat, "1", "що завгодно", 1, "u:1") is None


# -- reactions ---------------------------------------------------------------------------------


def reply_with_id(archive, chat, text: str, mid: str, author: str = ANNA) -> Message:
    reply = say(archive, chat, text, direction="out", author=author)
    with writing(archive) as db:
        db.execute("UPDATE messages SET channel_message_id = ? WHERE id = ?", (mid, reply.id))
    return archive.message(reply.id)


def react(archive, chat, mid: str, emoji, seconds: float, key: str, *, notice: bool = True):
    item = OutboxItem("mail", email_message_id=f"<{key}@shop.example>") if notice else None
    return reactions.customer_reacted(
        archive, chat.bot, chat.customer, mid, emoji, T0 + timedelta(seconds=seconds),
        dedupe_key=key, managers=[ANNA, "petro@shop.example"], notice=item,
    )  # fmt: skip


def test_a_reaction_to_a_reply_is_kept_and_queues_one_notice_for_its_author(archive):
    chat = customer(archive)
    reply = reply_with_id(archive, chat, "Готово, забирайте", "77")
    done = react(archive, chat, "77", ["👍"], 0, "r:1")
    assert done is not None and done.changed and done.noticed == ANNA
    assert [
        (r.emoji, r.direction, r.author)
        for r in reactions.with_reactions(archive, [archive.message(reply.id)])[0].reactions
    ] == [("👍", "in", "Олена Коваленко")]
    with reading(archive) as db:
        (row,) = db.execute("SELECT kind, note, next_try FROM outbox").fetchall()
    assert row[0] == "reacted" and row[1].startswith(f"{ANNA} ")
    assert row[2] > (T0 + timedelta(seconds=59)).isoformat()  # due when the minute ends


def test_taking_a_reaction_back_marks_it_removed(archive):
    chat = customer(archive)
    reply = reply_with_id(archive, chat, "Готово", "77")
    react(archive, chat, "77", ["👍", "🔥"], 0, "r:1")
    react(archive, chat, "77", [], 5, "r:2")
    assert reactions.with_reactions(archive, [reply])[0].reactions == ()
    batch = reactions.reaction_batch(archive, chat.id, ANNA, T0)
    ((message, changed),) = batch.replies
    assert message.id == reply.id
    assert sorted((r.emoji, r.removed is not None) for r in changed) == [("👍", True), ("🔥", True)]


def test_a_reaction_to_an_unknown_message_is_none_and_only_its_key_is_kept(archive):
    chat = customer(archive)
    assert react(archive, chat, "404", ["👍"], 0, "r:1") is None
    assert archive.was_seen("r:1") and outbox(archive) == []
    assert react(archive, chat, "404", ["👍"], 0, "r:1") is None  # repeated: nothing


def test_reactions_to_the_greeting_or_with_notices_off_queue_nothing(archive):
    chat = customer(archive)
    reply_with_id(archive, chat, "Вітаємо!", "1", author="im2mail")
    reply_with_id(archive, chat, "Готово", "2")
    assert react(archive, chat, "1", ["❤"], 0, "r:1").noticed is None
    assert react(archive, chat, "2", ["❤"], 0, "r:2", notice=False).noticed is None
    assert outbox(archive) == []


def test_a_thousand_toggles_in_a_minute_make_one_row_and_one_notice_a_minute(archive):
    chat = customer(archive)
    reply_with_id(archive, chat, "Готово", "77")
    reply_with_id(archive, chat, "І ще рахунок", "78")
    started = time.perf_counter()
    for n in range(1000):  # 1000 toggles over 90 seconds, on two replies
        react(archive, chat, "77" if n % 3 else "78", ["👍"] if n % 2 else [], n * 0.09,
              f"r:{n}")  # fmt: skip
    took = time.perf_counter() - started
    with reading(archive) as db:
        notices = db.execute("SELECT note, next_try FROM outbox ORDER BY id").fetchall()
        rows = db.execute("SELECT count(*) FROM reactions").fetchone()[0]
    assert rows == 2  # one per message and emoji, however often toggled
    assert len(notices) == 2  # seconds 0-60, then 60-90: one notice a minute
    firsts = [row[0].split(" ", 1)[1] for row in notices]
    assert firsts[0] == (T0 + timedelta(seconds=0.09)).isoformat()  # the first change
    assert firsts[1] >= (T0 + timedelta(seconds=60)).isoformat()
    assert took < 10, f"{took:.1f} s for 1000 reactions"


def test_an_oversize_emoji_is_cut_not_stored_whole(archive):
    chat = customer(archive)
    reply_with_id(archive, chat, "Готово", "77")
    react(archive, chat, "77", ["👍" * 10_000], 1, "r:big")
    with reading(archive) as db:
        (stored,) = [r[0] for r in db.execute("SELECT emoji FROM reactions")]
    assert stored == "👍" * reactions.MAX_EMOJI


def test_the_shop_reacting_settles_the_delivery_and_marks_the_message(archive):
    chat = customer(archive)
    asked = incoming(archive, chat, "Можна забрати завтра?", "55")
    reply = say(archive, chat, "👍", direction="out")
    with writing(archive) as db:
        item_id = db.execute(
            "INSERT INTO outbox (message_id, target, next_try, created)"
            " VALUES (?, 'channel', ?, ?)",
            (reply.id, T0.isoformat(), T0.isoformat()),
        ).lastrowid
    assert reactions.last_from_customer(archive, chat.id).id == asked.id
    assert reactions.shop_reacted(archive, item_id, reply, asked.id, "👍", T0)
    assert not reactions.shop_reacted(archive, item_id, reply, asked.id, "👍", T0)
    assert archive.message(reply.id).kind == "reaction"
    (shown,) = reactions.with_reactions(archive, [archive.message(asked.id)])
    assert [(r.emoji, r.direction, r.author) for r in shown.reactions] == [("👍", "out", ANNA)]


def test_a_customer_unknown_to_the_archive_has_nothing_to_react_to(archive):
    stranger = Customer("telegram", "1")
    assert reactions.customer_reacted(archive, "shop", stranger, "5", ["👍"], T0,
                                      dedupe_key="k") is None  # fmt: skip
