"""Enqueueing: after a commit, one `deliver` task per delivery id. Best effort; the sweeper is the safety net."""

from __future__ import annotations


def enqueue_deliveries(delivery_ids: list[int]) -> None:
    from workers.tasks import deliver

    for delivery_id in delivery_ids:
        deliver.apply_async(args=[delivery_id])
