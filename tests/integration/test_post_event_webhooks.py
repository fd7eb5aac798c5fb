"""Post-event webhooks, as Twilio Conversations sends them, received by a real HTTP receiver on loopback that
checks every request with twilio's RequestValidator: which actions fire, the payload of every event, the
levels and their filters, conversation-scoped webhooks, GET and POST, retries, order."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from twilio.rest import Client

from bridge import accounts, events
from bridge.conversations import find_conversation
from bridge.db import Database
from bridge.event_fields import FIELDS_OF_EVENT
from bridge.messages import NewMessage, append_message
from tests.integration.conftest import Api
from tests.integration.twilio_checks import assert_twilio_error
from tests.support.fake_carrier import Failure, FakeCarrier
from tests.support.live import LiveBridge
from tests.support.scrape import Scrape, scrape
from tests.support.waiting import eventually
from tests.support.webhook_receiver import Answer, Received, WebhookReceiver

ALICE, BOB = "+14155550101", "+14155550102"
WALTER = "whatsapp:+14155550104"
ENABLED = {"x_twilio_webhook_enabled": "true"}
COMMON = {"AccountSid", "EventType", "Source", "RetryCount"}
ALL_POST_EVENTS = list(FIELDS_OF_EVENT)


@pytest.fixture
def receiver(live: LiveBridge, worker: FakeCarrier) -> Iterator[WebhookReceiver]:
    """The application's receiver, with the workers that call it running."""
    hooks = WebhookReceiver(live.auth_token)
    yield hooks
    hooks.stop()


def subscribe(client: Client, receiver: WebhookReceiver, filters: list[str], method: str = "POST") -> None:
    client.conversations.v1.configuration.webhooks().update(
        post_webhook_url=receiver.url(), filters=filters, method=method, target="webhook"
    )


def only(receiver: WebhookReceiver, event_type: str, count: int = 1, timeout: float = 20) -> list[Received]:
    """Waits for `count` requests of `event_type` and returns them."""
    return eventually(lambda: (got := receiver.requests(event_type)) and len(got) >= count and got, timeout=timeout)


def assert_twilio_shaped(request: Received) -> None:
    assert request.signature_valid, f"{request.event_type}: X-Twilio-Signature does not validate"
    assert request.headers.get("I-Twilio-Idempotency-Token")
    allowed = COMMON | {"ClientIdentity"} | set(FIELDS_OF_EVENT[request.event_type])
    assert set(request.fields) <= allowed, set(request.fields) - allowed


def test_rest_writes_fire_only_with_x_twilio_webhook_enabled(
    live: LiveBridge, client: Client, receiver: WebhookReceiver
) -> None:
    subscribe(client, receiver, ["onConversationAdded", "onMessageAdded"])
    quiet = client.conversations.v1.conversations.create(friendly_name="quiet")
    quiet.messages.create(author="agent", body="no echo")
    loud = client.conversations.v1.conversations.create(friendly_name="loud", **ENABLED)
    loud.messages.create(author="agent", body="echo", **ENABLED)
    only(receiver, "onMessageAdded")
    assert [r.fields["ConversationSid"] for r in receiver.requests("onConversationAdded")] == [loud.sid]
    [added] = receiver.requests("onMessageAdded")
    assert added.fields["Body"] == "echo" and added.fields["Source"] == "API"


def delete_with_webhooks(api: Api, url: str) -> None:
    """twilio-python drops X-Twilio-Webhook-Enabled from DELETE requests (its generated `_delete` replaces the
    headers it built), so a delete that should fire webhooks is sent as raw HTTP."""
    response = api.delete(url.removeprefix(api.base), headers={"X-Twilio-Webhook-Enabled": "true"})
    assert response.status_code == 204, response.text


