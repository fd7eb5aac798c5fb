"""The delivery queue per sender, read from the database when metrics are scraped: how many deliveries wait for the
carrier (pending or sending) behind each sender (the recipients' proxy address), and since when the oldest of
them waits. Nothing is kept in a process's memory: the ledger is the truth, whichever process is asked.

One aggregate query: the `(status, next_attempt_at)` index finds the unfinished deliveries, each one's
participant is read by primary key for its proxy address, and the rows are grouped by it. It returns at most one
row per sender number of the pools (a proxy address must be one of them), so it is bounded by configuration, not
by traffic; its cost grows with the backlog itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from bridge.delivery import UNFINISHED
from bridge.models import Delivery, Participant

OTHER = "other"  # the senders beyond the deepest `top`, summed

_D, _P = Delivery.__table__.c, Participant.__table__.c


@dataclass(frozen=True)
class SenderQueue:
    sender: str
    depth: int
    oldest: datetime  # when the oldest unfinished delivery behind this sender was created


@dataclass(frozen=True)
class QueueLine:
    sender: str
    depth: int
    oldest_age_seconds: float


def statement() -> Select[tuple[str | None, int, datetime]]:
    return (
        select(_P.proxy_address, func.count(), func.min(_D.date_created))
        .select_from(Delivery.__table__)
        .join(Participant.__table__, _P.id == _D.participant_id)
        .where(_D.status.in_(UNFINISHED))
        .group_by(_P.proxy_address)
    )


def queues(session: Session) -> list[SenderQueue]:
    """Every sender with unfinished deliveries behind it."""
    return [SenderQueue(sender or "", depth, oldest) for sender, depth, oldest in session.execute(statement())]


def by_sender(found: list[SenderQueue], now: datetime, top: int) -> list[QueueLine]:
    """The `top` deepest queues by sender, then `other`: the rest summed, with the oldest wait among them. `other`
    is always there (zero when nothing is left over), so a sum over senders is never empty."""
    deepest = sorted(found, key=lambda queue: (-queue.depth, queue.sender))
    kept, rest = deepest[:top], deepest[top:]
    lines = [QueueLine(q.sender, q.depth, _age(now, q.oldest)) for q in kept]
    oldest_rest = max((_age(now, q.oldest) for q in rest), default=0.0)
    return [*lines, QueueLine(OTHER, sum(q.depth for q in rest), oldest_rest)]


def _age(now: datetime, then: datetime) -> float:
    return max(0.0, (now - then).total_seconds())
