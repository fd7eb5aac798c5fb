"""The official Conversations SDK (npm `@twilio/conversations`, unmodified, under Node) against the bridge's
gateway: two chat clients and one SMS participant on the fake carrier."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from twilio.rest import Client

from bridge import access_tokens, accounts
from bridge.models import ApiKey
from gateway.server import Options
from tests.integration.conftest import CUSTOMER, text_in
from tests.support.fake_carrier import FakeCarrier
from tests.support.gateway import LiveGateway, start_gateway
from tests.support.live import LiveBridge
from tests.support.sdk_driver import SdkDriver
from tests.support.waiting import eventually

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

    def connect(self, identity: str, **options: object) -> dict[str, object]:
        self.driver.clear_events(identity)
        self.names.append(identity)
        return self.driver.connect(identity, self.token(identity), self.gateway.url, **options)


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
    chat.connect("alice")
    chat.connect("bob")
    assert chat.driver.run("alice", SUBSCRIBED) == [sid]
    assert chat.driver.run("bob", SUBSCRIBED) == [sid]

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
