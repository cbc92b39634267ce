"""One person across channels: customers the owner linked (`im2mail customers link A B`).

A person is a set of customers: linking A to B puts them in one person, and linking is
transitive (A-B, then B-C: one person of three; linking C to A then changes nothing, a
cycle is no problem in a set). Unlinking takes one customer out; the others stay one
person (a person of one is no person: its row goes). Kept in customers.person_id and the
`people` table (migration m013).

A person's conversations are every conversation of its customers (one per customer and
bot). What they are together (the readers of this module say so too):
- `stats` walks a person's messages as one conversation (a wait started on one channel
  is answered by a reply on any);
- exports and transcripts show them interleaved by time, each message marked with its
  channel (exporting.py, export/);
- a manager's reply goes to the conversation the customer last wrote in, unless its first
  line chooses one (`/via viber`, relay/reply_intake.py); `reply_target` finds it;
- their emails keep one thread (`threaded`, threads.history): new emails of any of the
  conversations carry the Subject and Thread-Index of the person's first conversation
  (the lowest id) and their In-Reply-To/References chain the emails of all of them.

Suggestions: customers who share a phone number (theirs, as the platform gave it, or one
in a contact a customer shared) and are not one person yet; `conversations` and `doctor`
show them. Numbers compare by their last nine digits (a national number without its
country code or trunk prefix: +380 67 123 45 67 and 067 123 45 67 are one).
"""

from __future__ import annotations

import re
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from ..errors import NotFound, UsageError
from ..model import Conversation, Customer
from . import Archive, rows
from .db import fits_sqlite, now, ts

PHONE_DIGITS = 9  # digits a number is compared by (the national part)
_PHONE = re.compile(r"\+?\d[\d\s().-]{5,}\d")
_LIST_THEM = "list them with: im2mail conversations"

# The conversations of the person of conversation ?1's customer, or that conversation
# alone; each with its customer. Every step is an index lookup.
_PERSON_SQL = """
SELECT c2.id AS conversation_id, c2.bot, c2.token, c2.thread_key, c2.state,
       c2.created AS conversation_created, u2.*
FROM conversations c JOIN customers u ON u.id = c.customer_id
JOIN customers u2 ON u2.id = u.id OR u2.person_id = u.person_id
JOIN conversations c2 ON c2.customer_id = u2.id AND (u.person_id IS NOT NULL OR c2.id = c.id)
WHERE c.id = ?1 ORDER BY c2.id
"""


@dataclass(frozen=True)
class Linked:
    """What `link` did: the person's customers afterwards (each with a conversation id to
    name them by), and whether anything changed (False: they were one person already)."""

    person: int
    customers: tuple[tuple[int, Customer], ...]
    changed: bool


@dataclass(frozen=True)
class Suggestion:
    """Two customers that may be one person: a conversation of each, and why."""

    first: int  # conversation ids
    second: int
    first_customer: Customer
    second_customer: Customer
    phone: str  # the number as one of them has it
    shared: bool  # found in a contact a customer shared (else the customers' own numbers)


def link(archive: Archive, a: int, b: int, *, at: datetime | None = None) -> Linked:
    """Make the customers of conversations `a` and `b` one person (with everyone already
    linked to either). NotFound (exit 5) for an unknown conversation; UsageError (exit 2)
    for a customer linked to themself or a forgotten one."""
    if a == b:
        raise UsageError(
            f"conversation #{a} can't be linked to itself",
            hint="name two conversations of different customers: im2mail customers link 12 15",
        )
    with archive._transaction() as db:
        first, second = _customer(db, a), _customer(db, b)
        if first.id == second.id:
            raise UsageError(
                f"conversations #{a} and #{b} are one customer already (the same account, "
                "with two bots), so there is nothing to link",
                hint="link conversations of different customers (another channel, another account)",
            )
        changed = True
        if first.person is not None and first.person == second.person:
            person, changed = first.person, False
        elif first.person is None and second.person is None:
            person = db.execute(
                "INSERT INTO people (created) VALUES (?)", (ts(at or now()),)
            ).lastrowid
        elif first.person is None or second.person is None:
            person = first.person or second.person
        else:  # two people become one: the older keeps its id
            person, other = sorted((first.person, second.person))
            db.execute("UPDATE customers SET person_id = ? WHERE person_id = ?", (person, other))
            db.execute("DELETE FROM people WHERE id = ?", (other,))
        assert person is not None
        db.execute(
            "UPDATE customers SET person_id = ? WHERE id IN (?, ?)", (person, first.id, second.id)
        )
        return Linked(person, _members(db, person), changed)


Members = tuple[tuple[int, Customer], ...]  # a person's customers, each with a conversation id


