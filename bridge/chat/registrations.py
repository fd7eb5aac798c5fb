"""The SDK's push registry (Twilio's ERS, `ers.<region>.twilio.com`), reached through the socket like the client API.

`setPushRegistrationId(type, token)` posts `/v1/registrations?productId=ip_messaging` with `channel_type`,
`message_types` and `data.registration_id` (the device token) and keeps the `id` answered; a new token, or
`unsetPushRegistrationId`, deletes `/v1/registrations/{id}` first; `removePushRegistrations(type, token)`
deletes `/v1/registrations` with `{"binding_type", "address"}`. Each becomes a binding of the token's identity in
its service (bridge/push/bindings.py), with the token's push credential. Deletes answer 204 whether or not there
was anything of the caller's to delete: the SDK retries a failed one and then gives up registering.
"""

from __future__ import annotations

from typing import Any

from bridge.access_tokens import ChatClient
from bridge.chat.client_api import Reply, Request, error_reply, request_body
from bridge.db import Database
from bridge.errors import BridgeError, invalid, not_found
from bridge.push import bindings
from bridge.services import find_service

PATH = "/v1/registrations"
PRODUCT_ID = "ip_messaging"  # the Conversations SDK's; the registry serves no other product


def is_registration_path(path: str) -> bool:
    return path == PATH or path.startswith(PATH + "/")


def handle(database: Database, client: ChatClient, request: Request) -> Reply:
    try:
        return _route(database, client, request)
    except BridgeError as error:
        return error_reply(error)


def _route(database: Database, client: ChatClient, request: Request) -> Reply:
    product = request.params.get("productId", PRODUCT_ID)
    if product != PRODUCT_ID:
        raise invalid(f"productId must be {PRODUCT_ID}")
    method = request.method.upper()
    rest = request.path[len(PATH) :].strip("/")
    body = request_body(request)
    with database.transaction() as session:
        service = find_service(session, client.service_sid)
        if not rest and method == "POST":
            registration = _registration(body)
            binding = bindings.register(session, service, client.identity, client.push_credential_sid, registration)
            return Reply(201, {"id": binding.sid})
        if not rest and method == "DELETE":
            binding_type, address = _string(body, "binding_type"), _string(body, "address")
            bindings.unregister_address(session, service, client.identity, binding_type, address)
            return Reply(204)
        if rest and "/" not in rest and method == "DELETE":
            bindings.unregister(session, service, client.identity, rest)
            return Reply(204)
    raise not_found(f"No registry resource at {method} {request.path}")


def _string(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise invalid(f"{name} must be a non-empty string")
    return value


def _registration(body: dict[str, Any]) -> bindings.Registration:
    data = body.get("data")
    if not isinstance(data, dict):
        raise invalid("data must be an object holding registration_id")
    message_types = body.get("message_types", [])
    if not isinstance(message_types, list) or not all(isinstance(name, str) for name in message_types):
        raise invalid("message_types must be a list of strings")
    platform = body.get("endpoint_platform", "unknown")
    if not isinstance(platform, str):
        raise invalid("endpoint_platform must be a string")
    return bindings.Registration(
        binding_type=_string(body, "channel_type"),
        address=_string(data, "registration_id"),
        message_types=message_types,
        endpoint_platform=platform,
    )
