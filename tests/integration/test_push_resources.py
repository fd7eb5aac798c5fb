"""Push over REST, through twilio-python: Credentials, a service's Bindings and its Notification settings.
Every response is checked against Twilio's spec by the live bridge's checker (tests/integration/conftest.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select
from twilio.rest import Client

from bridge import services
from bridge.models import PushBinding
from bridge.push import bindings
from bridge.push.bindings import Registration
from tests.integration.conftest import Api
from tests.integration.twilio_checks import assert_error_body, assert_twilio_error, flatten, walk_pages
from tests.support.live import LiveBridge

NEW_MESSAGE_TYPES = [
    "twilio.conversations.new_message",
    "twilio.conversations.added_to_conversation",
    "twilio.conversations.removed_from_conversation",
    "twilio.ipmsg.typing_indicator",
    "twilio.channel.consumption_update",
]


def service_account_key() -> str:
    """A Firebase service account's JSON key, as the console downloads it (with a real RSA key)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "bridge-test",
            "private_key_id": "0" * 40,
            "private_key": pem,
            "client_email": "push@bridge-test.iam.gserviceaccount.com",
            "token_uri": "https://oauth2.googleapis.com/token",
        }
    )


CERTIFICATE = "-----BEGIN CERTIFICATE-----\nMIIFnTCCBIWgAwIBAgIIAjy9H849+E8w\n-----END CERTIFICATE-----"
PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpQIBAAKCAQEAuyf/lNrH9ck8DmNyo3fG\n-----END RSA PRIVATE KEY-----"


# --- credentials ------------------------------------------------------------------------------------------


def test_create_fetch_update_and_delete_an_fcm_credential(client: Client, api: Api) -> None:
    secret = service_account_key()
    created = client.conversations.v1.credentials.create(type="fcm", friendly_name="Android", secret=secret)
    assert created.sid.startswith("CR")
    assert (created.type, created.friendly_name, created.sandbox) == ("fcm", "Android", "False")

    raw = api.get(f"/v1/Credentials/{created.sid}").json()
    assert set(raw) == {"sid", "account_sid", "friendly_name", "type", "sandbox", "date_created", "date_updated", "url"}
    assert secret not in json.dumps(raw) and "project_id" not in json.dumps(raw)  # the key is never shown

    updated = client.conversations.v1.credentials(created.sid).update(friendly_name="Android app")
    assert updated.friendly_name == "Android app"
    assert client.conversations.v1.credentials(created.sid).fetch().friendly_name == "Android app"

    assert client.conversations.v1.credentials(created.sid).delete() is True
    assert_twilio_error(client.conversations.v1.credentials(created.sid).fetch, 20404, 404)


def test_an_apn_credential_keeps_its_sandbox_flag_as_a_string(client: Client) -> None:
    credential = client.conversations.v1.credentials.create(
        type="apn", certificate=CERTIFICATE, private_key=PRIVATE_KEY, sandbox=True
    )
    assert (credential.type, credential.sandbox) == ("apn", "True")
    production = client.conversations.v1.credentials(credential.sid).update(sandbox=False)
    assert production.sandbox == "False"


def test_the_type_is_case_insensitive_as_in_twilios_examples(client: Client) -> None:
    assert client.conversations.v1.credentials.create(type="GcM", api_key="AIza-legacy").type == "gcm"


def test_credentials_are_listed_page_by_page(client: Client, api: Api) -> None:
    made = [client.conversations.v1.credentials.create(type="gcm", api_key=f"key-{n}").sid for n in range(5)]
    assert flatten(walk_pages(api, "/v1/Credentials", "credentials")) == made
    assert [c.sid for c in client.conversations.v1.credentials.list()] == made


@pytest.mark.parametrize(
    ("form", "code", "why"),
    [
        ({}, 20001, "no Type"),
        ({"Type": "webpush"}, 20001, "an unknown Type"),
        ({"Type": "fcm"}, 20001, "fcm without Secret"),
        ({"Type": "fcm", "Secret": "AAAA-legacy-server-key"}, 52005, "a legacy server key, not a service account"),
        ({"Type": "fcm", "Secret": json.dumps({"project_id": "p"})}, 52005, "no client_email and private_key"),
        ({"Type": "fcm", "Secret": "[1, 2]"}, 52005, "JSON that is not an object"),
        ({"Type": "apn", "Certificate": CERTIFICATE}, 20001, "apn without a private key"),
        ({"Type": "apn", "Certificate": "not pem", "PrivateKey": PRIVATE_KEY}, 52005, "a certificate not in PEM"),
        ({"Type": "gcm"}, 20001, "gcm without ApiKey"),
        ({"Type": "gcm", "ApiKey": "k", "FriendlyName": "x" * 65}, 20001, "a FriendlyName over 64"),
        ({"Type": "apn", "Certificate": CERTIFICATE, "PrivateKey": PRIVATE_KEY, "Sandbox": "maybe"}, 20001, "Sandbox"),
    ],
)
def test_bad_credentials_are_refused_with_twilios_error(api: Api, form: dict[str, str], code: int, why: str) -> None:
    assert_error_body(api.post("/v1/Credentials", form), code, 400)
    assert api.get("/v1/Credentials").json()["credentials"] == [], why