def unlink(archive: Archive, conversation: int) -> tuple[Customer, Members]:
    """Take the customer of `conversation` out of their person: the customer (as before)
    and the customers still linked to each other (empty when none stay a person, and
    when the customer was not linked). NotFound (exit 5) for an unknown conversation."""
    with archive._transaction() as db:
        customer = _customer(db, conversation)
        person = customer.person
        if person is None:
            return customer, ()
        db.execute("UPDATE customers SET person_id = NULL WHERE id = ?", (customer.id,))
        rest = _members(db, person)
        if len(rest) < 2:
            db.execute("UPDATE customers SET person_id = NULL WHERE person_id = ?", (person,))
            db.execute("DELETE FROM people WHERE id = ?", (person,))
            rest = ()
        return customer, rest


def conversations_of(archive: Archive, conversation_id: int) -> list[Conversation]:
    """The conversations of the person of the conversation's customer, by id; the
    conversation alone when its customer is linked to no one. [] for an unknown id."""
    with archive._reading() as db:
        found = db.execute(_PERSON_SQL, (conversation_id,)).fetchall()
    return [rows.conversation_from(row) for row in found]


def person_ids(db: sqlite3.Connection, conversation_id: int) -> list[int]:
    """The ids of conversations_of, on a connection of the archive's own modules."""
    person = db.execute(
        "SELECT u.person_id FROM conversations c JOIN customers u ON u.id = c.customer_id"
        " WHERE c.id = ?",
        (conversation_id,),
    ).fetchone()
    if person is None or person[0] is None:
        return [conversation_id]
    return [r[0] for r in db.execute(
        "SELECT c.id FROM customers u JOIN conversations c ON c.customer_id = u.id"
        " WHERE u.person_id = ? ORDER BY c.id",
        (person[0],),
    )]  # fmt: skip


def people_of(db: sqlite3.Connection, conversation_ids: Iterable[int]) -> dict[int, list[int]]:
    """For those of `conversation_ids` whose customer is linked: the ids of every
    conversation of their person, by id (the people of the conversations, in one query)."""
    if db.execute("SELECT 1 FROM people LIMIT 1").fetchone() is None:
        return {}  # nobody is linked: the usual case, and no walk of `conversation_ids`
    found = db.execute(
        "SELECT u.person_id, c2.id FROM conversations c"
        " JOIN customers u ON u.id = c.customer_id AND u.person_id IS NOT NULL"
        " JOIN customers u2 ON u2.person_id = u.person_id"
        " JOIN conversations c2 ON c2.customer_id = u2.id"
        " WHERE c.id IN (SELECT value FROM json_each(?)) ORDER BY c2.id",
        (_json(conversation_ids),),
    ).fetchall()
    by_person: dict[int, list[int]] = defaultdict(list)
    for person, conversation in found:
        if conversation not in by_person[person]:
            by_person[person].append(conversation)
    return {c: members for members in by_person.values() for c in members}


def threaded(archive: Archive, conversation: Conversation) -> Conversation:
    """The conversation as its emails are built: with `thread`, the person's first
    conversation, when the customer is linked and this is not that one."""
    if conversation.customer.person is None:
        return conversation
    first = conversations_of(archive, conversation.id)[0]
    return conversation if first.id == conversation.id else replace(conversation, thread=first)


def reply_target(
    archive: Archive, conversation_id: int, via: str | None = None
) -> Conversation | None:
    """Where a manager's reply to the conversation goes: the person's conversation the
    customer last wrote in (the conversation itself when they wrote in none); with `via`
    (a channel's or a bot's name, any case), the last written in of those on it. None:
    the person has no conversation there."""
    members = conversations_of(archive, conversation_id)
    if via is not None:
        wanted = via.strip().lower()
        members = [c for c in members if wanted in (c.channel.lower(), c.bot.lower())]
        if not members:
            return None
    if len(members) == 1:
        return members[0]
    with archive._reading() as db:
        last = {c.id: db.execute(
            "SELECT max(created) FROM messages WHERE conversation_id = ? AND direction = 'in'",
            (c.id,),
        ).fetchone()[0] or "" for c in members}  # fmt: skip
    if not any(last.values()) and any(c.id == conversation_id for c in members):
        return next(c for c in members if c.id == conversation_id)
    return max(members, key=lambda c: (last[c.id], c.id))


