"""Planning pushes from the change-event log: one `PushSend` per (event, device), rendered now.

The webhook planner (`bridge.hooks.outbox.plan`) hands each batch of events here, in its own transaction, so an
event's pushes are planned exactly when the event is marked planned. A row is unique on (event, binding) and
inserted with ON CONFLICT DO NOTHING: planning an event twice (a replayed batch, two planners) pushes once.

Who gets a push (Twilio's rule, push notification configuration page):
- a new message: every chat participant of the conversation, but not its author;
- added to / removed from a conversation: the chat participant added or removed, unless they did it themselves;
- never a participant whose notification_level is `muted`;
- to each of the user's devices (bindings of type fcm or apn) that has a credential and registered for the type.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge.db import insert_for
from bridge.models import ChangeEvent, Conversation, ConversationService, Participant, PushBinding, PushSend, User
from bridge.push import outbox
from bridge.push.payloads import (
    NEW_MESSAGE,
    PUSH_TYPE_OF_EVENT,
    Push,
    TemplateContext,
    render,
    short_name,
)
from bridge.push.settings import EventSettings, effective_settings
from bridge.sids import new_sid
from bridge.timeutil import utcnow

PUSH_BINDING_TYPES = ("fcm", "apn")  # gcm is legacy and has no sender here; twilsock needs no push
MUTED = "muted"

_SENDS = PushSend.__table__


def event_settings(service: ConversationService, event_type: str) -> EventSettings | None:
    """The service's settings for the push an event type makes; None if it makes none."""
    push_type = PUSH_TYPE_OF_EVENT.get(event_type)
    if push_type is None:
        return None
    return effective_settings(service).event(short_name(push_type))


def wanted(service: ConversationService, event_type: str) -> bool:
    """Whether an event of this type may push (the event log asks when it writes one, so an event no push or
    webhook wants is written as planned and the planner never reads it)."""
    chosen = event_settings(service, event_type)
    return chosen is not None and (chosen.enabled or chosen.with_media_enabled)


@dataclass
class _Batch:
    """Lookups shared by a planning batch's events."""

    session: Session
    services: dict[str, ConversationService | None] = field(default_factory=dict)
    badges: dict[tuple[int, str], int] = field(default_factory=dict)

    def service(self, sid: str) -> ConversationService | None:
        if sid not in self.services:
            self.services[sid] = self.session.scalar(select(ConversationService).where(ConversationService.sid == sid))
        return self.services[sid]

    def badge(self, service_id: int, identity: str) -> int:
        """Twilio's badge: the one-to-one conversations the user is in that have messages they have not read."""
        key = (service_id, identity)
        if key not in self.badges:
            two_party = (
                select(Participant.conversation_id)
                .where(Participant.service_id == service_id)
                .group_by(Participant.conversation_id)
                .having(func.count() == 2)
            )
            self.badges[key] = int(
                self.session.scalar(
                    select(func.count())
                    .select_from(Participant)
                    .join(Conversation, Conversation.id == Participant.conversation_id)
                    .where(
                        Participant.service_id == service_id,
                        Participant.identity == identity,
                        Participant.conversation_id.in_(two_party),
                        Conversation.last_message_index > func.coalesce(Participant.last_read_message_index, -1),
                    )
                )
                or 0
            )
        return self.badges[key]


def plan(session: Session, events: list[ChangeEvent]) -> list[int]:
    """Plans the pushes of `events`; returns the ids of the rows it inserted (queued once the transaction
    commits)."""
    batch = _Batch(session)
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for event in events:
        rows.extend(_rows_for(batch, event, now))
    if not rows:
        return []
    ids = _insert(session, rows)
    outbox.dispatch(session, ids)
    return ids


