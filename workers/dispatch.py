"""Enqueueing after a commit: one task per (task, row id). Best effort; the sweeper is the safety net."""

from __future__ import annotations


def enqueue(work: list[tuple[str, int]]) -> None:
    from workers.celery_app import app
    from workers.tasks import deliver, fetch_media

    tasks = {"deliver": deliver, "fetch_media": fetch_media}
    # One producer (one broker connection) for the whole batch, instead of one checkout per task.
    with app.producer_or_acquire() as producer:
        for task, row_id in work:
            tasks[task].apply_async(args=[row_id], producer=producer)
