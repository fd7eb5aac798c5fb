"""OpenAPI 3.0 schemas for what Twilio's Conversations spec does not describe: the Messaging subset
(`/messaging/v1/...`), Media (MCS), the carrier webhooks, the admin JSON API and the error body.

The messaging and media response schemas were written from the fields twilio-python's messaging v1
`ServiceInstance`/`PhoneNumberInstance` and Twilio's Media resource read. The test suite checks every response
against them (tests/support/spec.py), as it does Twilio's own.
"""

from __future__ import annotations

from typing import Any

from bridge.delivery import STATUSES as DELIVERY_STATUSES
from bridge.messaging_services import HELP_TEXT_LIMIT, USECASES

# A file in any content type, any bytes (OpenAPI's binary string): media content, uploads.
BINARY: dict[str, Any] = {"type": "string", "format": "binary"}


def sid(prefix: str, nullable: bool = True) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "string",
        "minLength": 34,
        "maxLength": 34,
        "pattern": f"^{prefix}[0-9a-fA-F]{{32}}$",
    }
    return {**schema, "nullable": True} if nullable else schema


STRING: dict[str, Any] = {"type": "string", "nullable": True}
BOOLEAN: dict[str, Any] = {"type": "boolean", "nullable": True}
INTEGER: dict[str, Any] = {"type": "integer"}
DATE: dict[str, Any] = {"type": "string", "format": "date-time", "nullable": True}
URL: dict[str, Any] = {"type": "string", "format": "uri", "nullable": True}
REQUIRED_URL: dict[str, Any] = {"type": "string", "format": "uri"}


def obj(properties: dict[str, Any], required: bool = True, **extra: Any) -> dict[str, Any]:
    """An object schema; `required` lists every property (the bridge always sends them all)."""
    schema: dict[str, Any] = {"type": "object", "properties": properties, **extra}
    if required:
        schema["required"] = sorted(properties)
    return schema


ERROR = obj(
    {
        "code": {"type": "integer", "description": "Twilio's error code (20001 invalid parameter, 20404 ...)."},
        "message": {"type": "string"},
        "more_info": {"type": "string", "format": "uri"},
        "status": {"type": "integer", "description": "The HTTP status, repeated."},
    }
)

LIST_META = obj(
    {
        "first_page_url": REQUIRED_URL,
        "key": {"type": "string"},
        "next_page_url": URL,
        "page": INTEGER,
        "page_size": INTEGER,
        "previous_page_url": URL,
        "url": REQUIRED_URL,
    }
)


def listing(key: str, item_ref: str, **extra: Any) -> dict[str, Any]:
    """Twilio's list envelope: the items under `key`, and `meta` with the page URLs."""
    return obj(
        {
            key: {"type": "array", "items": {"$ref": item_ref}},
            "meta": {"$ref": "#/components/schemas/bridge.meta"},
            **extra,
        }
    )


# --- Messaging: /messaging/v1/Services and their PhoneNumbers ----------------------------------------------------

