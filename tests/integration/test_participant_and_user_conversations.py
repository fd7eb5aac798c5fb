"""ParticipantConversations (search by identity or address) and UserConversations (a user's own view)."""

from __future__ import annotations

import json

from twilio.rest import Client

from tests.integration.conftest import Api
from tests.integration.twilio_checks import assert_error_body, assert_twilio_error, flatten, walk_pages
from tests.support.live import LiveBridge

CUSTOMER = "+12015550123"


def conversation_with(client: Client, identity: str, **kwargs: str) -> str:
    conversation = client.conversations.v1.conversations.create(**kwargs).sid
    client.conversations.v1.conversations(conversation).participants.create(identity=identity)
    return conversation


# --- ParticipantConversations ---------------------------------------------------------------------------


def test_participant_conversations_by_identity(client: Client, live: LiveBridge) -> None:
    conversation = client.conversations.v1.conversations.create(
        friendly_name="Support", unique_name="support", attributes='{"tier": 1}'
    )
    participant = client.conversations.v1.conversations(conversation.sid).participants.create(identity="alice")
    client.conversations.v1.conversations.create(friendly_name="Not Alice's")
    user = client.conversations.v1.users("alice").fetch()

    [found] = client.conversations.v1.participant_conversations.list(identity="alice")
    assert found.account_sid == live.account_sid
    assert found.chat_service_sid == conversation.chat_service_sid
    assert (found.participant_sid, found.participant_identity) == (participant.sid, "alice")
    assert found.participant_user_sid == user.sid
    assert found.participant_messaging_binding is None
    assert (found.conversation_sid, found.conversation_unique_name) == (conversation.sid, "support")
    assert found.conversation_friendly_name == "Support"
    assert json.loads(found.conversation_attributes) == {"tier": 1}
    assert found.conversation_state == "active"
    assert found.conversation_date_created == conversation.date_created
    assert found.conversation_timers == {}
    assert found.links["conversation"] == conversation.url
    assert found.links["participant"] == participant.url


def test_participant_conversations_by_address_normalises_it(
    client: Client, sender_pool: dict[str, str], api: Api
) -> None:
    sms = client.conversations.v1.conversations.create(unique_name="sms").sid
    whatsapp = client.conversations.v1.conversations.create(unique_name="wa").sid
    sms_participant = client.conversations.v1.conversations(sms).participants.create(
        messaging_binding_address=CUSTOMER, messaging_binding_proxy_address=sender_pool["sms"]
    )
    client.conversations.v1.conversations(whatsapp).participants.create(
        messaging_binding_address=f"whatsapp:{CUSTOMER}", messaging_binding_proxy_address=sender_pool["whatsapp"]
    )
    [found] = client.conversations.v1.participant_conversations.list(address="+1 (201) 555-0123")
    assert (found.conversation_sid, found.participant_sid) == (sms, sms_participant.sid)
    assert found.participant_identity is None and found.participant_user_sid is None
    assert found.participant_messaging_binding == {
        "type": "sms",
        "address": CUSTOMER,
        "proxy_address": sender_pool["sms"],
        "level": None,
        "name": None,
        "projected_address": None,
    }
    [by_whatsapp] = client.conversations.v1.participant_conversations.list(address=f"whatsapp:{CUSTOMER}")
    assert by_whatsapp.conversation_sid == whatsapp
    assert client.conversations.v1.participant_conversations.list(address="+12015550999") == []
    assert_error_body(api.get("/v1/ParticipantConversations?Address=nonsense"), 50407, 400)


def test_participant_conversations_include_closed_ones_with_their_state(
    client: Client, sender_pool: dict[str, str]
) -> None:
    closed = client.conversations.v1.conversations.create().sid
    client.conversations.v1.conversations(closed).participants.create(
        messaging_binding_address=CUSTOMER, messaging_binding_proxy_address=sender_pool["sms"]
    )
    client.conversations.v1.conversations(closed).update(state="closed")
    found = client.conversations.v1.participant_conversations.list(address=CUSTOMER)
    assert [(f.conversation_sid, f.conversation_state) for f in found] == [(closed, "closed")]


def test_participant_conversations_page(client: Client, api: Api) -> None:
    conversations = [conversation_with(client, "alice") for _ in range(5)]
    conversation_with(client, "bob")
    listed = client.conversations.v1.participant_conversations.list(identity="alice", page_size=2)
    assert [p.conversation_sid for p in listed] == conversations
    streamed = client.conversations.v1.participant_conversations.stream(identity="alice", page_size=2)
    assert [p.conversation_sid for p in streamed] == conversations
    pages = walk_pages(api, "/v1/ParticipantConversations?Identity=alice", "conversations", "conversation_sid")
    assert flatten(pages) == conversations


def test_participant_conversations_need_exactly_one_filter(api: Api) -> None:
    assert_error_body(api.get("/v1/ParticipantConversations"), 20001, 400)
    assert_error_body(api.get(f"/v1/ParticipantConversations?Identity=alice&Address={CUSTOMER}"), 20001, 400)


