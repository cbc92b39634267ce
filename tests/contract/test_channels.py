"""The behaviours every channel shares, held against each registered one, on its own API
double (conftest.py, kit.py): its descriptor agrees with its class, and config reads its
bots by the rules the descriptor gives; a refused or revoked
token is AuthFailed and never shown; a customer's text from the double's own update is
one Incoming naming them, with a dedupe key that a repeat keeps; a long answer with a
file goes in steps within the channel's limits, and a resumed one sends only the rest;
the platform's "blocked" and "too fast" are Blocked and RetryLater; receipts, reactions
and edits name the message they are about; a channel that reacts sets one emoji and
refuses the rest; and a webhook request counts only with its signature, at the relay's
own route. A new channel joins by being registered and having a kit.
"""

from __future__ import annotations

import inspect
import tomllib

import aiohttp
import pytest

from im2mail import config
from im2mail.channels import (
    CHANNELS,
    POLLING,
    WEBHOOK,
    AuthFailed,
    Blocked,
    Rejected,
    RetryLater,
    channel_class,
    send_steps,
)
from im2mail.errors import ConfigError
from tests.conftest import VALID_CONFIG
from tests.contract.conftest import kit
from tests.contract.kit import BOT, SECRET, Rig

SENTENCE = "Друк займе два робочі дні, після чого передамо замовлення на Нову пошту. "
PDF = ("Рахунок №42.pdf", "application/pdf", b"%PDF-1.4\n" + b"0" * 2048 + b"\n%%EOF\n")
RECEIPTS = {"delivered", "seen", "failed"}


# -- what the channel says of itself ---------------------------------------------------------


def test_the_descriptor_and_the_class_agree_and_a_double_stands_for_the_platform(name):
    about, cls = CHANNELS[name], channel_class(name)
    assert cls.spec is about and cls.name == about.name == name
    assert about.title and set(about.modes) <= {POLLING, WEBHOOK}
    assert about.polls == all(callable(getattr(cls, m, None)) for m in ("poll", "confirm",
                                                                          "update_id"))  # fmt: skip
    takes = inspect.signature(cls).parameters
    assert all(key.key in takes for key in about.keys)  # its config.toml keys reach it
    assert ("links" in takes) == cls.sends_files_by_link
    assert cls.receipts <= RECEIPTS
    assert about.credentials is None or about.dashboard is not None  # Meta's pair
    assert callable(kit(name).rig)


def test_config_reads_the_channels_bots_by_the_channels_own_rules(name):
    about, keys = CHANNELS[name], kit(name).KEYS
    assert set(keys) == {key.key for key in about.keys}
    without_bots = tomllib.loads(VALID_CONFIG.split("[[bots]]")[0])

    def bot(**table) -> config.Config:
        entry = {"name": "b", "channel": name, **table}
        return config.parse({**without_bots, "bots": [entry]}, channels=CHANNELS)

    (read,) = bot(**keys).bots
    assert (read.channel, read.mode, read.options) == (name, about.default_mode, keys)
    assert [bot(**keys, mode=mode).bots[0].mode for mode in about.modes] == list(about.modes)
    with pytest.raises(ConfigError, match=r"^bots\[0\]\.mode: "):
        bot(**keys, mode="pigeon")
    for key in about.keys:
        if key.required:
            with pytest.raises(ConfigError, match=rf"^bots\[0\]\.{key.key}: missing"):
                bot(**{k: v for k, v in keys.items() if k != key.key})
    assert "bots[0].colour: unknown key, ignored" in bot(**keys, colour="red").warnings


# -- the token -------------------------------------------------------------------------------


async def test_a_refused_token_is_auth_failed_and_never_shown(rig: Rig):
    channel = rig.refused()
    with pytest.raises(AuthFailed) as caught:
        await channel.start()
    await channel.stop()
    error = caught.value
    words = " ".join([str(error), repr(error), error.hint or "", error.reason, repr(error.args)])
    assert BOT in str(error) and rig.refused_token_words in str(error)
    assert not [secret for secret in rig.secrets() if secret in words]
    # no library exception chained to it either (a traceback could show the request)
    assert error.__cause__ is None and (error.__suppress_context__ or error.__context__ is None)


async def test_a_token_revoked_while_running_fails_sends_with_auth_failed(rig: Rig):
    rig.revoke()
    with pytest.raises(AuthFailed):
        await rig.channel.send_text(rig.chat_id, "Доброго дня")


async def test_the_registry_opens_the_bot_with_its_config_keys(rig: Rig, name: str):
    async with rig.opened() as again:
        assert type(again) is channel_class(name)
        assert await again.get_me() == await rig.channel.get_me()