MESSAGING_SERVICE = obj(
    {
        "sid": sid("MG"),
        "account_sid": sid("AC"),
        "friendly_name": STRING,
        "date_created": DATE,
        "date_updated": DATE,
        "inbound_request_url": STRING,
        "inbound_method": {"type": "string", "enum": ["GET", "POST"], "nullable": True},
        "fallback_url": STRING,
        "fallback_method": {"type": "string", "enum": ["GET", "POST"], "nullable": True},
        "status_callback": STRING,
        "sticky_sender": BOOLEAN,
        "mms_converter": BOOLEAN,
        "smart_encoding": BOOLEAN,
        "scan_message_content": {"type": "string", "enum": ["inherit", "enable", "disable"], "nullable": True},
        "fallback_to_long_code": BOOLEAN,
        "area_code_geomatch": BOOLEAN,
        "synchronous_validation": BOOLEAN,
        "validity_period": {"type": "integer", "nullable": True},
        "url": URL,
        "links": {"type": "object", "nullable": True},
        "usecase": STRING,
        "us_app_to_person_registered": BOOLEAN,
        "use_inbound_webhook_on_number": BOOLEAN,
        "help_text": {**STRING, "description": "(bridge) The reply to HELP/INFO; null: the bridge stays silent."},
    }
)
PHONE_NUMBER = obj(
    {
        "sid": sid("PN"),
        "account_sid": sid("AC"),
        "service_sid": sid("MG"),
        "date_created": DATE,
        "date_updated": DATE,
        "phone_number": STRING,
        "country_code": STRING,
        "capabilities": {"type": "array", "items": {"type": "string"}, "nullable": True},
        "url": URL,
    }
)
_BOOL_PARAM = {"type": "boolean"}
MESSAGING_SERVICE_SETTINGS: dict[str, Any] = {
    "FriendlyName": {"type": "string", "maxLength": 64},
    "InboundRequestUrl": {"type": "string", "format": "uri"},
    "InboundMethod": {"type": "string", "enum": ["GET", "POST"]},
    "FallbackUrl": {"type": "string", "format": "uri"},
    "FallbackMethod": {"type": "string", "enum": ["GET", "POST"]},
    "StatusCallback": {"type": "string", "format": "uri"},
    "StickySender": _BOOL_PARAM,
    "MmsConverter": _BOOL_PARAM,
    "SmartEncoding": _BOOL_PARAM,
    "ScanMessageContent": {"type": "string", "enum": ["inherit", "enable", "disable"]},
    "FallbackToLongCode": _BOOL_PARAM,
    "AreaCodeGeomatch": _BOOL_PARAM,
    "ValidityPeriod": {"type": "integer", "minimum": 1, "maximum": 36000},
    "SynchronousValidation": _BOOL_PARAM,
    "Usecase": {"type": "string", "enum": list(USECASES)},
    "UseInboundWebhookOnNumber": _BOOL_PARAM,
    "HelpText": {
        "type": "string",
        "maxLength": HELP_TEXT_LIMIT,
        "description": "(bridge extension) The reply the bridge sends to HELP or INFO; empty clears it.",
    },
}
PHONE_NUMBER_CREATE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "PhoneNumber": {
            "type": "string",
            "description": "(bridge) The sender address: +E164 or whatsapp:+E164.",
            "example": "+12015550100",
        },
        "PhoneNumberSid": {
            "type": "string",
            "description": "Twilio's number SID; the bridge has no number inventory and takes the address here too.",
        },
    },
}

# --- Media (MCS) --------------------------------------------------------------------------------------------------

MEDIA = obj(
    {
        "sid": sid("ME", nullable=False),
        "account_sid": sid("AC", nullable=False),
        "service_sid": sid("IS", nullable=False),
        "date_created": DATE,
        "date_updated": DATE,
        "channel_sid": sid("CH"),
        "message_sid": sid("IM"),
        "size": {"type": "integer", "minimum": 0, "nullable": True},
        "content_type": {"type": "string", "pattern": r"^[a-z0-9][^/\s]*/[^/\s]+"},
        "filename": {"type": "string", "maxLength": 256, "nullable": True},
        "author": STRING,
        "category": {"type": "string", "enum": ["media"]},
        "url": REQUIRED_URL,
        "links": obj({"content": REQUIRED_URL, "content_direct_temporary": URL}),
    }
)
# The media service's record (chat clients): the REST one, with the upload's date and MCS's multipart flag.
MCS_MEDIA = obj(
    {
        **MEDIA["properties"],
        "date_upload_updated": DATE,
        "is_multipart_upstream": {"type": "boolean"},
    }
)
MCS_MEDIA_SET_REQUEST = obj(
    {
        "command": {"type": "string", "enum": ["get"]},
        "list": {
            "type": "array",
            "maxItems": 100,
            "items": obj({"media_sid": {"type": "string", "minLength": 1}}),
        },
    }
)
MCS_MEDIA_SET = {
    "type": "array",
    "description": "One item per SID asked for, in order: code 200 with its record, or 404 (missing or not visible).",
    "items": {
        "type": "object",
        "properties": {
            "code": {"type": "integer", "enum": [200, 404]},
            "message": {"type": "string"},
            "media_record": {"type": "object", "properties": {"sid": {"type": "string"}}, "required": ["sid"]},
        },
        "required": ["code", "media_record"],
    },
}
MEDIA_MULTIPART: dict[str, Any] = {
    "type": "object",
    "properties": {
        "Media": {**BINARY, "description": "The file (a part named `file`, or the only file part, also works)."},
        "FileName": {"type": "string"},
        "Author": {"type": "string"},
    },
    "required": ["Media"],
}

