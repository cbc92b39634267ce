"""Meta's 24-hour customer service window, where the managers see it: the email about a
customer's message says until when a reply can go, and `conversations` shows it; and the
[[bots]] keys of the Messenger and WhatsApp channels."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from im2mail import config
from im2mail.archive import Archive
from im2mail.channels import CHANNELS, reply_windows, titles
from im2mail.errors import ConfigError
from im2mail.mail.builder import MailBuilder, MailSettings, new_message_id
from im2mail.mail.compose import subject
from im2mail.model import Conversation, Customer, Message
from tests.conftest import VALID_CONFIG, run_cli

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SETTINGS = MailSettings(
    "orders@shop.example", ("anna@shop.example",), titles=titles(), reply_windows=reply_windows()
)


def email_for(channel: str, at: datetime = T0):
    customer = Customer(channel, "15551234567", "Оксана", phone="+15551234567")
    conv = Conversation(7, customer, "wa", "k3x9a0b1c2d3", created=T0)
    said = Message(7, "in", "Оксана", "Чи готові візитки?", at)
    msg = MailBuilder(SETTINGS).message([said], conv, message_id=new_message_id(SETTINGS.mailbox))
    return message_from_bytes(msg.data, policy=policy.default), conv


@pytest.mark.parametrize("channel", ["whatsapp", "messenger"])
def test_the_email_says_until_when_a_reply_can_go(channel):
    msg, conv = email_for(channel, T0 + timedelta(hours=3))

    text = msg.get_body(preferencelist=("plain",)).get_content()
    page = msg.get_body(preferencelist=("html",)).get_content()
    assert "reply by Tue 24 Nov 15:00 UTC" in text
    assert "reply by Tue 24 Nov 15:00 UTC" in page
    # The subject stays the conversation's own: Gmail threads by it.
    assert msg["Subject"] == subject(conv, SETTINGS.titles[conv.channel])


def test_channels_without_a_window_say_nothing_of_one():
    msg, _ = email_for("telegram")
    assert "reply by" not in msg.get_body(preferencelist=("plain",)).get_content()


def test_conversations_show_when_the_window_closes(isolated_home: Path):
    now = datetime.now(UTC)
    with Archive.open(isolated_home / "archive.db") as archive:
        for channel, external, hours_ago in (("whatsapp", "1555", 2), ("messenger", "77", 30),
                                             ("telegram", "5", 1)):  # fmt: skip
            conv = archive.conversation_for(Customer(channel, external, channel.title()), "b")
            archive.add_message(Message(conv.id, "in", "x", "Добрий день", now - timedelta(
                hours=hours_ago)))  # fmt: skip
            archive.add_message(Message(conv.id, "out", "anna@shop.example", "Вітаю",
                                        now - timedelta(hours=hours_ago - 0.5)))  # fmt: skip

    listed = run_cli("conversations", "--json")
    table = run_cli("conversations")

    records = {r["channel"]: r for r in map(json.loads, listed.out.splitlines())}
    closes = datetime.fromisoformat(records["whatsapp"]["reply_window_closes"])
    assert abs(closes - (now + timedelta(hours=22))) < timedelta(seconds=5)
    assert datetime.fromisoformat(records["messenger"]["reply_window_closes"]) < now
    assert "reply_window_closes" not in records["telegram"]
    assert "reply by" in table.out
    rows = {line.split()[1]: line for line in table.out.splitlines()[1:]}
    assert "closed" in rows["Messenger"] and "closed" not in rows["Whatsapp"]


BOTS = VALID_CONFIG.split("[[bots]]")[0]


def parsed(bot: str):
    import tomllib

    return config.parse(tomllib.loads(BOTS + "[[bots]]\n" + bot), channels=CHANNELS)


def test_whatsapp_needs_its_number_id_and_messenger_takes_the_tag_days():
    wa = parsed('name = "wa"\nchannel = "whatsapp"\nphone_number_id = "106540352242922"\n')
    fb = parsed('name = "fb"\nchannel = "messenger"\nhuman_agent_days = 0\n')

    assert wa.bots[0].options == {"phone_number_id": "106540352242922"}
    assert (fb.bots[0].options["human_agent_days"], parsed('name = "fb"\nchannel = "messenger"\n'
            ).bots[0].options["human_agent_days"]) == (0, 7)  # fmt: skip
    with pytest.raises(ConfigError, match=r"bots\[0\]\.phone_number_id: missing"):
        parsed('name = "wa"\nchannel = "whatsapp"\n')
    with pytest.raises(ConfigError, match="digits"):
        parsed('name = "wa"\nchannel = "whatsapp"\nphone_number_id = "+1 555"\n')
    with pytest.raises(ConfigError, match="0 to 7"):
        parsed('name = "fb"\nchannel = "messenger"\nhuman_agent_days = 30\n')
    with pytest.raises(ConfigError, match="webhook only"):
        parsed('name = "fb"\nchannel = "messenger"\nmode = "polling"\n')


def test_doctor_says_what_meta_s_dashboard_must_hold_instead_of_failing():
    from im2mail.channels import WebhookInfo
    from im2mail.ops.doctor.remote import webhook_check

    cfg = parsed('name = "fb"\nchannel = "messenger"\n')
    check = webhook_check(cfg, cfg.bots[0], WebhookInfo(url=""))

    assert check.ok is None  # not checkable, not failed
    assert "https://bot.shop.example/messenger/fb" in check.detail
    assert "im2mail webhook set fb" in check.detail
