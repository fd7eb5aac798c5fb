"""The Conversations client API the SDK calls inside its socket (Twilio's "aim" host), on the domain's functions.

Paths are the bridge's own (the Configuration hands them out as links): `/Client/v2/Configuration`, then
everything under `/Client/v2/Services/{IS}/`. Bodies are JSON with snake_case keys (typing is form-encoded).
Every write goes through the same domain functions as REST and inbound messages, acting as the client
(`Source=SDK`, `ClientIdentity`), so it is stored, indexed, delivered to SMS/WhatsApp participants and
announced to webhooks. A write carries `X-Twilio-Mutation-Id`; a retry of it is answered with Twilio's 202 and
the `resource_url` of what the first one made, never done twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, quote, unquote

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bridge import (
    conversations,
    event_fields,
    events,
    jsontext,
    media,
    messages,
    paging,
    participants,
    user_conversations,
    users,
)
from bridge.access_tokens import ChatClient
from bridge.chat import objects, permissions, views
from bridge.chat.access import (
    Caller,
    caller_for,
    conversation_by_sid,
    forbidden,
    participation,
    user_by_identity,
    visible_conversation,
)
from bridge.chat.permissions import Action
from bridge.config import Settings
from bridge.db import Database
from bridge.errors import BridgeError, invalid, not_found
from bridge.hooks import pre
from bridge.models import ClientMutation, Conversation, Delivery, Media, Message, Participant, User
from bridge.services import find_service
from bridge.timeutil import utcnow
from bridge.validation import UNSET

MUTATION_HEADER = "x-twilio-mutation-id"
TYPING_TIMEOUT = 5  # seconds a client waits before it says it is typing again (Twilio's default)
MY_CONVERSATIONS_PAGE = 100
RECEIPTS_PAGE = 50  # the REST Receipts list's largest page
MAX_INDEX = 2**31 - 1  # message indexes are 32-bit integers in the database
MIB = 1024 * 1024


@dataclass
class Request:
    method: str
    path: str
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    body: str = ""
    content_type: str = ""


@dataclass
class Reply:
    status: int
    body: Any = None


def error_reply(error: BridgeError) -> Reply:
    return Reply(error.status, error.as_dict())


def sdk_origin(identity: str) -> events.Origin:
    return events.Origin(events.SDK, identity, True)


@dataclass
class Mutation:
    """A write's work inside its transaction: returns the reply and the URL of what it made (for retries)."""

    run: Callable[[Session, Caller], tuple[Reply, str | None]]
    # A pre-event webhook to ask first (read in a transaction of its own), or None.
    pre_event: Callable[[Session, Caller], pre.PreEvent | None] | None = None
    # Raises if the caller's roles do not allow the write: checked before the pre-event webhook is asked (a
    # refused action calls no webhook) and again in the write's transaction (the roles may have changed).
    guard: Callable[[Session, Caller], None] | None = None


