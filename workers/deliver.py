"""Sending one delivery: claim it, render it, call the carrier, record the outcome. No transaction is open
while the carrier is being called."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from bridge import delivery, translate
from bridge.carriers.base import CarrierError
from bridge.timeutil import utcnow
from workers.context import WorkerContext

log = logging.getLogger(__name__)

INTERNAL_ERROR = 20500


@dataclass(frozen=True)
class Outcome:
    """What the task should enqueue next: the recipient's next delivery, or this one again after a delay."""

    next_delivery_id: int | None = None
    retry_in_seconds: float | None = None


def status_callback_url(public_base_url: str, delivery_sid: str) -> str:
    return f"{public_base_url}/webhooks/twilio/status/{delivery_sid}"


def run_delivery(ctx: WorkerContext, delivery_id: int) -> Outcome:
    settings = ctx.settings
    with ctx.database.transaction() as session:
        job = delivery.claim(session, delivery_id, settings.delivery_lease_seconds)
    if job is None:
        return Outcome()  # already done, in flight elsewhere, not due, or behind an earlier one
    sends = translate.render(job, status_callback_url(settings.public_base_url, job.delivery_sid))
    started = utcnow()
    clock = time.monotonic()
    try:
        results = [ctx.carrier.send(outbound) for outbound in sends]
    except CarrierError as error:
        return _failed(ctx, job, error, started, clock)
    except Exception as error:  # a bug must not strand the row in `sending`: retry it, visibly
        log.exception("delivery %s: unexpected error while sending", job.delivery_sid)
        wrapped = CarrierError(INTERNAL_ERROR, f"internal error: {type(error).__name__}", retryable=True)
        return _failed(ctx, job, wrapped, started, clock)
    carrier_sid = results[0].carrier_message_sid
    with ctx.database.transaction() as session:
        delivery.record_attempt(
            session, job, started, _elapsed_ms(clock), http_status=201, carrier_message_sid=carrier_sid
        )
        delivery.record_sent(session, job, carrier_sid)
    log.info("delivery %s sent as %s (attempt %d)", job.delivery_sid, carrier_sid, job.attempt)
    return Outcome(next_delivery_id=_next(ctx, job))


def _failed(
    ctx: WorkerContext, job: delivery.DeliveryJob, error: CarrierError, started: datetime, clock: float
) -> Outcome:
    settings = ctx.settings
    retry = error.retryable and job.attempt < settings.delivery_max_attempts
    delay = None
    if retry:
        delay = delivery.backoff_seconds(
            job.attempt, settings.retry_base_seconds, settings.retry_max_seconds, error.retry_after
        )
    with ctx.database.transaction() as session:
        delivery.record_attempt(
            session,
            job,
            started,
            _elapsed_ms(clock),
            http_status=error.http_status,
            error_code=error.code,
            error_message=error.message,
            will_retry=retry,
        )
        if delay is not None:
            delivery.record_retry(session, job, error.code, error.message, utcnow() + timedelta(seconds=delay))
        else:
            delivery.record_failure(session, job, error.code, error.message)
    if delay is not None:
        log.info("delivery %s: error %s, retry %d in %.1fs", job.delivery_sid, error.code, job.attempt, delay)
        return Outcome(retry_in_seconds=delay)  # the recipient's line waits for this one
    log.info("delivery %s failed with %s after %d attempt(s)", job.delivery_sid, error.code, job.attempt)
    return Outcome(next_delivery_id=_next(ctx, job))


def _next(ctx: WorkerContext, job: delivery.DeliveryJob) -> int | None:
    with ctx.database.transaction() as session:
        return delivery.next_in_line(session, job.participant_id, job.delivery_id)


def _elapsed_ms(clock: float) -> int:
    return int((time.monotonic() - clock) * 1000)
