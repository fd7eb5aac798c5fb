"""What admins do about pushes: list the failed ones (or any status), count them, and replay them through the same
operation as deliveries and webhook calls (`bridge.admin.replay` with `PUSHES`): `failed -> pending` by a
conditional UPDATE, in batches queued as each commits, audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from bridge import admin
from bridge.errors import invalid
from bridge.models import ConversationService, PushSend
from bridge.paging import Page, PageRequest, paginate
from bridge.push import outbox


@dataclass(frozen=True)
class PushFilter(admin.Described):
    """Which pushes an admin means. Every field narrows; an empty filter means every failed push."""

    statuses: tuple[str, ...] = (outbox.FAILED,)
    service_sid: str | None = None
    identity: str | None = None
    conversation_sid: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    push_sids: tuple[str, ...] = ()


def _query(filt: PushFilter) -> Select[tuple[PushSend]]:
    for status in filt.statuses:
        if status not in outbox.STATUSES:
            raise invalid(f"Unknown status {status[:40]!r}; one of {', '.join(outbox.STATUSES)}")
    query = select(PushSend)
    if filt.statuses:
        query = query.where(PushSend.status.in_(filt.statuses))
    if filt.service_sid:
        service_id = select(ConversationService.id).where(ConversationService.sid == filt.service_sid)
        query = query.where(PushSend.service_id.in_(service_id.scalar_subquery()))
    if filt.identity:
        query = query.where(PushSend.identity == filt.identity)
    if filt.conversation_sid:
        query = query.where(PushSend.payload["conversation_sid"].as_string() == filt.conversation_sid)
    query = admin.updated_within(query, PushSend.date_updated, filt.since, filt.until)
    if filt.push_sids:
        query = query.where(PushSend.sid.in_(filt.push_sids))
    return query


# Replayed by `bridge.admin.replay(..., kind=PUSHES)`, the operation deliveries and webhook calls go through.
PUSHES: admin.ReplayKind[PushFilter] = admin.ReplayKind(
    "push", "pushes", outbox.REPLAYABLE, _query, PushSend.id, outbox.replay
)


@dataclass(frozen=True)
class PushRow:
    """One push as admins see it: to whom, of what, how far it got and what the platform last said."""

    sid: str
    status: str
    message_type: str
    identity: str
    conversation_sid: str | None
    attempts: int
    error_code: int | None
    error_message: str | None
    next_attempt_at: datetime | None
    date_created: datetime
    date_updated: datetime

    @classmethod
    def of(cls, push: PushSend) -> PushRow:
        payload: dict[str, Any] = push.payload or {}
        return cls(
            sid=push.sid,
            status=push.status,
            message_type=push.message_type,
            identity=push.identity,
            conversation_sid=payload.get("conversation_sid"),
            attempts=push.attempts,
            error_code=push.error_code,
            error_message=push.error_message,
            next_attempt_at=push.next_attempt_at,
            date_created=push.date_created,
            date_updated=push.date_updated,
        )


def list_pushes(session: Session, filt: PushFilter, page: PageRequest) -> Page[PushRow]:
    """Newest first, keyset-paged like the REST API."""
    found = paginate(session, _query(filt), PushSend.id, page, descending=True)
    return Page([PushRow.of(push) for push in found.items], found.next_token, found.previous_token)


def count_matching(session: Session, filt: PushFilter) -> int:
    return PUSHES.count(session, filt)


def counts_by_status(session: Session, since: datetime | None = None) -> dict[str, int]:
    return admin.status_counts(session, PushSend.status, PushSend.date_updated, outbox.STATUSES, since)