# --- Carrier webhooks (what Twilio posts) ----------------------------------------------------------------------

# What the bridge routes: an SMS/MMS number in E.164, or a WhatsApp one (other channels get a 400).
ADDRESS_PATTERN = r"^(whatsapp:)?\+[1-9][0-9]{6,14}$"
_TWILIO_MESSAGE_SID = {"type": "string", "maxLength": 64, "example": "SM" + "0" * 32}
INBOUND_FORM: dict[str, Any] = {
    "type": "object",
    "description": "Twilio's inbound message webhook, form-encoded; fields the bridge does not read are kept.",
    "properties": {
        "MessageSid": _TWILIO_MESSAGE_SID,
        "SmsMessageSid": _TWILIO_MESSAGE_SID,
        "SmsSid": _TWILIO_MESSAGE_SID,
        "AccountSid": sid("AC", nullable=False),
        "MessagingServiceSid": sid("MG", nullable=False),
        "From": {"type": "string", "pattern": ADDRESS_PATTERN, "example": "+14155550123"},
        "To": {"type": "string", "pattern": ADDRESS_PATTERN, "example": "+12015550100"},
        "Body": {"type": "string", "maxLength": 1600},
        "NumMedia": {"type": "integer", "minimum": 0, "maximum": 10},
        "NumSegments": {"type": "integer", "minimum": 0},
        **{f"MediaUrl{n}": {"type": "string", "format": "uri"} for n in range(10)},
        **{f"MediaContentType{n}": {"type": "string"} for n in range(10)},
        "ProfileName": {"type": "string"},
        "WaId": {"type": "string"},
        "SmsStatus": {"type": "string"},
        "ApiVersion": {"type": "string", "enum": ["2010-04-01"]},
        "FromCity": {"type": "string"},
        "FromState": {"type": "string"},
        "FromZip": {"type": "string"},
        "FromCountry": {"type": "string"},
        "ToCity": {"type": "string"},
        "ToState": {"type": "string"},
        "ToZip": {"type": "string"},
        "ToCountry": {"type": "string"},
    },
    "required": ["MessageSid", "From", "To"],
}
CARRIER_MESSAGE_STATUSES = [
    "accepted",
    "scheduled",
    "canceled",
    "queued",
    "sending",
    "sent",
    "failed",
    "delivered",
    "undelivered",
    "receiving",
    "received",
    "read",
    "partially_delivered",
]
STATUS_FORM: dict[str, Any] = {
    "type": "object",
    "description": "Twilio's status callback for one send, form-encoded. Statuses only move forward.",
    "properties": {
        "MessageSid": _TWILIO_MESSAGE_SID,
        "SmsSid": _TWILIO_MESSAGE_SID,
        "MessageStatus": {"type": "string", "enum": CARRIER_MESSAGE_STATUSES},
        "SmsStatus": {"type": "string", "enum": CARRIER_MESSAGE_STATUSES},
        "ErrorCode": {"type": "integer", "minimum": 0, "maximum": 999999},
        "ErrorMessage": {"type": "string"},
        "ChannelStatusMessage": {"type": "string"},
        "AccountSid": sid("AC", nullable=False),
        "MessagingServiceSid": sid("MG", nullable=False),
        "From": {"type": "string"},
        "To": {"type": "string"},
        "ApiVersion": {"type": "string", "enum": ["2010-04-01"]},
    },
    "required": ["MessageSid", "MessageStatus"],
}
TWIML: dict[str, Any] = {"type": "string", "example": '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'}

