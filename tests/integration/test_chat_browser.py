"""The official Conversations SDK in Chromium (its browser bundle, unmodified) against the bridge's gateway: what
only a browser does. A page that goes offline and online again gets what was sent meanwhile; the twilsock
continuation token goes back to the gateway on a reconnect; a reloaded page starts again; and the socket's
Origin decides whether a page may open it at all."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from twilio.rest import Client

from bridge.config import allowed_origins
from gateway.frames import Frame, decode
from tests.integration import test_chat_sdk
from tests.integration.test_chat_sdk import FAST, SEND, SUBSCRIBED, Chat
from tests.support.browser_sdk import BrowserSdkDriver, browser_unavailable_reason, origin_of
from tests.support.gateway import start_gateway
from tests.support.live import LiveBridge
from tests.support.sdk_driver import SdkError

BROWSER_MISSING = browser_unavailable_reason()
pytestmark = pytest.mark.skipif(BROWSER_MISSING is not None, reason=str(BROWSER_MISSING))

# The chat suite's fixtures: the gateway and a chat backend's keys (its `chat` uses this module's `driver`).
gateway, chat = test_chat_sdk.gateway, test_chat_sdk.chat
# Where the browser SDK keeps the continuation token, if it keeps it (twilsock's tokenStorage.ts, product id).
TOKEN_KEY = "twilio_continuation_token_ip_messaging"


@pytest.fixture(scope="module")
def driver(bridge: LiveBridge) -> Iterator[BrowserSdkDriver]:
    """One Chromium for the module; each client gets a page of the bridge's own origin."""
    with BrowserSdkDriver(bridge.url + "/healthz") as sdk:
        yield sdk


