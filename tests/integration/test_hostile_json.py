"""JSON from outside, at every place the bridge parses it: parser bombs and text that parses but cannot be kept
get a Twilio-style 400 with the call site's own code (50304 for attributes, 20001 otherwise), never a 500; what is
valid JSON is stored as sent. Each place gets every hostile value, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
import requests

from tests.integration.conftest import Api
from tests.support.live import LiveBridge

ATTRIBUTES_INVALID, INVALID_PARAMETER = 50304, 20001

# Refused wherever JSON is read. Each fits the smallest attributes limit (4 KB), so the parser meets it.
REFUSED = {
    "deep arrays": "[" * 3000,
    "deep closed arrays": "[" * 2000 + "]" * 2000,
    "deep objects": '{"":' * 1020,
    "deep mixed": '[{"a":' * 600,
    "integer past the conversion limit": "9" * 4400,
    "huge exponent": "1e999999",
    "huge negative exponent in an array": "[-1e400]",
    "NaN": "NaN",
    "Infinity": '{"x": Infinity}',
    "lone high surrogate": '"\\ud800"',
    "lone low surrogate in an object": '{"name": "\\udfff"}',
    "surrogate pair reversed": '["\\udc00\\ud800"]',
    "surrogate escape as a key": '{"\\ud800": 1}',
    "odd run of backslashes": '"' + "\\" * 3001 + '"',
    "unfinished escape": '"\\u12"',
}
# Valid JSON a parser may stumble on: accepted and kept exactly as sent.
ACCEPTED = {
    "long run of escaped backslashes": '"' + "\\\\" * 1500 + '"',
    "long run of escaped NULs": '"' + "\\u0000" * 600 + '"',
    "surrogate pair": '{"smile": "\\ud83d\\ude00"}',
    "long integer": "9" * 4000,
    "tiny exponent": "1e-999999",
    "nested a hundred deep": "[" * 100 + "]" * 100,
}


def conversation(api: Api) -> str:
    return str(api.post("/v1/Conversations", {"FriendlyName": "hostile"}).json()["sid"])


def refused_with(response: requests.Response, code: int) -> None:
    assert response.status_code == 400, (response.status_code, response.text[:300])
    body = response.json()
    assert body["code"] == code and body["status"] == 400, body
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"


def write_attributes(api: Api, kind: str, value: str) -> requests.Response:
    """Sends `value` as the Attributes of a new (or, for `conversation update`, an existing) resource."""
    if kind == "conversation":
        return api.post("/v1/Conversations", {"Attributes": value})
    if kind == "user":
        return api.post("/v1/Users", {"Identity": f"user-{uuid.uuid4().hex}", "Attributes": value})
    sid = conversation(api)
    if kind == "conversation update":
        return api.post(f"/v1/Conversations/{sid}", {"Attributes": value})
    if kind == "participant":
        return api.post(f"/v1/Conversations/{sid}/Participants", {"Identity": "hostile", "Attributes": value})
    assert kind == "message"
    return api.post(f"/v1/Conversations/{sid}/Messages", {"Body": "hello", "Attributes": value})


ATTRIBUTE_KINDS = ["conversation", "conversation update", "participant", "message", "user"]


@pytest.mark.parametrize("kind", ATTRIBUTE_KINDS)
def test_hostile_attributes_are_refused_with_50304(api: Api, kind: str) -> None:
    for name, value in REFUSED.items():
        response = write_attributes(api, kind, value)
        assert response.status_code == 400, (name, response.status_code, response.text[:300])
        refused_with(response, ATTRIBUTES_INVALID)


@pytest.mark.parametrize("kind", ATTRIBUTE_KINDS)
def test_valid_attributes_a_parser_may_stumble_on_are_stored_as_sent(api: Api, kind: str) -> None:
    for name, value in ACCEPTED.items():
        response = write_attributes(api, kind, value)
        assert response.status_code in (200, 201), (name, response.status_code, response.text[:300])
        assert response.json()["attributes"] == value, name


CONTENT_SID = "HX" + "ab" * 16


def test_hostile_content_variables_are_refused_with_20001(api: Api) -> None:
    sid = conversation(api)
    for name, value in REFUSED.items():
        response = api.post(f"/v1/Conversations/{sid}/Messages", {"ContentSid": CONTENT_SID, "ContentVariables": value})
        assert response.status_code == 400, (name, response.status_code)
        refused_with(response, INVALID_PARAMETER)
    for name, value in ACCEPTED.items():
        response = api.post(f"/v1/Conversations/{sid}/Messages", {"ContentSid": CONTENT_SID, "ContentVariables": value})
        assert response.status_code == 201, (name, response.status_code, response.text[:300])


# A Participant of ConversationWithParticipants is JSON whose strings are stored: what parses but cannot be
# stored (a lone surrogate, a NUL in PostgreSQL's text) is refused too, and nested attributes must be JSON.
HOSTILE_PARTICIPANTS = {
    **REFUSED,
    "identity with a lone surrogate": '{"identity": "agent-\\ud800"}',
    "identity with a NUL": '{"identity": "agent-\\u0000"}',
    "binding address with a NUL": '{"messaging_binding": {"address": "+14155550123\\u0000"}}',
    "attributes with an infinite number": '{"identity": "agent", "attributes": {"n": 1e999}}',
    "attributes nested too deeply": '{"identity": "agent", "attributes": ' + "[" * 3000 + "}",
    "attributes text that is not JSON": '{"identity": "agent", "attributes": "{\\"n\\": NaN}"}',
}


def test_hostile_participants_of_conversation_with_participants_are_refused_and_nothing_is_created(
    api: Api,
) -> None:
    for name, value in HOSTILE_PARTICIPANTS.items():
        response = api.post("/v1/ConversationWithParticipants", {"FriendlyName": "hostile", "Participant": value})
        assert response.status_code == 400, (name, response.status_code, response.text[:300])
        assert response.json()["code"] in (INVALID_PARAMETER, ATTRIBUTES_INVALID), name
    assert api.get("/v1/Conversations").json()["conversations"] == []


def test_participant_attributes_given_as_json_keep_their_value(api: Api) -> None:
    spec = {"identity": "agent", "attributes": {"smile": "\U0001f600", "slashes": "\\" * 500, "big": 10**300}}
    response = api.post("/v1/ConversationWithParticipants", {"Participant": json.dumps(spec)})
    assert response.status_code == 201, response.text[:300]
    participants = api.get(f"/v1/Conversations/{response.json()['sid']}/Participants").json()["participants"]
    assert [json.loads(p["attributes"]) for p in participants] == [spec["attributes"]]


def admin_script(live: LiveBridge) -> requests.Session:
    http = requests.Session()
    http.auth = (live.settings.admin_username, live.settings.admin_password)
    return http


HOSTILE_ADMIN_BODIES: dict[str, bytes] = {
    **{name: value.encode() for name, value in REFUSED.items()},
    "very deep arrays": b"[" * 200_000,
    "very deep objects in a filter": b'{"status": ' + b'{"a":' * 50_000 + b"}",
    "address with a lone surrogate": b'{"address": "+1415\\ud800"}',
    "address with a NUL": b'{"address": "+14155550123\\u0000"}',
    "conversation with a NUL": b'{"conversation": "CH\\u0000"}',
    "encoded lone surrogate": b'{"address": "\xed\xa0\x80"}',
    "not UTF-8": b'{"status": "\xff"}',
    "UTF-16": '{"status": "failed"}'.encode("utf-16"),
}


def test_hostile_admin_api_bodies_are_refused_with_20001(live: LiveBridge) -> None:
    http = admin_script(live)
    for name, body in HOSTILE_ADMIN_BODIES.items():
        response = http.post(
            live.url + "/admin/api/replay", data=body, headers={"Content-Type": "application/json"}, timeout=30
        )
        assert response.status_code == 400, (name, response.status_code, response.text[:300])
        refused_with(response, INVALID_PARAMETER)


def test_a_nul_in_an_admin_form_filter_is_refused(live: LiveBridge) -> None:
    http = admin_script(live)
    for field in ("address", "conversation", "status", "since"):
        response = http.post(live.url + "/admin/api/replay", data={field: "x\x00"}, timeout=30)
        refused_with(response, INVALID_PARAMETER)
        response = http.get(live.url + "/admin/api/deliveries", params={field: "x\x00"}, timeout=30)
        refused_with(response, INVALID_PARAMETER)


def token(prefix: str, raw: bytes) -> str:
    return prefix + base64.urlsafe_b64encode(raw).decode().rstrip("=")


# Tokens are short (the bridge refuses anything over 100 characters), so their bombs are small ones.
HOSTILE_TOKEN_BODIES: dict[str, bytes] = {
    "nested arrays": b"[" * 60,
    "huge exponent": b'["after",1e999999]',
    "NaN": b'["after",NaN]',
    "lone surrogate": b'["after\\ud800",1]',
    "integer out of range": b'["after",' + b"9" * 40 + b"]",
    "not UTF-8": b'["after\xff",1]',
    "UTF-16": '["after",1]'.encode("utf-16-le"),
}


@pytest.mark.parametrize("prefix,params", [("PT", {}), ("PD", {"StartDate": "2020-01-01"})])
def test_hostile_page_tokens_are_refused_with_20001(api: Api, prefix: str, params: dict[str, Any]) -> None:
    conversation(api)
    for name, raw in HOSTILE_TOKEN_BODIES.items():
        response = api.get("/v1/Conversations", params={**params, "PageSize": 1, "PageToken": token(prefix, raw)})
        assert response.status_code == 400, (name, response.status_code, response.text[:300])
        refused_with(response, INVALID_PARAMETER)
