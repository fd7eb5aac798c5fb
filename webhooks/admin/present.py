"""How admin data is shown: JSON shapes for the API, and the small helpers the console's templates use."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from bridge import admin, delivery
from bridge.hooks import admin as hooks_admin
from bridge.models import AdminAction, DeliveryAttempt, DeliveryEvent, UnroutedMessage, WebhookAttempt
from bridge.push import admin as push_admin
from bridge.push import outbox as push_outbox
from bridge.timeutil import iso, utcnow

# Status -> tone, for badges and the chart (the console's CSS colours each tone).
TONES = {
    delivery.PENDING: "waiting",
    delivery.SENDING: "waiting",
    delivery.SENT: "progress",
    delivery.DELIVERED: "good",
    delivery.READ: "good",
    delivery.UNDELIVERED: "warn",
    delivery.FAILED: "bad",
}
# Bottom to top in the dashboard's stacked bars: trouble first, where the eye lands.
CHART_ORDER = (
    delivery.FAILED,
    delivery.UNDELIVERED,
    delivery.PENDING,
    delivery.SENDING,
    delivery.SENT,
    delivery.DELIVERED,
    delivery.READ,
)
DOCS = "https://www.twilio.com/docs/errors/{code}"


def delivery_json(row: admin.DeliveryRow) -> dict[str, Any]:
    body = asdict(row)
    body["date_created"], body["date_updated"] = iso(row.date_created), iso(row.date_updated)
    body["replayable"] = row.status in admin.REPLAYABLE
    return body


def _attempt_fields(attempt: DeliveryAttempt | WebhookAttempt) -> dict[str, Any]:
    """What every attempt log says, a carrier's or a webhook receiver's."""
    return {
        "attempt": attempt.attempt,
        "started_at": iso(attempt.started_at),
        "duration_ms": attempt.duration_ms,
        "http_status": attempt.http_status,
        "will_retry": attempt.will_retry,
    }


def attempt_json(attempt: DeliveryAttempt) -> dict[str, Any]:
    return {
        **_attempt_fields(attempt),
        "carrier_message_sid": attempt.carrier_message_sid,
        "error_code": attempt.error_code,
        "error_message": attempt.error_message,
    }


def event_json(event: DeliveryEvent) -> dict[str, Any]:
    return {
        "received_at": iso(event.received_at),
        "carrier_status": event.carrier_status,
        "carrier_message_sid": event.carrier_message_sid,
        "error_code": event.error_code,
        "applied": event.applied,
    }


def timeline_json(story: admin.MessageTimeline) -> dict[str, Any]:
    return {
        "message_sid": story.message_sid,
        "conversation_sid": story.conversation_sid,
        "service_sid": story.service_sid,
        "index": story.index,
        "author": story.author,
        "body": story.body,
        "date_created": iso(story.date_created),
        "recipients": [
            {
                "delivery": delivery_json(recipient.delivery),
                "attempts": [attempt_json(a) for a in recipient.attempts],
                "status_callbacks": [event_json(e) for e in recipient.events],
            }
            for recipient in story.recipients
        ],
    }


def webhook_call_json(row: hooks_admin.WebhookCallRow) -> dict[str, Any]:
    return {**admin.json_fields(row), "replayable": row.status in hooks_admin.REPLAYABLE}


def push_json(row: push_admin.PushRow) -> dict[str, Any]:
    return {**admin.json_fields(row), "replayable": row.status in push_outbox.REPLAYABLE}


def webhook_attempt_json(attempt: WebhookAttempt) -> dict[str, Any]:
    return {**_attempt_fields(attempt), "error": attempt.error}


def call_story_json(story: hooks_admin.CallStory) -> dict[str, Any]:
    return {
        "call": webhook_call_json(story.call),
        "line": story.line,
        "payload": story.payload,  # as every attempt sent it, but for the attempt's own RetryCount
        "attempts": [webhook_attempt_json(a) for a in story.attempts],
    }


def unrouted_json(row: UnroutedMessage) -> dict[str, Any]:
    return {
        "id": row.id,
        "carrier": row.carrier,
        "carrier_message_sid": row.carrier_message_sid,
        "from": row.from_address,
        "to": row.to_address,
        "body": row.body,
        "media": row.media or [],
        "status": row.status,
        "routed_message_sid": row.routed_message_sid,
        "date_created": iso(row.date_created),
        "date_updated": iso(row.date_updated),
    }


def action_json(action: AdminAction) -> dict[str, Any]:
    return {
        "id": action.id,
        "at": iso(action.at),
        "actor": action.actor,
        "action": action.action,
        "summary": action.summary,
        "details": action.details,
    }


# -- template helpers ----------------------------------------------------------------------------------------


def tone(status: str) -> str:
    return TONES.get(status, "waiting")


def when(moment: datetime | None) -> str:
    """`2025-01-31 14:03:09` (UTC), the full moment for titles and tables."""
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """`12 s ago`, `5 min ago`, `3 h ago`, `2 d ago`: how fresh a row is, at a glance."""
    if moment is None:
        return ""
    seconds = max(0, int(((now or utcnow()) - moment).total_seconds()))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def number(address: str | None) -> str:
    """The number of an address, in full; the channel (`whatsapp:`) is shown beside it as a chip."""
    return (address or "").removeprefix("whatsapp:")


def error_docs(code: int | None) -> str | None:
    return DOCS.format(code=code) if code else None


def template_helpers() -> dict[str, Any]:
    return {
        "tone": tone,
        "when": when,
        "ago": ago,
        "iso": iso,
        "error_docs": error_docs,
        "number": number,
    }