class ClientApi:
    def __init__(
        self, database: Database, settings: Settings, online_of: Callable[[str], bool] = lambda _: False
    ) -> None:
        self.database = database
        self.settings = settings
        self.online_of = online_of  # a user's reachability, by user SID (bridge/chat/presence.py)

    # --- entry ---

    def handle(self, client: ChatClient, request: Request) -> Reply:
        try:
            return self._route(client, request)
        except BridgeError as error:
            return error_reply(error)

    def _caller(self, session: Session, client: ChatClient) -> Caller:
        return caller_for(session, client, self.settings.public_base_url)

    def _route(self, client: ChatClient, request: Request) -> Reply:
        parts = [unquote(part) for part in request.path.strip("/").split("/")]
        if any("\x00" in part for part in parts):
            raise invalid("NUL characters are not allowed")
        method = request.method.upper()
        if parts[:2] != ["Client", "v2"]:
            raise not_found(f"No client resource at {request.path}")
        rest = parts[2:]
        if rest == ["Configuration"] and method == "GET":
            return self._write(client, request, Mutation(self._configuration), deduplicate=False)
        if len(rest) < 3 or rest[0] != "Services":
            raise not_found(f"No client resource at {request.path}")
        if rest[1] != client.service_sid:
            raise forbidden("The token is for another Conversation Service")
        body = request_body(request)
        if _holds_nul(body):
            raise invalid("NUL characters are not allowed")
        route = rest[2:]
        handler = self._handler(route, method, body, request.params)
        if handler is None:
            raise not_found(f"No client resource at {method} {request.path}")
        if isinstance(handler, Mutation):
            return self._write(client, request, handler)
        with self.database.transaction() as session:
            return handler(session, self._caller(session, client))

    def _handler(self, route: list[str], method: str, body: dict[str, Any], params: Mapping[str, str]) -> Any:
        match route, method:
            case ["Users", identity, "Conversations"], "GET":
                return lambda s, c: self._my_conversations(s, c, identity, params.get("PageToken"))
            case ["Users", identity, "Conversations", ref], "GET":
                return lambda s, c: self._my_conversation(s, c, identity, ref)
            case ["Users", identity, "Conversations", ref], "POST":
                return Mutation(lambda s, c: self._update_my_conversation(s, c, identity, ref, body))
            case ["Users", identity], "GET":
                return lambda s, c: self._user(s, c, identity)
            case ["Users", identity], "POST":
                return Mutation(
                    lambda s, c: self._update_user(s, c, identity, body),
                    pre_event=lambda s, c: self._before_user_update(s, c, identity, body),
                    guard=lambda s, c: self._may_update_user(s, c, identity),
                )
            case ["Conversations"], "POST":
                return Mutation(
                    lambda s, c: self._create_conversation(s, c, body),
                    guard=lambda s, c: permissions.require(s, c.service, c.identity, None, Action.CREATE_CONVERSATION),
                )
            case ["Conversations", sid], "GET":
                return lambda s, c: Reply(200, self._conversation(s, c, self._visible(s, c, sid)))
            case ["Conversations", sid], "POST":
                return Mutation(
                    lambda s, c: self._update_conversation(s, c, sid, body),
                    pre_event=lambda s, c: self._before_conversation(s, c, sid, pre.CONVERSATION_UPDATE, body),
                    guard=lambda s, c: self._may_update_conversation(s, c, sid, body),
                )
            case ["Conversations", sid], "DELETE":
                return Mutation(
                    lambda s, c: self._delete_conversation(s, c, sid),
                    pre_event=lambda s, c: self._before_conversation(s, c, sid, pre.CONVERSATION_REMOVE, {}),
                    guard=lambda s, c: self._may_in(s, c, sid, Action.DELETE_CONVERSATION),
                )
            case ["Conversations", sid, "Messages"], "POST":
                return Mutation(
                    lambda s, c: self._send(s, c, sid, body),
                    pre_event=lambda s, c: self._before_sending(s, c, sid, body),
                    guard=lambda s, c: self._may_send(s, c, sid, body),
                )
            case ["Conversations", sid, "Messages", message_sid], "GET":
                return lambda s, c: self._message(s, c, sid, message_sid)
            case ["Conversations", sid, "Messages", message_sid, "Receipts"], "GET":
                return lambda s, c: self._receipts(s, c, sid, message_sid, params)
            case ["Conversations", sid, "Messages", message_sid], "POST":
                return Mutation(
                    lambda s, c: self._update_message(s, c, sid, message_sid, body),
                    pre_event=lambda s, c: self._before_message(s, c, sid, message_sid, pre.MESSAGE_UPDATE, body),
                    guard=lambda s, c: self._may_change_message(s, c, sid, message_sid, body),
                )
            case ["Conversations", sid, "Messages", message_sid], "DELETE":
                return Mutation(
                    lambda s, c: self._delete_message(s, c, sid, message_sid),
                    pre_event=lambda s, c: self._before_message(s, c, sid, message_sid, pre.MESSAGE_REMOVE, {}),
                    guard=lambda s, c: self._may_change_message(s, c, sid, message_sid, None),
                )
            case ["Conversations", sid, "Participants"], "POST":
                return Mutation(
                    lambda s, c: self._add_participant(s, c, sid, body),
                    pre_event=lambda s, c: self._before_adding_participant(s, c, sid, body),
                    guard=lambda s, c: self._may_add_participant(s, c, sid, body),
                )
            case ["Conversations", sid, "Participants", ref], "POST":
                return Mutation(lambda s, c: self._update_participant(s, c, sid, ref, body))
            case ["Conversations", sid, "Participants", ref], "DELETE":
                return Mutation(
                    lambda s, c: self._remove_participant(s, c, sid, ref),
                    pre_event=lambda s, c: self._before_removing_participant(s, c, sid, ref),
                    guard=lambda s, c: self._may_remove_participant(s, c, sid, ref),
                )
        return None

    # --- writes: pre-event webhook, then one transaction, deduplicated on the mutation id ---

    def _write(self, client: ChatClient, request: Request, mutation: Mutation, deduplicate: bool = True) -> Reply:
        mutation_id = (request.headers.get(MUTATION_HEADER) or "").strip()[:64] if deduplicate else ""
        if mutation_id:
            earlier = self._earlier(client, mutation_id)
            if earlier is not None:
                return earlier
        changes: dict[str, str] = {}
        if mutation.guard is not None:
            with self.database.transaction() as session:
                mutation.guard(session, self._caller(session, client))
        if mutation.pre_event is not None:
            with self.database.transaction() as session:
                pre_event = mutation.pre_event(session, self._caller(session, client))
            if pre_event is not None:
                verdict = pre.ask(pre_event, self.settings)  # no transaction open: it may take seconds
                if verdict.rejected:
                    raise pre.rejection(pre_event, verdict)
                changes = verdict.changes
        try:
            with self.database.transaction() as session:
                events.set_origin(session, sdk_origin(client.identity))
                session.info[PRE_EVENT_CHANGES] = changes
                caller = self._caller(session, client)
                if mutation.guard is not None:
                    mutation.guard(session, caller)
                reply, resource_url = mutation.run(session, caller)
                if mutation_id:
                    session.add(
                        ClientMutation(
                            service_id=caller.service.id,
                            identity=client.identity,
                            mutation_id=mutation_id,
                            resource_url=resource_url,
                        )
                    )
                    session.flush()
                return reply
        except IntegrityError:
            # The same write, retried while the first was still running, lost the race: answer with the winner's.
            earlier = self._earlier(client, mutation_id) if mutation_id else None
            if earlier is None:
                raise
            return earlier

    def _earlier(self, client: ChatClient, mutation_id: str) -> Reply | None:
        with self.database.transaction() as session:
            service = find_service(session, client.service_sid)
            found = session.scalar(
                select(ClientMutation).where(
                    ClientMutation.service_id == service.id,
                    ClientMutation.identity == client.identity,
                    ClientMutation.mutation_id == mutation_id,
                )
            )
        if found is None:
            return None
        return Reply(202, {"resource_url": found.resource_url}) if found.resource_url else Reply(200, {})

    # --- permissions: what the caller's roles allow (bridge/chat/permissions.py) ---

    def _may(
        self, session: Session, caller: Caller, joined: Participant | None, action: Action, own: bool = True
    ) -> None:
        permissions.require(session, caller.service, caller.identity, joined, action, own)

    def _may_in(self, session: Session, caller: Caller, sid: str, action: Action) -> None:
        _, joined = self._joined(session, caller, sid)
        self._may(session, caller, joined, action)

    def _may_update_user(self, session: Session, caller: Caller, identity: str) -> None:
        if identity != caller.identity:
            raise forbidden("A client may change only its own user")
        self._may(session, caller, None, Action.EDIT_USER_INFO)

    def _may_update_conversation(self, session: Session, caller: Caller, sid: str, body: dict[str, Any]) -> None:
        _, joined = self._joined(session, caller, sid)
        if "friendly_name" in body or "unique_name" in body:
            self._may(session, caller, joined, Action.EDIT_CONVERSATION_NAME)
        if "attributes" in body:
            self._may(session, caller, joined, Action.EDIT_CONVERSATION_ATTRIBUTES)

    def _may_send(self, session: Session, caller: Caller, sid: str, body: dict[str, Any]) -> None:
        _, joined = self._joined(session, caller, sid)
        self._may(session, caller, joined, Action.SEND_MESSAGE)
        if body.get("media_sids"):
            self._may(session, caller, joined, Action.SEND_MEDIA_MESSAGE)

    def _may_change_message(
        self, session: Session, caller: Caller, sid: str, message_sid: str, body: dict[str, Any] | None
    ) -> None:
        """`body` None: a removal; otherwise an edit of what the body names."""
        conversation, joined = self._joined(session, caller, sid)
        own = messages.find_message(session, conversation, message_sid).author == caller.identity
        if body is None:
            self._may(session, caller, joined, Action.DELETE_MESSAGE, own)
            return
        if "body" in body:
            self._may(session, caller, joined, Action.EDIT_MESSAGE, own)
        if "attributes" in body:
            self._may(session, caller, joined, Action.EDIT_MESSAGE_ATTRIBUTES, own)

    def _may_add_participant(self, session: Session, caller: Caller, sid: str, body: dict[str, Any]) -> None:
        conversation = self._visible(session, caller, sid)
        joined = participation(session, conversation, caller.identity)
        if joined is None and _str(body, "identity") == caller.identity:
            self._may(session, caller, None, Action.JOIN_CONVERSATION)
        elif body.get("messaging_binding") is not None:
            self._may(session, caller, joined, Action.ADD_NON_CHAT_PARTICIPANT)
        else:
            self._may(session, caller, joined, Action.ADD_PARTICIPANT)

    def _may_remove_participant(self, session: Session, caller: Caller, sid: str, ref: str) -> None:
        conversation, joined = self._joined(session, caller, sid)
        leaving = participants.find_participant(session, conversation, ref).id == joined.id
        self._may(session, caller, joined, Action.LEAVE_CONVERSATION if leaving else Action.REMOVE_PARTICIPANT)

    # --- configuration and the user ---

    def _links(self, caller: Caller) -> dict[str, str]:
        base = f"{caller.base_url}/Client/v2/Services/{caller.service.sid}"
        return {
            "my_conversations": f"{base}/Users/{_quote(caller.identity)}/Conversations",
            "conversations": f"{base}/Conversations",
            "users": f"{base}/Users",
            "current_user": f"{base}/Users/{_quote(caller.identity)}",
            "typing": f"{base}/Typing",
            "media_service": f"{caller.base_url}/MCS/v1/Services/{caller.service.sid}/Media",
            "media_set_service": f"{caller.base_url}/MCS/v1/Services/{caller.service.sid}/MediaSet",
            "messages_receipts": f"{base}/Conversations/%s/Messages/%s/Receipts",
        }

    def _configuration(self, session: Session, caller: Caller) -> tuple[Reply, str | None]:
        user = users.ensure_user(session, caller.service, caller.identity)  # Twilio makes the user at first login
        body = {
            "identity": caller.identity,
            "url": f"{caller.base_url}/Client/v2/Configuration",
            "options": {
                "consumption_report_interval": "PT5S",
                "user_infos_to_subscribe": 100,
                "reachability_enabled": bool(caller.service.reachability_enabled),
                "http_cache_interval": "PT5S",
                "my_conversations_page_size": MY_CONVERSATIONS_PAGE,
                "media_attachments_count_limit": media.MAX_MEDIA_PER_MESSAGE,
                "media_attachment_size_limit_in_mb": max(1, self.settings.media_max_bytes // MIB),
                "media_attachments_total_size_limit_in_mb": media.MAX_MESSAGE_MEDIA_BYTES // MIB,
                "email_histories_allowed_mime_types": [],
                "email_bodies_allowed_mime_types": [],
            },
            "sync_objects": {
                "my_conversations": objects.of("my_conversations", user.sid).sid,
                "my_user_info": objects.of("user_info", user.sid).sid,
            },
            "links": self._links(caller),
        }
        return Reply(200, body), None

    def _user_body(self, caller: Caller, user: User) -> dict[str, Any]:
        reachable = bool(caller.service.reachability_enabled)
        return {
            "sid": user.sid,
            "identity": user.identity,
            "friendly_name": user.friendly_name,
            "attributes": user.attributes or "{}",
            "is_online": self.online_of(user.sid) if reachable else None,
            "is_notifiable": False if reachable else None,
            "sync_objects": {"user_info_map": objects.of("user_info", user.sid).sid},
            "url": f"{self._links(caller)['users']}/{_quote(user.identity)}",
        }

    def _find_user(self, session: Session, caller: Caller, identity: str) -> User:
        user = user_by_identity(session, caller, identity)
        if user is None:
            raise not_found(f"User {identity} not found")
        return user

    def _user(self, session: Session, caller: Caller, identity: str) -> Reply:
        return Reply(200, self._user_body(caller, self._find_user(session, caller, identity)))

    def _update_user(self, session: Session, caller: Caller, identity: str, body: dict[str, Any]) -> tuple[Reply, str]:
        body = _changed(session, body)
        if identity != caller.identity:
            raise forbidden("A client may change only its own user")
        user = self._find_user(session, caller, identity)
        users.update_user(
            session,
            caller.service,
            user,
            friendly_name=_str_or_unset(body, "friendly_name"),
            attributes_json=_json_or_unset(body, "attributes"),
        )
        return Reply(200, self._user_body(caller, user)), self._user_body(caller, user)["url"]

    # --- the user's conversations ---

    def _own(self, caller: Caller, identity: str) -> None:
        if identity != caller.identity:
            raise forbidden("A user's conversations are theirs alone")

    def _counts(self, session: Session, conversation_ids: list[int]) -> dict[int, tuple[int, int]]:
        """(messages, participants) of each conversation, in two grouped queries for a whole page."""
        messages_by_id = dict(
            session.execute(
                select(Message.conversation_id, func.count())
                .where(Message.conversation_id.in_(conversation_ids))
                .group_by(Message.conversation_id)
            ).all()
        )
        members_by_id = dict(
            session.execute(
                select(Participant.conversation_id, func.count())
                .where(Participant.conversation_id.in_(conversation_ids))
                .group_by(Participant.conversation_id)
            ).all()
        )
        return {i: (messages_by_id.get(i, 0), members_by_id.get(i, 0)) for i in conversation_ids}

    def _conversation(
        self,
        session: Session,
        caller: Caller,
        conversation: Conversation,
        joined: Participant | None = None,
        counts: tuple[int, int] | None = None,
    ) -> dict[str, Any]:
        """`counts`: (messages, participants), when the caller read them for a page at once."""
        joined = joined or participation(session, conversation, caller.identity)
        document, message_list, roster = objects.conversation_objects(conversation.sid)
        message_count, members = counts or self._counts(session, [conversation.id])[conversation.id]
        link = f"{self._links(caller)['conversations']}/{conversation.sid}"
        body: dict[str, Any] = {
            "sid": conversation.sid,
            "conversation_sid": conversation.sid,
            "chat_service_sid": caller.service.sid,
            "friendly_name": conversation.friendly_name,
            "unique_name": conversation.unique_name,
            "attributes": conversation.attributes or "{}",
            "created_by": conversation.created_by or "",
            "date_created": event_fields.stamp(conversation.date_created),
            "date_updated": event_fields.stamp(conversation.date_updated),
            "state": conversation.state,
            "status": "joined" if joined else "notParticipating",
            "last_read_message_index": joined.last_read_message_index if joined else None,
            "notification_level": joined.notification_level if joined else "default",
            "messages_count": message_count,
            "participants_count": members,
            "sync_objects": {
                "conversation": document.sid,
                "messages": message_list.sid,
                "participants": roster.sid,
            },
            "url": link,
            "links": {"messages": f"{link}/Messages", "participants": f"{link}/Participants"},
        }
        if joined is not None:
            unread = user_conversations.unread_counts(session, [joined])[joined.id]
            body["unread_messages_count"] = unread if unread is not None else message_count
        return body

    def _my_conversations(self, session: Session, caller: Caller, identity: str, token: str | None) -> Reply:
        self._own(caller, identity)
        query = (
            select(Participant, Conversation)
            .join(Conversation, Conversation.id == Participant.conversation_id)
            .where(Participant.service_id == caller.service.id, Participant.identity == identity)
            .order_by(Conversation.sid)
            .limit(MY_CONVERSATIONS_PAGE + 1)
        )
        if token:
            query = query.where(Conversation.sid > token)
        rows = list(session.execute(query))
        page = rows[:MY_CONVERSATIONS_PAGE]
        next_token = page[-1][1].sid if len(rows) > MY_CONVERSATIONS_PAGE else None
        counts = self._counts(session, [conversation.id for _, conversation in page])
        items = [
            self._conversation(session, caller, conversation, joined, counts[conversation.id])
            for joined, conversation in page
        ]
        return Reply(200, {"conversations": items, "meta": {"next_token": next_token, "previous_token": None}})

    def _participation(self, session: Session, caller: Caller, ref: str) -> tuple[Conversation, Participant]:
        conversation = conversations.find_conversation(session, caller.service, ref)
        joined = participation(session, conversation, caller.identity)
        if joined is None:
            raise forbidden(f"{caller.identity} is not a participant of conversation {conversation.sid}")
        return conversation, joined

    def _my_conversation(self, session: Session, caller: Caller, identity: str, ref: str) -> Reply:
        self._own(caller, identity)
        conversation, joined = self._participation(session, caller, ref)
        return Reply(200, self._conversation(session, caller, conversation, joined))

    def _update_my_conversation(
        self, session: Session, caller: Caller, identity: str, ref: str, body: dict[str, Any]
    ) -> tuple[Reply, str]:
        self._own(caller, identity)
        conversation, joined = self._participation(session, caller, ref)
        horizon: object = UNSET
        if "last_read_message_index" in body:
            value = body["last_read_message_index"]
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_INDEX
            ):
                raise invalid("last_read_message_index must be a message index or null")
            horizon = value
        level = body.get("notification_level")
        user_conversations.update_participation(
            session,
            joined,
            notification_level=level if isinstance(level, str) else UNSET,
            last_read_message_index=horizon,
        )
        reply = self._conversation(session, caller, conversation, joined)
        return Reply(200, reply), f"{self._links(caller)['my_conversations']}/{conversation.sid}"

    # --- conversations ---

    def _visible(self, session: Session, caller: Caller, sid: str) -> Conversation:
        return visible_conversation(session, caller, conversation_by_sid(session, caller, sid))

    def _joined(self, session: Session, caller: Caller, sid: str) -> tuple[Conversation, Participant]:
        conversation = self._visible(session, caller, sid)
        joined = participation(session, conversation, caller.identity)
        if joined is None:
            raise forbidden(f"{caller.identity} is not a participant of conversation {conversation.sid}")
        return conversation, joined

    def _create_conversation(self, session: Session, caller: Caller, body: dict[str, Any]) -> tuple[Reply, str]:
        conversation = conversations.create_conversation(
            session,
            caller.service,
            friendly_name=_str(body, "friendly_name"),
            unique_name=_str(body, "unique_name"),
            attributes_json=_json(body, "attributes"),
            created_by=caller.identity,
        )
        reply = self._conversation(session, caller, conversation)
        return Reply(201, reply), reply["url"]

    def _update_conversation(
        self, session: Session, caller: Caller, sid: str, body: dict[str, Any]
    ) -> tuple[Reply, str]:
        conversation, _ = self._joined(session, caller, sid)
        conversations.update_conversation(
            session,
            conversation,
            friendly_name=_str_or_unset(body, "friendly_name"),
            unique_name=_str_or_unset(body, "unique_name"),
            attributes_json=_json_or_unset(body, "attributes"),
        )
        reply = self._conversation(session, caller, conversation)
        return Reply(200, reply), reply["url"]

    def _delete_conversation(self, session: Session, caller: Caller, sid: str) -> tuple[Reply, None]:
        conversation, _ = self._joined(session, caller, sid)
        conversations.delete_conversation(session, conversation)
        return Reply(204), None

    # --- messages ---

    def _message_body(self, caller: Caller, conversation: Conversation, message: Message) -> dict[str, Any]:
        link = f"{self._links(caller)['conversations']}/{conversation.sid}/Messages/{message.sid}"
        return {
            "sid": message.sid,
            "index": message.index,
            "conversation_sid": conversation.sid,
            "chat_service_sid": caller.service.sid,
            "author": message.author,
            "body": message.body,
            "attributes": message.attributes or "{}",
            "participant_sid": message.participant_sid,
            "subject": message.subject,
            "content_sid": message.content_sid,
            "media": message.media,
            "medias": views.sdk_media(message.media) or None,
            "type": "media" if message.media else "text",
            "date_created": event_fields.stamp(message.date_created),
            "date_updated": event_fields.stamp(message.date_updated),
            "url": link,
        }

    def _before_sending(self, session: Session, caller: Caller, sid: str, body: dict[str, Any]) -> pre.PreEvent | None:
        conversation, joined = self._joined(session, caller, sid)
        current = {
            "ConversationSid": conversation.sid,
            "ChatServiceSid": caller.service.sid,
            "MessagingServiceSid": event_fields.messaging_service_sid(session, conversation) or "",
            "ParticipantSid": joined.sid,
        }
        requested = {"Author": caller.identity, "Body": _str(body, "body"), "Attributes": _json(body, "attributes")}
        return self._ask_first(session, caller, pre.MESSAGE_ADD, current, requested)

    def _ask_first(
        self, session: Session, caller: Caller, event_type: str, current: dict[str, str], requested: dict[str, Any]
    ) -> pre.PreEvent | None:
        fields = event_fields.pre_event_fields(event_type, current, requested)
        return pre.prepare(
            session, caller.service, event_type, fields, source=events.SDK, client_identity=caller.identity
        )

    def _before_message(
        self, session: Session, caller: Caller, sid: str, message_sid: str, event_type: str, body: dict[str, Any]
    ) -> pre.PreEvent | None:
        conversation, message = self._find_message(session, caller, sid, message_sid)
        requested = {"Body": _str(body, "body"), "Attributes": _json(body, "attributes")}
        current = event_fields.message_fields(session, conversation, message)
        return self._ask_first(session, caller, event_type, current, requested)

    def _before_conversation(
        self, session: Session, caller: Caller, sid: str, event_type: str, body: dict[str, Any]
    ) -> pre.PreEvent | None:
        conversation, _ = self._joined(session, caller, sid)
        requested = {
            "FriendlyName": _str(body, "friendly_name"),
            "UniqueName": _str(body, "unique_name"),
            "Attributes": _json(body, "attributes"),
        }
        current = event_fields.conversation_fields(session, conversation)
        return self._ask_first(session, caller, event_type, current, requested)

    def _before_adding_participant(
        self, session: Session, caller: Caller, sid: str, body: dict[str, Any]
    ) -> pre.PreEvent | None:
        conversation = self._visible(session, caller, sid)
        current = {"ConversationSid": conversation.sid, "ChatServiceSid": caller.service.sid}
        requested = {"Identity": _str(body, "identity"), "Attributes": _json(body, "attributes")}
        return self._ask_first(session, caller, pre.PARTICIPANT_ADD, current, requested)

    def _before_removing_participant(self, session: Session, caller: Caller, sid: str, ref: str) -> pre.PreEvent | None:
        conversation, _ = self._joined(session, caller, sid)
        participant = participants.find_participant(session, conversation, ref)
        current = event_fields.participant_fields(conversation, participant)
        return self._ask_first(session, caller, pre.PARTICIPANT_REMOVE, current, {})

    def _before_user_update(
        self, session: Session, caller: Caller, identity: str, body: dict[str, Any]
    ) -> pre.PreEvent | None:
        self._own(caller, identity)
        user = self._find_user(session, caller, identity)
        requested = {"FriendlyName": _str(body, "friendly_name"), "Attributes": _json(body, "attributes")}
        current = event_fields.user_fields(user, caller.service.sid)
        return self._ask_first(session, caller, pre.USER_UPDATE, current, requested)

    def _send(self, session: Session, caller: Caller, sid: str, body: dict[str, Any]) -> tuple[Reply, str]:
        conversation, joined = self._joined(session, caller, sid)
        changes: dict[str, str] = session.info.get(PRE_EVENT_CHANGES) or {}
        attached = _own_media(session, caller, body)
        message = messages.append_message(
            session,
            conversation,
            messages.NewMessage(
                author=caller.identity,
                body=changes.get("Body", _str(body, "body")),
                attributes_json=changes.get("Attributes", _json(body, "attributes")),
                subject=_str(body, "subject"),
                content_sid=_str(body, "content_sid"),
                content_variables=_str(body, "content_variables"),
                media=media.message_media(attached) or None,
                source="sdk",
                participant=joined,
            ),
        )
        media.attach_to_message(session, attached, message)
        reply = self._message_body(caller, conversation, message)
        return Reply(201, reply), reply["url"]

    def _find_message(
        self, session: Session, caller: Caller, sid: str, message_sid: str
    ) -> tuple[Conversation, Message]:
        conversation, _ = self._joined(session, caller, sid)
        return conversation, messages.find_message(session, conversation, message_sid)

    def _message(self, session: Session, caller: Caller, sid: str, message_sid: str) -> Reply:
        conversation, message = self._find_message(session, caller, sid, message_sid)
        return Reply(200, self._message_body(caller, conversation, message))

    def _receipts(
        self, session: Session, caller: Caller, sid: str, message_sid: str, params: Mapping[str, str]
    ) -> Reply:
        """The message's delivery receipts, one page (the SDK's getDetailedDeliveryReceipts); the REST
        Receipts list's rows, in the shape the SDK reads (`delivery_receipts`, and `meta` with its tokens)."""
        conversation, message = self._find_message(session, caller, sid, message_sid)
        size = params.get("PageSize") or str(RECEIPTS_PAGE)
        if not size.isdigit() or not 1 <= int(size) <= RECEIPTS_PAGE:
            raise invalid(f"PageSize must be 1 to {RECEIPTS_PAGE}")
        request = paging.PageRequest(int(size), token=params.get("PageToken") or None)
        page = paging.paginate(session, messages.receipts_query(message), Delivery.id, request)
        items = [
            {
                "sid": receipt.sid,
                "message_sid": message.sid,
                "conversation_sid": conversation.sid,
                "channel_message_sid": receipt.channel_message_sid,
                "participant_sid": receipt.participant_sid,
                "status": receipt.status,
                "error_code": receipt.error_code,
                "date_created": views.iso(receipt.date_created),
                "date_updated": views.iso(receipt.date_updated),
            }
            for receipt in page.items
        ]
        meta = {"next_token": page.next_token, "previous_token": page.previous_token}
        return Reply(200, {"delivery_receipts": items, "meta": meta})

    def _update_message(
        self, session: Session, caller: Caller, sid: str, message_sid: str, body: dict[str, Any]
    ) -> tuple[Reply, str]:
        body = _changed(session, body)
        conversation, message = self._find_message(session, caller, sid, message_sid)
        messages.update_message(
            session, message, body=_str_or_unset(body, "body"), attributes_json=_json_or_unset(body, "attributes")
        )
        reply = self._message_body(caller, conversation, message)
        return Reply(200, reply), reply["url"]

    def _delete_message(self, session: Session, caller: Caller, sid: str, message_sid: str) -> tuple[Reply, None]:
        _, message = self._find_message(session, caller, sid, message_sid)
        messages.delete_message(session, message)
        return Reply(204), None

    # --- participants ---

    def _participant_body(self, caller: Caller, conversation: Conversation, participant: Participant) -> dict[str, Any]:
        link = f"{self._links(caller)['conversations']}/{conversation.sid}/Participants/{participant.sid}"
        body: dict[str, Any] = {
            "sid": participant.sid,
            "conversation_sid": conversation.sid,
            "identity": participant.identity,
            "attributes": participant.attributes or "{}",
            "role_sid": participant.role_sid,
            "date_created": event_fields.stamp(participant.date_created),
            "date_updated": event_fields.stamp(participant.date_updated),
            "url": link,
        }
        if participant.address:
            body["messaging_binding"] = {"address": participant.address, "proxy_address": participant.proxy_address}
        return body

    def _add_participant(self, session: Session, caller: Caller, sid: str, body: dict[str, Any]) -> tuple[Reply, str]:
        body = _changed(session, body)
        conversation = self._visible(session, caller, sid)
        identity = _str(body, "identity")
        if participation(session, conversation, caller.identity) is None and identity != caller.identity:
            raise forbidden("Only a participant may add others")
        binding = body.get("messaging_binding")
        if binding is not None and not isinstance(binding, dict):
            raise invalid("messaging_binding must be an object")
        participant = participants.add_participant(
            session,
            conversation,
            identity=identity,
            address=_str(binding or {}, "address"),
            proxy_address=_str(binding or {}, "proxy_address"),
            attributes_json=_json(body, "attributes"),
        )
        reply = self._participant_body(caller, conversation, participant)
        return Reply(201, reply), reply["url"]

    def _update_participant(
        self, session: Session, caller: Caller, sid: str, ref: str, body: dict[str, Any]
    ) -> tuple[Reply, str]:
        conversation, _ = self._joined(session, caller, sid)
        participant = participants.find_participant(session, conversation, ref)
        participants.update_participant(session, participant, attributes_json=_json_or_unset(body, "attributes"))
        reply = self._participant_body(caller, conversation, participant)
        return Reply(200, reply), reply["url"]

    def _remove_participant(self, session: Session, caller: Caller, sid: str, ref: str) -> tuple[Reply, None]:
        conversation, _ = self._joined(session, caller, sid)
        participants.remove_participant(session, participants.find_participant(session, conversation, ref))
        return Reply(204), None

    # --- typing: the gateway fans it out; this checks who may say it ---

    def typing_conversation(self, client: ChatClient, request: Request) -> str:
        """The conversation a typing request is about, if the client takes part in it."""
        form = parse_qs(request.body or "")
        sid = (form.get("ChannelSid") or form.get("ConversationSid") or [""])[0]
        if "\x00" in sid:
            raise invalid("NUL characters are not allowed")
        with self.database.transaction() as session:
            caller = self._caller(session, client)
            conversation, _ = self._joined(session, caller, sid)
            return conversation.sid

    def typing_path(self, client: ChatClient, request: Request) -> bool:
        return request.method.upper() == "POST" and request.path.rstrip("/") == (
            f"/Client/v2/Services/{client.service_sid}/Typing"
        )