# -- receiving -------------------------------------------------------------------------------


async def test_a_customers_text_is_one_incoming_naming_them_and_where_to_answer(
    rig: Rig, name: str
):
    request = await rig.customer_writes("Скільки коштують 500 візиток?")

    (item,) = rig.channel.parse(request.json())
    assert item.text == "Скільки коштують 500 візиток?" and item.event is None
    assert (item.bot, item.customer.channel) == (BOT, name)
    assert (item.customer.external_id, item.chat_id) == (rig.customer_id, rig.chat_id)
    assert item.dedupe_key and item.customer.display_name
    assert rig.receiver.parsed[-1] == item  # the relay's route took it just the same
    await rig.channel.send_text(item.chat_id, "500 шт — 450 грн")
    assert rig.received()[-1] == "500 шт — 450 грн"


async def test_the_same_update_twice_has_one_dedupe_key_and_the_next_message_another(
    rig: Rig,
):
    first = await rig.customer_writes("Добрий день")
    second = await rig.customer_writes("Добрий день")  # the same words: another message

    def keys(request) -> list[str]:
        return [item.dedupe_key for item in rig.channel.parse(request.json())]

    assert keys(first) == keys(first) and len(keys(first)) == 1
    assert keys(second) != keys(first)
    # The platform sends it again (no 200 came back): the relay's route reads the same key.
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            rig.receiver.url(rig.channel.name), data=first.body, headers=first.headers
        ) as answer,
    ):
        assert answer.status == 200
    assert rig.receiver.parsed[-1].dedupe_key == keys(first)[0]


# -- answering -------------------------------------------------------------------------------


