"""Sending deliveries: claim, check the send-time rules, render for the recipient's channel, call the carrier
once per send, record the outcome. Short transactions per delivery (claim+render, the outcome, then a read of
the recipient's next one); none is open while the carrier is being called.

A task drains its recipient's line: after one delivery it goes on with that recipient's next one (up to
`DRAIN_LIMIT`), which keeps their order and saves a round trip through the broker per message. A message's
recipients (one batch task) are sent to at the same time, on the process's send pool (BRIDGE_SEND_CONCURRENCY).

Metrics (bridge/metrics.py): each carrier call is timed, and each outcome is counted once it is committed.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy.orm import Session

from bridge import delivery, logcontext, metrics, opt_outs, translate
from bridge.carriers.base import OPTED_OUT, CarrierError, OutboundMessage
from bridge.config import Settings
from bridge.delivery_job import DeliveryJob
from bridge.media import public_url
from bridge.timeutil import utcnow
from workers.context import WorkerContext, durably

log = logging.getLogger(__name__)
T = TypeVar("T")

INTERNAL_ERROR = 20500
OPTED_OUT_MESSAGE = "The recipient has opted out of messages from this sender (they replied STOP)"
DRAIN_LIMIT = 25  # then the rest of the line goes back to the queue, so one busy recipient cannot hog a thread


@dataclass(frozen=True)
class Outcome:
    """What the task should enqueue next: the recipient's next delivery, or this one again after a delay."""

    next_delivery_id: int | None = None
    retry_in_seconds: float | None = None
    retry_delivery_id: int | None = None


def status_callback_url(public_base_url: str, delivery_sid: str) -> str:
    return f"{public_base_url}/webhooks/twilio/status/{delivery_sid}"


def render_request(job: DeliveryJob, public_base_url: str) -> translate.RenderRequest:
    return translate.RenderRequest(
        reference=job.delivery_sid,
        channel=job.channel,
        address=job.address,
        proxy_address=job.proxy_address,
        status_callback=status_callback_url(public_base_url, job.delivery_sid),
        body=job.body,
        media=job.media,
        content_sid=job.content_sid,
        content_variables=job.content_variables,
        author_name=job.author_name,
        smart_encoding=job.smart_encoding,
        window_open=job.window_open,
    )


def run_delivery(ctx: WorkerContext, delivery_id: int) -> Outcome:
    """Delivers `delivery_id` and then, while they are due, the same recipient's next ones."""
    current: int | None = delivery_id
    for _ in range(DRAIN_LIMIT):
        if current is None:
            return Outcome()
        outcome = deliver_one(ctx, current)
        if outcome.retry_in_seconds is not None:
            return outcome
        current = outcome.next_delivery_id
    return Outcome(next_delivery_id=current)


@dataclass
class BatchOutcome:
    next_delivery_ids: list[int]
    retries: list[tuple[int, float]]  # (delivery id, seconds to wait)


def run_batch(ctx: WorkerContext, delivery_ids: list[int]) -> BatchOutcome:
    """The deliveries one transaction created (one per recipient of a message), sent at the same time on the
    process's send pool: each is a different recipient, so no recipient's order depends on another's, and one
    message to 50 SMS participants waits for the slowest carrier call, not for the sum of 50. What follows each
    (its recipient's next delivery, or its own retry) is handed back to be queued together."""
    if len(delivery_ids) == 1:
        outcomes: list[Outcome | None] = [deliver_one(ctx, delivery_ids[0])]
    else:
        futures = [ctx.send_pool.submit(deliver_one, ctx, delivery_id) for delivery_id in delivery_ids]
        outcomes = [_outcome_of(future, delivery_id) for future, delivery_id in zip(futures, delivery_ids, strict=True)]
    following: list[int] = []
    retries: list[tuple[int, float]] = []
    for outcome in outcomes:
        if outcome is None:
            continue
        if outcome.next_delivery_id is not None:
            following.append(outcome.next_delivery_id)
        if outcome.retry_in_seconds is not None and outcome.retry_delivery_id is not None:
            retries.append((outcome.retry_delivery_id, outcome.retry_in_seconds))
    return BatchOutcome(following, retries)


def _outcome_of(future: Future[Outcome], delivery_id: int) -> Outcome | None:
    """One send's outcome. A send that raised (the database gone mid-claim, say) leaves its row as a crashed task
    would: claimed until the lease runs out, then the sweeper's; the others' follow-ups are still queued."""
    try:
        return future.result()
    except Exception:
        log.exception("delivery %s: the send raised; the sweeper will take it up again", delivery_id)
        return None