def test_every_event_of_a_conversations_life_has_twilios_fields(
    live: LiveBridge, client: Client, receiver: WebhookReceiver, sender_pool: dict[str, str], api: Api
) -> None:
    subscribe(client, receiver, ALL_POST_EVENTS)
    conversation = client.conversations.v1.conversations.create(
        friendly_name="life", unique_name="life-1", attributes='{"a":1}', **ENABLED
    )
    conversation.update(friendly_name="renamed", **ENABLED)
    agent = conversation.participants.create(identity="agent-alice", attributes='{"team":"x"}', **ENABLED)
    agent.update(attributes='{"team":"y"}', **ENABLED)
    sms = conversation.participants.create(
        messaging_binding_address=ALICE, messaging_binding_proxy_address=sender_pool["sms"], **ENABLED
    )
    message = conversation.messages.create(author="agent-alice", body="hello", attributes='{"m":1}', **ENABLED)
    message.update(body="hello again", **ENABLED)
    delete_with_webhooks(api, message.url)
    delete_with_webhooks(api, sms.url)
    conversation.update(state="closed", **ENABLED)
    delete_with_webhooks(api, conversation.url)

    removed = only(receiver, "onConversationRemoved")[0]
    for request in receiver.requests():
        assert_twilio_shaped(request)
        assert request.fields["Source"] == "API"
        assert request.fields["AccountSid"] == live.account_sid
    # The conversation's events in their order. The user's (created as the identity joined) are a stream of their
    # own, so they keep no order with the conversation's; the SMS participant's receipts come when the carrier says.
    types = [r.event_type for r in receiver.requests() if r.event_type not in ("onUserAdded", "onDeliveryUpdated")]
    assert types == [
        "onConversationAdded",
        "onConversationUpdated",
        "onParticipantAdded",
        "onParticipantUpdated",
        "onParticipantAdded",
        "onMessageAdded",
        "onMessageUpdated",
        "onMessageRemoved",
        "onParticipantRemoved",
        "onConversationUpdated",
        "onConversationStateUpdated",
        "onConversationRemoved",
    ]
    by_type = {r.event_type: r.fields for r in reversed(receiver.requests())}  # the first of each type
    added = by_type["onConversationAdded"]
    assert added["ConversationSid"] == conversation.sid and added["FriendlyName"] == "life"
    assert added["UniqueName"] == "life-1" and added["Attributes"] == '{"a":1}' and added["State"] == "active"
    assert added["ChatServiceSid"] == conversation.chat_service_sid
    assert added["MessagingServiceSid"] == conversation.messaging_service_sid
    assert added["DateCreated"].endswith("Z") and "." in added["DateCreated"]  # milliseconds, as Twilio writes
    assert by_type["onConversationUpdated"]["FriendlyName"] == "renamed"
    participant = by_type["onParticipantAdded"]
    assert participant["ParticipantSid"] == agent.sid and participant["Identity"] == "agent-alice"
    assert participant["MessagingBinding.Type"] == "CHAT" and participant["Attributes"] == '{"team":"x"}'
    assert participant["RoleSid"] == agent.role_sid
    assert by_type["onParticipantUpdated"]["Attributes"] == '{"team":"y"}'
    bound = receiver.requests("onParticipantAdded")[1].fields
    assert bound["MessagingBinding.Address"] == ALICE and bound["MessagingBinding.ProxyAddress"] == sender_pool["sms"]
    assert bound["MessagingBinding.Type"] == "SMS"
    message_added = by_type["onMessageAdded"]
    assert message_added["MessageSid"] == message.sid and message_added["Index"] == "0"
    assert message_added["Author"] == "agent-alice" and message_added["Body"] == "hello"
    assert message_added["ParticipantSid"] == agent.sid and message_added["Attributes"] == '{"m":1}'
    assert by_type["onMessageUpdated"]["Body"] == "hello again" and "DateUpdated" in by_type["onMessageUpdated"]
    assert by_type["onMessageRemoved"]["Body"] == "hello again" and "DateRemoved" in by_type["onMessageRemoved"]
    assert "DateRemoved" in by_type["onParticipantRemoved"]
    state = by_type["onConversationStateUpdated"]
    assert (state["StateFrom"], state["StateTo"], state["Reason"]) == ("active", "closed", "API")
    assert removed.fields["State"] == "closed" and "DateRemoved" in removed.fields
    user = by_type["onUserAdded"]
    assert user["Identity"] == "agent-alice" and user["UserSid"].startswith("US")


