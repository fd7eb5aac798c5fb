"""Conversation timers: an active conversation goes inactive, and any goes closed, when its timer fires."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge import events
from bridge.conversations import ACTIVE, CLOSED, INACTIVE, record_state_change, set_state
from bridge.models import Conversation
from bridge.timeutil import utcnow


def expire_timers(session: Session, limit: int = 500) -> int:
    """Applies every timer that has fired; returns how many conversations changed state."""
    events.set_origin(session, events.BRIDGE)
    now = utcnow()
    changed = 0
    closing = session.scalars(
        select(Conversation)
        .where(Conversation.state != CLOSED, Conversation.date_closed <= now)
        .limit(limit)
        .with_for_update(skip_locked=True, of=Conversation)
    ).all()
    for conversation in closing:
        before = conversation.state
        set_state(session, conversation, CLOSED)
        conversation.date_closed = None
        conversation.date_inactive = None
        conversation.date_updated = now
        session.flush()
        record_state_change(session, conversation, before, "TIMER")
        changed += 1
    going_quiet = session.scalars(
        select(Conversation)
        .where(Conversation.state == ACTIVE, Conversation.date_inactive <= now)
        .limit(limit)
        .with_for_update(skip_locked=True, of=Conversation)
    ).all()
    for conversation in going_quiet:
        conversation.state = INACTIVE
        conversation.date_inactive = None
        conversation.date_updated = now
        session.flush()
        record_state_change(session, conversation, ACTIVE, "TIMER")
        changed += 1
    session.flush()
    return changed
