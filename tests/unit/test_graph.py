"""What Messenger and WhatsApp share (channels/graph.py): the stored credentials, Meta's
webhook signature and verification handshake, and Graph errors as ChannelErrors."""

from __future__ import annotations

import json

import pytest

from im2mail.channels import AuthFailed, Blocked, Rejected, RetryLater, graph
from im2mail.errors import redact

APP_SECRET = "0f" * 16
BODY = json.dumps({"object": "page", "entry": []}).encode()


def test_credentials_round_trip_and_are_masked_from_then_on():
    token = "EAAG" + "x" * 60
    stored = graph.encode(token, APP_SECRET)

    creds = graph.credentials(stored, "messenger bot 'fb'")

    assert (creds.token, creds.app_secret) == (token, APP_SECRET)
    assert token not in redact(f"failed with {token} and {APP_SECRET}")
    assert APP_SECRET not in redact(f"failed with {APP_SECRET}")


@pytest.mark.parametrize("stored", ["EAAGplain-token", "{}", '{"token": "x"}', "[1, 2]",
                                    '{"token": "", "app_secret": "y"}'])  # fmt: skip
def test_a_stored_secret_of_another_shape_is_auth_failed(stored):
    with pytest.raises(AuthFailed, match=r"not a token and an app secret|empty") as caught:
        graph.credentials(stored, "whatsapp bot 'wa'")
    assert "EAAG" not in caught.value.message


def test_signature_is_the_hmac_of_the_raw_body():
    good = {"X-Hub-Signature-256": graph.sign(APP_SECRET, BODY)}

    assert graph.verify_signature(APP_SECRET, good, BODY)
    assert graph.verify_signature(APP_SECRET, {k.lower(): v for k, v in good.items()}, BODY)
    assert not graph.verify_signature(APP_SECRET, good, BODY + b" ")
    assert not graph.verify_signature("another-secret", good, BODY)
    assert not graph.verify_signature(APP_SECRET, {}, BODY)
    sha1 = {"X-Hub-Signature-256": "sha1=" + good["X-Hub-Signature-256"][7:]}
    assert not graph.verify_signature(APP_SECRET, sha1, BODY)


@pytest.mark.parametrize(
    ("query", "answer"),
    [
        ({"hub.mode": "subscribe", "hub.verify_token": "vt", "hub.challenge": "1158201444"},
         "1158201444"),
        ({"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"}, None),
        ({"hub.mode": "unsubscribe", "hub.verify_token": "vt", "hub.challenge": "1"}, None),
        ({"hub.mode": "subscribe", "hub.verify_token": "vt"}, None),
        ({}, None),
    ],
)  # fmt: skip
def test_handshake_answers_the_challenge_only_for_our_verify_token(query, answer):
    assert graph.handshake(query, "vt") == answer


def _error(code, subcode=None, message="(#100) Something", details=None, status=400):
    body = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "Ab1"}
    if subcode:
        body["error_subcode"] = subcode
    if details:
        body["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return graph.error("bot 'x'", "WhatsApp", status, {"error": body}, "the message")


def test_graph_errors_map_to_what_the_relay_does_with_them():
    assert isinstance(_error(190, 463, "Error validating access token", status=401), AuthFailed)
    assert isinstance(_error(130429, message="(#130429) Rate limit hit"), RetryLater)
    assert isinstance(_error(4, message="(#4) Application request limit reached"), RetryLater)
    assert isinstance(_error(131000, status=500), RetryLater)
    assert isinstance(_error(551, 1545041, "This person isn't available right now."), Blocked)
    assert isinstance(_error(100, 2018001, "No matching user found"), Blocked)
    plain = _error(100, message="(#100) Invalid parameter")
    assert type(plain) is Rejected
    assert plain.reason == "WhatsApp refused the message: (#100) Invalid parameter (100)"


def test_outside_the_window_is_window_closed_with_meta_s_words():
    whatsapp = _error(131047, message="(#131047) Re-engagement message",
                      details="Message failed to send because more than 24 hours have passed "
                      "since the customer last replied to this number.")  # fmt: skip
    messenger = _error(10, 2018278, "(#10) This message is sent outside of allowed window.")

    assert isinstance(whatsapp, graph.WindowClosed) and isinstance(whatsapp, Rejected)
    assert "more than 24 hours have passed" in whatsapp.reason
    assert "(131047)" in whatsapp.reason
    assert isinstance(messenger, graph.WindowClosed)
    assert "(10/2018278)" in messenger.reason


def test_an_error_answer_without_a_body_still_says_what_happened():
    assert graph.error("bot 'x'", "Messenger", 502, None, "the message").reason == (
        "Messenger refused the message: HTTP 502"
    )
    assert isinstance(graph.error("bot 'x'", "Messenger", 502, "<html>", "x"), RetryLater)