def test_users_fire_their_own_events(live: LiveBridge, client: Client, receiver: WebhookReceiver) -> None:
    subscribe(client, receiver, ["onUserAdded", "onUserUpdated"])
    user = client.conversations.v1.users.create(identity="bea", friendly_name="Bea", **ENABLED)
    user.update(friendly_name="Beatrice", **ENABLED)
    updated = only(receiver, "onUserUpdated")[0]
    [added] = receiver.requests("onUserAdded")
    assert added.fields["FriendlyName"] == "Bea" and added.fields["UserSid"] == user.sid
    assert updated.fields["FriendlyName"] == "Beatrice" and "DateUpdated" in updated.fields
    assert_twilio_shaped(added)
    assert_twilio_shaped(updated)


def room(client: Client, sender_pool: dict[str, str]) -> str:
    conversation = client.conversations.v1.conversations.create(friendly_name="room")
    for address in (ALICE, BOB):
        conversation.participants.create(
            messaging_binding_address=address, messaging_binding_proxy_address=sender_pool["sms"]
        )
    return conversation.sid


def test_an_inbound_sms_fires_with_source_sms_and_its_receipts_follow(
    live: LiveBridge, client: Client, receiver: WebhookReceiver, worker: FakeCarrier, sender_pool: dict[str, str]
) -> None:
    subscribe(client, receiver, ["onMessageAdded", "onDeliveryUpdated"])
    sid = room(client, sender_pool)
    worker.post_inbound(live.url, worker.inbound_params(ALICE, sender_pool["sms"], "from a phone"))
    only(receiver, "onDeliveryUpdated", count=2)  # Bob's receipt: sent, then delivered
    [added] = receiver.requests("onMessageAdded")
    assert added.fields["Source"] == "SMS" and added.fields["Author"] == ALICE
    assert added.fields["ConversationSid"] == sid and added.fields["Body"] == "from a phone"
    receipts = receiver.requests("onDeliveryUpdated")
    assert [r.fields["Status"] for r in receipts] == ["sent", "delivered"]
    [send] = worker.snapshot()
    for receipt in receipts:
        assert_twilio_shaped(receipt)
        assert receipt.fields["MessageSid"] == added.fields["MessageSid"]
        assert receipt.fields["ChannelMessageSid"] == send.sid
        assert receipt.fields["DeliveryReceiptSid"].startswith("DY")
    assert receiver.requests()[0].event_type == "onMessageAdded"  # the message before its receipts


def test_a_failed_delivery_reports_its_error_code(
    live: LiveBridge, client: Client, receiver: WebhookReceiver, worker: FakeCarrier, sender_pool: dict[str, str]
) -> None:
    subscribe(client, receiver, ["onDeliveryUpdated"])
    room(client, sender_pool)
    worker.policy = lambda params: Failure(400, 21211, "Invalid 'To' Phone Number") if params["To"] == BOB else None
    worker.post_inbound(live.url, worker.inbound_params(ALICE, sender_pool["sms"], "to nobody"))
    [failed] = only(receiver, "onDeliveryUpdated")
    assert failed.fields["Status"] == "failed" and failed.fields["ErrorCode"] == "21211"


