"""`/v1/Configuration/Addresses`: per-address inbound settings (autocreation)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from bridge import address_configurations as configs
from bridge.models import AddressConfiguration
from bridge.validation import UNSET
from webhooks.api.base import (
    absolute,
    created,
    dates,
    deleted,
    envelope,
    list_page,
    ok,
    params,
    query_params,
    route,
    session,
    settings,
)
from webhooks.forms import Params

blueprint = Blueprint("address_configurations", __name__)


def represent(found: AddressConfiguration) -> dict[str, Any]:
    return {
        "sid": found.sid,
        "account_sid": settings().account_sid,
        "type": found.type,
        "address": found.address,
        "friendly_name": found.friendly_name,
        "auto_creation": found.auto_creation,
        **dates(found),
        "url": absolute(f"/v1/Configuration/Addresses/{found.sid}"),
        "address_country": found.address_country,
    }


def _auto_creation(form: Params) -> dict[str, Any]:
    enabled = form.bool("AutoCreation.Enabled")
    filters = form.list("AutoCreation.WebhookFilters")
    changes: dict[str, Any] = {
        "enabled": None if enabled is UNSET else enabled,
        "type": form.str("AutoCreation.Type") or None,
        "conversation_service_sid": form.str("AutoCreation.ConversationServiceSid") or None,
        "webhook_url": form.str("AutoCreation.WebhookUrl") or None,
        "webhook_method": form.str("AutoCreation.WebhookMethod") or None,
        "webhook_filters": filters or None,
    }
    if form.str("AutoCreation.StudioFlowSid"):
        changes["type"] = "studio"  # refused below with a clear message: no Studio here
    return changes


@route(blueprint, "/v1/Configuration/Addresses", methods=["POST"])
def create_address_configuration() -> tuple[Response, int]:
    form = params()
    found = configs.create_address_configuration(
        session(),
        form.required("Type"),
        form.required("Address"),
        form.str("FriendlyName"),
        _auto_creation(form),
        form.str("AddressCountry") or None,
    )
    return created(represent(found))


@route(blueprint, "/v1/Configuration/Addresses", methods=["GET"])
def list_address_configurations() -> Response:
    query = configs.address_configurations_query(query_params().str("Type"))
    page, page_req = list_page(query, AddressConfiguration.id, max_size=50)
    return envelope("address_configurations", [represent(c) for c in page.items], page, page_req)


@route(blueprint, "/v1/Configuration/Addresses/<sid>", methods=["GET"])
def fetch_address_configuration(sid: str) -> Response:
    return ok(represent(configs.find_address_configuration(session(), sid)))


@route(blueprint, "/v1/Configuration/Addresses/<sid>", methods=["POST"])
def update_address_configuration(sid: str) -> Response:
    form = params()
    found = configs.update_address_configuration(
        session(),
        configs.find_address_configuration(session(), sid),
        form.str("FriendlyName"),
        _auto_creation(form),
    )
    return ok(represent(found))


@route(blueprint, "/v1/Configuration/Addresses/<sid>", methods=["DELETE"])
def delete_address_configuration(sid: str) -> tuple[str, int]:
    configs.delete_address_configuration(session(), configs.find_address_configuration(session(), sid))
    return deleted()
