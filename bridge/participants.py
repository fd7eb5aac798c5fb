"""Participants (`MB`): chat identities, and SMS/WhatsApp bindings (address, proxy address).

A binding is the routing key of inbound messages, so the pair (proxy address, address) may be bound in at
most one non-closed conversation (Twilio error 50416). A partial unique index enforces it; the checks here
only turn the common cases into clear errors before the database has to.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, func, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bridge import carrier_numbers, delivery, errors, event_fields, events, roles, users
from bridge.addresses import CHAT, Address, AddressError, parse_address
from bridge.conversations import CLOSED, lock_conversation
from bridge.errors import BridgeError, conflict, invalid, not_found
from bridge.models import Conversation, ConversationService, Participant
from bridge.sids import is_sid, new_sid
from bridge.timeutil import utcnow
from bridge.validation import IDENTITY_LIMIT, PARTICIPANT_ATTRIBUTES_LIMIT, UNSET, attributes, text

NON_CHAT_LIMIT = 50
CHAT_LIMIT = 1000


def find_participant(session: Session, conversation: Conversation, sid_or_identity: str) -> Participant:
    if "\x00" in sid_or_identity:  # no identity holds one, and PostgreSQL refuses it in a query
        raise not_found(f"Participant {sid_or_identity!r} not found")
    column = Participant.sid if is_sid(sid_or_identity, "MB") else Participant.identity
    found = session.scalar(
        select(Participant).where(Participant.conversation_id == conversation.id, column == sid_or_identity)
    )
    if found is None:
        raise not_found(f"Participant {sid_or_identity} not found")
    return found


def parse_binding(address: str, proxy_address: str | None) -> tuple[Address, Address]:
    try:
        person = parse_address(address)
    except AddressError as exc:
        raise invalid(f"Invalid messaging binding address: {exc}", errors.INVALID_ADDRESS) from None
    if not proxy_address or not proxy_address.strip():
        raise invalid(
            "MessagingBinding.ProxyAddress is required for an SMS or WhatsApp participant",
            errors.PROXY_ADDRESS_MISSING,
        )
    try:
        proxy = parse_address(proxy_address)
    except AddressError as exc:
        raise invalid(f"Invalid participant proxy address: {exc}", errors.INVALID_PROXY_ADDRESS) from None
    if person.channel != proxy.channel:
        raise invalid(
            f"Address is a {person.channel} address but the proxy address is a {proxy.channel} address",
            errors.INVALID_PROXY_ADDRESS,
        )
    if person == proxy:
        raise invalid("Participant address cannot be the same as the proxy address", errors.ADDRESS_EQUALS_PROXY)
    return person, proxy


def _binding_taken(session: Session, person: Address, proxy: Address, excluding: int | None = None) -> str | None:
    query = (
        select(Conversation.sid)
        .join(Participant, Participant.conversation_id == Conversation.id)
        .where(
            Participant.binding_active == true(),
            Participant.address == str(person),
            Participant.proxy_address == str(proxy),
        )
    )
    if excluding is not None:
        query = query.where(Participant.id != excluding)
    return session.scalar(query.limit(1))


def _binding_in_use(conversation_sid: str | None) -> BridgeError:
    where = f" in Conversation {conversation_sid}" if conversation_sid else ""
    return invalid(f"A binding for this participant and proxy address already exists{where}", errors.BINDING_IN_USE)


def _default_role_sid(service: ConversationService, conversation: Conversation, identity: str | None) -> str | None:
    """The creator of a conversation joins it in the service's creator role, anyone else in its default role."""
    if identity and conversation.created_by == identity and service.default_conversation_creator_role_sid:
        return service.default_conversation_creator_role_sid
    return service.default_conversation_role_sid


