"""Enqueueing after a commit: one task per (task, row id). Best effort; the sweeper is the safety net."""

from __future__ import annotations

import redis

from workers import coordination

# While a planner task is queued and not yet started, another is not needed: it will take every unplanned event.
PLANNER_QUEUED_KEY = "bridge:webhook-planner-queued"
PLANNER_QUEUED_SECONDS = 5  # if the queued planner was lost, the next transaction asks again after this
PUSH_BATCH = 25  # pushes per task (each is one request to FCM or APNs)


def planner_wanted() -> bool:
    """Whether to queue a planner now: no, while one is already queued (events wait for it a moment at most)."""
    try:
        return bool(coordination.shared().set(PLANNER_QUEUED_KEY, "1", nx=True, ex=PLANNER_QUEUED_SECONDS))
    except redis.RedisError:
        return True  # cannot tell: one planner too many costs little


def enqueue(work: list[tuple[str, int]]) -> None:
    from workers.celery_app import app
    from workers.tasks import (
        ask_pre_event,
        deliver,
        deliver_batch,
        fetch_media,
        plan_webhooks,
        send_pushes,
        send_webhook,
    )

    deliveries = [row_id for task, row_id in work if task == "deliver"]
    media = [row_id for task, row_id in work if task == "fetch_media"]
    calls = [row_id for task, row_id in work if task == "send_webhook"]
    held = [row_id for task, row_id in work if task == "ask_pre_event"]
    pushes = [row_id for task, row_id in work if task == "send_push"]
    # One producer (one broker connection) for everything, one task for a transaction's deliveries, and one
    # planner however many events the transaction wrote (a planner takes every unplanned event).
    with app.producer_or_acquire() as producer:
        for row_id in media:
            fetch_media.apply_async(args=[row_id], producer=producer)
        if any(task == "plan_webhooks" for task, _ in work) and planner_wanted():
            plan_webhooks.apply_async(producer=producer)
        for row_id in calls:
            send_webhook.apply_async(args=[row_id], producer=producer)
        for row_id in held:
            ask_pre_event.apply_async(args=[row_id], producer=producer)
        # A planning batch's pushes in tasks of PUSH_BATCH: a large group's fan-out is shared by the worker's threads.
        for start in range(0, len(pushes), PUSH_BATCH):
            send_pushes.apply_async(args=[pushes[start : start + PUSH_BATCH]], producer=producer)
        if len(deliveries) == 1:
            deliver.apply_async(args=deliveries, producer=producer)
        elif deliveries:
            deliver_batch.apply_async(args=[deliveries], producer=producer)