def test_whatsapp_messages_fire_with_source_whatsapp(
    live: LiveBridge, client: Client, receiver: WebhookReceiver, worker: FakeCarrier, sender_pool: dict[str, str]
) -> None:
    subscribe(client, receiver, ["onMessageAdded"])
    conversation = client.conversations.v1.conversations.create()
    conversation.participants.create(
        messaging_binding_address=WALTER, messaging_binding_proxy_address=sender_pool["whatsapp"]
    )
    worker.post_inbound(live.url, worker.inbound_params(WALTER, sender_pool["whatsapp"], "hola"))
    [added] = only(receiver, "onMessageAdded")
    assert added.fields["Source"] == "WHATSAPP" and added.fields["Author"] == WALTER


def test_filters_gate_what_fires(live: LiveBridge, client: Client, receiver: WebhookReceiver) -> None:
    subscribe(client, receiver, ["onMessageAdded"])
    conversation = client.conversations.v1.conversations.create(**ENABLED)
    conversation.update(friendly_name="x", **ENABLED)
    conversation.messages.create(author="a", body="b", **ENABLED)
    only(receiver, "onMessageAdded")
    assert [r.event_type for r in receiver.requests()] == ["onMessageAdded"]


def test_a_service_with_its_own_targets_replaces_the_accounts(live: LiveBridge, client: Client) -> None:
    account_hooks, service_hooks = WebhookReceiver(live.auth_token), WebhookReceiver(live.auth_token)
    try:
        subscribe(client, account_hooks, ["onMessageAdded"])
        other = client.conversations.v1.services.create(friendly_name="other")
        client.conversations.v1.services(other.sid).configuration.webhooks().update(
            post_webhook_url=service_hooks.url(), filters=["onMessageAdded"], method="POST"
        )
        default_room = client.conversations.v1.conversations.create()
        other_room = client.conversations.v1.services(other.sid).conversations.create()
        default_room.messages.create(author="a", body="in the default service", **ENABLED)
        other_room.messages.create(author="a", body="in the other service", **ENABLED)
        only(service_hooks, "onMessageAdded")
        only(account_hooks, "onMessageAdded")
        assert [r.fields["Body"] for r in account_hooks.requests()] == ["in the default service"]
        assert [r.fields["Body"] for r in service_hooks.requests()] == ["in the other service"]
        assert service_hooks.requests()[0].fields["ChatServiceSid"] == other.sid
    finally:
        account_hooks.stop()
        service_hooks.stop()


def test_get_webhooks_carry_their_fields_in_the_signed_query_string(
    live: LiveBridge, client: Client, receiver: WebhookReceiver
) -> None:
    subscribe(client, receiver, ["onMessageAdded"], method="GET")
    conversation = client.conversations.v1.conversations.create()
    conversation.messages.create(author="a", body="x & y = z?", **ENABLED)
    [added] = only(receiver, "onMessageAdded")
    assert added.method == "GET" and added.signature_valid
    assert added.fields["Body"] == "x & y = z?"


def test_conversation_scoped_webhooks_filter_trigger_and_studio(
    live: LiveBridge, client: Client, receiver: WebhookReceiver
) -> None:
    conversation = client.conversations.v1.conversations.create()
    scoped = conversation.webhooks.create(
        target="webhook",
        configuration_url=receiver.url("/scoped"),
        configuration_method="POST",
        configuration_filters=["onMessageAdded", "onParticipantAdded"],
    )
    trigger = conversation.webhooks.create(
        target="trigger",
        configuration_url=receiver.url("/trigger"),
        configuration_method="POST",
        configuration_triggers=["help", "agent please"],
    )
    studio = conversation.webhooks.create(
        target="studio", configuration_flow_sid="FW" + "0" * 32, configuration_url=receiver.url("/studio")
    )
    for body in ("hello", "Help me", "helpful", "AGENT PLEASE!"):
        conversation.messages.create(author="a", body=body, **ENABLED)
    conversation.participants.create(identity="z", **ENABLED)
    eventually(lambda: len(receiver.requests()) >= 5 + 2 + 4)

    def bodies(path: str) -> list[str | None]:
        return [r.fields.get("Body") for r in receiver.requests() if r.path == path]

    assert bodies("/scoped") == ["hello", "Help me", "helpful", "AGENT PLEASE!", None]  # + onParticipantAdded
    assert bodies("/trigger") == ["Help me", "AGENT PLEASE!"]
    assert bodies("/studio") == ["hello", "Help me", "helpful", "AGENT PLEASE!"]
    for request in receiver.requests():
        assert request.signature_valid
        expected = {"/scoped": scoped.sid, "/trigger": trigger.sid, "/studio": studio.sid}[request.path]
        assert request.fields["WebhookSid"] == expected