def test_an_update_must_leave_the_credential_usable(client: Client) -> None:
    credential = client.conversations.v1.credentials.create(type="gcm", api_key="k")
    # Turning it into an fcm credential needs the service account's key too.
    assert_twilio_error(lambda: client.conversations.v1.credentials(credential.sid).update(type="fcm"), 20001, 400)
    assert client.conversations.v1.credentials(credential.sid).fetch().type == "gcm"
    changed = client.conversations.v1.credentials(credential.sid).update(type="fcm", secret=service_account_key())
    assert changed.type == "fcm"


def test_unknown_credentials_are_not_found(api: Api) -> None:
    for path in ("/v1/Credentials/CR" + "0" * 32, "/v1/Credentials/nonsense"):
        assert_error_body(api.get(path), 20404, 404)
        assert_error_body(api.post(path, {"FriendlyName": "x"}), 20404, 404)
        assert_error_body(api.delete(path), 20404, 404)


# --- bindings ---------------------------------------------------------------------------------------------


def register(
    live: LiveBridge, service_sid: str, identity: str, token: str, binding_type: str = "fcm", **kw: Any
) -> str:
    """A device registration as the gateway makes it when an SDK client calls setPushRegistrationId."""
    with live.database.transaction() as session:
        service = services.find_service(session, service_sid)
        registration = Registration(binding_type, token, kw.get("message_types", NEW_MESSAGE_TYPES))
        return bindings.register(session, service, identity, kw.get("credential_sid"), registration).sid


def test_bindings_are_listed_fetched_and_deleted(client: Client, live: LiveBridge) -> None:
    service = client.conversations.v1.services.create(friendly_name="Push")
    credential = client.conversations.v1.credentials.create(type="fcm", secret=service_account_key())
    sid = register(live, service.sid, "alice", "fcm-token-1", credential_sid=credential.sid)

    listed = client.conversations.v1.services(service.sid).bindings.list()
    assert [b.sid for b in listed] == [sid]
    binding = client.conversations.v1.services(service.sid).bindings(sid).fetch()
    assert (binding.identity, binding.binding_type, binding.credential_sid) == ("alice", "fcm", credential.sid)
    assert binding.chat_service_sid == service.sid
    assert binding.message_types == ["new_message", "added_to_conversation", "removed_from_conversation"]
    assert binding.endpoint and "fcm-token-1" not in binding.endpoint  # the device token is never shown

    assert client.conversations.v1.services(service.sid).bindings(sid).delete() is True
    assert client.conversations.v1.services(service.sid).bindings.list() == []
    assert_twilio_error(client.conversations.v1.services(service.sid).bindings(sid).fetch, 20404, 404)


def test_bindings_are_filtered_by_type_and_identity(client: Client, live: LiveBridge, api: Api) -> None:
    service_sid = client.conversations.v1.services.create(friendly_name="Push").sid
    alice_fcm = register(live, service_sid, "alice", "a-fcm")
    alice_apn = register(live, service_sid, "alice", "a-apn", "apn")
    bob_fcm = register(live, service_sid, "bob", "b-fcm")
    bindings_of = client.conversations.v1.services(service_sid).bindings

    assert {b.sid for b in bindings_of.list(binding_type=["fcm"])} == {alice_fcm, bob_fcm}
    assert {b.sid for b in bindings_of.list(identity=["alice"])} == {alice_fcm, alice_apn}
    assert {b.sid for b in bindings_of.list(identity=["alice", "bob"], binding_type=["apn"])} == {alice_apn}
    assert {b.sid for b in bindings_of.list(binding_type=["apn", "fcm"], identity=["bob"])} == {bob_fcm}
    assert bindings_of.list(binding_type=["twilsock"]) == []
    pages = walk_pages(api, f"/v1/Services/{service_sid}/Bindings?Identity=alice&Identity=bob", "bindings")
    assert flatten(pages) == [alice_fcm, alice_apn, bob_fcm]
    assert_error_body(api.get(f"/v1/Services/{service_sid}/Bindings?BindingType=sms"), 20001, 400)


def test_a_token_registered_by_another_identity_moves_to_it(client: Client, live: LiveBridge) -> None:
    service_sid = client.conversations.v1.services.create(friendly_name="Push").sid
    first = register(live, service_sid, "alice", "shared-device")
    second = register(live, service_sid, "bob", "shared-device")
    assert first == second
    listed = client.conversations.v1.services(service_sid).bindings.list()
    assert [(b.sid, b.identity) for b in listed] == [(first, "bob")]


