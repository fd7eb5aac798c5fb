"""Push registration from the official Conversations SDK: setPushRegistrationId, a changed token,
unsetPushRegistrationId and removePushRegistrations reach the gateway's push registry and show as the service's
Bindings over REST (each list response checked against Twilio's spec by the live bridge)."""

from __future__ import annotations

from typing import Any

import pytest
from twilio.rest import Client

from bridge import access_tokens, accounts
from tests.integration import test_chat_sdk
from tests.integration.conftest import Api
from tests.integration.test_chat_gateway_refusals import connected
from tests.integration.test_chat_sdk import Chat
from tests.integration.test_push_resources import service_account_key
from tests.support.gateway import LiveGateway
from tests.support.live import LiveBridge
from tests.support.waiting import eventually

# The chat suite's gateway, SDK driver and chat fixtures, shared rather than started a second way.
gateway, driver, chat = test_chat_sdk.gateway, test_chat_sdk.driver, test_chat_sdk.chat

PUSHED_TYPES = ["new_message", "added_to_conversation", "removed_from_conversation"]


def connect_with_push(chat: Chat, identity: str, credential_sid: str | None) -> None:
    """Connects `identity` with a token whose chat grant names the push credential, as a mobile app's backend
    mints it."""
    token = access_tokens.mint(
        chat.live.account_sid, chat.key.sid, chat.key.secret, identity, chat.service_sid,
        push_credential_sid=credential_sid,
    )  # fmt: skip
    chat.names.append(identity)
    chat.driver.connect(identity, token, chat.gateway.url)


def bindings_of(api: Api, service_sid: str, **filters: Any) -> list[dict[str, Any]]:
    response = api.get(f"/v1/Services/{service_sid}/Bindings", params=filters)
    assert response.status_code == 200, response.text
    return list(response.json()["bindings"])


@pytest.fixture
def credential_sid(client: Client) -> str:
    return str(client.conversations.v1.credentials.create(type="fcm", secret=service_account_key()).sid)


def test_an_fcm_token_is_bound_moved_to_a_new_token_and_removed(chat: Chat, api: Api, credential_sid: str) -> None:
    connect_with_push(chat, "alice", credential_sid)
    chat.driver.set_push_registration_id("alice", "fcm", "fcm-token-1")

    [binding] = bindings_of(api, chat.service_sid)
    assert (binding["identity"], binding["binding_type"]) == ("alice", "fcm")
    assert binding["credential_sid"] == credential_sid
    assert binding["message_types"] == PUSHED_TYPES
    assert "fcm-token-1" not in str(binding)

    # A new token: the SDK deletes its registration of the old one, then registers the new one.
    chat.driver.set_push_registration_id("alice", "fcm", "fcm-token-2")
    [renewed] = bindings_of(api, chat.service_sid)
    assert renewed["sid"] != binding["sid"] and renewed["endpoint"] != binding["endpoint"]
    assert (renewed["identity"], renewed["credential_sid"]) == ("alice", credential_sid)

    chat.driver.remove_push_registrations("alice", "fcm", "fcm-token-2")
    assert bindings_of(api, chat.service_sid) == []


def test_unset_push_registration_id_removes_the_binding(chat: Chat, api: Api, credential_sid: str) -> None:
    connect_with_push(chat, "bob", credential_sid)
    chat.driver.set_push_registration_id("bob", "apn", "apns-device-token")
    [binding] = bindings_of(api, chat.service_sid, BindingType="apn", Identity="bob")
    assert binding["binding_type"] == "apn"

    chat.driver.unset_push_registration_id("bob", "apn")
    eventually(lambda: bindings_of(api, chat.service_sid) == [], message="the apn binding is removed")


def test_a_device_signed_in_as_someone_else_pushes_to_them_only(chat: Chat, api: Api, credential_sid: str) -> None:
    connect_with_push(chat, "carol", credential_sid)
    connect_with_push(chat, "dave", None)  # dave's token names no credential
    chat.driver.set_push_registration_id("carol", "fcm", "shared-tablet")
    chat.driver.set_push_registration_id("dave", "fcm", "shared-tablet")

    [binding] = bindings_of(api, chat.service_sid)
    assert (binding["identity"], binding["credential_sid"]) == ("dave", None)
    # carol's registry no longer holds the token: removing hers leaves dave's binding alone.
    chat.driver.remove_push_registrations("carol", "fcm", "shared-tablet")
    assert [b["identity"] for b in bindings_of(api, chat.service_sid)] == ["dave"]


TOKEN = {"registration_id": "t"}


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/v1/registrations", {"channel_type": "fcm"}, 400),
        ("POST", "/v1/registrations", {"channel_type": "fcm", "data": {"registration_id": ""}}, 400),
        ("POST", "/v1/registrations", {"channel_type": "sms", "data": {"registration_id": "t"}}, 400),
        (
            "POST",
            "/v1/registrations",
            {"channel_type": "fcm", "data": {"registration_id": "t"}, "message_types": 5},
            400,
        ),
        ("POST", "/v1/registrations", {"channel_type": "fcm", "data": {"registration_id": "t" * 600}}, 400),
        ("POST", "/v1/registrations", [1, 2], 400),
        ("DELETE", "/v1/registrations", {"binding_type": "fcm"}, 400),
        ("DELETE", "/v1/registrations", {"binding_type": "gcm2", "address": "t"}, 400),
        ("GET", "/v1/registrations", None, 404),
        ("DELETE", "/v1/registrations/BS00000000000000000000000000000000/more", None, 404),
    ],
)
def test_bad_registry_requests_get_twilio_errors(
    live: LiveBridge, gateway: LiveGateway, api: Api, method: str, path: str, body: Any, status: int
) -> None:
    raw = connected(live, gateway, "erin")
    try:
        answered, error = raw.request(method, path, body, params={"productId": "ip_messaging"})
        assert answered == status and error["status"] == status and error["more_info"].startswith("https://")
        assert isinstance(error["code"], int) and error["message"]
        # The socket still serves: a good registration after the bad one goes through.
        good = {"channel_type": "fcm", "data": {"registration_id": "erin-phone"}, "message_types": []}
        answered, created = raw.request("POST", "/v1/registrations", good, params={"productId": "ip_messaging"})
        assert answered == 201 and created["id"].startswith("BS")
        # Deleting what is not the caller's (or no longer exists) is no error: the SDK would retry it.
        gone = raw.request("DELETE", "/v1/registrations/BS" + "0" * 32, {}, params={"productId": "ip_messaging"})
        assert gone[0] == 204
    finally:
        raw.close()
    with live.database.transaction() as session:
        service_sid = accounts.default_service(session).sid
    assert [b["identity"] for b in bindings_of(api, service_sid)] == ["erin"]
