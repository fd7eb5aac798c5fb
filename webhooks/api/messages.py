"""Conversation Messages and their delivery Receipts (read-only)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from bridge import conversations, event_fields, media, messages
from bridge.errors import invalid
from bridge.hooks import pre
from bridge.models import Conversation, Delivery, Message
from webhooks.api.base import (
    PreEventBuilder,
    Scope,
    created,
    dates,
    deleted,
    envelope,
    list_page,
    ok,
    params,
    query_params,
    scoped_route,
    session,
    settings,
)
from webhooks.forms import optional

blueprint = Blueprint("messages", __name__)


def represent(
    scope: Scope, conversation: Conversation, message: Message, delivery: dict[str, object] | None
) -> dict[str, Any]:
    base = f"/Conversations/{conversation.sid}/Messages/{message.sid}"
    return {
        "account_sid": settings().account_sid,
        "chat_service_sid": scope.service_sid,
        "conversation_sid": conversation.sid,
        "sid": message.sid,
        "index": message.index,
        "author": message.author,
        "body": message.body,
        "media": message.media,
        "attributes": message.attributes,
        "participant_sid": message.participant_sid,
        **dates(message),
        "delivery": delivery,
        "url": scope.url(base),
        "links": {"delivery_receipts": scope.url(f"{base}/Receipts")},
        "content_sid": message.content_sid,
    }


def _one(scope: Scope, conversation: Conversation, message: Message) -> dict[str, Any]:
    summary = messages.delivery_summaries(session(), [message.id]).get(message.id)
    return represent(scope, conversation, message, summary)


def _requested(*names: str) -> dict[str, str | None]:
    form = params()
    return {name: form.str(name) for name in names}


def _before_adding(scope: Scope, conversation_sid: str) -> pre.PreEvent | None:
    conversation = conversations.find_conversation(session(), scope.service, conversation_sid)
    requested = _requested("Author", "Body", "Attributes")
    author = messages.author_participant(session(), conversation, requested["Author"]) if requested["Author"] else None
    current = {
        "ConversationSid": conversation.sid,
        "ChatServiceSid": scope.service_sid,
        "MessagingServiceSid": event_fields.messaging_service_sid(session(), conversation) or "",
        "ParticipantSid": author.sid if author else "",
    }
    fields = event_fields.pre_event_fields(pre.MESSAGE_ADD, current, requested)
    return pre.prepare(session(), scope.service, pre.MESSAGE_ADD, fields)


def _before_changing(event_type: str) -> PreEventBuilder:
    def build(scope: Scope, conversation_sid: str, sid: str) -> pre.PreEvent | None:
        conversation = conversations.find_conversation(session(), scope.service, conversation_sid)
        message = messages.find_message(session(), conversation, sid)
        current = event_fields.message_fields(session(), conversation, message)
        requested = _requested("Author", "Body", "Attributes") if event_type == pre.MESSAGE_UPDATE else {}
        fields = event_fields.pre_event_fields(event_type, current, requested)
        return pre.prepare(session(), scope.service, event_type, fields)

    return build


@scoped_route(blueprint, "/Conversations/<conversation_sid>/Messages", methods=["POST"], pre_event=_before_adding)
def create_message(scope: Scope, conversation_sid: str) -> tuple[Response, int]:
    form = params()
    conversation = conversations.find_conversation(session(), scope.service, conversation_sid)
    # MediaSid (bridge/media.py): uploaded media of this service; ignored with a ContentSid, as in Twilio.
    media_sids = [] if form.str("ContentSid") else [sid for sid in form.list("MediaSid") if sid]
    attached = media.media_for_message(session(), scope.service, media_sids) if media_sids else []
    message = messages.append_message(
        session(),
        conversation,
        messages.NewMessage(
            author=form.str("Author") or None,
            body=form.str("Body"),
            attributes_json=form.str("Attributes") or None,
            content_sid=form.str("ContentSid") or None,
            content_variables=form.str("ContentVariables") or None,
            subject=form.str("Subject"),
            date_created=optional(form.datetime("DateCreated")),  # type: ignore[arg-type]
            date_updated=optional(form.datetime("DateUpdated")),  # type: ignore[arg-type]
            media=media.message_media(attached) or None,
        ),
    )
    media.attach_to_message(session(), attached, message)
    return created(_one(scope, conversation, message))


@scoped_route(blueprint, "/Conversations/<conversation_sid>/Messages", methods=["GET"])
def list_messages(scope: Scope, conversation_sid: str) -> Response:
    conversation = conversations.find_conversation(session(), scope.service, conversation_sid)
    order = (query_params().str("Order") or "asc").strip().lower()
    if order not in ("asc", "desc"):
        raise invalid("Order must be asc or desc")
    page, page_req = list_page(messages.messages_query(conversation), Message.index, descending=order == "desc")
    summaries = messages.delivery_summaries(session(), [m.id for m in page.items])
    items = [represent(scope, conversation, m, summaries.get(m.id)) for m in page.items]
    return envelope("messages", items, page, page_req)


@scoped_route(blueprint, "/Conversations/<conversation_sid>/Messages/<sid>", methods=["GET"])
def fetch_message(scope: Scope, conversation_sid: str, sid: str) -> Response:
    conversation = conversations.find_conversation(session(), scope.service, conversation_sid)
    return ok(_one(scope, conversation, messages.find_message(session(), conversation, sid)))


@scoped_route(
    blueprint,
    "/Conversations/<conversation_sid>/Messages/<sid>",
    methods=["POST"],
    pre_event=_before_changing(pre.MESSAGE_UPDATE),
)
def update_message(scope: Scope, conversation_sid: str, sid: str) -> Response:
    form = params()
    conversation = conversations.find_conversation(session(), scope.service, conversation_sid)
    message = messages.find_message(session(), conversation, sid)
    messages.update_message(
        session(),
        message,
        author=form.given("Author"),
        body=form.given("Body"),
        attributes_json=form.given("Attributes"),
        subject=form.given("Subject"),
        date_created=form.datetime("DateCreated"),
        date_updated=form.datetime("DateUpdated"),
    )
    return ok(_one(scope, conversation, message))


@scoped_route(
    blueprint,
    "/Conversations/<conversation_sid>/Messages/<sid>",
    methods=["DELETE"],
    pre_event=_before_changing(pre.MESSAGE_REMOVE),
)
def delete_message(scope: Scope, conversation_sid: str, sid: str) -> tuple[str, int]:
    conversation = conversations.find_conversation(session(), scope.service, conversation_sid)
    messages.delete_message(session(), messages.find_message(session(), conversation, sid))
    return deleted()


def represent_receipt(scope: Scope, conversation: Conversation, message: Message, receipt: Delivery) -> dict[str, Any]:
    return {
        "account_sid": settings().account_sid,
        "chat_service_sid": scope.service_sid,
        "conversation_sid": conversation.sid,
        "sid": receipt.sid,
        "message_sid": message.sid,
        "channel_message_sid": receipt.channel_message_sid,
        "participant_sid": receipt.participant_sid,
        "status": receipt.status,
        "error_code": receipt.error_code,
        **dates(receipt),
        "url": scope.url(f"/Conversations/{conversation.sid}/Messages/{message.sid}/Receipts/{receipt.sid}"),
    }


@scoped_route(blueprint, "/Conversations/<conversation_sid>/Messages/<message_sid>/Receipts", methods=["GET"])
def list_receipts(scope: Scope, conversation_sid: str, message_sid: str) -> Response:
    conversation = conversations.find_conversation(session(), scope.service, conversation_sid)
    message = messages.find_message(session(), conversation, message_sid)
    page, page_req = list_page(messages.receipts_query(message), Delivery.id, max_size=50)
    items = [represent_receipt(scope, conversation, message, r) for r in page.items]
    return envelope("delivery_receipts", items, page, page_req)


@scoped_route(blueprint, "/Conversations/<conversation_sid>/Messages/<message_sid>/Receipts/<sid>", methods=["GET"])
def fetch_receipt(scope: Scope, conversation_sid: str, message_sid: str, sid: str) -> Response:
    conversation = conversations.find_conversation(session(), scope.service, conversation_sid)
    message = messages.find_message(session(), conversation, message_sid)
    return ok(represent_receipt(scope, conversation, message, messages.find_receipt(session(), message, sid)))
