"""A subset of Twilio's Messaging API: `/messaging/v1/Services` (sender pools) and their PhoneNumbers."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from bridge import messaging_services as pools
from bridge.errors import invalid
from bridge.models import MessagingService, Sender
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
    route,
    session,
    settings,
)
from webhooks.forms import Params

blueprint = Blueprint("messaging", __name__)

BOOLEAN_SETTINGS = {
    "StickySender",
    "MmsConverter",
    "SmartEncoding",
    "FallbackToLongCode",
    "AreaCodeGeomatch",
    "SynchronousValidation",
    "UseInboundWebhookOnNumber",
}


def represent(service: MessagingService) -> dict[str, Any]:
    base = f"/messaging/v1/Services/{service.sid}"
    return {
        "sid": service.sid,
        "account_sid": settings().account_sid,
        "friendly_name": service.friendly_name,
        **dates(service),
        "inbound_request_url": service.inbound_request_url,
        "inbound_method": service.inbound_method,
        "fallback_url": service.fallback_url,
        "fallback_method": service.fallback_method,
        "status_callback": service.status_callback,
        "sticky_sender": service.sticky_sender,
        "mms_converter": service.mms_converter,
        "smart_encoding": service.smart_encoding,
        "scan_message_content": service.scan_message_content,
        "fallback_to_long_code": service.fallback_to_long_code,
        "area_code_geomatch": service.area_code_geomatch,
        "synchronous_validation": service.synchronous_validation,
        "validity_period": service.validity_period,
        "url": absolute(base),
        "links": {"phone_numbers": absolute(f"{base}/PhoneNumbers")},
        "usecase": service.usecase,
        "us_app_to_person_registered": False,
        "use_inbound_webhook_on_number": service.use_inbound_webhook_on_number,
        "help_text": service.help_text,  # bridge extension, see README
    }


def _settings(form: Params) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name, column in pools.SETTINGS.items():
        if name in BOOLEAN_SETTINGS:
            value = form.bool(name)
        elif name == "ValidityPeriod":
            value = form.int(name)
        else:
            value = form.given(name)
        if value is not UNSET:
            changes[column] = value
    return changes


@route(blueprint, "/messaging/v1/Services", methods=["POST"])
def create_messaging_service() -> tuple[Response, int]:
    return created(represent(pools.create_messaging_service(session(), _settings(params()))))


@route(blueprint, "/messaging/v1/Services", methods=["GET"])
def list_messaging_services() -> Response:
    page, page_req = list_page(pools.messaging_services_query(), MessagingService.id, max_size=1000)
    return envelope("services", [represent(s) for s in page.items], page, page_req)


@route(blueprint, "/messaging/v1/Services/<sid>", methods=["GET"])
def fetch_messaging_service(sid: str) -> Response:
    return ok(represent(pools.find_messaging_service(session(), sid)))


@route(blueprint, "/messaging/v1/Services/<sid>", methods=["POST"])
def update_messaging_service(sid: str) -> Response:
    service = pools.find_messaging_service(session(), sid)
    pools.update_messaging_service(session(), service, _settings(params()))
    return ok(represent(service))


@route(blueprint, "/messaging/v1/Services/<sid>", methods=["DELETE"])
def delete_messaging_service(sid: str) -> tuple[str, int]:
    pools.delete_messaging_service(session(), pools.find_messaging_service(session(), sid))
    return deleted()


def represent_sender(service: MessagingService, sender: Sender) -> dict[str, Any]:
    return {
        "sid": sender.sid,
        "account_sid": settings().account_sid,
        "service_sid": service.sid,
        **dates(sender),
        "phone_number": sender.address,
        "country_code": sender.country_code,
        "capabilities": ["SMS", "MMS"] if sender.channel == "sms" else ["WHATSAPP"],
        "url": absolute(f"/messaging/v1/Services/{service.sid}/PhoneNumbers/{sender.sid}"),
    }


@route(blueprint, "/messaging/v1/Services/<service_sid>/PhoneNumbers", methods=["POST"])
def add_sender(service_sid: str) -> tuple[Response, int]:
    """`PhoneNumber=+E164` or `whatsapp:+E164`. Twilio takes a `PhoneNumberSid` of a number bought from it;
    the bridge has no number inventory, so `PhoneNumberSid` may carry the address itself."""
    form = params()
    address = form.str("PhoneNumber") or form.str("PhoneNumberSid")
    if not address:
        raise invalid("Missing required parameter PhoneNumber (or PhoneNumberSid holding the address)")
    service = pools.find_messaging_service(session(), service_sid)
    return created(represent_sender(service, pools.add_sender(session(), service, address)))


@route(blueprint, "/messaging/v1/Services/<service_sid>/PhoneNumbers", methods=["GET"])
def list_senders(service_sid: str) -> Response:
    service = pools.find_messaging_service(session(), service_sid)
    page, page_req = list_page(pools.senders_query(service), Sender.id, max_size=1000)
    return envelope("phone_numbers", [represent_sender(service, s) for s in page.items], page, page_req)


@route(blueprint, "/messaging/v1/Services/<service_sid>/PhoneNumbers/<sid>", methods=["GET"])
def fetch_sender(service_sid: str, sid: str) -> Response:
    service = pools.find_messaging_service(session(), service_sid)
    return ok(represent_sender(service, pools.find_sender(session(), service, sid)))


@route(blueprint, "/messaging/v1/Services/<service_sid>/PhoneNumbers/<sid>", methods=["DELETE"])
def remove_sender(service_sid: str, sid: str) -> tuple[str, int]:
    service = pools.find_messaging_service(session(), service_sid)
    pools.remove_sender(session(), pools.find_sender(session(), service, sid))
    return deleted()
