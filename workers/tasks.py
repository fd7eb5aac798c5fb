"""Celery tasks. Each takes ids only, is idempotent, and leaves the truth in the database."""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta

import redis

from bridge import delivery, events, inbound_media, timers
from bridge.chat import client_api
from bridge.hooks import outbox
from bridge.push import outbox as push_outbox
from workers import coordination, hooks, push
from workers.celery_app import app
from workers.context import context
from workers.deliver import run_batch, run_delivery
from workers.dispatch import PLANNER_QUEUED_KEY, PUSH_BATCH
from workers.media_fetch import run_media_fetch

log = logging.getLogger(__name__)

# Broker countdowns stay short (well under Redis's visibility timeout); longer waits are left to the sweeper,
# which finds the row by its next_attempt_at.
MAX_COUNTDOWN_SECONDS = 60.0


@app.task(name="bridge.deliver", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver(delivery_id: int) -> None:
    outcome = run_delivery(context(), delivery_id)
    if outcome.next_delivery_id is not None:
        deliver.apply_async(args=[outcome.next_delivery_id])
    if outcome.retry_in_seconds is not None and outcome.retry_in_seconds <= MAX_COUNTDOWN_SECONDS:
        deliver.apply_async(args=[outcome.retry_delivery_id], countdown=outcome.retry_in_seconds)


@app.task(name="bridge.deliver_batch", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver_batch(delivery_ids: list[int]) -> None:
    """A message's deliveries in one task: one broker round trip per message instead of one per recipient."""
    outcome = run_batch(context(), delivery_ids)
    if len(outcome.next_delivery_ids) == 1:
        deliver.apply_async(args=[outcome.next_delivery_ids[0]])
    elif outcome.next_delivery_ids:
        deliver_batch.apply_async(args=[outcome.next_delivery_ids])
    for delivery_id, delay in outcome.retries:
        if delay <= MAX_COUNTDOWN_SECONDS:
            deliver.apply_async(args=[delivery_id], countdown=delay)


@app.task(name="bridge.fetch_media", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def fetch_media(media_id: int) -> None:
    outcome = run_media_fetch(context(), media_id)
    if outcome.retry_in_seconds is not None and outcome.retry_in_seconds <= MAX_COUNTDOWN_SECONDS:
        fetch_media.apply_async(args=[media_id], countdown=outcome.retry_in_seconds)


@app.task(name="bridge.sweep", ignore_result=True)
def sweep() -> None:
    """Re-enqueues what Redis lost: deliveries past their lease, and due deliveries whose task never ran."""
    ctx = context()
    with ctx.database.transaction() as session:
        released = delivery.release_expired_leases(session)
    with ctx.database.transaction() as session:
        due = delivery.due_heads(session, overdue_by=ctx.settings.sweep_grace_seconds)
    with ctx.database.transaction() as session:
        stale_media = inbound_media.stale_pending(session, overdue_by=max(ctx.settings.sweep_grace_seconds, 30.0))
    for media_id in stale_media:
        fetch_media.apply_async(args=[media_id])
    again = sorted(set(released) | set(due))
    for delivery_id in again:
        deliver.apply_async(args=[delivery_id])
    if again:
        log.info("sweeper re-enqueued %d deliveries (%d past their lease)", len(again), len(released))


@app.task(name="bridge.expire_timers", ignore_result=True)
def expire_timers() -> None:
    with context().database.transaction() as session:
        timers.expire_timers(session)


@app.task(name="bridge.plan_webhooks", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def plan_webhooks() -> None:
    """Plans post-event webhook calls from the events the log holds for them (the task carries no ids: any
    planner takes whatever is unplanned, in log order)."""
    with contextlib.suppress(redis.RedisError):
        coordination.shared().delete(PLANNER_QUEUED_KEY)  # from now on, a new event queues another planner
    hooks.run_plan(context())


@app.task(name="bridge.send_webhook", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def send_webhook(call_id: int) -> None:
    outcome = hooks.run_call(context(), call_id)
    if outcome.next_call_id is not None:
        send_webhook.apply_async(args=[outcome.next_call_id])
    if outcome.retry_in_seconds is not None and outcome.retry_in_seconds <= MAX_COUNTDOWN_SECONDS:
        send_webhook.apply_async(args=[outcome.retry_call_id], countdown=outcome.retry_in_seconds)


@app.task(name="bridge.ask_pre_event", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def ask_pre_event(row_id: int) -> None:
    """An inbound message held for the application's pre-event webhook: ask, then add it or keep it rejected."""
    following = hooks.run_held(context(), row_id)
    if following is not None:
        ask_pre_event.apply_async(args=[following])


@app.task(name="bridge.sweep_webhooks", ignore_result=True)
def sweep_webhooks() -> None:
    """Re-enqueues webhook calls and held messages Redis lost or whose worker died, and starts a planner if
    one was lost."""
    ctx = context()
    again, unplanned = hooks.sweep(ctx)
    if unplanned:
        plan_webhooks.apply_async()
    for call_id in again:
        send_webhook.apply_async(args=[call_id])
    for row_id in hooks.sweep_held(ctx):
        ask_pre_event.apply_async(args=[row_id])
    if again:
        log.info("sweeper re-enqueued %d webhook calls", len(again))


@app.task(name="bridge.send_pushes", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def send_pushes(send_ids: list[int]) -> None:
    """An event's pushes (or a sweep's) in one task; each retry goes again on its own."""
    for send_id, delay in push.run_pushes(context(), send_ids):
        if delay <= MAX_COUNTDOWN_SECONDS:
            send_pushes.apply_async(args=[[send_id]], countdown=delay)


@app.task(name="bridge.sweep_pushes", ignore_result=True)
def sweep_pushes() -> None:
    """Re-enqueues pushes Redis lost, whose retry wait outlasted a countdown, or whose worker died."""
    again = push.sweep(context())
    for start in range(0, len(again), PUSH_BATCH):
        send_pushes.apply_async(args=[again[start : start + PUSH_BATCH]])
    if again:
        log.info("sweeper re-enqueued %d pushes", len(again))


@app.task(name="bridge.prune_events", ignore_result=True)
def prune_events() -> None:
    """Keeps the event log and the delivered webhook calls to BRIDGE_EVENT_RETENTION_DAYS."""
    ctx = context()
    retention = timedelta(days=ctx.settings.event_retention_days)
    with ctx.database.transaction() as session:
        pruned = events.prune(session, retention)
    with ctx.database.transaction() as session:
        pruned_calls = outbox.prune(session, retention)
    with ctx.database.transaction() as session:
        client_api.prune_mutations(session, retention)
    with ctx.database.transaction() as session:
        pruned_pushes = push_outbox.prune(session, retention)
    if pruned or pruned_calls or pruned_pushes:
        log.info(
            "pruned %d events, %d delivered webhook calls and %d finished pushes", pruned, pruned_calls, pruned_pushes
        )
