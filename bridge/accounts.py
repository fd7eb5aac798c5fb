"""The account: its configuration singleton, the defaults that exist from the first start, and API keys."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bridge import services as conversation_services
from bridge.errors import invalid, not_found
from bridge.models import AccountConfiguration, ApiKey, ConversationService, MessagingService
from bridge.sids import is_sid, new_sid
from bridge.validation import UNSET, timer

CONFIGURATION_ID = 1
DEFAULT_SERVICE_NAME = "Default Conversations Service"
DEFAULT_MESSAGING_SERVICE_NAME = "Default Conversations Messaging Service"


def configuration(session: Session) -> AccountConfiguration:
    found = session.get(AccountConfiguration, CONFIGURATION_ID)
    if found is None:
        raise RuntimeError("account configuration missing: run `bridge migrate`")
    return found


def ensure_defaults(session: Session) -> AccountConfiguration:
    """Create the configuration row, the default Conversation Service and Messaging Service if missing.

    Safe to run from several processes at once: the configuration row has a fixed primary key, so a
    second creator fails on the insert and reads the winner's row instead.
    """
    found = session.get(AccountConfiguration, CONFIGURATION_ID)
    if found is not None and found.default_chat_service_id and found.default_messaging_service_id:
        return found
    try:
        with session.begin_nested():
            if found is None:
                found = AccountConfiguration(id=CONFIGURATION_ID)
                session.add(found)
            if not found.default_chat_service_id:
                service = conversation_services.create_service(session, DEFAULT_SERVICE_NAME)
                found.default_chat_service = service
            if not found.default_messaging_service_id:
                found.default_messaging_service = MessagingService(
                    sid=new_sid("MG"), friendly_name=DEFAULT_MESSAGING_SERVICE_NAME
                )
            session.flush()
    except IntegrityError:
        session.expire_all()
        found = session.get(AccountConfiguration, CONFIGURATION_ID)
        if found is None:
            raise
    return found


def default_service(session: Session) -> ConversationService:
    service = configuration(session).default_chat_service
    if service is None:
        raise not_found("The account has no default Conversation Service")
    return service


def update_configuration(
    session: Session,
    default_chat_service_sid: str | object = UNSET,
    default_messaging_service_sid: str | object = UNSET,
    default_inactive_timer: str | object = UNSET,
    default_closed_timer: str | object = UNSET,
) -> AccountConfiguration:
    config = configuration(session)
    if isinstance(default_chat_service_sid, str):
        service = session.scalar(select(ConversationService).where(ConversationService.sid == default_chat_service_sid))
        if service is None:
            raise invalid(f"Conversation Service {default_chat_service_sid} not found")
        config.default_chat_service = service
    if isinstance(default_messaging_service_sid, str):
        messaging = session.scalar(
            select(MessagingService).where(MessagingService.sid == default_messaging_service_sid)
        )
        if messaging is None:
            raise invalid(f"Messaging Service {default_messaging_service_sid} not found")
        config.default_messaging_service = messaging
    if isinstance(default_inactive_timer, str):
        config.default_inactive_timer = timer(default_inactive_timer, "DefaultInactiveTimer", timedelta(minutes=1))
    if isinstance(default_closed_timer, str):
        config.default_closed_timer = timer(default_closed_timer, "DefaultClosedTimer", timedelta(minutes=10))
    session.flush()
    return config


TOKEN_KEY_NAME = "bridge token"


def create_api_key(session: Session, friendly_name: str | None = None) -> ApiKey:
    key = ApiKey(sid=new_sid("SK"), friendly_name=friendly_name, secret=secrets.token_urlsafe(32))
    session.add(key)
    session.flush()
    return key


def revoke_api_key(session: Session, key_sid: str) -> bool:
    """Deletes the key: its secret no longer authenticates, and tokens it signed are refused. False: no such key."""
    key = session.scalar(select(ApiKey).where(ApiKey.sid == key_sid)) if is_sid(key_sid, "SK") else None
    if key is None:
        return False
    session.delete(key)
    session.flush()
    return True


def token_key(session: Session) -> ApiKey:
    """The key `bridge token` signs with: made on first use, so trying a chat client needs no setup."""
    found = session.scalar(select(ApiKey).where(ApiKey.friendly_name == TOKEN_KEY_NAME).order_by(ApiKey.id.desc()))
    return found if found is not None else create_api_key(session, TOKEN_KEY_NAME)


def api_key_secret(session: Session, key_sid: str) -> str | None:
    if not is_sid(key_sid, "SK"):
        return None
    return session.scalar(select(ApiKey.secret).where(ApiKey.sid == key_sid))
