"""The issue's acceptance test for push: a real Conversations SDK client registers for push with an FCM token;
with its socket open, an inbound SMS pushes nothing (the socket carries it); with its socket closed, the same
produces exactly one request at the fake FCM, with Twilio's fields. Everything is set up as an application would:
the credential and the service's settings over REST with the twilio client, the device through the SDK."""

from __future__ import annotations

from collections import Counter

from twilio.rest import Client

from bridge.chat import presence
from tests.integration import test_chat_sdk, test_push
from tests.integration.conftest import CUSTOMER, text_in
from tests.integration.test_chat_push_registration import connect_with_push
from tests.integration.test_chat_sdk import SUBSCRIBED, Chat, support_conversation
from tests.integration.test_push import Pushing, push_statuses
from tests.support.fake_carrier import FakeCarrier
from tests.support.waiting import eventually
from workers import coordination

# The chat suite's gateway, SDK driver and chat fixtures, and the push suite's fakes, shared rather than started
# a second way.
gateway, driver, chat = test_chat_sdk.gateway, test_chat_sdk.driver, test_chat_sdk.chat
fake_fcm, fake_apns, pushing = test_push.fake_fcm, test_push.fake_apns, test_push.pushing

DEVICE_TOKEN = "fcm-device-token-of-alice-0123456789"


def test_an_sdk_client_with_its_socket_closed_gets_one_fcm_push_for_an_inbound_sms_and_none_while_open(
    pushing: Pushing, chat: Chat, client: Client, sender_pool: dict[str, str], worker: FakeCarrier
) -> None:
    credential = client.conversations.v1.credentials.create(
        type="fcm", friendly_name="Firebase", secret=pushing.fcm.service_account_json()
    )
    settings = (
        client.conversations.v1.services(chat.service_sid)
        .configuration.notifications()
        .update(new_message_enabled=True, new_message_sound="default")
    )
    assert settings.new_message == {
        "enabled": True,
        "template": None,
        "sound": "default",
        "badge_count_enabled": False,
        "with_media": {"enabled": False, "template": None},
    }
    conversation_sid = support_conversation(client, sender_pool["sms"], "alice")
    connect_with_push(chat, "alice", credential.sid)
    assert chat.driver.run("alice", SUBSCRIBED) == [conversation_sid]  # loaded: what comes next is news to it
    chat.driver.set_push_registration_id("alice", "fcm", DEVICE_TOKEN)
    [binding] = client.conversations.v1.services(chat.service_sid).bindings.list()
    assert (binding.identity, binding.binding_type, binding.credential_sid) == ("alice", "fcm", credential.sid)

    # Socket open: the SDK hears of the message itself, and no push goes.
    text_in(pushing.live, worker, sender_pool["sms"], "are you there?")
    chat.driver.wait_event("alice", "messageAdded", lambda m: m["body"] == "are you there?")
    eventually(lambda: push_statuses(pushing.live) == Counter({"skipped": 1}), message="the push is skipped")
    assert pushing.fcm.snapshot() == []

    # Socket closed: the next inbound SMS is pushed, once.
    alice_sid = client.conversations.v1.users("alice").fetch().sid
    chat.driver.shutdown("alice")
    chat.names.remove("alice")
    eventually(lambda: not presence.is_online(coordination.shared(), alice_sid), message="alice goes offline")
    text_in(pushing.live, worker, sender_pool["sms"], "hello? I need help with my order")
    [request] = pushing.fcm.wait_for(1)
    eventually(lambda: push_statuses(pushing.live) == Counter({"skipped": 1, "sent": 1}))
    assert request.token == DEVICE_TOKEN
    assert request.headers["Authorization"].startswith("Bearer ya29.fake-")  # the token from the JWT grant
    [message] = client.conversations.v1.conversations(conversation_sid).messages.list(order="desc", limit=1)
    assert request.body["message"]["data"] == {
        "twi_message_type": "twilio.conversations.new_message",
        "twi_body": f"Support:{CUSTOMER}: hello? I need help with my order",
        "twi_sound": "default",
        "conversation_sid": conversation_sid,
        "conversation_title": "Support",
        "message_sid": message.sid,
        "message_index": str(message.index),
        "author": CUSTOMER,
    }
    test_push.settle_pushes(pushing.live)
    assert len(pushing.fcm.snapshot()) == 1  # exactly one FCM request
