"""The exact inputs with which test_gateway_fuzz.py broke the chat gateway, as regular tests against a real gateway on
the live bridge. Each failed when it was written (no reply, a crashed connection handler, a 500, or an event of a
conversation the client had left); the comment above each names where it broke, and the commit that fixed it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from bridge.chat import objects
from tests.fuzz.gateway_support import (
    IDENTITY,
    Client,
    World,
    configuration_frame,
    http_status,
    message_frame,
    raw_frame,
    request_id,
    upstream,
    world_on,
)
from tests.support.live import LiveBridge

ANSWER_WITHIN = 3.0  # seconds; a reply takes milliseconds


@pytest.fixture(scope="module")
def world(bridge: LiveBridge) -> Iterator[World]:
    with world_on(bridge) as w:
        yield w


@pytest.fixture
def alice(world: World) -> Iterator[Client]:
    client = world.connect()
    yield client
    client.close()


def answered(client: Client, http: Any, body: Any = None, payload_type: str | None = "application/json") -> Any:
    """The reply's HTTP status and JSON body; a failure if no reply comes."""
    try:
        reply = upstream(client, http, body, ANSWER_WITHIN, payload_type=payload_type)
    except TimeoutError:
        pytest.fail(f"no reply within {ANSWER_WITHIN} s to {http!r}")
    return http_status(reply), reply.json_payload()


def assert_below_500(status: int, body: Any) -> None:
    assert status < 500, body
    if status >= 400:
        assert {"code", "message", "status"} <= set(body), body


def service_path(world: World, rest: str) -> str:
    return f"/Client/v2/Services/{world.service}/{rest}"


# --- gateway/connection.py _request (l. 429, 436): http_request.params or .headers that are no object ----------------
# `params.items()` runs before the isinstance check, `headers.get(...)` has none; both raise in `_upstream` before
# its try, so the task dies ("Task exception was never retrieved") and the request is never answered. Fixed in b0d1b15.


@pytest.mark.parametrize(
    "extra",
    [
        {"params": [1]},
        {"params": "PageSize=5"},
        {"params": 1},
        {"params": True},
        {"headers": ["Content-Type"]},
        {"headers": "Content-Type: application/json"},
    ],
)
def test_an_http_request_whose_params_or_headers_are_no_object_is_answered(
    world: World, alice: Client, extra: dict[str, Any]
) -> None:
    http = {"host": "aim.us1.twilio.com", "path": "/Client/v2/Configuration", "method": "GET", **extra}
    status, body = answered(alice, http, payload_type=None)  # no payload_type: the headers' Content-Type is read
    assert status in (200, 400), body
    assert_below_500(status, body)


# --- gateway/connection.py _handshake (l. 141): registrations that are no list of objects with lists of names -------
# A TypeError ('int' object is not iterable, unhashable type) escapes the handshake: the connection handler fails
# (close 1011) and the client, whose token is good, never gets its init reply. Fixed in b0d1b15.


@pytest.mark.parametrize(
    "registrations",
    [5, True, [{"message_types": 5}], [{"message_types": [{}]}], [{"message_types": [["twilio.sync.event"]]}]],
)
def test_an_init_with_junk_registrations_is_answered(world: World, registrations: Any) -> None:
    client = Client(world.gateway.url)
    try:
        client.socket.send(
            raw_frame({"id": request_id(), "method": "init", "token": world.token(), "registrations": registrations})
        )
        try:
            reply = client.frame(ANSWER_WITHIN)
        except ConnectionClosed:
            pytest.fail(f"closed without an init reply (close {client.socket.close_code})")
        assert reply.header["status"]["code"] in (200, 400), reply.header
        if reply.header["status"]["code"] == 200:
            rid, frame = configuration_frame()
            client.socket.send(frame)
            assert http_status(client.reply_to(rid, ANSWER_WITHIN)) == 200
    finally:
        client.close()


# --- bridge/chat/client_api.py _update_my_conversation (l. 398-408): a read horizon beyond the column --------------
# Any non-negative int is stored: 2**63 overflows SQLite's INTEGER (OverflowError), 2**31 PostgreSQL's (DataError).
# Fixed in b0d1b15.


@pytest.mark.parametrize("index", [2**31, 2**63, 10**30])
def test_a_read_horizon_beyond_the_column_is_refused(world: World, alice: Client, index: int) -> None:
    path = service_path(world, f"Users/{IDENTITY}/Conversations/{world.ours}")
    http = {"host": "aim.us1.twilio.com", "path": path, "method": "POST", "params": {}, "headers": {}}
    assert_below_500(*answered(alice, http, {"last_read_message_index": index}))


