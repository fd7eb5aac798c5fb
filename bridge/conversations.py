"""Conversations (`CH`): state, naming, timers, and the messaging service that carries their SMS legs."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, and_, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bridge import accounts, errors, event_fields, events, jsontext, users
from bridge.errors import BridgeError, conflict, invalid, not_found
from bridge.messaging_services import find_messaging_service
from bridge.models import Conversation, ConversationService, MessagingService, Participant
from bridge.paging import Page, PageRequest, fetch_page
from bridge.sids import is_sid, new_sid
from bridge.timeutil import parse_duration, utcnow
from bridge.validation import (
    CONVERSATION_ATTRIBUTES_LIMIT,
    FRIENDLY_NAME_LIMIT,
    UNSET,
    attributes,
    text,
    timer,
)

ACTIVE, INACTIVE, CLOSED = "active", "inactive", "closed"
STATES = (ACTIVE, INACTIVE, CLOSED)


def find_conversation(session: Session, service: ConversationService, sid_or_unique_name: str) -> Conversation:
    """By SID or by unique name, and only inside `service`: services never see each other's conversations."""
    if "\x00" in sid_or_unique_name:  # no name holds one, and PostgreSQL refuses it in a query
        raise not_found(f"Conversation {sid_or_unique_name!r} not found")
    condition = (
        Conversation.sid == sid_or_unique_name
        if is_sid(sid_or_unique_name, "CH")
        else Conversation.unique_name == sid_or_unique_name
    )
    found = session.scalar(select(Conversation).where(Conversation.service_id == service.id, condition))
    if found is None:
        raise not_found(f"Conversation {sid_or_unique_name} not found")
    return found


def lock_conversation(session: Session, conversation: Conversation) -> None:
    """Row lock (PostgreSQL) so that state checks and the writes that depend on them cannot interleave."""
    session.execute(select(Conversation.id).where(Conversation.id == conversation.id).with_for_update())
    session.refresh(conversation)


def _state(raw: str) -> str:
    value = raw.strip().lower()
    if value not in STATES:
        raise invalid("State must be one of active, inactive, closed")
    return value


def _unique_name(session: Session, service: ConversationService, raw: str, current: Conversation | None) -> str:
    if is_sid(raw, "CH"):
        raise invalid("UniqueName must not look like a Conversation SID", errors.UNIQUE_NAME_LOOKS_LIKE_SID)
    value = text(raw, "UniqueName", FRIENDLY_NAME_LIMIT)
    taken = session.scalar(
        select(Conversation.id).where(Conversation.service_id == service.id, Conversation.unique_name == value)
    )
    if taken is not None and (current is None or taken != current.id):
        raise conflict(f"Conversation with unique name {value!r} already exists", errors.UNIQUE_NAME_TAKEN)
    return value


def schedule_timers(conversation: Conversation, now: datetime) -> None:
    """Absolute times at which the timers fire, counted from now (the last activity)."""
    conversation.date_inactive = (
        now + parse_duration(conversation.timer_inactive)
        if conversation.timer_inactive and conversation.state == ACTIVE
        else None
    )
    conversation.date_closed = (
        now + parse_duration(conversation.timer_closed)
        if conversation.timer_closed and conversation.state != CLOSED
        else None
    )


