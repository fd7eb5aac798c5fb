"""`/v1/Configuration` (the account) and `/v1/Services/{IS}/Configuration` (one service)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from bridge import accounts, services
from bridge.models import AccountConfiguration, ConversationService
from webhooks.api.base import absolute, ok, params, route, session, settings

blueprint = Blueprint("configuration", __name__)


def represent_account(config: AccountConfiguration) -> dict[str, Any]:
    chat = config.default_chat_service
    messaging = config.default_messaging_service
    return {
        "account_sid": settings().account_sid,
        "default_chat_service_sid": chat.sid if chat else None,
        "default_messaging_service_sid": messaging.sid if messaging else None,
        "default_inactive_timer": config.default_inactive_timer,
        "default_closed_timer": config.default_closed_timer,
        "url": absolute("/v1/Configuration"),
        "links": {
            "addresses": absolute("/v1/Configuration/Addresses"),
            "webhooks": absolute("/v1/Configuration/Webhooks"),
        },
    }


@route(blueprint, "/v1/Configuration", methods=["GET"])
def fetch_configuration() -> Response:
    return ok(represent_account(accounts.configuration(session())))


@route(blueprint, "/v1/Configuration", methods=["POST"])
def update_configuration() -> Response:
    form = params()
    config = accounts.update_configuration(
        session(),
        default_chat_service_sid=form.given("DefaultChatServiceSid"),
        default_messaging_service_sid=form.given("DefaultMessagingServiceSid"),
        default_inactive_timer=form.given("DefaultInactiveTimer"),
        default_closed_timer=form.given("DefaultClosedTimer"),
    )
    return ok(represent_account(config))


def represent_service_configuration(service: ConversationService) -> dict[str, Any]:
    base = f"/v1/Services/{service.sid}/Configuration"
    return {
        "chat_service_sid": service.sid,
        "default_conversation_creator_role_sid": service.default_conversation_creator_role_sid,
        "default_conversation_role_sid": service.default_conversation_role_sid,
        "default_chat_service_role_sid": service.default_chat_service_role_sid,
        "url": absolute(base),
        "links": {"webhooks": absolute(f"{base}/Webhooks")},
        "reachability_enabled": service.reachability_enabled,
        # Bridge extensions (not in Twilio's API): see the README's "What each channel receives".
        "attribution_enabled": service.attribution_enabled,
        "keyword_messages_visible": service.keyword_messages_visible,
    }


@route(blueprint, "/v1/Services/<service_sid>/Configuration", methods=["GET"])
def fetch_service_configuration(service_sid: str) -> Response:
    return ok(represent_service_configuration(services.find_service(session(), service_sid)))


@route(blueprint, "/v1/Services/<service_sid>/Configuration", methods=["POST"])
def update_service_configuration(service_sid: str) -> Response:
    form = params()
    service = services.update_service_configuration(
        session(),
        services.find_service(session(), service_sid),
        default_conversation_creator_role_sid=form.given("DefaultConversationCreatorRoleSid"),
        default_conversation_role_sid=form.given("DefaultConversationRoleSid"),
        default_chat_service_role_sid=form.given("DefaultChatServiceRoleSid"),
        reachability_enabled=form.bool("ReachabilityEnabled"),
        attribution_enabled=form.bool("AttributionEnabled"),
        keyword_messages_visible=form.bool("KeywordMessagesVisible"),
    )
    return ok(represent_service_configuration(service))