def test_autocreation_with_a_webhook_gives_the_new_conversation_its_scoped_webhook(
    live: LiveBridge, client: Client, receiver: WebhookReceiver, worker: FakeCarrier, sender_pool: dict[str, str]
) -> None:
    client.conversations.v1.address_configurations.create(
        type="sms",
        address=sender_pool["sms"],
        auto_creation_enabled=True,
        auto_creation_type="webhook",
        auto_creation_webhook_url=receiver.url("/autocreated"),
        auto_creation_webhook_method="POST",
        auto_creation_webhook_filters=["onParticipantAdded", "onMessageAdded"],
    )
    worker.post_inbound(live.url, worker.inbound_params(ALICE, sender_pool["sms"], "new here"))
    eventually(lambda: len(receiver.requests()) >= 2)
    assert [r.event_type for r in receiver.requests()] == ["onParticipantAdded", "onMessageAdded"]
    participant, message = receiver.requests()
    assert participant.fields["MessagingBinding.Address"] == ALICE and message.fields["Source"] == "SMS"
    [scoped] = client.conversations.v1.conversations(message.fields["ConversationSid"]).webhooks.list()
    assert scoped.target == "webhook" and scoped.configuration["url"] == receiver.url("/autocreated")


def test_a_failing_receiver_is_retried_with_the_same_idempotency_token(
    live: LiveBridge, client: Client, receiver: WebhookReceiver, worker: FakeCarrier
) -> None:
    answers = iter([Answer(500), Answer(429), Answer(200)])
    receiver.answer = lambda _request: next(answers, Answer(200))
    subscribe(client, receiver, ["onMessageAdded"])
    conversation = client.conversations.v1.conversations.create()
    conversation.messages.create(author="a", body="third time lucky", **ENABLED)
    attempts = only(receiver, "onMessageAdded", count=3)
    assert [r.fields["RetryCount"] for r in attempts] == ["0", "1", "2"]
    assert len({r.headers["I-Twilio-Idempotency-Token"] for r in attempts}) == 1
    assert all(r.signature_valid for r in attempts)


def test_a_4xx_answer_fails_the_call_at_once_and_the_line_goes_on(
    live: LiveBridge, client: Client, receiver: WebhookReceiver, worker: FakeCarrier
) -> None:
    receiver.answer = lambda request: Answer(404 if request.fields.get("Body") == "first" else 200)
    subscribe(client, receiver, ["onMessageAdded"])
    conversation = client.conversations.v1.conversations.create()
    conversation.messages.create(author="a", body="first", **ENABLED)
    conversation.messages.create(author="a", body="second", **ENABLED)
    only(receiver, "onMessageAdded", count=2)
    assert [r.fields["Body"] for r in receiver.requests()] == ["first", "second"]  # tried once, then the next


