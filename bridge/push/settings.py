"""A service's push notification settings (`/v1/Services/{IS}/Configuration/Notifications`).

Stored in `ConversationService.notifications` as the REST resource nests them; what was never set is absent and
takes Twilio's default: every event disabled, no sound, no badge. A template never set reads as null over REST
(as on a fresh Twilio service) while the push itself uses the default text Twilio documents for that event.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from bridge.errors import invalid
from bridge.models import ConversationService
from bridge.validation import text

NEW_MESSAGE = "new_message"
ADDED_TO_CONVERSATION = "added_to_conversation"
REMOVED_FROM_CONVERSATION = "removed_from_conversation"
EVENTS = (NEW_MESSAGE, ADDED_TO_CONVERSATION, REMOVED_FROM_CONVERSATION)

# Twilio's documented default texts (push notification configuration page), used when no template is set.
DEFAULT_TEMPLATES: dict[str, str] = {
    NEW_MESSAGE: "${CONVERSATION}:${PARTICIPANT}: ${MESSAGE}",
    ADDED_TO_CONVERSATION: "You have been added to the conversation ${CONVERSATION} by ${PARTICIPANT}",
    REMOVED_FROM_CONVERSATION: "${PARTICIPANT} has removed you from the conversation ${CONVERSATION}",
}
DEFAULT_MEDIA_TEMPLATE = "You have a new message in ${CONVERSATION} with ${MEDIA_COUNT} media files: ${MEDIA}"

# Error 50058 "Notification template too long". Twilio names no number; the rendered text is cut to 178
# characters anyway, so a template is allowed room for its variables and no more.
TEMPLATE_LIMIT = 1024
TEMPLATE_TOO_LONG = 50058
SOUND_LIMIT = 256

# Form field -> (event or None for the top level, path inside the event's stored object, kind).
_FIELDS: dict[str, tuple[str | None, tuple[str, ...], str]] = {
    "LogEnabled": (None, ("log_enabled",), "bool"),
    "NewMessage.Enabled": (NEW_MESSAGE, ("enabled",), "bool"),
    "NewMessage.Template": (NEW_MESSAGE, ("template",), "template"),
    "NewMessage.Sound": (NEW_MESSAGE, ("sound",), "sound"),
    "NewMessage.BadgeCountEnabled": (NEW_MESSAGE, ("badge_count_enabled",), "bool"),
    "NewMessage.WithMedia.Enabled": (NEW_MESSAGE, ("with_media", "enabled"), "bool"),
    "NewMessage.WithMedia.Template": (NEW_MESSAGE, ("with_media", "template"), "template"),
    "AddedToConversation.Enabled": (ADDED_TO_CONVERSATION, ("enabled",), "bool"),
    "AddedToConversation.Template": (ADDED_TO_CONVERSATION, ("template",), "template"),
    "AddedToConversation.Sound": (ADDED_TO_CONVERSATION, ("sound",), "sound"),
    "RemovedFromConversation.Enabled": (REMOVED_FROM_CONVERSATION, ("enabled",), "bool"),
    "RemovedFromConversation.Template": (REMOVED_FROM_CONVERSATION, ("template",), "template"),
    "RemovedFromConversation.Sound": (REMOVED_FROM_CONVERSATION, ("sound",), "sound"),
}
FORM_FIELDS = tuple(_FIELDS)
BOOLEAN_FIELDS = tuple(name for name, (_, _, kind) in _FIELDS.items() if kind == "bool")


@dataclass(frozen=True)
class EventSettings:
    """What one event (new_message, added_to_conversation, removed_from_conversation) pushes, defaults applied."""

    enabled: bool
    template: str | None
    sound: str | None
    badge_count_enabled: bool = False  # new_message only
    with_media_enabled: bool = False  # new_message only
    with_media_template: str | None = None  # new_message only


@dataclass(frozen=True)
class NotificationSettings:
    log_enabled: bool
    new_message: EventSettings
    added_to_conversation: EventSettings
    removed_from_conversation: EventSettings

    def event(self, name: str) -> EventSettings:
        return {
            NEW_MESSAGE: self.new_message,
            ADDED_TO_CONVERSATION: self.added_to_conversation,
            REMOVED_FROM_CONVERSATION: self.removed_from_conversation,
        }[name]


def _stored(service: ConversationService) -> dict[str, Any]:
    return service.notifications if isinstance(service.notifications, dict) else {}


def _stored_event(service: ConversationService, event: str) -> dict[str, Any]:
    value = _stored(service).get(event)
    return value if isinstance(value, dict) else {}


def _with_media(stored: dict[str, Any]) -> dict[str, Any]:
    value = stored.get("with_media")
    return value if isinstance(value, dict) else {}


def effective_settings(service: ConversationService) -> NotificationSettings:
    """The settings a push is planned with: the stored ones, Twilio's defaults (and default texts) elsewhere."""

    def event_settings(event: str) -> EventSettings:
        stored = _stored_event(service, event)
        common: dict[str, Any] = {
            "enabled": bool(stored.get("enabled", False)),
            "template": stored.get("template") or DEFAULT_TEMPLATES[event],
            "sound": stored.get("sound") or None,
        }
        if event != NEW_MESSAGE:
            return EventSettings(**common)
        media = _with_media(stored)
        return EventSettings(
            **common,
            badge_count_enabled=bool(stored.get("badge_count_enabled", False)),
            with_media_enabled=bool(media.get("enabled", False)),
            with_media_template=media.get("template") or DEFAULT_MEDIA_TEMPLATE,
        )

    return NotificationSettings(
        log_enabled=bool(_stored(service).get("log_enabled", False)),
        new_message=event_settings(NEW_MESSAGE),
        added_to_conversation=event_settings(ADDED_TO_CONVERSATION),
        removed_from_conversation=event_settings(REMOVED_FROM_CONVERSATION),
    )


