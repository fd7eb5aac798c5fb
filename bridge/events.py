"""The change-event log: every change the domain makes to a conversation, participant, message, delivery receipt
or user, written as a row in the transaction that makes the change.

Readers follow the log; no service function calls a reader. The webhook reader (`bridge.hooks.outbox`) plans
post-event webhooks from it, and push notifications with them (`bridge.push.planner`); a row it need not read (no
webhook and no push can want it) is written as already planned.

Order: `seq` numbers a stream's events (a conversation's, or a user's), handed out by an UPDATE of the
conversation's (user's) counter. That UPDATE holds the row's lock until commit, so a stream's events commit in
`seq` order, and their global `id`s increase with `seq` too.

Which actions fire webhooks is Twilio's rule: SDK and SMS/WhatsApp actions do, REST writes only when the request
carries `X-Twilio-Webhook-Enabled: true`; what the bridge does by itself (timers, delivery receipts) does too.
The edge says who acts by setting the session's `Origin` before calling the domain.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Table, delete, insert, select, true, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from bridge import db
from bridge.event_fields import Fields, shaped
from bridge.models import ChangeEvent, Conversation, ConversationService, User
from bridge.push import planner as push_planner
from bridge.timeutil import utcnow

# Post-event types (Twilio's names).
MESSAGE_ADDED, MESSAGE_UPDATED, MESSAGE_REMOVED = "onMessageAdded", "onMessageUpdated", "onMessageRemoved"
CONVERSATION_ADDED, CONVERSATION_UPDATED = "onConversationAdded", "onConversationUpdated"
CONVERSATION_REMOVED, CONVERSATION_STATE_UPDATED = "onConversationRemoved", "onConversationStateUpdated"
PARTICIPANT_ADDED, PARTICIPANT_UPDATED = "onParticipantAdded", "onParticipantUpdated"
PARTICIPANT_REMOVED = "onParticipantRemoved"
DELIVERY_UPDATED = "onDeliveryUpdated"
USER_ADDED, USER_UPDATED = "onUserAdded", "onUserUpdated"
# In a user's stream, for chat clients only (no webhook has this type): one of the user's participations was
# added, changed or removed. `data` holds ConversationSid and Change (added | updated | removed).
MEMBERSHIP_CHANGED = "membershipChanged"
# In a user's stream: the user's reachability changed (a chat socket opened or the last one closed).
REACHABILITY_CHANGED = "reachabilityChanged"

PLAN_WEBHOOKS = "plan_webhooks"  # the task a transaction asks for when it wrote an event a webhook may want

# Sources (Twilio's `Source` values).
API, SDK = "API", "SDK"
SOURCE_OF_CHANNEL = {"sms": "SMS", "whatsapp": "WHATSAPP", "chat": SDK}


@dataclass(frozen=True)
class Origin:
    """Who makes the changes of a transaction, as webhooks report it."""

    source: str = API
    client_identity: str | None = None
    fires_webhooks: bool = False


REST = Origin(API, None, False)  # a REST write without X-Twilio-Webhook-Enabled
REST_WITH_WEBHOOKS = Origin(API, None, True)
BRIDGE = Origin(API, None, True)  # timers and delivery receipts: nobody to echo back to

_ORIGIN_KEY = "bridge.origin"


def set_origin(session: Session, origin: Origin) -> None:
    session.info[_ORIGIN_KEY] = origin


def origin_of(session: Session) -> Origin:
    return session.info.get(_ORIGIN_KEY, REST)


@contextmanager
def acting_as(session: Session, origin: Origin) -> Iterator[None]:
    """The changes made inside the block are `origin`'s; the session's own origin is restored after it."""
    before = session.info.get(_ORIGIN_KEY)
    session.info[_ORIGIN_KEY] = origin
    try:
        yield
    finally:
        if before is None:
            session.info.pop(_ORIGIN_KEY, None)
        else:
            session.info[_ORIGIN_KEY] = before


def source_of_channel(channel: str) -> Origin:
    """The origin of an SMS/WhatsApp participant's (or a chat client's) action: always fires webhooks."""
    return Origin(SOURCE_OF_CHANNEL.get(channel, API), None, True)


_EVENTS = ChangeEvent.__table__
_CONVERSATIONS: Table = Conversation.__table__  # type: ignore[assignment]
_USERS: Table = User.__table__  # type: ignore[assignment]


def _next_seq(session: Session, table: Table, row_id: int) -> int:
    c = table.c
    # date_updated is named so its onupdate default does not fire: numbering an event is not a change of the row.
    return int(
        session.execute(
            update(table)
            .where(c.id == row_id)
            .values(last_event_seq=c.last_event_seq + 1, date_updated=c.date_updated)
            .returning(c.last_event_seq)
        ).scalar_one()
    )


def record(
    session: Session,
    event_type: str,
    fields: Fields,
    *,
    stream_sid: str,
    seq: int,
    service_id: int,
    service_sid: str,
    conversation_id: int | None,
    conversation_sid: str | None,
    resource_sid: str | None,
    webhooks_possible: bool,
    origin: Origin | None = None,
    pushes_possible: bool = False,
) -> None:
    """Writes one event (Core: this runs for every message and every receipt). `webhooks_possible`: the service
    (or the conversation) has a post-event target at all; `pushes_possible`: its push setting for this event is
    on (pushes go whoever acted). With neither the event is written as planned."""
    origin = origin or origin_of(session)
    wanted = (origin.fires_webhooks and webhooks_possible) or pushes_possible
    event_id = session.execute(
        insert(_EVENTS)
        .values(
            stream=stream_sid,
            seq=seq,
            type=event_type,
            service_sid=service_sid,
            conversation_sid=conversation_sid,
            resource_sid=resource_sid,
            source=origin.source,
            client_identity=origin.client_identity,
            fires_webhooks=origin.fires_webhooks,
            webhooks_planned=not wanted,
            data=shaped(event_type, fields),
            created_at=utcnow(),
        )
        .returning(_EVENTS.c.id)
    ).scalar_one()
    if wanted:
        db.dispatch_after_commit(session, PLAN_WEBHOOKS, [event_id])
    db.announce_after_commit(session, stream_sid)


def conversation_event(
    session: Session,
    conversation: Conversation,
    event_type: str,
    fields: Fields,
    resource_sid: str | None = None,
    origin: Origin | None = None,
    seq: int | None = None,
) -> None:
    """`seq`: one the caller's own UPDATE of the conversation already handed out (a new message's)."""
    if seq is None:
        seq = _next_seq(session, _CONVERSATIONS, conversation.id)
        set_committed_value(conversation, "last_event_seq", seq)
    record(
        session,
        event_type,
        fields,
        stream_sid=conversation.sid,
        seq=seq,
        service_id=conversation.service_id,
        service_sid=conversation.service.sid,
        conversation_id=conversation.id,
        conversation_sid=conversation.sid,
        resource_sid=resource_sid or conversation.sid,
        webhooks_possible=conversation.service.post_webhooks or conversation.scoped_webhooks,
        origin=origin,
        pushes_possible=push_planner.wanted(conversation.service, event_type),
    )


def conversation_event_by_id(
    session: Session,
    event_type: str,
    fields: Fields,
    *,
    conversation_id: int,
    conversation_sid: str,
    service_id: int,
    service_sid: str,
    resource_sid: str,
    webhooks_possible: bool,
    origin: Origin | None = None,
) -> None:
    """For callers that hold ids, not entities (the delivery hot path)."""
    record(
        session,
        event_type,
        fields,
        stream_sid=conversation_sid,
        seq=_next_seq(session, _CONVERSATIONS, conversation_id),
        service_id=service_id,
        service_sid=service_sid,
        conversation_id=conversation_id,
        conversation_sid=conversation_sid,
        resource_sid=resource_sid,
        webhooks_possible=webhooks_possible,
        origin=origin,
    )


def user_event(
    session: Session,
    user: User,
    service: ConversationService,
    event_type: str,
    fields: Fields,
    conversation_sid: str | None = None,
    webhooks_possible: bool | None = None,
) -> None:
    """An event in the user's own stream, numbered under the user's row lock. `webhooks_possible` defaults to the
    service having a post-event target; the chat clients' own events pass False."""
    seq = _next_seq(session, _USERS, user.id)
    set_committed_value(user, "last_event_seq", seq)
    record(
        session,
        event_type,
        fields,
        stream_sid=user.sid,
        seq=seq,
        service_id=user.service_id,
        service_sid=service.sid,
        conversation_id=None,
        conversation_sid=conversation_sid,
        resource_sid=user.sid,
        webhooks_possible=service.post_webhooks if webhooks_possible is None else webhooks_possible,
    )


