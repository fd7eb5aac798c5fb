"""What a chat client may see: its own service, the conversations it takes part in (or created), its own
list of conversations, the profiles of its service's users, and media of the messages in its conversations or
uploaded by itself. Anything else is not found or forbidden."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge import errors
from bridge.access_tokens import ChatClient
from bridge.errors import BridgeError, not_found
from bridge.models import Conversation, ConversationService, Media, Message, Participant, User
from bridge.services import find_service
from bridge.sids import is_sid

FORBIDDEN = 20403  # Twilio's "forbidden" code, with HTTP 403
SYNC_NOT_FOUND = 54100  # Sync's "object not found"


def forbidden(message: str) -> BridgeError:
    return BridgeError(FORBIDDEN, message, 403)


def sync_not_found(object_id: str) -> BridgeError:
    return BridgeError(SYNC_NOT_FOUND, f"Sync object {object_id} not found", 404)


@dataclass(frozen=True)
class Caller:
    """A verified chat client inside one request: its service row and identity."""

    service: ConversationService
    identity: str
    base_url: str  # the bridge's public URL: the links it hands out are under it (only media ones are dialled)


def caller_for(session: Session, client: ChatClient, base_url: str) -> Caller:
    return Caller(find_service(session, client.service_sid), client.identity, base_url)


def participation(session: Session, conversation: Conversation, identity: str) -> Participant | None:
    return session.scalar(
        select(Participant).where(Participant.conversation_id == conversation.id, Participant.identity == identity)
    )


def conversation_by_sid(session: Session, caller: Caller, conversation_sid: str) -> Conversation | None:
    if not is_sid(conversation_sid, "CH"):
        return None
    return session.scalar(
        select(Conversation).where(Conversation.sid == conversation_sid, Conversation.service_id == caller.service.id)
    )


def visible_conversation(session: Session, caller: Caller, conversation: Conversation | None) -> Conversation:
    """The conversation if the caller takes part in it or created it; 404 outside the service, 403 inside."""
    if conversation is None or conversation.service_id != caller.service.id:
        raise not_found("Conversation not found", errors.CONVERSATION_NOT_FOUND)
    if conversation.created_by == caller.identity or participation(session, conversation, caller.identity):
        return conversation
    raise forbidden(f"{caller.identity} is not a participant of conversation {conversation.sid}")


def user_by_sid(session: Session, caller: Caller, user_sid: str) -> User | None:
    if not is_sid(user_sid, "US"):
        return None
    return session.scalar(select(User).where(User.sid == user_sid, User.service_id == caller.service.id))


def user_by_identity(session: Session, caller: Caller, identity: str) -> User | None:
    return session.scalar(select(User).where(User.service_id == caller.service.id, User.identity == identity))


def visible_media(session: Session, caller: Caller, sids: list[str]) -> dict[str, Media]:
    """The media of the caller's service among `sids` that the caller may read, by SID: those attached to a
    message of a conversation it takes part in, and those it uploaded itself (not attached yet). Any other SID is
    missing from the answer, as one that does not exist. Two queries however many SIDs (a MediaSet asks for 100)."""
    wanted = [sid for sid in sids if is_sid(sid, "ME")]
    if not wanted:
        return {}
    rows = session.scalars(select(Media).where(Media.sid.in_(wanted), Media.service_id == caller.service.id)).all()
    message_ids = {media.message_id for media in rows if media.message_id is not None}
    joined: set[int] = set()
    if message_ids:
        joined = set(
            session.scalars(
                select(Message.id)
                .join(Participant, Participant.conversation_id == Message.conversation_id)
                .where(Message.id.in_(message_ids), Participant.identity == caller.identity)
            )
        )
    return {
        media.sid: media
        for media in rows
        if (media.message_id in joined if media.message_id is not None else media.author == caller.identity)
    }
