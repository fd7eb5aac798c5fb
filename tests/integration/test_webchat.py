"""The web chat page (`/chat`) in real headless Chromium: the official SDK's browser bundle against the live bridge
(web, worker, gateway), two pages as two identities (alice, bob) and an SMS participant on the fake carrier in one
conversation. Messages both ways, typing, a page that goes offline and catches up, images, deletes bound by roles,
delivery receipts, sign-in by fragment and by paste, and the page's answers without the SDK installed."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from twilio.rest import Client

import webhooks.webchat
from bridge import access_tokens, accounts
from tests.integration import test_chat_sdk
from tests.integration.conftest import CUSTOMER, text_in
from tests.integration.test_chat_sdk import support_conversation
from tests.support.chromium import launched_chromium, missing_reason
from tests.support.fake_carrier import FakeCarrier
from tests.support.gateway import LiveGateway
from tests.support.live import LiveBridge
from tests.support.waiting import eventually

# The chat suite's gateway (module-scoped: one per module, with fast pings and an early token warning).
gateway = test_chat_sdk.gateway
# The README's picture of the page. Written when missing or when BRIDGE_UPDATE_SCREENSHOT=1, so that an ordinary
# test run does not leave a changed binary file in the work tree.
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "webchat.png"
SLOW = 20_000  # ms: for what crosses the worker, the carrier or a reconnect


@pytest.fixture(scope="module")
def page_gateway(bridge: LiveBridge, gateway: LiveGateway) -> Iterator[str]:
    """The page dials this module's gateway: BRIDGE_GATEWAY_URL, as an operator sets it, on the running app."""
    if not webhooks.webchat.SDK_FILE.is_file():
        pytest.fail(f"the SDK's browser bundle is missing: run {webhooks.webchat.FETCH_SDK_COMMAND} (as scripts/setup)")
    original = bridge.app.extensions["bridge.settings"]
    bridge.app.extensions["bridge.settings"] = dataclasses.replace(original, gateway_url=gateway.url)
    yield gateway.url
    bridge.app.extensions["bridge.settings"] = original


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium under Playwright. Missing is a failure, not a skip: scripts/prerequisites installs it."""
    if missing_reason() is not None:
        pytest.fail(str(missing_reason()))
    with launched_chromium() as launched:
        yield launched


@dataclass
class ChatPage:
    """One person's browser (its own context: storage, network) on /chat."""

    context: Any
    page: Any
    identity: str
    problems: list[str] = field(default_factory=list)  # script errors and Content-Security-Policy refusals
    tolerated: tuple[str, ...] = ()  # what Chromium itself logs for something the test does on purpose

    def conversation(self, name: str) -> Any:
        return self.page.locator(".conversation-button", has_text=name)

    def open(self, name: str) -> None:
        from playwright.sync_api import expect

        self.conversation(name).click()
        expect(self.page.locator("#conversation-title")).to_have_text(name)
        expect(self.page.locator("#history-status")).not_to_have_text("Loading messages…")

    def message(self, text: str) -> Any:
        return self.page.locator("#messages > li.message", has_text=text)

    def send(self, text: str) -> None:
        field_ = self.page.get_by_label("Message", exact=True)
        field_.fill(text)
        field_.press("Enter")

    def bodies(self) -> list[str]:
        return [body.strip() for body in self.page.locator("#messages > li.message .body").all_text_contents()]


