"""Roles enforced on chat clients: the official SDK, under Node and in Chromium, as a participant whose conversation
role (created over REST with the twilio client) lacks the permission an action needs, is refused with Twilio's 50107
and 403 and nothing changes; with a role holding that permission the same action is done. REST checks what is
stored. Every test runs once with each driver."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from twilio.rest import Client

from bridge import roles
from tests.integration import test_chat_sdk
from tests.integration.conftest import CUSTOMER
from tests.integration.test_chat_sdk import Chat
from tests.support.browser_sdk import BrowserSdkDriver, browser_unavailable_reason
from tests.support.fake_carrier import FakeCarrier
from tests.support.live import LiveBridge
from tests.support.sdk_driver import SdkDriver
from tests.support.waiting import eventually
from tests.support.webhook_receiver import WebhookReceiver

# The chat suite's fixtures: the gateway and a chat backend's keys (its `chat` uses this module's `driver`).
gateway, chat = test_chat_sdk.gateway, test_chat_sdk.chat
BROWSER_MISSING = browser_unavailable_reason()


@pytest.fixture(scope="module")
def node_driver() -> Iterator[SdkDriver]:
    with SdkDriver() as sdk:
        yield sdk


@pytest.fixture(scope="module")
def browser_driver(bridge: LiveBridge) -> Iterator[BrowserSdkDriver]:
    """One Chromium for the module; each client gets a page of the bridge's own origin, reused once it shut down."""
    with BrowserSdkDriver(bridge.url + "/healthz") as sdk:
        yield sdk


@pytest.fixture(
    params=[
        "node",
        pytest.param("browser", marks=pytest.mark.skipif(BROWSER_MISSING is not None, reason=str(BROWSER_MISSING))),
    ]
)
def driver(request: pytest.FixtureRequest) -> SdkDriver | BrowserSdkDriver:
    """The SDK under Node, or in Chromium: the same JS runs in both."""
    found: SdkDriver | BrowserSdkDriver = request.getfixturevalue(f"{request.param}_driver")
    return found


@dataclass(frozen=True)
class Setting:
    """What one case runs in: the REST client, a conversation where the caller (`identity`) is a participant in
    the role under test next to `other` (default role), and one message of each."""

    client: Client
    sid: str
    identity: str
    other: str
    own_message: str
    other_message: str


@dataclass(frozen=True)
class Case:
    grants: tuple[str, ...]  # the permissions any one of which allows the action
    action: str  # JS, awaited with `conversation`, `message(sid)` and `args` in scope
    done: Callable[[Setting], bool]  # read over REST: whether the action took effect


def _conversation(s: Setting):  # the twilio client's context type
    return s.client.conversations.v1.conversations(s.sid)


def _body(s: Setting, message_sid: str) -> str | None:
    return _conversation(s).messages(message_sid).fetch().body


def _message_sids(s: Setting) -> list[str]:
    return [m.sid for m in _conversation(s).messages.list()]


def _identities(s: Setting) -> list[str]:
    return sorted(p.identity for p in _conversation(s).participants.list())


