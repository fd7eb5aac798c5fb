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
    carrier_numbers,
    conversations,
    db,
    delivery,
    events,
    media,
    opt_outs,
    participants,
    services,
)
from bridge.addresses import Address, parse_address
from bridge.hooks import pre, targets
from bridge.messages import NewMessage, append_message
from bridge.models import (
    AddressConfiguration,
    Conversation,
    ConversationService,
    ConversationWebhook,
    Delivery,
    Message,
    Participant,
    Sender,
    UnroutedMessage,
)
from bridge.sids import new_sid
from bridge.timeutil import utcnow

ROUTED, DUPLICATE, AUTOCREATED, UNROUTED, KEYWORD = "routed", "duplicate", "autocreated", "unrouted", "keyword"
HELD, REJECTED = "held", "rejected"  # waiting for the pre-event webhook; refused by it
ASK_PRE_EVENT = "ask_pre_event"  # the task that asks the pre-event webhook about a held message


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


def accept_inbound(
    session: Session, inbound: InboundMessage, rerouting: bool = False, verdict: pre.Verdict | None = None
) -> InboundResult:
    """`rerouting`: an admin (or the pre-event step) routes a kept message again; it is not kept a second time.
    `verdict`: what the application's pre-event webhook answered for this message; None when it was not asked
    yet. A message a pre-event webhook must see first is held (kept, answered 200) and asked about by a worker,
    which then calls this again with the verdict. Keywords (STOP, HELP, ...) are applied at once, as carriers
    require, and never held."""
    person, proxy = parse_pair(inbound)
    if is_duplicate(session, inbound.carrier_message_sid, rerouting):
        return InboundResult(DUPLICATE)
    # What this message causes is the SMS/WhatsApp participant's action: it fires webhooks.
    events.set_origin(session, events.source_of_channel(person.channel))
    keyword = opt_outs.classify(inbound.body) if not inbound.media else None
    if keyword is not None:
        _apply_keyword(session, keyword[0], keyword[1], person, proxy)
    changes = verdict.changes if verdict is not None else {}
    outcome = ROUTED
    participant = bound_participant(session, person, proxy)
    if participant is None:
        plan = autocreation_plan(session, proxy) if keyword is None else None
        if plan is None:
            if not rerouting:
                _keep_out_of_conversations(session, inbound, person, proxy, UNROUTED)
            return InboundResult(UNROUTED, keyword=keyword[1] if keyword else None)
        if verdict is None and targets.pre_event_target(session, plan.service, pre.CONVERSATION_ADD) is not None:
            return _hold(session, inbound, person, proxy, rerouting)
        participant = _autocreate(session, plan, person, proxy, changes)
        changes = {}  # what onConversationAdd changed was the conversation's, not the message's
        outcome = AUTOCREATED
    elif (
        verdict is None
        and keyword is None
        and targets.pre_event_target(session, participant.conversation.service, pre.MESSAGE_ADD) is not None
    ):
        return _hold(session, inbound, person, proxy, rerouting)
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
            author=changes.get("Author") or str(person),
            body=changes.get("Body", inbound.body),
            attributes_json=changes.get("Attributes"),
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


def _hold(session: Session, inbound: InboundMessage, person: Address, proxy: Address, rerouting: bool) -> InboundResult:
    """Kept until the pre-event webhook has answered; a worker asks it (no request waits for it)."""
    if rerouting:
        return InboundResult(HELD)
    row = _keep_out_of_conversations(session, inbound, person, proxy, HELD)
    db.dispatch_after_commit(session, ASK_PRE_EVENT, [row.id])
    return InboundResult(HELD)


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


@dataclass(frozen=True)
class AutocreationPlan:
    config: AddressConfiguration
    sender: Sender
    service: ConversationService


def autocreation_plan(session: Session, proxy: Address) -> AutocreationPlan | None:
    """Whether a message to `proxy` from an unbound sender creates a conversation, and where."""
    config = address_configurations.for_address(session, str(proxy))
    if config is None or not (config.auto_creation or {}).get("enabled"):
        return None
    sender = carrier_numbers.sender_for(session, proxy)
    if sender is None:
        return None  # the bridge cannot answer from a number that is neither the account's nor in a pool
    service_sid = config.auto_creation.get("conversation_service_sid")
    service = services.find_service(session, service_sid) if service_sid else accounts.default_service(session)
    return AutocreationPlan(config, sender, service)


def _autocreate(
    session: Session, plan: AutocreationPlan, person: Address, proxy: Address, changes: dict[str, str]
) -> Participant:
    """Twilio's inbound autocreation: a new conversation with the sender bound to the number they wrote to,
    named as the pre-event webhook (onConversationAdd) asked, if it did."""
    binding = {"MessagingBinding.Address": str(person), "MessagingBinding.ProxyAddress": str(proxy)}
    conversation = conversations.create_conversation(
        session,
        plan.service,
        messaging_service_sid=plan.sender.messaging_service.sid,
        friendly_name=changes.get("FriendlyName"),
        unique_name=changes.get("UniqueName"),
        attributes_json=changes.get("Attributes"),
        binding=binding,
    )
    if plan.config.auto_creation.get("type") == "webhook":
        _add_autocreation_webhook(session, conversation, plan.config.auto_creation)
    return participants.add_participant(session, conversation, address=str(person), proxy_address=str(proxy))


def _add_autocreation_webhook(session: Session, conversation: Conversation, auto_creation: dict[str, Any]) -> None:
    """`AutoCreation.Type=webhook`: the new conversation gets a conversation-scoped webhook, as on Twilio, so its
    first events (onParticipantAdded, onMessageAdded, ...) already go there."""
    session.add(
        ConversationWebhook(
            sid=new_sid("WH"),
            conversation_id=conversation.id,
            target="webhook",
            url=auto_creation.get("webhook_url"),
            method=str(auto_creation.get("webhook_method") or "POST").lower(),
            filters=list(auto_creation.get("webhook_filters") or []),
        )
    )
    conversation.scoped_webhooks = True  # the conversation's next events (its participant, its message) go there
    session.flush()


def _keep_out_of_conversations(
    session: Session, inbound: InboundMessage, person: Address, proxy: Address, status: str
) -> UnroutedMessage:
    """Kept, not routed: unbound pairs (for admins) and keywords a service keeps out of its conversations.
    The row also makes a carrier's retry of the same message a duplicate."""
    row = UnroutedMessage(
        carrier=inbound.carrier,
        carrier_message_sid=inbound.carrier_message_sid,
        from_address=str(person),
        to_address=str(proxy),
        body=inbound.body,
        media=[{"url": m.url, "content_type": m.content_type} for m in inbound.media] or None,
        payload=inbound.payload,
        status=status,
    )
    session.add(row)
    session.flush()
    return row
