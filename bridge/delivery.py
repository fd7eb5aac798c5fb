"""Delivery state: the ledger and outbox rows, and every transition they may make.

A delivery is one (message, SMS/WhatsApp recipient). Its row is committed with the message, before anything
is enqueued; Celery tasks only carry its id. A task claims the row with a conditional UPDATE, so a second
copy of the same task finds nothing to do. Per recipient the rows go out in message order, one in flight:
a row is claimable only when no earlier row of the same participant is still pending or sending.

    pending -> sending -> sent -> delivered -> read
                  |  \\-> pending (retry later)     \\-> undelivered | failed (final)
                  \\---> failed (final; an admin may replay it)
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, func, insert, select, update
from sqlalchemy.orm import Session

from bridge import db, event_fields, events
from bridge.addresses import CHAT
from bridge.delivery_job import DeliveryJob, ReceiptKey, read_job, receipt_key
from bridge.models import Delivery, DeliveryAttempt, DeliveryEvent, Media, Message, Participant
from bridge.sids import new_sid
from bridge.timeutil import utcnow

PENDING, SENDING, SENT, DELIVERED, READ = "pending", "sending", "sent", "delivered", "read"
UNDELIVERED, FAILED = "undelivered", "failed"
UNFINISHED = (PENDING, SENDING)
FINAL = (UNDELIVERED, FAILED)
RECEIPT_STATUSES = (SENT, DELIVERED, READ, UNDELIVERED, FAILED)  # what a Delivery Receipt can say
STATUSES = (PENDING, SENDING, SENT, DELIVERED, READ, UNDELIVERED, FAILED)


PARTICIPANT_GONE = 50432  # the recipient left the conversation before the message went out
ATTEMPTS_EXHAUSTED = 30001  # Twilio's "queue overflow": the bridge gave up after its attempt limit

# Which statuses a carrier status callback may move a delivery from. Statuses only move forward: a late
# `sent` never overwrites `delivered`, and undelivered/failed are final. `pending` is included because a
# worker may have died after the carrier accepted the send; the callback then proves it went out.
_MAY_FOLLOW = {
    SENT: (PENDING, SENDING),
    DELIVERED: (PENDING, SENDING, SENT),
    READ: (PENDING, SENDING, SENT, DELIVERED),
    UNDELIVERED: (PENDING, SENDING, SENT),
    FAILED: (PENDING, SENDING, SENT),
}
# Carrier status words -> delivery status (queued/accepted/sending mean "not yet sent": no change).
CARRIER_STATUSES = {
    "sent": SENT,
    "delivered": DELIVERED,
    "read": READ,
    "undelivered": UNDELIVERED,
    "failed": FAILED,
}


def advance(current: str, carrier_status: str) -> str:
    """The status a delivery takes when a carrier callback reports `carrier_status` (pure; apply_status
    does the same in SQL)."""
    status = CARRIER_STATUSES.get(carrier_status.strip().lower())
    if status is None or current not in _MAY_FOLLOW[status]:
        return current
    return status


DELIVER, FETCH_MEDIA = "deliver", "fetch_media"  # the tasks a transaction can ask for

# Core tables for the statements that run per message and per send: no ORM unit of work on the hot path.
_DELIVERIES = Delivery.__table__
D = _DELIVERIES.c
_PARTICIPANTS = Participant.__table__
_MEDIA = Media.__table__
_ATTEMPTS = DeliveryAttempt.__table__


def dispatch_after_commit(session: Session, delivery_ids: list[int], task: str = DELIVER) -> None:
    db.dispatch_after_commit(session, task, delivery_ids)


def receipt_changed(
    session: Session,
    key: ReceiptKey | None,
    status: str,
    *,
    error_code: int = 0,
    channel_message_sid: str | None = None,
    date_updated: datetime | None = None,
) -> None:
    """onDeliveryUpdated: the receipt's status changed (the bridge's own doing, or the carrier's)."""
    if key is None or status not in RECEIPT_STATUSES:
        return
    fields = event_fields.receipt_fields(
        conversation_sid=key.conversation_sid,
        service_sid=key.service_sid,
        message_sid=key.message_sid,
        delivery_sid=key.delivery_sid,
        participant_sid=key.participant_sid,
        channel_message_sid=channel_message_sid,
        status=status,
        error_code=error_code,
        date_created=key.date_created,
        date_updated=date_updated or utcnow(),
    )
    events.conversation_event_by_id(
        session,
        events.DELIVERY_UPDATED,
        fields,
        conversation_id=key.conversation_id,
        conversation_sid=key.conversation_sid,
        service_id=key.service_id,
        service_sid=key.service_sid,
        resource_sid=key.delivery_sid,
        webhooks_possible=key.webhooks_possible,
        origin=events.BRIDGE,
    )


