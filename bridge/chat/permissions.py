"""Which permission a chat client's action needs, and whether the caller's roles grant it.

A client action is checked against two roles, as Twilio's chat permissions are: the conversation role of the
caller's participant (`Participant.role_sid`) and the service role of the caller's user (`User.role_sid`, or the
service's default user role when the identity has no user yet). A permission in either role grants the action:
the service scope is where Twilio puts the service-wide rights (an admin's `deleteAnyMessage` in every
conversation), the conversation scope is where it puts the rights of a participant in one conversation.
REST never comes here: the account's credentials may do anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.errors import BridgeError
from bridge.models import ConversationService, Participant, Role, User

NOT_AUTHORIZED = 50107  # Twilio's "User not authorized for command", answered with HTTP 403


class Action(Enum):
    CREATE_CONVERSATION = "create conversation"
    JOIN_CONVERSATION = "join conversation"
    LEAVE_CONVERSATION = "leave conversation"
    ADD_PARTICIPANT = "add participant"
    ADD_NON_CHAT_PARTICIPANT = "add SMS or WhatsApp participant"
    REMOVE_PARTICIPANT = "remove participant"
    SEND_MESSAGE = "send message"
    SEND_MEDIA_MESSAGE = "send media message"
    EDIT_MESSAGE = "edit message"
    EDIT_MESSAGE_ATTRIBUTES = "edit message attributes"
    DELETE_MESSAGE = "delete message"
    EDIT_CONVERSATION_NAME = "edit conversation name"
    EDIT_CONVERSATION_ATTRIBUTES = "edit conversation attributes"
    DELETE_CONVERSATION = "delete conversation"
    EDIT_USER_INFO = "edit user info"


@dataclass(frozen=True)
class Needs:
    """The permission an action needs on the caller's own object, and on anyone's (None: same as own).
    The permission on anyone's covers the caller's own too (an admin may edit its own messages)."""

    own: str
    any: str | None = None

    def permissions(self, own: bool) -> tuple[str, ...]:
        """The permissions any one of which grants the action."""
        if self.any is None:
            return (self.own,)
        return (self.own, self.any) if own else (self.any,)


# The one table of what each client action needs (Twilio's permission names, reference §3.4). Unique names are
# renamed under editConversationName, and an SMS/WhatsApp participant is added under addParticipant: Twilio
# documents no permission of their own for either in Conversations.
REQUIRED: dict[Action, Needs] = {
    Action.CREATE_CONVERSATION: Needs("createConversation"),
    Action.JOIN_CONVERSATION: Needs("joinConversation"),
    Action.LEAVE_CONVERSATION: Needs("leaveConversation"),
    Action.ADD_PARTICIPANT: Needs("addParticipant"),
    Action.ADD_NON_CHAT_PARTICIPANT: Needs("addParticipant"),
    Action.REMOVE_PARTICIPANT: Needs("removeParticipant"),
    Action.SEND_MESSAGE: Needs("sendMessage"),
    Action.SEND_MEDIA_MESSAGE: Needs("sendMediaMessage"),
    Action.EDIT_MESSAGE: Needs("editOwnMessage", "editAnyMessage"),
    Action.EDIT_MESSAGE_ATTRIBUTES: Needs("editOwnMessageAttributes", "editAnyMessageAttributes"),
    Action.DELETE_MESSAGE: Needs("deleteOwnMessage", "deleteAnyMessage"),
    Action.EDIT_CONVERSATION_NAME: Needs("editConversationName"),
    Action.EDIT_CONVERSATION_ATTRIBUTES: Needs("editConversationAttributes"),
    Action.DELETE_CONVERSATION: Needs("deleteConversation"),
    Action.EDIT_USER_INFO: Needs("editOwnUserInfo", "editAnyUserInfo"),
}


def granting_permissions(action: Action, own: bool = True) -> tuple[str, ...]:
    return REQUIRED[action].permissions(own)


def granted(action: Action, own: bool, service_permissions: list[str], conversation_permissions: list[str]) -> bool:
    held = set(service_permissions) | set(conversation_permissions)
    return any(permission in held for permission in granting_permissions(action, own))


def not_authorized(permission: str) -> BridgeError:
    return BridgeError(NOT_AUTHORIZED, f"User unauthorized for command: the role lacks {permission}", 403)


def _permissions_of(session: Session, service: ConversationService, role_sid: str | None) -> list[str]:
    if not role_sid:
        return []
    role = session.scalar(select(Role).where(Role.service_id == service.id, Role.sid == role_sid))
    return list(role.permissions) if role is not None else []


def service_permissions(session: Session, service: ConversationService, identity: str) -> list[str]:
    user = session.scalar(select(User).where(User.service_id == service.id, User.identity == identity))
    role_sid = user.role_sid if user is not None and user.role_sid else service.default_chat_service_role_sid
    return _permissions_of(session, service, role_sid)


def require(
    session: Session,
    service: ConversationService,
    identity: str,
    participant: Participant | None,
    action: Action,
    own: bool = True,
) -> None:
    """Raises Twilio's 50107 unless the identity's service role or its participant's role grants the action."""
    in_conversation = _permissions_of(session, service, participant.role_sid) if participant is not None else []
    if not granted(action, own, service_permissions(session, service, identity), in_conversation):
        raise not_authorized(granting_permissions(action, own)[-1])