def test_a_slow_receiver_gets_each_conversations_events_in_order(
    live: LiveBridge, client: Client, receiver: WebhookReceiver, worker: FakeCarrier
) -> None:
    receiver.answer = lambda request: (
        Answer(500)
        if request.fields.get("Index") == "3" and request.fields["RetryCount"] == "0"
        else Answer(200, delay=0.02)
    )
    subscribe(client, receiver, ["onMessageAdded"])
    rooms = [client.conversations.v1.conversations.create() for _ in range(3)]
    for n in range(8):
        for conversation in rooms:
            conversation.messages.create(author="a", body=f"{n}", **ENABLED)
    only(receiver, "onMessageAdded", count=3 * 8 + 3, timeout=40)  # index 3 of each twice
    for conversation in rooms:
        first_arrivals: list[int] = []
        for request in receiver.requests():
            index = int(request.fields["Index"])
            if request.fields["ConversationSid"] == conversation.sid and index not in first_arrivals:
                first_arrivals.append(index)
        assert first_arrivals == list(range(8))  # index 3 failed once: 4..7 waited for its retry


def test_media_is_described_in_the_payload(
    live: LiveBridge, client: Client, receiver: WebhookReceiver, api: Api
) -> None:
    subscribe(client, receiver, ["onMessageAdded"])
    service = client.conversations.v1.configuration().fetch().default_chat_service_sid
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 32
    media_sid = api.post(f"/v1/Services/{service}/Media", data=png, headers={"Content-Type": "image/png"}).json()["sid"]
    conversation = client.conversations.v1.conversations.create()
    conversation.messages.create(author="a", media_sid=media_sid, **ENABLED)
    [added] = only(receiver, "onMessageAdded")
    [item] = json.loads(added.fields["Media"])
    assert item["Sid"] == media_sid and item["ContentType"] == "image/png"


def test_replay_after_sends_earlier_messages_to_a_new_scoped_webhook_first(
    live: LiveBridge, client: Client, receiver: WebhookReceiver
) -> None:
    conversation = client.conversations.v1.conversations.create()
    for body in ("zero", "one", "two"):
        conversation.messages.create(author="a", body=body)  # no webhook existed, and none would fire for these
    conversation.webhooks.create(
        target="webhook",
        configuration_url=receiver.url(),
        configuration_method="POST",
        configuration_filters=["onMessageAdded"],
        configuration_replay_after=1,
    )
    conversation.messages.create(author="a", body="three", **ENABLED)
    only(receiver, "onMessageAdded", count=3)
    assert [(r.fields["Index"], r.fields["Body"]) for r in receiver.requests()] == [
        ("1", "one"),
        ("2", "two"),
        ("3", "three"),
    ]
    assert all(r.signature_valid and r.fields["WebhookType"] == "webhook" for r in receiver.requests())


def test_a_dead_receiver_never_blocks_another_target(live: LiveBridge, client: Client, worker: FakeCarrier) -> None:
    dead, alive = WebhookReceiver(live.auth_token), WebhookReceiver(live.auth_token)
    dead.answer = lambda _request: Answer(503)
    try:
        subscribe(client, dead, ["onMessageAdded"])
        conversation = client.conversations.v1.conversations.create()
        conversation.webhooks.create(
            target="webhook", configuration_url=alive.url(), configuration_filters=["onMessageAdded"]
        )
        for n in range(5):
            conversation.messages.create(author="a", body=str(n), **ENABLED)
        only(alive, "onMessageAdded", count=5)
        assert [r.fields["Body"] for r in alive.requests()] == ["0", "1", "2", "3", "4"]
        # Its line runs beside the other one: wait for its first call, then find only that (it waits on its retries).
        assert eventually(lambda: {r.fields["Body"] for r in dead.requests()}) == {"0"}
    finally:
        dead.stop()
        alive.stop()