@dataclass
class Chat:
    live: LiveBridge
    browser: Any
    service_sid: str
    key_sid: str
    key_secret: str
    pages: list[ChatPage] = field(default_factory=list)

    def token(self, identity: str, ttl: int = 3600) -> str:
        return access_tokens.mint(self.live.account_sid, self.key_sid, self.key_secret, identity, self.service_sid, ttl)

    def new_page(self, identity: str) -> ChatPage:
        context = self.browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.set_default_timeout(10_000)
        opened = ChatPage(context, page, identity)
        page.on("console", lambda m: opened.problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: opened.problems.append(str(error)))
        page.on("dialog", lambda dialog: dialog.accept())  # "Delete this message from …?"
        self.pages.append(opened)
        return opened

    def sign_in(self, identity: str, ttl: int = 3600) -> ChatPage:
        """`identity`'s page, opened as the admin console opens it (/chat#token=...), connected and loaded."""
        from playwright.sync_api import expect

        opened = self.new_page(identity)
        opened.page.goto(f"{self.live.url}/chat#token={self.token(identity, ttl)}")
        expect(opened.page.locator("#connection")).to_have_attribute("data-state", "connected", timeout=SLOW)
        expect(opened.page.locator("#identity")).to_have_text(identity)
        return opened


@pytest.fixture
def chat(live: LiveBridge, page_gateway: str, browser: Any) -> Iterator[Chat]:
    with live.database.transaction() as session:
        key = accounts.create_api_key(session, "web chat tests")
        service_sid = accounts.default_service(session).sid
    chat = Chat(live, browser, service_sid, key.sid, key.secret)
    yield chat
    problems = [
        problem
        for opened in chat.pages
        for problem in opened.problems
        if not any(expected in problem for expected in opened.tolerated)
    ]
    for opened in chat.pages:
        opened.context.close()
    assert problems == []


