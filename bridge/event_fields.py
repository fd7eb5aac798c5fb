"""The fields of each change event, named and formatted as Twilio's Conversations webhooks send them.

An event keeps these fields as they were when the change was made, so a webhook for a message deleted since
still carries its body. Values are strings (they travel form-encoded); a field with no value is left out, as
Twilio leaves it out. Dates have milliseconds, as in Twilio's payloads (`2022-05-18T13:42:17.312Z`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from bridge.addresses import CHAT
from bridge.messaging_services import effective_messaging_service
from bridge.models import Conversation, Message, Participant, User

Fields = dict[str, str]

# MessagingBinding.Type of a participant, by channel.
BINDING_TYPES = {"sms": "SMS", "whatsapp": "WHATSAPP", CHAT: "CHAT"}


def stamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def compact(fields: dict[str, Any]) -> Fields:
    """Form values: strings, with empty fields left out."""
    return {key: value if isinstance(value, str) else str(value) for key, value in fields.items() if value is not None}


def removed_now() -> Fields:
    return {"DateRemoved": stamp(datetime.now(UTC)) or ""}


def media_field(media: list[dict[str, Any]] | None) -> str | None:
    """`Media` is a JSON array in a string; each item as Twilio's webhooks write it."""
    if not media:
        return None
    items = [
        {
            "Sid": item.get("sid"),
            "Filename": item.get("filename"),
            "ContentType": item.get("content_type"),
            "Size": item.get("size"),
            "Category": item.get("category", "media"),
        }
        for item in media
    ]
    return json.dumps(items, separators=(",", ":"))


def messaging_service_sid(session: Session, conversation: Conversation) -> str | None:
    messaging = effective_messaging_service(session, conversation)
    return messaging.sid if messaging else None


def conversation_fields(session: Session, conversation: Conversation) -> Fields:
    return compact(
        {
            "ConversationSid": conversation.sid,
            "ChatServiceSid": conversation.service.sid,
            "MessagingServiceSid": messaging_service_sid(session, conversation),
            "FriendlyName": conversation.friendly_name,
            "UniqueName": conversation.unique_name,
            "Attributes": conversation.attributes,
            "State": conversation.state,
            "DateCreated": stamp(conversation.date_created),
            "DateUpdated": stamp(conversation.date_updated),
        }
    )


def binding_fields(participant: Participant | None) -> Fields:
    if participant is None or participant.channel == CHAT:
        return {}
    return compact(
        {
            "MessagingBinding.Address": participant.address,
            "MessagingBinding.ProxyAddress": participant.proxy_address,
            "MessagingBinding.ProjectedAddress": participant.projected_address,
        }
    )


def state_fields(session: Session, conversation: Conversation, before: str, reason: str) -> Fields:
    return compact(
        {
            "ConversationSid": conversation.sid,
            "ChatServiceSid": conversation.service.sid,
            "MessagingServiceSid": messaging_service_sid(session, conversation),
            "StateFrom": before,
            "StateTo": conversation.state,
            "StateUpdated": stamp(conversation.date_updated),
            "Reason": reason,  # API | TIMER | EVENT
        }
    )


def message_fields(session: Session, conversation: Conversation, message: Message) -> Fields:
    return compact(
        {
            "ConversationSid": conversation.sid,
            "ChatServiceSid": conversation.service.sid,
            "MessagingServiceSid": messaging_service_sid(session, conversation),
            "MessageSid": message.sid,
            "Index": message.index,
            "Author": message.author,
            "Body": message.body,
            "Attributes": message.attributes,
            "ParticipantSid": message.participant_sid,
            "Media": media_field(message.media),
            "DateCreated": stamp(message.date_created),
            "DateUpdated": stamp(message.date_updated),
        }
    )


def participant_fields(conversation: Conversation, participant: Participant) -> Fields:
    return compact(
        {
            "ConversationSid": conversation.sid,
            "ChatServiceSid": conversation.service.sid,
            "ParticipantSid": participant.sid,
            "Identity": participant.identity,
            "RoleSid": participant.role_sid,
            "Attributes": participant.attributes,
            **binding_fields(participant),
            "MessagingBinding.Type": BINDING_TYPES.get(participant.channel),
            "LastReadMessageIndex": participant.last_read_message_index,
            "DateCreated": stamp(participant.date_created),
            "DateUpdated": stamp(participant.date_updated),
        }
    )


def user_fields(user: User, service_sid: str) -> Fields:
    return compact(
        {
            "ChatServiceSid": service_sid,
            "UserSid": user.sid,
            "Identity": user.identity,
            "FriendlyName": user.friendly_name,
            "RoleSid": user.role_sid,
            "Attributes": user.attributes,
            "DateCreated": stamp(user.date_created),
            "DateUpdated": stamp(user.date_updated),
        }
    )


def receipt_fields(
    *,
    conversation_sid: str,
    service_sid: str,
    message_sid: str,
    delivery_sid: str,
    participant_sid: str,
    channel_message_sid: str | None,
    status: str,
    error_code: int,
    date_created: datetime,
    date_updated: datetime,
) -> Fields:
    return compact(
        {
            "ConversationSid": conversation_sid,
            "ChatServiceSid": service_sid,
            "MessageSid": message_sid,
            "DeliveryReceiptSid": delivery_sid,
            "ChannelMessageSid": channel_message_sid,
            "ParticipantSid": participant_sid,
            "Status": status,
            "ErrorCode": error_code or None,
            "DateCreated": stamp(date_created),
            "DateUpdated": stamp(date_updated),
        }
    )