PRE_EVENT_CHANGES = "bridge.chat.pre_event_changes"


# A pre-event webhook's changes (named as request parameters) -> the client API's keys.
_CHANGED_KEYS = {
    "Body": "body",
    "Attributes": "attributes",
    "FriendlyName": "friendly_name",
    "UniqueName": "unique_name",
}


def _changed(session: Session, body: dict[str, Any]) -> dict[str, Any]:
    """The request's body with what the application's pre-event webhook replaced."""
    changes: dict[str, str] = session.info.get(PRE_EVENT_CHANGES) or {}
    return {**body, **{_CHANGED_KEYS[name]: value for name, value in changes.items() if name in _CHANGED_KEYS}}


def _holds_nul(value: Any) -> bool:
    """PostgreSQL refuses NUL in text, and the REST API refuses it in every field: so does the client API."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


def request_body(request: Request) -> dict[str, Any]:
    """A client-API request's body as an object: JSON (or JSON in a JSON string, as the SDK sends it), or a form."""
    if not request.body:
        return {}
    if request.content_type.startswith("application/x-www-form-urlencoded"):
        return {key: values[0] for key, values in parse_qs(request.body).items()}
    try:
        parsed = jsontext.loads(request.body)
    except ValueError:
        raise invalid("The request body is not JSON") from None
    if isinstance(parsed, str):  # the SDK sends its bodies as JSON strings of JSON
        try:
            parsed = jsontext.loads(parsed)
        except ValueError:
            raise invalid("The request body is not a JSON object") from None
    if not isinstance(parsed, dict):
        raise invalid("The request body is not a JSON object")
    return parsed


