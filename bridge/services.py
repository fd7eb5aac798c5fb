"""Conversation Services (`IS`): fully isolated containers, each created with its default roles."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from bridge import roles
from bridge.errors import invalid, not_found
from bridge.hooks import targets
from bridge.models import AccountConfiguration, AddressConfiguration, ConversationService, WebhookSettings
from bridge.sids import is_sid, new_sid
from bridge.validation import UNSET, text


def create_service(session: Session, friendly_name: str) -> ConversationService:
    if not friendly_name or not friendly_name.strip():
        raise invalid("FriendlyName is required")
    service = ConversationService(sid=new_sid("IS"), friendly_name=text(friendly_name, "FriendlyName", 256))
    # The account's webhook settings apply to a new service until it has its own.
    account = session.scalar(select(WebhookSettings).where(WebhookSettings.service_id.is_(None)))
    service.pre_webhooks, service.post_webhooks = targets.flags_of(account, None)
    session.add(service)
    session.flush()
    created = {
        name: roles.create_role(session, service, name, role_type, list(permissions))
        for name, (role_type, permissions) in roles.DEFAULT_ROLES.items()
    }
    service.default_chat_service_role_sid = created["service user"].sid
    service.default_conversation_role_sid = created["channel user"].sid
    service.default_conversation_creator_role_sid = created["channel admin"].sid
    session.flush()
    return service


def find_service(session: Session, sid: str) -> ConversationService:
    # Anything but an IS SID names no service; checking first also keeps path junk (NUL) off the database.
    query = select(ConversationService).where(ConversationService.sid == sid)
    service = session.scalar(query) if is_sid(sid, "IS") else None
    if service is None:
        raise not_found(f"Conversation Service {sid} not found")
    return service


def delete_service(session: Session, service: ConversationService) -> None:
    """Deletes the service and, through the database's cascades, everything in it."""
    config = session.get(AccountConfiguration, 1)
    if config is not None and config.default_chat_service_id == service.id:
        raise invalid("The account's default Conversation Service cannot be deleted; choose another default first")
    _stop_autocreation_into(session, service)
    session.delete(service)
    session.flush()


def _stop_autocreation_into(session: Session, service: ConversationService) -> None:
    """Address configurations that autocreate into the service stop doing so (chosen: no silent fallback
    into another service); the dangling SID goes too, so later updates of them still validate."""
    named = AddressConfiguration.auto_creation["conversation_service_sid"].as_string() == service.sid
    for found in session.scalars(select(AddressConfiguration).where(named)):
        kept = {key: value for key, value in found.auto_creation.items() if key != "conversation_service_sid"}
        found.auto_creation = {**kept, "enabled": False}


def update_service_configuration(
    session: Session,
    service: ConversationService,
    default_conversation_creator_role_sid: str | object = UNSET,
    default_conversation_role_sid: str | object = UNSET,
    default_chat_service_role_sid: str | object = UNSET,
    reachability_enabled: bool | object = UNSET,
    attribution_enabled: bool | object = UNSET,
    keyword_messages_visible: bool | object = UNSET,
) -> ConversationService:
    if isinstance(default_conversation_creator_role_sid, str):
        role = roles.require_role(session, service, default_conversation_creator_role_sid, roles.CONVERSATION)
        service.default_conversation_creator_role_sid = role.sid
    if isinstance(default_conversation_role_sid, str):
        role = roles.require_role(session, service, default_conversation_role_sid, roles.CONVERSATION)
        service.default_conversation_role_sid = role.sid
    if isinstance(default_chat_service_role_sid, str):
        role = roles.require_role(session, service, default_chat_service_role_sid, roles.SERVICE)
        service.default_chat_service_role_sid = role.sid
    if isinstance(reachability_enabled, bool):
        service.reachability_enabled = reachability_enabled
    if isinstance(attribution_enabled, bool):
        service.attribution_enabled = attribution_enabled
    if isinstance(keyword_messages_visible, bool):
        service.keyword_messages_visible = keyword_messages_visible
    session.flush()
    return service


def services_query() -> Select[tuple[ConversationService]]:
    return select(ConversationService)