_CONVERSATION = (
    "ConversationSid",
    "ChatServiceSid",
    "MessagingServiceSid",
    "FriendlyName",
    "UniqueName",
    "Attributes",
    "State",
    "DateCreated",
    "DateUpdated",
)
_BINDING = (
    "MessagingBinding.Address",
    "MessagingBinding.ProxyAddress",
    "MessagingBinding.ProjectedAddress",
    "MessagingBinding.AuthorAddress",
)
_MESSAGE = (
    "ConversationSid",
    "ChatServiceSid",
    "MessagingServiceSid",
    "MessageSid",
    "Index",
    "Author",
    "Body",
    "Attributes",
    "ParticipantSid",
    "Media",
    "DateCreated",
)
_PARTICIPANT = (
    "ConversationSid",
    "ChatServiceSid",
    "ParticipantSid",
    "Identity",
    "RoleSid",
    "Attributes",
    "MessagingBinding.Address",
    "MessagingBinding.ProxyAddress",
    "MessagingBinding.ProjectedAddress",
    "MessagingBinding.Type",
    "DateCreated",
)
_USER = ("ChatServiceSid", "UserSid", "Identity", "FriendlyName", "RoleSid", "Attributes", "DateCreated")

# The fields each post-event webhook carries besides AccountSid, EventType, Source, ClientIdentity and RetryCount
# (twilio-api-notes §7.5, after Twilio's docs and payloads).
FIELDS_OF_EVENT: dict[str, tuple[str, ...]] = {
    "onConversationAdded": _CONVERSATION + _BINDING,
    "onConversationUpdated": _CONVERSATION,
    "onConversationRemoved": (*_CONVERSATION, "DateRemoved"),
    "onConversationStateUpdated": (
        "ConversationSid",
        "ChatServiceSid",
        "MessagingServiceSid",
        "StateFrom",
        "StateTo",
        "StateUpdated",
        "Reason",
    ),
    "onMessageAdded": _MESSAGE,
    "onMessageUpdated": (*_MESSAGE, "DateUpdated"),
    "onMessageRemoved": (*_MESSAGE, "DateUpdated", "DateRemoved"),
    "onParticipantAdded": _PARTICIPANT,
    "onParticipantUpdated": (*_PARTICIPANT, "DateUpdated", "LastReadMessageIndex"),
    "onParticipantRemoved": (*_PARTICIPANT, "DateUpdated", "DateRemoved"),
    "onDeliveryUpdated": (
        "ConversationSid",
        "ChatServiceSid",
        "MessageSid",
        "DeliveryReceiptSid",
        "ChannelMessageSid",
        "ParticipantSid",
        "Status",
        "ErrorCode",
        "DateCreated",
        "DateUpdated",
    ),
    "onUserAdded": _USER,
    "onUserUpdated": (*_USER, "DateUpdated"),
}

# The chat clients' own events, in users' streams (no webhook carries them).
CHAT_FIELDS_OF_EVENT: dict[str, tuple[str, ...]] = {
    "membershipChanged": ("ConversationSid", "Change"),
    "reachabilityChanged": ("Online",),
}


def shaped(event_type: str, fields: Fields) -> Fields:
    """Only the fields Twilio's webhook for `event_type` carries, in its order."""
    names = FIELDS_OF_EVENT.get(event_type) or CHAT_FIELDS_OF_EVENT[event_type]
    return {name: fields[name] for name in names if name in fields}


# A pre-event webhook shows the resource as the action would leave it, so its dates too.
_PRE_MESSAGE = (*_MESSAGE, "DateUpdated")
_PRE_PARTICIPANT = (*_PARTICIPANT, "DateUpdated")

# The fields of each pre-event webhook (twilio-api-notes §7.5): the resource as it would be after the action.
PRE_FIELDS_OF_EVENT: dict[str, tuple[str, ...]] = {
    "onConversationAdd": (*_CONVERSATION, *_BINDING, "MessageBody", "Media"),
    "onConversationUpdate": _CONVERSATION,
    "onConversationRemove": _CONVERSATION,
    "onMessageAdd": _PRE_MESSAGE,
    "onMessageUpdate": _PRE_MESSAGE,
    "onMessageRemove": _PRE_MESSAGE,
    "onParticipantAdd": _PRE_PARTICIPANT,
    "onParticipantUpdate": _PRE_PARTICIPANT,
    "onParticipantRemove": _PRE_PARTICIPANT,
    "onUserUpdate": ("ChatServiceSid", "UserSid", "Identity", "FriendlyName", "RoleSid", "Attributes", "DateUpdated"),
}


def pre_event_fields(event_type: str, current: Fields, requested: Mapping[str, str | None]) -> Fields:
    """A pre-event webhook's fields: the resource as it is (`current`, empty for an addition) with the changes
    the action asks for (request parameters are named as webhook fields are), as it would be afterwards."""
    merged = {**current, **{key: value for key, value in requested.items() if value is not None}}
    return {name: merged[name] for name in PRE_FIELDS_OF_EVENT[event_type] if merged.get(name) is not None}
