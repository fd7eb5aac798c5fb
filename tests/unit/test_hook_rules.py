"""The rules of Conversations webhooks that need no I/O: trigger keywords, reading a pre-event answer, signing a
request so twilio's RequestValidator accepts it, and the fields of an event."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import pytest
from twilio.request_validator import RequestValidator

from bridge.event_fields import pre_event_fields, shaped, stamp
from bridge.hooks import http, pre
from bridge.hooks.targets import triggered

TOKEN = "a-token-of-sixteen-or-more"


@pytest.mark.parametrize(
    ("body", "fires"),
    [
        ("help", True),
        ("Help me please", True),
        ("  HELP!", True),
        ("helpful", False),
        ("I need help", False),
        ("", False),
        (None, False),
        ("agent please now", True),
    ],
)
def test_a_trigger_keyword_fires_on_a_message_that_starts_with_it(body: str | None, fires: bool) -> None:
    assert triggered(body, ["help", "agent please"]) is fires


def reply(status: int | None, body: bytes = b"") -> http.Reply:
    return http.Reply(status, body, 10, None if status else "refused")


def test_pre_event_answers_as_twilio_reads_them() -> None:
    assert pre.read_answer(pre.MESSAGE_ADD, reply(403)).rejected
    assert pre.read_answer(pre.MESSAGE_ADD, reply(500)).rejected
    assert not pre.read_answer(pre.MESSAGE_ADD, reply(None)).rejected  # no answer: go ahead
    assert pre.read_answer(pre.MESSAGE_ADD, reply(200)).changes == {}
    assert pre.read_answer(pre.MESSAGE_ADD, reply(200, b"{}")).changes == {}
    assert pre.read_answer(pre.MESSAGE_ADD, reply(200, b"<html>ok</html>")).changes == {}
    assert pre.read_answer(pre.MESSAGE_ADD, reply(200, b"[" * 100_000)).changes == {}  # a parser bomb is no change
    # JSON no column can keep (a lone surrogate, a number past a double) is no change either, never a 500 later.
    assert pre.read_answer(pre.MESSAGE_ADD, reply(200, b'{"body": "\\ud800"}')).changes == {}
    assert pre.read_answer(pre.MESSAGE_ADD, reply(200, b'{"attributes": {"n": 1e999}}')).changes == {}
    answer = b'{"body": "x", "Author": "bot", "attributes": {"a": 1}, "friendly_name": "ignored", "index": 3}'
    assert pre.read_answer(pre.MESSAGE_ADD, reply(200, answer)).changes == {
        "Body": "x",
        "Author": "bot",
        "Attributes": '{"a": 1}',
    }
    assert pre.read_answer(pre.CONVERSATION_ADD, reply(200, b'{"friendly_name": "Named"}')).changes == {
        "FriendlyName": "Named"
    }
    assert pre.read_answer(pre.MESSAGE_REMOVE, reply(200, b'{"body": "x"}')).changes == {}  # nothing to modify


def test_a_post_request_is_signed_as_twilio_signs_it() -> None:
    fields = {"EventType": "onMessageAdded", "Body": "x & y = z", "Index": "0"}
    url, body, headers = http.signed_request("https://app.example/hooks?tenant=7", "POST", fields, TOKEN)
    assert url == "https://app.example/hooks?tenant=7"
    assert dict(parse_qsl((body or b"").decode())) == fields
    assert RequestValidator(TOKEN).validate(url, fields, headers["X-Twilio-Signature"])
    assert not RequestValidator("another-token-of-sixteen").validate(url, fields, headers["X-Twilio-Signature"])


def test_a_get_request_carries_its_fields_in_the_signed_query_string() -> None:
    fields = {"EventType": "onMessageAdded", "Body": "ünïcode & more"}
    url, body, headers = http.signed_request("https://app.example/hooks?tenant=7", "GET", fields, TOKEN)
    assert body is None
    query = dict(parse_qsl(urlsplit(url).query))
    assert query == {"tenant": "7", **fields}
    assert RequestValidator(TOKEN).validate(url, {}, headers["X-Twilio-Signature"])


def test_dates_have_milliseconds_and_four_digit_years() -> None:
    assert stamp(datetime(2022, 5, 18, 13, 42, 17, 312_999, tzinfo=UTC)) == "2022-05-18T13:42:17.312Z"
    assert stamp(datetime(441, 1, 2, tzinfo=UTC)) == "0441-01-02T00:00:00.000Z"
    assert stamp(None) is None


def test_an_event_carries_only_its_types_fields() -> None:
    fields = {"ConversationSid": "CH1", "Body": "b", "DateUpdated": "x", "Unrelated": "y", "Index": "0"}
    assert shaped("onMessageAdded", fields) == {"ConversationSid": "CH1", "Index": "0", "Body": "b"}
    assert "DateUpdated" in shaped("onMessageUpdated", fields)


def test_a_pre_event_shows_the_resource_as_the_action_would_leave_it() -> None:
    current = {"ConversationSid": "CH1", "FriendlyName": "old", "State": "active", "Other": "x"}
    fields = pre_event_fields("onConversationUpdate", current, {"FriendlyName": "new", "UniqueName": None})
    assert fields == {"ConversationSid": "CH1", "FriendlyName": "new", "State": "active"}