def deliver_one(ctx: WorkerContext, delivery_id: int) -> Outcome:
    with ctx.database.transaction() as session:
        job = delivery.claim(session, delivery_id, ctx.settings.delivery_lease_seconds)
        if job is None:
            return Outcome()  # already done, in flight elsewhere, not due, or waiting its turn
        with logcontext.bound(**_log_fields(job)):
            sends = _render_or_block(session, job, ctx.settings)
    with logcontext.bound(**_log_fields(job)):
        if isinstance(sends, int):
            metrics.delivery_reached(delivery.FAILED, job.channel, sends)
            return Outcome(next_delivery_id=_next_in_line(ctx, job))
        return _send(ctx, job, sends)


def _log_fields(job: DeliveryJob) -> dict[str, str | None]:
    return {"delivery_sid": job.delivery_sid, "message_sid": job.message_sid, "conversation_sid": job.conversation_sid}


def _render_or_block(session: Session, job: DeliveryJob, settings: Settings) -> list[OutboundMessage] | int:
    """The sends for the recipient's channel, or the code of the send-time rule that forbids them (recorded as
    failed)."""
    if job.opted_out:
        _block(session, job, OPTED_OUT, OPTED_OUT_MESSAGE)
        return OPTED_OUT
    rendering = translate.render(render_request(job, settings.public_base_url), lambda sid: public_url(settings, sid))
    if rendering.blocked is not None:
        _block(session, job, *rendering.blocked)
        return rendering.blocked[0]
    delivery.record_rendering(session, job, rendering.encoding, rendering.segments, len(rendering.sends))
    return rendering.sends


def _send(ctx: WorkerContext, job: DeliveryJob, sends: list[OutboundMessage]) -> Outcome:
    """Each send in order. Sends a previous attempt already got accepted are skipped, so a retry after a
    failure halfway through a long text does not repeat its first part. When an earlier attempt's answer was
    lost, the carrier is asked first whether it took the send in doubt."""
    for number, outbound in enumerate(sends):
        if number < job.sends_done:
            continue
        started, clock = utcnow(), time.monotonic()
        found = None
        if number == job.sends_done and job.unsure_since is not None:
            try:
                found = _look_up(ctx, job, outbound)
            except CarrierError as error:
                if error.retryable:  # ask again later; nothing is sent blindly meanwhile
                    return _failed(ctx, job, error, started, clock, unsure_since=job.unsure_since)
                # The carrier will not answer lookups (say, an API key without read access): send, at least once.
                log.warning("delivery %s: the carrier refused a lookup (%s); sending", job.delivery_sid, error.code)
        try:
            carrier_message_sid = found or _timed(metrics.SEND, ctx.carrier.send, outbound).carrier_message_sid
        except CarrierError as error:
            return _failed(ctx, job, error, started, clock, unsure_since=started if error.maybe_accepted else None)
        except Exception as error:  # a bug must not strand the row in `sending`: retry it, visibly
            log.exception("delivery %s: unexpected error while sending", job.delivery_sid)
            wrapped = CarrierError(INTERNAL_ERROR, f"internal error: {type(error).__name__}", retryable=True)
            return _failed(ctx, job, wrapped, started, clock, unsure_since=started)
        if found is not None:
            log.info("delivery %s: the carrier had accepted it (%s); not sent again", job.delivery_sid, found)
        record = functools.partial(
            _record_sent,
            job=job,
            started=started,
            elapsed_ms=_elapsed_ms(clock),
            carrier_message_sid=carrier_message_sid,
            last=number == len(sends) - 1,
            found=found is not None,
        )
        _durably(ctx, record, job)
    metrics.delivery_reached(delivery.SENT, job.channel)
    log.info("delivery %s sent in %d send(s) (attempt %d)", job.delivery_sid, len(sends), job.attempt)
    return Outcome(next_delivery_id=_next_in_line(ctx, job))


def _timed(operation: str, call: Callable[..., T], *args: object) -> T:
    """One carrier API call, observed in bridge_carrier_request_duration_seconds with its outcome."""
    clock = time.monotonic()
    try:
        result = call(*args)
    except Exception as error:
        metrics.carrier_request(operation, time.monotonic() - clock, error)
        raise
    metrics.carrier_request(operation, time.monotonic() - clock)
    return result