# --- Admin JSON API ---------------------------------------------------------------------------------------------

_ADMIN_DATE = {"type": "string", "format": "date-time"}
_ATTEMPT = {  # what every attempt log says, a carrier's or a webhook receiver's
    "attempt": INTEGER,
    "started_at": _ADMIN_DATE,
    "duration_ms": INTEGER,
    "http_status": {"type": "integer", "nullable": True},
    "will_retry": {"type": "boolean"},
}
ADMIN_DELIVERY = obj(
    {
        "sid": sid("DY", nullable=False),
        "status": {"type": "string", "enum": list(DELIVERY_STATUSES)},
        "error_code": {"type": "integer", "description": "0: no error"},
        "error_message": STRING,
        "attempts": {"type": "integer", "minimum": 0},
        "channel": STRING,
        "address": STRING,
        "proxy_address": STRING,
        "conversation_sid": sid("CH", nullable=False),
        "service_sid": sid("IS", nullable=False),
        "message_sid": sid("IM"),
        "message_index": {"type": "integer", "nullable": True},
        "body_preview": STRING,
        "channel_message_sid": STRING,
        "date_created": _ADMIN_DATE,
        "date_updated": _ADMIN_DATE,
        "replayable": {"type": "boolean"},
    }
)
ADMIN_COUNTS = obj(
    {
        "since": _ADMIN_DATE,
        "by_status": obj({status: {"type": "integer", "minimum": 0} for status in DELIVERY_STATUSES}),
        "by_error_code": {
            "type": "array",
            "items": obj({"error_code": INTEGER, "count": {"type": "integer", "minimum": 1}, "example": STRING}),
        },
    }
)
ADMIN_TIMELINE = obj(
    {
        "message_sid": sid("IM", nullable=False),
        "conversation_sid": sid("CH", nullable=False),
        "service_sid": sid("IS", nullable=False),
        "index": INTEGER,
        "author": {"type": "string"},
        "body": STRING,
        "date_created": _ADMIN_DATE,
        "recipients": {
            "type": "array",
            "items": obj(
                {
                    "delivery": {"$ref": "#/components/schemas/bridge.admin.delivery"},
                    "attempts": {
                        "type": "array",
                        "items": obj(
                            {
                                **_ATTEMPT,
                                "carrier_message_sid": STRING,
                                "error_code": {"type": "integer", "nullable": True},
                                "error_message": STRING,
                            }
                        ),
                    },
                    "status_callbacks": {
                        "type": "array",
                        "items": obj(
                            {
                                "received_at": _ADMIN_DATE,
                                "carrier_status": {"type": "string"},
                                "carrier_message_sid": STRING,
                                "error_code": {"type": "integer", "nullable": True},
                                "applied": {"type": "boolean"},
                            }
                        ),
                    },
                }
            ),
        },
    }
)
WEBHOOK_CALL_STATUSES = ("pending", "sending", "delivered", "failed")
ADMIN_WEBHOOK_CALL = obj(
    {
        "sid": sid("WC", nullable=False),
        "status": {"type": "string", "enum": list(WEBHOOK_CALL_STATUSES)},
        "event_type": {"type": "string"},
        "target": {"type": "string", "description": "account, service, or a conversation-scoped webhook's SID"},
        "url": {"type": "string"},
        "method": {"type": "string", "enum": ["GET", "POST"]},
        "service_sid": sid("IS", nullable=False),
        "conversation_sid": sid("CH"),
        "attempts": {"type": "integer", "minimum": 0},
        "max_attempts": {"type": "integer", "minimum": 1},
        "http_status": {"type": "integer", "nullable": True, "description": "The last attempt's answer"},
        "error": STRING,
        "next_attempt_at": DATE,
        "event_at": _ADMIN_DATE,
        "delivered_at": DATE,
        "date_created": _ADMIN_DATE,
        "date_updated": _ADMIN_DATE,
        "replayable": {"type": "boolean"},
    }
)
ADMIN_WEBHOOK_COUNTS = obj(
    {
        "since": _ADMIN_DATE,
        "by_status": obj({status: {"type": "integer", "minimum": 0} for status in WEBHOOK_CALL_STATUSES}),
        "by_error": {
            "type": "array",
            "items": obj({"error": STRING, "count": {"type": "integer", "minimum": 1}}),
        },
    }
)
ADMIN_WEBHOOK_STORY = obj(
    {
        "call": {"$ref": "#/components/schemas/bridge.admin.webhook_call"},
        "line": {"type": "string", "description": "Its stream and target: a line's calls go out in order"},
        "payload": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "The fields every attempt sent (each adds its own RetryCount)",
        },
        "attempts": {"type": "array", "items": obj({**_ATTEMPT, "error": STRING})},
    }
)
PUSH_STATUSES = ("pending", "sending", "sent", "skipped", "failed", "unregistered")
ADMIN_PUSH = obj(
    {
        "sid": sid("NT", nullable=False),
        "status": {"type": "string", "enum": list(PUSH_STATUSES)},
        "message_type": {"type": "string", "description": "new_message, added_to_conversation, ..."},
        "identity": {"type": "string"},
        "conversation_sid": sid("CH"),
        "attempts": {"type": "integer", "minimum": 0},
        "error_code": {"type": "integer", "nullable": True, "description": "The platform's HTTP status"},
        "error_message": STRING,
        "next_attempt_at": DATE,
        "date_created": _ADMIN_DATE,
        "date_updated": _ADMIN_DATE,
        "replayable": {"type": "boolean"},
    }
)
ADMIN_PUSH_COUNTS = obj(
    {
        "since": _ADMIN_DATE,
        "by_status": obj({status: {"type": "integer", "minimum": 0} for status in PUSH_STATUSES}),
    }
)
ADMIN_REPLAY_RESULT = obj(
    {
        "matched": {"type": "integer", "minimum": 0},
        "replayed": {"type": "integer", "minimum": 0},
        "skipped": {"type": "integer", "minimum": 0},
    }
)
ADMIN_UNROUTED = obj(
    {
        "id": {"type": "integer", "minimum": 1},
        "carrier": {"type": "string"},
        "carrier_message_sid": {"type": "string"},
        "from": {"type": "string"},
        "to": {"type": "string"},
        "body": STRING,
        "media": {"type": "array", "items": {}},
        "status": {"type": "string", "enum": ["unrouted", "routed", "held", "asking", "rejected"]},
        "routed_message_sid": sid("IM"),
        "date_created": _ADMIN_DATE,
        "date_updated": _ADMIN_DATE,
    }
)
ADMIN_REROUTE_RESULT = obj(
    {"id": {"type": "integer"}, "routed": {"type": "boolean"}, "message_sid": sid("IM"), "reason": STRING}
)
ADMIN_ACTION = obj(
    {
        "id": {"type": "integer", "minimum": 1},
        "at": _ADMIN_DATE,
        "actor": {"type": "string"},
        "action": {"type": "string"},
        "summary": {"type": "string"},
        "details": {"type": "object"},
    }
)
_FILTER_VALUES = {"type": "array", "items": {"type": "string"}}
ADMIN_FILTER_PROPERTIES: dict[str, Any] = {
    "status": {**_FILTER_VALUES, "description": f"Delivery statuses ({', '.join(DELIVERY_STATUSES)}) or `all`."},
    "error_code": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 999999}},
    "since": {"type": "string", "description": "`2h`, `30m`, `7d` (that long ago) or an ISO-8601 date-time."},
    "until": {"type": "string", "description": "As `since`."},
    "service": sid("IS", nullable=False),
    "conversation": sid("CH", nullable=False),
    "message": sid("IM", nullable=False),
    "address": {"type": "string"},
    "channel": {"type": "string", "enum": ["sms", "whatsapp"]},
    "sid": {"type": "array", "items": sid("DY", nullable=False), "maxItems": 1000},
}
ADMIN_WEBHOOK_FILTER_PROPERTIES: dict[str, Any] = {
    "status": {**_FILTER_VALUES, "description": f"Call statuses ({', '.join(WEBHOOK_CALL_STATUSES)}) or `all`."},
    "event_type": {**_FILTER_VALUES, "description": "Post-event types: onMessageAdded, onParticipantAdded, ..."},
    "target": {"type": "string", "description": "`account`, `service` or a conversation-scoped webhook's SID (WH...)"},
    "url": {"type": "string", "description": "The URL called, exactly."},
    "since": ADMIN_FILTER_PROPERTIES["since"],
    "until": ADMIN_FILTER_PROPERTIES["until"],
    "service": ADMIN_FILTER_PROPERTIES["service"],
    "conversation": ADMIN_FILTER_PROPERTIES["conversation"],
    "sid": {"type": "array", "items": sid("WC", nullable=False), "maxItems": 1000},
}
ADMIN_PUSH_FILTER_PROPERTIES: dict[str, Any] = {
    "status": {**_FILTER_VALUES, "description": f"Push statuses ({', '.join(PUSH_STATUSES)}) or `all`."},
    "since": ADMIN_FILTER_PROPERTIES["since"],
    "until": ADMIN_FILTER_PROPERTIES["until"],
    "service": ADMIN_FILTER_PROPERTIES["service"],
    "conversation": ADMIN_FILTER_PROPERTIES["conversation"],
    "identity": {"type": "string", "description": "The chat user pushed to."},
    "sid": {"type": "array", "items": sid("NT", nullable=False), "maxItems": 1000},
}
# The replay body takes any kind's filters: `kind` says which (deliveries unless its SIDs are webhook calls').
ADMIN_REPLAY_PROPERTIES: dict[str, Any] = {
    "kind": {
        "type": "string",
        "enum": ["delivery", "webhook", "push"],
        "description": "What to replay: deliveries (the default), webhook calls (also implied by WC SIDs) or push "
        "notifications (also implied by NT SIDs).",
    },
    **ADMIN_FILTER_PROPERTIES,
    **ADMIN_WEBHOOK_FILTER_PROPERTIES,
    **ADMIN_PUSH_FILTER_PROPERTIES,
    "status": {**_FILTER_VALUES, "description": "Statuses of the kind replayed, or `all` (its replayable ones)."},
    "sid": {
        "type": "array",
        "items": {"type": "string", "pattern": "^(DY|WC|NT)[0-9a-fA-F]{32}$", "minLength": 34, "maxLength": 34},
        "maxItems": 1000,
        "description": "Delivery SIDs (DY...), webhook call SIDs (WC...) or push SIDs (NT...), one kind at a time.",
    },
}