def plan_deliveries(session: Session, message: Message, author: Participant | None) -> list[int]:
    """One pending delivery per SMS/WhatsApp participant who joined before the message (author excluded).
    One SELECT and one multi-row INSERT (Core: this runs for every message)."""
    p = _PARTICIPANTS.c
    query = select(p.id, p.sid).where(
        p.conversation_id == message.conversation_id, p.channel != CHAT, p.joined_at_index < message.index
    )
    if author is not None:
        query = query.where(p.id != author.id)
    recipients = session.execute(query.order_by(p.id)).all()
    if not recipients:
        return []
    now = utcnow()
    rows = [
        {
            "sid": new_sid("DY"),
            "message_id": message.id,
            "conversation_id": message.conversation_id,
            "participant_id": participant_id,
            "participant_sid": participant_sid,
            "status": PENDING,
            "next_attempt_at": now,
        }
        for participant_id, participant_sid in recipients
    ]
    ids = list(session.scalars(insert(_DELIVERIES).returning(D.id, sort_by_parameter_order=True), rows))
    dispatch_after_commit(session, ids)
    return ids


def _no_media_being_fetched() -> object:
    """A message whose inbound media is still being fetched from the carrier waits for it."""
    return ~exists().where(_MEDIA.c.message_id == D.message_id, _MEDIA.c.status == "pending")


def _no_earlier_unfinished() -> object:
    earlier = _DELIVERIES.alias("earlier").c
    return ~exists().where(
        earlier.participant_id == D.participant_id,
        earlier.id < D.id,
        earlier.status.in_(UNFINISHED),
    )


def claim(session: Session, delivery_id: int, lease_seconds: float, now: datetime | None = None) -> DeliveryJob | None:
    """pending -> sending, only if due and at the head of its recipient's line. None: nothing to do here."""
    now = now or utcnow()
    claimed = session.execute(
        update(_DELIVERIES)
        .where(
            D.id == delivery_id,
            D.status == PENDING,
            D.next_attempt_at <= now + timedelta(seconds=1),
            D.participant_id.is_not(None),
            _no_earlier_unfinished(),
            _no_media_being_fetched(),
        )
        .values(
            status=SENDING,
            attempts=D.attempts + 1,
            lease_until=now + timedelta(seconds=lease_seconds),
            # An earlier claim that never recorded the carrier's answer leaves its start behind: the send may
            # have gone out, so this attempt asks the carrier first (SET reads the row's old values).
            unsure_since=func.coalesce(D.unsure_since, D.sending_since),
            sending_since=now,
            date_updated=now,
        )
        .returning(D.id)
    ).scalar_one_or_none()
    if claimed is None:
        _fail_if_orphaned(session, delivery_id)
        return None
    return read_job(session, delivery_id, now)


def _fail_if_orphaned(session: Session, delivery_id: int) -> None:
    """A pending delivery whose participant was removed can never go out: it fails, visibly."""
    failed = session.execute(
        update(_DELIVERIES)
        .where(D.id == delivery_id, D.status == PENDING, D.participant_id.is_(None))
        .values(
            status=FAILED, error_code=PARTICIPANT_GONE, error_message="Participant was removed", date_updated=utcnow()
        )
        .returning(D.id, D.date_updated)
    ).one_or_none()
    if failed is not None:
        receipt_changed(
            session,
            receipt_key(session, failed.id),
            FAILED,
            error_code=PARTICIPANT_GONE,
            date_updated=failed.date_updated,
        )


def record_attempt(
    session: Session,
    job: DeliveryJob,
    started_at: datetime,
    duration_ms: int,
    *,
    http_status: int | None = None,
    carrier_message_sid: str | None = None,
    error_code: int | None = None,
    error_message: str | None = None,
    will_retry: bool = False,
) -> None:
    session.execute(
        insert(_ATTEMPTS).values(
            delivery_id=job.delivery_id,
            attempt=job.attempt,
            started_at=started_at,
            duration_ms=duration_ms,
            http_status=http_status,
            carrier_message_sid=carrier_message_sid,
            error_code=error_code,
            error_message=error_message,
            will_retry=will_retry,
        )
    )


