"""What admins do about post-event webhook calls: find the failed ones, read a call's story (its payload and every
attempt), count them, and replay them through the same operation as deliveries (`bridge.admin.replay` with
`WEBHOOK_CALLS`): `failed -> pending` by a conditional UPDATE, in batches queued as each commits, audited.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from bridge import admin
from bridge.errors import invalid, not_found
from bridge.event_fields import FIELDS_OF_EVENT
from bridge.hooks import outbox, targets
from bridge.models import WebhookAttempt, WebhookCall
from bridge.paging import Page, PageRequest, paginate

REPLAYABLE = (outbox.FAILED,)
EVENT_TYPES = tuple(FIELDS_OF_EVENT)  # the post-event webhooks a call can be
_SCOPED_WEBHOOK = re.compile(r"WH[0-9a-fA-F]{32}")


@dataclass(frozen=True)
class WebhookCallFilter(admin.Described):
    """Which webhook calls an admin means. Every field narrows; an empty filter means every failed call."""

    statuses: tuple[str, ...] = (outbox.FAILED,)
    event_types: tuple[str, ...] = ()
    target: str | None = None  # account | service | a conversation-scoped webhook's SID (WH...)
    url: str | None = None  # the URL called, exactly
    service_sid: str | None = None
    conversation_sid: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    call_sids: tuple[str, ...] = ()


def check_target(target: str) -> str:
    if target in (targets.ACCOUNT, targets.SERVICE) or _SCOPED_WEBHOOK.fullmatch(target):
        return target
    raise invalid(
        f"target must be {targets.ACCOUNT}, {targets.SERVICE} or a conversation-scoped webhook's SID (WH followed "
        f"by 32 hex digits), got {target[:40]!r}"
    )


def _query(filt: WebhookCallFilter) -> Select[tuple[WebhookCall]]:
    for status in filt.statuses:
        if status not in outbox.STATUSES:
            raise invalid(f"Unknown status {status[:40]!r}; one of {', '.join(outbox.STATUSES)}")
    for event_type in filt.event_types:
        if event_type not in EVENT_TYPES:
            raise invalid(f"Unknown event type {event_type[:40]!r}; one of {', '.join(EVENT_TYPES)}")
    query = select(WebhookCall)
    if filt.statuses:
        query = query.where(WebhookCall.status.in_(filt.statuses))
    if filt.event_types:
        query = query.where(WebhookCall.event_type.in_(filt.event_types))
    if filt.target is not None:
        query = query.where(WebhookCall.target == check_target(filt.target))
    if filt.url is not None:
        query = query.where(WebhookCall.url == filt.url)
    if filt.service_sid:
        query = query.where(WebhookCall.service_sid == filt.service_sid)
    if filt.conversation_sid:
        query = query.where(WebhookCall.conversation_sid == filt.conversation_sid)
    query = admin.updated_within(query, WebhookCall.date_updated, filt.since, filt.until)
    if filt.call_sids:
        query = query.where(WebhookCall.sid.in_(filt.call_sids))
    return query


# Replayed by `bridge.admin.replay(..., kind=WEBHOOK_CALLS)`, the operation deliveries go through.
WEBHOOK_CALLS: admin.ReplayKind[WebhookCallFilter] = admin.ReplayKind(
    "webhook", "webhook calls", REPLAYABLE, _query, WebhookCall.id, outbox.replay
)


@dataclass(frozen=True)
class WebhookCallRow:
    """One call as admins see it: where it went, how far it got, and what the last attempt said."""

    sid: str
    status: str
    event_type: str
    target: str  # account | service | a conversation-scoped webhook's SID
    url: str
    method: str
    service_sid: str
    conversation_sid: str | None
    attempts: int
    max_attempts: int
    http_status: int | None
    error: str | None
    next_attempt_at: datetime | None
    event_at: datetime
    delivered_at: datetime | None
    date_created: datetime
    date_updated: datetime

    @classmethod
    def of(cls, call: WebhookCall) -> WebhookCallRow:
        return cls(**{name: getattr(call, name) for name in cls.__dataclass_fields__})


def list_calls(session: Session, filt: WebhookCallFilter, page: PageRequest) -> Page[WebhookCallRow]:
    """Newest first, keyset-paged like the REST API."""
    found = paginate(session, _query(filt), WebhookCall.id, page, descending=True)
    return Page([WebhookCallRow.of(call) for call in found.items], found.next_token, found.previous_token)


def count_matching(session: Session, filt: WebhookCallFilter) -> int:
    return WEBHOOK_CALLS.count(session, filt)


def counts_by_status(session: Session, since: datetime | None = None) -> dict[str, int]:
    return admin.status_counts(session, WebhookCall.status, WebhookCall.date_updated, outbox.STATUSES, since)


@dataclass(frozen=True)
class ErrorCount:
    error: str | None  # `HTTP 500`, `no answer within 5 s`, `could not connect: ...`
    count: int


def failures_by_error(session: Session, since: datetime | None = None) -> list[ErrorCount]:
    query = (
        select(WebhookCall.error, func.count())
        .where(WebhookCall.status.in_(REPLAYABLE))
        .group_by(WebhookCall.error)
        .order_by(func.count().desc(), WebhookCall.error)
    )
    if since is not None:
        query = query.where(WebhookCall.date_updated >= since)
    return [ErrorCount(error, count) for error, count in session.execute(query).all()]


@dataclass(frozen=True)
class CallStory:
    """A call as it stands, the payload every attempt sent (each adds its own RetryCount), and every attempt, in
    order. Attempt numbers start again at 1 after a replay."""

    call: WebhookCallRow
    line: str  # its stream and target: the calls of a line go out in order, one at a time
    payload: dict[str, str]
    attempts: list[WebhookAttempt]


def call_story(session: Session, call_sid: str) -> CallStory:
    call = session.scalar(select(WebhookCall).where(WebhookCall.sid == call_sid))
    if call is None:
        raise not_found(f"Webhook call {call_sid} not found")
    attempts = list(
        session.scalars(select(WebhookAttempt).where(WebhookAttempt.call_id == call.id).order_by(WebhookAttempt.id))
    )
    return CallStory(WebhookCallRow.of(call), call.line, dict(call.payload or {}), attempts)