def create_conversation(
    session: Session,
    service: ConversationService,
    *,
    friendly_name: str | None = None,
    unique_name: str | None = None,
    attributes_json: str | None = None,
    messaging_service_sid: str | None = None,
    state: str | None = None,
    timer_inactive: str | None = None,
    timer_closed: str | None = None,
    date_created: datetime | None = None,
    date_updated: datetime | None = None,
    created_by: str | None = None,
    binding: event_fields.Fields | None = None,
) -> Conversation:
    """`binding`: the messaging binding that caused it (inbound autocreation), for its onConversationAdded."""
    if (timer_inactive or timer_closed) and not state:
        raise invalid(
            "Timers.Inactive and Timers.Closed can be set on create only together with State",
            errors.TIMER_WITHOUT_STATE,
        )
    config = accounts.configuration(session)
    now = utcnow()
    conversation = Conversation(
        sid=new_sid("CH"),
        service_id=service.id,
        friendly_name=text(friendly_name, "FriendlyName", FRIENDLY_NAME_LIMIT) if friendly_name else None,
        unique_name=_unique_name(session, service, unique_name, None) if unique_name else None,
        attributes=attributes(attributes_json, CONVERSATION_ATTRIBUTES_LIMIT) if attributes_json else "{}",
        state=_state(state) if state else ACTIVE,
        timer_inactive=timer(timer_inactive, "Timers.Inactive", timedelta(minutes=1))
        if timer_inactive
        else config.default_inactive_timer,
        timer_closed=timer(timer_closed, "Timers.Closed", timedelta(minutes=10))
        if timer_closed
        else config.default_closed_timer,
        created_by=created_by,
        date_created=date_created or now,
        date_updated=date_updated or date_created or now,
    )
    if messaging_service_sid:
        conversation.messaging_service = _messaging_service_parameter(session, messaging_service_sid)
    else:
        conversation.messaging_service = config.default_messaging_service
    conversation.service = service
    schedule_timers(conversation, now)
    session.add(conversation)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise conflict("Conversation with this unique name already exists", errors.UNIQUE_NAME_TAKEN) from None
    fields = {**event_fields.conversation_fields(session, conversation), **(binding or {})}
    events.conversation_event(session, conversation, events.CONVERSATION_ADDED, fields)
    return conversation


def _messaging_service_parameter(session: Session, sid: str) -> MessagingService:
    try:
        return find_messaging_service(session, sid)
    except BridgeError:
        raise invalid(f"Messaging Service {sid} not found") from None


def update_conversation(
    session: Session,
    conversation: Conversation,
    *,
    friendly_name: str | object = UNSET,
    unique_name: str | object = UNSET,
    attributes_json: str | object = UNSET,
    messaging_service_sid: str | object = UNSET,
    state: str | object = UNSET,
    timer_inactive: str | object = UNSET,
    timer_closed: str | object = UNSET,
    date_created: datetime | object = UNSET,
    date_updated: datetime | object = UNSET,
) -> Conversation:
    lock_conversation(session, conversation)
    if conversation.state == CLOSED:
        raise invalid("Conversation is closed and cannot be updated", errors.CONVERSATION_CLOSED)
    if isinstance(friendly_name, str):
        conversation.friendly_name = text(friendly_name, "FriendlyName", FRIENDLY_NAME_LIMIT) or None
    if isinstance(unique_name, str):
        conversation.unique_name = (
            _unique_name(session, conversation.service, unique_name, conversation) if unique_name else None
        )
    if isinstance(attributes_json, str):
        conversation.attributes = attributes(attributes_json or "{}", CONVERSATION_ATTRIBUTES_LIMIT)
    if isinstance(messaging_service_sid, str):
        conversation.messaging_service = _messaging_service_parameter(session, messaging_service_sid)
    if isinstance(timer_inactive, str):
        conversation.timer_inactive = (
            timer(timer_inactive, "Timers.Inactive", timedelta(minutes=1)) if timer_inactive else None
        )
    if isinstance(timer_closed, str):
        conversation.timer_closed = (
            timer(timer_closed, "Timers.Closed", timedelta(minutes=10)) if timer_closed else None
        )
    if isinstance(date_created, datetime):
        conversation.date_created = date_created
    before = conversation.state
    if isinstance(state, str):
        set_state(session, conversation, _state(state))
    schedule_timers(conversation, utcnow())
    conversation.date_updated = date_updated if isinstance(date_updated, datetime) else utcnow()
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise conflict("Conversation with this unique name already exists", errors.UNIQUE_NAME_TAKEN) from None
    events.conversation_event(
        session, conversation, events.CONVERSATION_UPDATED, event_fields.conversation_fields(session, conversation)
    )
    if conversation.state != before:
        record_state_change(session, conversation, before, "API")
    return conversation


def record_state_change(session: Session, conversation: Conversation, before: str, reason: str) -> None:
    """onConversationStateUpdated; `reason` is Twilio's: API (a request), TIMER, or EVENT (a new message)."""
    fields = event_fields.state_fields(session, conversation, before, reason)
    events.conversation_event(session, conversation, events.CONVERSATION_STATE_UPDATED, fields)