def linked_ids(archive: Archive) -> dict[int, tuple[int, ...]]:
    """Every conversation of a linked customer, with the other conversations of its
    person (for `conversations`)."""
    with archive._reading() as db:
        found = db.execute(
            "SELECT u.person_id, c.id FROM customers u JOIN conversations c"
            " ON c.customer_id = u.id WHERE u.person_id IS NOT NULL ORDER BY c.id"
        ).fetchall()
    by_person: dict[int, list[int]] = defaultdict(list)
    for person, conversation in found:
        by_person[person].append(conversation)
    return {c: tuple(o for o in members if o != c)
            for members in by_person.values() for c in members}  # fmt: skip


# -- suggestions --------------------------------------------------------------------------------

_PHONES_SQL = """
SELECT u.*, (SELECT max(c.id) FROM conversations c WHERE c.customer_id = u.id) AS conversation
FROM customers u WHERE u.phone IS NOT NULL AND u.forgotten IS NULL
"""
_CONTACTS_SQL = """
SELECT c.customer_id, m.text FROM messages m INDEXED BY messages_contacts
JOIN conversations c ON c.id = m.conversation_id
WHERE m.kind = 'contact' AND m.direction = 'in'
"""


def suggestions(archive: Archive) -> list[Suggestion]:
    """Pairs of customers who share a phone number and are not one person yet, the
    oldest first; each customer's newest conversation names them."""
    with archive._reading() as db:
        customers: dict[int, tuple[Customer, int]] = {}
        numbers: dict[str, list[tuple[int, str, bool]]] = defaultdict(list)
        for row in db.execute(_PHONES_SQL):
            customer = rows.customer_from(row)
            if row["conversation"] is not None and customer.phone:
                customers[row["id"]] = (customer, row["conversation"])
                _add(numbers, customer.phone, row["id"], shared=False)
        for customer_id, text in db.execute(_CONTACTS_SQL).fetchall():
            for number in _PHONE.findall(text or ""):
                _add(numbers, number, customer_id, shared=True)
        wanted = {i for found in numbers.values() for i, _, _ in found} - set(customers)
        for row in db.execute(
            "SELECT u.*, (SELECT max(c.id) FROM conversations c WHERE c.customer_id = u.id)"
            " AS conversation FROM customers u WHERE u.forgotten IS NULL"
            " AND u.id IN (SELECT value FROM json_each(?))",
            (_json(wanted),),
        ):
            customers[row["id"]] = (rows.customer_from(row), row["conversation"])
    return _pairs(numbers, customers)


def _add(numbers: dict, text: str, customer_id: int, *, shared: bool) -> None:
    digits = re.sub(r"\D", "", text)
    if len(digits) >= PHONE_DIGITS:
        numbers[digits[-PHONE_DIGITS:]].append((customer_id, text.strip(), shared))


def _pairs(numbers: dict, customers: dict[int, tuple[Customer, int]]) -> list[Suggestion]:
    out: dict[tuple[int, int], Suggestion] = {}
    for found in numbers.values():
        ids = sorted({i for i, _, _ in found if i in customers})
        if len(ids) < 2:
            continue
        own = {i for i, _, shared in found if not shared}  # the customer's own number
        phone = next((t for _, t, s in found if not s), found[0][1])
        first, first_at = customers[ids[0]]
        for other in ids[1:]:
            customer, at = customers[other]
            if first.person is not None and customer.person == first.person:
                continue
            shared = not {ids[0], other} <= own
            out.setdefault((ids[0], other), Suggestion(
                first_at, at, first, customer, phone, shared,
            ))  # fmt: skip
    return sorted(out.values(), key=lambda s: (s.first, s.second))


# -- helpers -----------------------------------------------------------------------------------


def _customer(db: sqlite3.Connection, conversation: int) -> Customer:
    row = None
    if fits_sqlite(conversation):
        row = db.execute(
            "SELECT u.* FROM conversations c JOIN customers u ON u.id = c.customer_id"
            " WHERE c.id = ?",
            (conversation,),
        ).fetchone()
    if row is None:
        raise NotFound(f"no conversation #{conversation}", hint=_LIST_THEM)
    customer = rows.customer_from(row)
    if customer.forgotten is not None:
        raise UsageError(
            f"the customer of conversation #{conversation} was forgotten (im2mail forget)",
            hint="there is no one left to link",
        )
    return customer


def _members(db: sqlite3.Connection, person: int) -> tuple[tuple[int, Customer], ...]:
    found = db.execute(
        "SELECT u.*, (SELECT min(c.id) FROM conversations c WHERE c.customer_id = u.id)"
        " AS conversation FROM customers u WHERE u.person_id = ? ORDER BY conversation",
        (person,),
    ).fetchall()
    return tuple((row["conversation"], rows.customer_from(row)) for row in found)


def _json(ids: Iterable[int] | Sequence[int]) -> str:
    import json

    return json.dumps(sorted(ids))
