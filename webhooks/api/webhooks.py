"""Webhook configuration: the account's (`/v1/Configuration/Webhooks`) and a service's
(`/v1/Services/{IS}/Configuration/Webhooks`)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from bridge import services
from bridge.hooks import configuration as hooks
from bridge.models import ConversationService, WebhookSettings
from bridge.validation import UNSET
from webhooks.api.base import absolute, ok, params, route, session, settings
from webhooks.forms import Params

blueprint = Blueprint("webhooks", __name__)


def _list_given(form: Params, name: str) -> list[str] | object:
    """The values of a repeated parameter, or UNSET when it was not sent at all."""
    return form.list(name) if name in form else UNSET


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
        filters=_list_given(form, "Filters"),
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
        filters=_list_given(form, "Filters"),
        method=form.given("Method"),
        pre_webhook_retry_count=form.given("PreWebhookRetryCount"),
        post_webhook_retry_count=form.given("PostWebhookRetryCount"),
    )
    return ok(represent_service(service, found))
