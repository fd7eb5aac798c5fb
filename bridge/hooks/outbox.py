"""Post-event webhooks: planned from the change-event log into an outbox of calls, sent, retried and replayed.

The planner reads the events no one has planned yet, in log order, and writes one call per (event, target).
Calls of one line (a stream and a target) go out in event order, one in flight: a call is claimable only when
no earlier call of its line is still pending or sending, as deliveries are per recipient. A slow or dead
receiver holds up its own lines only.

    pending -> sending -> delivered
                  |  \\-> pending (retry later: timeouts, connection errors, 429, 5xx)
                  \\---> failed (any other answer, or out of attempts; an admin may replay it)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, false, func, insert, select, update
from sqlalchemy.orm import Session

from bridge import db, event_fields
from bridge.hooks import targets
from bridge.models import (
    ChangeEvent,
    Conversation,
    ConversationService,
    ConversationWebhook,
    Message,
    WebhookAttempt,
    WebhookCall,
    WebhookSettings,
)
from bridge.push import planner as push_planner
from bridge.sids import new_sid
from bridge.timeutil import utcnow

PENDING, SENDING, DELIVERED, FAILED = "pending", "sending", "delivered", "failed"
UNFINISHED = (PENDING, SENDING)
STATUSES = (PENDING, SENDING, DELIVERED, FAILED)

SEND_WEBHOOK = "send_webhook"  # the task that sends one call (and then its line's next ones)

_CALLS = WebhookCall.__table__
C = _CALLS.c
_ATTEMPTS = WebhookAttempt.__table__


@dataclass(frozen=True)
class CallJob:
    """What a worker needs to send one claimed call."""

    call_id: int
    sid: str
    event_type: str
    line: str
    url: str
    method: str
    payload: dict[str, str]
    attempt: int
    max_attempts: int
    event_at: datetime


def common_fields(event: ChangeEvent) -> dict[str, str]:
    """What every webhook of the event carries; `AccountSid` and `RetryCount` are added as each attempt goes."""
    fields = {"EventType": event.type, "Source": event.source}
    if event.client_identity:
        fields["ClientIdentity"] = event.client_identity
    return fields


class _Lookups:
    """Settings and scoped webhooks read once per planning batch, not once per event."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.service_ids: dict[str, int | None] = {}
        self.settings: dict[int, tuple[WebhookSettings | None, WebhookSettings | None]] = {}
        self.scoped: dict[str, list[ConversationWebhook]] = {}

    def settings_for(self, service_sid: str) -> tuple[str, WebhookSettings] | None:
        if service_sid not in self.service_ids:
            self.service_ids[service_sid] = self.session.scalar(
                select(ConversationService.id).where(ConversationService.sid == service_sid)
            )
        service_id = self.service_ids[service_sid]
        if service_id is None:
            return None
        if service_id not in self.settings:
            self.settings[service_id] = targets.load_settings(self.session, service_id)
        return targets.effective_settings(*self.settings[service_id])

    def scoped_for(self, conversation_sid: str | None) -> list[ConversationWebhook]:
        if conversation_sid is None:
            return []
        if conversation_sid not in self.scoped:
            self.scoped[conversation_sid] = list(
                self.session.scalars(
                    select(ConversationWebhook)
                    .join(Conversation, Conversation.id == ConversationWebhook.conversation_id)
                    .where(Conversation.sid == conversation_sid)
                    .order_by(ConversationWebhook.id)
                )
            )
        return self.scoped[conversation_sid]


def event_targets(lookups: _Lookups, event: ChangeEvent) -> list[targets.Target]:
    found = []
    chosen = lookups.settings_for(event.service_sid)
    if chosen is not None:
        target = targets.settings_target(chosen[0], chosen[1], event.type, pre=False)
        if target is not None:
            found.append(target)
    body = (event.data or {}).get("Body")
    for webhook in lookups.scoped_for(event.conversation_sid):
        target = targets.scoped_target(webhook, event.type, body)
        if target is not None:
            found.append(target)
    return found