def _rows_for(batch: _Batch, event: ChangeEvent, now: Any) -> list[dict[str, Any]]:
    push_type = PUSH_TYPE_OF_EVENT.get(event.type)
    if push_type is None or event.conversation_sid is None:
        return []
    service = batch.service(event.service_sid)
    if service is None:
        return []
    chosen = event_settings(service, event.type)
    if chosen is None:
        return []
    data = event.data or {}
    media = _media_of(data.get("Media"))
    if push_type == NEW_MESSAGE and media:
        enabled = chosen.enabled or chosen.with_media_enabled
        template = (chosen.with_media_template if chosen.with_media_enabled else chosen.template) or ""
    else:
        enabled, template = chosen.enabled, chosen.template or ""
    if not enabled:
        return []
    session = batch.session
    conversation = session.scalar(select(Conversation).where(Conversation.sid == event.conversation_sid))
    if conversation is None:
        return []
    recipients = _recipients(session, conversation, push_type, data, event.client_identity)
    if not recipients:
        return []
    actor = data.get("Author") if push_type == NEW_MESSAGE else event.client_identity
    context = TemplateContext(
        conversation_sid=conversation.sid,
        friendly_name=conversation.friendly_name,
        unique_name=conversation.unique_name,
        participant=_display_name(session, service.id, actor),
        participant_sid=_acting_participant_sid(session, conversation, push_type, data, actor),
        message=data.get("Body"),
        media=media,
    )
    body = render(template, context)
    rows = []
    for binding in _bindings(session, service.id, recipients, short_name(push_type)):
        badge = None
        if binding.binding_type == "apn" and push_type == NEW_MESSAGE and chosen.badge_count_enabled:
            badge = batch.badge(service.id, binding.identity)
        push = Push(
            message_type=push_type,
            body=body,
            conversation_sid=conversation.sid,
            sound=chosen.sound,
            badge=badge,
            conversation_title=conversation.friendly_name or conversation.unique_name,
            message_sid=data.get("MessageSid") if push_type == NEW_MESSAGE else None,
            message_index=int(data["Index"]) if push_type == NEW_MESSAGE and data.get("Index") else None,
            author=data.get("Author") if push_type == NEW_MESSAGE else None,
            media=media if push_type == NEW_MESSAGE else [],
        )
        rows.append(
            {
                "sid": new_sid("NT"),
                "service_id": service.id,
                "event_id": event.id,
                "binding_id": binding.id,
                "identity": binding.identity,
                "message_type": push_type,
                "payload": push.stored(),
                "status": outbox.PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "date_created": now,
                "date_updated": now,
            }
        )
    return rows


def _recipients(
    session: Session, conversation: Conversation, push_type: str, data: dict[str, str], acting: str | None
) -> set[str]:
    """The identities to push to (before their devices are looked up)."""
    if push_type == NEW_MESSAGE:
        found = set(
            session.scalars(
                select(Participant.identity).where(
                    Participant.conversation_id == conversation.id,
                    Participant.identity.is_not(None),
                    Participant.notification_level != MUTED,
                )
            )
        )
        return found - {data.get("Author"), acting}
    identity = data.get("Identity")
    if not identity or identity == acting:
        return set()
    # Added: the participant as it is now (it may have muted the conversation already). Removed: it is gone,
    # and what it had set went with it.
    level = session.scalar(
        select(Participant.notification_level).where(
            Participant.conversation_id == conversation.id, Participant.identity == identity
        )
    )
    return set() if level == MUTED else {identity}


def _bindings(session: Session, service_id: int, identities: set[str], short_type: str) -> list[PushBinding]:
    found = session.scalars(
        select(PushBinding)
        .where(
            PushBinding.service_id == service_id,
            PushBinding.identity.in_(sorted(identities)),
            PushBinding.binding_type.in_(PUSH_BINDING_TYPES),
            PushBinding.credential_sid.is_not(None),
        )
        .order_by(PushBinding.id)
    )
    return [binding for binding in found if short_type in _short_types(binding.message_types)]


def _short_types(message_types: Any) -> set[str]:
    """A binding's message types as short names, whichever way they were stored."""
    if not isinstance(message_types, list):
        return set()
    return {short_name(str(name)) for name in message_types}


def _display_name(session: Session, service_id: int, identity: str | None) -> str:
    """`${PARTICIPANT}`: the user's friendly name, else the identity (an SMS author is its address already)."""
    if not identity:
        return ""
    friendly = session.scalar(
        select(User.friendly_name).where(User.service_id == service_id, User.identity == identity)
    )
    return friendly or identity


def _acting_participant_sid(
    session: Session, conversation: Conversation, push_type: str, data: dict[str, str], actor: str | None
) -> str:
    if push_type == NEW_MESSAGE and data.get("ParticipantSid"):
        return data["ParticipantSid"]
    if not actor:
        return ""
    found = session.scalar(
        select(Participant.sid).where(Participant.conversation_id == conversation.id, Participant.identity == actor)
    )
    return found or actor


def _media_of(field_value: str | None) -> list[dict[str, Any]]:
    """The event's `Media` (a JSON array in Twilio's webhook shape) as the push's media items."""
    if not field_value:
        return []
    try:
        items = json.loads(field_value)
    except ValueError:
        return []
    if not isinstance(items, list):
        return []
    return [
        {
            "sid": item.get("Sid"),
            "filename": item.get("Filename"),
            "content_type": item.get("ContentType"),
            "size": item.get("Size"),
        }
        for item in items
        if isinstance(item, dict)
    ]


def _insert(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """One multi-row INSERT; a row already planned (same event and binding) is skipped, not an error."""
    statement = (
        insert_for(session, _SENDS)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["event_id", "binding_id"])
        .returning(_SENDS.c.id)
    )
    return list(session.scalars(statement))
