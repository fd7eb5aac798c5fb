"""One Conversation Service populated through the REST API with one of everything a path can name: a role, a
user, a conversation with a chat and an SMS participant and a webhook of its own, uploaded media, a message
carrying it, and the receipt of that message's SMS delivery (so the user has a user conversation too); the
service's webhook settings; and a device the user registered for push (through the push registry's own function,
as the gateway registers one: REST has no create for bindings)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from bridge.models import ConversationService, UnroutedMessage
from bridge.push import bindings
from tests.integration.conftest import Api
from tests.security.routes import arguments, placeholder
from tests.support.fake_carrier import FakeCarrier
from tests.support.live import LiveBridge
from tests.support.waiting import eventually

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def _ok(response: Any, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, f"{response.request.method} {response.url}: {response.text}"
    return response.json()


@dataclass(frozen=True)
class World:
    tag: str
    service_sid: str
    prefix: str  # the service's paths: "/v1/Services/IS..." or, for the default service, "/v1"
    role_sid: str
    user_sid: str
    identity: str
    conversation_sid: str
    unique_name: str
    participant_sid: str  # the chat participant (identity)
    sms_participant_sid: str
    address: str
    media_sid: str
    message_sid: str
    body: str
    receipt_sid: str
    webhook_sid: str  # the conversation's own webhook
    webhook_url: str
    settings_url: str  # the service's post-event webhook URL
    binding_sid: str  # the user's push binding
    device_token: str

    def refs(self, resource: str) -> list[str]:
        """Every way a path names this world's object of `resource` (the path segment before the argument).
        KeyError: a resource this world has none of; add it here, so that its paths are checked too."""
        return {
            "Conversations": [self.conversation_sid, self.unique_name],
            "Participants": [self.participant_sid, self.sms_participant_sid, self.identity],
            "Messages": [self.message_sid],
            "Receipts": [self.receipt_sid],
            "Users": [self.user_sid, self.identity],
            "Roles": [self.role_sid],
            "Media": [self.media_sid],
            "Webhooks": [self.webhook_sid],
            "Bindings": [self.binding_sid],
        }[resource]

    def secrets(self) -> list[str]:
        """What must never show up in another service's answers."""
        return [
            self.service_sid,
            self.role_sid,
            self.user_sid,
            self.identity,
            self.conversation_sid,
            self.unique_name,
            self.participant_sid,
            self.sms_participant_sid,
            self.address,
            self.media_sid,
            self.message_sid,
            self.body,
            self.receipt_sid,
            self.webhook_sid,
            self.webhook_url,
            self.settings_url,
            self.binding_sid,
            self.device_token,
        ]

    def own_paths(self) -> list[str]:
        """The world's objects through its own service's paths (what an intruder must not change)."""
        conversation = f"{self.prefix}/Conversations/{self.conversation_sid}"
        return [
            conversation,
            f"{conversation}/Participants/{self.participant_sid}",
            f"{conversation}/Participants/{self.sms_participant_sid}",
            f"{conversation}/Messages/{self.message_sid}",
            f"{conversation}/Messages/{self.message_sid}/Receipts/{self.receipt_sid}",
            f"{conversation}/Webhooks/{self.webhook_sid}",
            f"/v1/Services/{self.service_sid}/Configuration/Webhooks",
            f"{self.prefix}/Users/{self.user_sid}",
            f"{self.prefix}/Users/{self.user_sid}/Conversations/{self.conversation_sid}",
            f"{self.prefix}/Roles/{self.role_sid}",
            f"/v1/Services/{self.service_sid}/Media/{self.media_sid}",
            f"/v1/Services/{self.service_sid}/Bindings/{self.binding_sid}",
        ]


def default_service_sid(api: Api) -> str:
    return str(_ok(api.get("/v1/Configuration"), 200)["default_chat_service_sid"])


def register_device(live: LiveBridge, service_sid: str, identity: str, token: str) -> str:
    with live.database.transaction() as session:
        service = session.scalars(select(ConversationService).where(ConversationService.sid == service_sid)).one()
        registration = bindings.Registration("fcm", token, ["twilio.conversations.new_message"])
        return bindings.register(session, service, identity, None, registration).sid


