"""Pre-event webhooks: asked before the change, within Twilio's 5 s; they reject (4xx/5xx), modify (200 with
JSON) or let it be (200, empty). REST writes ask only with X-Twilio-Webhook-Enabled; an inbound SMS always asks,
is held meanwhile (the carrier still gets its 200 at once), and a rejected one is kept for admins."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from twilio.rest import Client

from bridge.models import Message, UnroutedMessage
from tests.integration.conftest import Api
from tests.integration.twilio_checks import assert_error_body, assert_twilio_error
from tests.support.fake_carrier import FakeCarrier
from tests.support.live import LiveBridge
from tests.support.waiting import eventually
from tests.support.webhook_receiver import Answer, Received, WebhookReceiver

ALICE, BOB = "+14155550101", "+14155550102"
ENABLED = {"x_twilio_webhook_enabled": "true"}
REJECTED = 20403


@pytest.fixture
def receiver(live: LiveBridge, worker: FakeCarrier) -> Iterator[WebhookReceiver]:
    """The application's receiver, with the workers that call it running."""
    hooks = WebhookReceiver(live.auth_token)
    yield hooks
    hooks.stop()


def ask_first(client: Client, receiver: WebhookReceiver, filters: list[str], post: list[str] | None = None) -> None:
    client.conversations.v1.configuration.webhooks().update(
        pre_webhook_url=receiver.url("/pre"),
        post_webhook_url=receiver.url("/post"),
        filters=filters + (post or []),
        method="POST",
        target="webhook",
    )


def answering(receiver: WebhookReceiver, event_type: str, answer: Answer) -> None:
    receiver.answer = lambda request: answer if request.event_type == event_type else Answer()


def stored_bodies(live: LiveBridge) -> list[str | None]:
    with live.database.transaction() as session:
        return list(session.scalars(select(Message.body).order_by(Message.id)))


def test_a_rejection_stops_the_rest_write_with_twilios_error(
    live: LiveBridge, client: Client, receiver: WebhookReceiver
) -> None:
    ask_first(client, receiver, ["onMessageAdd"])
    answering(receiver, "onMessageAdd", Answer(403))
    conversation = client.conversations.v1.conversations.create()
    error = assert_twilio_error(
        lambda: conversation.messages.create(author="agent", body="not allowed", **ENABLED), REJECTED, 403
    )
    assert "onMessageAdd" in error.msg
    assert stored_bodies(live) == []
    [asked] = receiver.requests("onMessageAdd")
    assert asked.signature_valid and asked.path == "/pre"
    assert asked.fields["Body"] == "not allowed" and asked.fields["Author"] == "agent"
    assert asked.fields["ConversationSid"] == conversation.sid and asked.fields["Source"] == "API"
    assert asked.fields["AccountSid"] == live.account_sid


def test_without_the_header_a_rest_write_asks_nobody(
    live: LiveBridge, client: Client, receiver: WebhookReceiver
) -> None:
    ask_first(client, receiver, ["onMessageAdd"])
    answering(receiver, "onMessageAdd", Answer(403))
    conversation = client.conversations.v1.conversations.create()
    conversation.messages.create(author="agent", body="unasked")
    assert stored_bodies(live) == ["unasked"] and receiver.requests() == []


def test_a_modifying_answer_changes_what_is_stored_and_delivered(
    live: LiveBridge, client: Client, receiver: WebhookReceiver, worker: FakeCarrier, sender_pool: dict[str, str]
) -> None:
    ask_first(client, receiver, ["onMessageAdd"], post=["onMessageAdded"])
    answering(receiver, "onMessageAdd", Answer(200, {"body": "[redacted]", "attributes": {"moderated": True}}))
    conversation = client.conversations.v1.conversations.create()
    conversation.participants.create(messaging_binding_address=BOB, messaging_binding_proxy_address=sender_pool["sms"])
    message = conversation.messages.create(author="agent", body="my card is 4111...", **ENABLED)
    assert message.body == "[redacted]" and message.attributes == '{"moderated": true}'
    [send] = worker.wait_for(1)
    assert send.body == "[redacted]"
    [posted] = eventually(lambda: receiver.requests("onMessageAdded"))
    assert posted.fields["Body"] == "[redacted]"


