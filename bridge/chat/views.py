"""The data of each Sync object and item, as the Conversations SDK reads it (field names are the SDK's)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bridge.addresses import CHAT
from bridge.chat import objects
from bridge.models import Conversation, Message, Participant, User

STATUS_JOINED = "joined"


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def conversation_data(conversation: Conversation, last_message: Message | None) -> dict[str, Any]:
    _, messages, roster = objects.conversation_objects(conversation.sid)
    data: dict[str, Any] = {
        "friendlyName": conversation.friendly_name,
        "uniqueName": conversation.unique_name,
        "attributes": conversation.attributes or "{}",
        "createdBy": conversation.created_by or "",
        "dateCreated": iso(conversation.date_created),
        "dateUpdated": iso(conversation.date_updated),
        "messages": messages.sid,
        "roster": roster.sid,
        "state": {"current": conversation.state, "dateUpdated": iso(conversation.date_updated)},
        "bindings": {},
    }
    if last_message is not None:
        data["lastMessage"] = {"index": last_message.index, "timestamp": iso(last_message.date_created)}
    return data


def sdk_media(items: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """A message's `media` (REST's items) as the SDK reads `medias`: camelCase `contentType`, one `category`.
    Inbound carrier media is listed from the start; its `size` is null until a worker has fetched it."""
    return [
        {
            "sid": item.get("sid"),
            "category": item.get("category") or "media",
            "filename": item.get("filename"),
            "contentType": item.get("content_type"),
            "size": item.get("size"),
        }
        for item in items or []
        if isinstance(item, dict)
    ]


def message_data(message: Message, delivery: dict[str, object] | None) -> dict[str, Any]:
    medias = sdk_media(message.media)
    data: dict[str, Any] = {
        "sid": message.sid,
        "text": message.body,
        "author": message.author,
        "attributes": message.attributes or "{}",
        "type": "media" if medias else "text",
        "timestamp": iso(message.date_created),
        "dateUpdated": iso(message.date_updated),
        "memberSid": message.participant_sid,
        "lastUpdatedBy": None,
        "subject": message.subject,
        "contentSid": message.content_sid,
    }
    if medias:
        data["medias"] = medias
        data["media"] = medias[0]  # what SDKs before `medias` read: the first file
    if delivery:
        data["delivery"] = delivery
    return data


def participant_data(participant: Participant, user_sid: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "identity": participant.identity,
        "type": participant.channel,
        "attributes": participant.attributes or "{}",
        "roleSid": participant.role_sid,
        "dateCreated": iso(participant.date_created),
        "dateUpdated": iso(participant.date_updated),
        "lastConsumedMessageIndex": participant.last_read_message_index,
        "lastConsumptionTimestamp": iso(participant.last_read_timestamp),
    }
    if participant.channel == CHAT and user_sid:
        data["userInfo"] = objects.of("user_info", user_sid).sid
    else:
        data["bindings"] = {}
    return data


def my_conversation_data(participant: Participant, conversation: Conversation) -> dict[str, Any]:
    document, messages, roster = objects.conversation_objects(conversation.sid)
    return {
        "channel": document.sid,
        "messages": messages.sid,
        "roster": roster.sid,
        "status": STATUS_JOINED,
        "lastConsumedMessageIndex": participant.last_read_message_index,
        "notificationLevel": participant.notification_level,
        "friendlyName": conversation.friendly_name,
        "uniqueName": conversation.unique_name,
        "attributes": conversation.attributes or "{}",
        "dateCreated": iso(conversation.date_created),
        "dateUpdated": iso(conversation.date_updated),
        "createdBy": conversation.created_by or "",
    }


def user_info_items(user: User, online: bool) -> dict[str, dict[str, Any]]:
    """The profile map's items; `reachability` is there because the Configuration enables it."""
    return {
        "attributes": {"value": user.attributes or "{}"},
        "friendlyName": {"value": user.friendly_name},
        "reachability": {"online": online, "notifiable": False},
    }
