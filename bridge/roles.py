"""Roles: named permission sets, scoped to a service (users) or to a conversation (participants)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from bridge import errors
from bridge.errors import BridgeError, invalid, not_found
from bridge.models import ConversationService, Participant, Role, User
from bridge.sids import is_sid, new_sid

SERVICE = "service"
CONVERSATION = "conversation"

SERVICE_PERMISSIONS = frozenset(
    {
        "addParticipant",
        "createConversation",
        "deleteAnyMessage",
        "deleteConversation",
        "editAnyMessage",
        "editAnyMessageAttributes",
        "editAnyUserInfo",
        "editConversationAttributes",
        "editConversationName",
        "editOwnMessage",
        "editOwnMessageAttributes",
        "editOwnUserInfo",
        "joinConversation",
        "removeParticipant",
        "addNonChatParticipant",
        "editAnyParticipantAttributes",
        "editOwnParticipantAttributes",
        "editNotificationLevel",
    }
)
CONVERSATION_PERMISSIONS = frozenset(
    {
        "addParticipant",
        "deleteAnyMessage",
        "deleteOwnMessage",
        "deleteConversation",
        "editAnyMessage",
        "editAnyMessageAttributes",
        "editAnyUserInfo",
        "editConversationAttributes",
        "editConversationName",
        "editOwnMessage",
        "editOwnMessageAttributes",
        "editOwnUserInfo",
        "leaveConversation",
        "removeParticipant",
        "sendMediaMessage",
        "sendMessage",
        "addNonChatParticipant",
        "editAnyParticipantAttributes",
        "editOwnParticipantAttributes",
        "editNotificationLevel",
    }
)
PERMISSIONS = {SERVICE: SERVICE_PERMISSIONS, CONVERSATION: CONVERSATION_PERMISSIONS}

# The roles a new service starts with (Twilio's chat defaults, in Conversations' permission names).
DEFAULT_ROLES: dict[str, tuple[str, list[str]]] = {
    "service admin": (
        SERVICE,
        [
            "addParticipant",
            "createConversation",
            "deleteAnyMessage",
            "deleteConversation",
            "editAnyMessage",
            "editAnyMessageAttributes",
            "editAnyParticipantAttributes",
            "editAnyUserInfo",
            "editConversationAttributes",
            "editConversationName",
            "joinConversation",
            "removeParticipant",
        ],
    ),
    "service user": (SERVICE, ["createConversation", "editOwnUserInfo", "joinConversation"]),
    "channel admin": (
        CONVERSATION,
        [
            "addParticipant",
            "deleteAnyMessage",
            "deleteConversation",
            "editAnyMessage",
            "editAnyMessageAttributes",
            "editConversationAttributes",
            "editConversationName",
            "editOwnMessage",
            "editOwnMessageAttributes",
            "editOwnUserInfo",
            "leaveConversation",
            "removeParticipant",
            "sendMediaMessage",
            "sendMessage",
        ],
    ),
    "channel user": (
        CONVERSATION,
        [
            "deleteOwnMessage",
            "editOwnMessage",
            "editOwnMessageAttributes",
            "editOwnUserInfo",
            "leaveConversation",
            "sendMediaMessage",
            "sendMessage",
        ],
    ),
}


def _permissions(role_type: str, permissions: Iterable[str]) -> list[str]:
    allowed = PERMISSIONS[role_type]
    cleaned: list[str] = []
    for permission in permissions:
        if permission not in allowed:
            raise invalid(f"Permission {permission!r} is not valid for a {role_type} role")
        if permission not in cleaned:
            cleaned.append(permission)
    if not cleaned:
        raise invalid("Permission is required")
    return cleaned


def create_role(
    session: Session, service: ConversationService, friendly_name: str, role_type: str, permissions: list[str]
) -> Role:
    role_type = role_type.strip().lower()
    if role_type not in PERMISSIONS:
        raise invalid("Type must be 'conversation' or 'service'")
    if not friendly_name or len(friendly_name) > 64:
        raise invalid("FriendlyName is required and must be at most 64 characters")
    role = Role(
        sid=new_sid("RL"),
        service_id=service.id,
        friendly_name=friendly_name,
        type=role_type,
        permissions=_permissions(role_type, permissions),
    )
    session.add(role)
    session.flush()
    return role


def update_role(session: Session, role: Role, permissions: list[str]) -> Role:
    """Twilio's update replaces the whole permission set."""
    role.permissions = _permissions(role.type, permissions)
    session.flush()
    return role


def _role(session: Session, service: ConversationService, sid: str) -> Role | None:
    # Only an RL SID names a role; checking first also keeps path junk (NUL) off the database.
    if not is_sid(sid, "RL"):
        return None
    return session.scalar(select(Role).where(Role.service_id == service.id, Role.sid == sid))


def find_role(session: Session, service: ConversationService, sid: str) -> Role:
    role = _role(session, service, sid)
    if role is None:
        raise not_found(f"Role {sid} not found", errors.ROLE_NOT_FOUND)
    return role


def require_role(session: Session, service: ConversationService, sid: str, role_type: str) -> Role:
    """A role given as a parameter (`RoleSid`): it must exist in the service and have the right scope."""
    role = _role(session, service, sid)
    if role is None:
        raise invalid(f"Role {sid} not found", errors.ROLE_NOT_FOUND)
    if role.type != role_type:
        raise invalid(f"Role {sid} is a {role.type} role; a {role_type} role is required")
    return role


def delete_role(session: Session, service: ConversationService, role: Role) -> None:
    defaults = {
        service.default_chat_service_role_sid,
        service.default_conversation_role_sid,
        service.default_conversation_creator_role_sid,
    }
    if role.sid in defaults:
        raise BridgeError(errors.INVALID_PARAMETER, "A default role of the service cannot be deleted", 400)
    in_use = session.scalar(
        select(Participant.id).where(Participant.service_id == service.id, Participant.role_sid == role.sid).limit(1)
    ) or session.scalar(select(User.id).where(User.service_id == service.id, User.role_sid == role.sid).limit(1))
    if in_use:
        raise BridgeError(errors.INVALID_PARAMETER, "The role is assigned to users or participants", 400)
    session.delete(role)
    session.flush()


def roles_query(service: ConversationService) -> Select[tuple[Role]]:
    return select(Role).where(Role.service_id == service.id)