def record_part_sent(session: Session, job: DeliveryJob, carrier_message_sid: str, last: bool) -> None:
    """The carrier accepted one send of the delivery (most deliveries are one send). After the last one the
    row is `sent` (unless a status callback has already moved it further), and a callback held for that send
    is applied."""
    now = utcnow()
    values: dict[str, object] = {
        "channel_message_sid": func.coalesce(D.channel_message_sid, carrier_message_sid),
        "sends_done": D.sends_done + 1,
        "sending_since": None,
        "unsure_since": None,
        "date_updated": now,
    }
    if last:
        values.update(last_part_sid=carrier_message_sid, lease_until=None)
    held = session.execute(
        update(_DELIVERIES).where(D.id == job.delivery_id).values(**values).returning(D.held_sid, D.held_status)
    ).one_or_none()
    if not last:
        return
    # From pending too: if this worker outlived its lease, the row went back to pending, yet the send happened.
    moved = session.execute(
        update(_DELIVERIES)
        .where(D.id == job.delivery_id, D.status.in_(UNFINISHED))
        .values(status=SENT, error_code=0, error_message=None)
        .returning(D.channel_message_sid)
    ).one_or_none()
    if moved is not None:
        receipt_changed(session, job.receipt, SENT, channel_message_sid=moved.channel_message_sid, date_updated=now)
    if held is not None and held.held_sid is not None:
        row = session.get(Delivery, job.delivery_id, populate_existing=True)
        if row is not None:
            if row.held_sid == carrier_message_sid and row.held_status and _move(row, row.held_status):
                session.flush()  # a callback for this send arrived before this record
                _receipt_of_row(session, row, job.receipt)
            row.held_sid = row.held_status = None
            session.flush()


def record_retry(
    session: Session,
    job: DeliveryJob,
    code: int,
    message: str,
    next_attempt_at: datetime,
    unsure_since: datetime | None = None,
) -> None:
    """Back to pending until `next_attempt_at`. `unsure_since`: the send may have reached the carrier anyway (it
    did not answer in time), so the next attempt looks it up before sending again."""
    _end_attempt(session, job, code, message, unsure_since, status=PENDING, next_attempt_at=next_attempt_at)


def _end_attempt(
    session: Session, job: DeliveryJob, code: int, message: str, unsure_since: datetime | None, **values: object
) -> None:
    """The attempt is over without a recorded send: the row leaves `sending` with the carrier's code."""
    now = utcnow()
    ended = session.execute(
        update(_DELIVERIES)
        .where(D.id == job.delivery_id, D.status == SENDING)
        .values(
            lease_until=None,
            sending_since=None,
            unsure_since=unsure_since,
            error_code=code,
            error_message=message,
            date_updated=now,
            **values,
        )
        .returning(D.status, D.channel_message_sid)
    ).one_or_none()
    if ended is not None and ended.status == FAILED:
        receipt_changed(
            session,
            job.receipt,
            FAILED,
            error_code=code,
            channel_message_sid=ended.channel_message_sid,
            date_updated=now,
        )


def record_rendering(
    session: Session, job: DeliveryJob, encoding: str | None, segments: int | None, sends: int
) -> None:
    """What the recipient's channel is sent: SMS encoding and segments, and how many carrier sends."""
    session.execute(
        update(_DELIVERIES).where(D.id == job.delivery_id).values(encoding=encoding, segments=segments, sends=sends)
    )


def record_failure(
    session: Session, job: DeliveryJob, code: int, message: str, unsure_since: datetime | None = None
) -> None:
    """Final. `unsure_since` as in `record_retry`: kept, so that an admin's replay looks before it sends."""
    _end_attempt(session, job, code, message, unsure_since, status=FAILED)


def backoff_seconds(
    attempt: int, base: float, cap: float, retry_after: float | None = None, rng: random.Random | None = None
) -> float:
    """Exponential backoff with jitter (half fixed, half random), never sooner than the carrier's Retry-After."""
    ceiling = min(cap, base * (2 ** max(attempt - 1, 0)))
    delay = ceiling / 2 + (rng or random).uniform(0, ceiling / 2)
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))
    return delay


def next_in_line(session: Session, participant_id: int, after_delivery_id: int) -> int | None:
    """The recipient's next pending delivery, now that an earlier one is out of the way."""
    return session.scalar(
        select(func.min(D.id)).where(
            D.participant_id == participant_id,
            D.id > after_delivery_id,
            D.status == PENDING,
            D.next_attempt_at <= utcnow(),
        )
    )


def due_heads(session: Session, overdue_by: float, limit: int = 1000) -> list[int]:
    """Pending deliveries at the head of their line whose task should have run `overdue_by` seconds ago.

    Each is marked as swept, so a deep queue is not refilled with copies every sweep: a delivery is
    re-enqueued at most once per `overdue_by` seconds.
    """
    now = utcnow()
    cutoff = now - timedelta(seconds=overdue_by)
    ids = list(
        session.scalars(
            select(Delivery.id)
            .where(
                Delivery.status == PENDING,
                Delivery.next_attempt_at <= cutoff,
                (Delivery.swept_at.is_(None)) | (Delivery.swept_at <= cutoff),
                _no_earlier_unfinished(),
                _no_media_being_fetched(),
            )
            .order_by(Delivery.id)
            .limit(limit)
        )
    )
    if ids:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids))
            .values(swept_at=now)
            .execution_options(synchronize_session=False)
        )
    return ids