def _look_up(ctx: WorkerContext, job: DeliveryJob, outbound: OutboundMessage) -> str | None:
    assert job.unsure_since is not None
    try:
        return _timed(metrics.LOOKUP, ctx.carrier.find_accepted, outbound, job.unsure_since, job.known_carrier_sids)
    except CarrierError:
        raise
    except Exception as error:  # an answer the adapter could not read: ask again later, visibly
        log.exception("delivery %s: unexpected error while looking up an earlier send", job.delivery_sid)
        raise CarrierError(INTERNAL_ERROR, f"internal error: {type(error).__name__}", retryable=True) from None


FOUND_AT_CARRIER = "Not sent again: the carrier had accepted an earlier attempt whose answer was lost"


def _record_sent(
    session: Session,
    *,
    job: DeliveryJob,
    started: datetime,
    elapsed_ms: int,
    carrier_message_sid: str,
    last: bool,
    found: bool = False,
) -> None:
    delivery.record_attempt(
        session,
        job,
        started,
        elapsed_ms,
        http_status=200 if found else 201,
        carrier_message_sid=carrier_message_sid,
        error_message=FOUND_AT_CARRIER if found else None,
    )
    delivery.record_part_sent(session, job, carrier_message_sid, last=last)


def _block(session: Session, job: DeliveryJob, code: int, message: str) -> None:
    """A send-time rule forbids this send: it fails at once, with no carrier call (same transaction as the claim)."""
    delivery.record_attempt(session, job, utcnow(), 0, error_code=code, error_message=message)
    delivery.record_failure(session, job, code, message)
    log.info("delivery %s blocked before the carrier: %s", job.delivery_sid, code)


def _next_in_line(ctx: WorkerContext, job: DeliveryJob) -> int | None:
    """The recipient's next delivery, read after this one's outcome is committed, never inside that transaction.

    The next one's own task may have tried to claim it while this one was unfinished, and given up waiting its
    turn. Its row was committed before that claim, so a read that starts after this commit sees it; a read inside
    the transaction might not (PostgreSQL's statements see what was committed when they started), and the line
    would stall until the sweeper."""
    return _durably(ctx, lambda session: delivery.next_in_line(session, job.participant_id, job.delivery_id), job)


def _failed(
    ctx: WorkerContext,
    job: DeliveryJob,
    error: CarrierError,
    started: datetime,
    clock: float,
    unsure_since: datetime | None = None,
) -> Outcome:
    """Records a failed attempt: retried later or final. `unsure_since`: the send may sit at the carrier all the
    same, so the next attempt (or an admin's replay) looks it up first."""
    settings = ctx.settings
    retry = error.retryable and job.attempt < settings.delivery_max_attempts
    delay = None
    if retry:
        delay = delivery.backoff_seconds(
            job.attempt, settings.retry_base_seconds, settings.retry_max_seconds, error.retry_after
        )
    elapsed = _elapsed_ms(clock)

    def record(session: Session) -> None:
        delivery.record_attempt(
            session,
            job,
            started,
            elapsed,
            http_status=error.http_status,
            error_code=error.code,
            error_message=error.message,
            will_retry=retry,
        )
        if error.code == OPTED_OUT:  # the carrier knows of an opt-out the bridge did not: remember it
            opt_outs.record_opt_out(session, job.address, job.proxy_address, opt_outs.CARRIER_REPORTED)
        if delay is not None:
            next_attempt = utcnow() + timedelta(seconds=delay)
            delivery.record_retry(session, job, error.code, error.message, next_attempt, unsure_since)
        else:
            delivery.record_failure(session, job, error.code, error.message, unsure_since)

    _durably(ctx, record, job)
    if delay is not None:
        log.info("delivery %s: error %s, retry %d in %.1fs", job.delivery_sid, error.code, job.attempt, delay)
        # The recipient's line waits for this one.
        return Outcome(retry_in_seconds=delay, retry_delivery_id=job.delivery_id)
    metrics.delivery_reached(delivery.FAILED, job.channel, error.code)
    log.info("delivery %s failed with %s after %d attempt(s)", job.delivery_sid, error.code, job.attempt)
    return Outcome(next_delivery_id=_next_in_line(ctx, job))


def _durably(ctx: WorkerContext, work: Callable[[Session], T], job: DeliveryJob) -> T:
    return durably(ctx, work, f"delivery {job.delivery_sid}")


def _elapsed_ms(clock: float) -> int:
    return int((time.monotonic() - clock) * 1000)
