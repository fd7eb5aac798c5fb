"""Inbound messages held for a pre-event webhook: the carrier got its 200 at once; a worker asks the
application's backend (onMessageAdd, or onConversationAdd when the message would create a conversation), then
adds the message as the answer says, or keeps it as rejected for admins.

Held messages of one sender to one number are asked about in arrival order, one at a time: a later one is not
claimed while an earlier one is still held or being asked about.

    held -> asking -> routed | rejected
              \\-> held (the worker died: the sweeper hands it back)
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bridge import event_fields, inbound
from bridge.addresses import parse_address
from bridge.events import source_of_channel
from bridge.hooks import pre
from bridge.models import UnroutedMessage
from bridge.timeutil import utcnow

HELD, ASKING, ROUTED, REJECTED = inbound.HELD, "asking", "routed", inbound.REJECTED
_ROWS = UnroutedMessage.__table__
U = _ROWS.c


def _no_earlier_waiting() -> object:
    earlier = _ROWS.alias("earlier").c
    return (
        ~select(earlier.id)
        .where(
            earlier.from_address == U.from_address,
            earlier.to_address == U.to_address,
            earlier.id < U.id,
            earlier.status.in_((HELD, ASKING)),
        )
        .exists()
    )


def claim(session: Session, row_id: int, now: datetime | None = None) -> inbound.InboundMessage | None:
    """held -> asking, when it is the first of its sender's held messages. None: nothing to do here."""
    claimed = session.execute(
        update(_ROWS)
        .where(U.id == row_id, U.status == HELD, _no_earlier_waiting())
        .values(status=ASKING, date_updated=now or utcnow())
        .returning(U.id)
    ).scalar_one_or_none()
    if claimed is None:
        return None
    row = session.get(UnroutedMessage, row_id, populate_existing=True)
    assert row is not None
    return inbound.InboundMessage(
        carrier=row.carrier,
        carrier_message_sid=row.carrier_message_sid,
        from_address=row.from_address,
        to_address=row.to_address,
        body=row.body,
        media=[inbound.InboundMedia(m["url"], m.get("content_type")) for m in row.media or []],
        payload=row.payload,
    )


def pre_event_for(session: Session, message: inbound.InboundMessage) -> pre.PreEvent | None:
    """What the message would do now, as its pre-event webhook hears of it (nothing is written)."""
    person, proxy = parse_address(message.from_address), parse_address(message.to_address)
    source = source_of_channel(person.channel).source
    participant = inbound.bound_participant(session, person, proxy)
    if participant is not None:
        conversation = participant.conversation
        current = {
            "ConversationSid": conversation.sid,
            "ChatServiceSid": conversation.service.sid,
            "MessagingServiceSid": event_fields.messaging_service_sid(session, conversation) or "",
            "ParticipantSid": participant.sid,
            "Author": str(person),
            "Attributes": "{}",
        }
        fields = event_fields.pre_event_fields(pre.MESSAGE_ADD, current, {"Body": message.body})
        return pre.prepare(session, conversation.service, pre.MESSAGE_ADD, fields, source)
    plan = inbound.autocreation_plan(session, proxy)
    if plan is None:
        return None  # no longer autocreated: it will be kept as unrouted
    current = {
        "ChatServiceSid": plan.service.sid,
        "MessagingServiceSid": plan.sender.messaging_service.sid,
        "MessagingBinding.Address": str(person),
        "MessagingBinding.ProxyAddress": str(proxy),
        "MessageBody": message.body or "",
        "State": "active",
    }
    fields = event_fields.pre_event_fields(pre.CONVERSATION_ADD, current, {})
    return pre.prepare(session, plan.service, pre.CONVERSATION_ADD, fields, source)


def finish(session: Session, row_id: int, message: inbound.InboundMessage, verdict: pre.Verdict) -> str:
    """Adds the message as the verdict says, or keeps it as rejected. Returns the row's new status."""
    if verdict.rejected:
        status, routed_sid = REJECTED, None
    else:
        result = inbound.accept_inbound(session, message, rerouting=True, verdict=verdict)
        if result.outcome == inbound.UNROUTED:
            status, routed_sid = inbound.UNROUTED, None
        elif result.outcome == inbound.KEYWORD:
            status, routed_sid = inbound.KEYWORD, None
        else:
            status, routed_sid = ROUTED, result.message_sid
    session.execute(
        update(_ROWS)
        .where(U.id == row_id, U.status == ASKING)
        .values(status=status, routed_message_sid=routed_sid, date_updated=utcnow())
    )
    return status


def next_held(session: Session, row_id: int) -> int | None:
    """The same sender's next held message to the same number."""
    row = session.get(UnroutedMessage, row_id)
    if row is None:
        return None
    return session.scalar(
        select(func.min(U.id)).where(
            U.from_address == row.from_address, U.to_address == row.to_address, U.id > row_id, U.status == HELD
        )
    )


def release_stale(session: Session, older_than: float, limit: int = 1000) -> list[int]:
    """Held messages whose worker died while asking go back to held; held heads overdue for a task are returned
    to be enqueued again."""
    cutoff = utcnow() - timedelta(seconds=older_than)
    session.execute(
        update(_ROWS).where(U.status == ASKING, U.date_updated < cutoff).values(status=HELD, date_updated=utcnow())
    )
    ids = list(
        session.scalars(
            select(U.id)
            .where(U.status == HELD, U.date_updated < cutoff, _no_earlier_waiting())
            .order_by(U.id)
            .limit(limit)
        )
    )
    if ids:  # re-enqueued at most once per `older_than`, however long the receiver keeps them waiting
        session.execute(update(_ROWS).where(U.id.in_(ids)).values(date_updated=utcnow()))
    return ids