CASES = {
    "sendMessage": Case(
        ("sendMessage",), 'conversation.sendMessage("a new one")', lambda s: len(_message_sids(s)) == 3
    ),
    "editOwnMessage": Case(
        ("editOwnMessage", "editAnyMessage"),
        '(await message(args.own)).updateBody("edited")',
        lambda s: _body(s, s.own_message) == "edited",
    ),
    "editAnyMessage": Case(
        ("editAnyMessage",),
        '(await message(args.theirs)).updateBody("edited")',
        lambda s: _body(s, s.other_message) == "edited",
    ),
    "editOwnMessageAttributes": Case(
        ("editOwnMessageAttributes", "editAnyMessageAttributes"),
        "(await message(args.own)).updateAttributes({flag: 1})",
        lambda s: _conversation(s).messages(s.own_message).fetch().attributes == '{"flag":1}',
    ),
    "editAnyMessageAttributes": Case(
        ("editAnyMessageAttributes",),
        "(await message(args.theirs)).updateAttributes({flag: 1})",
        lambda s: _conversation(s).messages(s.other_message).fetch().attributes == '{"flag":1}',
    ),
    "deleteOwnMessage": Case(
        ("deleteOwnMessage", "deleteAnyMessage"),
        "(await message(args.own)).remove()",
        lambda s: s.own_message not in _message_sids(s),
    ),
    "deleteAnyMessage": Case(
        ("deleteAnyMessage",),
        "(await message(args.theirs)).remove()",
        lambda s: s.other_message not in _message_sids(s),
    ),
    "addParticipant": Case(
        ("addParticipant",), 'conversation.add(args.identity + "-guest")', lambda s: len(_identities(s)) == 3
    ),
    "removeParticipant": Case(
        ("removeParticipant",), "conversation.removeParticipant(args.other)", lambda s: s.other not in _identities(s)
    ),
    "editConversationName": Case(
        ("editConversationName",),
        'conversation.updateFriendlyName("Renamed")',
        lambda s: _conversation(s).fetch().friendly_name == "Renamed",
    ),
    "editConversationAttributes": Case(
        ("editConversationAttributes",),
        'conversation.updateAttributes({topic: "billing"})',
        lambda s: _conversation(s).fetch().attributes == '{"topic":"billing"}',
    ),
    "leaveConversation": Case(
        ("leaveConversation",), "conversation.leave()", lambda s: s.identity not in _identities(s)
    ),
    "deleteConversation": Case(
        ("deleteConversation",),
        "conversation.delete()",
        lambda s: s.sid not in [c.sid for c in s.client.conversations.v1.conversations.list()],
    ),
}

ACT = """async (client, args) => {
  const conversation = await client.getConversationBySid(args.sid);
  const message = async (sid) => (await conversation.getMessages(30)).items.find((m) => m.sid === sid);
  try {
    await (%s);
    return {done: true};
  } catch (e) {
    return {done: false, status: e.status, code: e.body && e.body.code, message: e.body && e.body.message};
  }
}"""


def _setting(client: Client, service_sid: str, identity: str, permissions: list[str]) -> Setting:
    role = client.conversations.v1.services(service_sid).roles.create(
        friendly_name=f"{identity} role", type="conversation", permission=permissions
    )
    conversation = client.conversations.v1.conversations.create(friendly_name="Roles")
    other = f"{identity}-other"
    conversation.participants.create(identity=identity, role_sid=role.sid)
    conversation.participants.create(identity=other)
    own = conversation.messages.create(author=identity, body="mine").sid
    theirs = conversation.messages.create(author=other, body="theirs").sid
    return Setting(client, str(conversation.sid), identity, other, str(own), str(theirs))


def _act(chat: Chat, setting: Setting, case: Case) -> dict[str, object]:
    args = {
        "sid": setting.sid,
        "identity": setting.identity,
        "other": setting.other,
        "own": setting.own_message,
        "theirs": setting.other_message,
    }
    return chat.driver.run(setting.identity, ACT % case.action, args)


@pytest.mark.parametrize("name", list(CASES))
def test_a_client_action_needs_its_permission(chat: Chat, client: Client, name: str) -> None:
    case = CASES[name]
    identity = f"perm-{name.lower()}"
    lacking = sorted(roles.CONVERSATION_PERMISSIONS - set(case.grants))
    refused_in = _setting(client, chat.service_sid, identity, lacking)
    done_in = _setting(client, chat.service_sid, identity, [case.grants[0]])
    chat.connect(identity)

    refusal = _act(chat, refused_in, case)
    assert refusal["done"] is False, refusal
    assert (refusal["status"], refusal["code"]) == (403, 50107), refusal
    assert case.grants[-1] in str(refusal["message"])
    assert not case.done(refused_in)
    assert len(_message_sids(refused_in)) == 2 and len(_identities(refused_in)) == 2  # nothing else changed

    assert _act(chat, done_in, case) == {"done": True}
    assert case.done(done_in)