# --- bridge/chat/sync_reads.py _int (l. 227-234) -> list_items (l. 135, 137): a message index beyond 64 bits -------
# `int()` has no bound; the query fails on both databases (SQLite: OverflowError; PostgreSQL: DataError). Fixed in
# b0d1b15.


@pytest.mark.parametrize("number", ["9" * 19, "9" * 20, "-" + "9" * 20])
@pytest.mark.parametrize("where", ["Index", "From", "PageToken", "path"])
def test_a_list_index_beyond_64_bits_is_refused(world: World, alice: Client, number: str, where: str) -> None:
    path = f"/v3/Lists/{objects.of('messages', world.ours).sid}/Items"
    params = {where: number}
    if where == "path":
        path, params = f"{path}/{number}", {}
    http = {"host": "cds.us1.twilio.com", "path": path, "method": "GET", "params": params}
    status, body = answered(alice, http)
    assert status in (400, 404), body
    assert_below_500(status, body)


# --- NUL characters: PostgreSQL refuses them in text, in a query as in a row (psycopg.DataError, a 500) -------------
# The REST API refuses NUL in every form field (webhooks/forms.py); the client API and the Sync reads passed them to
# the database: bridge/chat/client_api.py _visible, _find_user, _my_conversations (PageToken), _write
# (X-Twilio-Mutation-Id), typing_conversation, and the domain writes behind create/update/send/add; sync_reads
# roster_items / my_conversation_items (Key). On SQLite the reads are 404s and the writes store the NUL.
# b0d1b15 refuses a request with NUL in its path, params, headers or body as sent (gateway/connection.py _has_nul),
# which a NUL percent-encoded is not: in a path segment (client_api.py _route unquotes it, l. 105), a form body
# (_body's parse_qs, l. 685) or a typing form (typing_conversation's parse_qs, l. 650) it still reaches the query.

NUL_REQUESTS = [
    ("GET", "Conversations/a%00b", None, {}, {}),
    ("DELETE", "Conversations/a%00b", None, {}, {}),
    ("GET", "Users/a%00b", None, {}, {}),
    ("GET", f"Users/{IDENTITY}/Conversations", None, {"PageToken": "a\x00"}, {}),
    ("POST", "Conversations", {"friendly_name": "a\x00b"}, {}, {}),
    ("POST", "Conversations", {"unique_name": "a\x00b"}, {}, {}),
    ("POST", "Conversations", {"friendly_name": "x"}, {}, {"X-Twilio-Mutation-Id": "a\x00b"}),
    ("POST", "Conversations/{ours}/Messages", {"body": "a\x00b"}, {}, {}),
    ("POST", "Conversations/{ours}/Participants", {"identity": "a\x00b"}, {}, {}),
    ("POST", f"Users/{IDENTITY}", {"friendly_name": "a\x00b"}, {}, {}),
]


@pytest.mark.parametrize(("method", "rest", "body", "params", "headers"), NUL_REQUESTS)
def test_nul_in_a_client_api_request_is_no_500(
    world: World,
    alice: Client,
    method: str,
    rest: str,
    body: Any,
    params: dict[str, str],
    headers: dict[str, str],
) -> None:
    path = service_path(world, rest.format(ours=world.ours))
    http = {"host": "aim.us1.twilio.com", "path": path, "method": method, "params": params, "headers": headers}
    assert_below_500(*answered(alice, http, body))


@pytest.mark.parametrize("form", ["friendly_name=a%00b", "unique_name=a%00b", "attributes=%7B%7D&friendly_name=%00"])
def test_nul_in_a_form_body_is_no_500(world: World, alice: Client, form: str) -> None:
    http = {"host": "aim.us1.twilio.com", "path": service_path(world, "Conversations"), "method": "POST"}
    assert_below_500(*answered(alice, http, form, payload_type="application/x-www-form-urlencoded"))


def test_nul_in_a_typing_request_is_no_500(world: World, alice: Client) -> None:
    http = {"host": "aim.us1.twilio.com", "path": service_path(world, "Typing"), "method": "POST"}
    assert_below_500(*answered(alice, http, "ChannelSid=a%00b", payload_type="application/x-www-form-urlencoded"))