def release_expired_leases(session: Session, limit: int = 1000) -> list[int]:
    """Deliveries claimed by a worker that died (lease passed): back to pending, due now."""
    now = utcnow()
    ids = list(
        session.scalars(
            select(Delivery.id)
            .where(Delivery.status == SENDING, Delivery.lease_until < now)
            .order_by(Delivery.id)
            .limit(limit)
        )
    )
    if ids:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids), Delivery.status == SENDING, Delivery.lease_until < now)
            .values(status=PENDING, next_attempt_at=now, lease_until=None, swept_at=now, date_updated=now)
            .execution_options(synchronize_session=False)
        )
    return ids


@dataclass(frozen=True)
class StatusUpdate:
    delivery_sid: str | None
    carrier_message_sid: str | None
    carrier_status: str
    error_code: int | None = None
    error_message: str | None = None


def apply_status(session: Session, update_: StatusUpdate) -> bool:
    """A carrier status callback. Moves the delivery forward only; duplicates and late arrivals change nothing.
    Returns whether the status changed.

    A delivery sent as several sends is finished by its last send: progress reported for an earlier send does
    not mark it sent or delivered while a later part may still be unsent (or failing). A callback that may be
    for the last send, arriving before the worker recorded that send, is held and applied when it is.
    Failures of any send are final for the whole delivery."""
    if CARRIER_STATUSES.get(update_.carrier_status.strip().lower()) is None:
        return False
    if update_.delivery_sid:
        target = Delivery.sid == update_.delivery_sid
    elif update_.carrier_message_sid:
        target = Delivery.channel_message_sid == update_.carrier_message_sid
    else:
        return False
    row = session.scalar(select(Delivery).where(target).with_for_update())
    if row is None:
        return False
    if row.channel_message_sid is None and update_.carrier_message_sid:
        row.channel_message_sid = update_.carrier_message_sid
    status = CARRIER_STATUSES[update_.carrier_status.strip().lower()]
    several = (row.sends or 1) > 1
    if several and status not in FINAL and update_.carrier_message_sid != row.last_part_sid:
        if row.last_part_sid is None and update_.carrier_message_sid:
            _hold(row, update_.carrier_message_sid, update_.carrier_status)
        changed = False
    else:
        changed = _move(row, update_.carrier_status, update_.error_code, update_.error_message)
    if changed:
        session.flush()
        _receipt_of_row(session, row, receipt_key(session, row.id))
    session.add(
        DeliveryEvent(
            delivery_id=row.id,
            carrier_status=update_.carrier_status.strip().lower()[:32],
            carrier_message_sid=update_.carrier_message_sid,
            error_code=update_.error_code,
            applied=changed,
        )
    )
    session.flush()
    return changed


def _move(row: Delivery, carrier_status: str, error_code: int | None = None, error_message: str | None = None) -> bool:
    following = advance(row.status, carrier_status)
    if following == row.status:
        return False
    row.status = following
    row.lease_until = None
    row.date_updated = utcnow()
    if following in FINAL:
        row.error_code = error_code or 0
        row.error_message = error_message
    return True


def _receipt_of_row(session: Session, row: Delivery, key: ReceiptKey | None) -> None:
    receipt_changed(
        session,
        key,
        row.status,
        error_code=row.error_code,
        channel_message_sid=row.channel_message_sid,
        date_updated=row.date_updated,
    )


def _hold(row: Delivery, carrier_message_sid: str, carrier_status: str) -> None:
    """Keeps the furthest status reported for `carrier_message_sid` until the worker records its last send."""
    if row.held_sid == carrier_message_sid and row.held_status:
        held = CARRIER_STATUSES.get(row.held_status, PENDING)
        if advance(held, carrier_status) == held:
            return
    row.held_sid, row.held_status = carrier_message_sid, carrier_status.strip().lower()


def cancel_for_participant(session: Session, participant_id: int) -> None:
    """A participant leaves: their deliveries not yet sent can never be, and say so."""
    cancelled = session.execute(
        update(_DELIVERIES)
        .where(D.participant_id == participant_id, D.status == PENDING)
        .values(
            status=FAILED, error_code=PARTICIPANT_GONE, error_message="Participant was removed", date_updated=utcnow()
        )
        .returning(D.id, D.date_updated)
    ).all()
    for row in cancelled:
        key = receipt_key(session, row.id)
        receipt_changed(session, key, FAILED, error_code=PARTICIPANT_GONE, date_updated=row.date_updated)
