"""The official Conversations SDK (npm `@twilio/conversations`, unmodified, under Node) against the bridge's
gateway: two chat clients and one SMS participant on the fake carrier."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
import requests
from twilio.rest import Client

from bridge import access_tokens, accounts, events
from bridge.models import ApiKey
from gateway.server import Options
from tests.integration.conftest import CUSTOMER, post_webhooks_to, text_in
from tests.support.fake_carrier import FakeCarrier
from tests.support.gateway import GatewayProcess, LiveGateway, start_gateway
from tests.support.live import LiveBridge, free_port
from tests.support.sdk_driver import SdkDriver, SdkError
from tests.support.waiting import eventually
from tests.support.webhook_receiver import Answer, Received, WebhookReceiver

FAST = Options(ping_seconds=5, poll_seconds=0.5, token_warning_seconds=3)


@pytest.fixture(scope="module")
def gateway(bridge: LiveBridge) -> Iterator[LiveGateway]:
    live_gateway = start_gateway(bridge.settings, bridge.database, FAST)
    yield live_gateway
    live_gateway.stop()


@pytest.fixture(scope="module")
def driver() -> Iterator[SdkDriver]:
    with SdkDriver() as sdk:
        yield sdk


@dataclass
class Chat:
    live: LiveBridge
    gateway: LiveGateway
    driver: SdkDriver
    key: ApiKey
    service_sid: str
    names: list[str]

    def token(self, identity: str, ttl: int = 3600) -> str:
        return access_tokens.mint(self.live.account_sid, self.key.sid, self.key.secret, identity, self.service_sid, ttl)

    def live_api_post(self, path: str, data: dict[str, str], webhooks: bool = False) -> requests.Response:
        headers = {"X-Twilio-Webhook-Enabled": "true"} if webhooks else {}
        auth = (self.live.account_sid, self.live.auth_token)
        response = requests.post(self.live.url + path, data=data, auth=auth, headers=headers, timeout=30)
        assert response.status_code < 300, response.text
        return response

    def connect(self, identity: str, **options: object) -> list[str]:
        """Connects `identity` and waits until its conversations are loaded (what it is sent after that is news);
        returns their SIDs."""
        self.driver.clear_events(identity)
        self.names.append(identity)
        self.driver.connect(identity, self.token(identity), self.gateway.url, **options)
        return self.driver.run(identity, SUBSCRIBED)


@pytest.fixture
def chat(live: LiveBridge, gateway: LiveGateway, driver: SdkDriver) -> Iterator[Chat]:
    with live.database.transaction() as session:
        key = accounts.create_api_key(session, "chat backend")
        service_sid = accounts.default_service(session).sid
    chat = Chat(live, gateway, driver, key, service_sid, [])
    yield chat
    for name in chat.names:
        driver.shutdown(name)


def support_conversation(client: Client, sender: str, *identities: str) -> str:
    conversation = client.conversations.v1.conversations.create(friendly_name="Support")
    for identity in identities:
        conversation.participants.create(identity=identity)
    conversation.participants.create(messaging_binding_address=CUSTOMER, messaging_binding_proxy_address=sender)
    return str(conversation.sid)


SUBSCRIBED = "async (client) => (await client.getSubscribedConversations()).items.map((c) => c.sid)"
SEND = """async (client, args, h) => {
  const conversation = await client.getConversationBySid(args.sid);
  return await conversation.sendMessage(args.body);
}"""


def test_two_clients_and_an_sms_participant_talk_in_one_conversation(
    chat: Chat, client: Client, sender_pool: dict[str, str], worker: FakeCarrier
) -> None:
    sid = support_conversation(client, sender_pool["sms"], "alice", "bob")
    assert chat.connect("alice") == [sid]
    assert chat.connect("bob") == [sid]

    index = chat.driver.run("alice", SEND, {"sid": sid, "body": "hello from the browser"})
    assert index == 0
    seen = chat.driver.wait_event("bob", "messageAdded", lambda m: m["body"] == "hello from the browser")["data"]
    assert (seen["author"], seen["index"]) == ("alice", 0)
    chat.driver.wait_event("alice", "messageAdded", lambda m: m["body"] == "hello from the browser")
    sends = worker.wait_for(1)
    assert [(s.to_address, s.body) for s in sends] == [(CUSTOMER, "hello from the browser")]

    text_in(chat.live, worker, sender_pool["sms"], "an answer by SMS")
    for name in ("alice", "bob"):
        added = chat.driver.wait_event(name, "messageAdded", lambda m: m["body"] == "an answer by SMS")["data"]
        assert added["author"] == CUSTOMER
    rest = client.conversations.v1.conversations(sid).messages.list()
    assert [(m.author, m.body) for m in rest] == [("alice", "hello from the browser"), (CUSTOMER, "an answer by SMS")]
    eventually(lambda: len(worker.sends) == 1)


HISTORY = """async (client, args, h) => {
  const conversation = await client.getConversationBySid(args.sid);
  return (await h.allMessages(conversation, 30)).map((m) => [m.index, m.body]);
}"""


def test_history_pages_back_through_120_messages_in_order(chat: Chat, client: Client) -> None:
    conversation = client.conversations.v1.conversations.create(friendly_name="History")
    conversation.participants.create(identity="alice")
    for n in range(120):
        conversation.messages.create(author="bob", body=f"message {n}")
    chat.connect("alice")
    assert chat.driver.run("alice", HISTORY, {"sid": conversation.sid}) == [[n, f"message {n}"] for n in range(120)]


def test_a_message_from_the_sdk_reaches_rest_and_the_webhook_as_the_sdk_s(
    chat: Chat, client: Client, sender_pool: dict[str, str], receiver: WebhookReceiver, worker: FakeCarrier
) -> None:
    post_webhooks_to(chat.live, receiver, "onMessageAdded")
    sid = support_conversation(client, sender_pool["sms"], "alice", "bob")
    chat.connect("alice")
    chat.connect("bob")
    chat.driver.run("alice", SEND, {"sid": sid, "body": "from the SDK"})
    hook = eventually(lambda: receiver.requests("onMessageAdded"))[0]
    assert (hook.fields["Source"], hook.fields["ClientIdentity"], hook.fields["Body"]) == (
        "SDK",
        "alice",
        "from the SDK",
    )
    assert hook.fields["Author"] == "alice" and hook.signature_valid
    assert [m.body for m in client.conversations.v1.conversations(sid).messages.list()] == ["from the SDK"]
    assert [s.body for s in worker.wait_for(1)] == ["from the SDK"]

    # A REST write that asks for webhooks reaches both clients like any other message.
    chat.live_api_post(
        f"/v1/Conversations/{sid}/Messages", {"Author": "system", "Body": "from the backend"}, webhooks=True
    )
    for name in ("alice", "bob"):
        chat.driver.wait_event(name, "messageAdded", lambda m: m["body"] == "from the backend")
    eventually(lambda: len(receiver.requests("onMessageAdded")) == 2)


CHANGES = """async (client, args, h) => {
  const conversation = await client.getConversationBySid(args.sid);
  await conversation.updateFriendlyName("Renamed");
  await conversation.updateAttributes({priority: "high"});
  const at = async (index) => (await conversation.getMessages(1, index)).items.find((m) => m.index === index);
  const index = await conversation.sendMessage("first version");
  await (await at(index)).updateBody("second version");
  await (await at(await conversation.sendMessage("to be removed"))).remove();
  await conversation.add("carol");
  return index;
}"""


def test_each_client_sees_the_others_changes(chat: Chat, client: Client) -> None:
    conversation = client.conversations.v1.conversations.create(friendly_name="Team")
    # alice renames and adds: rights of the conversation creator's role (channel admin), not of a participant's.
    admin = (
        client.conversations.v1.services(chat.service_sid).configuration().fetch().default_conversation_creator_role_sid
    )
    conversation.participants.create(identity="alice", role_sid=admin)
    conversation.participants.create(identity="bob")
    chat.connect("alice")
    chat.connect("bob")
    chat.driver.run("alice", CHANGES, {"sid": conversation.sid})
    wait = chat.driver.wait_event
    wait("bob", "conversationUpdated", lambda e: e["conversation"]["friendlyName"] == "Renamed")
    wait("bob", "conversationUpdated", lambda e: e["conversation"]["attributes"] == {"priority": "high"})
    wait("bob", "messageUpdated", lambda e: e["message"]["body"] == "second version")
    wait("bob", "messageRemoved", lambda m: m["body"] == "to be removed")
    wait("bob", "participantJoined", lambda p: p["identity"] == "carol")
    rest = client.conversations.v1.conversations(conversation.sid)
    assert rest.fetch().friendly_name == "Renamed"
    assert [m.body for m in rest.messages.list()] == ["second version"]

    # carol connects: she was added, so the conversation is hers; when she leaves, the others see it. alice reads
    # the roster first: the SDK subscribes to it on first use, and an event from before that is not one it emits.
    assert chat.connect("carol") == [conversation.sid]
    roster = "async (client, args) => (await (await client.getConversationBySid(args.sid)).getParticipants())"
    assert "carol" in [p["identity"] for p in chat.driver.run("alice", roster, {"sid": conversation.sid})]
    chat.driver.run(
        "carol",
        "async (client, args) => (await client.getConversationBySid(args.sid)).leave()",
        {"sid": conversation.sid},
    )
    wait("alice", "participantLeft", lambda p: p["identity"] == "carol")
    wait("carol", "conversationLeft", lambda c: c["sid"] == conversation.sid)
    assert sorted(p.identity for p in rest.participants.list()) == ["alice", "bob"]


READ_ALL = """async (client, args) => {
  const conversation = await client.getConversationBySid(args.sid);
  return await conversation.setAllMessagesRead();
}"""
TYPE = """async (client, args) => { (await client.getConversationBySid(args.sid)).typing(); return true; }"""


def test_read_horizon_and_typing(chat: Chat, client: Client) -> None:
    conversation = client.conversations.v1.conversations.create(friendly_name="Reading")
    for identity in ("alice", "bob"):
        conversation.participants.create(identity=identity)
    for n in range(3):
        conversation.messages.create(author="bob", body=f"unread {n}")
    chat.connect("alice")
    chat.connect("bob")
    assert chat.driver.run("alice", READ_ALL, {"sid": conversation.sid}) == 0
    alice = next(p for p in conversation.participants.list() if p.identity == "alice")
    assert alice.last_read_message_index == 2
    chat.driver.wait_event(
        "bob", "participantUpdated", lambda e: e["participant"]["identity"] == "alice"
        and e["participant"]["lastReadMessageIndex"] == 2,
    )  # fmt: skip

    chat.driver.run("bob", TYPE, {"sid": conversation.sid})
    started = chat.driver.wait_event("alice", "typingStarted")["data"]
    assert started["identity"] == "bob"
    chat.driver.wait_event("alice", "typingEnded", lambda p: p["identity"] == "bob", timeout=15)
    assert not chat.driver.events("bob", "typingStarted")  # nobody hears their own typing


def test_a_token_about_to_expire_is_renewed_and_an_expired_or_unknown_one_is_denied(chat: Chat, client: Client) -> None:
    conversation = client.conversations.v1.conversations.create(friendly_name="Renewal")
    conversation.participants.create(identity="alice")
    chat.driver.clear_events("alice")
    chat.names.append("alice")
    chat.driver.connect("alice", chat.token("alice", ttl=6), chat.gateway.url)
    chat.driver.wait_event("alice", "tokenAboutToExpire", timeout=10)
    chat.driver.run("alice", "async (client, args) => { await client.updateToken(args.token); return true; }",
                    {"token": chat.token("alice")})  # fmt: skip
    time.sleep(4)  # past the first token's expiry: the session goes on under the new one
    conversation.messages.create(author="bob", body="still here")
    chat.driver.wait_event("alice", "messageAdded", lambda m: m["body"] == "still here")
    assert not chat.driver.events("alice", "tokenExpired")

    expired = jwt_with(chat, exp_in=-60)
    with pytest.raises(SdkError) as denied:
        chat.driver.connect("expired", expired, chat.gateway.url)
    assert (denied.value.code, denied.value.status) == (20104, 401)
    unknown = access_tokens.mint(chat.live.account_sid, "SK" + "0" * 32, "x" * 32, "mallory", chat.service_sid)
    with pytest.raises(SdkError) as refused:
        chat.driver.connect("unknown", unknown, chat.gateway.url)
    assert (refused.value.code, refused.value.status) == (20103, 401)  # Twilio's "invalid issuer": no such key


def jwt_with(chat: Chat, exp_in: int) -> str:
    now = int(time.time())
    claims = {
        "jti": f"{chat.key.sid}-{now}",
        "iss": chat.key.sid,
        "sub": chat.live.account_sid,
        "iat": now - 3600,
        "nbf": now - 3600,
        "exp": now + exp_in,
        "grants": {"identity": "alice", "chat": {"service_sid": chat.service_sid}},
    }
    return jwt.encode(claims, chat.key.secret, algorithm="HS256", headers={"cty": "twilio-fpa;v=1"})


ORDER = """async (client, args, h) => {
  const conversation = await client.getConversationBySid(args.sid);
  return (await h.allMessages(conversation, 50)).map((m) => m.body);
}"""


def test_clients_reconnect_to_a_restarted_gateway_and_miss_nothing(
    chat: Chat, client: Client, sender_pool: dict[str, str], worker: FakeCarrier, tmp_path: Path
) -> None:
    environment = {**chat.live.environment, "BRIDGE_GATEWAY_POLL_SECONDS": "0.5", "LOG_LEVEL": "INFO"}
    process = GatewayProcess(environment, free_port(), str(tmp_path / "gateway.log"))
    process.start()
    try:
        sid = support_conversation(client, sender_pool["sms"], "alice", "bob")
        for name in ("alice", "bob"):
            chat.driver.clear_events(name)
            chat.names.append(name)
            chat.driver.connect(name, chat.token(name), process.url)
            assert chat.driver.run(name, SUBSCRIBED) == [sid]
        bodies = [f"sms {n:02d}" for n in range(30)]
        for n, body in enumerate(bodies):
            if n == 10:
                process.kill()  # mid-stream: the sockets drop with no goodbye
            if n == 20:
                process.start()
            text_in(chat.live, worker, sender_pool["sms"], body)
            time.sleep(0.1)
        for name in ("alice", "bob"):
            chat.driver.wait_event(name, "messageAdded", lambda m: m["body"] == bodies[-1], timeout=30)
            added = [e["data"]["body"] for e in chat.driver.events(name, "messageAdded")]
            assert added == bodies, f"{name} saw {added}"
            assert chat.driver.run(name, ORDER, {"sid": sid}) == bodies
            states = [e["data"] for e in chat.driver.events(name, "connectionStateChanged")]
            assert "connected" in states[states.index("connecting", 2) :]  # it reconnected by itself
    finally:
        process.stop()


ALICE_ONLINE = "async (client) => (await client.getUser('alice')).isOnline"


def test_a_user_is_online_while_a_socket_of_theirs_is_open(chat: Chat, client: Client) -> None:
    client.conversations.v1.services(chat.service_sid).configuration().update(reachability_enabled=True)
    conversation = client.conversations.v1.conversations.create(friendly_name="Presence")
    for identity in ("alice", "bob"):
        conversation.participants.create(identity=identity)
    chat.connect("alice")
    chat.connect("bob")
    assert chat.driver.run("bob", ALICE_ONLINE) is True
    assert eventually(lambda: client.conversations.v1.users("alice").fetch().is_online) is True
    chat.driver.shutdown("alice")
    chat.names.remove("alice")
    chat.driver.wait_event(
        "bob", "userUpdated", lambda e: e["user"]["identity"] == "alice" and e["user"]["isOnline"] is False
    )
    assert client.conversations.v1.users("alice").fetch().is_online is False


def test_clients_of_two_gateway_processes_hear_each_other(chat: Chat, client: Client, bridge: LiveBridge) -> None:
    # Slow polling: within the test's wait only Redis's wake-ups can carry the events across.
    second = start_gateway(bridge.settings, bridge.database, Options(poll_seconds=60))
    try:
        conversation = client.conversations.v1.conversations.create(friendly_name="Across")
        for identity in ("alice", "bob"):
            conversation.participants.create(identity=identity)
        chat.connect("alice")  # on the first gateway
        chat.driver.clear_events("bob")
        chat.names.append("bob")
        chat.driver.connect("bob", chat.token("bob"), second.url)
        assert chat.driver.run("bob", SUBSCRIBED) == [conversation.sid]
        chat.driver.run("alice", SEND, {"sid": conversation.sid, "body": "across processes"})
        chat.driver.wait_event("bob", "messageAdded", lambda m: m["body"] == "across processes", timeout=5)
        chat.driver.run("alice", TYPE, {"sid": conversation.sid})
        chat.driver.wait_event("bob", "typingStarted", lambda p: p["identity"] == "alice", timeout=5)
    finally:
        second.stop()


SEND_THEN_EDIT = """async (client, args) => {
  const conversation = await client.getConversationBySid(args.sid);
  const index = await conversation.sendMessage("please check me");
  const message = (await conversation.getMessages(1, index)).items.find((m) => m.index === index);
  try { await message.updateBody("an edit the backend refuses"); return "edited"; }
  catch (error) { return `refused ${error.status ?? ""} ${error.code ?? ""} ${error.message}`; }
}"""


def test_the_applications_pre_event_webhook_is_asked_before_an_sdk_write(
    chat: Chat, client: Client, receiver: WebhookReceiver
) -> None:
    client.conversations.v1.configuration.webhooks().update(
        pre_webhook_url=receiver.url("/pre"), method="POST", filters=["onMessageAdd", "onMessageUpdate"]
    )

    def answer(request: Received) -> Answer:
        if request.event_type == "onMessageAdd":
            return Answer(200, {"body": request.fields["Body"] + " [checked]"})
        return Answer(403)

    receiver.answer = answer
    conversation = client.conversations.v1.conversations.create(friendly_name="Checked")
    conversation.participants.create(identity="alice")
    chat.connect("alice")
    outcome = chat.driver.run("alice", SEND_THEN_EDIT, {"sid": conversation.sid})
    assert outcome.startswith("refused") and "403" in outcome, outcome
    asked = receiver.requests("onMessageAdd")[0]
    assert (asked.fields["Source"], asked.fields["ClientIdentity"]) == ("SDK", "alice")
    assert [m.body for m in conversation.messages.list()] == ["please check me [checked]"]


def test_a_client_away_longer_than_the_log_keeps_events_is_sent_the_present(
    chat: Chat, client: Client, worker: FakeCarrier, tmp_path: Path
) -> None:
    environment = {**chat.live.environment, "BRIDGE_GATEWAY_POLL_SECONDS": "0.5", "LOG_LEVEL": "WARNING"}
    process = GatewayProcess(environment, free_port(), str(tmp_path / "gateway.log"))
    process.start()
    try:
        conversation = client.conversations.v1.conversations.create(friendly_name="Long away")
        conversation.participants.create(identity="alice")
        conversation.messages.create(author="bob", body="before")
        chat.driver.clear_events("alice")
        chat.names.append("alice")
        chat.driver.connect("alice", chat.token("alice"), process.url)
        assert chat.driver.run("alice", SUBSCRIBED) == [conversation.sid]
        process.kill()
        for body in ("while away 1", "while away 2"):
            conversation.messages.create(author="bob", body=body)
        conversation.update(friendly_name="Renamed while away")
        with chat.live.database.transaction() as session:
            assert events.prune(session, timedelta(0)) > 0  # the log no longer has what alice missed
        process.start()
        for body in ("while away 1", "while away 2"):
            chat.driver.wait_event("alice", "messageAdded", lambda m, b=body: m["body"] == b, timeout=30)
        chat.driver.wait_event(
            "alice", "conversationUpdated", lambda e: e["conversation"]["friendlyName"] == "Renamed while away"
        )
        assert chat.driver.run("alice", ORDER, {"sid": conversation.sid}) == ["before", "while away 1", "while away 2"]
    finally:
        process.stop()


CREATE_JOIN_ADD = """async (client, args) => {
  const conversation = await client.createConversation({friendlyName: "Made in the SDK", attributes: {topic: "x"}});
  await conversation.join();
  await conversation.add("alice");
  await conversation.sendMessage("welcome, alice");
  return conversation.sid;
}"""


def test_a_client_creates_a_conversation_joins_it_and_adds_another(chat: Chat, client: Client) -> None:
    chat.connect("alice")
    chat.connect("carol")
    sid = chat.driver.run("carol", CREATE_JOIN_ADD)
    joined = chat.driver.wait_event("alice", "conversationJoined", lambda c: c["sid"] == sid)["data"]
    assert joined["friendlyName"] == "Made in the SDK"
    # Sent before alice's client had the conversation, so it is history to her, not a messageAdded.
    assert chat.driver.run("alice", ORDER, {"sid": sid}) == ["welcome, alice"]
    rest = client.conversations.v1.conversations(sid).fetch()
    assert (rest.friendly_name, rest.attributes) == ("Made in the SDK", '{"topic":"x"}')
    assert sorted(p.identity for p in client.conversations.v1.conversations(sid).participants.list()) == [
        "alice",
        "carol",
    ]
