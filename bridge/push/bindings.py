"""Push bindings (`BS`): the devices a service's users registered for push.

Made by the SDK's `setPushRegistrationId` (the gateway's push registry, `bridge/chat/registrations.py`), listed,
fetched and deleted over REST (`/v1/Services/{IS}/Bindings`). A device token is bound once per service and
channel: registering it again (a new token life, or another identity signed in on the same device) updates that
one row, so a token that moves to another user stops reaching the first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Select, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bridge.errors import invalid, not_found
from bridge.models import ConversationService, PushBinding
from bridge.sids import is_sid, new_sid

# What REST filters and shows; the SDK registers fcm and apn, gcm is Android's legacy channel. (`twilsock` is a
# type of Twilio's own for pushes down the open socket; the bridge never makes such a binding.)
BINDING_TYPES = ("apn", "gcm", "fcm", "twilsock")
REGISTRABLE_TYPES = ("apn", "gcm", "fcm")
ADDRESS_LIMIT = 512
ENDPOINT_LIMIT = 256
PLATFORM_LIMIT = 128  # the SDK cuts its endpoint_platform (a browser's user agent) to 128 characters

# The SDK subscribes to full type names; REST shows the Conversations ones without their prefix (Twilio's
# example: ["removed_from_conversation","new_message","added_to_conversation"]) and not the typing or
# read-horizon types, which are not pushed by a service's settings.
MESSAGE_TYPE_PREFIX = "twilio.conversations."
PUSHED_MESSAGE_TYPES = ("new_message", "added_to_conversation", "removed_from_conversation")


@dataclass(frozen=True)
class Registration:
    """One device's registration, as the SDK's push registry request carries it."""

    binding_type: str
    address: str  # the FCM or APNs device token
    message_types: Sequence[str]
    endpoint_platform: str = "web"


def short_message_types(names: Iterable[str]) -> list[str]:
    """`twilio.conversations.new_message` -> `new_message`, kept only for the types a service pushes, in order."""
    kept: list[str] = []
    for name in names:
        short = name.removeprefix(MESSAGE_TYPE_PREFIX)
        if short in PUSHED_MESSAGE_TYPES and short not in kept:
            kept.append(short)
    return kept


def endpoint_of(identity: str, registration: Registration) -> str:
    """Twilio documents only that the format "depends on the binding_type" (its example: `TestUser-endpoint`).
    The bridge writes `<identity>-<platform>-<binding_type>-<12 hex of the token's SHA-256>`: stable for a device,
    distinct between devices, and without the token itself (which REST never shows)."""
    digest = hashlib.sha256(registration.address.encode()).hexdigest()[:12]
    suffix = f"-{registration.endpoint_platform}-{registration.binding_type}-{digest}"
    return identity[: ENDPOINT_LIMIT - len(suffix)] + suffix


def _checked(registration: Registration) -> Registration:
    if registration.binding_type not in REGISTRABLE_TYPES:
        raise invalid(f"binding_type must be one of {', '.join(REGISTRABLE_TYPES)}")
    if not registration.address or len(registration.address) > ADDRESS_LIMIT:
        raise invalid(f"The device token must be 1 to {ADDRESS_LIMIT} characters")
    return Registration(
        binding_type=registration.binding_type,
        address=registration.address,
        message_types=short_message_types(registration.message_types),
        endpoint_platform=(registration.endpoint_platform or "unknown")[:PLATFORM_LIMIT],
    )


def _by_address(session: Session, service: ConversationService, binding_type: str, address: str) -> PushBinding | None:
    return session.scalar(
        select(PushBinding).where(
            PushBinding.service_id == service.id,
            PushBinding.binding_type == binding_type,
            PushBinding.address == address,
        )
    )


def register(
    session: Session,
    service: ConversationService,
    identity: str,
    credential_sid: str | None,
    registration: Registration,
) -> PushBinding:
    """Binds the device to `identity`: a new binding, or the one its token already has in the service, updated
    (its identity, credential and types are the latest registration's)."""
    registration = _checked(registration)
    for _ in range(2):
        binding = _by_address(session, service, registration.binding_type, registration.address)
        if binding is None:
            binding = PushBinding(
                sid=new_sid("BS"),
                service_id=service.id,
                binding_type=registration.binding_type,
                address=registration.address,
            )
        _describe(binding, identity, credential_sid, registration)
        try:
            with session.begin_nested():
                session.add(binding)
                session.flush()
            return binding
        except IntegrityError:
            continue  # the same token registered at the same moment by another request: update that one
    raise invalid("The device token is being registered by another request; try again")


def _describe(binding: PushBinding, identity: str, credential_sid: str | None, registration: Registration) -> None:
    binding.identity = identity
    binding.credential_sid = credential_sid if is_sid(credential_sid, "CR") else None
    binding.message_types = list(registration.message_types)
    binding.endpoint = endpoint_of(identity, registration)


def unregister(session: Session, service: ConversationService, identity: str, binding_sid: str) -> bool:
    """Removes one of `identity`'s bindings by its SID (the id the registry's POST answered with). A binding
    that has since moved to another identity, or is gone, is left alone: False."""
    if not is_sid(binding_sid, "BS"):
        return False
    result = session.execute(
        delete(PushBinding).where(
            PushBinding.service_id == service.id, PushBinding.sid == binding_sid, PushBinding.identity == identity
        )
    )
    return bool(result.rowcount)


def unregister_address(
    session: Session, service: ConversationService, identity: str, binding_type: str, address: str
) -> bool:
    """Removes `identity`'s binding of this device token (the SDK's `removePushRegistrations`)."""
    if binding_type not in REGISTRABLE_TYPES:
        raise invalid(f"binding_type must be one of {', '.join(REGISTRABLE_TYPES)}")
    if not address or len(address) > ADDRESS_LIMIT:
        raise invalid(f"address must be 1 to {ADDRESS_LIMIT} characters")
    result = session.execute(
        delete(PushBinding).where(
            PushBinding.service_id == service.id,
            PushBinding.binding_type == binding_type,
            PushBinding.address == address,
            PushBinding.identity == identity,
        )
    )
    return bool(result.rowcount)


def remove_identity(session: Session, service_id: int, identity: str) -> None:
    """A deleted user's devices are no longer bound (a binding names its user by identity, not by key)."""
    session.execute(delete(PushBinding).where(PushBinding.service_id == service_id, PushBinding.identity == identity))


def is_notifiable(session: Session, service: ConversationService, identity: str) -> bool:
    """A User's `is_notifiable`: whether any device of theirs is registered for push in the service."""
    query = select(PushBinding.id).where(PushBinding.service_id == service.id, PushBinding.identity == identity)
    return session.scalar(query.limit(1)) is not None


def bindings_query(
    service: ConversationService, binding_types: Sequence[str] = (), identities: Sequence[str] = ()
) -> Select[tuple[PushBinding]]:
    """The service's bindings, filtered as REST's `BindingType` and `Identity` (each repeatable, any of them)."""
    for binding_type in binding_types:
        if binding_type not in BINDING_TYPES:
            raise invalid(f"BindingType must be one of {', '.join(BINDING_TYPES)}")
    query = select(PushBinding).where(PushBinding.service_id == service.id)
    if binding_types:
        query = query.where(PushBinding.binding_type.in_(binding_types))
    if identities:
        query = query.where(PushBinding.identity.in_(identities))
    return query


def find_binding(session: Session, service: ConversationService, sid: str) -> PushBinding:
    query = select(PushBinding).where(PushBinding.service_id == service.id, PushBinding.sid == sid)
    found = session.scalar(query) if is_sid(sid, "BS") else None
    if found is None:
        raise not_found(f"Binding {sid} not found")
    return found


def delete_binding(session: Session, binding: PushBinding) -> None:
    session.delete(binding)
    session.flush()