def _checked(name: str, kind: str, value: Any) -> bool | str | None:
    if kind == "bool":
        if not isinstance(value, bool):
            raise invalid(f"{name} must be true or false")
        return value
    if not isinstance(value, str):
        raise invalid(f"{name} must be a string")
    if value == "":
        return None  # sent empty: back to the default
    if kind == "template":
        return text(value, name, TEMPLATE_LIMIT, TEMPLATE_TOO_LONG)
    return text(value, name, SOUND_LIMIT)


def update_settings(session: Session, service: ConversationService, changes: Mapping[str, Any]) -> None:
    """Applies the form fields sent (`NewMessage.Enabled`: bool, `NewMessage.Template`: str, ...); fields not in
    `changes` keep their value, a template or sound sent empty returns to the default. Unknown names are ignored,
    as Twilio ignores unknown parameters."""
    updated = copy.deepcopy(_stored(service))  # a new object, so that the JSON column is seen as changed
    for name, value in changes.items():
        if name not in _FIELDS:
            continue
        event, path, kind = _FIELDS[name]
        target = updated
        for key in ((event,) if event else ()) + path[:-1]:
            if not isinstance(target.get(key), dict):
                target[key] = {}
            target = target[key]
        target[path[-1]] = _checked(name, kind, value)
    service.notifications = updated
    session.flush()


def settings_resource(service: ConversationService, base_url: str) -> dict[str, Any]:
    """Twilio's ServiceNotification resource (without `account_sid`, which the edge adds). `base_url` is the
    bridge's public URL."""

    def event_resource(event: str) -> dict[str, Any]:
        stored = _stored_event(service, event)
        body: dict[str, Any] = {
            "enabled": bool(stored.get("enabled", False)),
            "template": stored.get("template"),
            "sound": stored.get("sound"),
        }
        if event == NEW_MESSAGE:
            media = _with_media(stored)
            body["badge_count_enabled"] = bool(stored.get("badge_count_enabled", False))
            body["with_media"] = {"enabled": bool(media.get("enabled", False)), "template": media.get("template")}
        return body

    return {
        "chat_service_sid": service.sid,
        "log_enabled": bool(_stored(service).get("log_enabled", False)),
        NEW_MESSAGE: event_resource(NEW_MESSAGE),
        ADDED_TO_CONVERSATION: event_resource(ADDED_TO_CONVERSATION),
        REMOVED_FROM_CONVERSATION: event_resource(REMOVED_FROM_CONVERSATION),
        "url": f"{base_url}/v1/Services/{service.sid}/Configuration/Notifications",
    }
