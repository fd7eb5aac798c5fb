"""Conversations and ConversationWithParticipants, on default-service and `/v1/Services/{IS}` paths."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

from flask import Blueprint, Response

from bridge import accounts, conversations, errors, event_fields, jsontext, messaging_services, participants
from bridge.errors import BridgeError, invalid
from bridge.hooks import pre
from bridge.models import Conversation
from bridge.timeutil import iso, parse_datetime
from webhooks.api.base import (
    PreEventBuilder,
    Scope,
    created,
    dates,
    deleted,
    envelope,
    list_page,
    ok,
    page_request,
    params,
    query_params,
    scoped_route,
    session,
    settings,
)
from webhooks.forms import Params, optional

blueprint = Blueprint("conversations", __name__)

MAX_PARTICIPANTS_PER_REQUEST = 10


def represent(scope: Scope, conversation: Conversation) -> dict[str, Any]:
    base = f"/Conversations/{conversation.sid}"
    messaging = messaging_services.effective_messaging_service(session(), conversation)
    # Only links to resources the bridge serves (Twilio also lists export).
    links = {
        "participants": scope.url(f"{base}/Participants"),
        "messages": scope.url(f"{base}/Messages"),
        "webhooks": scope.url(f"{base}/Webhooks"),
    }
    return {
        "account_sid": settings().account_sid,
        "chat_service_sid": scope.service_sid,
        "messaging_service_sid": messaging.sid if messaging else None,
        "sid": conversation.sid,
        "friendly_name": conversation.friendly_name,
        "unique_name": conversation.unique_name,
        "attributes": conversation.attributes,
        "state": conversation.state,
        **dates(conversation),
        "timers": timers_of(conversation),
        "url": scope.url(base),
        "links": links,
        "bindings": {},
    }


def timers_of(conversation: Conversation) -> dict[str, str | None]:
    """When the conversation's timers fire; `{}` when none is set."""
    timers: dict[str, str | None] = {}
    if conversation.date_inactive is not None:
        timers["date_inactive"] = iso(conversation.date_inactive)
    if conversation.date_closed is not None:
        timers["date_closed"] = iso(conversation.date_closed)
    return timers


def _conversation_fields(form: Params) -> dict[str, Any]:
    return {
        "friendly_name": optional(form.given("FriendlyName")),
        "unique_name": optional(form.given("UniqueName")),
        "attributes_json": optional(form.given("Attributes")),
        "messaging_service_sid": optional(form.given("MessagingServiceSid")),
        "state": optional(form.given("State")),
        "timer_inactive": optional(form.given("Timers.Inactive")),
        "timer_closed": optional(form.given("Timers.Closed")),
        "date_created": optional(form.datetime("DateCreated")),
        "date_updated": optional(form.datetime("DateUpdated")),
    }


CONVERSATION_PARAMETERS = ("FriendlyName", "UniqueName", "Attributes", "State", "MessagingServiceSid")


def _requested() -> dict[str, str | None]:
    form = params()
    return {name: form.str(name) for name in CONVERSATION_PARAMETERS}


def _before_adding(scope: Scope) -> pre.PreEvent | None:
    requested = _requested()
    default = accounts.configuration(session()).default_messaging_service
    current = {"ChatServiceSid": scope.service_sid, "MessagingServiceSid": default.sid if default else ""}
    fields = event_fields.pre_event_fields(pre.CONVERSATION_ADD, current, requested)
    return pre.prepare(session(), scope.service, pre.CONVERSATION_ADD, fields)


def _before_changing(event_type: str) -> PreEventBuilder:
    def build(scope: Scope, sid: str) -> pre.PreEvent | None:
        conversation = conversations.find_conversation(session(), scope.service, sid)
        current = event_fields.conversation_fields(session(), conversation)
        requested = _requested() if event_type == pre.CONVERSATION_UPDATE else {}
        fields = event_fields.pre_event_fields(event_type, current, requested)
        return pre.prepare(session(), scope.service, event_type, fields)

    return build


@scoped_route(blueprint, "/Conversations", methods=["POST"], pre_event=_before_adding)
def create_conversation(scope: Scope) -> tuple[Response, int]:
    conversation = conversations.create_conversation(session(), scope.service, **_conversation_fields(params()))
    return created(represent(scope, conversation))


@scoped_route(blueprint, "/Conversations", methods=["GET"])
def list_conversations(scope: Scope) -> Response:
    args = query_params()
    states = conversations.parse_states(args.str("State") or "")
    start, end = _day(args, "StartDate"), _day(args, "EndDate")
    # Up to the end of EndDate's day; 9999-12-31 has no next day to stop before, so the window stays open.
    until = end + timedelta(days=1) if end is not None and end.date() < date.max else None
    query = conversations.conversations_query(scope.service, states, start, until)
    if start is not None or end is not None:
        # Twilio sorts newest first (by creation date) when a date window is given.
        page_req = page_request()
        page = conversations.page_newest_first(session(), query, page_req)
    else:
        page, page_req = list_page(query, Conversation.id)
    return envelope("conversations", [represent(scope, c) for c in page.items], page, page_req)


