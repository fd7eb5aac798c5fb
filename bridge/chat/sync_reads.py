"""The Sync reads the SDK makes (`GET /v3/{Documents|Maps|Lists}/<sid>[/Items]`), answered from the domain.

Every object and item is labelled with the `seq` of its stream read *before* its data: what the data shows
is then at least as new as the label, so an event the client is sent later (any event above the label) is
never one it already has, and re-applying one it has in effect is harmless (events carry current data).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge import messages as domain_messages
from bridge.chat import objects, views
from bridge.chat.access import (
    Caller,
    conversation_by_sid,
    forbidden,
    sync_not_found,
    user_by_sid,
    visible_conversation,
)
from bridge.chat.objects import LIST, MAP, SyncObject
from bridge.errors import BridgeError, invalid
from bridge.models import Conversation, Message, Participant, User

PAGE_LIMIT = 100  # Sync's largest page
AFTER = "after:"  # a map page token: the keys after the one it names
TYPE_OF_PATH = {"Documents": objects.DOCUMENT, "Maps": MAP, "Lists": LIST}
PATH_OF_TYPE = {value: key for key, value in TYPE_OF_PATH.items()}


@dataclass
class Item:
    key: str | int
    data: dict[str, Any]
    date_updated: str | None


def object_url(caller: Caller, obj: SyncObject) -> str:
    return f"{caller.base_url}/v3/{PATH_OF_TYPE[obj.type]}/{obj.sid}"


def item_url(caller: Caller, obj: SyncObject, key: str | int) -> str:
    return f"{object_url(caller, obj)}/Items/{key}"


def resolve(
    session: Session, caller: Caller, object_id: str, expected_type: str | None = None
) -> tuple[SyncObject, Any]:
    """The object and the row it shows, if the caller may read it."""
    obj = objects.parse(object_id)
    if obj is None or (expected_type is not None and obj.type != expected_type):
        raise sync_not_found(object_id)
    if obj.owner_sid.startswith("CH"):
        conversation = conversation_by_sid(session, caller, obj.owner_sid)
        if conversation is None:
            raise sync_not_found(object_id)
        return obj, visible_conversation(session, caller, conversation)
    user = user_by_sid(session, caller, obj.owner_sid)
    if user is None:
        raise sync_not_found(object_id)
    if obj.kind == "my_conversations" and user.identity != caller.identity:
        raise forbidden("A user's list of conversations is theirs alone")
    return obj, user


def stream_seq(owner: Conversation | User) -> int:
    return int(owner.last_event_seq or 0)


def document_data(session: Session, conversation: Conversation) -> dict[str, Any]:
    last = session.scalar(
        select(Message).where(Message.conversation_id == conversation.id).order_by(Message.index.desc()).limit(1)
    )
    return views.conversation_data(conversation, last)


def descriptor(
    session: Session,
    caller: Caller,
    obj: SyncObject,
    owner: Any,
    seq: int,
    include_items: bool = False,
    online: bool = False,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sid": obj.sid,
        "unique_name": obj.sid,
        "url": object_url(caller, obj),
        "revision": str(seq),
        "last_event_id": seq,
        "date_created": views.iso(owner.date_created),
        "date_updated": views.iso(owner.date_updated),
        "date_expires": None,
    }
    if obj.type == objects.DOCUMENT:
        body["data"] = document_data(session, owner)
    else:
        body["links"] = {"items": object_url(caller, obj) + "/Items"}
    if include_items and obj.type == MAP:
        items, _, _ = map_items(session, caller, obj, owner, None, None, False, PAGE_LIMIT, online)
        body["items"] = [item_descriptor(caller, obj, item, seq) for item in items]
    return body


def item_descriptor(caller: Caller, obj: SyncObject, item: Item, seq: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "url": item_url(caller, obj, item.key),
        "revision": str(seq),
        "last_event_id": seq,
        "data": item.data,
        "date_updated": item.date_updated,
        "date_expires": None,
    }
    body["key" if obj.type == MAP else "index"] = item.key
    return body


def _message_item(message: Message, delivery: dict[str, object] | None) -> Item:
    return Item(message.index, views.message_data(message, delivery), views.iso(message.date_updated))


def message_items(session: Session, messages: list[Message]) -> list[Item]:
    summaries = domain_messages.delivery_summaries(session, [m.id for m in messages])
    return [_message_item(m, summaries.get(m.id)) for m in messages]


def list_items(
    session: Session, conversation: Conversation, index: int | None, start: int | None, descending: bool, limit: int
) -> tuple[list[Item], bool, bool]:
    """A page of the message list, and whether items exist before and after it (in the page's order)."""
    query = select(Message).where(Message.conversation_id == conversation.id)
    if index is not None:
        query = query.where(Message.index == index)
    elif start is not None:
        query = query.where(Message.index <= start if descending else Message.index >= start)
    query = query.order_by(Message.index.desc() if descending else Message.index).limit(limit + 1)
    found = list(session.scalars(query))
    more_after = len(found) > limit
    found = found[:limit]
    more_before = False
    if found and index is None:
        first = found[0].index
        before = select(Message.id).where(
            Message.conversation_id == conversation.id, Message.index > first if descending else Message.index < first
        )
        more_before = session.scalar(before.limit(1)) is not None
    return message_items(session, found), more_before, more_after


def roster_item(participant: Participant, user_sid: str | None) -> Item:
    return Item(participant.sid, views.participant_data(participant, user_sid), views.iso(participant.date_updated))


def roster_items(session: Session, conversation: Conversation, keys: list[str] | None = None) -> list[Item]:
    query = (
        select(Participant, User.sid)
        .outerjoin(User, (User.service_id == Participant.service_id) & (User.identity == Participant.identity))
        .where(Participant.conversation_id == conversation.id)
        .order_by(Participant.sid)
    )
    if keys is not None:
        query = query.where(Participant.sid.in_(keys))
    return [roster_item(participant, user_sid) for participant, user_sid in session.execute(query)]


def my_conversation_items(session: Session, user: User, keys: list[str] | None = None) -> list[Item]:
    query = (
        select(Participant, Conversation)
        .join(Conversation, Conversation.id == Participant.conversation_id)
        .where(Participant.service_id == user.service_id, Participant.identity == user.identity)
        .order_by(Conversation.sid)
    )
    if keys is not None:
        query = query.where(Conversation.sid.in_(keys))
    return [
        Item(
            conversation.sid, views.my_conversation_data(participant, conversation), views.iso(participant.date_updated)
        )
        for participant, conversation in session.execute(query)
    ]


def user_info_item_list(user: User, online: bool) -> list[Item]:
    return [Item(key, data, views.iso(user.date_updated)) for key, data in views.user_info_items(user, online).items()]


def map_items(
    session: Session,
    caller: Caller,
    obj: SyncObject,
    owner: Any,
    key: str | None,
    start: str | None,
    descending: bool,
    limit: int,
    online: bool = False,
) -> tuple[list[Item], bool, bool]:
    keys = [key] if key is not None else None
    if obj.kind == "roster":
        items = roster_items(session, owner, keys)
    elif obj.kind == "my_conversations":
        items = my_conversation_items(session, owner, keys)
    else:
        items = [item for item in user_info_item_list(owner, online) if keys is None or item.key in keys]
    items.sort(key=lambda item: str(item.key), reverse=descending)
    if start is not None:
        exclusive = start.startswith(AFTER)  # a next_token: the page after that key
        bound = start[len(AFTER) :] if exclusive else start

        def in_page(item: Item) -> bool:
            key = str(item.key)
            if key == bound:
                return not exclusive
            return key < bound if descending else key > bound

        items = [item for item in items if in_page(item)]
    more_after = len(items) > limit
    page = items[:limit]
    more_before = False  # the client pages forward from `From`; a page from the start has nothing before it
    if start is not None and page:
        more_before = True
    return page, more_before, more_after


def _int(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)  # type: ignore[arg-type]
    except ValueError:
        raise invalid(f"{name} must be an integer") from None
    if not -(2**31) <= value < 2**31:  # indexes are 32-bit integers in the database
        raise invalid(f"{name} is out of range")
    return value


def read_items(
    session: Session, caller: Caller, obj: SyncObject, owner: Any, params: Mapping[str, str], online: bool = False
) -> dict[str, Any]:
    seq = stream_seq(owner)  # first: see the module's docstring
    order = (params.get("Order") or "asc").lower()
    if order not in ("asc", "desc"):
        raise invalid("Order must be asc or desc")
    descending = order == "desc"
    limit = _int(params, "PageSize") or 50
    if not 0 < limit <= PAGE_LIMIT:
        raise invalid(f"PageSize must be between 1 and {PAGE_LIMIT}")
    start_raw = params.get("PageToken") or params.get("From")
    if obj.type == LIST:
        start = None
        if start_raw not in (None, ""):
            start = _int({"From": start_raw}, "From")  # type: ignore[dict-item]
        items, before, after = list_items(session, owner, _int(params, "Index"), start, descending, limit)
    else:
        items, before, after = map_items(
            session, caller, obj, owner, params.get("Key"), start_raw or None, descending, limit, online
        )
    next_token = None
    if after and items:
        last = items[-1].key
        next_token = str(last - 1 if descending else last + 1) if isinstance(last, int) else AFTER + last
    return {
        "items": [item_descriptor(caller, obj, item, seq) for item in items],
        "meta": {"previous_token": "before" if before else None, "next_token": next_token},
    }


def read(
    session: Session,
    caller: Caller,
    path: list[str],
    params: Mapping[str, str],
    online_of: Callable[[str], bool] | None = None,
) -> dict[str, Any]:
    """`path`: the parts after `/v3/`, e.g. ["Maps", "MP...", "Items"]; `online_of` tells a user's reachability."""
    if len(path) < 2 or path[0] not in TYPE_OF_PATH or len(path) > 4:
        raise BridgeError(20404, "Not found", 404)
    obj, owner = resolve(session, caller, path[1], TYPE_OF_PATH[path[0]])
    online = bool(online_of and obj.kind == "user_info" and online_of(obj.owner_sid))
    if len(path) == 2:
        seq = stream_seq(owner)
        include = params.get("Include") == "items"
        return descriptor(session, caller, obj, owner, seq, include_items=include, online=online)
    if path[2] != "Items" or obj.type == objects.DOCUMENT:
        raise BridgeError(20404, "Not found", 404)
    if len(path) == 4:
        key = path[3]
        single = {"Key": key} if obj.type == MAP else {"Index": key}
        page = read_items(session, caller, obj, owner, single, online)
        if not page["items"]:
            raise sync_not_found(f"{obj.sid} item {key}")
        return page["items"][0]
    return read_items(session, caller, obj, owner, params, online)