class EmptyPage(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>Another site</title>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def elsewhere() -> Iterator[str]:
    """The URL of an empty page of another origin: another port on loopback."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), EmptyPage)
    thread = threading.Thread(target=server.serve_forever, name="another-origin", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    thread.join(timeout=10)


def browser(chat: Chat) -> BrowserSdkDriver:
    assert isinstance(chat.driver, BrowserSdkDriver)
    return chat.driver


def conversation_of(client: Client, *identities: str) -> str:
    conversation = client.conversations.v1.conversations.create(friendly_name="In the browser")
    for identity in identities:
        conversation.participants.create(identity=identity)
    return str(conversation.sid)


def bodies_seen(chat: Chat, name: str) -> list[str]:
    return [e["data"]["body"] for e in chat.driver.events(name, "messageAdded")]


def inits_and_replies(driver: BrowserSdkDriver, name: str) -> list[tuple[Frame, Frame]]:
    """Each twilsock `init` the page sent, with the gateway's reply to it."""
    sent = [decode(f.payload) for f in driver.frames(name) if f.direction == "sent"]
    received = {
        frame.id: frame for f in driver.frames(name) if f.direction == "received" for frame in [decode(f.payload)]
    }
    return [(init, received[init.id]) for init in sent if init.method == "init" and init.id in received]


def go_offline(chat: Chat, name: str) -> None:
    """Takes `name`'s browser context off the network: its window gets `offline`, and the SDK closes its socket."""
    driver = browser(chat)
    mark = driver.mark(name)
    driver.context(name).set_offline(True)
    driver.wait_event(name, "connectionStateChanged", lambda state: state != "connected", since=mark)


def go_online(chat: Chat, name: str) -> None:
    """Back on the network: on the window's `online` the SDK reconnects at once; waits until it has."""
    driver = browser(chat)
    mark = driver.mark(name)
    driver.context(name).set_offline(False)
    driver.wait_event(name, "connectionStateChanged", lambda state: state == "connected", since=mark, timeout=30)


def test_a_page_that_was_offline_gets_each_message_sent_meanwhile_once_in_order(chat: Chat, client: Client) -> None:
    sid = conversation_of(client, "alice", "bob")
    chat.connect("alice")
    chat.connect("bob")
    chat.driver.run("bob", SEND, {"sid": sid, "body": "before"})
    chat.driver.wait_event("alice", "messageAdded", lambda m: m["body"] == "before")

    go_offline(chat, "alice")
    meanwhile = ["while you were away", "are you there?", "call me back"]
    for body in meanwhile:
        chat.driver.run("bob", SEND, {"sid": sid, "body": body})
    chat.driver.wait_event("bob", "messageAdded", lambda m: m["body"] == meanwhile[-1])  # all three are stored
    assert bodies_seen(chat, "alice") == ["before"]
    go_online(chat, "alice")

    # A message sent after the reconnect arrives after all of them: none of those can still be on the way.
    chat.driver.run("bob", SEND, {"sid": sid, "body": "after"})
    chat.driver.wait_event("alice", "messageAdded", lambda m: m["body"] == "after", timeout=30)
    assert bodies_seen(chat, "alice") == ["before", *meanwhile, "after"]
    indexes = [e["data"]["index"] for e in chat.driver.events("alice", "messageAdded")]
    assert indexes == [0, 1, 2, 3, 4]
    assert [m.body for m in client.conversations.v1.conversations(sid).messages.list()] == bodies_seen(chat, "alice")


def test_the_continuation_token_goes_back_on_a_reconnect_and_a_reloaded_page_starts_again(
    chat: Chat, client: Client
) -> None:
    driver = browser(chat)
    sid = conversation_of(client, "alice", "bob")
    assert chat.connect("alice") == [sid]
    chat.connect("bob")
    [(first, issued)] = inits_and_replies(driver, "alice")
    token = issued.header["continuation_token"]
    assert first.header["continuation_token"] is None and token
    assert issued.header["continuation_token_status"] == {"reused": False}

    # The socket closed and opened again in the same page: the SDK hands back the token, the gateway takes it up.
    go_offline(chat, "alice")
    go_online(chat, "alice")
    _, (again, reply) = inits_and_replies(driver, "alice")
    assert again.header["continuation_token"] == token
    assert (reply.header["continuation_token"], reply.header["continuation_token_status"]) == (token, {"reused": True})

    # This SDK keeps the token in memory only: its tokenStorage checks `sessionStorage.length` on a method, which
    # is 0, so nothing is ever stored, and a reloaded page's first init carries none. The gateway then opens a new
    # twilsock session, and the page finds its conversations as before.
    storage = driver.page("alice").evaluate("() => ({...sessionStorage})")
    assert TOKEN_KEY not in storage, f"the SDK now stores its continuation token: {storage}"
    driver.reload("alice")
    driver.clear_events("alice")
    driver.connect("alice", chat.token("alice"), chat.gateway.url)
    assert driver.run("alice", SUBSCRIBED) == [sid]
    [(after_reload, fresh)] = inits_and_replies(driver, "alice")
    assert after_reload.header["continuation_token"] is None
    assert fresh.header["continuation_token_status"] == {"reused": False}
    assert fresh.header["continuation_token"] not in (None, "", token)
    driver.run("bob", SEND, {"sid": sid, "body": "after the reload"})
    driver.wait_event("alice", "messageAdded", lambda m: m["body"] == "after the reload")


def test_a_page_of_another_origin_may_open_the_socket_only_when_the_origin_is_allowed(
    chat: Chat, client: Client, bridge: LiveBridge, elsewhere: str
) -> None:
    driver = browser(chat)
    sid = conversation_of(client, "alice")
    driver.clear_events("alice")  # what earlier tests' alice saw
    with pytest.raises(SdkError, match="initFailed"):
        driver.connect("alice", chat.token("alice"), chat.gateway.url, page_url=elsewhere)
    assert any("Unexpected response code: 403" in line for line in driver.console("alice")), driver.console("alice")
    assert driver.events("alice", "connectionError")
    assert "connected" not in [e["data"] for e in driver.events("alice", "connectionStateChanged")]
    assert driver.frames("alice") == []  # refused at the handshake: the token never left the page

    allowing = dataclasses.replace(
        bridge.settings, allowed_origins=allowed_origins({"BRIDGE_ALLOWED_ORIGINS": origin_of(elsewhere)})
    )
    listed = start_gateway(allowing, bridge.database, FAST)
    try:
        driver.clear_events("alice")
        chat.names.append("alice")
        driver.connect("alice", chat.token("alice"), listed.url, page_url=elsewhere)
        assert driver.page("alice").url == elsewhere
        assert driver.run("alice", SUBSCRIBED) == [sid]
    finally:
        driver.shutdown("alice")
        chat.names.remove("alice")
        listed.stop()