def test_the_service_role_grants_what_the_conversation_role_lacks(chat: Chat, client: Client) -> None:
    """A user in a service role with deleteAnyMessage deletes another's message as a plain participant."""
    service = client.conversations.v1.services(chat.service_sid)
    moderator = service.roles.create(friendly_name="moderator", type="service", permission=["deleteAnyMessage"])
    identity = "perm-moderator"
    service.users.create(identity=identity, role_sid=moderator.sid)
    setting = _setting(client, chat.service_sid, identity, ["sendMessage"])
    chat.connect(identity)
    assert _act(chat, setting, CASES["deleteAnyMessage"]) == {"done": True}
    assert setting.other_message not in _message_sids(setting)
    refusal = _act(chat, setting, CASES["editOwnMessage"])  # neither role holds editOwnMessage
    assert (refusal["status"], refusal["code"]) == (403, 50107)


def test_a_refused_send_asks_no_webhook_and_reaches_no_one(
    chat: Chat, client: Client, sender_pool: dict[str, str], receiver: WebhookReceiver, worker: FakeCarrier
) -> None:
    client.conversations.v1.configuration.webhooks().update(
        pre_webhook_url=receiver.url("/pre"),
        post_webhook_url=receiver.url("/post"),
        method="POST",
        filters=["onMessageAdd", "onMessageAdded"],
    )
    reader = client.conversations.v1.services(chat.service_sid).roles.create(
        friendly_name="reader", type="conversation", permission=["leaveConversation"]
    )
    conversation = client.conversations.v1.conversations.create(friendly_name="Read only")
    conversation.participants.create(identity="perm-reader", role_sid=reader.sid)
    conversation.participants.create(identity="perm-writer")
    conversation.participants.create(
        messaging_binding_address=CUSTOMER, messaging_binding_proxy_address=sender_pool["sms"]
    )
    chat.connect("perm-reader")
    chat.connect("perm-writer")

    args = {"sid": conversation.sid}
    refusal = chat.driver.run("perm-reader", ACT % 'conversation.sendMessage("not allowed")', args)
    assert (refusal["status"], refusal["code"]) == (403, 50107), refusal
    # A message that is allowed, after the refused one: once it has arrived everywhere, the refused one would have.
    assert chat.driver.run("perm-writer", ACT % 'conversation.sendMessage("allowed")', args) == {"done": True}
    chat.driver.wait_event("perm-reader", "messageAdded", lambda m: m["body"] == "allowed")
    assert [s.body for s in worker.wait_for(1)] == ["allowed"]
    eventually(lambda: len(receiver.requests("onMessageAdded")) == 1)
    assert [r.fields["Body"] for r in receiver.requests("onMessageAdd")] == ["allowed"]
    assert [r.fields["Body"] for r in receiver.requests("onMessageAdded")] == ["allowed"]
    assert [m.body for m in conversation.messages.list()] == ["allowed"]
    seen = [e["data"]["body"] for name in chat.names for e in chat.driver.events(name, "messageAdded")]
    assert "not allowed" not in seen and "allowed" in seen


RENAME_SELF = """async (client, args) => {
  try {
    await client.user.updateFriendlyName(args.name);
    return {done: true};
  } catch (e) {
    return {done: false, status: e.status, code: e.body && e.body.code};
  }
}"""


def test_editing_one_s_own_user_info_needs_editownuserinfo(chat: Chat, client: Client) -> None:
    service = client.conversations.v1.services(chat.service_sid)
    mute = service.roles.create(friendly_name="no profile edits", type="service", permission=["joinConversation"])
    service.users.create(identity="perm-mute", role_sid=mute.sid, friendly_name="Before")
    service.users.create(identity="perm-speaker", friendly_name="Before")  # the default service user role
    chat.connect("perm-mute")
    chat.connect("perm-speaker")
    refusal = chat.driver.run("perm-mute", RENAME_SELF, {"name": "After"})
    assert (refusal["done"], refusal["status"], refusal["code"]) == (False, 403, 50107), refusal
    assert chat.driver.run("perm-speaker", RENAME_SELF, {"name": "After"}) == {"done": True}
    assert service.users("perm-mute").fetch().friendly_name == "Before"
    assert service.users("perm-speaker").fetch().friendly_name == "After"