@pytest.mark.parametrize(("kind", "tail", "params"), [
    ("roster", "/Items", {"Key": "a\x00"}),
    ("my_conversations", "/Items", {"Key": "a\x00"}),
    ("roster", "/Items/a\x00", {}),
])  # fmt: skip
def test_nul_in_a_sync_map_key_is_no_500(
    world: World, alice: Client, kind: str, tail: str, params: dict[str, str]
) -> None:
    owner = world.users[IDENTITY] if kind == "my_conversations" else world.ours
    path = f"/v3/Maps/{objects.of(kind, owner).sid}{tail}"
    http = {"host": "cds.us1.twilio.com", "path": path, "method": "GET", "params": params}
    assert_below_500(*answered(alice, http))


# bridge/access_tokens.py verify (l. 82-84) accepts an identity with NUL; the Configuration's users.ensure_user
# (bridge/users.py l. 54) then fails on PostgreSQL, and so does the gateway's presence task (gateway/server.py
# _arrive, a task whose exception nobody retrieves).


def test_a_token_whose_identity_holds_nul_is_refused_or_works(world: World) -> None:
    client = Client(world.gateway.url)
    try:
        client.socket.send(raw_frame({"id": request_id(), "method": "init", "token": world.token("a\x00b")}))
        reply = client.frame(ANSWER_WITHIN)
        if reply.header["status"]["code"] == 200:
            rid, frame = configuration_frame()
            client.socket.send(frame)
            configuration = client.reply_to(rid, ANSWER_WITHIN)
            assert http_status(configuration) < 500, configuration.payload
        else:
            assert reply.header["status"]["code"] == 401, reply.header
    finally:
        client.close()


# --- gateway/connection.py _subscribe + gateway/hub.py _catch_up_once (l. 84-105): access checked only once --------
# A subscription is authorized when it is established and never again: a client removed from a conversation (by
# the REST API, or by itself through the client API) keeps receiving its messages and changes, although every read
# of those objects is now a 403. Fixed in b0d1b15 (access checked again after an event that may end it).


@pytest.mark.parametrize("removed_by", ["rest", "itself"])
def test_a_client_that_left_a_conversation_hears_no_more_of_it(world: World, alice: Client, removed_by: str) -> None:
    sid, _, members = world.make_conversation("/v1/Conversations", "left behind", None, [IDENTITY, "bob"])
    followed = [obj.sid for obj in objects.conversation_objects(sid)]
    wanted = [{"object_sid": obj.sid, "object_type": obj.type} for obj in objects.conversation_objects(sid)]
    body = {"action": "establish", "correlation_id": 1, "requests": wanted}
    http = {"host": "cds.us1.twilio.com", "path": "/v4/Subscriptions", "method": "POST"}
    assert answered(alice, http, body)[0] == 202
    alice.notification(lambda n: n.get("event_type") == "subscription_established")
    if removed_by == "rest":
        world.rest("DELETE", f"/v1/Conversations/{sid}/Participants/{members[0]}")
    else:
        path = service_path(world, f"Conversations/{sid}/Participants/{members[0]}")
        delete = {"host": "aim.us1.twilio.com", "path": path, "method": "DELETE", "params": {}, "headers": {}}
        assert answered(alice, delete)[0] == 204
    document = {"host": "cds.us1.twilio.com", "path": f"/v3/Documents/{followed[0]}", "method": "GET"}
    assert answered(alice, document)[0] == 403  # she may no longer read it
    with pytest.raises(TimeoutError):  # what her own leaving sends may come; then nothing
        while True:
            alice.reply_to("(none)", 1.0)
    alice.notifications.clear()
    world.rest("POST", f"/v1/Conversations/{sid}/Messages", {"Author": "bob", "Body": "said after alice left"})
    world.rest("POST", f"/v1/Conversations/{sid}", {"Attributes": json.dumps({"after": "alice left"})})
    with pytest.raises(TimeoutError):
        leaked = alice.notification(lambda n: any(s in json.dumps(n) for s in followed), timeout=2.0)
        pytest.fail(f"an event of a conversation alice left: {leaked}")


def test_the_bystander_socket_still_answers(world: World) -> None:
    """After all of the above, a new client connects and is answered (the gateway survived them)."""
    client = world.connect("bystander")
    try:
        rid, frame = message_frame({"host": "aim.us1.twilio.com", "path": "/Client/v2/Configuration", "method": "GET"})
        client.socket.send(frame)
        assert http_status(client.reply_to(rid, ANSWER_WITHIN)) == 200
    finally:
        client.close()
