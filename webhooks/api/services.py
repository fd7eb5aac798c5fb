"""`/v1/Services`: Conversation Services. Twilio has no update operation for them."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from bridge import services
from bridge.models import ConversationService
from webhooks.api.base import (
    absolute,
    created,
    dates,
    deleted,
    envelope,
    list_page,
    ok,
    params,
    route,
    session,
    settings,
)

blueprint = Blueprint("services", __name__)


def represent(service: ConversationService) -> dict[str, Any]:
    base = f"/v1/Services/{service.sid}"
    return {
        "account_sid": settings().account_sid,
        "sid": service.sid,
        "friendly_name": service.friendly_name,
        **dates(service),
        "url": absolute(base),
        "links": {
            "conversations": absolute(f"{base}/Conversations"),
            "users": absolute(f"{base}/Users"),
            "roles": absolute(f"{base}/Roles"),
            "configuration": absolute(f"{base}/Configuration"),
            "participant_conversations": absolute(f"{base}/ParticipantConversations"),
            "conversation_with_participants": absolute(f"{base}/ConversationWithParticipants"),
        },
    }


@route(blueprint, "/v1/Services", methods=["POST"])
def create_service() -> tuple[Response, int]:
    return created(represent(services.create_service(session(), params().required("FriendlyName"))))


@route(blueprint, "/v1/Services", methods=["GET"])
def list_services() -> Response:
    page, page_req = list_page(services.services_query(), ConversationService.id)
    return envelope("services", [represent(s) for s in page.items], page, page_req)


@route(blueprint, "/v1/Services/<sid>", methods=["GET"])
def fetch_service(sid: str) -> Response:
    return ok(represent(services.find_service(session(), sid)))


@route(blueprint, "/v1/Services/<sid>", methods=["DELETE"])
def delete_service(sid: str) -> tuple[str, int]:
    services.delete_service(session(), services.find_service(session(), sid))
    return deleted()