def test_metrics_count_webhook_attempts_their_lag_and_pre_event_verdicts(
    live: LiveBridge, client: Client, receiver: WebhookReceiver
) -> None:
    before = scrape(live.url, live.settings.metrics_token)
    answers = iter([Answer(503), Answer(200)])
    receiver.answer = lambda request: next(answers, Answer(200)) if request.path == "/hooks" else Answer(403)
    client.conversations.v1.configuration.webhooks().update(
        pre_webhook_url=receiver.url("/pre"),
        post_webhook_url=receiver.url(),
        filters=["onMessageAdded", "onMessageAdd"],
        method="POST",
    )
    conversation = client.conversations.v1.conversations.create()
    conversation.messages.create(author="a", body="counted")  # no header: neither asked nor told
    refused = client.conversations.v1.conversations(conversation.sid).messages
    assert_twilio_error(lambda: refused.create(author="a", body="no", **ENABLED), 20403, 403)
    receiver.answer = lambda request: next(answers, Answer(200)) if request.path == "/hooks" else Answer(200)
    conversation.messages.create(author="a", body="told", **ENABLED)
    only(receiver, "onMessageAdded", count=2)

    def grown() -> Scrape:
        return scrape(live.url, live.settings.metrics_token).since(before)

    counted = eventually(lambda: (now := grown()).total("bridge_conversation_webhooks_total") >= 2 and now)
    assert counted.total("bridge_conversation_webhooks_total", event_type="onMessageAdded", outcome="retried") == 1
    assert counted.total("bridge_conversation_webhooks_total", event_type="onMessageAdded", outcome="delivered") == 1
    assert counted.total("bridge_conversation_webhook_lag_seconds_count", event_type="onMessageAdded") == 1
    assert counted.total("bridge_pre_event_webhooks_total", event_type="onMessageAdd", verdict="rejected") == 1
    assert counted.total("bridge_pre_event_webhooks_total", event_type="onMessageAdd", verdict="proceed") == 1


def test_the_settings_that_apply_follow_every_change_of_level(
    live: LiveBridge, client: Client, receiver: WebhookReceiver
) -> None:
    subscribe(client, receiver, ["onMessageAdded"])
    later = client.conversations.v1.services.create(friendly_name="made after the account's webhook")
    own = client.conversations.v1.services.create(friendly_name="with its own, then without")
    client.conversations.v1.services(own.sid).configuration.webhooks().update(
        post_webhook_url=receiver.url("/own"), filters=["onMessageAdded"]
    )

    def say(service: str, body: str) -> None:
        conversation = client.conversations.v1.services(service).conversations.create()
        conversation.messages.create(author="a", body=body, **ENABLED)

    say(later.sid, "later")
    say(own.sid, "own")
    only(receiver, "onMessageAdded", count=2)
    client.conversations.v1.services(own.sid).configuration.webhooks().update(post_webhook_url="")
    say(own.sid, "the account's again")
    client.conversations.v1.configuration.webhooks().update(post_webhook_url="")
    say(later.sid, "nobody's")
    only(receiver, "onMessageAdded", count=3)
    time.sleep(1)  # a fourth would be a bug: give it the chance to show up
    got = sorted((r.path, r.fields["Body"]) for r in receiver.requests())
    assert got == [("/hooks", "later"), ("/hooks", "the account's again"), ("/own", "own")]


def test_an_event_goes_where_the_settings_said_when_it_happened(
    live: LiveBridge, client: Client, receiver: WebhookReceiver
) -> None:
    """The message is committed with no task for the planner (as if the planner were slow), then the URL is cleared
    at once: the change of settings plans it first, so it still goes to the URL that applied when it was made."""
    subscribe(client, receiver, ["onMessageAdded"])
    conversation_sid = client.conversations.v1.conversations.create().sid
    quiet = Database(live.settings.database_url)  # no dispatcher: nothing tells the planner about this message
    with quiet.transaction() as session:
        events.set_origin(session, events.REST_WITH_WEBHOOKS)
        conversation = find_conversation(session, accounts.default_service(session), conversation_sid)
        append_message(session, conversation, NewMessage(author="a", body="just before the change"))
    quiet.engine.dispose()
    client.conversations.v1.configuration.webhooks().update(post_webhook_url="")
    (got,) = only(receiver, "onMessageAdded")
    assert got.fields["Body"] == "just before the change"
