"""A user's view of the conversations they take part in (UserConversations)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge import participants
from bridge.conversations import find_conversation
from bridge.errors import invalid, not_found
from bridge.models import ConversationService, Message, Participant, User
from bridge.timeutil import utcnow
from bridge.validation import UNSET

NOTIFICATION_LEVELS = ("default", "muted")
UNREAD_CAP = 1000  # Twilio caps unread_messages_count at 1000


def find_participation(
    session: Session, service: ConversationService, user: User, conversation_ref: str
) -> Participant:
    conversation = find_conversation(session, service, conversation_ref)
    found = session.scalar(
        select(Participant).where(Participant.conversation_id == conversation.id, Participant.identity == user.identity)
    )
    if found is None:
        raise not_found(f"User {user.identity} is not a participant of conversation {conversation.sid}")
    return found


def unread_counts(session: Session, participations: list[Participant]) -> dict[int, int | None]:
    """Messages after the participant's last read index; None when they never read anything (as Twilio)."""
    result: dict[int, int | None] = {}
    for participant in participations:
        if participant.last_read_message_index is None:
            result[participant.id] = None
            continue
        later = (
            select(Message.id)
            .where(
                Message.conversation_id == participant.conversation_id,
                Message.index > participant.last_read_message_index,
            )
            .limit(UNREAD_CAP)
            .subquery()
        )
        result[participant.id] = session.scalar(select(func.count()).select_from(later)) or 0
    return result


def update_participation(
    session: Session,
    participant: Participant,
    notification_level: str | object = UNSET,
    last_read_message_index: int | object | None = UNSET,
    last_read_timestamp: datetime | object = UNSET,
) -> Participant:
    if isinstance(notification_level, str):
        level = notification_level.strip().lower()
        if level not in NOTIFICATION_LEVELS:
            raise invalid("NotificationLevel must be default or muted")
        participant.notification_level = level
    if last_read_message_index is not UNSET:
        participant.last_read_message_index = last_read_message_index  # type: ignore[assignment]
        participant.last_read_timestamp = utcnow()
    if isinstance(last_read_timestamp, datetime):
        participant.last_read_timestamp = last_read_timestamp
    participant.date_updated = utcnow()
    session.flush()
    participants.record_update(session, participant)
    return participant
