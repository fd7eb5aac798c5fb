"""Resources the fuzzer aims at: one of each kind, made through the real API (and one signed webhook), so that
generated cases name things that exist and reach past the 404."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from sqlalchemy import select, update
from twilio.request_validator import RequestValidator

from bridge.models import Delivery, Message, WebhookAttempt, WebhookCall
from bridge.push import bindings
from bridge.services import find_service
from bridge.sids import new_sid
from bridge.timeutil import utcnow
from tests.fuzz.harness import Credentials
from tests.support.live import LiveBridge

SENDER, WHATSAPP_SENDER, AUTOCREATE = "+12015550100", "whatsapp:+12015550102", "+12015550103"
CUSTOMER, STRANGER = "+14155550123", "+14155559999"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"\x00" * 16


@dataclass(frozen=True)
class Seeds:
    service: str
    other_service: str
    conversation: str
    conversation_name: str
    chat_participant: str
    sms_participant: str
    identity: str
    message: str
    receipt: str
    user: str
    role: str
    messaging_service: str
    phone_number: str
    address_configuration: str
    media: str
    media_token: str
    unrouted_id: int
    webhook: str
    webhook_call: str
    credential: str
    binding: str

    def for_path(self, template: str, name: str) -> list[Any]:
        """The seeded values a path parameter may take in `template` (empty: let schemathesis generate)."""
        by_name: dict[str, list[Any]] = {
            "ChatServiceSid": [self.service],
            "ConversationSid": [self.conversation, self.conversation_name],
            "MessageSid": [self.message],
            "UserSid": [self.user, self.identity],
            "ServiceSid": [self.messaging_service],
            "DeliverySid": [self.receipt],
            "Id": [self.unrouted_id],
            "CallSid": [self.webhook_call],
            "Token": [self.media_token],
        }
        if name != "Sid":
            return by_name.get(name, [])
        collection = template.split("/{Sid}")[0].rsplit("/", 1)[-1]
        if template.startswith("/messaging/"):
            return {"Services": [self.messaging_service], "PhoneNumbers": [self.phone_number]}.get(collection, [])
        return {
            "Services": [self.service, self.other_service],
            "Conversations": [self.conversation, self.conversation_name],
            "Participants": [self.chat_participant, self.sms_participant, self.identity],
            "Messages": [self.message],
            "Receipts": [self.receipt],
            "Roles": [self.role],
            "Users": [self.user, self.identity],
            "Addresses": [self.address_configuration, AUTOCREATE],
            "Media": [self.media],
            "media": [self.media],
            "Webhooks": [self.webhook],
            "Credentials": [self.credential],
            "Bindings": [self.binding],
        }.get(collection, [])


def seed(live: LiveBridge, credentials: Credentials) -> Seeds:
    """A first-start database, then one resource of each kind (and a failed delivery, an unrouted message)."""
    live.reset()
    http = requests.Session()
    http.auth = (credentials.account_sid, credentials.auth_token)
    base = live.url

    def post(path: str, data: Any = None, **kwargs: Any) -> dict[str, Any]:
        response = http.post(base + path, data=data, timeout=30, **kwargs)
        assert response.status_code in (200, 201), f"seeding {path}: {response.status_code} {response.text}"
        return response.json()

    configuration = http.get(base + "/v1/Configuration", timeout=30).json()
    service, pool = configuration["default_chat_service_sid"], configuration["default_messaging_service_sid"]
    numbers = f"/messaging/v1/Services/{pool}/PhoneNumbers"
    phone_number = post(numbers, {"PhoneNumber": SENDER})["sid"]
    post(numbers, {"PhoneNumber": WHATSAPP_SENDER})
    other_service = post("/v1/Services", {"FriendlyName": "Other"})["sid"]
    conversation = post("/v1/Conversations", {"FriendlyName": "Fuzz", "UniqueName": "fuzz-ticket"})["sid"]
    participants = f"/v1/Conversations/{conversation}/Participants"
    user = post("/v1/Users", {"Identity": "alice", "FriendlyName": "Alice"})["sid"]
    chat = post(participants, {"Identity": "alice"})["sid"]
    sms = post(participants, {"MessagingBinding.Address": CUSTOMER, "MessagingBinding.ProxyAddress": SENDER})["sid"]
    message = post(f"/v1/Conversations/{conversation}/Messages", {"Author": "alice", "Body": "Hello"})["sid"]
    receipt = _fail_delivery(live, message)
    flow = {"Target": "studio", "Configuration.FlowSid": "FW" + "0" * 32}
    webhook = post(f"/v1/Conversations/{conversation}/Webhooks", flow)["sid"]
    role = post("/v1/Roles", {"FriendlyName": "fuzz-role", "Type": "conversation", "Permission": "sendMessage"})["sid"]
    address = post("/v1/Configuration/Addresses", {"Type": "sms", "Address": AUTOCREATE})["sid"]
    media = post(f"/v1/Services/{service}/Media", PNG, headers={"Content-Type": "image/png"})
    token = urlsplit(media["links"]["content_direct_temporary"]).path.rsplit("/", 1)[-1]
    credential = post("/v1/Credentials", {"Type": "gcm", "ApiKey": "fuzz-key", "FriendlyName": "fuzz"})["sid"]
    _unrouted_inbound(live, credentials)
    admin = (credentials.admin_username, credentials.admin_password)
    unrouted = requests.get(base + "/admin/api/unrouted", auth=admin, timeout=30).json()["unrouted"][0]["id"]
    return Seeds(
        service=service,
        other_service=other_service,
        conversation=conversation,
        conversation_name="fuzz-ticket",
        chat_participant=chat,
        sms_participant=sms,
        identity="alice",
        message=message,
        receipt=receipt,
        user=user,
        role=role,
        messaging_service=pool,
        phone_number=phone_number,
        address_configuration=address,
        media=media["sid"],
        media_token=token,
        unrouted_id=unrouted,
        webhook=webhook,
        webhook_call=_failed_webhook_call(live, service, conversation, message),
        credential=credential,
        binding=_push_binding(live, service, credential),
    )


def _push_binding(live: LiveBridge, service_sid: str, credential_sid: str) -> str:
    """A device of alice's registered for push, as the SDK registers one through the gateway. Returns its SID."""
    registration = bindings.Registration("fcm", "fuzz-device-token", ["twilio.conversations.new_message"])
    with live.database.transaction() as session:
        service = find_service(session, service_sid)
        return bindings.register(session, service, "alice", credential_sid, registration).sid