async def test_a_long_answer_with_a_file_goes_in_steps_within_limits_and_resumes(rig: Rig):
    limit = rig.channel.text_limit
    paragraph = (SENTENCE * (limit // len(SENTENCE) // 2 + 1)).strip()
    text = "\n\n".join([paragraph] * 5)  # about two and a half messages' worth
    before = len(rig.received())

    steps = rig.channel.plan(text, [PDF])
    assert steps == rig.channel.plan(text, [PDF])  # pure: a resume plans the same steps
    assert len(steps) >= 3
    assert all(len(step.text) <= limit for step in steps)  # (no emoji: UTF-16 length too)
    assert [file for step in steps for file in step.files] == [PDF]
    assert " ".join(step.text for step in steps).split() == text.split()

    sent = await send_steps(rig.channel, rig.chat_id, steps[:1])
    # The relay stops after step 1; after the restart it plans again and sends the rest.
    sent += await send_steps(rig.channel, rig.chat_id, rig.channel.plan(text, [PDF])[1:])
    assert len(set(sent)) == len(sent) == len(steps)
    assert rig.received()[before:] == [step.text for step in steps]


async def test_a_customer_who_blocked_the_bot_is_blocked_and_gets_nothing(rig: Rig):
    before = len(rig.received())
    rig.block()
    with pytest.raises(Blocked) as caught:
        await rig.channel.send_text(rig.chat_id, "Ваше замовлення готове")
    assert rig.blocked_words in caught.value.reason
    assert len(rig.received()) == before


async def test_flood_control_is_retry_later_and_the_next_try_goes_through(rig: Rig):
    rig.throttle()
    with pytest.raises(RetryLater) as caught:
        await rig.channel.send_text(rig.chat_id, "Доброго дня")
    assert caught.value.seconds == rig.retry_seconds and caught.value.sent == ()
    assert await rig.channel.send_text(rig.chat_id, "Доброго дня")
    assert rig.received()[-1] == "Доброго дня"


async def test_receipts_name_the_message_they_are_about(rig: Rig, name: str):
    if not rig.channel.receipts:
        pytest.skip(f"{name} reports nothing of the bot's messages")
    (sent,) = await rig.channel.send_text(rig.chat_id, "Замовлення готове")
    for event in sorted(rig.channel.receipts):
        request, names = await rig.receipt(event, sent)
        (item,) = rig.channel.parse(request.json())
        assert (item.event, item.channel_message_id) == (event, names)
        assert (item.customer.external_id, item.bot) == (rig.customer_id, BOT)
        assert item.dedupe_key and rig.receiver.parsed[-1] == item


# -- what customers change: reactions, edits ---------------------------------------------------


async def test_a_reaction_names_the_message_and_the_customers_whole_set(rig: Rig, name: str):
    (sent,) = await rig.channel.send_text(rig.chat_id, "Замовлення готове")
    try:
        request = await rig.customer_reacts(sent, "👍")
    except NotImplementedError:
        pytest.skip(f"{name} reports no reactions")
    (item,) = rig.channel.parse(request.json())
    assert (item.event, item.channel_message_id, item.reactions) == ("reaction", sent, ("👍",))
    assert (item.customer.external_id, item.bot, item.chat_id) == (rig.customer_id, BOT,
                                                                   rig.chat_id)  # fmt: skip
    (back,) = rig.channel.parse((await rig.customer_reacts(sent, "")).json())
    assert (back.event, back.channel_message_id, back.reactions) == ("reaction", sent, ())
    assert len({item.dedupe_key, back.dedupe_key}) == 2  # two changes, two updates


async def test_an_edit_names_the_message_it_changes(rig: Rig, name: str):
    (written,) = rig.channel.parse((await rig.customer_writes("200 візиток")).json())
    assert written.channel_message_id is not None
    try:
        request = await rig.customer_edits(written.channel_message_id, "300 візиток")
    except NotImplementedError:
        pytest.skip(f"{name} reports no edits")
    (edit,) = rig.channel.parse(request.json())
    assert (edit.edited, edit.text) == (True, "300 візиток")
    assert edit.channel_message_id == written.channel_message_id
    assert edit.customer.external_id == rig.customer_id and edit.event is None
    assert edit.dedupe_key != written.dedupe_key


async def test_a_channel_that_reacts_sets_one_emoji_and_refuses_the_rest(rig: Rig, name: str):
    if rig.channel.react is None:
        pytest.skip(f"{name} sets no reactions: a one-emoji reply goes as text")
    (written,) = rig.channel.parse((await rig.customer_writes("Дякую!")).json())
    mid = written.channel_message_id
    assert mid is not None
    await rig.channel.react(rig.chat_id, mid, "👍")
    assert rig.reactions_set() == {mid: ["👍"]}
    await rig.channel.react(rig.chat_id, mid, "❤️")  # a mail client's heart: with U+FE0F
    assert rig.reactions_set() == {mid: ["❤"]}  # one at a time: it replaced the other
    with pytest.raises(Rejected):
        await rig.channel.react(rig.chat_id, mid, "🦖")  # not one the platform takes
    with pytest.raises(Rejected):
        await rig.channel.react(rig.chat_id, "999999", "👍")  # no such message


# -- webhooks --------------------------------------------------------------------------------


async def test_a_webhook_counts_only_with_its_signature(rig: Rig):
    request = await rig.customer_writes("Привіт")
    header = next(k for k in request.headers if k.lower() == rig.signature_header.lower())
    value, others = (
        request.headers[header],
        {k: v for k, v in request.headers.items() if k != header},
    )

    def genuine(headers, body: bytes = request.body) -> bool:
        return rig.channel.verify_webhook(headers, body, SECRET)

    assert genuine(request.headers)
    assert genuine({k.lower(): v for k, v in request.headers.items()})  # names: any case
    wrong = value[:-1] + ("1" if value[-1] == "0" else "0")
    odd = ["", wrong, value[:-1], value + "0", " ", "підпис", "\udcff\udcfe", "\x00" * 64,
           value.encode().hex(), "x" * 10_000]  # fmt: skip
    assert not [o for o in odd if genuine({**others, header: o})]
    assert not genuine(others)  # none at all
    if rig.signs_body:
        assert not genuine(request.headers, request.body + b" ")
        assert not genuine(request.headers, request.body.replace(b"\\u041f", b"\\u0440"))


async def test_the_relays_route_refuses_forgeries_and_odd_bytes(rig: Rig):
    request = await rig.customer_writes("Привіт")
    header = next(k for k in request.headers if k.lower() == rig.signature_header.lower())
    value = request.headers[header]
    parsed = len(rig.receiver.parsed)
    url = rig.receiver.url(rig.channel.name)

    async with aiohttp.ClientSession() as http:
        forged = {header: value[:-1] + ("1" if value[-1] == "0" else "0")}
        async with http.post(url, data=request.body, headers=forged) as answer:
            assert answer.status == 403
        async with http.post(url, data=request.body) as answer:
            assert answer.status == 403
        # Odd bytes with the genuine header: refused where the signature covers the body,
        # and never taken for an update where it does not.
        async with http.post(url, data=b"\xff\xfe\x00 {[", headers={header: value}) as answer:
            assert answer.status == (403 if rig.signs_body else 400)
    assert len(rig.receiver.parsed) == parsed