def test_participant_conversations_are_per_service(client: Client) -> None:
    service = client.conversations.v1.services.create(friendly_name="Tenant")
    in_default = conversation_with(client, "alice")
    scoped = client.conversations.v1.services(service.sid)
    in_service = scoped.conversations.create().sid
    scoped.conversations(in_service).participants.create(identity="alice")
    found = scoped.participant_conversations.list(identity="alice")
    assert [p.conversation_sid for p in found] == [in_service]
    assert found[0].participant_user_sid == scoped.users("alice").fetch().sid
    assert found[0].chat_service_sid == service.sid
    assert [p.conversation_sid for p in client.conversations.v1.participant_conversations.list(identity="alice")] == [
        in_default
    ]


def test_participant_conversations_forget_a_participant_that_left(client: Client) -> None:
    conversation = conversation_with(client, "alice")
    client.conversations.v1.conversations(conversation).participants("alice").delete()
    assert client.conversations.v1.participant_conversations.list(identity="alice") == []


# --- UserConversations ---------------------------------------------------------------------------------


def test_user_conversation_fetch_by_identity_or_sid_and_unique_name_or_sid(client: Client, live: LiveBridge) -> None:
    conversation = client.conversations.v1.conversations.create(
        friendly_name="Team", unique_name="team", attributes='{"k": "v"}'
    )
    participant = client.conversations.v1.conversations(conversation.sid).participants.create(identity="alice")
    user = client.conversations.v1.users("alice").fetch()

    for user_ref in ("alice", user.sid):
        for conversation_ref in ("team", conversation.sid):
            view = client.conversations.v1.users(user_ref).user_conversations(conversation_ref).fetch()
            assert (view.conversation_sid, view.user_sid, view.participant_sid) == (
                conversation.sid,
                user.sid,
                participant.sid,
            )
    assert view.account_sid == live.account_sid
    assert view.chat_service_sid == conversation.chat_service_sid
    assert (view.friendly_name, view.unique_name) == ("Team", "team")
    assert json.loads(view.attributes) == {"k": "v"}
    assert view.conversation_state == "active"
    assert view.notification_level == "default"
    assert view.last_read_message_index is None
    assert view.unread_messages_count is None
    assert view.timers == {}
    assert view.date_created == conversation.date_created
    assert view.url == f"{live.url}/v1/Users/{user.sid}/Conversations/{conversation.sid}"
    assert view.links["conversation"] == conversation.url
    assert view.links["participant"] == participant.url


def test_user_conversations_list_pages(client: Client, api: Api) -> None:
    conversations = [conversation_with(client, "alice") for _ in range(5)]
    conversation_with(client, "bob")
    user_conversations = client.conversations.v1.users("alice").user_conversations
    assert [c.conversation_sid for c in user_conversations.list(page_size=2)] == conversations
    assert [c.conversation_sid for c in user_conversations.stream(page_size=2)] == conversations
    user_sid = client.conversations.v1.users("alice").fetch().sid
    pages = walk_pages(api, f"/v1/Users/{user_sid}/Conversations", "conversations", "conversation_sid")
    assert flatten(pages) == conversations
    assert client.conversations.v1.users("bob").user_conversations.list()[0].conversation_sid not in conversations


def test_user_without_conversations_lists_none(client: Client) -> None:
    client.conversations.v1.users.create(identity="loner")
    assert client.conversations.v1.users("loner").user_conversations.list() == []


def test_unknown_user_or_non_member_is_404(client: Client, api: Api) -> None:
    conversation = conversation_with(client, "alice")
    client.conversations.v1.users.create(identity="outsider")
    assert_twilio_error(
        lambda: client.conversations.v1.users("outsider").user_conversations(conversation).fetch(), 20404, 404
    )
    assert_twilio_error(
        lambda: (
            client.conversations.v1.users("outsider")
            .user_conversations(conversation)
            .update(notification_level="muted")
        ),
        20404,
        404,
    )
    assert_twilio_error(
        lambda: client.conversations.v1.users("outsider").user_conversations(conversation).delete(), 20404, 404
    )
    assert_twilio_error(
        lambda: client.conversations.v1.users("nobody").user_conversations(conversation).fetch(), 20404, 404
    )
    assert_twilio_error(
        lambda: client.conversations.v1.users("alice").user_conversations("CH" + "0" * 32).fetch(), 20404, 404
    )
    assert api.get("/v1/Users/nobody/Conversations").status_code == 404


def test_notification_level_update(client: Client) -> None:
    conversation = conversation_with(client, "alice")
    view = client.conversations.v1.users("alice").user_conversations(conversation)
    assert view.update(notification_level="muted").notification_level == "muted"
    assert view.fetch().notification_level == "muted"
    assert view.update(notification_level="default").notification_level == "default"
    assert_twilio_error(lambda: view.update(notification_level="loud"), 20001, 400)
    # Muting is personal: another member of the same conversation is unaffected.
    client.conversations.v1.conversations(conversation).participants.create(identity="bob")
    view.update(notification_level="muted")
    assert client.conversations.v1.users("bob").user_conversations(conversation).fetch().notification_level == "default"


