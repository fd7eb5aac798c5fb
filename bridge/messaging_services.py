"""Messaging Services (`MG`) and their sender pools (`PN`): the addresses the bridge sends from."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bridge import accounts
from bridge.addresses import AddressError, parse_address, region_of
from bridge.errors import BridgeError, invalid, not_found
from bridge.models import AccountConfiguration, Conversation, MessagingService, Sender
from bridge.sids import is_sid, new_sid
from bridge.validation import text, url


def effective_messaging_service(session: Session, conversation: Conversation) -> MessagingService | None:
    """The conversation's own messaging service, or the account default when it has none."""
    if conversation.messaging_service is not None:
        return conversation.messaging_service
    return accounts.configuration(session).default_messaging_service


SENDER_EXISTS = 21710  # Twilio: "Phone Number is already in the Messaging Service"
SENDER_IN_OTHER_POOL = 21712  # Twilio: "Phone Number is associated with another Messaging Service"

# Request parameter -> column, with how to read it. Booleans arrive already parsed by the edge.
SETTINGS: dict[str, str] = {
    "FriendlyName": "friendly_name",
    "InboundRequestUrl": "inbound_request_url",
    "InboundMethod": "inbound_method",
    "FallbackUrl": "fallback_url",
    "FallbackMethod": "fallback_method",
    "StatusCallback": "status_callback",
    "StickySender": "sticky_sender",
    "MmsConverter": "mms_converter",
    "SmartEncoding": "smart_encoding",
    "ScanMessageContent": "scan_message_content",
    "FallbackToLongCode": "fallback_to_long_code",
    "AreaCodeGeomatch": "area_code_geomatch",
    "ValidityPeriod": "validity_period",
    "SynchronousValidation": "synchronous_validation",
    "Usecase": "usecase",
    "UseInboundWebhookOnNumber": "use_inbound_webhook_on_number",
    "HelpText": "help_text",  # bridge: the reply to HELP/INFO (unset: the carrier answers HELP)
}
HELP_TEXT_LIMIT = 1600
METHODS = ("GET", "POST")
URL_COLUMNS = ("inbound_request_url", "fallback_url", "status_callback")
# Twilio's documented values; anything else would also overflow the 64-character column.
USECASES = ("notifications", "marketing", "verification", "discussion", "poll", "undeclared")


def _apply(service: MessagingService, changes: dict[str, Any]) -> None:
    for column, value in changes.items():
        if column in URL_COLUMNS:
            value = url(value, column) if value else None  # sent empty: cleared
        if column == "help_text":
            value = text(value, "HelpText", HELP_TEXT_LIMIT) or None  # sent empty: cleared
        if column == "usecase" and value not in USECASES:
            raise invalid(f"Usecase must be one of {', '.join(USECASES)}")
        if column == "friendly_name":
            if not value:
                raise invalid("FriendlyName is required")
            value = text(value, "FriendlyName", 64)
        if column in ("inbound_method", "fallback_method"):
            value = str(value).upper()
            if value not in METHODS:
                raise invalid(f"{column} must be GET or POST")
        if column == "validity_period" and not 1 <= int(value) <= 36000:
            raise invalid("ValidityPeriod must be between 1 and 36000 seconds")
        if column == "scan_message_content" and value not in ("inherit", "enable", "disable"):
            raise invalid("ScanMessageContent must be inherit, enable or disable")
        setattr(service, column, value)


def create_messaging_service(session: Session, changes: dict[str, Any]) -> MessagingService:
    if not changes.get("friendly_name"):
        raise invalid("FriendlyName is required")
    service = MessagingService(sid=new_sid("MG"))
    _apply(service, changes)
    session.add(service)
    session.flush()
    return service


def update_messaging_service(session: Session, service: MessagingService, changes: dict[str, Any]) -> None:
    _apply(service, changes)
    session.flush()


def find_messaging_service(session: Session, sid: str) -> MessagingService:
    # Only an MG SID names a service; checking first also keeps path junk (NUL) off the database.
    query = select(MessagingService).where(MessagingService.sid == sid)
    service = session.scalar(query) if is_sid(sid, "MG") else None
    if service is None:
        raise not_found(f"Messaging Service {sid} not found")
    return service


def delete_messaging_service(session: Session, service: MessagingService) -> None:
    config = session.get(AccountConfiguration, 1)
    if config is not None and config.default_messaging_service_id == service.id:
        raise invalid("The account's default Messaging Service cannot be deleted; choose another default first")
    session.delete(service)
    session.flush()


def add_sender(session: Session, service: MessagingService, raw_address: str) -> Sender:
    """Adds `+E164` (SMS/MMS) or `whatsapp:+E164` to the pool. An address belongs to one pool only."""
    try:
        address = parse_address(raw_address)
    except AddressError as exc:
        raise invalid(f"PhoneNumber is not a valid sender address: {exc}", 21421) from None
    sender = Sender(
        sid=new_sid("PN"),
        messaging_service_id=service.id,
        address=str(address),
        channel=address.channel,
        country_code=region_of(address),
    )
    try:
        with session.begin_nested():
            session.add(sender)
            session.flush()
    except IntegrityError:
        holder = session.scalar(select(Sender.messaging_service_id).where(Sender.address == str(address)))
        if holder == service.id:
            raise BridgeError(SENDER_EXISTS, f"{address} is already in this Messaging Service", 409) from None
        raise BridgeError(
            SENDER_IN_OTHER_POOL, f"{address} is associated with another Messaging Service", 409
        ) from None
    return sender


def find_sender(session: Session, service: MessagingService, sid_or_address: str) -> Sender:
    if is_sid(sid_or_address, "PN"):
        condition = Sender.sid == sid_or_address
    else:
        try:
            condition = Sender.address == str(parse_address(sid_or_address))
        except AddressError:
            raise not_found(f"Phone number {sid_or_address} not found") from None
    sender = session.scalar(select(Sender).where(Sender.messaging_service_id == service.id, condition))
    if sender is None:
        raise not_found(f"Phone number {sid_or_address} not found")
    return sender


def remove_sender(session: Session, sender: Sender) -> None:
    session.delete(sender)
    session.flush()


def sender_in_pool(session: Session, service: MessagingService, address: str) -> Sender | None:
    return session.scalar(select(Sender).where(Sender.messaging_service_id == service.id, Sender.address == address))


def messaging_services_query() -> Select[tuple[MessagingService]]:
    return select(MessagingService)


def senders_query(service: MessagingService) -> Select[tuple[Sender]]:
    return select(Sender).where(Sender.messaging_service_id == service.id)
