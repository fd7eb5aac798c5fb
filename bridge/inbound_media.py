"""Media a carrier reported on an inbound message: recorded as pending with the message, fetched by a worker
with the carrier's credentials, stored by the bridge, and only then relayed (deliveries of the message wait
for it), so recipients get the bridge's URL and never the carrier's."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge import delivery
from bridge.models import Delivery, Media
from bridge.timeutil import utcnow

PENDING, READY, FAILED = "pending", "ready", "failed"
MAX_FETCH_ATTEMPTS = 5


def release_deliveries(session: Session, message_id: int | None) -> None:
    """The message's media is settled (stored or given up on): its deliveries may go now."""
    if message_id is None:
        return
    waiting = session.scalars(
        select(Delivery.id).where(Delivery.message_id == message_id, Delivery.status == delivery.PENDING)
    ).all()
    delivery.dispatch_after_commit(session, list(waiting))


def stale_pending(session: Session, overdue_by: float, limit: int = 500) -> list[int]:
    """Pending media whose fetch task should have finished by now (lost with Redis, or its worker died)."""
    cutoff = utcnow() - timedelta(seconds=overdue_by)
    return list(
        session.scalars(
            select(Media.id)
            .where(Media.status == PENDING, Media.date_updated <= cutoff)
            .order_by(Media.id)
            .limit(limit)
        )
    )