def test_bindings_belong_to_their_service(client: Client, live: LiveBridge, api: Api) -> None:
    mine = client.conversations.v1.services.create(friendly_name="Mine").sid
    other = client.conversations.v1.services.create(friendly_name="Other").sid
    sid = register(live, mine, "alice", "token")
    assert register(live, other, "alice", "token") != sid  # the same device in two services: two bindings
    assert_error_body(api.get(f"/v1/Services/{other}/Bindings/{sid}"), 20404, 404)
    assert_error_body(api.delete(f"/v1/Services/{other}/Bindings/{sid}"), 20404, 404)
    assert [b.sid for b in client.conversations.v1.services(mine).bindings.list()] == [sid]
    assert_error_body(api.get("/v1/Services/IS" + "0" * 32 + "/Bindings"), 20404, 404)


def test_deleting_a_user_or_a_service_removes_its_bindings(client: Client, live: LiveBridge) -> None:
    service_sid = client.conversations.v1.services.create(friendly_name="Push").sid
    scoped = client.conversations.v1.services(service_sid)
    scoped.users.create(identity="alice")
    register(live, service_sid, "alice", "alice-phone")
    kept = register(live, service_sid, "bob", "bob-phone")

    assert scoped.users("alice").delete() is True
    assert [b.sid for b in scoped.bindings.list()] == [kept]

    assert client.conversations.v1.services(service_sid).delete() is True
    with live.database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(PushBinding)) == 0


def test_a_user_with_a_registered_device_is_notifiable(client: Client, live: LiveBridge) -> None:
    service_sid = client.conversations.v1.services.create(friendly_name="Push").sid
    scoped = client.conversations.v1.services(service_sid)
    scoped.configuration().update(reachability_enabled=True)  # Twilio shows is_notifiable only then
    scoped.users.create(identity="alice")
    assert scoped.users("alice").fetch().is_notifiable is False
    binding = register(live, service_sid, "alice", "alice-phone")
    assert scoped.users("alice").fetch().is_notifiable is True
    scoped.bindings(binding).delete()
    assert scoped.users("alice").fetch().is_notifiable is False


# --- notification settings --------------------------------------------------------------------------------


def test_a_new_service_has_every_push_disabled(client: Client, api: Api) -> None:
    service_sid = client.conversations.v1.services.create(friendly_name="Push").sid
    settings = client.conversations.v1.services(service_sid).configuration.notifications().fetch()
    assert settings.log_enabled is False
    assert settings.new_message == {
        "enabled": False,
        "template": None,
        "sound": None,
        "badge_count_enabled": False,
        "with_media": {"enabled": False, "template": None},
    }
    assert settings.added_to_conversation == {"enabled": False, "template": None, "sound": None}
    assert settings.removed_from_conversation == {"enabled": False, "template": None, "sound": None}
    assert settings.url.endswith(f"/v1/Services/{service_sid}/Configuration/Notifications")


def test_notification_settings_are_updated_field_by_field(client: Client) -> None:
    service_sid = client.conversations.v1.services.create(friendly_name="Push").sid
    notifications = client.conversations.v1.services(service_sid).configuration.notifications()
    updated = notifications.update(
        log_enabled=True,
        new_message_enabled=True,
        new_message_template="You have a new message in ${CONVERSATION} from ${PARTICIPANT}: ${MESSAGE}",
        new_message_sound="ring",
        new_message_badge_count_enabled=True,
        new_message_with_media_enabled=True,
        new_message_with_media_template="${MEDIA_COUNT} files: ${MEDIA}",
        added_to_conversation_enabled=True,
        added_to_conversation_sound="chime",
    )
    assert updated.log_enabled is True
    assert updated.new_message == {
        "enabled": True,
        "template": "You have a new message in ${CONVERSATION} from ${PARTICIPANT}: ${MESSAGE}",
        "sound": "ring",
        "badge_count_enabled": True,
        "with_media": {"enabled": True, "template": "${MEDIA_COUNT} files: ${MEDIA}"},
    }
    assert updated.added_to_conversation == {"enabled": True, "template": None, "sound": "chime"}

    # What is not sent is kept; a template sent empty returns to the default.
    again = notifications.update(removed_from_conversation_enabled=True, new_message_template="")
    assert again.removed_from_conversation["enabled"] is True
    assert again.new_message["template"] is None
    assert again.new_message["sound"] == "ring" and again.added_to_conversation["enabled"] is True
    assert notifications.fetch().new_message == again.new_message


def test_bad_notification_settings_are_refused(client: Client, api: Api) -> None:
    service_sid = client.conversations.v1.services.create(friendly_name="Push").sid
    path = f"/v1/Services/{service_sid}/Configuration/Notifications"
    assert_error_body(api.post(path, {"NewMessage.Enabled": "sometimes"}), 20001, 400)
    assert_error_body(api.post(path, {"NewMessage.Template": "x" * 5000}), 50058, 400)
    assert_error_body(api.post(path, {"LogEnabled": "true", "AddedToConversation.Sound": "s" * 300}), 20001, 400)
    assert api.get(path).json()["log_enabled"] is False  # a refused update changes nothing
    assert_error_body(api.get("/v1/Services/IS" + "0" * 32 + "/Configuration/Notifications"), 20404, 404)
