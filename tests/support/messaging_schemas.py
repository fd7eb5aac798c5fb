"""Response schemas for the Messaging API subset (`/messaging/v1/...`), which the Conversations spec lacks.

Written from the fields twilio-python's messaging v1 `ServiceInstance` and `PhoneNumberInstance` read.
"""

from __future__ import annotations

from typing import Any


def _sid(prefix: str) -> dict[str, Any]:
    return {"type": ["string", "null"], "pattern": f"^{prefix}[0-9a-fA-F]{{32}}$"}


_STRING = {"type": ["string", "null"]}
_BOOL = {"type": ["boolean", "null"]}
_DATE = {"type": ["string", "null"], "format": "date-time"}
_URL = {"type": ["string", "null"], "format": "uri"}

SERVICE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "sid": _sid("MG"),
        "account_sid": _sid("AC"),
        "friendly_name": _STRING,
        "date_created": _DATE,
        "date_updated": _DATE,
        "inbound_request_url": _STRING,
        "inbound_method": {"enum": ["GET", "POST", None]},
        "fallback_url": _STRING,
        "fallback_method": {"enum": ["GET", "POST", None]},
        "status_callback": _STRING,
        "sticky_sender": _BOOL,
        "mms_converter": _BOOL,
        "smart_encoding": _BOOL,
        "scan_message_content": {"enum": ["inherit", "enable", "disable", None]},
        "fallback_to_long_code": _BOOL,
        "area_code_geomatch": _BOOL,
        "synchronous_validation": _BOOL,
        "validity_period": {"type": ["integer", "null"]},
        "url": _URL,
        "links": {"type": ["object", "null"]},
        "usecase": _STRING,
        "us_app_to_person_registered": _BOOL,
        "use_inbound_webhook_on_number": _BOOL,
    },
}
PHONE_NUMBER: dict[str, Any] = {
    "type": "object",
    "properties": {
        "sid": _sid("PN"),
        "account_sid": _sid("AC"),
        "service_sid": _sid("MG"),
        "date_created": _DATE,
        "date_updated": _DATE,
        "phone_number": _STRING,
        "country_code": _STRING,
        "capabilities": {"type": ["array", "null"], "items": {"type": "string"}},
        "url": _URL,
    },
}
META: dict[str, Any] = {
    "type": "object",
    "properties": {
        "first_page_url": {"type": "string", "format": "uri"},
        "key": {"type": "string"},
        "next_page_url": _URL,
        "page": {"type": "integer"},
        "page_size": {"type": "integer"},
        "previous_page_url": _URL,
        "url": {"type": "string", "format": "uri"},
    },
}


def _required(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "required": sorted(schema["properties"])}


def _listing(key: str, item: dict[str, Any]) -> dict[str, Any]:
    return _required(
        {
            "type": "object",
            "properties": {key: {"type": "array", "items": _required(item)}, "meta": _required(META)},
        }
    )


_SERVICES = "/messaging/v1/Services"
_NUMBERS = "/messaging/v1/Services/{ServiceSid}/PhoneNumbers"
MESSAGING_OPERATIONS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("POST", _SERVICES, "CreateService", {"201": _required(SERVICE)}),
    ("GET", _SERVICES, "ListService", {"200": _listing("services", SERVICE)}),
    ("GET", _SERVICES + "/{Sid}", "FetchService", {"200": _required(SERVICE)}),
    ("POST", _SERVICES + "/{Sid}", "UpdateService", {"200": _required(SERVICE)}),
    ("DELETE", _SERVICES + "/{Sid}", "DeleteService", {"204": None}),
    ("POST", _NUMBERS, "CreatePhoneNumber", {"201": _required(PHONE_NUMBER)}),
    ("GET", _NUMBERS, "ListPhoneNumber", {"200": _listing("phone_numbers", PHONE_NUMBER)}),
    ("GET", _NUMBERS + "/{Sid}", "FetchPhoneNumber", {"200": _required(PHONE_NUMBER)}),
    ("DELETE", _NUMBERS + "/{Sid}", "DeletePhoneNumber", {"204": None}),
]
