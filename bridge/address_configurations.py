"""Address Configurations (`IG`): per-address inbound settings, such as conversation autocreation."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bridge import errors
from bridge.addresses import SMS, WHATSAPP, AddressError, parse_address
from bridge.errors import conflict, invalid, not_found
from bridge.models import AddressConfiguration
from bridge.services import find_service
from bridge.sids import is_sid, new_sid
from bridge.validation import FRIENDLY_NAME_LIMIT, text, url

# The channels this bridge routes; Twilio's other types (messenger, gbm, email, rcs, apple, chat) are refused.
TYPES = (SMS, WHATSAPP)
AUTO_CREATION_TYPES = ("default", "webhook")
WEBHOOK_FILTERS = (
    "onMessageAdded",
    "onMessageUpdated",
    "onMessageRemoved",
    "onConversationUpdated",
    "onConversationStateUpdated",
    "onConversationRemoved",
    "onParticipantAdded",
    "onParticipantUpdated",
    "onParticipantRemoved",
    "onDeliveryUpdated",
)
ADDRESS_CONFIGURATION_EXISTS = 50511  # chosen: the address already has a configuration


def _address(raw_type: str, raw_address: str) -> tuple[str, str]:
    kind = raw_type.strip().lower()
    if kind not in TYPES:
        raise invalid(f"Type must be one of {', '.join(TYPES)}")
    candidate = raw_address.strip()
    if kind == WHATSAPP and not candidate.lower().startswith("whatsapp:"):
        candidate = f"whatsapp:{candidate}"
    try:
        address = parse_address(candidate)
    except AddressError as exc:
        raise invalid(f"Invalid Address: {exc}", errors.INVALID_ADDRESS) from None
    if address.channel != kind:
        raise invalid(f"Address is a {address.channel} address but Type is {kind}", errors.INVALID_ADDRESS)
    return kind, str(address)


def _auto_creation(session: Session, current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(current)
    merged.update({key: value for key, value in changes.items() if value is not None})
    kind = str(merged.get("type") or "default").lower()
    if kind not in AUTO_CREATION_TYPES:
        raise invalid("AutoCreation.Type must be default or webhook (Studio flows are not supported)")
    merged["type"] = kind
    merged["enabled"] = bool(merged.get("enabled", False))
    service_sid = merged.get("conversation_service_sid")
    if service_sid:
        try:
            find_service(session, service_sid)
        except errors.BridgeError:
            raise invalid(f"Conversation Service {service_sid} not found") from None
    method = merged.get("webhook_method")
    if method is not None:
        merged["webhook_method"] = str(method).upper()
        if merged["webhook_method"] not in ("GET", "POST"):
            raise invalid("AutoCreation.WebhookMethod must be GET or POST")
    if merged.get("webhook_url"):
        url(merged["webhook_url"], "AutoCreation.WebhookUrl")
    for name in merged.get("webhook_filters") or []:
        if name not in WEBHOOK_FILTERS:
            raise invalid(f"AutoCreation.WebhookFilters: unknown event {name!r}")
    if kind == "webhook" and merged["enabled"] and not merged.get("webhook_url"):
        raise invalid("AutoCreation.WebhookUrl is required when AutoCreation.Type is webhook")
    return merged


def _country(raw: str | None) -> str | None:
    """AddressCountry: an ISO 3166-1 alpha-2 code (`US`), as Twilio documents it."""
    if raw is None:
        return None
    code = raw.strip().upper()
    if len(code) != 2 or not (code.isascii() and code.isalpha()):
        raise invalid("AddressCountry must be an ISO 3166-1 alpha-2 country code such as US")
    return code


def create_address_configuration(
    session: Session,
    raw_type: str,
    raw_address: str,
    friendly_name: str | None,
    auto_creation: dict[str, Any],
    address_country: str | None,
) -> AddressConfiguration:
    kind, address = _address(raw_type, raw_address)
    found = AddressConfiguration(
        sid=new_sid("IG"),
        type=kind,
        address=address,
        friendly_name=text(friendly_name, "FriendlyName", FRIENDLY_NAME_LIMIT) if friendly_name else None,
        auto_creation=_auto_creation(session, {}, auto_creation),
        address_country=_country(address_country),
    )
    session.add(found)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise conflict(f"{address} already has an address configuration", ADDRESS_CONFIGURATION_EXISTS) from None
    return found


def update_address_configuration(
    session: Session, found: AddressConfiguration, friendly_name: str | None, auto_creation: dict[str, Any]
) -> AddressConfiguration:
    if friendly_name is not None:
        found.friendly_name = text(friendly_name, "FriendlyName", FRIENDLY_NAME_LIMIT) or None
    found.auto_creation = _auto_creation(session, found.auto_creation or {}, auto_creation)
    session.flush()
    return found


def find_address_configuration(session: Session, sid_or_address: str) -> AddressConfiguration:
    if is_sid(sid_or_address, "IG"):
        condition = AddressConfiguration.sid == sid_or_address
    else:
        try:
            condition = AddressConfiguration.address == str(parse_address(sid_or_address))
        except AddressError:
            raise not_found(f"Address configuration {sid_or_address} not found") from None
    found = session.scalar(select(AddressConfiguration).where(condition))
    if found is None:
        raise not_found(f"Address configuration {sid_or_address} not found")
    return found


def for_address(session: Session, address: str) -> AddressConfiguration | None:
    return session.scalar(select(AddressConfiguration).where(AddressConfiguration.address == address))


def delete_address_configuration(session: Session, found: AddressConfiguration) -> None:
    session.delete(found)
    session.flush()


def address_configurations_query(kind: str | None) -> Select[tuple[AddressConfiguration]]:
    query = select(AddressConfiguration)
    if kind:
        query = query.where(AddressConfiguration.type == kind.strip().lower())
    return query
