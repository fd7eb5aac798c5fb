"""`/v1/Users/{US}/Conversations`: one user's conversations, with read state and notification level."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from bridge import participants, user_conversations, users
from bridge.models import Participant, User
from webhooks.api.base import (
    Scope,
    dates,
    deleted,
    envelope,
    list_page,
    ok,
    params,
    scoped_route,
    session,
    settings,
)
from webhooks.api.conversations import timers_of
from webhooks.api.participants import last_read_index

blueprint = Blueprint("user_conversations", __name__)


def represent(scope: Scope, user: User, participant: Participant, unread: int | None) -> dict[str, Any]:
    conversation = participant.conversation
    return {
        "account_sid": settings().account_sid,
        "chat_service_sid": scope.service_sid,
        "conversation_sid": conversation.sid,
        "unread_messages_count": unread,
        "last_read_message_index": participant.last_read_message_index,
        "participant_sid": participant.sid,
        "user_sid": user.sid,
        "friendly_name": conversation.friendly_name,
        "conversation_state": conversation.state,
        "timers": timers_of(conversation),
        "attributes": conversation.attributes,
        **dates(conversation),
        "created_by": conversation.created_by,
        "notification_level": participant.notification_level,
        "unique_name": conversation.unique_name,
        "url": scope.url(f"/Users/{user.sid}/Conversations/{conversation.sid}"),
        "links": {
            "participant": scope.url(f"/Conversations/{conversation.sid}/Participants/{participant.sid}"),
            "conversation": scope.url(f"/Conversations/{conversation.sid}"),
        },
    }


@scoped_route(blueprint, "/Users/<user_sid>/Conversations", methods=["GET"])
def list_user_conversations(scope: Scope, user_sid: str) -> Response:
    user = users.find_user(session(), scope.service, user_sid)
    query = participants.user_participations_query(scope.service, user.identity)
    page, page_req = list_page(query, Participant.id, max_size=50)
    unread = user_conversations.unread_counts(session(), page.items)
    items = [represent(scope, user, p, unread[p.id]) for p in page.items]
    return envelope("conversations", items, page, page_req)


@scoped_route(blueprint, "/Users/<user_sid>/Conversations/<conversation_sid>", methods=["GET"])
def fetch_user_conversation(scope: Scope, user_sid: str, conversation_sid: str) -> Response:
    user = users.find_user(session(), scope.service, user_sid)
    participant = user_conversations.find_participation(session(), scope.service, user, conversation_sid)
    unread = user_conversations.unread_counts(session(), [participant])
    return ok(represent(scope, user, participant, unread[participant.id]))


@scoped_route(blueprint, "/Users/<user_sid>/Conversations/<conversation_sid>", methods=["POST"])
def update_user_conversation(scope: Scope, user_sid: str, conversation_sid: str) -> Response:
    form = params()
    user = users.find_user(session(), scope.service, user_sid)
    participant = user_conversations.find_participation(session(), scope.service, user, conversation_sid)
    user_conversations.update_participation(
        session(),
        participant,
        notification_level=form.given("NotificationLevel"),
        last_read_message_index=last_read_index(form),
        last_read_timestamp=form.datetime("LastReadTimestamp"),
    )
    unread = user_conversations.unread_counts(session(), [participant])
    return ok(represent(scope, user, participant, unread[participant.id]))


@scoped_route(blueprint, "/Users/<user_sid>/Conversations/<conversation_sid>", methods=["DELETE"])
def delete_user_conversation(scope: Scope, user_sid: str, conversation_sid: str) -> tuple[str, int]:
    """Twilio's semantics: the user leaves the conversation."""
    user = users.find_user(session(), scope.service, user_sid)
    participant = user_conversations.find_participation(session(), scope.service, user, conversation_sid)
    participants.remove_participant(session(), participant)
    return deleted()
