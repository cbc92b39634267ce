"""The words of the emails im2mail writes on its own schedule: the unanswered reminder and
the daily digest.

- `reminder`: to the managers, a customer has waited too long for an answer. builder.py
  puts it in the conversation's thread like every email about it (same Subject,
  In-Reply-To and References after its last email, Reply-To the +token address), so
  "Reply" answers the customer.
- `digest`: to the owner (alerts.digest_to), yesterday's figures of `stats` and who is
  waiting. Not in any thread, and with no +token address: a reply to it reaches no
  customer.

Both from `"im2mail" <mail.address>` with `Auto-Submitted: auto-generated` (RFC 3834), in
text and HTML, as the notices are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from html import escape

from ..archive.stats import Figures, Report, Waiting
from ..model import KIND_LABELS, Conversation, Message
from ..timeutil import age
from .compose import Content, channel_title, clean, plain_text
from .html_body import Quote, notice_html

QUOTED = 5  # the customer's last messages a reminder quotes
DIGEST_TITLES = {"manager": "Managers", "channel": "Channels", "source": "Lead sources"}
DIGEST_WAITING = 20  # customers a digest lists by name; the rest are counted


def reminder(
    conversation: Conversation,
    waiting: Sequence[Message],
    *,
    channel: str,
    title: str,
    waited: timedelta,
    business: timedelta | None,
    transcript: str | None = None,
) -> Content:
    """Remind the managers that the customer has written `waiting` (their messages since
    the last answer, oldest first) and nobody has answered for `waited` (`business`: of
    which in business hours, when [hours] is configured). `channel` is the channel's
    title, `title` the email's subject."""
    if not waiting:
        raise ValueError("a reminder needs the customer's waiting messages")
    name = clean(conversation.customer.display_name)
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
    html = notice_html(title=title, lead=lead, quotes=quotes, footer=footer, transcript=transcript)
    return Content(plain, html)


def digest_subject(report: Report, day: date) -> str:
    return f"im2mail: {day.isoformat()}, {_summary(report)}"


def digest(
    report: Report, day: date, *, title: str, zone_label: str, titles: Mapping[str, str]
) -> Content:
    """The figures of `day` (report covers it) and who is waiting now; `title` is the
    email's subject, `titles` the channels' titles."""
    lead = f"The chats of {day.isoformat()} ({zone_label}), as `im2mail stats` counts them."
    footer = (
        "This is the daily digest from im2mail (alerts.digest_to in config.toml). First "
        "reply: from a customer's message to the first answer that reached them."
    )
    tables = [(DIGEST_TITLES[k], rows) for k, rows in _figure_tables(report)]
    plain = plain_text(
        [lead],
        *([name, *_plain_rows(rows, titles)] for name, rows in tables),
        _plain_waiting(report.unanswered, titles),
        ["-- ", footer],
    )
    return Content(plain, _digest_html(title, lead, tables, report, footer, titles))


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


def _cells(row: Figures, titles: Mapping[str, str]) -> list[str]:
    name = clean(row.label, 60)
    if row.kind == "channel":
        name = channel_title(name, titles)
    return [name, str(row.conversations), str(row.replies), _duration(row.median),
            _duration(row.p90)]  # fmt: skip


def _plain_rows(rows: Sequence[Figures], titles: Mapping[str, str]) -> list[str]:
    lines = [list(_HEAD), *(_cells(r, titles) for r in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(_HEAD))]
    out = []
    for line in lines:
        first = line[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(line[1:], widths[1:], strict=True)]
        out.append("  ".join([first, *rest]).rstrip())
    return out


def _plain_waiting(waiting: Sequence[Waiting], titles: Mapping[str, str]) -> list[str]:
    if not waiting:
        return ["Nobody is waiting for an answer now."]
    lines = [f"Waiting for an answer now: {len(waiting)}"]
    for w in _longest(waiting):
        channel = channel_title(w.channel, titles)
        lines.append(f"- #{w.conversation} {clean(w.customer)} ({channel}), "
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


def _digest_html(
    title: str, lead: str, tables: list, report: Report, footer: str, titles: Mapping[str, str]
) -> str:
    blocks = [_html_table(name, _HEAD, [_cells(r, titles) for r in rows]) for name, rows in tables]
    waiting = _plain_waiting(report.unanswered, titles)
    blocks.append(f'<p style="margin:14px 0 4px"><b>{escape(waiting[0])}</b></p>')
    items = "".join(f"<li>{escape(line[2:])}</li>" for line in waiting[1:])
    if items:
        blocks.append(f'<ul style="margin:4px 0;padding-left:20px">{items}</ul>')
    return _DIGEST_PAGE.format(
        title=escape(title), lead=escape(lead), content="\n".join(blocks), footer=escape(footer)
    )


def _duration(seconds: float | None) -> str:
    return "—" if seconds is None else age(timedelta(seconds=seconds))