def set_state(session: Session, conversation: Conversation, state: str) -> None:
    """Closing is final and releases every SMS/WhatsApp binding, so the numbers can be bound elsewhere."""
    if conversation.state == CLOSED and state != CLOSED:
        raise invalid("Conversation is closed and cannot be reopened", errors.CONVERSATION_CLOSED)
    conversation.state = state
    if state == CLOSED:
        session.execute(
            update(Participant)
            .where(Participant.conversation_id == conversation.id, Participant.binding_active == true())
            .values(binding_active=False)
        )


def delete_conversation(session: Session, conversation: Conversation) -> None:
    """The event outlives the conversation: it is written (and numbered) before the row goes."""
    fields = {**event_fields.conversation_fields(session, conversation), **event_fields.removed_now()}
    events.conversation_event(session, conversation, events.CONVERSATION_REMOVED, fields)
    identities = session.scalars(
        select(Participant.identity).where(
            Participant.conversation_id == conversation.id, Participant.identity.is_not(None)
        )
    )
    for identity in sorted(identities):  # sorted: user rows are locked in one order by every transaction
        users.record_membership(session, conversation.service, identity, conversation.sid, "removed")
    session.delete(conversation)
    session.flush()


def conversations_query(
    service: ConversationService,
    states: list[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Select[tuple[Conversation]]:
    query = select(Conversation).where(Conversation.service_id == service.id)
    if states:
        query = query.where(or_(*(Conversation.state == s for s in states)))
    if start is not None:
        query = query.where(Conversation.date_created >= start)
    if end is not None:
        query = query.where(Conversation.date_created < end)
    return query


def parse_states(raw: str) -> list[str]:
    return [_state(part) for part in raw.split(",") if part.strip()]


# Newest-first listing (the StartDate/EndDate filters) walks the keyset (date_created, id): backfilled
# `DateCreated` values make id order differ from date order. Its tokens carry both parts, so they have a
# prefix of their own (`PD`) and are never mistaken for the single-key tokens of `bridge.paging`.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_TOKEN_LENGTH = 100


def _date_token(direction: str, conversation: Conversation) -> str:
    micros = (conversation.date_created - _EPOCH) // timedelta(microseconds=1)
    raw = json.dumps([direction, micros, conversation.id], separators=(",", ":")).encode()
    return "PD" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_date_token(token: str) -> tuple[str, datetime, int]:
    try:
        if not token.startswith("PD") or len(token) > _MAX_TOKEN_LENGTH:
            raise ValueError
        body = token[2:]
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        direction, micros, row_id = jsontext.parse(raw, "Invalid PageToken")
        if direction not in ("after", "before") or type(micros) is not int or type(row_id) is not int:
            raise ValueError
        if not 0 <= row_id < 2**63:  # a forged value must not reach the database
            raise ValueError
        return direction, _EPOCH + timedelta(microseconds=micros), row_id
    except (ValueError, TypeError, OverflowError, binascii.Error):
        raise invalid("Invalid PageToken") from None


def page_newest_first(session: Session, query: Select[tuple[Conversation]], request: PageRequest) -> Page[Conversation]:
    """One page of `query` sorted by creation date, newest first (ties: newest row first)."""
    position = None if request.token is None else _read_date_token(request.token)
    forward = position is None or position[0] == "after"
    if position is not None:
        _, created, row_id = position
        if forward:  # older than the position
            query = query.where(
                or_(
                    Conversation.date_created < created,
                    and_(Conversation.date_created == created, Conversation.id < row_id),
                )
            )
        else:
            query = query.where(
                or_(
                    Conversation.date_created > created,
                    and_(Conversation.date_created == created, Conversation.id > row_id),
                )
            )
    order = (
        (Conversation.date_created.desc(), Conversation.id.desc())
        if forward
        else (Conversation.date_created.asc(), Conversation.id.asc())
    )
    return fetch_page(
        session,
        query.order_by(*order),
        request.page_size,
        forward=forward,
        resumed=position is not None,
        token_for=_date_token,
    )
