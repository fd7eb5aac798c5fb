"""Accepting one inbound carrier message, in one transaction: dedupe, keywords, route, append, plan deliveries.

Routing key: the pair (To, From) = (proxy address, address) of a binding in a non-closed conversation.
An unbound pair autocreates a conversation when the Address Configuration of `To` says so; otherwise the
message is kept as unrouted for admins. Either way the carrier gets its 200: nothing it sent is dropped.

Keywords: a message that is exactly STOP (or another opt-out word) records an opt-out for the pair, START
lifts it, HELP gets the messaging service's help text back (when it has one). Whether the keyword itself
joins the conversation is the service's `keyword_messages_visible` setting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exists, or_, select, true
from sqlalchemy.orm import Session

from bridge import (
    accounts,
    address_configurations,
    conversations,
    delivery,
    media,
    opt_outs,
    participants,
    services,
)
from bridge.addresses import Address, parse_address
from bridge.messages import NewMessage, append_message
from bridge.models import Delivery, Message, Participant, Sender, UnroutedMessage
from bridge.sids import new_sid
from bridge.timeutil import utcnow

ROUTED, DUPLICATE, AUTOCREATED, UNROUTED, KEYWORD = "routed", "duplicate", "autocreated", "unrouted", "keyword"


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
    keyword: str | None = None


def parse_pair(inbound: InboundMessage) -> tuple[Address, Address]:
    """(From, To) as addresses. Raises AddressError: the edge answers 400 and stores nothing."""
    return parse_address(inbound.from_address), parse_address(inbound.to_address)


def is_duplicate(session: Session, carrier_message_sid: str, rerouting: bool = False) -> bool:
    """Seen before: as a message, or kept out of conversations (unless an admin is routing that one again).
    One round trip; the unique constraints are what really guarantee it under races."""
    as_message = exists().where(Message.carrier_message_sid == carrier_message_sid)
    if rerouting:
        return bool(session.scalar(select(as_message)))
    kept = exists().where(UnroutedMessage.carrier_message_sid == carrier_message_sid)
    return bool(session.scalar(select(or_(as_message, kept))))


def bound_participant(session: Session, person: Address, proxy: Address) -> Participant | None:
    return session.scalar(
        select(Participant).where(
            Participant.binding_active == true(),
            Participant.address == str(person),
            Participant.proxy_address == str(proxy),
        )
    )


def accept_inbound(session: Session, inbound: InboundMessage, rerouting: bool = False) -> InboundResult:
    """`rerouting`: an admin routes a kept message again; it is not kept a second time if still unbound."""
    person, proxy = parse_pair(inbound)
    if is_duplicate(session, inbound.carrier_message_sid, rerouting):
        return InboundResult(DUPLICATE)
    keyword = opt_outs.classify(inbound.body) if not inbound.media else None
    if keyword is not None:
        _apply_keyword(session, keyword[0], keyword[1], person, proxy)
    outcome = ROUTED
    participant = bound_participant(session, person, proxy)
    if participant is None:
        participant = _autocreate(session, person, proxy) if keyword is None else None
        if participant is None:
            if not rerouting:
                _keep_out_of_conversations(session, inbound, person, proxy, UNROUTED)
            return InboundResult(UNROUTED, keyword=keyword[1] if keyword else None)
        outcome = AUTOCREATED
    participant.last_inbound_at = utcnow()  # opens (or keeps open) the WhatsApp customer-service window
    conversation = participant.conversation
    if keyword is not None:
        if keyword[0] == opt_outs.HELP:
            _reply_with_help(session, participant, proxy)
        if not conversation.service.keyword_messages_visible:
            if not rerouting:
                _keep_out_of_conversations(session, inbound, person, proxy, KEYWORD)
            return InboundResult(KEYWORD, conversation_sid=conversation.sid, keyword=keyword[1])
    pending = [
        media.add_pending_inbound(session, conversation.service, None, item.url, item.content_type)
        for item in inbound.media
    ]
    message = append_message(
        session,
        conversation,
        NewMessage(
            author=str(person),
            body=inbound.body,
            media=[media.describe(row) for row in pending] or None,
            source=person.channel,
            carrier_message_sid=inbound.carrier_message_sid,
            participant=participant,
        ),
    )
    for row in pending:
        row.message_id = message.id
    session.flush()
    delivery.dispatch_after_commit(session, [row.id for row in pending], delivery.FETCH_MEDIA)
    return InboundResult(outcome, message.sid, conversation.sid, keyword[1] if keyword else None)


def _apply_keyword(session: Session, kind: str, word: str, person: Address, proxy: Address) -> None:
    if kind == opt_outs.OPT_OUT:
        opt_outs.record_opt_out(session, str(person), str(proxy), word)
    elif kind == opt_outs.OPT_IN:
        opt_outs.lift_opt_out(session, str(person), str(proxy))


def _reply_with_help(session: Session, participant: Participant, proxy: Address) -> None:
    """HELP gets the messaging service's help text, sent like any delivery (retried, receipted, replayable).
    No help text: the carrier answers HELP itself (Twilio does by default), the bridge stays silent."""
    sender = session.scalar(select(Sender).where(Sender.address == str(proxy)))
    help_text = sender.messaging_service.help_text if sender is not None else None
    if not help_text:
        return
    reply = Delivery(
        sid=new_sid("DY"),
        message_id=None,
        conversation_id=participant.conversation_id,
        participant_id=participant.id,
        participant_sid=participant.sid,
        status=delivery.PENDING,
        next_attempt_at=utcnow(),
        reply_body=help_text,
    )
    session.add(reply)
    session.flush()
    delivery.dispatch_after_commit(session, [reply.id])


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


def _keep_out_of_conversations(
    session: Session, inbound: InboundMessage, person: Address, proxy: Address, status: str
) -> None:
    """Kept, not routed: unbound pairs (for admins) and keywords a service keeps out of its conversations.
    The row also makes a carrier's retry of the same message a duplicate."""
    session.add(
        UnroutedMessage(
            carrier=inbound.carrier,
            carrier_message_sid=inbound.carrier_message_sid,
            from_address=str(person),
            to_address=str(proxy),
            body=inbound.body,
            media=[{"url": m.url, "content_type": m.content_type} for m in inbound.media] or None,
            payload=inbound.payload,
            status=status,
        )
    )
    session.flush()