def test_an_empty_answer_publishes_unchanged(live: LiveBridge, client: Client, receiver: WebhookReceiver) -> None:
    ask_first(client, receiver, ["onConversationAdd", "onConversationUpdate"])
    receiver.answer = lambda _request: Answer(200, {})
    conversation = client.conversations.v1.conversations.create(friendly_name="as asked", **ENABLED)
    assert conversation.friendly_name == "as asked"
    [asked] = receiver.requests("onConversationAdd")
    assert (
        asked.fields["FriendlyName"] == "as asked" and asked.fields["ChatServiceSid"] == conversation.chat_service_sid
    )


def test_a_replacement_that_fails_validation_is_the_callers_error(
    live: LiveBridge, client: Client, receiver: WebhookReceiver
) -> None:
    ask_first(client, receiver, ["onConversationUpdate"])
    answering(receiver, "onConversationUpdate", Answer(200, {"attributes": "{not json"}))
    conversation = client.conversations.v1.conversations.create(friendly_name="before")
    assert_twilio_error(lambda: conversation.update(friendly_name="after", **ENABLED), 50304, 400)
    assert client.conversations.v1.conversations(conversation.sid).fetch().friendly_name == "before"


def test_a_receiver_that_sleeps_costs_the_caller_five_seconds_and_publishes(
    live: LiveBridge, client: Client, receiver: WebhookReceiver
) -> None:
    ask_first(client, receiver, ["onMessageAdd"])
    answering(receiver, "onMessageAdd", Answer(403, delay=10))  # its rejection comes too late to count
    conversation = client.conversations.v1.conversations.create()
    started = time.monotonic()
    conversation.messages.create(author="agent", body="waited for", **ENABLED)
    elapsed = time.monotonic() - started
    assert 4.5 <= elapsed < 8, elapsed
    assert stored_bodies(live) == ["waited for"]


def test_removals_and_participant_and_user_changes_can_be_rejected(
    live: LiveBridge, client: Client, receiver: WebhookReceiver, sender_pool: dict[str, str], api: Api
) -> None:
    ask_first(client, receiver, ["onMessageRemove", "onParticipantAdd", "onParticipantRemove", "onUserUpdate"])
    receiver.answer = lambda _request: Answer(409)
    conversation = client.conversations.v1.conversations.create()
    message = conversation.messages.create(author="agent", body="keep me")
    # twilio-python drops X-Twilio-Webhook-Enabled from DELETE requests: raw HTTP carries it.
    refused = api.delete(message.url.removeprefix(api.base), headers={"X-Twilio-Webhook-Enabled": "true"})
    assert_error_body(refused, REJECTED, 403)
    assert stored_bodies(live) == ["keep me"]
    assert_twilio_error(
        lambda: conversation.participants.create(
            messaging_binding_address=BOB, messaging_binding_proxy_address=sender_pool["sms"], **ENABLED
        ),
        REJECTED,
        403,
    )
    assert conversation.participants.list() == []
    agent = conversation.participants.create(identity="agent")
    refused = api.delete(agent.url.removeprefix(api.base), headers={"X-Twilio-Webhook-Enabled": "true"})
    assert_error_body(refused, REJECTED, 403)
    user = client.conversations.v1.users("agent").fetch()
    assert_twilio_error(lambda: user.update(friendly_name="Agent", **ENABLED), REJECTED, 403)
    asked = [r.event_type for r in receiver.requests()]
    assert asked == ["onMessageRemove", "onParticipantAdd", "onParticipantRemove", "onUserUpdate"]
    participant_add = receiver.requests("onParticipantAdd")[0].fields
    assert participant_add["MessagingBinding.Address"] == BOB and participant_add["MessagingBinding.Type"] == "SMS"


def in_room(client: Client, sender_pool: dict[str, str]) -> str:
    conversation = client.conversations.v1.conversations.create()
    for address in (ALICE, BOB):
        conversation.participants.create(
            messaging_binding_address=address, messaging_binding_proxy_address=sender_pool["sms"]
        )
    return conversation.sid


def kept(live: LiveBridge) -> list[tuple[str, str | None]]:
    with live.database.transaction() as session:
        return [(row.status, row.body) for row in session.scalars(select(UnroutedMessage).order_by(UnroutedMessage.id))]


def test_an_inbound_sms_the_webhook_rejects_is_kept_and_the_carrier_still_gets_200(
    live: LiveBridge, client: Client, receiver: WebhookReceiver, worker: FakeCarrier, sender_pool: dict[str, str]
) -> None:
    ask_first(client, receiver, ["onMessageAdd"])
    answering(receiver, "onMessageAdd", Answer(403))
    in_room(client, sender_pool)
    response = worker.post_inbound(live.url, worker.inbound_params(ALICE, sender_pool["sms"], "spam spam"))
    assert response.status_code == 200 and "<Response>" in response.text
    eventually(lambda: kept(live) == [("rejected", "spam spam")])
    assert stored_bodies(live) == [] and worker.snapshot() == []
    [asked] = receiver.requests("onMessageAdd")
    assert asked.fields["Source"] == "SMS" and asked.fields["Author"] == ALICE and asked.signature_valid


