"""Webhook configuration: the account's (`/v1/Configuration/Webhooks`), a service's
(`/v1/Services/{IS}/Configuration/Webhooks`) and a conversation's own (`/Conversations/{CH}/Webhooks`, on
default-service and service paths)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from bridge import conversations, services
from bridge.hooks import configuration as hooks
from bridge.messages import MAX_INDEX
from bridge.models import ConversationService, ConversationWebhook, WebhookSettings
from webhooks.api.base import (
    Scope,
    absolute,
    created,
    dates,
    deleted,
    envelope,
    list_page,
    ok,
    params,
    route,
    scoped_route,
    session,
    settings,
)
from webhooks.forms import Params

blueprint = Blueprint("webhooks", __name__)

# Twilio's conversation-scoped webhook lists: five per page at most, and by default.
WEBHOOK_PAGE_SIZE = 5


# --- the account's settings ---------------------------------------------------------------------------------


def represent_account(found: WebhookSettings | None) -> dict[str, Any]:
    """Never written: no URLs, no filters, and the method and target the bridge would use."""
    return {
        "account_sid": settings().account_sid,
        "pre_webhook_url": found.pre_webhook_url if found else None,
        "post_webhook_url": found.post_webhook_url if found else None,
        "method": found.method if found else "POST",
        "filters": list(found.filters) if found else [],
        "target": found.target if found else "webhook",
        "url": absolute("/v1/Configuration/Webhooks"),
    }


@route(blueprint, "/v1/Configuration/Webhooks", methods=["GET"])
def fetch_account_webhooks() -> Response:
    return ok(represent_account(hooks.account_settings(session())))


@route(blueprint, "/v1/Configuration/Webhooks", methods=["POST"])
def update_account_webhooks() -> Response:
    form = params()
    found = hooks.update_account_settings(
        session(),
        pre_webhook_url=form.given("PreWebhookUrl"),
        post_webhook_url=form.given("PostWebhookUrl"),
        filters=form.given_list("Filters"),
        method=form.given("Method"),
        target=form.given("Target"),
    )
    return ok(represent_account(found))


# --- a service's settings -----------------------------------------------------------------------------------


def represent_service(service: ConversationService, found: WebhookSettings | None) -> dict[str, Any]:
    """Never written: Twilio's answer for an unconfigured service, everything null."""
    return {
        "account_sid": settings().account_sid,
        "chat_service_sid": service.sid,
        "pre_webhook_url": found.pre_webhook_url if found else None,
        "post_webhook_url": found.post_webhook_url if found else None,
        "filters": list(found.filters) if found else None,
        "method": found.method if found else None,
        "url": absolute(f"/v1/Services/{service.sid}/Configuration/Webhooks"),
        # Bridge extensions (Programmable Chat's service settings): retries after a timeout, 429, 503 or 504.
        "pre_webhook_retry_count": found.pre_webhook_retry_count if found else 0,
        "post_webhook_retry_count": found.post_webhook_retry_count if found else 0,
    }


@route(blueprint, "/v1/Services/<service_sid>/Configuration/Webhooks", methods=["GET"])
def fetch_service_webhooks(service_sid: str) -> Response:
    service = services.find_service(session(), service_sid)
    return ok(represent_service(service, hooks.service_settings(session(), service)))


@route(blueprint, "/v1/Services/<service_sid>/Configuration/Webhooks", methods=["POST"])
def update_service_webhooks(service_sid: str) -> Response:
    form = params()
    service = services.find_service(session(), service_sid)
    found = hooks.update_service_settings(
        session(),
        service,
        pre_webhook_url=form.given("PreWebhookUrl"),
        post_webhook_url=form.given("PostWebhookUrl"),
        filters=form.given_list("Filters"),
        method=form.given("Method"),
        pre_webhook_retry_count=form.given("PreWebhookRetryCount"),
        post_webhook_retry_count=form.given("PostWebhookRetryCount"),
    )
    return ok(represent_service(service, found))


# --- a conversation's own webhooks --------------------------------------------------------------------------