def build_world(
    live: LiveBridge, api: Api, tag: str, address: str, proxy_address: str, service_sid: str | None = None
) -> World:
    """A populated service: a new one, or the default service when `service_sid` is None. Needs the worker (the
    receipt is the SMS delivery's)."""
    if service_sid is None:
        service_sid, prefix = default_service_sid(api), "/v1"
    else:
        prefix = f"/v1/Services/{service_sid}"
    identity, unique_name, body = f"{tag}-alice", f"{tag}-private", f"{tag}: the secret is 4417"
    role_form = {"FriendlyName": f"{tag}-role", "Type": "conversation", "Permission": "sendMessage"}
    role = _ok(api.post(f"{prefix}/Roles", role_form))
    user = _ok(api.post(f"{prefix}/Users", {"Identity": identity, "FriendlyName": f"{tag} Alice"}))
    conversation = _ok(api.post(f"{prefix}/Conversations", {"UniqueName": unique_name, "FriendlyName": tag}))
    participants = f"{prefix}/Conversations/{conversation['sid']}/Participants"
    chat = _ok(api.post(participants, {"Identity": identity, "RoleSid": role["sid"]}))
    binding = {"MessagingBinding.Address": address, "MessagingBinding.ProxyAddress": proxy_address}
    sms = _ok(api.post(participants, binding))
    media = _ok(api.post(f"/v1/Services/{service_sid}/Media", PNG, headers={"Content-Type": "image/png"}))
    message = _ok(
        api.post(
            f"{prefix}/Conversations/{conversation['sid']}/Messages",
            {"Author": identity, "Body": body, "MediaSid": media["sid"], "Attributes": json.dumps({"tag": tag})},
        )
    )
    # Webhooks for an event these tests never cause: nothing is ever sent to them.
    webhook_url, settings_url = f"https://{tag}.example.com/conversation-hook", f"https://{tag}.example.com/hook"
    quiet = "onConversationRemoved"
    webhook_form = {"Target": "webhook", "Configuration.Url": webhook_url, "Configuration.Filters": quiet}
    webhook = _ok(api.post(f"{prefix}/Conversations/{conversation['sid']}/Webhooks", webhook_form))
    settings_path = f"/v1/Services/{service_sid}/Configuration/Webhooks"
    _ok(api.post(settings_path, {"PostWebhookUrl": settings_url, "Filters": quiet}), 200)
    # A receipt exists once the carrier has the message: the worker must be running.
    receipts_path = f"{prefix}/Conversations/{conversation['sid']}/Messages/{message['sid']}/Receipts"
    receipts = eventually(lambda: _ok(api.get(receipts_path), 200)["delivery_receipts"], timeout=30)
    assert len(receipts) == 1, receipts
    device_token = f"{tag}-device-token-5523"
    binding_sid = register_device(live, service_sid, identity, device_token)
    return World(
        tag=tag,
        service_sid=service_sid,
        prefix=prefix,
        role_sid=role["sid"],
        user_sid=user["sid"],
        identity=identity,
        conversation_sid=conversation["sid"],
        unique_name=unique_name,
        participant_sid=chat["sid"],
        sms_participant_sid=sms["sid"],
        address=address,
        media_sid=media["sid"],
        message_sid=message["sid"],
        body=body,
        receipt_sid=receipts[0]["sid"],
        webhook_sid=webhook["sid"],
        webhook_url=webhook_url,
        settings_url=settings_url,
        binding_sid=binding_sid,
        device_token=device_token,
    )


def new_service(api: Api, name: str) -> str:
    return str(_ok(api.post("/v1/Services", {"FriendlyName": name}))["sid"])


def reroutable(live: LiveBridge, api: Api, fake_carrier: FakeCarrier, proxy: str, n: int) -> str:
    """A message from a number no conversation knew, kept as unrouted; its sender has joined a conversation since,
    so a re-route goes through (and is audited)."""
    sender = f"+1415555016{n}"
    assert (
        fake_carrier.post_inbound(live.url, fake_carrier.inbound_params(sender, proxy, "route me")).status_code == 200
    )
    conversation = api.post("/v1/Conversations", {"FriendlyName": f"late {n}"}).json()["sid"]
    binding = {"MessagingBinding.Address": sender, "MessagingBinding.ProxyAddress": proxy}
    assert api.post(f"/v1/Conversations/{conversation}/Participants", binding).status_code == 201
    with live.database.transaction() as session:
        found = session.scalars(select(UnroutedMessage.id).where(UnroutedMessage.from_address == sender)).one()
    return str(found)


def path_values(rule: str, world: World | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Values for a rule's path arguments that name the world's real objects where it has one (so that a route
    which looks its object up first cannot answer 404 and hide what it does next), `extra` for objects outside
    the world (keyed by the path segment before the argument), and placeholders for the rest."""
    extra = extra or {}
    values: dict[str, str] = {}
    for name, segment in arguments(rule):
        messaging = rule.startswith("/messaging/")
        if world is None:
            values[name] = placeholder(rule, name)
        elif segment == "Services" and messaging and "messaging_service" in extra:
            values[name] = extra["messaging_service"]
        elif segment == "Services" and not messaging:
            values[name] = world.service_sid
        elif segment in extra:
            values[name] = extra[segment]
        elif segment == "status":
            values[name] = world.receipt_sid  # a status callback names its delivery (DY)
        elif segment == "messages":
            values[name] = world.message_sid  # the admin's message timeline
        else:
            try:
                values[name] = world.refs(segment)[0]
            except KeyError:
                values[name] = placeholder(rule, name)
    return values
