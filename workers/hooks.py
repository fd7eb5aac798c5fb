"""Post-event webhooks in the workers: plan calls from the event log, send them line by line, record each
attempt. No transaction is open while a receiver is being called.

These tasks run on their own queue (`hooks`) and, deployed, in their own worker process, so a slow or dead
receiver takes threads from no delivery.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from bridge import metrics
from bridge.delivery import backoff_seconds
from bridge.errors import BridgeError
from bridge.hooks import held, http, outbox, pre
from bridge.timeutil import utcnow
from workers.context import WorkerContext, durably

log = logging.getLogger(__name__)

DRAIN_LIMIT = 25  # calls of one line per task, then the rest goes back to the queue
PLAN_BATCHES = 20  # planning batches per task; a deeper backlog is left to the next task or the sweeper


def run_plan(ctx: WorkerContext) -> int:
    """Plans what the log holds for webhooks; returns how many events it planned."""
    planned = 0
    for _ in range(PLAN_BATCHES):
        with ctx.database.transaction() as session:
            count = outbox.plan(session)
        planned += count
        if count == 0:
            break
    return planned


@dataclass(frozen=True)
class CallOutcome:
    next_call_id: int | None = None
    retry_in_seconds: float | None = None
    retry_call_id: int | None = None


def run_call(ctx: WorkerContext, call_id: int) -> CallOutcome:
    """Sends `call_id` and then, while they are due, its line's next calls."""
    current: int | None = call_id
    for _ in range(DRAIN_LIMIT):
        if current is None:
            return CallOutcome()
        outcome = send_one(ctx, current)
        if outcome.retry_in_seconds is not None:
            return outcome
        current = outcome.next_call_id
    return CallOutcome(next_call_id=current)


def send_one(ctx: WorkerContext, call_id: int) -> CallOutcome:
    settings = ctx.settings
    with ctx.database.transaction() as session:
        job = outbox.claim(session, call_id, settings.delivery_lease_seconds, settings.webhook_max_attempts)
    if job is None:
        return CallOutcome()  # done, in flight elsewhere, not due, or waiting its turn
    fields = {"AccountSid": settings.account_sid, **job.payload, "RetryCount": str(job.attempt - 1)}
    started = utcnow()
    reply = http.call(
        job.url,
        job.method,
        fields,
        auth_token=settings.auth_token,
        idempotency_token=job.sid,
        timeout=settings.webhook_timeout,
    )
    answer = outbox.Answer(reply.status, reply.duration_ms, reply.error or _refusal(reply.status))
    retry_at, delay = None, None
    if not answer.delivered and answer.retryable and job.attempt < job.max_attempts:
        delay = backoff_seconds(job.attempt, settings.retry_base_seconds, settings.retry_max_seconds)
        retry_at = utcnow() + timedelta(seconds=delay)
    what = f"webhook {job.sid}"
    status = durably(ctx, lambda session: outbox.record_answer(session, job, started, answer, retry_at), what)
    metrics.conversation_webhook_attempt(job.event_type, status, (utcnow() - job.event_at).total_seconds())
    if status == outbox.PENDING:
        log.info("webhook %s: %s, retry %d in %.1fs", job.sid, answer.error, job.attempt, delay)
        return CallOutcome(retry_in_seconds=delay, retry_call_id=job.call_id)
    if status == outbox.FAILED:
        log.warning("webhook %s failed after %d attempt(s): %s", job.sid, job.attempt, answer.error)
    following = durably(ctx, lambda session: outbox.next_in_line(session, job.line, job.call_id), what)
    return CallOutcome(next_call_id=following)


def _refusal(status: int | None) -> str | None:
    if status is None or 200 <= status < 300:
        return None
    return f"HTTP {status}"


def run_held(ctx: WorkerContext, row_id: int) -> int | None:
    """Asks the pre-event webhook about one held inbound message and adds it (or keeps it rejected); returns
    the same sender's next held message, now that this one is out of the way."""
    settings = ctx.settings
    with ctx.database.transaction() as session:
        message = held.claim(session, row_id)
        if message is None:
            return None  # done, being asked about elsewhere, or waiting behind an earlier one
        pre_event = held.pre_event_for(session, message)
    verdict = pre.PROCEED
    if pre_event is not None:
        verdict = pre.ask(pre_event, settings)
    what = f"held inbound message {row_id}"
    try:
        status = durably(ctx, lambda session: held.finish(session, row_id, message, verdict), what)
    except BridgeError as error:
        # The answer's replacement values are invalid (there is no caller to tell): the message goes in unchanged.
        log.warning("%s: the pre-event webhook's changes were refused (%s); adding it unchanged", what, error.message)
        status = durably(ctx, lambda session: held.finish(session, row_id, message, pre.PROCEED), what)
    log.info("%s: %s", what, status)
    return durably(ctx, lambda session: held.next_held(session, row_id), what)


def sweep(ctx: WorkerContext) -> tuple[list[int], bool]:
    """Calls to enqueue again (lease passed, or due and never run), and whether a planner should start."""
    grace = ctx.settings.sweep_grace_seconds
    with ctx.database.transaction() as session:
        released = outbox.release_expired_leases(session)
    with ctx.database.transaction() as session:
        due = outbox.due_heads(session, overdue_by=grace)
    with ctx.database.transaction() as session:
        unplanned = outbox.has_unplanned(session, older_than=grace)
    return sorted(set(released) | set(due)), unplanned


def sweep_held(ctx: WorkerContext) -> list[int]:
    """Held inbound messages to ask about again (their task was lost, or their worker died asking)."""
    with ctx.database.transaction() as session:
        return held.release_stale(
            session, older_than=max(ctx.settings.sweep_grace_seconds, 2 * ctx.settings.webhook_timeout)
        )