def test_last_read_index_drives_unread_count(client: Client) -> None:
    conversation = conversation_with(client, "alice")
    for i in range(5):
        client.conversations.v1.conversations(conversation).messages.create(body=f"m{i}")
    view = client.conversations.v1.users("alice").user_conversations(conversation)
    assert view.fetch().unread_messages_count is None  # never read anything

    read_two = view.update(last_read_message_index=1)
    assert (read_two.last_read_message_index, read_two.unread_messages_count) == (1, 3)
    assert (
        client.conversations.v1.conversations(conversation).participants("alice").fetch().last_read_message_index == 1
    )
    assert view.update(last_read_message_index=4).unread_messages_count == 0
    client.conversations.v1.conversations(conversation).messages.create(body="new")
    assert view.fetch().unread_messages_count == 1
    listed = client.conversations.v1.users("alice").user_conversations.list()
    assert [(c.last_read_message_index, c.unread_messages_count) for c in listed] == [(4, 1)]


def test_read_horizon_set_through_the_participant_is_the_users(client: Client) -> None:
    conversation = conversation_with(client, "alice")
    for i in range(3):
        client.conversations.v1.conversations(conversation).messages.create(body=f"m{i}")
    client.conversations.v1.conversations(conversation).participants("alice").update(last_read_message_index=0)
    view = client.conversations.v1.users("alice").user_conversations(conversation).fetch()
    assert (view.last_read_message_index, view.unread_messages_count) == (0, 2)


def test_negative_last_read_index_is_refused(client: Client) -> None:
    conversation = conversation_with(client, "alice")
    view = client.conversations.v1.users("alice").user_conversations(conversation)
    assert_twilio_error(lambda: view.update(last_read_message_index=-1), 20001, 400)


def test_delete_leaves_the_conversation(client: Client) -> None:
    conversation = conversation_with(client, "alice", unique_name="room")
    client.conversations.v1.conversations("room").participants.create(identity="bob")
    assert client.conversations.v1.users("alice").user_conversations("room").delete() is True
    assert [p.identity for p in client.conversations.v1.conversations(conversation).participants.list()] == ["bob"]
    assert client.conversations.v1.users("alice").user_conversations.list() == []
    assert_twilio_error(
        lambda: client.conversations.v1.users("alice").user_conversations(conversation).fetch(), 20404, 404
    )
    # The user and the conversation remain.
    assert client.conversations.v1.users("alice").fetch().identity == "alice"
    assert client.conversations.v1.conversations(conversation).fetch().sid == conversation


def test_user_conversation_shows_the_conversations_state(client: Client) -> None:
    conversation = conversation_with(client, "alice")
    client.conversations.v1.conversations(conversation).update(state="inactive")
    view = client.conversations.v1.users("alice").user_conversations(conversation).fetch()
    assert view.conversation_state == "inactive"
    client.conversations.v1.conversations(conversation).update(state="closed")
    assert client.conversations.v1.users("alice").user_conversations.list()[0].conversation_state == "closed"


def test_service_scoped_user_conversations(client: Client, api: Api, live: LiveBridge) -> None:
    service = client.conversations.v1.services.create(friendly_name="Tenant")
    scoped = client.conversations.v1.services(service.sid)
    conversations = []
    for i in range(5):
        sid = scoped.conversations.create(unique_name=f"room{i}").sid
        scoped.conversations(sid).participants.create(identity="alice")
        conversations.append(sid)
    user = scoped.users("alice").fetch()
    assert [c.conversation_sid for c in scoped.users("alice").user_conversations.list(page_size=2)] == conversations
    pages = walk_pages(
        api, f"/v1/Services/{service.sid}/Users/{user.sid}/Conversations", "conversations", "conversation_sid"
    )
    assert flatten(pages) == conversations
    view = scoped.users("alice").user_conversations("room0").update(notification_level="muted")
    assert view.url == f"{live.url}/v1/Services/{service.sid}/Users/{user.sid}/Conversations/{conversations[0]}"
    assert view.chat_service_sid == service.sid
    assert scoped.users("alice").user_conversations("room0").delete() is True
    assert len(scoped.users("alice").user_conversations.list()) == 4
    # The default service knows no alice.
    assert_twilio_error(lambda: client.conversations.v1.users("alice").fetch(), 20404, 404)


def test_read_horizon_bounds_and_reset(client: Client, api: Api) -> None:
    conversation = conversation_with(client, "alice")
    client.conversations.v1.conversations(conversation).messages.create(body="m0")
    view = client.conversations.v1.users("alice").user_conversations(conversation)
    participant = client.conversations.v1.conversations(conversation).participants("alice")
    for too_big in (2**31, 2**63):
        assert_twilio_error(lambda n=too_big: view.update(last_read_message_index=n), 20001, 400)
        assert_twilio_error(lambda n=too_big: participant.update(last_read_message_index=n), 20001, 400)
    view.update(last_read_message_index=0)
    # An empty value clears the read horizon: nothing read, nothing counted.
    response = api.post(f"/v1/Users/alice/Conversations/{conversation}", {"LastReadMessageIndex": ""})
    assert response.status_code == 200, response.text
    assert (response.json()["last_read_message_index"], response.json()["unread_messages_count"]) == (None, None)