def png(width: int = 24, height: int = 16) -> bytes:
    """A real PNG, made here so the test needs no image library: a cardboard-brown parcel with a white label on
    a blue-grey ground."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    def pixel(x: int, y: int) -> bytes:
        if width * 0.55 < x < width * 0.8 and height * 0.3 < y < height * 0.45:
            return b"\xf8\xfa\xfc"  # the label
        if width * 0.15 < x < width * 0.85 and height * 0.2 < y < height * 0.85:
            return b"\xb0\x7a\x45" if abs(x - width / 2) > width * 0.03 else b"\x8a\x5a\x2e"  # box and tape
        return bytes((96 + y * 60 // height, 112 + y * 60 // height, 140 + y * 60 // height))

    rows = b"".join(b"\x00" + b"".join(pixel(x, y) for x in range(width)) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


# -- the page itself --------------------------------------------------------------------------------------------


def test_the_page_has_a_strict_content_security_policy_and_no_token_in_it(live: LiveBridge, page_gateway: str) -> None:
    response = requests.get(live.url + "/chat", timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
    policy = dict(part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
    assert policy["script-src"] == "'self'"
    assert policy["connect-src"].split() == ["'self'", page_gateway, live.url]
    assert set(policy["img-src"].split()) >= {"'self'", "blob:", "data:"}
    assert policy["frame-ancestors"] == "'none'" and response.headers["Cache-Control"] == "no-store"
    assert f'"gatewayUrl": "{page_gateway}"' in response.text
    assert "<script>" not in response.text  # no inline script: the configuration is a JSON block
    sdk = requests.get(live.url + "/chat/static/vendor/twilio-conversations.min.js", timeout=10)
    assert sdk.status_code == 200 and "javascript" in sdk.headers["Content-Type"]


def test_without_the_sdk_bundle_the_page_says_how_to_install_it(
    live: LiveBridge, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(webhooks.webchat, "SDK_FILE", tmp_path / "twilio-conversations.min.js")
    response = requests.get(live.url + "/chat", timeout=10)
    assert response.status_code == 503 and response.headers["Content-Type"].startswith("text/html")
    assert ".venv/bin/bridge webchat fetch-sdk" in response.text
    assert "Content-Security-Policy" in response.headers


def test_a_pasted_token_signs_in_and_a_reload_stays_signed_in_while_the_fragment_is_gone(
    chat: Chat, client: Client
) -> None:
    from playwright.sync_api import expect

    conversation = client.conversations.v1.conversations.create(friendly_name="Paste")
    conversation.participants.create(identity="alice")
    opened = chat.new_page("alice")
    page = opened.page
    page.goto(chat.live.url + "/chat")
    expect(page.get_by_role("heading", name="Sign in to chat")).to_be_visible()
    page.get_by_label("Access token", exact=True).fill(chat.token("alice"))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Conversations")).to_be_focused()  # not lost with the form
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected", timeout=SLOW)
    expect(opened.conversation("Paste")).to_be_visible()

    page.goto(f"{chat.live.url}/chat#token={chat.token('alice')}")  # the same page: only the fragment changes
    expect(page).to_have_url(chat.live.url + "/chat")  # the token left the address bar and the history entry
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected", timeout=SLOW)
    page.reload()
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected", timeout=SLOW)
    expect(opened.conversation("Paste")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to chat")).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="Sign in to chat")).to_be_visible()


def test_an_admin_opens_the_chat_as_an_identity_from_the_console(chat: Chat, client: Client) -> None:
    from playwright.sync_api import expect

    conversation = client.conversations.v1.conversations.create(friendly_name="From the console")
    conversation.participants.create(identity="agent-alice")
    conversation.messages.create(author="bob", body="is anyone there?")
    console = chat.new_page("admin")
    console.page.goto(chat.live.url + "/admin/chat")
    console.page.get_by_label("Username").fill(chat.live.settings.admin_username)
    console.page.get_by_label("Password").fill(chat.live.settings.admin_password)
    console.page.get_by_role("button", name="Sign in").click()
    console.page.get_by_label("Identity").fill("agent-alice")
    with console.context.expect_page() as opened:
        console.page.get_by_role("button", name="Open the chat").click()  # a new tab
    page = opened.value
    page.on("console", lambda m: console.problems.append(m.text) if m.type == "error" else None)
    expect(page).to_have_url(chat.live.url + "/chat")  # the token came in the fragment and left it
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected", timeout=SLOW)
    expect(page.locator("#identity")).to_have_text("agent-alice")
    page.locator(".conversation-button", has_text="From the console").click()
    expect(page.locator("#messages > li.message", has_text="is anyone there?")).to_be_visible()


def test_a_refused_token_is_said_so_and_the_sign_in_form_comes_back(chat: Chat) -> None:
    from playwright.sync_api import expect

    opened = chat.new_page("nobody")
    opened.page.goto(f"{chat.live.url}/chat#token=not-a-token")
    expect(opened.page.get_by_role("alert")).to_contain_text("Could not connect to the chat", timeout=SLOW)
    expect(opened.page.get_by_role("heading", name="Sign in to chat")).to_be_visible()
    expect(opened.page.locator("#connection")).to_have_attribute("data-state", "signed-out")
    assert opened.page.evaluate("() => sessionStorage.getItem('bridge.webchat.token')") is None


def test_a_token_about_to_expire_shows_a_notice_and_a_new_one_keeps_the_page_connected(
    chat: Chat, client: Client
) -> None:
    from playwright.sync_api import expect

    conversation = client.conversations.v1.conversations.create(friendly_name="Short")
    conversation.participants.create(identity="alice")
    alice = chat.sign_in("alice", ttl=5)  # the gateway warns 3 s before expiry
    notice = alice.page.locator("#token-notice")
    expect(notice).to_contain_text("expires in a moment", timeout=SLOW)
    alice.page.get_by_label("New access token").fill(chat.token("alice"))
    alice.page.get_by_role("button", name="Use this token").click()
    expect(notice).to_be_hidden()
    alice.open("Short")
    conversation.messages.create(author="bob", body="after the new token")
    expect(alice.message("after the new token")).to_be_visible(timeout=SLOW)
    expect(alice.page.locator("#connection")).to_have_attribute("data-state", "connected")


def test_the_keyboard_alone_opens_a_conversation_and_sends_with_enter_and_shift_enter(
    chat: Chat, client: Client
) -> None:
    from playwright.sync_api import expect

    conversation = client.conversations.v1.conversations.create(friendly_name="Keys")
    conversation.participants.create(identity="alice")
    alice = chat.sign_in("alice")
    page = alice.page
    expect(alice.conversation("Keys")).to_be_visible()
    page.keyboard.press("Tab")  # the skip link first
    expect(page.get_by_role("link", name="Skip to the message field")).to_be_focused()
    for _ in range(10):  # past the header's controls to the conversation list
        if alice.conversation("Keys").evaluate("(button) => button === document.activeElement"):
            break
        page.keyboard.press("Tab")
    expect(alice.conversation("Keys")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#conversation-title")).to_have_text("Keys")
    expect(page.get_by_label("Message", exact=True)).to_be_focused()  # focus moves to where one writes
    page.keyboard.type("line one")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("line two")
    page.keyboard.press("Enter")
    expect(alice.message("line one")).to_be_visible(timeout=SLOW)
    assert alice.bodies() == ["line one\nline two"]
    assert [m.body for m in conversation.messages.list()] == ["line one\nline two"]
    expect(page.get_by_label("Message", exact=True)).to_have_value("")


# -- two people and an SMS participant --------------------------------------------------------------------------


@pytest.fixture
def support(client: Client, sender_pool: dict[str, str], worker: FakeCarrier) -> str:
    """A conversation named Support: alice, bob and CUSTOMER on SMS."""
    return support_conversation(client, sender_pool["sms"], "alice", "bob")


def both(chat: Chat) -> tuple[ChatPage, ChatPage]:
    alice, bob = chat.sign_in("alice"), chat.sign_in("bob")
    alice.open("Support")
    bob.open("Support")
    return alice, bob


def test_a_message_from_one_page_reaches_the_other_and_the_sms_participant_and_the_reply_both(
    chat: Chat, support: str, worker: FakeCarrier, sender_pool: dict[str, str]
) -> None:
    from playwright.sync_api import expect

    alice, bob = both(chat)
    expect(alice.page.locator("#participants li")).to_have_text(["alice (you)", "bob", "SMS participant"])
    alice.send("Hello from the browser <b>not bold</b>")
    expect(bob.message("Hello from the browser")).to_be_visible(timeout=SLOW)
    assert bob.bodies() == ["Hello from the browser <b>not bold</b>"]  # text, never markup
    assert bob.page.locator("#messages b").count() == 0
    expect(bob.message("Hello from the browser").locator(".author")).to_have_text("alice")
    expect(alice.message("Hello from the browser")).to_have_class(re.compile(r"\bown\b"))
    sends = worker.wait_for(1)
    assert [(s.to_address, s.body) for s in sends] == [(CUSTOMER, "Hello from the browser <b>not bold</b>")]

    text_in(chat.live, worker, sender_pool["sms"], "Thanks, got it by SMS")
    for opened in (alice, bob):
        reply = opened.message("Thanks, got it by SMS")
        expect(reply).to_be_visible(timeout=SLOW)
        expect(reply.locator(".author")).to_have_text(CUSTOMER)
    expect(bob.page.locator("#announcer")).to_contain_text(f"{CUSTOMER}: Thanks, got it by SMS")
    # Each page has read what it shows, and shows the other's read horizon on the newest message.
    expect(alice.message("Thanks, got it by SMS").locator(".read-by")).to_have_text("Read by bob", timeout=SLOW)


def test_typing_in_one_page_shows_in_the_other(chat: Chat, support: str) -> None:
    from playwright.sync_api import expect

    alice, bob = both(chat)
    alice.page.get_by_label("Message", exact=True).press_sequentially("I am writ")
    expect(bob.page.locator("#typing")).to_have_text("alice is typing…", timeout=SLOW)
    expect(alice.page.locator("#typing")).to_have_text("")
    alice.page.get_by_label("Message", exact=True).press("Enter")
    expect(bob.message("I am writ")).to_be_visible(timeout=SLOW)
    expect(bob.page.locator("#typing")).to_have_text("", timeout=SLOW)


def test_a_page_that_was_offline_shows_what_it_missed_when_back_online(
    chat: Chat, support: str, client: Client
) -> None:
    from playwright.sync_api import expect

    alice, bob = both(chat)
    alice.send("before the tunnel")
    expect(bob.message("before the tunnel")).to_be_visible(timeout=SLOW)
    bob.tolerated = ("ERR_INTERNET_DISCONNECTED",)  # Chromium's own line for the SDK's redial while offline
    bob.context.set_offline(True)
    expect(bob.page.locator("#connection")).not_to_have_attribute("data-state", "connected", timeout=SLOW)
    alice.send("while you were in the tunnel")
    expect(alice.message("while you were in the tunnel")).to_be_visible(timeout=SLOW)
    client.conversations.v1.conversations(support).messages.create(author="system", body="and one over REST")
    expect(alice.message("and one over REST")).to_be_visible(timeout=SLOW)
    assert bob.message("while you were in the tunnel").count() == 0

    bob.context.set_offline(False)
    expect(bob.page.locator("#connection")).to_have_attribute("data-state", "connected", timeout=SLOW)
    expect(bob.message("and one over REST")).to_be_visible(timeout=SLOW)
    expect(bob.page.locator("#messages > li")).to_have_count(3)
    assert bob.bodies() == ["before the tunnel", "while you were in the tunnel", "and one over REST"]


def test_an_image_from_one_page_goes_out_as_mms_and_opens_in_the_other(
    chat: Chat, support: str, worker: FakeCarrier, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    alice, bob = both(chat)
    picture = tmp_path / "parcel.png"
    picture.write_bytes(png())
    alice.page.set_input_files("#attachment", str(picture))
    expect(alice.page.locator("#attachment-name")).to_contain_text("parcel.png")
    alice.send("the label on the parcel")
    image = bob.message("the label on the parcel").locator("img.inline-image")
    expect(image).to_have_attribute("alt", "parcel.png", timeout=SLOW)
    eventually(lambda: image.evaluate("(img) => img.complete && img.naturalWidth") == 24)
    sends = worker.wait_for(1)
    assert sends[0].to_address == CUSTOMER and len(sends[0].media_urls) == 1
    fetched = requests.get(sends[0].media_urls[0], timeout=10)
    assert fetched.status_code == 200 and fetched.content == picture.read_bytes()

    notes = tmp_path / "notes.txt"
    notes.write_text("left with the neighbour\n")
    alice.page.set_input_files("#attachment", str(notes))
    alice.page.get_by_role("button", name="Send").click()  # a file alone, no text
    link = bob.page.get_by_role("link", name="notes.txt (1 KB)")
    expect(link).to_be_visible(timeout=SLOW)
    downloaded = requests.get(str(link.get_attribute("href")), timeout=10)
    assert downloaded.status_code == 200 and downloaded.text == "left with the neighbour\n"


def test_deleting_another_s_message_needs_a_role_that_allows_it_and_the_refusal_is_shown(
    chat: Chat, client: Client, worker: FakeCarrier
) -> None:
    from playwright.sync_api import expect

    admin_role = (
        client.conversations.v1.services(chat.service_sid).configuration().fetch().default_conversation_creator_role_sid
    )
    conversation = client.conversations.v1.conversations.create(friendly_name="Support")
    conversation.participants.create(identity="alice")
    conversation.participants.create(identity="bob")  # the service's default participant role
    conversation.participants.create(identity="carol", role_sid=admin_role)  # channel admin
    conversation.messages.create(author="alice", body="alice wrote this")
    conversation.messages.create(author="bob", body="bob wrote this")
    bob, carol = chat.sign_in("bob"), chat.sign_in("carol")
    bob.open("Support")
    carol.open("Support")

    bob.message("alice wrote this").get_by_role("button", name="Delete the message from alice").click()
    alert = bob.page.get_by_role("alert")
    expect(alert).to_contain_text("Could not delete the message", timeout=SLOW)
    expect(alert).to_contain_text("50107")
    expect(bob.message("alice wrote this").get_by_role("button", name=re.compile("Delete"))).to_be_focused()
    assert [m.body for m in conversation.messages.list()] == ["alice wrote this", "bob wrote this"]

    bob.message("bob wrote this").get_by_role("button", name="Delete the message from bob").click()  # his own
    expect(bob.message("bob wrote this")).to_have_count(0, timeout=SLOW)
    carol.message("alice wrote this").get_by_role("button", name="Delete the message from alice").click()
    expect(carol.message("alice wrote this")).to_have_count(0, timeout=SLOW)
    expect(bob.message("alice wrote this")).to_have_count(0, timeout=SLOW)
    assert carol.page.locator("#errors p").count() == 0
    assert conversation.messages.list() == []


def test_the_delivery_status_to_the_sms_participant_follows_the_carrier_s_callbacks(
    chat: Chat, support: str, worker: FakeCarrier
) -> None:
    from playwright.sync_api import expect

    worker.callback_statuses = ("sent",)  # the handset's confirmation comes later, when the test sends it
    alice, bob = both(chat)
    alice.send("is it there yet?")
    sent = worker.wait_for(1)[0]
    for opened in (alice, bob):
        expect(opened.message("is it there yet?").locator(".delivery")).to_have_text("Sent", timeout=SLOW)
    assert worker.post_status(sent, "delivered") == 200
    for opened in (alice, bob):
        badge = opened.message("is it there yet?").locator(".delivery")
        expect(badge).to_have_text("Delivered", timeout=SLOW)
        expect(badge).to_have_attribute("data-status", "delivered")
    details = bob.message("is it there yet?").get_by_role("button", name="Delivery details")
    details.click()
    receipts = bob.message("is it there yet?").get_by_role("list", name="Delivery to each recipient")
    expect(receipts).to_have_text("SMS participant: delivered")  # getDetailedDeliveryReceipts, per recipient
    expect(details).to_have_attribute("aria-expanded", "true")
    details.click()
    expect(receipts).to_be_hidden()


def test_history_loads_earlier_pages_when_scrolled_to_the_top(chat: Chat, client: Client) -> None:
    from playwright.sync_api import expect

    conversation = client.conversations.v1.conversations.create(friendly_name="Long")
    conversation.participants.create(identity="alice")
    for n in range(45):
        conversation.messages.create(author="bob", body=f"message {n}")
    alice = chat.sign_in("alice")
    alice.open("Long")
    expect(alice.page.locator("#messages > li")).to_have_count(30)
    expect(alice.message("message 44")).to_be_in_viewport()
    alice.page.locator("#scroller").evaluate("(scroller) => { scroller.scrollTop = 0; }")
    expect(alice.page.locator("#messages > li")).to_have_count(45)
    expect(alice.page.locator("#history-status")).to_have_text("This is the start of the conversation.")
    assert alice.bodies() == [f"message {n}" for n in range(45)]


def test_conversations_joined_renamed_and_left_and_messages_edited_show_live(chat: Chat, client: Client) -> None:
    from playwright.sync_api import expect

    first = client.conversations.v1.conversations.create(friendly_name="Orders")
    first.participants.create(identity="alice")
    message = first.messages.create(author="bob", body="first version")
    alice = chat.sign_in("alice")
    alice.open("Orders")
    later = client.conversations.v1.conversations.create(friendly_name="Refunds")
    joined = later.participants.create(identity="alice")
    expect(alice.conversation("Refunds")).to_be_visible(timeout=SLOW)
    first.update(friendly_name="Orders (EU)")
    expect(alice.page.locator("#conversation-title")).to_have_text("Orders (EU)", timeout=SLOW)
    expect(alice.conversation("Orders (EU)")).to_be_visible()
    first.messages(message.sid).update(body="second version")
    expect(alice.message("second version")).to_be_visible(timeout=SLOW)
    assert alice.bodies() == ["second version"]
    later.participants(joined.sid).delete()
    expect(alice.conversation("Refunds")).to_have_count(0, timeout=SLOW)
    first.participants.list()[0].delete()  # alice leaves the one on screen
    expect(alice.conversation("Orders (EU)")).to_have_count(0, timeout=SLOW)
    expect(alice.page.locator("#conversation-title")).to_have_text("Choose a conversation")
    expect(alice.page.locator("#no-conversations")).to_be_visible()


def test_unread_counts_show_for_conversations_not_on_screen(chat: Chat, client: Client) -> None:
    from playwright.sync_api import expect

    for name in ("Billing", "Shipping"):
        conversation = client.conversations.v1.conversations.create(friendly_name=name)
        conversation.participants.create(identity="alice")
    alice = chat.sign_in("alice")
    alice.open("Billing")
    shipping = next(c for c in client.conversations.v1.conversations.list() if c.friendly_name == "Shipping")
    shipping.messages.create(author="dan", body="your parcel left")
    shipping.messages.create(author="dan", body="and it arrived")
    expect(alice.conversation("Shipping").locator(".unread")).to_have_text("2 unread", timeout=SLOW)
    expect(alice.page.locator("#announcer")).to_contain_text("New message in Shipping from dan")
    alice.open("Shipping")
    expect(alice.conversation("Shipping").locator(".unread")).to_be_hidden(timeout=SLOW)


# -- the README's picture ---------------------------------------------------------------------------------------


def test_the_readme_screenshot_shows_a_conversation_with_an_sms_participant(
    chat: Chat, client: Client, worker: FakeCarrier, sender_pool: dict[str, str], tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    sid = support_conversation(client, sender_pool["sms"], "alice", "bob")
    other = client.conversations.v1.conversations.create(friendly_name="Returns desk")
    other.participants.create(identity="alice")
    other.messages.create(author="bob", body="Can you take the return for order 1182?")
    messages = client.conversations.v1.conversations(sid).messages
    text_in(chat.live, worker, sender_pool["sms"], "Hi, my parcel says delivered but it isn't here")
    eventually(lambda: len(messages.list()) == 1)
    messages.create(author="bob", body="Sorry to hear that! Let me check with the courier.")
    alice, bob = both(chat)
    messages.create(author="bob", body="The courier left it with your neighbour at number 12.")
    expect(alice.message("neighbour")).to_be_visible(timeout=SLOW)
    picture = tmp_path / "doorstep.png"
    picture.write_bytes(png(320, 180))
    bob.page.set_input_files("#attachment", str(picture))
    bob.page.get_by_role("button", name="Send").click()  # the photo alone: no typing yet, which comes below
    expect(alice.page.locator("img.inline-image")).to_be_visible(timeout=SLOW)
    text_in(chat.live, worker, sender_pool["sms"], "Found it, thank you!")
    expect(alice.message("Found it")).to_be_visible(timeout=SLOW)
    alice.send("Great, glad it turned up. Anything else?")
    expect(alice.message("Anything else?").locator(".delivery")).to_have_text("Delivered", timeout=SLOW)
    bob.page.get_by_label("Message", exact=True).press_sequentially("Have a")
    expect(alice.page.locator("#typing")).to_have_text("bob is typing…", timeout=SLOW)
    alice.page.set_viewport_size({"width": 1280, "height": 960})
    alice.page.locator("#scroller").evaluate("(scroller) => { scroller.scrollTop = scroller.scrollHeight; }")
    alice.page.locator("#message-body").blur()
    save_screenshot(alice.page, tmp_path)


def save_screenshot(page: Any, tmp_path: Path) -> None:
    shot = tmp_path / SCREENSHOT.name
    page.screenshot(path=str(shot))
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000
    if os.environ.get("BRIDGE_UPDATE_SCREENSHOT") == "1" or not SCREENSHOT.exists():
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)
