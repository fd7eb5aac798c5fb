"""Conversation Participants: chat identities and SMS/WhatsApp bindings."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from bridge import conversations, event_fields, participants
from bridge.addresses import CHAT
from bridge.hooks import pre
from bridge.messages import MAX_INDEX
from bridge.models import Conversation, Participant
from bridge.timeutil import iso
from webhooks.api.base import (
    PreEventBuilder,
    Scope,
    created,
    dates,
    deleted,
    envelope,
    list_page,
    ok,
    params,
    scoped_route,
    session,
    settings,
)
from webhooks.forms import Params, optional

blueprint = Blueprint("participants", __name__)


def messaging_binding(participant: Participant) -> dict[str, Any] | None:
    if participant.channel == CHAT:
        return None
    return {
        "type": participant.channel,
        "address": participant.address,
        "proxy_address": participant.proxy_address,
    }


def last_read_index(form: Params) -> int | object | None:
    """`LastReadMessageIndex`: an index, None when sent empty (the horizon is cleared), UNSET when not sent."""
    if form.str("LastReadMessageIndex") == "":
        return None
    return form.int("LastReadMessageIndex", minimum=0, maximum=MAX_INDEX)


def represent(scope: Scope, conversation: Conversation, participant: Participant) -> dict[str, Any]:
    return {
        "account_sid": settings().account_sid,
        "chat_service_sid": scope.service_sid,
        "conversation_sid": conversation.sid,
        "sid": participant.sid,
        "identity": participant.identity,
        "attributes": participant.attributes,
        "messaging_binding": messaging_binding(participant),
        "role_sid": participant.role_sid,
        **dates(participant),
        "url": scope.url(f"/Conversations/{conversation.sid}/Participants/{participant.sid}"),
        "last_read_message_index": participant.last_read_message_index,
        "last_read_timestamp": iso(participant.last_read_timestamp),
    }


PARTICIPANT_PARAMETERS = (
    "Identity",
    "RoleSid",
    "Attributes",
    "MessagingBinding.Address",
    "MessagingBinding.ProxyAddress",
    "MessagingBinding.ProjectedAddress",
)


def _requested() -> dict[str, str | None]:
    form = params()
    return {name: form.str(name) for name in PARTICIPANT_PARAMETERS}


def _before_adding(scope: Scope, conversation_sid: str) -> pre.PreEvent | None:
    conversation = conversations.find_conversation(session(), scope.service, conversation_sid)
    requested = _requested()
    address = requested["MessagingBinding.Address"] or ""
    kind = "CHAT" if requested["Identity"] else "WHATSAPP" if address.lower().startswith("whatsapp:") else "SMS"
    current = {"ConversationSid": conversation.sid, "ChatServiceSid": scope.service_sid, "MessagingBinding.Type": kind}
    fields = event_fields.pre_event_fields(pre.PARTICIPANT_ADD, current, requested)
    return pre.prepare(session(), scope.service, pre.PARTICIPANT_ADD, fields)


def _before_changing(event_type: str) -> PreEventBuilder:
    def build(scope: Scope, conversation_sid: str, sid: str) -> pre.PreEvent | None:
        conversation = conversations.find_conversation(session(), scope.service, conversation_sid)
        participant = participants.find_participant(session(), conversation, sid)
        current = event_fields.participant_fields(conversation, participant)
        requested = _requested() if event_type == pre.PARTICIPANT_UPDATE else {}
        fields = event_fields.pre_event_fields(event_type, current, requested)
        return pre.prepare(session(), scope.service, event_type, fields)

    return build


@scoped_route(blueprint, "/Conversations/<conversation_sid>/Participants", methods=["POST"], pre_event=_before_adding)
def create_participant(scope: Scope, conversation_sid: str) -> tuple[Response, int]:
    form = params()
    conversation = conversations.find_conversation(session(), scope.service, conversation_sid)
    participant = participants.add_participant(
        session(),
        conversation,
        identity=form.str("Identity") or None,
        address=form.str("MessagingBinding.Address") or None,
        proxy_address=form.str("MessagingBinding.ProxyAddress"),
        projected_address=form.str("MessagingBinding.ProjectedAddress") or None,
        attributes_json=form.str("Attributes") or None,
        role_sid=form.str("RoleSid") or None,
        date_created=optional(form.datetime("DateCreated")),  # type: ignore[arg-type]
        date_updated=optional(form.datetime("DateUpdated")),  # type: ignore[arg-type]
    )
    return created(represent(scope, conversation, participant))


@scoped_route(blueprint, "/Conversations/<conversation_sid>/Participants", methods=["GET"])
def list_participants(scope: Scope, conversation_sid: str) -> Response:
    conversation = conversations.find_conversation(session(), scope.service, conversation_sid)
    page, page_req = list_page(participants.participants_query(conversation), Participant.id)
    return envelope("participants", [represent(scope, conversation, p) for p in page.items], page, page_req)


@scoped_route(blueprint, "/Conversations/<conversation_sid>/Participants/<sid>", methods=["GET"])
def fetch_participant(scope: Scope, conversation_sid: str, sid: str) -> Response:
    conversation = conversations.find_conversation(session(), scope.service, conversation_sid)
    return ok(represent(scope, conversation, participants.find_participant(session(), conversation, sid)))


@scoped_route(
    blueprint,
    "/Conversations/<conversation_sid>/Participants/<sid>",
    methods=["POST"],
    pre_event=_before_changing(pre.PARTICIPANT_UPDATE),
)
def update_participant(scope: Scope, conversation_sid: str, sid: str) -> Response:
    form = params()
    conversation = conversations.find_conversation(session(), scope.service, conversation_sid)
    participant = participants.find_participant(session(), conversation, sid)
    participants.update_participant(
        session(),
        participant,
        attributes_json=form.given("Attributes"),
        role_sid=form.given("RoleSid"),
        proxy_address=form.given("MessagingBinding.ProxyAddress"),
        identity=form.given("Identity"),
        projected_address=form.given("MessagingBinding.ProjectedAddress"),
        last_read_message_index=last_read_index(form),
        last_read_timestamp=form.datetime("LastReadTimestamp"),
        date_created=form.datetime("DateCreated"),
        date_updated=form.datetime("DateUpdated"),
    )
    return ok(represent(scope, conversation, participant))


@scoped_route(
    blueprint,
    "/Conversations/<conversation_sid>/Participants/<sid>",
    methods=["DELETE"],
    pre_event=_before_changing(pre.PARTICIPANT_REMOVE),
)
def delete_participant(scope: Scope, conversation_sid: str, sid: str) -> tuple[str, int]:
    conversation = conversations.find_conversation(session(), scope.service, conversation_sid)
    participants.remove_participant(session(), participants.find_participant(session(), conversation, sid))
    return deleted()