def configuration_of(webhook: ConversationWebhook) -> dict[str, Any]:
    """Twilio's shape per target: a trigger's keywords are listed as its `filters`; a flow shows its SID, and
    the URL the bridge posts to when one was given."""
    if webhook.target == hooks.STUDIO:
        shown: dict[str, Any] = {"flow_sid": webhook.flow_sid}
        if webhook.url:
            shown.update(url=webhook.url, method=webhook.method)
        if webhook.filters:
            shown["filters"] = list(webhook.filters)
        return shown
    listed = webhook.triggers if webhook.target == hooks.TRIGGER else webhook.filters
    return {"url": webhook.url, "method": webhook.method, "filters": list(listed)}


def represent_webhook(scope: Scope, conversation_sid: str, webhook: ConversationWebhook) -> dict[str, Any]:
    # Twilio's service-path representation names the service; its default-path one does not.
    service = {} if scope.prefix == "/v1" else {"chat_service_sid": scope.service_sid}
    return {
        "account_sid": settings().account_sid,
        **service,
        "conversation_sid": conversation_sid,
        "sid": webhook.sid,
        "target": webhook.target,
        "configuration": configuration_of(webhook),
        **dates(webhook),
        "url": scope.url(f"/Conversations/{conversation_sid}/Webhooks/{webhook.sid}"),
    }


def _configuration_changes(form: Params) -> dict[str, Any]:
    return {
        "url": form.given("Configuration.Url"),
        "method": form.given("Configuration.Method"),
        "filters": form.given_list("Configuration.Filters"),
        "triggers": form.given_list("Configuration.Triggers"),
        "flow_sid": form.given("Configuration.FlowSid"),
    }


@scoped_route(blueprint, "/Conversations/<conversation_sid>/Webhooks", methods=["POST"])
def create_conversation_webhook(scope: Scope, conversation_sid: str) -> tuple[Response, int]:
    form = params()
    conversation = conversations.find_conversation(session(), scope.service, conversation_sid)
    replay_after = form.int("Configuration.ReplayAfter", minimum=0, maximum=MAX_INDEX)
    webhook = hooks.create_conversation_webhook(
        session(),
        conversation,
        form.str("Target"),
        replay_after=replay_after if isinstance(replay_after, int) else None,
        **_configuration_changes(form),
    )
    return created(represent_webhook(scope, conversation.sid, webhook))


@scoped_route(blueprint, "/Conversations/<conversation_sid>/Webhooks", methods=["GET"])
def list_conversation_webhooks(scope: Scope, conversation_sid: str) -> Response:
    conversation = conversations.find_conversation(session(), scope.service, conversation_sid)
    page, page_req = list_page(
        hooks.conversation_webhooks_query(conversation),
        ConversationWebhook.id,
        max_size=WEBHOOK_PAGE_SIZE,
        default_size=WEBHOOK_PAGE_SIZE,
    )
    return envelope("webhooks", [represent_webhook(scope, conversation.sid, w) for w in page.items], page, page_req)


@scoped_route(blueprint, "/Conversations/<conversation_sid>/Webhooks/<sid>", methods=["GET"])
def fetch_conversation_webhook(scope: Scope, conversation_sid: str, sid: str) -> Response:
    conversation = conversations.find_conversation(session(), scope.service, conversation_sid)
    webhook = hooks.find_conversation_webhook(session(), conversation, sid)
    return ok(represent_webhook(scope, conversation.sid, webhook))


@scoped_route(blueprint, "/Conversations/<conversation_sid>/Webhooks/<sid>", methods=["POST"])
def update_conversation_webhook(scope: Scope, conversation_sid: str, sid: str) -> Response:
    conversation = conversations.find_conversation(session(), scope.service, conversation_sid)
    webhook = hooks.find_conversation_webhook(session(), conversation, sid)
    hooks.update_conversation_webhook(session(), webhook, **_configuration_changes(params()))
    return ok(represent_webhook(scope, conversation.sid, webhook))


@scoped_route(blueprint, "/Conversations/<conversation_sid>/Webhooks/<sid>", methods=["DELETE"])
def delete_conversation_webhook(scope: Scope, conversation_sid: str, sid: str) -> tuple[str, int]:
    conversation = conversations.find_conversation(session(), scope.service, conversation_sid)
    hooks.delete_conversation_webhook(session(), hooks.find_conversation_webhook(session(), conversation, sid))
    return deleted()
