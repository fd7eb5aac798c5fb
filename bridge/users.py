"""Users (`US`): chat identities of a service, with a service-scoped role."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bridge import errors, event_fields, events, roles
from bridge.errors import conflict, invalid, not_found
from bridge.models import ConversationService, User
from bridge.push import bindings
from bridge.sids import is_sid, new_sid
from bridge.validation import UNSET, USER_ATTRIBUTES_LIMIT, attributes, text


def _identity(raw: str) -> str:
    if not raw:
        raise invalid("Identity is required")
    return text(raw, "Identity", 256, errors.IDENTITY_TOO_LONG)


def create_user(
    session: Session,
    service: ConversationService,
    identity: str,
    friendly_name: str | None = None,
    attributes_json: str | None = None,
    role_sid: str | None = None,
) -> User:
    identity = _identity(identity)
    role = role_sid or service.default_chat_service_role_sid
    if role_sid:
        roles.require_role(session, service, role_sid, roles.SERVICE)
    user = User(
        sid=new_sid("US"),
        service_id=service.id,
        identity=identity,
        friendly_name=text(friendly_name, "FriendlyName", 256) if friendly_name is not None else None,
        attributes=attributes(attributes_json, USER_ATTRIBUTES_LIMIT) if attributes_json else "{}",
        role_sid=role,
    )
    try:
        with session.begin_nested():
            session.add(user)
            session.flush()
    except IntegrityError:
        raise conflict(f"User with identity {identity!r} already exists", errors.USER_EXISTS) from None
    events.user_event(session, user, service, events.USER_ADDED, event_fields.user_fields(user, service.sid))
    return user


def ensure_user(session: Session, service: ConversationService, identity: str) -> User:
    """The user behind a chat participant: found, or created as Twilio does when an identity joins."""
    found = session.scalar(select(User).where(User.service_id == service.id, User.identity == identity))
    if found is not None:
        return found
    try:
        return create_user(session, service, identity)
    except errors.BridgeError:
        # Another request created it between our read and our insert.
        existing = session.scalar(select(User).where(User.service_id == service.id, User.identity == identity))
        if existing is None:
            raise
        return existing


def record_membership(
    session: Session, service: ConversationService, identity: str, conversation_sid: str, change: str
) -> None:
    """A change of one of the user's participations, numbered in the user's own stream too: their chat clients'
    list of conversations (which spans conversations) follows that stream."""
    user = session.scalar(select(User).where(User.service_id == service.id, User.identity == identity))
    if user is not None:
        events.membership_event(session, user, service, conversation_sid, change)


def find_user(session: Session, service: ConversationService, sid_or_identity: str) -> User:
    column = User.sid if is_sid(sid_or_identity, "US") else User.identity
    # No identity holds a NUL (the edge refuses them), and PostgreSQL would fail on one: answer without asking.
    query = select(User).where(User.service_id == service.id, column == sid_or_identity)
    user = None if "\x00" in sid_or_identity else session.scalar(query)
    if user is None:
        raise not_found(f"User {sid_or_identity} not found")
    return user


def update_user(
    session: Session,
    service: ConversationService,
    user: User,
    friendly_name: str | object = UNSET,
    attributes_json: str | object = UNSET,
    role_sid: str | object = UNSET,
) -> User:
    if isinstance(friendly_name, str):
        user.friendly_name = text(friendly_name, "FriendlyName", 256)
    if isinstance(attributes_json, str):
        user.attributes = attributes(attributes_json or "{}", USER_ATTRIBUTES_LIMIT)
    if isinstance(role_sid, str):
        user.role_sid = roles.require_role(session, service, role_sid, roles.SERVICE).sid
    session.flush()
    events.user_event(session, user, service, events.USER_UPDATED, event_fields.user_fields(user, service.sid))
    return user


def delete_user(session: Session, user: User) -> None:
    bindings.remove_identity(session, user.service_id, user.identity)  # its devices stop receiving pushes
    session.delete(user)
    session.flush()


def users_query(service: ConversationService) -> Select[tuple[User]]:
    return select(User).where(User.service_id == service.id)
