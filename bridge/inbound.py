"""Accepting one inbound carrier message, in one transaction: dedupe, route, append, plan the deliveries.

Routing key: the pair (To, From) = (proxy address, address) of a binding in a non-closed conversation.
An unbound pair autocreates a conversation when the Address Configuration of `To` says so; otherwise the
message is kept as unrouted for admins. Either way the carrier gets its 200: nothing it sent is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge import accounts, address_configurations, conversations, participants, services
from bridge.addresses import Address, parse_address
from bridge.messages import NewMessage, append_message
from bridge.models import Message, Participant, Sender, UnroutedMessage

DELIVERED, DUPLICATE, AUTOCREATED, UNROUTED = "routed", "duplicate", "autocreated", "unrouted"


@dataclass(frozen=True)
class InboundMedia:
    url: str
    content_type: str | None


@dataclass(frozen=True)
class InboundMessage:
    carrier: str
    carrier_message_sid: str
    from_address: str
    to_address: str
    body: str | None
    media: list[InboundMedia] = field(default_factory=list)
    payload: dict[str, Any] = field(default_factory=dict)  # everything the carrier sent


@dataclass(frozen=True)
class InboundResult:
    outcome: str
    message_sid: str | None = None
    conversation_sid: str | None = None


def parse_pair(inbound: InboundMessage) -> tuple[Address, Address]:
    """(From, To) as addresses. Raises AddressError: the edge answers 400 and stores nothing."""
    return parse_address(inbound.from_address), parse_address(inbound.to_address)


def is_duplicate(session: Session, carrier_message_sid: str) -> bool:
    return bool(
        session.scalar(select(Message.id).where(Message.carrier_message_sid == carrier_message_sid))
        or session.scalar(select(UnroutedMessage.id).where(UnroutedMessage.carrier_message_sid == carrier_message_sid))
    )


def bound_participant(session: Session, person: Address, proxy: Address) -> Participant | None:
    return session.scalar(
        select(Participant).where(
            Participant.binding_active.is_(True),
            Participant.address == str(person),
            Participant.proxy_address == str(proxy),
        )
    )


def accept_inbound(session: Session, inbound: InboundMessage) -> InboundResult:
    person, proxy = parse_pair(inbound)
    if is_duplicate(session, inbound.carrier_message_sid):
        return InboundResult(DUPLICATE)
    outcome = DELIVERED
    participant = bound_participant(session, person, proxy)
    if participant is None:
        participant = _autocreate(session, person, proxy)
        if participant is None:
            _record_unrouted(session, inbound, person, proxy)
            return InboundResult(UNROUTED)
        outcome = AUTOCREATED
    conversation = participant.conversation
    message = append_message(
        session,
        conversation,
        NewMessage(
            author=str(person),
            body=inbound.body,
            source=person.channel,
            carrier_message_sid=inbound.carrier_message_sid,
            participant=participant,
            inbound_media=[{"url": m.url, "content_type": m.content_type} for m in inbound.media] or None,
        ),
    )
    return InboundResult(outcome, message.sid, conversation.sid)


def _autocreate(session: Session, person: Address, proxy: Address) -> Participant | None:
    """Twilio's inbound autocreation: a new conversation with the sender bound to the number they wrote to."""
    config = address_configurations.for_address(session, str(proxy))
    if config is None or not (config.auto_creation or {}).get("enabled"):
        return None
    sender = session.scalar(select(Sender).where(Sender.address == str(proxy)))
    if sender is None:
        return None  # the bridge cannot answer from a number that is in no sender pool
    service_sid = config.auto_creation.get("conversation_service_sid")
    service = services.find_service(session, service_sid) if service_sid else accounts.default_service(session)
    conversation = conversations.create_conversation(
        session, service, messaging_service_sid=sender.messaging_service.sid
    )
    return participants.add_participant(session, conversation, address=str(person), proxy_address=str(proxy))


def _record_unrouted(session: Session, inbound: InboundMessage, person: Address, proxy: Address) -> None:
    session.add(
        UnroutedMessage(
            carrier=inbound.carrier,
            carrier_message_sid=inbound.carrier_message_sid,
            from_address=str(person),
            to_address=str(proxy),
            body=inbound.body,
            media=[{"url": m.url, "content_type": m.content_type} for m in inbound.media] or None,
            payload=inbound.payload,
        )
    )
    session.flush()