def _fail_delivery(live: LiveBridge, message_sid: str) -> str:
    """No worker runs here: the message's delivery is marked failed at the carrier, which makes it a receipt and
    something for the admin API to list and replay. Returns its SID."""
    with live.database.transaction() as session:
        message_id = select(Message.id).where(Message.sid == message_sid).scalar_subquery()
        sid = session.scalar(select(Delivery.sid).where(Delivery.message_id == message_id))
        session.execute(
            update(Delivery)
            .where(Delivery.sid == sid)
            .values(status="failed", error_code=30003, error_message="Unreachable", channel_message_sid="SM" + "e" * 32)
        )
    assert sid is not None
    return sid


def _failed_webhook_call(live: LiveBridge, service: str, conversation: str, message: str) -> str:
    """No receiver runs here: a post-event call as the planner writes it, failed after one attempt, for the admin
    API to list, tell and replay. Returns its SID."""
    sid = new_sid("WC")
    now = utcnow()
    with live.database.transaction() as session:
        call = WebhookCall(
            sid=sid,
            event_id=0,
            event_type="onMessageAdded",
            service_sid=service,
            conversation_sid=conversation,
            line=f"{conversation}|account",
            target="account",
            url="https://app.example.com/hooks",
            method="POST",
            payload={"EventType": "onMessageAdded", "ConversationSid": conversation, "MessageSid": message},
            status="failed",
            attempts=1,
            max_attempts=1,
            http_status=500,
            error="HTTP 500",
            event_at=now,
        )
        session.add(call)
        session.flush()
        session.add(
            WebhookAttempt(
                call_id=call.id, attempt=1, started_at=now, duration_ms=12, http_status=500, error="HTTP 500"
            )
        )
    return sid


def _unrouted_inbound(live: LiveBridge, credentials: Credentials) -> None:
    """An inbound message from a number no conversation knows: kept as unrouted, for the admin API."""
    url = credentials.public_url + "/webhooks/twilio/inbound"
    form = {"MessageSid": "SM" + "f" * 32, "From": STRANGER, "To": SENDER, "Body": "Anyone there?"}
    signature = RequestValidator(credentials.carrier_token).compute_signature(url, form)
    response = requests.post(
        live.url + "/webhooks/twilio/inbound", data=form, headers={"X-Twilio-Signature": signature}, timeout=30
    )
    assert response.status_code == 200, response.text
