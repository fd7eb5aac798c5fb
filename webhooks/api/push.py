"""Push: the account's Credentials, a service's Bindings and its notification settings."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from bridge import services
from bridge.models import ConversationService, PushBinding, PushCredential
from bridge.push import bindings, credentials
from bridge.push import settings as push_settings
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

blueprint = Blueprint("push", __name__)


# --- credentials ------------------------------------------------------------------------------------------


def represent_credential(credential: PushCredential) -> dict[str, Any]:
    return {
        "sid": credential.sid,
        "account_sid": settings().account_sid,
        "friendly_name": credential.friendly_name,
        "type": credential.type,
        # A string in Twilio's responses ("True"/"False" in its examples); keys and secrets are never shown.
        "sandbox": str(bool(credential.sandbox)),
        **dates(credential),
        "url": absolute(f"/v1/Credentials/{credential.sid}"),
    }


def _credential_changes() -> credentials.CredentialChanges:
    form = params()
    return credentials.CredentialChanges(
        type=form.given("Type"),
        friendly_name=form.given("FriendlyName"),
        certificate=form.given("Certificate"),
        private_key=form.given("PrivateKey"),
        sandbox=form.bool("Sandbox"),
        api_key=form.given("ApiKey"),
        secret=form.given("Secret"),
    )


@route(blueprint, "/v1/Credentials", methods=["POST"])
def create_credential() -> tuple[Response, int]:
    return created(represent_credential(credentials.create_credential(session(), _credential_changes())))


@route(blueprint, "/v1/Credentials", methods=["GET"])
def list_credentials() -> Response:
    page, page_req = list_page(credentials.credentials_query(), PushCredential.id)
    return envelope("credentials", [represent_credential(c) for c in page.items], page, page_req)


@route(blueprint, "/v1/Credentials/<sid>", methods=["GET"])
def fetch_credential(sid: str) -> Response:
    return ok(represent_credential(credentials.find_credential(session(), sid)))


@route(blueprint, "/v1/Credentials/<sid>", methods=["POST"])
def update_credential(sid: str) -> Response:
    credential = credentials.find_credential(session(), sid)
    return ok(represent_credential(credentials.update_credential(session(), credential, _credential_changes())))


@route(blueprint, "/v1/Credentials/<sid>", methods=["DELETE"])
def delete_credential(sid: str) -> tuple[str, int]:
    credentials.delete_credential(session(), credentials.find_credential(session(), sid))
    return deleted()


# --- bindings ---------------------------------------------------------------------------------------------


def represent_binding(service_sid: str, binding: PushBinding) -> dict[str, Any]:
    return {
        "sid": binding.sid,
        "account_sid": settings().account_sid,
        "chat_service_sid": service_sid,
        "credential_sid": binding.credential_sid,
        **dates(binding),
        "endpoint": binding.endpoint,
        "identity": binding.identity,
        "binding_type": binding.binding_type,
        "message_types": list(binding.message_types),
        "url": absolute(f"/v1/Services/{service_sid}/Bindings/{binding.sid}"),
    }


@route(blueprint, "/v1/Services/<service_sid>/Bindings", methods=["GET"])
def list_bindings(service_sid: str) -> Response:
    service = services.find_service(session(), service_sid)
    args = query_params()
    query = bindings.bindings_query(service, args.list("BindingType"), args.list("Identity"))
    page, page_req = list_page(query, PushBinding.id)
    return envelope("bindings", [represent_binding(service.sid, b) for b in page.items], page, page_req)


@route(blueprint, "/v1/Services/<service_sid>/Bindings/<sid>", methods=["GET"])
def fetch_binding(service_sid: str, sid: str) -> Response:
    service = services.find_service(session(), service_sid)
    return ok(represent_binding(service.sid, bindings.find_binding(session(), service, sid)))


@route(blueprint, "/v1/Services/<service_sid>/Bindings/<sid>", methods=["DELETE"])
def delete_binding(service_sid: str, sid: str) -> tuple[str, int]:
    service = services.find_service(session(), service_sid)
    bindings.delete_binding(session(), bindings.find_binding(session(), service, sid))
    return deleted()


# --- notification settings --------------------------------------------------------------------------------


def represent_notifications(service: ConversationService) -> dict[str, Any]:
    return {"account_sid": settings().account_sid, **push_settings.settings_resource(service, absolute(""))}


@route(blueprint, "/v1/Services/<service_sid>/Configuration/Notifications", methods=["GET"])
def fetch_notifications(service_sid: str) -> Response:
    return ok(represent_notifications(services.find_service(session(), service_sid)))


@route(blueprint, "/v1/Services/<service_sid>/Configuration/Notifications", methods=["POST"])
def update_notifications(service_sid: str) -> Response:
    service = services.find_service(session(), service_sid)
    form = params()
    changes: dict[str, Any] = {}
    for name in push_settings.FORM_FIELDS:
        value = form.bool(name) if name in push_settings.BOOLEAN_FIELDS else form.given(name)
        if value is not UNSET:
            changes[name] = value
    push_settings.update_settings(session(), service, changes)
    return ok(represent_notifications(service))