def plan(session: Session, limit: int = 500) -> int:
    """Plans up to `limit` unplanned events, oldest first, into calls; returns how many events it planned.

    The rows are locked (not skipped), so planners take turns and lines keep log order: a second planner waits
    for the first to commit, then finds those events planned and goes on with later ones."""
    events = list(
        session.scalars(
            select(ChangeEvent)
            .where(ChangeEvent.webhooks_planned == false())
            .order_by(ChangeEvent.id)
            .limit(limit)
            .with_for_update()
        )
    )
    if not events:
        return 0
    lookups = _Lookups(session)
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for event in events:
        if not event.fires_webhooks:
            continue  # read for its pushes only (a REST write without X-Twilio-Webhook-Enabled)
        base = {**common_fields(event), **(event.data or {})}
        for target in event_targets(lookups, event):
            rows.append(
                _call_row(
                    target,
                    event_id=event.id,
                    event_type=event.type,
                    stream=event.stream,
                    service_sid=event.service_sid,
                    conversation_sid=event.conversation_sid,
                    payload=base,
                    event_at=event.created_at,
                    now=now,
                )
            )
    _insert_calls(session, rows)
    push_planner.plan(session, events)  # the same events' pushes, in this transaction: planned once, with them
    session.execute(
        update(ChangeEvent)
        .where(ChangeEvent.id.in_([event.id for event in events]))
        .values(webhooks_planned=True)
        .execution_options(synchronize_session=False)
    )
    return len(events)


def plan_before_change(session: Session) -> int:
    """Plans every event still unplanned, in the transaction that is about to change where webhooks go: an
    event goes where the settings said when it happened, not where they say when the planner reaches it."""
    planned = 0
    while count := plan(session):
        planned += count
    return planned


def replay_messages(session: Session, conversation: Conversation, webhook: ConversationWebhook, from_index: int) -> int:
    """`Configuration.ReplayAfter`: a new conversation-scoped webhook also gets onMessageAdded for the messages
    from `from_index` on, as they are now, ahead of anything that follows on its line. Returns how many.

    Messages whose events the planner has not reached are left to it (it will see this webhook): their events are
    locked first, so a planner at work on them finishes before they are read as planned, and one that comes
    later waits for this transaction and then plans them with the webhook in view."""
    waiting = set(
        session.scalars(
            select(ChangeEvent.resource_sid)
            .where(
                ChangeEvent.stream == conversation.sid,
                ChangeEvent.webhooks_planned == false(),
                ChangeEvent.type == targets.MESSAGE_ADDED,
            )
            .order_by(ChangeEvent.id)
            .with_for_update()
        )
    )
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for message in session.scalars(
        select(Message)
        .where(Message.conversation_id == conversation.id, Message.index >= from_index)
        .order_by(Message.index)
    ):
        target = targets.scoped_target(webhook, targets.MESSAGE_ADDED, message.body)
        if message.sid in waiting or target is None:
            continue
        fields = event_fields.shaped(targets.MESSAGE_ADDED, event_fields.message_fields(session, conversation, message))
        rows.append(
            _call_row(
                target,
                event_id=None,
                event_type=targets.MESSAGE_ADDED,
                stream=conversation.sid,
                service_sid=conversation.service.sid,
                conversation_sid=conversation.sid,
                payload={"EventType": targets.MESSAGE_ADDED, "Source": "API", **fields},
                event_at=message.date_created,
                now=now,
            )
        )
    _insert_calls(session, rows)
    return len(rows)


def _call_row(
    target: targets.Target,
    *,
    event_id: int | None,
    event_type: str,
    stream: str,
    service_sid: str,
    conversation_sid: str | None,
    payload: dict[str, str],
    event_at: datetime,
    now: datetime,
) -> dict[str, Any]:
    """One call's row: a line is a stream (a conversation, or a user) and a target."""
    return {
        "sid": new_sid("WC"),
        "event_id": event_id,
        "event_type": event_type,
        "service_sid": service_sid,
        "conversation_sid": conversation_sid,
        "line": f"{stream}|{target.key}",
        "target": target.key,
        "url": target.url,
        "method": target.method,
        "payload": {**payload, **target.extra},
        "status": PENDING,
        "attempts": 0,
        "max_attempts": target.retry_count + 1,
        "next_attempt_at": now,
        "event_at": event_at,
        "date_created": now,
        "date_updated": now,
    }