def _own_media(session: Session, caller: Caller, body: Mapping[str, Any]) -> list[Media]:
    """The files a send names in `media_sids`: uploaded by the caller through the media service, not yet on a
    message, and within the Configuration's limits (count and total size)."""
    sids = body.get("media_sids")
    if sids is None or sids == []:
        return []
    if not isinstance(sids, list) or not all(isinstance(sid, str) for sid in sids):
        raise invalid("media_sids must be a list of Media SIDs")
    rows = media.media_for_message(session, caller.service, sids)
    for row in rows:
        if row.author != caller.identity:  # another user's upload: not the caller's to send
            raise invalid(f"Media {row.sid} not found in this Conversation Service")
    media.check_message_limits(rows)
    return rows


def _str(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(f"{name} must be a string")
    return value


def _json(body: Mapping[str, Any], name: str) -> str | None:
    """Attributes: a JSON string, or (as some callers send them) the object itself."""
    value = body.get(name)
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def _str_or_unset(body: Mapping[str, Any], name: str) -> str | object:
    return _str(body, name) if name in body and body[name] is not None else UNSET


def _json_or_unset(body: Mapping[str, Any], name: str) -> str | object:
    return _json(body, name) if name in body and body[name] is not None else UNSET


def _quote(identity: str) -> str:
    return quote(identity, safe="")


def prune_mutations(session: Session, retention: timedelta) -> int:
    """Forgets mutation ids older than `retention` (a client retries within seconds, not days)."""
    cutoff = utcnow() - retention
    return session.execute(delete(ClientMutation).where(ClientMutation.created_at < cutoff)).rowcount or 0
