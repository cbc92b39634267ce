"""Customers as people: `customers link`/`unlink` (one person across channels),
`block`/`unblock` (no more emails from a customer) and `forget` (a customer erased on
request)."""

from typing import Annotated

import typer

from .common import app, note

customers_app = typer.Typer(
    help="One person across channels: link the customers who are one person.",
    no_args_is_help=True,
)
app.add_typer(customers_app, name="customers")

ConversationId = Annotated[
    int, typer.Argument(metavar="ID", help="A conversation (see: im2mail conversations).")
]


@customers_app.command()
def link(first: ConversationId, second: ConversationId) -> None:
    """Make the customers of two conversations one person.

    For a customer who writes on two messengers (or from two accounts): a manager's reply
    goes to the one they last wrote on (a first line "/via CHANNEL" chooses another),
    their emails keep one thread, and stats, exports and transcripts show them as one,
    their messages interleaved by time. Linking is transitive: link A B, then B C, and
    all three are one person. im2mail conversations and im2mail doctor suggest customers
    who share a phone number. Undo: im2mail customers unlink ID.
    """
    from ..archive import people

    with _archive(first) as archive:
        done = people.link(archive, first, second)
    who = ", ".join(_who(conversation, c) for conversation, c in done.customers)
    if not done.changed:
        note(f"already one person: {who}")
        return
    note(f"one person now: {who}. Replies go where they last wrote (a first line /via "
         "CHANNEL chooses), their emails keep one thread; undo with: im2mail customers "
         f"unlink {second}")  # fmt: skip


@customers_app.command()
def unlink(conversation: ConversationId) -> None:
    """Take the customer of conversation ID out of their person.

    The customers still linked to each other stay one person; the customer's new emails
    start a thread of their own again.
    """
    from ..archive import people

    with _archive(conversation) as archive:
        customer, rest = people.unlink(archive, conversation)
    who = _who(conversation, customer)
    if customer.person is None:
        note(f"{who} is linked to no one")
    elif rest:
        others = ", ".join(_who(i, c) for i, c in rest)
        note(f"{who} is on their own again; still one person: {others}")
    else:
        note(f"{who} is on their own again")


@app.command()
def forget(
    conversation: ConversationId,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would go; change nothing.")
    ] = False,
) -> None:
    """Erase a customer from the archive.

    The customer of conversation ID (in all their conversations, and every customer
    linked to them) loses their messages, the files no one else sent, their search index
    rows, receipts, name, username, phone number and platform id. Anonymous counts stay,
    so stats give the same figures. The emails the managers already got about them are
    in the mailbox: delete those there (it says which). Run it with --dry-run first.
    """
    from ..archive.forget import forget as erase

    with _archive(conversation) as archive:
        done = erase(archive, conversation, dry_run=dry_run)
    for line in forgotten_lines(done, dry_run=dry_run):
        note(line)


def forgotten_lines(done, *, dry_run: bool) -> list[str]:
    """What `forget` says it erased (or would), kept, and could not erase."""
    from ..channels import title
    from ..mail.compose import human_size, subject
    from ..model import Conversation

    first, *linked = (_who(i, c) for i, c in done.customers)
    also = f", and linked to them: {', '.join(linked)}" if linked else ""
    files = f"{counted(done.files, 'file')} ({human_size(done.freed)})"
    if done.kept_files:
        files += f"; {counted(done.kept_files, 'file')} other customers sent too stay"
    conversations = counted(len(done.conversations), "conversation")
    lines = [
        f"{'would forget' if dry_run else 'forgot'} {first}{also}",
        f"{'would remove' if dry_run else 'removed'}: {counted(done.messages, 'message')} of "
        f"{conversations} with their search index rows, "
        f"{counted(done.attachments, 'attachment')}, {files}, "
        f"{counted(done.receipts, 'receipt')}, "
        f"{counted(done.cancelled, 'delivery', 'deliveries')} not made yet, and their names, "
        "usernames, phone numbers and platform ids",
        f"{'would keep' if dry_run else 'kept'}, anonymous, for stats: when each message was, "
        "which way, and which manager answered",
    ]
    if done.emails or done.replies:
        subjects = ", ".join(
            f'"{subject(Conversation(i, c, "", ""), title(c.channel))}"' for i, c in done.threads
        )
        lines.append(
            f"can't remove: {counted(done.emails, 'email')} about them the managers got and "
            f"{counted(done.replies, 'reply', 'replies')} they sent are in the mailbox; delete "
            f"them there (subjects {subjects}), and in any export or backup you made"
        )
    if dry_run:
        lines.append("nothing was changed (--dry-run)")
    return lines