def _insert_calls(session: Session, rows: list[dict[str, Any]]) -> None:
    """One multi-row INSERT, and one task per line once it commits: the first call of each goes, and the task
    goes on down its line."""
    if not rows:
        return
    ids = list(session.scalars(insert(_CALLS).returning(C.id, sort_by_parameter_order=True), rows))
    heads: dict[str, int] = {}
    for row, call_id in zip(rows, ids, strict=True):
        heads.setdefault(row["line"], call_id)
    db.dispatch_after_commit(session, SEND_WEBHOOK, list(heads.values()))


def _no_earlier_unfinished() -> object:
    earlier = _CALLS.alias("earlier").c
    return ~select(earlier.id).where(earlier.line == C.line, earlier.id < C.id, earlier.status.in_(UNFINISHED)).exists()


def claim(
    session: Session, call_id: int, lease_seconds: float, max_attempts: int, now: datetime | None = None
) -> CallJob | None:
    """pending -> sending, only if due and at the head of its line. None: nothing to do here. The call's attempt
    limit becomes at least the worker's `max_attempts` (its target may ask for more)."""
    now = now or utcnow()
    row = session.execute(
        update(_CALLS)
        .where(
            C.id == call_id,
            C.status == PENDING,
            C.next_attempt_at <= now + timedelta(seconds=1),
            _no_earlier_unfinished(),
        )
        .values(
            status=SENDING,
            attempts=C.attempts + 1,
            max_attempts=case((C.max_attempts < max_attempts, max_attempts), else_=C.max_attempts),
            lease_until=now + timedelta(seconds=lease_seconds),
            date_updated=now,
        )
        .returning(
            C.id, C.sid, C.event_type, C.line, C.url, C.method, C.payload, C.attempts, C.max_attempts, C.event_at
        )
    ).one_or_none()
    if row is None:
        return None
    return CallJob(
        call_id=row.id,
        sid=row.sid,
        event_type=row.event_type,
        line=row.line,
        url=row.url,
        method=row.method,
        payload=dict(row.payload or {}),
        attempt=row.attempts,
        max_attempts=row.max_attempts,
        event_at=row.event_at,
    )


@dataclass(frozen=True)
class Answer:
    """What one request to a webhook target came to."""

    http_status: int | None
    duration_ms: int
    error: str | None = None  # a timeout or connection error; or why the status counts as a failure

    @property
    def delivered(self) -> bool:
        return self.http_status is not None and 200 <= self.http_status < 300

    @property
    def retryable(self) -> bool:
        return self.http_status is None or self.http_status == 429 or self.http_status >= 500


def record_answer(
    session: Session, job: CallJob, started_at: datetime, answer: Answer, retry_at: datetime | None
) -> str:
    """The attempt's outcome: delivered, back to pending until `retry_at`, or failed. Returns the new status."""
    will_retry = not answer.delivered and answer.retryable and retry_at is not None
    session.execute(
        insert(_ATTEMPTS).values(
            call_id=job.call_id,
            attempt=job.attempt,
            started_at=started_at,
            duration_ms=answer.duration_ms,
            http_status=answer.http_status,
            error=answer.error,
            will_retry=will_retry,
        )
    )
    now = utcnow()
    if answer.delivered:
        status, values = DELIVERED, {"delivered_at": now, "error": None}
    elif will_retry:
        status, values = PENDING, {"next_attempt_at": retry_at, "error": answer.error}
    else:
        status, values = FAILED, {"error": answer.error}
    # Only this claim's answer: a worker that outlived its lease must not write over a later claim of the call.
    session.execute(
        update(_CALLS)
        .where(C.id == job.call_id, C.status == SENDING, C.attempts == job.attempt)
        .values(status=status, http_status=answer.http_status, lease_until=None, date_updated=now, **values)
    )
    return status


