"""The words of the emails about customers the shop must be protected from.

- `flood_digest`: to the managers, what a flooding customer wrote in the last minute or
  so (relay.flood_per_minute, relay/flood.py): how many messages, when, each one's first
  line and file names (the first and the last ones when there are many). It stands for
  the customer's own emails, so builder.py makes it look like them: From "<customer> via
  <channel>", the conversation's Subject, threading and +token Reply-To; Reply answers
  the customer.
- `block_notice`: to the managers, one of them blocked (or unblocked) the customer with a
  reply of only /block (/unblock). From "im2mail", Auto-Submitted (RFC 3834), in the
  thread as an answer to that manager's email.

Text and HTML alternatives; every customer value is cut and escaped as in compose.py.
`channel` is the channel's title, `title` the email's subject.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo

from ..model import KIND_LABELS, Conversation, Message
from .compose import Content, clean, plain_text
from .html_body import Quote, notice_html

LINE_CHARS = 120  # of each message's first line


def flood_digest(
    conversation: Conversation,
    head: Sequence[Message],
    tail: Sequence[Message],
    *,
    channel: str,
    title: str,
    count: int,
    files: int,
    limit: int,
    zone: tzinfo,
    transcript: str | None = None,
) -> Content:
    """The digest of `count` flood messages (`files` files among them): `head` are the
    first ones, `tail` the last ones (none when head has them all), oldest first; the rest
    are counted. `limit` is relay.flood_per_minute; times are shown in `zone`."""
    if not head:
        raise ValueError("a flood digest needs the messages it is about")
    name = clean(conversation.customer.display_name)
    first, last = (head[0], (tail or head)[-1])
    same_day = first.created.astimezone(zone).date() == last.created.astimezone(zone).date()
    span = f"from {_time(first.created, zone, True)} to {_time(last.created, zone, not same_day)}"
    zone_name = getattr(zone, "key", None)
    if zone_name in (None, "localtime"):  # the machine's zone: its abbreviation ("EET")
        zone_name = first.created.astimezone(zone).strftime("%Z") or "local time"
    lead = (
        f"{name} sent {_count(count, 'message')}{_with_files(files)} in {channel} {span} "
        f"({zone_name}): more than {limit} a minute, so they come in one email a minute "
        "instead of one email each. Every one of them is in the archive."
    )
    lines = [_line(m, zone) for m in head]
    left_out = count - len(head) - len(tail)
    if left_out > 0:
        lines.append(f"… {_count(left_out, 'more message')} …")
    lines += [_line(m, zone) for m in tail]
    footer = (
        f"Reply to this email to answer in {channel}. A reply of only /block stops the "
        f"emails about this customer (their messages are still archived; "
        f"im2mail unblock {conversation.id} undoes it)."
    )
    links = [f"The whole conversation: {transcript}"] if transcript else []
    plain = plain_text([lead], lines, ["-- ", footer, *links])
    quotes = [Quote("", "\n".join(lines))]
    html = notice_html(title=title, lead=lead, quotes=quotes, footer=footer,
                       transcript=transcript)  # fmt: skip
    return Content(plain, html)


def block_notice(
    conversation: Conversation, *, channel: str, title: str, blocked: bool, by: str
) -> Content:
    """Tell the managers that `by` (an address) blocked the customer (`blocked`) or
    unblocked them."""
    name = clean(conversation.customer.display_name)
    who, number = clean(by), conversation.id
    if blocked:
        lead = f"{who} blocked {name} ({channel}, conversation #{number})."
        body = [
            "im2mail keeps archiving everything they send, but emails none of it and sends "
            "no reminders about them. Nothing was sent to the customer.",
            f"To undo it, reply /unblock to this email, or run: im2mail unblock {number}",
        ]
    else:
        lead = f"{who} unblocked {name} ({channel}, conversation #{number})."
        body = [
            "Their new messages are emailed again. What they sent while blocked is in the "
            f"archive: im2mail tail -c {number}",
        ]
    footer = "This is an automatic notice from im2mail."
    plain = plain_text([lead], body, ["-- ", footer])
    quotes = [Quote("", " ".join(body))]
    return Content(plain, notice_html(title=title, lead=lead, quotes=quotes, footer=footer))


def _line(message: Message, zone: tzinfo) -> str:
    text = message.text.strip().splitlines()[0] if message.text.strip() else ""
    text = clean(text, LINE_CHARS) if text else f"({KIND_LABELS.get(message.kind, message.kind)})"
    names = ", ".join(clean(a.filename, 80) for a in message.attachments)
    return f"{_time(message.created, zone)}  {text}" + (f" [{names}]" if names else "")


def _time(moment: datetime, zone: tzinfo, with_date: bool = False) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _with_files(files: int) -> str:
    return f" ({_count(files, 'file')})" if files else ""
