"""Messages (`IM`): one function appends a message, whoever writes it (REST, carrier inbound, chat)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, case, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from bridge import delivery, errors, event_fields, events, jsontext
from bridge.conversations import ACTIVE, CLOSED, INACTIVE, record_state_change, schedule_timers
from bridge.errors import invalid, not_found
from bridge.models import Conversation, Delivery, Message, Participant
from bridge.sids import is_sid, new_sid
from bridge.timeutil import utcnow
from bridge.validation import MESSAGE_ATTRIBUTES_LIMIT, MESSAGE_BODY_LIMIT, UNSET, attributes, text

SYSTEM_AUTHOR = "system"
MAX_INDEX = 2**31 - 1  # message indexes (and read horizons) live in 32-bit integer columns


@dataclass(frozen=True)
class NewMessage:
    author: str | None = None
    body: str | None = None
    attributes_json: str | None = None
    media: list[dict[str, object]] | None = None
    content_sid: str | None = None
    content_variables: str | None = None
    subject: str | None = None
    date_created: datetime | None = None
    date_updated: datetime | None = None
    source: str = "api"
    carrier_message_sid: str | None = None
    participant: Participant | None = None


def _validated(new: NewMessage) -> NewMessage:
    if new.body is not None and len(new.body) > MESSAGE_BODY_LIMIT:
        raise invalid(f"Body must be at most {MESSAGE_BODY_LIMIT} characters")
    if new.content_sid is not None and not is_sid(new.content_sid, "HX"):
        raise invalid("ContentSid must be a Content SID (HX...)")
    if new.content_variables is not None:
        jsontext.parse(new.content_variables, "ContentVariables must be valid JSON")
    if not (new.body or new.media or new.content_sid):
        raise invalid("A message needs a Body, a MediaSid or a ContentSid")
    if new.subject is not None:
        text(new.subject, "Subject", 256)
    if new.author is not None:
        text(new.author, "Author", 256)
    return new


def author_participant(session: Session, conversation: Conversation, author: str) -> Participant | None:
    """The participant a message is attributed to: identity for chat, address for SMS/WhatsApp."""
    return session.scalar(
        select(Participant)
        .where(
            Participant.conversation_id == conversation.id,
            or_(Participant.identity == author, Participant.address == author),
        )
        .limit(1)
    )


def next_index(session: Session, conversation: Conversation) -> int:
    """Hands out the next index. The UPDATE takes the conversation's row lock until commit, so concurrent
    writers are ordered and indexes stay strictly increasing on every backend. The same statement wakes an
    inactive conversation (a new message does, as in Twilio) and reads back what the caller needs."""
    now = utcnow()
    c = Conversation.__table__.c  # Core: this statement runs for every message
    index, state, date_updated, event_seq = session.execute(
        update(Conversation.__table__)
        .where(c.id == conversation.id)
        .values(
            last_message_index=c.last_message_index + 1,
            state=case((c.state == INACTIVE, ACTIVE), else_=c.state),
            date_updated=now,
            last_event_seq=c.last_event_seq + 1,  # the message's own event (onMessageAdded): no second UPDATE
        )
        .returning(c.last_message_index, c.state, c.date_updated, c.last_event_seq)
    ).one()
    changed = {"last_message_index": index, "state": state, "date_updated": date_updated, "last_event_seq": event_seq}
    for name, value in changed.items():
        set_committed_value(conversation, name, value)
    return int(index)


def append_message(session: Session, conversation: Conversation, new: NewMessage) -> Message:
    new = _validated(new)
    before = conversation.state
    index = next_index(session, conversation)  # locks the conversation row first
    reserved_seq = conversation.last_event_seq
    if conversation.state == CLOSED:
        raise invalid("Conversation is closed; messages cannot be added", errors.CONVERSATION_CLOSED)
    author = new.author or (new.participant.identity or new.participant.address if new.participant else None)
    author = author or SYSTEM_AUTHOR
    participant = new.participant
    if participant is None and author != SYSTEM_AUTHOR:
        participant = author_participant(session, conversation, author)
    now = utcnow()
    message = Message(
        sid=new_sid("IM"),
        conversation_id=conversation.id,
        index=index,
        author=author,
        body=new.body,
        attributes=attributes(new.attributes_json, MESSAGE_ATTRIBUTES_LIMIT) if new.attributes_json else "{}",
        participant_sid=participant.sid if participant else None,
        media=new.media,
        content_sid=new.content_sid,
        content_variables=new.content_variables,
        subject=new.subject,
        source=new.source,
        carrier_message_sid=new.carrier_message_sid,
        date_created=new.date_created or now,
        date_updated=new.date_updated or new.date_created or now,
    )
    session.add(message)
    if conversation.timer_inactive or conversation.timer_closed:
        schedule_timers(conversation, now)  # timers count from the last message
    session.flush()
    # In the message's transaction: the rows are the outbox, committed before any worker hears of them.
    delivery.plan_deliveries(session, message, participant)
    fields = event_fields.message_fields(session, conversation, message)
    events.conversation_event(session, conversation, events.MESSAGE_ADDED, fields, message.sid, seq=reserved_seq)
    if before == INACTIVE and conversation.state == ACTIVE:
        record_state_change(session, conversation, before, "EVENT")  # the message woke it
    return message


def find_message(session: Session, conversation: Conversation, sid_or_index: str) -> Message:
    if is_sid(sid_or_index, "IM"):
        condition = Message.sid == sid_or_index
    elif sid_or_index.isascii() and sid_or_index.isdigit() and int(sid_or_index) <= MAX_INDEX:
        condition = Message.index == int(sid_or_index)
    else:
        raise not_found(f"Message {sid_or_index} not found")
    found = session.scalar(select(Message).where(Message.conversation_id == conversation.id, condition))
    if found is None:
        raise not_found(f"Message {sid_or_index} not found")
    return found


def update_message(
    session: Session,
    message: Message,
    *,
    author: str | object = UNSET,
    body: str | object = UNSET,
    attributes_json: str | object = UNSET,
    subject: str | object = UNSET,
    date_created: datetime | object = UNSET,
    date_updated: datetime | object = UNSET,
) -> Message:
    if isinstance(author, str):
        message.author = text(author, "Author", 256) or SYSTEM_AUTHOR
        # The message follows its new author: their participant, or none for system or a stranger.
        participant = (
            author_participant(session, message.conversation, message.author)
            if message.author != SYSTEM_AUTHOR
            else None
        )
        message.participant_sid = participant.sid if participant else None
    if isinstance(body, str):
        message.body = text(body, "Body", MESSAGE_BODY_LIMIT)
    if isinstance(attributes_json, str):
        message.attributes = attributes(attributes_json or "{}", MESSAGE_ATTRIBUTES_LIMIT)
    if isinstance(subject, str):
        message.subject = text(subject, "Subject", 256)
    if isinstance(date_created, datetime):
        message.date_created = date_created
    message.date_updated = date_updated if isinstance(date_updated, datetime) else utcnow()
    session.flush()
    fields = event_fields.message_fields(session, message.conversation, message)
    events.conversation_event(session, message.conversation, events.MESSAGE_UPDATED, fields, message.sid)
    return message


def delete_message(session: Session, message: Message) -> None:
    removed = {**event_fields.message_fields(session, message.conversation, message), **event_fields.removed_now()}
    events.conversation_event(session, message.conversation, events.MESSAGE_REMOVED, removed, message.sid)
    session.delete(message)
    session.flush()


def messages_query(conversation: Conversation) -> Select[tuple[Message]]:
    return select(Message).where(Message.conversation_id == conversation.id)


# Which delivery statuses count towards each field of the message's `delivery` summary: a delivered
# message was also sent, and a read one was also delivered.
_SUMMARY = {
    "sent": ("sent", "delivered", "read"),
    "delivered": ("delivered", "read"),
    "read": ("read",),
    "failed": ("failed",),
    "undelivered": ("undelivered",),
}


def delivery_summaries(session: Session, message_ids: list[int]) -> dict[int, dict[str, object]]:
    """Twilio's `delivery` object per message: total recipients and all/some/none per status."""
    if not message_ids:
        return {}
    rows = session.execute(
        select(Delivery.message_id, Delivery.status, func.count())
        .where(Delivery.message_id.in_(message_ids))
        .group_by(Delivery.message_id, Delivery.status)
    ).all()
    counts: dict[int, dict[str, int]] = {}
    for message_id, status, count in rows:
        counts.setdefault(message_id, {})[status] = count
    summaries: dict[int, dict[str, object]] = {}
    for message_id, by_status in counts.items():
        total = sum(by_status.values())
        summary: dict[str, object] = {"total": total}
        for field, statuses in _SUMMARY.items():
            reached = sum(by_status.get(status, 0) for status in statuses)
            summary[field] = "all" if reached == total else "none" if reached == 0 else "some"
        summaries[message_id] = summary
    return summaries


# A receipt exists once the channel has said something about the send; pending/sending rows are not receipts.
RECEIPT_STATUSES = ("sent", "delivered", "read", "failed", "undelivered")


def receipts_query(message: Message) -> Select[tuple[Delivery]]:
    return select(Delivery).where(Delivery.message_id == message.id, Delivery.status.in_(RECEIPT_STATUSES))


def find_receipt(session: Session, message: Message, sid: str) -> Delivery:
    found = session.scalar(receipts_query(message).where(Delivery.sid == sid))
    if found is None:
        raise not_found(f"Delivery receipt {sid} not found")
    return found
