"""`/v1/ParticipantConversations`: every conversation one identity or one address takes part in."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response
from sqlalchemy import select

from bridge import participants
from bridge.errors import invalid
from bridge.models import Participant, User
from webhooks.api.base import Scope, dates, envelope, list_page, query_params, scoped_route, session, settings
from webhooks.api.conversations import timers_of
from webhooks.api.participants import messaging_binding

blueprint = Blueprint("participant_conversations", __name__)


def represent(scope: Scope, participant: Participant, user_sid: str | None) -> dict[str, Any]:
    conversation = participant.conversation
    conversation_dates = dates(conversation)
    return {
        "account_sid": settings().account_sid,
        "chat_service_sid": scope.service_sid,
        "participant_sid": participant.sid,
        "participant_user_sid": user_sid,
        "participant_identity": participant.identity,
        "participant_messaging_binding": _binding(participant),
        "conversation_sid": conversation.sid,
        "conversation_unique_name": conversation.unique_name,
        "conversation_friendly_name": conversation.friendly_name,
        "conversation_attributes": conversation.attributes,
        "conversation_date_created": conversation_dates["date_created"],
        "conversation_date_updated": conversation_dates["date_updated"],
        "conversation_created_by": conversation.created_by,
        "conversation_state": conversation.state,
        "conversation_timers": timers_of(conversation),
        "links": {
            "participant": scope.url(f"/Conversations/{conversation.sid}/Participants/{participant.sid}"),
            "conversation": scope.url(f"/Conversations/{conversation.sid}"),
        },
    }


def _binding(participant: Participant) -> dict[str, Any] | None:
    """The participant's binding in this resource's wider shape: Twilio adds `level`, `name` and
    `projected_address` (null for SMS and WhatsApp)."""
    binding = messaging_binding(participant)
    if binding is None:
        return None
    return {**binding, "level": None, "name": None, "projected_address": None}


@scoped_route(blueprint, "/ParticipantConversations", methods=["GET"])
def list_participant_conversations(scope: Scope) -> Response:
    args = query_params()
    identity, address = args.str("Identity") or None, args.str("Address") or None
    if (identity is None) == (address is None):
        raise invalid("Give exactly one of Identity or Address")
    query = participants.participant_conversations_query(scope.service, identity, address)
    page, page_req = list_page(query, Participant.id, max_size=50)
    user_sid = None
    if identity is not None:
        user_sid = session().scalar(
            select(User.sid).where(User.service_id == scope.service.id, User.identity == identity)
        )
    items = [represent(scope, p, user_sid) for p in page.items]
    return envelope("conversations", items, page, page_req)