def add_participant(
    session: Session,
    conversation: Conversation,
    *,
    identity: str | None = None,
    address: str | None = None,
    proxy_address: str | None = None,
    projected_address: str | None = None,
    attributes_json: str | None = None,
    role_sid: str | None = None,
    date_created: datetime | None = None,
    date_updated: datetime | None = None,
) -> Participant:
    lock_conversation(session, conversation)
    service: ConversationService = conversation.service
    if conversation.state == CLOSED:
        raise invalid("Conversation is closed; participants cannot be added", errors.CONVERSATION_CLOSED)
    if projected_address:
        raise invalid(
            "MessagingBinding.ProjectedAddress (group MMS) is not supported by this bridge",
            errors.BINDING_TYPE_UNSUPPORTED,
        )
    if identity and address:
        raise invalid("Give either Identity (chat) or MessagingBinding.Address (SMS/WhatsApp), not both")
    if not identity and not address:
        raise invalid("Identity or MessagingBinding.Address is required")
    now = utcnow()
    participant = Participant(
        sid=new_sid("MB"),
        conversation_id=conversation.id,
        service_id=service.id,
        attributes=attributes(attributes_json, PARTICIPANT_ATTRIBUTES_LIMIT) if attributes_json else "{}",
        role_sid=(
            roles.require_role(session, service, role_sid, roles.CONVERSATION).sid
            if role_sid
            else _default_role_sid(service, conversation, identity)
        ),
        joined_at_index=conversation.last_message_index,
        date_created=date_created or now,
        date_updated=date_updated or date_created or now,
    )
    if identity:
        participant.channel = CHAT
        participant.identity = text(identity, "Identity", IDENTITY_LIMIT, errors.IDENTITY_TOO_LONG)
        if find_identity(session, conversation, participant.identity) is not None:
            raise conflict("Participant already exists", errors.PARTICIPANT_EXISTS)
        if _count(session, conversation, chat=True) >= CHAT_LIMIT:
            raise invalid("Participants limit exceeded", 50417)
        users.ensure_user(session, service, participant.identity)
    else:
        person, proxy = parse_binding(address or "", proxy_address)
        carrier_numbers.admit_proxy(session, conversation, proxy)
        if _count(session, conversation, chat=False) >= NON_CHAT_LIMIT:
            raise invalid("Non-chat participants limit exceeded", errors.NON_CHAT_LIMIT)
        taken_in = _binding_taken(session, person, proxy)
        if taken_in is not None:
            raise _binding_in_use(taken_in)
        participant.channel = person.channel
        participant.address = str(person)
        participant.proxy_address = str(proxy)
        participant.binding_active = True
    session.add(participant)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        # A concurrent request won the race for the same binding or identity; the database said no.
        if participant.identity:
            raise conflict("Participant already exists", errors.PARTICIPANT_EXISTS) from None
        raise _binding_in_use(None) from None
    _record(session, participant, events.PARTICIPANT_ADDED)
    return participant


MEMBERSHIP_CHANGES = {
    events.PARTICIPANT_ADDED: "added",
    events.PARTICIPANT_UPDATED: "updated",
    events.PARTICIPANT_REMOVED: "removed",
}


def _record(session: Session, participant: Participant, event_type: str, **extra: str) -> None:
    conversation = participant.conversation
    fields = {**event_fields.participant_fields(conversation, participant), **extra}
    events.conversation_event(session, conversation, event_type, fields, participant.sid)
    if participant.identity:
        users.record_membership(
            session, conversation.service, participant.identity, conversation.sid, MEMBERSHIP_CHANGES[event_type]
        )


def find_identity(session: Session, conversation: Conversation, identity: str) -> Participant | None:
    return session.scalar(
        select(Participant).where(Participant.conversation_id == conversation.id, Participant.identity == identity)
    )


def _count(session: Session, conversation: Conversation, chat: bool) -> int:
    condition = Participant.channel == CHAT if chat else Participant.channel != CHAT
    return (
        session.scalar(
            select(func.count())
            .select_from(Participant)
            .where(Participant.conversation_id == conversation.id, condition)
        )
        or 0
    )