def suggest(found) -> None:
    """A hint per pair of customers who may be one person (archive.people.suggestions)."""
    from . import render

    for s in found:
        where = "in a contact shared in the chat" if s.shared else "as their number"
        note(f"hint: {_who(s.first, s.first_customer)} and {_who(s.second, s.second_customer)} "
             f"have the phone number {render.safe(s.phone)} ({where}); if they are one person: "
             f"im2mail customers link {s.first} {s.second}")  # fmt: skip


def erase_by_age(archive, days: int, *, dry_run: bool, step=lambda what: None) -> None:
    """`vacuum`'s part of archive.keep_messages_days: erase, and say what went."""
    from ..archive.forget import by_age
    from ..mail.compose import human_size

    if days > 0:
        step(f"erasing the messages older than {days} days")
    done = by_age(archive, days, dry_run=dry_run)
    if done is None or done.cutoff is None:
        return
    before = done.cutoff.date().isoformat()
    if not done.messages:
        note(f"no message from before {before} to erase")
        return
    would = "would erase" if dry_run else "erased"
    note(f"{would} {counted(done.messages, 'message')} from before {before} with their search "
         f"index rows, {counted(done.receipts, 'receipt')} and "
         f"{counted(done.files, 'file')} ({human_size(done.freed)})")  # fmt: skip
    if done.customers:
        note(f"{'would forget' if dry_run else 'forgot'} "
             f"{counted(len(done.customers), 'customer')} with no message left (their names, "
             "phone numbers and platform ids)")  # fmt: skip


def counted(n: int, noun: str, nouns: str | None = None) -> str:
    """'1 email', '3 emails'; '1 reply', '2 replies'."""
    return f"{n} {noun}" if n == 1 else f"{n} {nouns or noun + 's'}"


def _who(conversation: int, customer) -> str:
    from ..channels import title
    from . import render

    return f"{render.safe(customer.display_name)} ({title(customer.channel)}, #{conversation})"


def _archive(conversation: int):
    """The archive, for a command about conversation `conversation`: NotFound (exit 5)
    when there is no archive yet."""
    from ..archive import Archive
    from ..errors import NotFound
    from ..home import paths

    where = paths()
    if not where.archive.exists():
        raise NotFound(
            f"no conversation #{conversation}: there is no archive yet at {where.archive}",
            hint="it is created when the relay first runs (im2mail run)",
        )
    return Archive.open(where.archive, where.blobs)


@app.command()
def block(
    conversation: Annotated[
        int, typer.Argument(metavar="ID", help="The conversation (see: im2mail conversations).")
    ],
) -> None:
    """Stop emails from a customer.

    Blocks the customer of conversation ID (in all their conversations): their messages
    are still archived, but emailed to nobody, and they get no reminders and no automatic
    answers. A manager can do the same with a reply of only /block. Undo: im2mail unblock.
    """
    _set_blocked(conversation, True)


@app.command()
def unblock(
    conversation: Annotated[
        int, typer.Argument(metavar="ID", help="The conversation (see: im2mail conversations).")
    ],
) -> None:
    """Email a blocked customer's messages again.

    New messages of the customer of conversation ID are emailed again; what they sent
    while blocked stays in the archive (im2mail tail -c ID) and is not emailed.
    """
    _set_blocked(conversation, False)


def _set_blocked(conversation: int, blocked: bool) -> None:
    from datetime import UTC, datetime

    from ..archive import Archive
    from ..channels import title
    from ..errors import NotFound
    from ..home import paths
    from ..relay.blocking import COMMAND_LINE, set_blocked

    where = paths()
    if not where.archive.exists():
        raise NotFound(
            f"no conversation #{conversation}",
            hint=f"there is no archive yet at {where.archive}; it is created when the relay "
            "first runs",
        )
    with Archive.open(where.archive, where.blobs) as archive:
        found, changed = set_blocked(
            archive, conversation, blocked, by=COMMAND_LINE, at=datetime.now(UTC)
        )
    customer = found.customer
    who = f"{customer.display_name} ({title(customer.channel)}, conversation #{found.id})"
    if blocked and changed:
        note(f"blocked {who}: their messages are archived and emailed to nobody; "
             f"undo with: im2mail unblock {found.id}")  # fmt: skip
    elif blocked:
        note(f"{who} was already blocked, by {customer.blocked_by_shop}")
    elif changed:
        note(f"unblocked {who}: their new messages are emailed again")
    else:
        note(f"{who} is not blocked")
