"""Emails im2mail writes on its own schedule: the unanswered reminder and the daily digest.

- `compose_reminder`: to the managers, a customer has waited too long for an answer. In
  the conversation's thread like every email about it (same Subject, In-Reply-To and
  References after its last email, Reply-To the +token address), so "Reply" answers the
  customer.
- `compose_digest`: to the owner (alerts.digest_to), yesterday's figures of `stats` and who
  is waiting. Not in any thread, and with no +token address: a reply to it reaches no
  customer.

Both from `"im2mail" <mail.address>` with `Auto-Submitted: auto-generated` (RFC 3834), in
text and HTML, as mail/notices.py writes its notices.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from html import escape

from ..archive.stats import Figures, Report, Waiting
from ..model import KIND_LABELS, Conversation, Message
from ..timeutil import age
from .compose import POLICY, MailSettings, clean, plain_text, set_body
from .compose import thread_headers as _thread_headers
from .html_body import Quote, notice_html

QUOTED = 5  # the customer's last messages a reminder quotes
DIGEST_TITLES = {"manager": "Managers", "channel": "Channels", "source": "Lead sources"}
DIGEST_WAITING = 20  # customers a digest lists by name; the rest are counted


def compose_reminder(
    conversation: Conversation,
    waiting: Sequence[Message],
    *,
    waited: timedelta,
    business: timedelta | None,
    settings: MailSettings,
    message_id: str,
    date: datetime,
    history: Sequence[Message] = (),
    transcript: str | None = None,
) -> EmailMessage:
    """Remind the managers that the customer has written `waiting` (their messages since
    the last answer, oldest first) and nobody has answered for `waited` (`business`: of
    which in business hours, when [hours] is configured). `history` is the conversation's
    emails so far: the reminder continues the thread after the last of them."""
    if not waiting:
        raise ValueError("a reminder needs the customer's waiting messages")
    to = [Address(addr_spec=a) for a in settings.managers]
    sender = Address("im2mail", addr_spec=settings.mailbox)
    msg = _thread_headers(conversation, settings, sender, to, message_id, history, date)
    msg["Auto-Submitted"] = "auto-generated"
    customer = conversation.customer
    channel, name = settings.title(customer.channel), clean(customer.display_name)
    how_long = age(waited)
    if business is not None and abs(business - waited) >= timedelta(minutes=1):
        how_long += f" ({age(business)} of it in business hours)"
    lead = f"{name} has been waiting for an answer in {channel} for {how_long}."
    footer = (
        "Reply to this email to answer the customer. This is an automatic reminder from "
        "im2mail, sent once per waiting customer (alerts.unanswered_after in config.toml)."
    )
    shown = list(waiting)[-QUOTED:]
    label = "They wrote:" if len(shown) == len(waiting) else f"Their last {len(shown)} messages:"
    quotes = [Quote(label if i == 0 else "", _text(m)) for i, m in enumerate(shown)]
    links = [f"The whole conversation: {transcript}"] if transcript else []
    plain = plain_text(
        [lead],
        *([*([q.label] if q.label else []), *(f"> {x}" for x in q.text.splitlines())]
          for q in quotes),
        ["-- ", footer, *links],
    )  # fmt: skip
    html = notice_html(title=msg["Subject"], lead=lead, quotes=quotes, footer=footer)
    if transcript:
        # notice_html has no link slot: the link goes after the footer's text, as the
        # emails of customers' messages show it (html_body.chat_html)
        link = f'<br><a href="{escape(transcript)}" style="color:#777">The whole conversation</a>'
        html = html.replace(f"{escape(footer)}</p>", f"{escape(footer)}{link}</p>", 1)
    set_body(msg, plain, html)
    return msg


def digest_message_id(mailbox: str, day: date) -> str:
    """The digest's Message-ID, the same for every try of one day's digest (a resend after
    a crash is recognised as the same email), unguessable from outside."""
    domain = mailbox.rpartition("@")[2]
    tag = hashlib.sha256(f"{mailbox}:{day.isoformat()}".encode()).hexdigest()[:16]
    return f"<digest-{day.isoformat()}.{tag}.im2mail@{domain}>"


def compose_digest(
    report: Report,
    day: date,
    *,
    to: Sequence[str],
    settings: MailSettings,
    date: datetime,
    zone_label: str,
) -> EmailMessage:
    """The figures of `day` (report covers it) and who is waiting now, to `to`."""
    report = _titled(report, settings)
    recipients = [Address(addr_spec=a.strip()) for a in to if a.strip()]
    if not recipients:
        raise ValueError("a digest needs at least one recipient")
    msg = EmailMessage(policy=POLICY)
    msg["From"] = Address("im2mail", addr_spec=settings.mailbox)
    msg["To"] = recipients
    msg["Subject"] = f"im2mail: {day.isoformat()}, {_summary(report)}"
    msg["Date"] = date
    msg["Message-ID"] = digest_message_id(settings.mailbox, day)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "OOF, AutoReply"
    lead = f"The chats of {day.isoformat()} ({zone_label}), as `im2mail stats` counts them."
    footer = (
        "This is the daily digest from im2mail (alerts.digest_to in config.toml). First "
        "reply: from a customer's message to the first answer that reached them."
    )
    tables = [(DIGEST_TITLES[k], rows) for k, rows in _figure_tables(report)]
    plain = plain_text(
        [lead],
        *([title, *_plain_rows(rows)] for title, rows in tables),
        _plain_waiting(report.unanswered, report.now),
        ["-- ", footer],
    )
    set_body(msg, plain, _digest_html(msg["Subject"], lead, tables, report, footer))
    return msg


# -- the parts ---------------------------------------------------------------------------------


def _text(message: Message) -> str:
    text = message.text.strip()
    if text:
        return text
    names = ", ".join(a.filename for a in message.attachments)
    return f"({KIND_LABELS.get(message.kind, message.kind)}{': ' + names if names else ''})"


def _summary(report: Report) -> str:
    channels = report.channels
    conversations = sum(c.conversations for c in channels)
    parts = [f"{conversations} conversation{'s' if conversations != 1 else ''}"]
    times = [c for c in channels if c.median is not None]
    if len(times) == 1:
        parts.append(f"first reply {_duration(times[0].median)}")
    parts.append(f"{len(report.unanswered)} waiting")
    return ", ".join(parts)


def _figure_tables(report: Report) -> list[tuple[str, tuple[Figures, ...]]]:
    tables = [("manager", report.managers), ("channel", report.channels)]
    tables.append(("source", report.sources))
    return [(k, rows) for k, rows in tables if rows]


_HEAD = ("", "conversations", "replies", "first reply: median", "p90")


def _titled(report: Report, settings: MailSettings) -> Report:
    """The report with each channel named as people write it ("WhatsApp")."""
    return replace(
        report,
        channels=tuple(replace(f, name=settings.title(f.name)) if f.name else f
                       for f in report.channels),
        unanswered=tuple(replace(w, channel=settings.title(w.channel))
                         for w in report.unanswered),
    )  # fmt: skip


def _cells(row: Figures) -> list[str]:
    name = clean(row.label, 60)
    return [name, str(row.conversations), str(row.replies), _duration(row.median),
            _duration(row.p90)]  # fmt: skip


def _plain_rows(rows: Sequence[Figures]) -> list[str]:
    lines = [list(_HEAD), *(_cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(_HEAD))]
    out = []
    for line in lines:
        first = line[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(line[1:], widths[1:], strict=True)]
        out.append("  ".join([first, *rest]).rstrip())
    return out


def _plain_waiting(waiting: Sequence[Waiting], now: datetime) -> list[str]:
    if not waiting:
        return ["Nobody is waiting for an answer now."]
    lines = [f"Waiting for an answer now: {len(waiting)}"]
    for w in _longest(waiting):
        lines.append(f"- #{w.conversation} {clean(w.customer)} ({w.channel}), "
                     f"{_duration(w.waited)}")  # fmt: skip
    if len(waiting) > DIGEST_WAITING:
        lines.append(f"- and {len(waiting) - DIGEST_WAITING} more: im2mail stats shows them all")
    return lines


def _longest(waiting: Sequence[Waiting]) -> list[Waiting]:
    return sorted(waiting, key=lambda w: -w.waited)[:DIGEST_WAITING]


_TH = '<th style="text-align:{align};padding:2px 10px 2px 0;font-weight:bold">{text}</th>'
_TD = '<td style="text-align:{align};padding:2px 10px 2px 0">{text}</td>'


def _html_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def cells(values: Sequence[str], template: str) -> str:
        return "".join(
            template.format(align="left" if i == 0 else "right", text=escape(v))
            for i, v in enumerate(values)
        )

    body = "\n".join(f"<tr>{cells(r, _TD)}</tr>" for r in rows)
    return (
        f'<p style="margin:14px 0 4px"><b>{escape(title)}</b></p>\n'
        f'<table style="border-collapse:collapse;font-size:13px">\n'
        f"<tr>{cells(header, _TH)}</tr>\n{body}\n</table>"
    )


_DIGEST_PAGE = """\
<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title></head>
<body style="margin:0;padding:12px;font-family:Arial,Helvetica,sans-serif;\
font-size:14px;line-height:1.45;color:#1a1a1a">
<p style="margin:0 0 10px"><b>{lead}</b></p>
{content}
<p style="margin:16px 0 0;color:#777;font-size:12px">{footer}</p>
</body></html>
"""


def _digest_html(title: str, lead: str, tables: list, report: Report, footer: str) -> str:
    blocks = [_html_table(name, _HEAD, [_cells(r) for r in rows]) for name, rows in tables]
    waiting = _plain_waiting(report.unanswered, report.now)
    blocks.append(f'<p style="margin:14px 0 4px"><b>{escape(waiting[0])}</b></p>')
    items = "".join(f"<li>{escape(line[2:])}</li>" for line in waiting[1:])
    if items:
        blocks.append(f'<ul style="margin:4px 0;padding-left:20px">{items}</ul>')
    return _DIGEST_PAGE.format(
        title=escape(title), lead=escape(lead), content="\n".join(blocks), footer=escape(footer)
    )


def _duration(seconds: float | None) -> str:
    return "—" if seconds is None else age(timedelta(seconds=seconds))