COMPONENTS: dict[str, dict[str, Any]] = {
    "bridge.error": ERROR,
    "bridge.meta": LIST_META,
    "messaging.v1.service": MESSAGING_SERVICE,
    "messaging.v1.service.phone_number": PHONE_NUMBER,
    "bridge.media": MEDIA,
    "bridge.mcs_media": MCS_MEDIA,
    "bridge.mcs_media_set": MCS_MEDIA_SET,
    "bridge.admin.delivery": ADMIN_DELIVERY,
    "bridge.admin.counts": ADMIN_COUNTS,
    "bridge.admin.timeline": ADMIN_TIMELINE,
    "bridge.admin.webhook_call": ADMIN_WEBHOOK_CALL,
    "bridge.admin.webhook_counts": ADMIN_WEBHOOK_COUNTS,
    "bridge.admin.webhook_story": ADMIN_WEBHOOK_STORY,
    "bridge.admin.push": ADMIN_PUSH,
    "bridge.admin.push_counts": ADMIN_PUSH_COUNTS,
    "bridge.admin.replay_result": ADMIN_REPLAY_RESULT,
    "bridge.admin.unrouted": ADMIN_UNROUTED,
    "bridge.admin.reroute_result": ADMIN_REROUTE_RESULT,
    "bridge.admin.action": ADMIN_ACTION,
}
