"""Enqueueing after a commit: one task per (task, row id). Best effort; the sweeper is the safety net."""

from __future__ import annotations


def enqueue(work: list[tuple[str, int]]) -> None:
    from workers.celery_app import app
    from workers.tasks import deliver, deliver_batch, fetch_media

    deliveries = [row_id for task, row_id in work if task == "deliver"]
    media = [row_id for task, row_id in work if task == "fetch_media"]
    # One producer (one broker connection) for everything, and one task for a transaction's deliveries.
    with app.producer_or_acquire() as producer:
        for row_id in media:
            fetch_media.apply_async(args=[row_id], producer=producer)
        if len(deliveries) == 1:
            deliver.apply_async(args=deliveries, producer=producer)
        elif deliveries:
            deliver_batch.apply_async(args=[deliveries], producer=producer)
