"""Conversation Participants (chat identities and SMS/WhatsApp bindings) through the official twilio client."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from twilio.rest import Client
from twilio.rest.conversations.v1.conversation.participant import ParticipantList

from tests.integration.conftest import Api
from tests.integration.twilio_checks import assert_twilio_error, flatten, post_concurrently, walk_pages
from tests.support.live import LiveBridge

CUSTOMER = "+12015550123"


def participants_of(client: Client, conversation_sid: str) -> ParticipantList:
    return client.conversations.v1.conversations(conversation_sid).participants


def new_conversation(client: Client, unique_name: str | None = None) -> str:
    return client.conversations.v1.conversations.create(unique_name=unique_name or None).sid


def add_sms(client: Client, conversation_sid: str, address: str, proxy: str) -> str:
    return (
        participants_of(client, conversation_sid)
        .create(messaging_binding_address=address, messaging_binding_proxy_address=proxy)
        .sid
    )


# --- chat participants ---------------------------------------------------------------------------------


def test_chat_participant_create_fetch_by_sid_and_identity(client: Client, live: LiveBridge) -> None:
    conversation = new_conversation(client, "chat")
    service = client.conversations.v1.services(client.conversations.v1.configuration().fetch().default_chat_service_sid)
    default_role = service.configuration().fetch().default_conversation_role_sid
    created = participants_of(client, "chat").create(identity="alice", attributes='{"team": "red"}')
    assert created.sid.startswith("MB") and len(created.sid) == 34
    assert created.account_sid == live.account_sid
    assert created.conversation_sid == conversation
    assert created.identity == "alice"
    assert created.messaging_binding is None
    assert json.loads(created.attributes) == {"team": "red"}
    assert created.role_sid == default_role
    assert created.last_read_message_index is None and created.last_read_timestamp is None
    assert created.url == f"{live.url}/v1/Conversations/{conversation}/Participants/{created.sid}"
    assert isinstance(created.date_created, datetime)

    assert participants_of(client, conversation)(created.sid).fetch().identity == "alice"
    assert participants_of(client, conversation)("alice").fetch().sid == created.sid


def test_chat_participant_creates_its_user_once(client: Client) -> None:
    first = new_conversation(client)
    second = new_conversation(client)
    participants_of(client, first).create(identity="newcomer")
    user = client.conversations.v1.users("newcomer").fetch()
    assert user.identity == "newcomer" and user.sid.startswith("US")
    participants_of(client, second).create(identity="newcomer")
    assert [u.sid for u in client.conversations.v1.users.list()] == [user.sid]


def test_chat_participant_reuses_an_existing_user(client: Client) -> None:
    user = client.conversations.v1.users.create(identity="known", friendly_name="Known User")
    participants_of(client, new_conversation(client)).create(identity="known")
    fetched = client.conversations.v1.users("known").fetch()
    assert (fetched.sid, fetched.friendly_name) == (user.sid, "Known User")


def test_identity_twice_in_one_conversation_is_refused(client: Client) -> None:
    conversation = new_conversation(client)
    participants_of(client, conversation).create(identity="alice")
    assert_twilio_error(lambda: participants_of(client, conversation).create(identity="alice"), 50433, 409)
    assert len(participants_of(client, conversation).list()) == 1
    # The same identity may join another conversation.
    participants_of(client, new_conversation(client)).create(identity="alice")


def test_identity_is_case_sensitive(client: Client) -> None:
    conversation = new_conversation(client)
    participants_of(client, conversation).create(identity="alice")
    participants_of(client, conversation).create(identity="Alice")
    assert sorted(p.identity for p in participants_of(client, conversation).list()) == ["Alice", "alice"]


def test_identity_longer_than_256_is_refused(client: Client) -> None:
    conversation = new_conversation(client)
    assert_twilio_error(lambda: participants_of(client, conversation).create(identity="x" * 257), 50207, 400)


def test_participant_needs_identity_or_address(client: Client) -> None:
    conversation = new_conversation(client)
    assert_twilio_error(lambda: participants_of(client, conversation).create(attributes="{}"), 20001, 400)


def test_participant_list_pages(client: Client, api: Api) -> None:
    conversation = new_conversation(client)
    sids = [participants_of(client, conversation).create(identity=f"user{i}").sid for i in range(5)]
    assert [p.sid for p in participants_of(client, conversation).list(page_size=2)] == sids
    assert [p.sid for p in participants_of(client, conversation).stream(page_size=2)] == sids
    pages = walk_pages(api, f"/v1/Conversations/{conversation}/Participants", "participants")
    assert flatten(pages) == sids


def test_participant_update(client: Client) -> None:
    conversation = new_conversation(client)
    participant = participants_of(client, conversation).create(identity="alice")
    role = client.conversations.v1.roles.create(
        friendly_name="moderator", type="conversation", permission=["sendMessage", "removeParticipant"]
    )
    read_at = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    updated = participants_of(client, conversation)("alice").update(
        attributes='{"muted": false}', role_sid=role.sid, last_read_message_index=4, last_read_timestamp=read_at
    )
    assert updated.sid == participant.sid
    assert json.loads(updated.attributes) == {"muted": False}
    assert updated.role_sid == role.sid
    assert updated.last_read_message_index == 4
    assert updated.last_read_timestamp == "2024-05-06T07:08:09Z"
    fetched = participants_of(client, conversation)(participant.sid).fetch()
    assert (fetched.role_sid, fetched.last_read_message_index) == (role.sid, 4)


def test_participant_update_rejects_bad_values(client: Client) -> None:
    conversation = new_conversation(client)
    participant = participants_of(client, conversation).create(identity="alice", attributes='{"a": 1}')
    handle = participants_of(client, conversation)(participant.sid)
    assert_twilio_error(lambda: handle.update(attributes="{oops"), 50304, 400)
    service_role = client.conversations.v1.roles.create(
        friendly_name="service role", type="service", permission=["createConversation"]
    )
    assert_twilio_error(lambda: handle.update(role_sid=service_role.sid), 20001, 400)
    assert_twilio_error(lambda: handle.update(role_sid="RL" + "0" * 32), 50109, 400)
    assert json.loads(handle.fetch().attributes) == {"a": 1}


def test_participant_create_rejects_invalid_attributes(client: Client) -> None:
    conversation = new_conversation(client)
    assert_twilio_error(
        lambda: participants_of(client, conversation).create(identity="alice", attributes="not json"), 50304, 400
    )
    assert participants_of(client, conversation).list() == []


def test_participant_delete(client: Client) -> None:
    conversation = new_conversation(client)
    alice = participants_of(client, conversation).create(identity="alice")
    bob = participants_of(client, conversation).create(identity="bob")
    assert participants_of(client, conversation)("alice").delete() is True
    assert [p.sid for p in participants_of(client, conversation).list()] == [bob.sid]
    assert_twilio_error(lambda: participants_of(client, conversation)(alice.sid).fetch(), 20404, 404)
    assert_twilio_error(lambda: participants_of(client, conversation)(alice.sid).delete(), 20404, 404)
    assert_twilio_error(lambda: participants_of(client, conversation)("alice").update(attributes="{}"), 20404, 404)
    # Leaving a conversation does not delete the user, and the identity can join again.
    assert client.conversations.v1.users("alice").fetch().identity == "alice"
    assert participants_of(client, conversation).create(identity="alice").sid != alice.sid


def test_participants_of_a_conversation_addressed_by_unique_name(client: Client) -> None:
    conversation = new_conversation(client, "by-name")
    created = participants_of(client, "by-name").create(identity="alice")
    assert created.conversation_sid == conversation
    assert [p.sid for p in participants_of(client, "by-name").list()] == [created.sid]


def test_participant_of_another_conversation_is_404(client: Client) -> None:
    first, second = new_conversation(client), new_conversation(client)
    alice = participants_of(client, first).create(identity="alice")
    assert_twilio_error(lambda: participants_of(client, second)(alice.sid).fetch(), 20404, 404)
    assert_twilio_error(lambda: participants_of(client, second)("alice").fetch(), 20404, 404)
    assert_twilio_error(lambda: participants_of(client, second)(alice.sid).delete(), 20404, 404)


def test_unknown_conversation_is_404(client: Client) -> None:
    assert_twilio_error(lambda: participants_of(client, "CH" + "0" * 32).create(identity="alice"), 20404, 404)


def test_service_scoped_participants(client: Client, api: Api, live: LiveBridge) -> None:
    service = client.conversations.v1.services.create(friendly_name="Tenant")
    scoped = client.conversations.v1.services(service.sid)
    conversation = scoped.conversations.create(unique_name="room").sid
    created = scoped.conversations("room").participants.create(identity="alice")
    assert (
        created.url == f"{live.url}/v1/Services/{service.sid}/Conversations/{conversation}/Participants/{created.sid}"
    )
    raw = api.get(f"/v1/Services/{service.sid}/Conversations/{conversation}/Participants/alice").json()
    assert raw["chat_service_sid"] == service.sid
    # The user is created in the conversation's service, not in the default one.
    assert scoped.users("alice").fetch().chat_service_sid == service.sid
    assert_twilio_error(lambda: client.conversations.v1.users("alice").fetch(), 20404, 404)
    assert scoped.conversations("room").participants("alice").update(attributes='{"x": 1}').attributes == '{"x": 1}'
    assert scoped.conversations("room").participants("alice").delete() is True
    assert scoped.conversations("room").participants.list() == []


# --- SMS and WhatsApp participants ---------------------------------------------------------------------


def test_sms_participant_addresses_are_normalised(client: Client, sender_pool: dict[str, str]) -> None:
    conversation = new_conversation(client)
    created = participants_of(client, conversation).create(
        messaging_binding_address="+1 (201) 555-0123", messaging_binding_proxy_address="+1 201-555-0100"
    )
    assert created.identity is None
    assert created.messaging_binding == {"type": "sms", "address": CUSTOMER, "proxy_address": sender_pool["sms"]}
    assert participants_of(client, conversation)(created.sid).fetch().messaging_binding["address"] == CUSTOMER


def test_whatsapp_prefix_gives_the_whatsapp_channel(client: Client, sender_pool: dict[str, str]) -> None:
    conversation = new_conversation(client)
    created = participants_of(client, conversation).create(
        messaging_binding_address="whatsapp:+1 201 555 0123", messaging_binding_proxy_address=sender_pool["whatsapp"]
    )
    assert created.messaging_binding == {
        "type": "whatsapp",
        "address": f"whatsapp:{CUSTOMER}",
        "proxy_address": sender_pool["whatsapp"],
    }


def test_one_conversation_holds_chat_sms_and_whatsapp(client: Client, sender_pool: dict[str, str]) -> None:
    conversation = new_conversation(client)
    participants_of(client, conversation).create(identity="agent")
    add_sms(client, conversation, CUSTOMER, sender_pool["sms"])
    add_sms(client, conversation, f"whatsapp:{CUSTOMER}", sender_pool["whatsapp"])
    bindings = [p.messaging_binding for p in participants_of(client, conversation).list()]
    assert [b and b["type"] for b in bindings] == [None, "sms", "whatsapp"]


def test_binding_in_another_open_conversation_is_refused(client: Client, sender_pool: dict[str, str]) -> None:
    first, second = new_conversation(client), new_conversation(client)
    add_sms(client, first, CUSTOMER, sender_pool["sms"])
    # Spelled differently, the same pair after normalisation.
    assert_twilio_error(lambda: add_sms(client, second, "+1 201 555 0123", "+12015550100"), 50416, 400)
    # An inactive conversation still holds its bindings.
    client.conversations.v1.conversations(first).update(state="inactive")
    assert_twilio_error(lambda: add_sms(client, second, CUSTOMER, sender_pool["sms"]), 50416, 400)
    # ... and so does the same conversation: one pair, one participant.
    assert_twilio_error(lambda: add_sms(client, first, CUSTOMER, sender_pool["sms"]), 50416, 400)
    assert participants_of(client, second).list() == []
    # The same customer with another proxy, and another customer with the same proxy, are different pairs.
    add_sms(client, second, CUSTOMER, sender_pool["sms2"])
    add_sms(client, second, "+12015550124", sender_pool["sms"])


def test_binding_in_use_is_refused_across_services(client: Client, sender_pool: dict[str, str]) -> None:
    add_sms(client, new_conversation(client), CUSTOMER, sender_pool["sms"])
    service = client.conversations.v1.services.create(friendly_name="Other")
    other = client.conversations.v1.services(service.sid).conversations.create()
    assert_twilio_error(
        lambda: (
            client.conversations.v1.services(service.sid)
            .conversations(other.sid)
            .participants.create(messaging_binding_address=CUSTOMER, messaging_binding_proxy_address=sender_pool["sms"])
        ),
        50416,
        400,
    )


def test_closing_releases_the_binding(client: Client, sender_pool: dict[str, str]) -> None:
    first, second = new_conversation(client), new_conversation(client)
    add_sms(client, first, CUSTOMER, sender_pool["sms"])
    add_sms(client, first, f"whatsapp:{CUSTOMER}", sender_pool["whatsapp"])
    client.conversations.v1.conversations(first).update(state="closed")
    add_sms(client, second, CUSTOMER, sender_pool["sms"])
    add_sms(client, second, f"whatsapp:{CUSTOMER}", sender_pool["whatsapp"])
    # The closed conversation keeps its participants, for the record, but takes no new ones.
    assert len(participants_of(client, first).list()) == 2
    assert_twilio_error(lambda: participants_of(client, first).create(identity="late"), 50377, 400)


def test_removing_the_participant_releases_the_binding(client: Client, sender_pool: dict[str, str]) -> None:
    first, second = new_conversation(client), new_conversation(client)
    participant = add_sms(client, first, CUSTOMER, sender_pool["sms"])
    participants_of(client, first)(participant).delete()
    add_sms(client, second, CUSTOMER, sender_pool["sms"])


def test_deleting_the_conversation_releases_the_binding(client: Client, sender_pool: dict[str, str]) -> None:
    first = new_conversation(client)
    add_sms(client, first, CUSTOMER, sender_pool["sms"])
    client.conversations.v1.conversations(first).delete()
    add_sms(client, new_conversation(client), CUSTOMER, sender_pool["sms"])


def test_address_equal_to_proxy_is_refused(client: Client, sender_pool: dict[str, str]) -> None:
    conversation = new_conversation(client)
    assert_twilio_error(lambda: add_sms(client, conversation, sender_pool["sms"], "+1 201 555 0100"), 50409, 400)


@pytest.mark.parametrize("address", ["not-a-number", "2015550123", "+1", "+1 201 555 0123 ext 5", "fax:+12015550123"])
def test_invalid_address_is_refused(client: Client, sender_pool: dict[str, str], address: str) -> None:
    conversation = new_conversation(client)
    assert_twilio_error(lambda: add_sms(client, conversation, address, sender_pool["sms"]), 50407, 400)


def test_missing_proxy_is_refused(client: Client) -> None:
    conversation = new_conversation(client)
    assert_twilio_error(
        lambda: participants_of(client, conversation).create(messaging_binding_address=CUSTOMER), 50412, 400
    )
    assert_twilio_error(lambda: add_sms(client, conversation, CUSTOMER, "  "), 50412, 400)


@pytest.mark.parametrize(
    ("address", "proxy"),
    [
        (CUSTOMER, "+12015550199"),  # not in the pool
        (CUSTOMER, "whatsapp:+12015550102"),  # in the pool, but another channel
        (f"whatsapp:{CUSTOMER}", "+12015550100"),
        (CUSTOMER, "nonsense"),
    ],
)
@pytest.mark.usefixtures("sender_pool")
def test_proxy_must_be_a_sender_of_the_conversations_pool(client: Client, address: str, proxy: str) -> None:
    conversation = new_conversation(client)
    assert_twilio_error(lambda: add_sms(client, conversation, address, proxy), 50408, 400)
    assert participants_of(client, conversation).list() == []


def test_proxy_is_checked_against_the_conversations_own_pool(client: Client, sender_pool: dict[str, str]) -> None:
    pool = client.messaging.v1.services.create(friendly_name="Second pool")
    pool_number = "+12015550150"
    client.messaging.v1.services(pool.sid).phone_numbers.create(phone_number_sid=pool_number)
    conversation = client.conversations.v1.conversations.create(messaging_service_sid=pool.sid).sid
    # A sender of the default pool is not a sender of this conversation's pool.
    assert_twilio_error(lambda: add_sms(client, conversation, CUSTOMER, sender_pool["sms"]), 50408, 400)
    add_sms(client, conversation, CUSTOMER, pool_number)


def test_proxy_address_can_be_changed(client: Client, sender_pool: dict[str, str]) -> None:
    first, second = new_conversation(client), new_conversation(client)
    add_sms(client, first, CUSTOMER, sender_pool["sms2"])
    participant = add_sms(client, second, CUSTOMER, sender_pool["sms"])
    handle = participants_of(client, second)(participant)
    # The new pair is bound elsewhere.
    assert_twilio_error(lambda: handle.update(messaging_binding_proxy_address=sender_pool["sms2"]), 50416, 400)
    assert_twilio_error(lambda: handle.update(messaging_binding_proxy_address="+12015550199"), 50408, 400)
    participants_of(client, first).list()[0].delete()
    moved = handle.update(messaging_binding_proxy_address="+1 201 555 0101")
    assert moved.messaging_binding["proxy_address"] == sender_pool["sms2"]
    # The old pair is free again.
    add_sms(client, first, CUSTOMER, sender_pool["sms"])


def test_chat_and_sms_in_one_request_is_refused(client: Client, sender_pool: dict[str, str]) -> None:
    conversation = new_conversation(client)
    assert_twilio_error(
        lambda: participants_of(client, conversation).create(
            identity="alice", messaging_binding_address=CUSTOMER, messaging_binding_proxy_address=sender_pool["sms"]
        ),
        20001,
        400,
    )


def test_sms_participant_list_pages(client: Client, api: Api, sender_pool: dict[str, str]) -> None:
    conversation = new_conversation(client)
    sids = [add_sms(client, conversation, f"+1201555013{i}", sender_pool["sms"]) for i in range(5)]
    assert [p.sid for p in participants_of(client, conversation).list(page_size=2)] == sids
    assert flatten(walk_pages(api, f"/v1/Conversations/{conversation}/Participants", "participants")) == sids


def test_racing_for_one_binding_only_one_wins(client: Client, api: Api, sender_pool: dict[str, str]) -> None:
    conversations = [new_conversation(client) for _ in range(6)]
    binding = {"MessagingBinding.Address": CUSTOMER, "MessagingBinding.ProxyAddress": sender_pool["sms"]}
    responses = post_concurrently(api, [(f"/v1/Conversations/{c}/Participants", binding) for c in conversations])
    assert sorted(r.status_code for r in responses) == [201] + [400] * 5
    assert {r.json()["code"] for r in responses if r.status_code == 400} == {50416}
    assert len(client.conversations.v1.participant_conversations.list(address=CUSTOMER)) == 1


def test_racing_for_one_identity_only_one_wins(client: Client, api: Api) -> None:
    conversation = new_conversation(client)
    responses = post_concurrently(api, [(f"/v1/Conversations/{conversation}/Participants", {"Identity": "alice"})] * 6)
    assert sorted(r.status_code for r in responses) == [201] + [409] * 5
    assert len(participants_of(client, conversation).list()) == 1
    assert len(client.conversations.v1.users.list()) == 1
