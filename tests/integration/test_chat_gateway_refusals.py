"""What a chat client may not do: reach another service, a conversation it is not in, another user's list; and
what the gateway does with frames that are not twilsock, too large, or too many."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from twilio.rest import Client
from websockets.exceptions import InvalidStatus

from bridge import access_tokens, accounts, origins
from bridge.chat import objects
from gateway.frames import encode
from gateway.server import Options
from tests.support.gateway import LiveGateway, start_gateway
from tests.support.live import LiveBridge
from tests.support.twilsock_client import RawClient

STRICT = Options(ping_seconds=30, poll_seconds=0.5, rate=20, burst=40)


@pytest.fixture(scope="module")
def gateway(bridge: LiveBridge) -> Iterator[LiveGateway]:
    live_gateway = start_gateway(bridge.settings, bridge.database, STRICT)
    yield live_gateway
    live_gateway.stop()


def token_for(live: LiveBridge, identity: str, service_sid: str | None = None) -> str:
    with live.database.transaction() as session:
        key = accounts.create_api_key(session, "tests")
        service_sid = service_sid or accounts.default_service(session).sid
    return access_tokens.mint(live.account_sid, key.sid, key.secret, identity, service_sid)


def connected(live: LiveBridge, gateway: LiveGateway, identity: str, service_sid: str | None = None) -> RawClient:
    raw = RawClient(gateway.url)
    reply = raw.init(token_for(live, identity, service_sid))
    assert reply.header["status"]["code"] == 200
    return raw


def test_a_client_reads_only_what_is_its_own(live: LiveBridge, gateway: LiveGateway, client: Client) -> None:
    ours = client.conversations.v1.conversations.create(friendly_name="ours")
    ours.participants.create(identity="alice")
    theirs = client.conversations.v1.conversations.create(friendly_name="theirs")
    theirs.participants.create(identity="bob")
    other_service = client.conversations.v1.services.create(friendly_name="elsewhere")
    elsewhere = client.conversations.v1.services(other_service.sid).conversations.create(friendly_name="x")
    elsewhere.participants.create(identity="alice")

    alice = connected(live, gateway, "alice")
    try:
        status, config = alice.request("GET", "/Client/v2/Configuration")
        assert status == 200 and config["identity"] == "alice"
        service = config["links"]["conversations"].split("/Services/")[1].split("/")[0]
        document, message_list, _ = objects.conversation_objects(ours.sid)
        assert alice.request("GET", f"/v3/Documents/{document.sid}")[0] == 200
        assert alice.request("GET", f"/v3/Lists/{message_list.sid}/Items")[0] == 200

        for obj in objects.conversation_objects(theirs.sid):
            status, body = alice.request("GET", f"/v3/{PATHS[obj.type]}/{obj.sid}")
            assert (status, body["code"]) == (403, 20403)
        for obj in objects.conversation_objects(elsewhere.sid):  # another service's: as if it did not exist
            status, body = alice.request("GET", f"/v3/{PATHS[obj.type]}/{obj.sid}")
            assert status == 404
        bob_sid = client.conversations.v1.users("bob").fetch().sid
        assert alice.request("GET", f"/v3/Maps/{objects.of('my_conversations', bob_sid).sid}")[0] == 403
        assert alice.request("GET", f"/v3/Maps/{objects.of('user_info', bob_sid).sid}")[0] == 200  # profiles are shared

        base = f"/Client/v2/Services/{service}"
        assert alice.request("GET", f"{base}/Users/bob/Conversations")[0] == 403
        assert alice.request("POST", f"{base}/Conversations/{theirs.sid}/Messages", {"body": "hi"})[0] == 403
        assert alice.request("GET", f"{base}/Conversations/{elsewhere.sid}")[0] == 404
        assert alice.request("GET", f"/Client/v2/Services/{other_service.sid}/Users/alice/Conversations")[0] == 403
        assert [m.body for m in theirs.messages.list()] == []

        # A subscription to another's objects fails, and nothing of theirs is ever sent.
        status, _ = alice.request(
            "POST", "/v4/Subscriptions",
            {"action": "establish", "correlation_id": 7, "requests": [
                {"object_sid": objects.of("messages", theirs.sid).sid, "object_type": "list", "last_event_id": 0}]},
        )  # fmt: skip
        assert status == 202
        failed = alice.notification(lambda n: n.get("event_type") == "subscription_failed")
        assert failed["events"][0]["error"]["status"] == 403
        theirs.messages.create(author="bob", body="private")
        with pytest.raises(TimeoutError):
            alice.notification(lambda n: "private" in str(n), timeout=1.5)
    finally:
        alice.close()


PATHS = {"document": "Documents", "map": "Maps", "list": "Lists"}


def test_bad_frames_floods_and_oversized_frames_end_only_their_own_socket(
    live: LiveBridge, gateway: LiveGateway, client: Client
) -> None:
    bystander = connected(live, gateway, "bystander")
    try:
        garbage = connected(live, gateway, "garbage")
        sent = 0
        while sent < 100 and garbage.send_raw(b"not twilsock at all"):
            sent += 1
        assert garbage.is_closed() and sent >= 20

        huge = connected(live, gateway, "huge")
        huge.send_raw(encode({"method": "message", "id": "TMx"}, "x" * (2 * 1024 * 1024)))
        assert huge.is_closed()

        uninvited = RawClient(gateway.url)
        uninvited.send_raw(encode({"method": "message", "id": "TMy"}))  # no init first
        assert uninvited.is_closed()

        flood = connected(live, gateway, "flood")
        statuses = [flood.request("GET", "/Client/v2/Configuration")[0] for _ in range(120)]
        assert 429 in statuses and statuses.count(200) >= 40
        flood.close()

        assert bystander.request("GET", "/Client/v2/Configuration")[0] == 200
    finally:
        bystander.close()


def test_a_refused_token_gets_twilios_code_in_the_init_reply(live: LiveBridge, gateway: LiveGateway) -> None:
    raw = RawClient(gateway.url)
    reply = raw.init("not.a.token")
    assert reply.header["status"]["code"] == 401
    assert reply.header["status"]["errorCode"] in (20101, 20102)
    assert raw.is_closed()


def test_a_page_of_another_origin_is_refused_before_the_socket_opens(live: LiveBridge, gateway: LiveGateway) -> None:
    with pytest.raises(InvalidStatus) as refused:
        RawClient(gateway.url, origin="https://elsewhere.example")
    assert refused.value.response.status_code == 403
    own = RawClient(gateway.url, origin=origins.own_origin(live.settings))  # the bridge's own pages (/chat)
    try:
        assert own.init(token_for(live, "alice")).header["status"]["code"] == 200
    finally:
        own.close()


def test_an_origin_in_bridge_allowed_origins_may_open_the_socket(live: LiveBridge) -> None:
    settings = dataclasses.replace(live.settings, allowed_origins=("https://chat.example.com",))
    listed = start_gateway(settings, live.database, STRICT)
    try:
        raw = RawClient(listed.url, origin="https://chat.example.com")
        try:
            assert raw.init(token_for(live, "alice")).header["status"]["code"] == 200
        finally:
            raw.close()
        with pytest.raises(InvalidStatus):
            RawClient(listed.url, origin="https://chat.example.com.evil.example")
    finally:
        listed.stop()
