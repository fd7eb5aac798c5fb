"""Pre-event webhooks: the application's backend is asked before a change is made, and may reject or modify it.

Twilio's contract, within its 5 s limit:

| answer                                   | effect                                                      |
| ---------------------------------------- | ----------------------------------------------------------- |
| 2xx with an empty body, `{}` or non-JSON | the action goes ahead unchanged                             |
| 2xx with a JSON object                   | its modifiable fields replace the action's (`body`, ...)    |
| 4xx or 5xx                               | the action is rejected                                      |
| no answer (timeout, refused)             | the action goes ahead unchanged                             |

A call is never made inside a database transaction: the caller reads what the payload needs, lets that
transaction end, asks, and then makes the change in a transaction of its own.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from bridge import jsontext, metrics
from bridge.config import Settings
from bridge.errors import BridgeError
from bridge.event_fields import Fields, compact
from bridge.hooks import http
from bridge.hooks.targets import Target, pre_event_target
from bridge.models import ConversationService

log = logging.getLogger(__name__)

MESSAGE_ADD, MESSAGE_UPDATE, MESSAGE_REMOVE = "onMessageAdd", "onMessageUpdate", "onMessageRemove"
CONVERSATION_ADD, CONVERSATION_UPDATE = "onConversationAdd", "onConversationUpdate"
CONVERSATION_REMOVE = "onConversationRemove"
PARTICIPANT_ADD, PARTICIPANT_UPDATE = "onParticipantAdd", "onParticipantUpdate"
PARTICIPANT_REMOVE = "onParticipantRemove"
USER_UPDATE = "onUserUpdate"

REJECTED = 20403  # the bridge's code for an action the application's pre-event webhook refused (HTTP 403)

# What an answer may change, per event type: its JSON key (Twilio's snake_case) -> the request parameter.
MODIFIABLE: dict[str, dict[str, str]] = {
    MESSAGE_ADD: {"body": "Body", "author": "Author", "attributes": "Attributes"},
    MESSAGE_UPDATE: {"body": "Body", "author": "Author", "attributes": "Attributes"},
    CONVERSATION_ADD: {"friendly_name": "FriendlyName", "unique_name": "UniqueName", "attributes": "Attributes"},
    CONVERSATION_UPDATE: {"friendly_name": "FriendlyName", "unique_name": "UniqueName", "attributes": "Attributes"},
    PARTICIPANT_ADD: {"attributes": "Attributes"},
    PARTICIPANT_UPDATE: {"attributes": "Attributes"},
    USER_UPDATE: {"friendly_name": "FriendlyName", "attributes": "Attributes"},
}


@dataclass(frozen=True)
class PreEvent:
    """A pre-event webhook about to be called: its target and its fields (without the common ones)."""

    event_type: str
    target: Target
    fields: Fields
    source: str = "API"
    client_identity: str | None = None


@dataclass(frozen=True)
class Verdict:
    rejected: bool = False
    status: int | None = None
    changes: dict[str, str] = field(default_factory=dict)  # request parameter -> replacement value
    error: str | None = None


PROCEED = Verdict()


def prepare(
    session: Session,
    service: ConversationService,
    event_type: str,
    fields: Mapping[str, object],
    source: str = "API",
    client_identity: str | None = None,
) -> PreEvent | None:
    """The pre-event webhook this action calls first, or None when no target wants `event_type`."""
    target = pre_event_target(session, service, event_type)
    if target is None:
        return None
    return PreEvent(event_type, target, compact(dict(fields)), source, client_identity)


def ask(pre_event: PreEvent, settings: Settings) -> Verdict:
    """Calls the webhook (no transaction may be open) and reads its answer as Twilio does."""
    fields = {"AccountSid": settings.account_sid, "EventType": pre_event.event_type, "Source": pre_event.source}
    if pre_event.client_identity:
        fields["ClientIdentity"] = pre_event.client_identity
    fields.update(pre_event.fields)
    deadline = time.monotonic() + settings.webhook_timeout
    attempt = 0
    while True:
        reply = http.call(
            pre_event.target.url,
            pre_event.target.method,
            {**fields, "RetryCount": str(attempt)},
            auth_token=settings.auth_token,
            idempotency_token=None,
            timeout=max(deadline - time.monotonic(), 0.05),
        )
        # Refused or reset connections are retried as the service asks (PreWebhookRetryCount); a timeout has
        # used the whole budget.
        if reply.status is not None or attempt >= pre_event.target.retry_count or time.monotonic() >= deadline:
            break
        attempt += 1
    verdict = read_answer(pre_event.event_type, reply)
    metrics.pre_event_asked(pre_event.event_type, verdict.rejected, bool(verdict.changes), reply.status is not None)
    return verdict


def read_answer(event_type: str, reply: http.Reply) -> Verdict:
    if reply.status is None:
        log.info("pre-event webhook %s: %s; the action goes ahead", event_type, reply.error)
        return Verdict(error=reply.error)
    if reply.status >= 400:
        return Verdict(rejected=True, status=reply.status)
    if not 200 <= reply.status < 300:
        return Verdict(status=reply.status)
    return Verdict(status=reply.status, changes=_changes(event_type, reply.body))


def _changes(event_type: str, body: bytes) -> dict[str, str]:
    try:
        answer = jsontext.loads(body) if body.strip() else {}
    except ValueError:
        return {}  # a 200 that is not JSON (or not JSON the bridge can keep) says nothing to change
    allowed = MODIFIABLE.get(event_type, {})
    if not isinstance(answer, dict) or not allowed:
        return {}
    # Twilio's keys are snake_case; PascalCase (the request's own spelling) is read the same way.
    by_key = {key.replace("_", "").lower(): parameter for key, parameter in allowed.items()}
    changes = {}
    for key, value in answer.items():
        parameter = by_key.get(str(key).replace("_", "").lower())
        if parameter is None or value is None:
            continue
        changes[parameter] = value if isinstance(value, str) else json.dumps(value)
    return changes


def rejection(pre_event: PreEvent, verdict: Verdict) -> BridgeError:
    return BridgeError(
        REJECTED,
        f"The application's {pre_event.event_type} webhook rejected this action (it answered HTTP {verdict.status})",
        403,
    )
