"""What a push says: Twilio's templates rendered with its variables, and the fields FCM and APNs carry.

A planned push keeps a platform-neutral payload (`Push`: body, sound, badge, the Conversations data fields); the
worker frames it for the binding's platform when it sends. FCM carries everything in `data`, every value a
string (`twi_body`, `twi_sound`, `media` as a JSON string); APNs carries the alert, sound and badge in `aps` and
the Conversations fields beside it, at the top level (`message_index` a number, `media` an object).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

NEW_MESSAGE = "twilio.conversations.new_message"
ADDED_TO_CONVERSATION = "twilio.conversations.added_to_conversation"
REMOVED_FROM_CONVERSATION = "twilio.conversations.removed_from_conversation"

# The change event a push is planned from -> the push's type. The short name (its setting's name, and what a
# binding's message_types list) is the type without Twilio's prefix.
PUSH_TYPE_OF_EVENT = {
    "onMessageAdded": NEW_MESSAGE,
    "onParticipantAdded": ADDED_TO_CONVERSATION,
    "onParticipantRemoved": REMOVED_FROM_CONVERSATION,
}
PREFIX = "twilio.conversations."

MAX_TEXT = 178  # Twilio cuts the rendered text to its first 178 characters

# The templates and their defaults are the service's settings (bridge/push/settings.py).

_VARIABLE = re.compile(r"\$\{([A-Z_]+)\}")


def short_name(push_type: str) -> str:
    """`twilio.conversations.new_message` -> `new_message`."""
    return push_type.removeprefix(PREFIX)


@dataclass(frozen=True)
class TemplateContext:
    """Where the template variables come from."""

    conversation_sid: str
    friendly_name: str | None = None
    unique_name: str | None = None
    participant: str = ""  # the acting participant: its user's friendly name, else identity, else address
    participant_sid: str = ""
    message: str | None = None
    media: list[dict[str, Any]] = field(default_factory=list)

    def variables(self) -> dict[str, str]:
        by_unique = self.unique_name or self.friendly_name or self.conversation_sid
        by_friendly = self.friendly_name or self.unique_name or self.conversation_sid
        first_media = self.media[0] if self.media else {}
        return {
            "PARTICIPANT": self.participant,
            "PARTICIPANT_FRIENDLY_NAME": self.participant,
            "PARTICIPANT_IDENTITY": self.participant,
            "PARTICIPANT_SID": self.participant_sid or self.participant,
            "CONVERSATION": by_unique,
            "CONVERSATION_FRIENDLY_NAME": by_friendly,
            "CONVERSATION_UNIQUE_NAME": by_unique,
            "CONVERSATION_SID": self.conversation_sid,
            "MESSAGE": self.message or "",
            "MEDIA_COUNT": str(len(self.media)),
            "MEDIA": str(first_media.get("filename") or ""),
        }


def render(template: str, context: TemplateContext) -> str:
    """Substitutes the variables (a name Twilio does not define stays as written), then cuts to 178 characters."""
    values = context.variables()
    text = _VARIABLE.sub(lambda found: values.get(found.group(1), found.group(0)), template)
    return text[:MAX_TEXT]


@dataclass(frozen=True)
class Push:
    """A push before platform framing, as the outbox keeps it."""

    message_type: str
    body: str
    conversation_sid: str
    sound: str | None = None
    badge: int | None = None  # APNs only
    conversation_title: str | None = None
    message_sid: str | None = None
    message_index: int | None = None
    author: str | None = None
    media: list[dict[str, Any]] = field(default_factory=list)

    def stored(self) -> dict[str, Any]:
        return {
            "message_type": self.message_type,
            "body": self.body,
            "conversation_sid": self.conversation_sid,
            "sound": self.sound,
            "badge": self.badge,
            "conversation_title": self.conversation_title,
            "message_sid": self.message_sid,
            "message_index": self.message_index,
            "author": self.author,
            "media": self.media,
        }

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any]) -> Push:
        return cls(**{name: stored.get(name) for name in cls.__dataclass_fields__ if name in stored})

    def _fields(self) -> dict[str, Any]:
        """The Conversations fields both platforms carry, native types, None left out."""
        found: dict[str, Any] = {
            "twi_message_type": self.message_type,
            "conversation_sid": self.conversation_sid,
            "conversation_title": self.conversation_title,
            "message_sid": self.message_sid,
            "message_index": self.message_index,
            "author": self.author,
        }
        if self.media:
            found["media_count"] = len(self.media)
            found["media"] = _media_item(self.media[0])
        return {key: value for key, value in found.items() if value is not None}


def _media_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """The first media as Twilio's push carries it (DEMO-AND's fixture): filename, size, content_type, sid."""
    shaped = {
        "filename": item.get("filename"),
        "size": item.get("size"),
        "content_type": item.get("content_type"),
        "sid": item.get("sid"),
    }
    return {key: value for key, value in shaped.items() if value is not None}


def fcm_data(push: Push) -> dict[str, str]:
    """FCM's `data` map: every value a string, `media` a JSON string (the SDK parses it only when it is one)."""
    data: dict[str, str] = {"twi_body": push.body}
    if push.sound:
        data["twi_sound"] = push.sound
    for key, value in push._fields().items():
        data[key] = json.dumps(value, separators=(",", ":")) if isinstance(value, dict) else str(value)
    return data


def fcm_message(push: Push, token: str) -> dict[str, Any]:
    """The body of FCM HTTP v1's `messages:send`: a data message, which the app's own handler shows."""
    return {"message": {"token": token, "data": fcm_data(push)}}


def apns_payload(push: Push) -> dict[str, Any]:
    """APNs' JSON: `aps` (alert body, sound, badge when counted, mutable-content for media so a notification
    service extension can fetch it), the Conversations fields at the top level."""
    aps: dict[str, Any] = {"alert": {"body": push.body}}
    if push.sound:
        aps["sound"] = push.sound
    if push.badge is not None:
        aps["badge"] = push.badge
    if push.media:
        aps["mutable-content"] = 1
    return {"aps": aps, **push._fields()}