def next_in_line(session: Session, line: str, after_call_id: int) -> int | None:
    return session.scalar(
        select(func.min(C.id)).where(
            C.line == line, C.id > after_call_id, C.status == PENDING, C.next_attempt_at <= utcnow()
        )
    )


def due_heads(session: Session, overdue_by: float, limit: int = 1000) -> list[int]:
    """Pending calls at the head of their line whose task should have run `overdue_by` seconds ago (Redis lost
    it, or it is a retry whose wait outlasted the broker's countdown). Marked as swept, so each is re-enqueued
    at most once per `overdue_by` seconds."""
    now = utcnow()
    cutoff = now - timedelta(seconds=overdue_by)
    ids = list(
        session.scalars(
            select(C.id)
            .where(
                C.status == PENDING,
                C.next_attempt_at <= cutoff,
                (C.swept_at.is_(None)) | (C.swept_at <= cutoff),
                _no_earlier_unfinished(),
            )
            .order_by(C.id)
            .limit(limit)
        )
    )
    if ids:
        session.execute(update(_CALLS).where(C.id.in_(ids)).values(swept_at=now))
    return ids


def release_expired_leases(session: Session, limit: int = 1000) -> list[int]:
    """Calls claimed by a worker that died (lease passed): back to pending, due now. The receiver may have got
    the request already: it sees it again with the same I-Twilio-Idempotency-Token."""
    now = utcnow()
    ids = list(
        session.scalars(select(C.id).where(C.status == SENDING, C.lease_until < now).order_by(C.id).limit(limit))
    )
    if ids:
        session.execute(
            update(_CALLS)
            .where(C.id.in_(ids), C.status == SENDING, C.lease_until < now)
            .values(status=PENDING, next_attempt_at=now, lease_until=None, swept_at=now, date_updated=now)
        )
    return ids


def has_unplanned(session: Session, older_than: float) -> bool:
    """Events a planner should have taken by now (its task was lost): the sweeper starts one."""
    cutoff = utcnow() - timedelta(seconds=older_than)
    return (
        session.scalar(
            select(ChangeEvent.id)
            .where(ChangeEvent.webhooks_planned == false(), ChangeEvent.created_at <= cutoff)
            .limit(1)
        )
        is not None
    )


def prune(session: Session, retention: timedelta, limit: int = 10_000) -> int:
    """Deletes delivered calls (and their attempts) older than `retention`; failed ones stay for admins."""
    cutoff = utcnow() - retention
    ids = list(
        session.scalars(select(C.id).where(C.status == DELIVERED, C.date_updated < cutoff).order_by(C.id).limit(limit))
    )
    if ids:
        session.execute(_ATTEMPTS.delete().where(_ATTEMPTS.c.call_id.in_(ids)))
        session.execute(_CALLS.delete().where(C.id.in_(ids)))
    return len(ids)


def replay(session: Session, call_ids: list[int]) -> list[int]:
    """An admin's replay: failed calls back to pending, due now, their attempts counted afresh; returns the ids
    it moved and queues them once the transaction commits. One conditional UPDATE moves failed calls only, so a
    call in flight or delivered never goes again and two replays of the same calls send each once. A replayed
    call keeps its SID, so the receiver sees the same I-Twilio-Idempotency-Token as in its first attempts.

    Order: a replayed call is older than the calls of its line that went out after it failed. It goes at once
    (nothing earlier in its line is unfinished) and does not wait for a later call already in flight; the later
    calls still pending wait behind it, as behind any earlier call, until it is delivered or fails again. Then
    the worker hands the line on (`next_in_line`), and the sweeper stands in for a lost task: a replay holds its
    line for one call's attempts at most, never for good."""
    now = utcnow()
    moved = list(
        session.scalars(
            update(_CALLS)
            .where(C.id.in_(call_ids), C.status == FAILED)
            .values(
                status=PENDING,
                attempts=0,
                next_attempt_at=now,
                lease_until=None,
                swept_at=None,
                http_status=None,
                error=None,
                date_updated=now,
            )
            .returning(C.id)
        )
    )
    db.dispatch_after_commit(session, SEND_WEBHOOK, moved)
    return moved
