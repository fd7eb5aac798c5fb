"""The bridge's own OpenAPI 3 document, served at `GET /openapi.json`.

It is derived from Twilio's Conversations v1 spec (shipped beside this module): all 103 of its operations, with
Twilio's paths, parameters and response schemas. Added: the error responses each operation can answer (Twilio's
spec lists successes only), the bridge's extension parameters, and the bridge's own endpoints (the Messaging
subset, Media, the chat clients' media service, the carrier webhooks and the admin JSON API).

Unknown parameters are ignored on the Twilio-compatible API, as Twilio does; the admin API refuses them
(`x-bridge-unknown-parameters: refused`), because a misspelt filter must not widen a replay.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from bridge.hooks.configuration import MAX_RETRY_COUNT
from bridge.openapi import schemas as s

TWILIO_SPEC_PATH = Path(__file__).with_name("twilio_conversations_v1.json")
METHODS = ("get", "post", "delete", "put", "patch")
UNKNOWN_PARAMETERS = "x-bridge-unknown-parameters"  # "ignored" (Twilio's API) or "refused" (admin API)
TWILIO_OPERATION_ID = "x-twilio-operation-id"  # Twilio's name, where the merged document had to rename

ERROR_DESCRIPTIONS = {
    304: "Not modified (If-None-Match matched the content's ETag)",
    400: "Invalid parameter: 20001, or the Conversations code that names the problem",
    401: "Authenticate (20003)",
    403: "Forbidden",
    404: "Not found (20404, or the Conversations code of the missing resource)",
    409: "Conflict with an existing resource (a unique name, identity, binding or sender)",
    413: "The request body is over the limit (BRIDGE_MAX_REQUEST_BYTES; for media BRIDGE_MEDIA_MAX_BYTES)",
    429: "Too many failed admin sign-ins from this address for this username (Retry-After)",
    503: "The database or media storage is briefly unavailable; nothing was stored: retry (Retry-After)",
}
# What the Twilio-compatible API can answer besides its successes, by method.
API_ERRORS = {"get": (400, 401, 404, 503), "post": (400, 401, 404, 409, 413, 503), "delete": (400, 401, 404, 503)}

_ERROR_REF = {"$ref": "#/components/schemas/bridge.error"}
_BASIC = [{"accountSid_authToken": []}]
_ADMIN = [{"adminBasic": []}]
_SIGNED = [{"twilioSignature": []}]
_METRICS = [{"metricsToken": []}]
_CHAT_TOKEN = [{"chatAccessToken": []}]
_PUBLIC: list[dict[str, list[str]]] = []


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _errors(*statuses: int) -> dict[str, Any]:
    return {
        str(status): (
            {"description": ERROR_DESCRIPTIONS[status]}
            if status == 304
            else {"description": ERROR_DESCRIPTIONS[status], "content": _json(_ERROR_REF)}
        )
        for status in statuses
    }


def _path_param(name: str, schema: dict[str, Any] | None = None, description: str = "") -> dict[str, Any]:
    param = {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string"}}
    return {**param, "description": description} if description else param


def _query(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    param = {"name": name, "in": "query", "schema": schema}
    return {**param, "description": description} if description else param


def _paging(max_size: int) -> list[dict[str, Any]]:
    return [
        _query("PageSize", {"type": "integer", "minimum": 1, "maximum": max_size}, f"Default 50, at most {max_size}."),
        _query("Page", {"type": "integer", "minimum": 0}, "The page index, for client state."),
        _query("PageToken", {"type": "string"}, "From meta.next_page_url / previous_page_url."),
    ]


def _form(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/x-www-form-urlencoded": {"schema": schema}}}


def _operation(
    operation_id: str,
    summary: str,
    responses: dict[str, Any],
    *,
    tag: str,
    parameters: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    security: list[dict[str, list[str]]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": operation_id, "summary": summary, "tags": [tag], **extra}
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = body
    if security is not None:
        op["security"] = security
    op["responses"] = responses
    return op


def _ok(status: int, description: str, schema_name: str | None) -> dict[str, Any]:
    if schema_name is None:
        return {str(status): {"description": description}}
    return {str(status): {"description": description, "content": _json(_ref(schema_name))}}


# --- Twilio's operations, as the bridge serves them ------------------------------------------------------------


def _twilio_operation(method: str, operation: dict[str, Any]) -> dict[str, Any]:
    op = {key: value for key, value in operation.items() if key != "servers"}
    op["responses"] = {**op["responses"], **_errors(*API_ERRORS[method])}
    op[UNKNOWN_PARAMETERS] = "ignored"
    return op


def _extend_service_configuration(paths: dict[str, Any], components: dict[str, Any]) -> None:
    """The bridge's extension settings on `/v1/Services/{IS}/Configuration` (README, 'Settings')."""
    response = components["conversations.v1.service.service_configuration"]
    response["properties"]["attribution_enabled"] = {
        "type": "boolean",
        "description": "(bridge) SMS/WhatsApp texts in conversations of more than two start with `Author: `.",
    }
    response["properties"]["keyword_messages_visible"] = {
        "type": "boolean",
        "description": "(bridge) Whether STOP/START/HELP keyword messages join the conversation (default true).",
    }
    update = paths["/v1/Services/{ChatServiceSid}/Configuration"]["post"]
    properties = update["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]["properties"]
    properties["AttributionEnabled"] = {"type": "boolean", "description": "(bridge extension) See the README."}
    properties["KeywordMessagesVisible"] = {"type": "boolean", "description": "(bridge extension) See the README."}


def _extend_service_webhook_configuration(paths: dict[str, Any], components: dict[str, Any]) -> None:
    """A service whose webhooks were never configured answers `method: null`, as Twilio's own example of that
    answer shows (its schema's enum leaves null out); and the bridge's retry counts (README, 'Webhook settings')."""
    response = components["conversations.v1.service.service_configuration.service_webhook_configuration"]
    properties = response["properties"]
    # Inlined: OpenAPI 3.0 ignores the siblings of a $ref, `nullable` among them.
    properties["method"] = {**components["service_webhook_configuration_enum_method"], "nullable": True}
    update = paths["/v1/Services/{ChatServiceSid}/Configuration/Webhooks"]["post"]
    form = update["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]["properties"]
    count = {"type": "integer", "minimum": 0, "maximum": MAX_RETRY_COUNT}
    for when in ("pre", "post"):
        properties[f"{when}_webhook_retry_count"] = {
            **count,
            "description": f"(bridge) Retries of a {when}-event webhook that timed out or answered 429, 503 or 504.",
        }
        form[f"{when.title()}WebhookRetryCount"] = {
            **count,
            "description": f"(bridge extension) 0 (the default) to {MAX_RETRY_COUNT}; error 50065 otherwise.",
        }


# --- the bridge's own endpoints -----------------------------------------------------------------------------------


def _messaging_paths() -> dict[str, Any]:
    tag = "MessagingV1 (bridge subset)"
    services, numbers = "/messaging/v1/Services", "/messaging/v1/Services/{ServiceSid}/PhoneNumbers"
    mg, pn = _path_param("Sid", s.sid("MG", nullable=False)), _path_param("Sid", s.sid("PN", nullable=False))
    service_param = _path_param("ServiceSid", s.sid("MG", nullable=False))
    settings = {"type": "object", "properties": s.MESSAGING_SERVICE_SETTINGS}
    create_settings = {**settings, "required": ["FriendlyName"]}

    def op(operation_id: str, twilio_id: str, summary: str, ok: dict[str, Any], method: str, **kw: Any) -> Any:
        return _operation(
            operation_id,
            summary,
            {**ok, **_errors(*API_ERRORS[method])},
            tag=tag,
            **{TWILIO_OPERATION_ID: twilio_id, UNKNOWN_PARAMETERS: "ignored"},
            **kw,
        )

    return {
        services: {
            "post": op(
                "CreateMessagingService",
                "CreateService",
                "Create a Messaging Service (a pool of senders)",
                _ok(201, "Created", "messaging.v1.service"),
                "post",
                body=_form(create_settings),
            ),
            "get": op(
                "ListMessagingService",
                "ListService",
                "List Messaging Services",
                {
                    "200": {
                        "description": "OK",
                        "content": _json(s.listing("services", "#/components/schemas/messaging.v1.service")),
                    }
                },
                "get",
                parameters=_paging(1000),
            ),
        },
        services + "/{Sid}": {
            "get": op(
                "FetchMessagingService",
                "FetchService",
                "Fetch a Messaging Service",
                _ok(200, "OK", "messaging.v1.service"),
                "get",
                parameters=[mg],
            ),
            "post": op(
                "UpdateMessagingService",
                "UpdateService",
                "Update a Messaging Service (HelpText is a bridge extension)",
                _ok(200, "OK", "messaging.v1.service"),
                "post",
                parameters=[mg],
                body=_form(settings),
            ),
            "delete": op(
                "DeleteMessagingService",
                "DeleteService",
                "Delete a Messaging Service (not the account's default)",
                _ok(204, "Deleted", None),
                "delete",
                parameters=[mg],
            ),
        },
        numbers: {
            "post": op(
                "CreatePhoneNumber",
                "CreatePhoneNumber",
                "Add a sender address to the pool (PhoneNumber, or the address in PhoneNumberSid)",
                _ok(201, "Created", "messaging.v1.service.phone_number"),
                "post",
                parameters=[service_param],
                body=_form(s.PHONE_NUMBER_CREATE),
            ),
            "get": op(
                "ListPhoneNumber",
                "ListPhoneNumber",
                "List the pool's senders",
                {
                    "200": {
                        "description": "OK",
                        "content": _json(
                            s.listing("phone_numbers", "#/components/schemas/messaging.v1.service.phone_number")
                        ),
                    }
                },
                "get",
                parameters=[service_param, *_paging(1000)],
            ),
        },
        numbers + "/{Sid}": {
            "get": op(
                "FetchPhoneNumber",
                "FetchPhoneNumber",
                "Fetch a sender",
                _ok(200, "OK", "messaging.v1.service.phone_number"),
                "get",
                parameters=[service_param, pn],
            ),
            "delete": op(
                "DeletePhoneNumber",
                "DeletePhoneNumber",
                "Remove a sender from the pool",
                _ok(204, "Deleted", None),
                "delete",
                parameters=[service_param, pn],
            ),
        },
    }


def _media_paths() -> dict[str, Any]:
    tag = "Media (MCS-like)"
    base = "/v1/Services/{ChatServiceSid}/Media"
    service = _path_param("ChatServiceSid", s.sid("IS", nullable=False))
    media = _path_param("Sid", s.sid("ME", nullable=False))
    file = {"description": "The file", "content": {"*/*": {"schema": s.BINARY}}}
    upload = {
        "required": True,
        "description": (
            "The file itself with its MIME type as Content-Type, or multipart/form-data with the file in a part "
            "named Media (or file). application/x-www-form-urlencoded is refused (it is curl's default, never "
            "the file's type)."
        ),
        "content": {
            "application/octet-stream": {"schema": s.BINARY},
            "image/png": {"schema": s.BINARY},
            "text/plain": {"schema": {"type": "string"}},
            "multipart/form-data": {"schema": s.MEDIA_MULTIPART},
        },
    }
    return {
        base: {
            "post": _operation(
                "CreateMedia",
                "Upload a file; attach it to a message with MediaSid",
                {**_ok(201, "Created", "bridge.media"), **_errors(400, 401, 404, 413, 503)},
                tag=tag,
                parameters=[
                    service,
                    *(
                        _query(name, {"type": "string", "maxLength": 256})
                        for name in ("Filename", "FileName", "filename")
                    ),
                    _query("Author", {"type": "string"}),
                ],
                body=upload,
                **{UNKNOWN_PARAMETERS: "ignored"},
            )
        },
        base + "/{Sid}": {
            "get": _operation(
                "FetchMedia",
                "Fetch a Media resource",
                {**_ok(200, "OK", "bridge.media"), **_errors(400, 401, 404, 503)},
                tag=tag,
                parameters=[service, media],
                **{UNKNOWN_PARAMETERS: "ignored"},
            )
        },
        base + "/{Sid}/Content": {
            "get": _operation(
                "FetchMediaContent",
                "The file's bytes, with its Content-Type",
                {"200": file, **_errors(304, 400, 401, 404, 503)},
                tag=tag,
                parameters=[service, media],
                **{UNKNOWN_PARAMETERS: "ignored"},
            )
        },
        "/media/{Sid}/{Token}": {
            "get": _operation(
                "FetchPublicMediaContent",
                "The file's bytes for carriers, link recipients and chat clients: the HMAC token authorises",
                {"200": file, **_errors(304, 403, 404, 503)},
                tag=tag,
                parameters=[
                    media,
                    _path_param(
                        "Token",
                        {"type": "string"},
                        "128-bit HMAC of the SID, as issued (never expires); or `{expires}.{hmac}`, a temporary URL's "
                        "(403 once expired)",
                    ),
                ],
                security=_PUBLIC,
                **{UNKNOWN_PARAMETERS: "ignored"},
            )
        },
    }


def _chat_media_paths() -> dict[str, Any]:
    """The media service chat clients call with their access tokens (webhooks/api/mcs.py)."""
    tag = "Media service (chat clients, MCS)"
    base = "/MCS/v1/Services/{ChatServiceSid}"
    service = _path_param("ChatServiceSid", s.sid("IS", nullable=False))
    media = _path_param("Sid", s.sid("ME", nullable=False))
    file = {"description": "The file", "content": {"*/*": {"schema": s.BINARY}}}
    refusals = (400, 401, 403, 404, 503)
    upload = {
        "required": True,
        "description": "The file itself with its MIME type as Content-Type, or multipart/form-data (a FormData).",
        "content": {
            "application/octet-stream": {"schema": s.BINARY},
            "image/png": {"schema": s.BINARY},
            "multipart/form-data": {"schema": s.MEDIA_MULTIPART},
        },
    }
    common = {"tag": tag, "security": _CHAT_TOKEN, UNKNOWN_PARAMETERS: "ignored"}
    return {
        f"{base}/Media": {
            "post": _operation(
                "CreateChatMedia",
                "Upload a file as the token's user; send it with the message's media_sids",
                {**_ok(201, "Created", "bridge.mcs_media"), **_errors(*refusals, 413)},
                parameters=[
                    service,
                    _query("Category", {"type": "string", "enum": ["media"]}),
                    _query("Filename", {"type": "string", "maxLength": 256}),
                ],
                body=upload,
                **common,
            )
        },
        f"{base}/Media/{{Sid}}": {
            "get": _operation(
                "FetchChatMedia",
                "A media the caller may read, with a temporary content URL (links.content_direct_temporary)",
                {**_ok(200, "OK", "bridge.mcs_media"), **_errors(*refusals)},
                parameters=[service, media],
                **common,
            )
        },
        f"{base}/Media/{{Sid}}/Content": {
            "get": _operation(
                "FetchChatMediaContent",
                "The file's bytes, with its Content-Type",
                {"200": file, **_errors(304, *refusals)},
                parameters=[service, media],
                **common,
            )
        },
        f"{base}/MediaSet": {
            "post": _operation(
                "FetchChatMediaSet",
                "Several media at once (the SDK's temporary URLs for a message's files)",
                {"200": {"description": "OK", "content": _json(_ref("bridge.mcs_media_set"))}, **_errors(*refusals)},
                parameters=[service],
                body={"required": True, "content": _json(s.MCS_MEDIA_SET_REQUEST)},
                **common,
            )
        },
    }


def _webhook_paths() -> dict[str, Any]:
    tag = "Carrier webhooks (Twilio)"
    twiml = {
        "200": {"description": "Stored (or a duplicate): empty TwiML", "content": {"text/xml": {"schema": s.TWIML}}}
    }
    description = (
        "Signed by Twilio: X-Twilio-Signature is HMAC-SHA1 with TWILIO_AUTH_TOKEN over PUBLIC_BASE_URL + path + "
        "query string as sent, then each form field name and value in name order. Unsigned or wrongly signed: 403."
    )
    return {
        "/webhooks/twilio/inbound": {
            "post": _operation(
                "ReceiveInboundMessage",
                "A message from an SMS/WhatsApp user (Twilio's 'A message comes in' webhook)",
                {**twiml, **_errors(400, 403, 413, 503)},
                tag=tag,
                description=description,
                body={"required": True, **_form(s.INBOUND_FORM)},
                security=_SIGNED,
                **{UNKNOWN_PARAMETERS: "ignored"},
            )
        },
        "/webhooks/twilio/status/{DeliverySid}": {
            "post": _operation(
                "ReceiveStatusCallback",
                "Twilio's status callback for a send the bridge made (the URL it set on that send)",
                {**twiml, **_errors(400, 403, 413, 503)},
                tag=tag,
                description=description,
                parameters=[_path_param("DeliverySid", s.sid("DY", nullable=False))],
                body={"required": True, **_form(s.STATUS_FORM)},
                security=_SIGNED,
                **{UNKNOWN_PARAMETERS: "ignored"},
            )
        },
    }


def _admin_paths() -> dict[str, Any]:
    prefix = "/admin/api"
    paging = _paging(1000)
    filters, webhook_filters, push_filters = (
        [
            {**_query(name, schema), **({"style": "form", "explode": True} if schema.get("type") == "array" else {})}
            for name, schema in properties.items()
        ]
        for properties in (s.ADMIN_FILTER_PROPERTIES, s.ADMIN_WEBHOOK_FILTER_PROPERTIES, s.ADMIN_PUSH_FILTER_PROPERTIES)
    )
    since = [_query("since", s.ADMIN_FILTER_PROPERTIES["since"])]
    replay_body = {
        "required": True,
        "description": "Filters (at least one) or SIDs, of deliveries, (kind=webhook) webhook calls or (kind=push) "
        "push notifications; unknown names, and filters of another kind, are refused.",
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {
                        **s.ADMIN_REPLAY_PROPERTIES,
                        "csrf_token": {"type": "string", "description": "The console's forms send it; ignored here."},
                    },
                    "additionalProperties": False,
                }
            },
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {**s.ADMIN_REPLAY_PROPERTIES, "sids": s.ADMIN_REPLAY_PROPERTIES["sid"]},
                    "additionalProperties": False,
                }
            },
        },
    }

    def operation(operation_id: str, summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
        """Every admin operation: its own credentials, and unknown parameters refused."""
        return _operation(
            operation_id,
            summary,
            responses,
            tag="Admin API",
            security=_ADMIN,
            **{UNKNOWN_PARAMETERS: "refused"},
            **extra,
        )

    def listed(key: str, item: str, **extra: Any) -> dict[str, Any]:
        body = s.listing(key, f"#/components/schemas/bridge.admin.{item}", **extra)
        return {"200": {"description": "OK", "content": _json(body)}, **_errors(400, 401, 429, 503)}

    def one(schema_name: str, *errors: int) -> dict[str, Any]:
        return {**_ok(200, "OK", f"bridge.admin.{schema_name}"), **_errors(*errors)}

    matching = {"matching": {"type": "integer"}}
    return {
        f"{prefix}/deliveries": {
            "get": operation(
                "AdminListDeliveries",
                "Deliveries matching the filters (default: failed), newest first",
                listed("deliveries", "delivery", **matching),
                parameters=[*filters, *paging],
            )
        },
        f"{prefix}/deliveries/counts": {
            "get": operation(
                "AdminDeliveryCounts",
                "Deliveries by status and failures by error code since a moment (default 1h)",
                one("counts", 400, 401, 429, 503),
                parameters=since,
            )
        },
        f"{prefix}/messages/{{MessageSid}}/timeline": {
            "get": operation(
                "AdminMessageTimeline",
                "A message's recipients, each with its attempts and status callbacks",
                one("timeline", 400, 401, 404, 429, 503),
                parameters=[_path_param("MessageSid", s.sid("IM", nullable=False))],
            )
        },
        f"{prefix}/webhooks": {
            "get": operation(
                "AdminListWebhookCalls",
                "Post-event webhook calls matching the filters (default: failed), newest first",
                listed("webhooks", "webhook_call", **matching),
                parameters=[*webhook_filters, *paging],
            )
        },
        f"{prefix}/webhooks/counts": {
            "get": operation(
                "AdminWebhookCallCounts",
                "Webhook calls by status and failed ones by error since a moment (default 1h)",
                one("webhook_counts", 400, 401, 429, 503),
                parameters=since,
            )
        },
        f"{prefix}/webhooks/{{CallSid}}": {
            "get": operation(
                "AdminWebhookCall",
                "A webhook call: where it went, its payload and every attempt",
                one("webhook_story", 400, 401, 404, 429, 503),
                parameters=[_path_param("CallSid", s.sid("WC", nullable=False))],
            )
        },
        f"{prefix}/pushes": {
            "get": operation(
                "AdminListPushes",
                "Push notifications matching the filters (default: failed), newest first",
                listed("pushes", "push", **matching),
                parameters=[*push_filters, *paging],
            )
        },
        f"{prefix}/pushes/counts": {
            "get": operation(
                "AdminPushCounts",
                "Push notifications by status since a moment (default 1h)",
                one("push_counts", 400, 401, 429, 503),
                parameters=since,
            )
        },
        f"{prefix}/replay": {
            "post": operation(
                "AdminReplay",
                "Replay failed/undelivered deliveries, (kind=webhook, or WC SIDs) failed webhook calls or (kind=push, "
                "or NT SIDs) failed push notifications; each goes out once, however often this is called",
                one("replay_result", 400, 401, 403, 413, 429, 503),
                body=replay_body,
            )
        },
        f"{prefix}/unrouted": {
            "get": operation(
                "AdminListUnrouted",
                "Kept inbound messages: unrouted (the default), routed since, held for the pre-event webhook, or "
                "rejected by it",
                listed("unrouted", "unrouted"),
                parameters=[
                    _query("status", {"type": "string", "enum": ["unrouted", "routed", "held", "rejected"]}),
                    *paging,
                ],
            )
        },
        f"{prefix}/unrouted/{{Id}}/reroute": {
            "post": operation(
                "AdminReroute",
                "Route a kept message again (once its sender is bound in a conversation)",
                one("reroute_result", 400, 401, 403, 404, 413, 429, 503),
                parameters=[_path_param("Id", {"type": "integer", "minimum": 0})],
            )
        },
        f"{prefix}/audit": {
            "get": operation(
                "AdminAuditTrail",
                "Everything admins did, newest first",
                listed("actions", "action"),
                parameters=paging,
            )
        },
    }


def _metrics_path() -> dict[str, Any]:
    text = {"schema": {"type": "string"}}
    return {
        "/metrics": {
            "get": _operation(
                "ScrapeMetrics",
                "Prometheus metrics of the processes sharing this web process's metrics directory (bridge)",
                {
                    "200": {
                        "description": "Prometheus' text format (OpenMetrics when the Accept header asks for it)",
                        "content": {"text/plain": text, "application/openmetrics-text": text},
                    },
                    **_errors(401, 404),
                },
                tag="Metrics",
                description="404 while BRIDGE_METRICS_TOKEN is unset: metrics are off unless a token is configured.",
                security=_METRICS,
                **{UNKNOWN_PARAMETERS: "ignored"},
            )
        }
    }


def _document_path() -> dict[str, Any]:
    return {
        "/openapi.json": {
            "get": _operation(
                "FetchOpenApiDocument",
                "This document",
                {"200": {"description": "OpenAPI 3 document", "content": _json({"type": "object"})}},
                tag="Documentation",
                security=_PUBLIC,
                **{UNKNOWN_PARAMETERS: "ignored"},
            )
        }
    }


_READINESS = {
    "type": "object",
    "required": ["status", "checks", "carrier"],
    "properties": {
        "status": {"type": "string", "enum": ["ready", "unavailable"]},
        "checks": {
            "type": "object",
            "required": ["database", "redis", "migrations"],
            "additionalProperties": {"type": "string", "description": "ok, or the kind of failure"},
        },
        "carrier": {"type": "string", "description": "who sends; the simulator reaches no phones"},
    },
    "additionalProperties": False,
}


def _health_paths() -> dict[str, Any]:
    """For load balancers: no credentials (README, "Health checks")."""
    alive = {"type": "object", "required": ["status"], "properties": {"status": {"type": "string", "enum": ["ok"]}}}
    return {
        "/healthz": {
            "get": _operation(
                "FetchLiveness",
                "The web process serves (touches neither the database nor Redis)",
                {"200": {"description": "Alive", "content": _json(alive)}},
                tag="Health",
                security=_PUBLIC,
                **{UNKNOWN_PARAMETERS: "ignored"},
            )
        },
        "/readyz": {
            "get": _operation(
                "FetchReadiness",
                "The database and Redis answer and the schema is current",
                {
                    "200": {"description": "Ready", "content": _json(_READINESS)},
                    "503": {"description": "A check failed (named in checks)", "content": _json(_READINESS)},
                },
                tag="Health",
                security=_PUBLIC,
                **{UNKNOWN_PARAMETERS: "ignored"},
            )
        },
    }


@cache
def _twilio_spec_text() -> str:
    return TWILIO_SPEC_PATH.read_text()


@cache
def _document_text() -> str:
    """The document without `servers`, as JSON text (cached; every caller parses its own copy)."""
    twilio = json.loads(_twilio_spec_text())
    components = twilio["components"]["schemas"]
    paths: dict[str, Any] = {}
    for template, item in twilio["paths"].items():
        kept: dict[str, Any] = {}
        for key, value in item.items():
            if key in METHODS:
                kept[key] = _twilio_operation(key, value)
            elif key != "servers":  # Twilio's per-path servers point at twilio.com
                kept[key] = value
        if any(method in kept for method in METHODS):
            paths[template] = kept
    _extend_service_configuration(paths, components)
    _extend_service_webhook_configuration(paths, components)
    extras = (
        _messaging_paths(),
        _media_paths(),
        _chat_media_paths(),
        _webhook_paths(),
        _admin_paths(),
        _metrics_path(),
        _document_path(),
        _health_paths(),
    )
    for extra in extras:
        paths.update(extra)
    document = {
        "openapi": "3.0.3",
        "info": {
            "title": "The bridge: a self-hosted Twilio Conversations API",
            "version": "1.0.0",
            "description": __doc__,
            "license": {
                "name": "Apache 2.0 (Twilio's spec)",
                "url": "https://www.apache.org/licenses/LICENSE-2.0.html",
            },
        },
        "paths": paths,
        "components": {
            "schemas": {**components, **copy.deepcopy(s.COMPONENTS)},
            "securitySchemes": {
                "accountSid_authToken": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "The account SID and auth token, or an API key SID (SK...) and its secret.",
                },
                "adminBasic": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "BRIDGE_ADMIN_USERNAME and BRIDGE_ADMIN_PASSWORD (the console's session cookie "
                    "also works, with the CSRF token in X-CSRFToken on POST).",
                },
                "twilioSignature": {"type": "apiKey", "in": "header", "name": "X-Twilio-Signature"},
                "chatAccessToken": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Twilio-Token",
                    "description": "A chat client's access token (a JWT with a chat grant for the path's service).",
                },
                "metricsToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "BRIDGE_METRICS_TOKEN (or HTTP Basic with the username `metrics` and the token).",
                },
            },
        },
        "security": _BASIC,
        "tags": [{"name": tag} for tag in _used_tags(twilio, paths)],
    }
    return json.dumps(document)


def _used_tags(twilio: dict[str, Any], paths: dict[str, Any]) -> list[str]:
    """Twilio's tags the kept operations use, in Twilio's order, then the bridge's own."""
    used = dict.fromkeys(
        tag for item in paths.values() for m in METHODS if m in item for tag in item[m].get("tags", [])
    )
    ordered = [tag["name"] for tag in twilio.get("tags", []) if tag["name"] in used]
    return ordered + [tag for tag in used if tag not in ordered]


def build_document(server_url: str | None = None) -> dict[str, Any]:
    """The document (a fresh copy), with `servers` naming `server_url` (the bridge's PUBLIC_BASE_URL)."""
    document = json.loads(_document_text())
    if server_url:
        document["servers"] = [{"url": server_url.rstrip("/")}]
    return document


def twilio_operation_ids() -> list[str]:
    """Every operation in Twilio's shipped spec (implemented or not)."""
    spec = json.loads(_twilio_spec_text())
    return [op["operationId"] for item in spec["paths"].values() for key, op in item.items() if key in METHODS]


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(METHOD, path template, operation) for every operation of `document`."""
    return [
        (method.upper(), template, op)
        for template, item in document["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]