def test_an_inbound_sms_the_webhook_modifies_goes_out_modified(
    live: LiveBridge, client: Client, receiver: WebhookReceiver, worker: FakeCarrier, sender_pool: dict[str, str]
) -> None:
    ask_first(client, receiver, ["onMessageAdd"])
    answering(receiver, "onMessageAdd", Answer(200, {"body": "hello (translated)"}))
    in_room(client, sender_pool)
    first = worker.inbound_params(ALICE, sender_pool["sms"], "bonjour")
    worker.post_inbound(live.url, first)
    worker.post_inbound(live.url, first)  # the carrier's retry: still one message
    [send] = worker.wait_for(1)
    assert send.to_address == BOB and send.body == "hello (translated)"
    eventually(lambda: kept(live) == [("routed", "bonjour")])
    assert stored_bodies(live) == ["hello (translated)"]


def test_held_messages_of_one_sender_are_added_in_arrival_order(
    live: LiveBridge, client: Client, receiver: WebhookReceiver, worker: FakeCarrier, sender_pool: dict[str, str]
) -> None:
    ask_first(client, receiver, ["onMessageAdd"])
    receiver.answer = lambda _request: Answer(200, delay=0.05)
    in_room(client, sender_pool)
    for n in range(6):
        worker.post_inbound(live.url, worker.inbound_params(ALICE, sender_pool["sms"], f"part {n}"))
    eventually(lambda: len(stored_bodies(live)) == 6)
    assert stored_bodies(live) == [f"part {n}" for n in range(6)]
    assert [r.fields["Body"] for r in receiver.requests()] == [f"part {n}" for n in range(6)]


def test_autocreation_asks_on_conversation_add_then_fires_in_twilios_order(
    live: LiveBridge, client: Client, receiver: WebhookReceiver, worker: FakeCarrier, sender_pool: dict[str, str]
) -> None:
    ask_first(
        client,
        receiver,
        ["onConversationAdd", "onMessageAdd", "onParticipantAdd"],
        post=["onConversationAdded", "onParticipantAdded", "onMessageAdded"],
    )
    answering(receiver, "onConversationAdd", Answer(200, {"friendly_name": "Ticket from Alice"}))
    client.conversations.v1.address_configurations.create(
        type="sms", address=sender_pool["sms"], auto_creation_enabled=True, auto_creation_type="default"
    )
    worker.post_inbound(live.url, worker.inbound_params(ALICE, sender_pool["sms"], "I need help"))
    eventually(lambda: len(receiver.requests()) >= 4)
    asked: Received = receiver.requests()[0]
    assert asked.event_type == "onConversationAdd" and asked.path == "/pre"
    assert asked.fields["MessageBody"] == "I need help" and asked.fields["MessagingBinding.Address"] == ALICE
    assert asked.fields["MessagingBinding.ProxyAddress"] == sender_pool["sms"] and asked.fields["Source"] == "SMS"
    assert [r.event_type for r in receiver.requests()] == [
        "onConversationAdd",
        "onConversationAdded",
        "onParticipantAdded",
        "onMessageAdded",
    ]  # onParticipantAdd and onMessageAdd are not asked during autocreation, as on Twilio
    added = receiver.requests("onConversationAdded")[0].fields
    assert added["FriendlyName"] == "Ticket from Alice" and added["MessagingBinding.Address"] == ALICE
    [conversation] = client.conversations.v1.conversations.list()
    assert conversation.friendly_name == "Ticket from Alice"


def test_autocreation_rejected_makes_no_conversation(
    live: LiveBridge, client: Client, receiver: WebhookReceiver, worker: FakeCarrier, sender_pool: dict[str, str]
) -> None:
    ask_first(client, receiver, ["onConversationAdd"])
    answering(receiver, "onConversationAdd", Answer(500))
    client.conversations.v1.address_configurations.create(
        type="sms", address=sender_pool["sms"], auto_creation_enabled=True, auto_creation_type="default"
    )
    worker.post_inbound(live.url, worker.inbound_params(ALICE, sender_pool["sms"], "let me in"))
    eventually(lambda: kept(live) == [("rejected", "let me in")])
    assert client.conversations.v1.conversations.list() == []