def update_participant(
    session: Session,
    participant: Participant,
    *,
    attributes_json: str | object = UNSET,
    role_sid: str | object = UNSET,
    proxy_address: str | object = UNSET,
    identity: str | object = UNSET,
    projected_address: str | object = UNSET,
    last_read_message_index: int | object | None = UNSET,
    last_read_timestamp: datetime | object = UNSET,
    date_created: datetime | object = UNSET,
    date_updated: datetime | object = UNSET,
) -> Participant:
    conversation = participant.conversation
    if isinstance(identity, str) and identity != (participant.identity or ""):
        raise invalid("A participant's identity cannot be changed", 50444)
    if isinstance(projected_address, str) and projected_address:
        raise invalid("MessagingBinding.ProjectedAddress (group MMS) is not supported", errors.BINDING_TYPE_UNSUPPORTED)
    if isinstance(attributes_json, str):
        participant.attributes = attributes(attributes_json or "{}", PARTICIPANT_ATTRIBUTES_LIMIT)
    if isinstance(role_sid, str):
        participant.role_sid = roles.require_role(session, conversation.service, role_sid, roles.CONVERSATION).sid
    if isinstance(proxy_address, str):
        _rebind(session, participant, proxy_address)
    if last_read_message_index is not UNSET:
        participant.last_read_message_index = last_read_message_index  # type: ignore[assignment]
        participant.last_read_timestamp = utcnow()
    if isinstance(last_read_timestamp, datetime):
        participant.last_read_timestamp = last_read_timestamp
    if isinstance(date_created, datetime):
        participant.date_created = date_created
    participant.date_updated = date_updated if isinstance(date_updated, datetime) else utcnow()
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise _binding_in_use(None) from None
    _record(session, participant, events.PARTICIPANT_UPDATED)
    return participant


def record_update(session: Session, participant: Participant) -> None:
    """onParticipantUpdated for a change made elsewhere (a user's read horizon, through UserConversations)."""
    _record(session, participant, events.PARTICIPANT_UPDATED)


def _rebind(session: Session, participant: Participant, proxy_address: str) -> None:
    if participant.channel == CHAT:
        raise invalid("A chat participant has no proxy address", errors.BINDING_TYPE_UNSUPPORTED)
    person, proxy = parse_binding(participant.address or "", proxy_address)
    carrier_numbers.admit_proxy(session, participant.conversation, proxy)
    if participant.binding_active:
        taken_in = _binding_taken(session, person, proxy, excluding=participant.id)
        if taken_in is not None:
            raise _binding_in_use(taken_in)
    participant.proxy_address = str(proxy)


def remove_participant(session: Session, participant: Participant) -> None:
    """The participant leaves; what was still waiting to be sent to them fails visibly (50432)."""
    _record(session, participant, events.PARTICIPANT_REMOVED, **event_fields.removed_now())
    delivery.cancel_for_participant(session, participant.id)
    session.delete(participant)
    session.flush()


def participants_query(conversation: Conversation) -> Select[tuple[Participant]]:
    return select(Participant).where(Participant.conversation_id == conversation.id)


def participant_conversations_query(
    service: ConversationService, identity: str | None, address: str | None
) -> Select[tuple[Participant]]:
    """Every participation of one identity or one address in the service (ParticipantConversations)."""
    query = select(Participant).where(Participant.service_id == service.id)
    if identity is not None:
        return query.where(Participant.identity == identity)
    try:
        normalized = str(parse_address(address or ""))
    except AddressError as exc:
        raise invalid(f"Invalid Address: {exc}", errors.INVALID_ADDRESS) from None
    return query.where(Participant.address == normalized)


def user_participations_query(service: ConversationService, identity: str) -> Select[tuple[Participant]]:
    return select(Participant).where(Participant.service_id == service.id, Participant.identity == identity)
