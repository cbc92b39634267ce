"""Notices, the words: emails im2mail itself writes to managers about a reply one of them sent.

- `undelivered`: to the reply's author, the reply did not reach the customer.
- `team_notice`: to the other managers, a colleague answered the customer.
- `colleague_warning`: to the reply's author, a colleague had answered first.
- `in_doubt`: to the reply's author, part of the reply may not have gone out (the relay
  stopped while sending it, and relay.in_doubt = "notify" keeps it from resending).
- `unverified`: to a manager, an email in their name was not relayed because the shop's
  mail server did not vouch for it (mail.authserv_id). It quotes nothing of that email:
  it may be an impostor's, and its words must not reach anyone from us.
- `deleted`: to the managers, messages of the conversation were deleted in the chat (a
  Telegram Business chat reports it); the archive keeps them, marked.

builder.py puts each in the conversation's thread as an answer to the manager's reply
email (same Subject, In-Reply-To and the end of References at the reply's Message-ID,
Reply-To the conversation's +token address, so "Reply" on a notice writes to the
customer), from `"im2mail" <mail.address>` with `Auto-Submitted: auto-generated`
(RFC 3834), so no well-behaved system answers it. Text and HTML alternatives, like every
email we send. `channel` is the channel's title, `title` the email's subject."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from ..model import KIND_LABELS, Conversation, Message
from .compose import Content, clean, human_size, plain_text
from .html_body import Quote, notice_html

RECENT = timedelta(hours=1)  # a colleague's answer within this is "N minutes ago"


def undelivered(
    reply: Message, conversation: Conversation, *, channel: str, title: str, reason: str,
    ours: bool = False,
) -> Content:  # fmt: skip
    """Tell the manager who wrote `reply` that it did not reach the customer, quoting the
    platform's `reason` (`ours`: im2mail's own reason, the reply was never sent: nothing
    to send, an unknown quick reply)."""
    name = clean(conversation.customer.display_name)
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
    return Content(plain, notice_html(title=title, lead=lead, quotes=quotes, footer=footer))


def team_notice(
    reply: Message, conversation: Conversation, *, channel: str, title: str, author_name: str = ""
) -> Content:
    """Tell the other managers that `reply.author` answered the customer, quoting the
    reply and naming the files sent with it, so that two people don't answer the same
    customer unknowingly. `author_name` is shown with the author's address."""
    name = clean(conversation.customer.display_name)
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
        title=title, lead=lead, quotes=quotes, footer=footer, files=files, files_label=files_label
    )
    return Content(plain, html)


def colleague_warning(
    reply: Message, conversation: Conversation, *, channel: str, title: str, colleague: str,
    colleague_at: datetime, now: datetime,
) -> Content:  # fmt: skip
    """Tell the manager who wrote `reply` that `colleague` (a name or address) had already
    answered the customer at `colleague_at`, before this reply, which was delivered too."""
    name = clean(conversation.customer.display_name)
    lead = (
        f"Heads-up: {clean(colleague)} already answered {name} in {channel} "
        f"{_when(colleague_at, now=now)}, before your reply. Your reply was delivered too."
    )
    footer = "This is an automatic notice from im2mail."
    quotes = _your_reply(reply)
    plain = plain_text([lead], *_plain_quotes(quotes), ["-- ", footer])
    return Content(plain, notice_html(title=title, lead=lead, quotes=quotes, footer=footer))


def in_doubt(
    reply: Message, conversation: Conversation, *, channel: str, title: str, what: str
) -> Content:
    """Tell the manager who wrote `reply` that `what` ("your reply", "part 2 of 3 of your
    reply") was being sent when im2mail stopped: the messenger may or may not have it, and
    im2mail did not send it again, so that the customer does not get it twice."""
    name = clean(conversation.customer.display_name)
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
    html = notice_html(title=title, lead=f"{lead} {advice}", quotes=quotes, footer=footer)
    return Content(plain, html)


def unverified(
    conversation: Conversation, *, channel: str, title: str, manager: str, why: str
) -> Content:
    """Tell `manager` that an email from their address to the conversation was left
    unsent: the shop's server did not authenticate it (`why`, the verdict in one line)."""
    name = clean(conversation.customer.display_name)
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
    html = notice_html(title=title, lead=f"{lead} {advice}", quotes=quotes, footer=footer)
    return Content(plain, html)


def deleted(
    messages: Sequence[Message], conversation: Conversation, *, channel: str, title: str
) -> Content:
    """Tell the managers that `messages` (as archived) were deleted in the chat, by the
    customer or on the shop's side, quoting each with who wrote it."""
    name = clean(conversation.customer.display_name)
    count = len(messages)
    what = "A message" if count == 1 else f"{count} messages"
    lead = f"{what} in the chat with {name} in {channel} {'was' if count == 1 else 'were'} deleted:"
    footer = (
        "This is an automatic notice from im2mail. The archive keeps deleted messages, "
        "marked as deleted (im2mail tail, export)."
    )
    quotes = [Quote(_said(m, name), _words(m)) for m in messages]
    plain = plain_text([lead], *_plain_quotes(quotes), ["-- ", footer])
    return Content(plain, notice_html(title=title, lead=lead, quotes=quotes, footer=footer))


def _said(message: Message, customer: str) -> str:
    who = customer if message.direction == "in" else clean(message.author)
    return f"{who}, {message.created.astimezone(UTC):%Y-%m-%d %H:%M} UTC:"


def _words(message: Message) -> str:
    text = message.text.strip()
    files = ", ".join(clean(a.filename, 120) for a in message.attachments)
    if files:
        text = f"{text}\n[{files}]" if text else f"[{files}]"
    return text or f"({KIND_LABELS.get(message.kind, message.kind)})"


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