def membership_event(
    session: Session, user: User, service: ConversationService, conversation_sid: str, change: str
) -> None:
    """Numbers a change of the user's participations in the user's own stream, so the user's list of
    conversations (which spans conversations) has one order that commits in sequence (the user's row lock)."""
    fields = {"ConversationSid": conversation_sid, "Change": change}
    user_event(session, user, service, MEMBERSHIP_CHANGED, fields, conversation_sid, webhooks_possible=False)


def reachability_event(session: Session, user: User, service: ConversationService, online: bool) -> None:
    fields = {"Online": "true" if online else "false"}
    user_event(session, user, service, REACHABILITY_CHANGED, fields, webhooks_possible=False)


def stream(session: Session, stream_sid: str, after_seq: int = 0, limit: int = 1000) -> list[ChangeEvent]:
    """A stream's events after `after_seq`, in order (what a reader resuming from `after_seq` has missed)."""
    return list(
        session.scalars(
            select(ChangeEvent)
            .where(ChangeEvent.stream == stream_sid, ChangeEvent.seq > after_seq)
            .order_by(ChangeEvent.seq)
            .limit(limit)
        )
    )


def prune(session: Session, retention: timedelta, now: datetime | None = None, limit: int = 10_000) -> int:
    """Deletes up to `limit` events older than `retention` that the webhook reader is done with."""
    cutoff = (now or utcnow()) - retention
    ids = list(
        session.scalars(
            select(ChangeEvent.id)
            .where(ChangeEvent.created_at < cutoff, ChangeEvent.webhooks_planned == true())
            .order_by(ChangeEvent.id)
            .limit(limit)
        )
    )
    if ids:
        session.execute(delete(ChangeEvent).where(ChangeEvent.id.in_(ids)))
    return len(ids)