def _day(args: Params, name: str) -> datetime | None:
    """The start (00:00:00Z) of the day named: both filters select whole days, even when sent with a time
    (Twilio's docs suggest `T00:00:00Z` for StartDate and `T23:59:59Z` for EndDate)."""
    raw = args.str(name)
    if not raw:
        return None
    try:
        moment = parse_datetime(raw if "T" in raw else f"{raw}T00:00:00Z")
    except ValueError:
        raise invalid(f"{name} must be a date such as 2024-01-31") from None
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


@scoped_route(blueprint, "/Conversations/<sid>", methods=["GET"])
def fetch_conversation(scope: Scope, sid: str) -> Response:
    return ok(represent(scope, conversations.find_conversation(session(), scope.service, sid)))


@scoped_route(blueprint, "/Conversations/<sid>", methods=["POST"], pre_event=_before_changing(pre.CONVERSATION_UPDATE))
def update_conversation(scope: Scope, sid: str) -> Response:
    form = params()
    conversation = conversations.find_conversation(session(), scope.service, sid)
    conversations.update_conversation(
        session(),
        conversation,
        friendly_name=form.given("FriendlyName"),
        unique_name=form.given("UniqueName"),
        attributes_json=form.given("Attributes"),
        messaging_service_sid=form.given("MessagingServiceSid"),
        state=form.given("State"),
        timer_inactive=form.given("Timers.Inactive"),
        timer_closed=form.given("Timers.Closed"),
        date_created=form.datetime("DateCreated"),
        date_updated=form.datetime("DateUpdated"),
    )
    return ok(represent(scope, conversation))


@scoped_route(
    blueprint, "/Conversations/<sid>", methods=["DELETE"], pre_event=_before_changing(pre.CONVERSATION_REMOVE)
)
def delete_conversation(scope: Scope, sid: str) -> tuple[str, int]:
    conversations.delete_conversation(session(), conversations.find_conversation(session(), scope.service, sid))
    return deleted()


def _participant_specs(raw_values: list[str]) -> list[dict[str, Any]]:
    if len(raw_values) > MAX_PARTICIPANTS_PER_REQUEST:
        raise invalid(
            f"At most {MAX_PARTICIPANTS_PER_REQUEST} participants per request",
            errors.TOO_MANY_PARTICIPANTS_IN_REQUEST,
        )
    specs = []
    for raw in raw_values:
        spec = jsontext.parse(raw, "Each Participant must be a JSON object")
        if not isinstance(spec, dict):
            raise invalid("Each Participant must be a JSON object")
        binding = spec.get("messaging_binding") or {}
        if not isinstance(binding, dict):
            raise invalid("Participant messaging_binding must be a JSON object")
        attributes = spec.get("attributes")
        specs.append(
            {
                "identity": _optional_str(spec.get("identity"), "identity"),
                "address": _optional_str(binding.get("address"), "messaging_binding.address"),
                "proxy_address": _optional_str(binding.get("proxy_address"), "messaging_binding.proxy_address"),
                "projected_address": _optional_str(
                    binding.get("projected_address"), "messaging_binding.projected_address"
                ),
                "attributes_json": attributes
                if isinstance(attributes, str) or attributes is None
                else json.dumps(attributes),
                "role_sid": _optional_str(spec.get("role_sid"), "role_sid"),
            }
        )
    return specs


def _optional_str(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(f"Participant {name} must be a string")
    if "\x00" in value:  # as in every form field: PostgreSQL's text cannot hold it
        raise invalid(f"Participant {name} must not contain NUL characters")
    return value


@scoped_route(blueprint, "/ConversationWithParticipants", methods=["POST"], pre_event=_before_adding)
def create_conversation_with_participants(scope: Scope) -> tuple[Response, int]:
    """The conversation and all its participants in one transaction: everything is created, or nothing."""
    form = params()
    specs = _participant_specs(form.list("Participant"))
    conversation = conversations.create_conversation(session(), scope.service, **_conversation_fields(form))
    for spec in specs:
        try:
            participants.add_participant(session(), conversation, **spec)
        except BridgeError as error:
            if error.code == errors.BINDING_IN_USE:
                raise invalid("One or more address pairs already in use", errors.ADDRESS_PAIRS_IN_USE) from None
            raise
    return created(represent(scope, conversation))
