"""Notices: emails im2mail itself writes to managers about a reply one of them sent.

- `compose_undelivered`: to the reply's author, the reply did not reach the customer.
- `compose_team_notice`: to the other managers, a colleague answered the customer.
- `compose_colleague_warning`: to the reply's author, a colleague had answered first.
- `compose_in_doubt`: to the reply's author, part of the reply may not have gone out (the
  relay stopped while sending it, and relay.in_doubt = "notify" keeps it from resending).
- `compose_unverified`: to a manager, an email in their name was not relayed because the
  shop's mail server did not vouch for it (mail.authserv_id). It quotes nothing of that
  email: it may be an impostor's, and its words must not reach anyone from us.

Each is in the conversation's thread as an answer to the manager's reply email: same
Subject, In-Reply-To and the end of References at the reply's Message-ID, and Reply-To the
conversation's +token address, so "Reply" on a notice writes to the customer. From
`"im2mail" <mail.address>` and `Auto-Submitted: auto-generated` (RFC 3834), so no
well-behaved system answers it. Text and HTML alternatives, like every email we send.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage

from ..model import Conversation, Message
from .compose import (
    MailSettings,
    clean,
    human_size,
    plain_text,
    set_body,
    thread_headers,
)
from .html_body import Quote, notice_html

RECENT = timedelta(hours=1)  # a colleague's answer within this is "N minutes ago"


def compose_undelivered(
    reply: Message,
    conversation: Conversation,
    *,
    reason: str,
    settings: MailSettings,
    message_id: str,
    date: datetime,
    history: Sequence[Message] = (),
    ours: bool = False,
) -> EmailMessage:
    """Tell the manager who wrote `reply` (its author, an address) that it did not reach
    the customer, quoting the platform's `reason` (`ours`: im2mail's own reason, the reply
    was never sent: nothing to send, an unknown quick reply).

    `reply.email_message_id` is the manager's email: the notice answers it. `history` is
    the conversation's messages, as for `compose`; the reply may be among them.
    """
    to = [Address(addr_spec=reply.author)]
    msg = _notice_headers(reply, conversation, to, settings, message_id, date, history)
    channel, name = _customer(conversation, settings)
    lead = f"Your reply did not reach {name} in {channel}."
    reason = reason.strip() or "no reason given"
    footer = "This is an automatic notice from im2mail; the customer has not seen this reply."
    mine = _your_reply(reply)
    plain = plain_text(
        [lead],
        *_plain_quotes([Quote("Why:" if ours else f"{channel} said:", reason), *mine]),
        ["-- ", footer],
    )
    quotes = [Quote("", reason), *mine]  # the HTML shows the platform's words unlabelled
    set_body(msg, plain, notice_html(title=msg["Subject"], lead=lead, quotes=quotes, footer=footer))
    return msg


def compose_team_notice(
    reply: Message,
    conversation: Conversation,
    *,
    to: Sequence[str],
    author_name: str = "",
    settings: MailSettings,
    message_id: str,
    date: datetime,
    history: Sequence[Message] = (),
) -> EmailMessage:
    """Tell the other managers (`to`, addresses) that `reply.author` answered the customer,
    quoting the reply and naming the files sent with it, so that two people don't answer
    the same customer unknowingly. `author_name` is shown with the author's address.

    Reply-To stays the conversation's +token address: replying to it writes to the customer.
    """
    recipients = [Address(addr_spec=a.strip()) for a in to if a.strip()]
    if not recipients:
        raise ValueError("a team notice needs at least one recipient")
    msg = _notice_headers(reply, conversation, recipients, settings, message_id, date, history)
    channel, name = _customer(conversation, settings)
    author = clean(author_name)
    who = f"{author} <{clean(reply.author)}>" if author else clean(reply.author)
    lead = f"{who} answered {name} in {channel}:"
    footer = (
        "This is an automatic notice from im2mail so that two people don't answer the same "
        "customer unknowingly. Reply to this email to write to the customer."
    )
    text = reply.text.strip()
    files = [f"{clean(a.filename, 120)} ({human_size(a.size)})" for a in reply.attachments]
    files_label = "Files sent:" if files else ""
    quotes = [Quote("", text)] if text else []
    plain = plain_text(
        [lead],
        *_plain_quotes(quotes),
        [files_label, *(f"- {f}" for f in files)] if files else [],
        ["-- ", footer],
    )
    html = notice_html(
        title=msg["Subject"],
        lead=lead,
        quotes=quotes,
        footer=footer,
        files=files,
        files_label=files_label,
    )
    set_body(msg, plain, html)
    return msg


def compose_colleague_warning(
    reply: Message,
    conversation: Conversation,
    *,
    colleague: str,
    colleague_at: datetime,
    settings: MailSettings,
    message_id: str,
    date: datetime,
    history: Sequence[Message] = (),
) -> EmailMessage:
    """Tell the manager who wrote `reply` that `colleague` (a name or address) had already
    answered the customer at `colleague_at`, before this reply, which was delivered too."""
    to = [Address(addr_spec=reply.author)]
    msg = _notice_headers(reply, conversation, to, settings, message_id, date, history)
    channel, name = _customer(conversation, settings)
    when = _when(colleague_at, now=date)
    lead = (
        f"Heads-up: {clean(colleague)} already answered {name} in {channel} {when}, "
        "before your reply. Your reply was delivered too."
    )
    footer = "This is an automatic notice from im2mail."
    quotes = _your_reply(reply)
    plain = plain_text([lead], *_plain_quotes(quotes), ["-- ", footer])
    set_body(msg, plain, notice_html(title=msg["Subject"], lead=lead, quotes=quotes, footer=footer))
    return msg


def compose_in_doubt(
    reply: Message,
    conversation: Conversation,
    *,
    what: str,
    settings: MailSettings,
    message_id: str,
    date: datetime,
    history: Sequence[Message] = (),
) -> EmailMessage:
    """Tell the manager who wrote `reply` that `what` ("your reply", "part 2 of 3 of your
    reply") was being sent when im2mail stopped: the messenger may or may not have it, and
    im2mail did not send it again, so that the customer does not get it twice."""
    to = [Address(addr_spec=reply.author)]
    msg = _notice_headers(reply, conversation, to, settings, message_id, date, history)
    channel, name = _customer(conversation, settings)
    what = clean(what) or "your reply"
    lead = (
        f"{what[0].upper()}{what[1:]} may not have reached {name} in {channel}: im2mail "
        f"stopped while sending it, and {channel} can't be asked whether it arrived."
    )
    advice = (
        "It was not sent again, so that the customer doesn't get it twice. If it matters, "
        "reply to this email: your answer goes to the customer."
    )
    footer = 'This is an automatic notice from im2mail (relay.in_doubt = "notify").'
    quotes = _your_reply(reply)
    plain = plain_text([lead], [advice], *_plain_quotes(quotes), ["-- ", footer])
    html = notice_html(title=msg["Subject"], lead=f"{lead} {advice}", quotes=quotes, footer=footer)
    set_body(msg, plain, html)
    return msg


def compose_unverified(
    last: Message,
    conversation: Conversation,
    *,
    manager: str,
    why: str,
    settings: MailSettings,
    message_id: str,
    date: datetime,
    history: Sequence[Message] = (),
) -> EmailMessage:
    """Tell `manager` that an email from their address to the conversation was left
    unsent: the shop's server did not authenticate it (`why`, the verdict in one line).
    In the thread after `last`, the conversation's newest email."""
    to = [Address(addr_spec=manager)]
    msg = _notice_headers(last, conversation, to, settings, message_id, date, history)
    channel, name = _customer(conversation, settings)
    lead = (
        f"An email from your address ({clean(manager)}) to {name} in {channel} was not "
        "sent: the shop's mail server did not confirm that it came from you."
    )
    advice = (
        "If you wrote it: your mail provider's SPF, DKIM or DMARC for your domain did not "
        "pass at the shop's server; ask whoever runs your mail, then send it again. If you "
        "did not: someone is writing in your name. The customer got nothing, and the email "
        "is left unread in the shop mailbox for the owner to look at."
    )
    footer = "This is an automatic notice from im2mail, sent at most once an hour."
    quotes = [Quote("What the shop's server said:", clean(why, 300))]
    plain = plain_text([lead], [advice], *_plain_quotes(quotes), ["-- ", footer])
    html = notice_html(title=msg["Subject"], lead=f"{lead} {advice}", quotes=quotes, footer=footer)
    set_body(msg, plain, html)
    return msg


def _notice_headers(
    reply: Message,
    conversation: Conversation,
    to: Sequence[Address],
    settings: MailSettings,
    message_id: str,
    date: datetime,
    history: Sequence[Message],
) -> EmailMessage:
    """The conversation's headers, answering the manager's reply email, auto-generated."""
    # The manager's email goes last, so In-Reply-To and the end of References point at it.
    thread = [m for m in history if m.email_message_id != reply.email_message_id]
    sender = Address("im2mail", addr_spec=settings.mailbox)
    msg = thread_headers(conversation, settings, sender, to, message_id, [*thread, reply], date)
    msg["Auto-Submitted"] = "auto-generated"
    return msg


def _customer(conversation: Conversation, settings: MailSettings) -> tuple[str, str]:
    """("Telegram", "Олена Петренко"): the channel and the customer's name, header-safe."""
    customer = conversation.customer
    return settings.title(customer.channel), clean(customer.display_name)


def _your_reply(reply: Message) -> list[Quote]:
    text = reply.text.strip()
    return [Quote("Your reply:", text)] if text else []


def _plain_quotes(quotes: Sequence[Quote]) -> list[list[str]]:
    """Each quote as a paragraph of plain text: its label, then its lines after "> "."""
    return [
        [*([q.label] if q.label else []), *(f"> {x}" for x in q.text.splitlines())] for q in quotes
    ]


def _when(moment: datetime, *, now: datetime) -> str:
    """When `moment` was, seen from `now`: "5 minutes ago" within the last hour, else
    "at 09:40 UTC" (with the date when it was another day)."""
    # astimezone takes a naive time as local time, as db.ts does
    moment, now = moment.astimezone(UTC), now.astimezone(UTC)
    ago = now - moment
    if timedelta() <= ago < RECENT:
        minutes = int(ago.total_seconds() // 60)
        if minutes == 0:
            return "less than a minute ago"
        return f"{minutes} minute{'s' if minutes != 1 else ''} ago"
    day = "" if moment.date() == now.date() else f"on {moment:%Y-%m-%d} "
    return f"{day}at {moment:%H:%M} UTC"
