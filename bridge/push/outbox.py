"""The push outbox (`PushSend` rows): claimed by a worker, sent, retried, recorded, swept and replayed.

    pending -> sending -> sent
                  |  \\-> pending (retry later: no answer, 429, 5xx)
                  |  \\-> skipped (the user had a chat socket open: the socket delivers it)
                  \\---> failed (any other answer, or out of attempts; an admin may replay it)
                   \\--> unregistered (the platform says the token is dead; the binding is deleted)

Pushes have no order to keep (a device shows each as it comes), so any due row can be claimed; the claim is a
conditional UPDATE, so a task Redis delivers twice sends once. No transaction is open while FCM or APNs is
being called.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from bridge import db
from bridge.models import PushBinding, PushCredential, PushSend, User
from bridge.timeutil import utcnow

PENDING, SENDING, SENT, SKIPPED, FAILED, UNREGISTERED = (
    "pending",
    "sending",
    "sent",
    "skipped",
    "failed",
    "unregistered",
)
STATUSES = (PENDING, SENDING, SENT, SKIPPED, FAILED, UNREGISTERED)
REPLAYABLE = (FAILED,)

SEND_PUSH = "send_push"  # the task that sends claimed pushes

_SENDS = PushSend.__table__
S = _SENDS.c


@dataclass(frozen=True)
class PushJob:
    """What a worker needs to send one claimed push: the row, its device and the credential that signs for it."""

    send_id: int
    sid: str
    service_id: int
    identity: str
    user_sid: str | None  # for the presence check (None: no such user, so no socket either)
    message_type: str
    payload: dict[str, Any]
    attempt: int
    binding_type: str | None  # None: the binding was deleted after planning
    token: str | None
    credential: PushCredential | None


@dataclass(frozen=True)
class Result:
    """What one push attempt came to, as the platform's sender reports it."""

    outcome: str  # sent | retry | failed | unregistered
    http_status: int | None = None
    error: str | None = None  # the platform's reason, or what went wrong on the way
    retry_after: float | None = None  # the platform's Retry-After, seconds

    @classmethod
    def sent(cls, http_status: int = 200) -> Result:
        return cls("sent", http_status)


def claim(session: Session, send_id: int, lease_seconds: float, now: datetime | None = None) -> PushJob | None:
    """pending -> sending, only if due. None: done, in flight elsewhere, or not due yet."""
    now = now or utcnow()
    row = session.execute(
        update(_SENDS)
        .where(S.id == send_id, S.status == PENDING, S.next_attempt_at <= now + timedelta(seconds=1))
        .values(
            status=SENDING,
            attempts=S.attempts + 1,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            date_updated=now,
        )
        .returning(S.id, S.sid, S.service_id, S.identity, S.binding_id, S.message_type, S.payload, S.attempts)
    ).one_or_none()
    if row is None:
        return None
    binding = session.get(PushBinding, row.binding_id) if row.binding_id is not None else None
    credential = None
    if binding is not None and binding.credential_sid:
        credential = session.scalar(select(PushCredential).where(PushCredential.sid == binding.credential_sid))
    user_sid = session.scalar(select(User.sid).where(User.service_id == row.service_id, User.identity == row.identity))
    return PushJob(
        send_id=row.id,
        sid=row.sid,
        service_id=row.service_id,
        identity=row.identity,
        user_sid=user_sid,
        message_type=row.message_type,
        payload=dict(row.payload or {}),
        attempt=row.attempts,
        binding_type=binding.binding_type if binding else None,
        token=binding.address if binding else None,
        credential=credential,
    )


def binding_of(session: Session, send_id: int) -> int | None:
    return session.scalar(select(S.binding_id).where(S.id == send_id))


def record(session: Session, job: PushJob, status: str, result: Result | None, retry_at: datetime | None) -> bool:
    """The attempt's outcome (`status` one of sent, pending, skipped, failed, unregistered). An unregistered token's
    binding is deleted here, in the same transaction (its other pushes keep their rows, with no binding). Only this
    claim's outcome is written: a worker that outlived its lease does not write over a later claim. Returns
    whether it was written."""
    now = utcnow()
    values: dict[str, Any] = {"status": status, "lease_expires_at": None, "date_updated": now}
    if result is not None:
        values["error_code"] = result.http_status if result.outcome != "sent" else None
        values["error_message"] = result.error if result.outcome != "sent" else None
    if status == PENDING:
        values["next_attempt_at"] = retry_at
    written = session.execute(
        update(_SENDS).where(S.id == job.send_id, S.status == SENDING, S.attempts == job.attempt).values(**values)
    ).rowcount
    if written and status == UNREGISTERED:
        binding_id = binding_of(session, job.send_id)
        if binding_id is not None:
            session.execute(delete(PushBinding).where(PushBinding.id == binding_id))
    return bool(written)


def dispatch(session: Session, send_ids: list[int]) -> None:
    """Queues the sends once the transaction commits."""
    if send_ids:
        db.dispatch_after_commit(session, SEND_PUSH, send_ids)


def due(session: Session, overdue_by: float, limit: int = 1000) -> list[int]:
    """Pending pushes whose task should have run `overdue_by` seconds ago (Redis lost it, or a retry's wait was
    longer than a broker countdown may be). Their due time becomes now, so each is re-enqueued at most once per
    `overdue_by` seconds while it waits for a worker."""
    now = utcnow()
    cutoff = now - timedelta(seconds=overdue_by)
    ids = list(
        session.scalars(
            select(S.id).where(S.status == PENDING, S.next_attempt_at <= cutoff).order_by(S.id).limit(limit)
        )
    )
    if ids:
        session.execute(update(_SENDS).where(S.id.in_(ids), S.status == PENDING).values(next_attempt_at=now))
    return ids


def release_expired_leases(session: Session, limit: int = 1000) -> list[int]:
    """Pushes claimed by a worker that died (lease passed): back to pending, due now. The device may have had it
    already; a push shown twice is the lesser harm than one never shown."""
    now = utcnow()
    ids = list(
        session.scalars(select(S.id).where(S.status == SENDING, S.lease_expires_at < now).order_by(S.id).limit(limit))
    )
    if ids:
        session.execute(
            update(_SENDS)
            .where(S.id.in_(ids), S.status == SENDING, S.lease_expires_at < now)
            .values(status=PENDING, next_attempt_at=now, lease_expires_at=None, date_updated=now)
        )
    return ids


def prune(session: Session, retention: timedelta, limit: int = 10_000) -> int:
    """Deletes finished pushes (sent, skipped, unregistered) older than `retention`; failed ones stay for admins."""
    cutoff = utcnow() - retention
    ids = list(
        session.scalars(
            select(S.id)
            .where(S.status.in_((SENT, SKIPPED, UNREGISTERED)), S.date_updated < cutoff)
            .order_by(S.id)
            .limit(limit)
        )
    )
    if ids:
        session.execute(_SENDS.delete().where(S.id.in_(ids)))
    return len(ids)


def replay(session: Session, send_ids: list[int]) -> list[int]:
    """An admin's replay: failed pushes back to pending, due now, attempts counted afresh; returns the ids moved
    and queues them once the transaction commits. One conditional UPDATE, so two replays send each once."""
    now = utcnow()
    moved = list(
        session.scalars(
            update(_SENDS)
            .where(S.id.in_(send_ids), S.status.in_(REPLAYABLE))
            .values(
                status=PENDING,
                attempts=0,
                next_attempt_at=now,
                lease_expires_at=None,
                error_code=None,
                error_message=None,
                date_updated=now,
            )
            .returning(S.id)
        )
    )
    dispatch(session, moved)
    return moved
