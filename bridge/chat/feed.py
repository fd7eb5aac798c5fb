"""Sync events from the change-event log: what a client following an object is sent.

A stream's change events (a conversation's or a user's) become events on the Sync objects of that stream, with
the change event's `seq` as their id. Their data is the row as it is now, not as it was: a client may be sent a
newer state under an older id, never an older state under a newer one, so it always converges on the present.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge import events as log
from bridge.chat import objects, sync_reads, views
from bridge.chat.access import Caller
from bridge.chat.objects import SyncObject
from bridge.models import ChangeEvent, Conversation, Message, User
from bridge.timeutil import utcnow

PROTOCOL = 4
BATCH = 500  # change events read at a time


EVERYONE = "*"


@dataclass(frozen=True)
class SyncEvent:
    object_sid: str
    id: int
    payload: dict[str, Any]  # the notification's body: {"event_type", "event_protocol_version", "event"}
    # After this event someone may no longer read the stream's objects: an identity, or EVERYONE.
    revokes: str | None = None


@dataclass
class Batch:
    events: list[SyncEvent]
    upto: int  # the highest seq read (the stream is covered up to here)
    more: bool  # BATCH was reached: read again from `upto`


def _event(obj: SyncObject, event_type: str, seq: int, when: str | None, **fields: Any) -> SyncEvent:
    body: dict[str, Any] = {f"{obj.type}_sid": obj.sid, "id": seq, "date_created": when, **fields}
    return SyncEvent(obj.sid, seq, {"event_type": event_type, "event_protocol_version": PROTOCOL, "event": body})


def _item_event(
    base: Caller, obj: SyncObject, event_type: str, seq: int, when: str | None, key: str | int, data: dict[str, Any]
) -> SyncEvent:
    key_field = "item_key" if obj.type == objects.MAP else "item_index"
    return _event(
        obj,
        event_type,
        seq,
        when,
        **{key_field: key},
        item_data=data,
        item_url=sync_reads.item_url(base, obj, key),
        item_revision=str(seq),
        **{f"{obj.type}_revision": str(seq)},
    )


def read(session: Session, base: Caller, stream_sid: str, after: int, online: bool = False) -> Batch:
    """The Sync events of `stream_sid`'s change events after `after` (`base` gives the URLs' prefix)."""
    # The newest seq first: each statement has its own snapshot (READ COMMITTED), and an event committed between the
    # two reads must not look like a pruned gap. Read in this order, a missing seq really was pruned.
    newest = current_seq(session, [stream_sid]).get(stream_sid, after)
    changes = log.stream(session, stream_sid, after, limit=BATCH)
    if changes and changes[0].seq == after + 1:
        produced = _events_of(session, base, stream_sid, changes, online)
        return Batch(produced, changes[-1].seq, len(changes) >= BATCH)
    # Seqs have no holes, so a missing one was pruned: the client was away longer than the log's retention.
    if changes:
        refreshed = refresh(session, base, stream_sid, changes[0].seq, online)
        produced = refreshed + _events_of(session, base, stream_sid, changes, online)
        return Batch(produced, changes[-1].seq, len(changes) >= BATCH)
    if newest > after:
        return Batch(refresh(session, base, stream_sid, newest, online), newest, False)
    return Batch([], after, False)


def _events_of(
    session: Session, base: Caller, stream_sid: str, changes: list[ChangeEvent], online: bool
) -> list[SyncEvent]:
    if stream_sid.startswith("CH"):
        return _conversation_events(session, base, stream_sid, changes)
    return _user_events(session, base, stream_sid, changes, online)


REFRESHED_MESSAGES = 100  # after a gap, the newest messages are sent again (older ones are as the client has them)


def refresh(session: Session, base: Caller, stream_sid: str, label: int, online: bool) -> list[SyncEvent]:
    """Every object of the stream as it is now, for a client whose missed events were pruned: items as added (an
    item the client has becomes an update of it). What was removed in the gap cannot be named and stays with the
    client until it reloads."""
    now = views.iso(utcnow())
    out: list[SyncEvent] = []
    if stream_sid.startswith("CH"):
        conversation = session.scalar(select(Conversation).where(Conversation.sid == stream_sid))
        document, message_list, roster = objects.conversation_objects(stream_sid)
        if conversation is None:
            return [_event(obj, f"{obj.type}_removed", label, now) for obj in (document, message_list, roster)]
        out.append(_document_event(document, label, now, sync_reads.document_data(session, conversation)))
        for item in sync_reads.roster_items(session, conversation):
            out.append(_item_event(base, roster, "map_item_added", label, now, item.key, item.data))
        items, _, _ = sync_reads.list_items(session, conversation, None, None, True, REFRESHED_MESSAGES)
        for item in reversed(items):
            out.append(_item_event(base, message_list, "list_item_added", label, now, item.key, item.data))
        return out
    user = session.scalar(select(User).where(User.sid == stream_sid))
    if user is None:
        return out
    info, mine = objects.of("user_info", stream_sid), objects.of("my_conversations", stream_sid)
    for item in sync_reads.user_info_item_list(user, online):
        out.append(_item_event(base, info, "map_item_updated", label, now, item.key, item.data))
    for item in sync_reads.my_conversation_items(session, user):
        out.append(_item_event(base, mine, "map_item_added", label, now, item.key, item.data))
    return out


def _conversation_events(session: Session, base: Caller, sid: str, changes: list[ChangeEvent]) -> list[SyncEvent]:
    document, message_list, roster = objects.conversation_objects(sid)
    conversation = session.scalar(select(Conversation).where(Conversation.sid == sid))
    message_sids = {c.resource_sid for c in changes if c.type in (log.MESSAGE_ADDED, log.MESSAGE_UPDATED)}
    message_sids |= {c.data.get("MessageSid") for c in changes if c.type == log.DELIVERY_UPDATED}
    found_messages = list(session.scalars(select(Message).where(Message.sid.in_([s for s in message_sids if s]))))
    items_by_sid = dict(
        zip([m.sid for m in found_messages], sync_reads.message_items(session, found_messages), strict=False)
    )
    participant_sids = [c.resource_sid for c in changes if c.type in (log.PARTICIPANT_ADDED, log.PARTICIPANT_UPDATED)]
    roster_by_sid: dict[str, sync_reads.Item] = {}
    if conversation is not None and participant_sids:
        keyed = sync_reads.roster_items(session, conversation, [s for s in participant_sids if s])
        roster_by_sid = {str(item.key): item for item in keyed}
    document_data = sync_reads.document_data(session, conversation) if conversation is not None else None

    out: list[SyncEvent] = []
    for change in changes:
        when = views.iso(change.created_at)
        kind = change.type
        if kind in (log.MESSAGE_ADDED, log.MESSAGE_UPDATED):
            # The message as this event left it (a later edit is its own event), on what the row adds (receipts).
            item = items_by_sid.get(change.resource_sid or "")
            data = _message_as_of(change.data, item.data if item is not None else None)
            index = int(change.data.get("Index", item.key if item is not None else -1))
            event_type = "list_item_added" if kind == log.MESSAGE_ADDED else "list_item_updated"
            out.append(_item_event(base, message_list, event_type, change.seq, when, index, data))
            if kind == log.MESSAGE_ADDED and document_data is not None:
                out.append(_document_event(document, change.seq, when, document_data))
        elif kind == log.DELIVERY_UPDATED:
            item = items_by_sid.get(change.data.get("MessageSid") or "")
            if item is not None:
                out.append(_item_event(base, message_list, "list_item_updated", change.seq, when, item.key, item.data))
        elif kind == log.MESSAGE_REMOVED:
            index = int(change.data.get("Index", -1))
            out.append(_item_event(base, message_list, "list_item_removed", change.seq, when, index, {}))
            if document_data is not None:
                out.append(_document_event(document, change.seq, when, document_data))
        elif kind in (log.PARTICIPANT_ADDED, log.PARTICIPANT_UPDATED):
            item = roster_by_sid.get(change.resource_sid or "")
            if item is not None:
                event_type = "map_item_added" if kind == log.PARTICIPANT_ADDED else "map_item_updated"
                out.append(_item_event(base, roster, event_type, change.seq, when, item.key, item.data))
        elif kind == log.PARTICIPANT_REMOVED:
            key = change.resource_sid or ""
            removed = _item_event(base, roster, "map_item_removed", change.seq, when, key, {})
            identity = change.data.get("Identity")
            out.append(SyncEvent(removed.object_sid, removed.id, removed.payload, identity) if identity else removed)
        elif kind in (log.CONVERSATION_ADDED, log.CONVERSATION_UPDATED, log.CONVERSATION_STATE_UPDATED):
            if document_data is not None:
                out.append(_document_event(document, change.seq, when, document_data))
        elif kind == log.CONVERSATION_REMOVED:
            out.append(_event(document, "document_removed", change.seq, when))
            out.append(_event(message_list, "list_removed", change.seq, when))
            gone = _event(roster, "map_removed", change.seq, when)
            out.append(SyncEvent(gone.object_sid, gone.id, gone.payload, EVERYONE))
    return out


def _message_as_of(fields: dict[str, str], current: dict[str, Any] | None) -> dict[str, Any]:
    data = dict(current or {})
    data.update(
        {
            "sid": fields.get("MessageSid"),
            "text": fields.get("Body"),
            "author": fields.get("Author"),
            "attributes": fields.get("Attributes") or "{}",
            "timestamp": fields.get("DateCreated"),
            "dateUpdated": fields.get("DateUpdated") or data.get("dateUpdated") or fields.get("DateCreated"),
            "memberSid": fields.get("ParticipantSid"),
        }
    )
    data.setdefault("type", "media" if fields.get("Media") else "text")
    data.setdefault("lastUpdatedBy", None)
    return data


def _document_event(document: SyncObject, seq: int, when: str | None, data: dict[str, Any]) -> SyncEvent:
    return _event(document, "document_updated", seq, when, document_data=data, document_revision=str(seq))


def _user_events(session: Session, base: Caller, sid: str, changes: list[ChangeEvent], online: bool) -> list[SyncEvent]:
    user = session.scalar(select(User).where(User.sid == sid))
    if user is None:
        return []
    info, mine = objects.of("user_info", sid), objects.of("my_conversations", sid)
    profile = {str(item.key): item for item in sync_reads.user_info_item_list(user, online)}
    joined = [c.data.get("ConversationSid") for c in changes if c.type == log.MEMBERSHIP_CHANGED]
    memberships = {
        str(item.key): item for item in sync_reads.my_conversation_items(session, user, [s for s in joined if s])
    }
    out: list[SyncEvent] = []
    for change in changes:
        when = views.iso(change.created_at)
        if change.type in (log.USER_ADDED, log.USER_UPDATED):
            for key in ("attributes", "friendlyName"):
                out.append(_item_event(base, info, "map_item_updated", change.seq, when, key, profile[key].data))
        elif change.type == log.REACHABILITY_CHANGED:
            data = profile["reachability"].data
            out.append(_item_event(base, info, "map_item_updated", change.seq, when, "reachability", data))
        elif change.type == log.MEMBERSHIP_CHANGED:
            conversation_sid = change.data.get("ConversationSid") or ""
            item = memberships.get(conversation_sid)
            if change.data.get("Change") == "removed" or item is None:
                if item is None:
                    out.append(_item_event(base, mine, "map_item_removed", change.seq, when, conversation_sid, {}))
                continue
            event_type = "map_item_added" if change.data.get("Change") == "added" else "map_item_updated"
            out.append(_item_event(base, mine, event_type, change.seq, when, conversation_sid, item.data))
    return out


def current_seq(session: Session, stream_sids: list[str]) -> dict[str, int]:
    """The newest seq of each stream (a gateway's check for what its clients may have missed)."""
    result: dict[str, int] = {}
    conversations = [s for s in stream_sids if s.startswith("CH")]
    users = [s for s in stream_sids if s.startswith("US")]
    for chunk in _chunks(conversations):
        rows = session.execute(select(Conversation.sid, Conversation.last_event_seq).where(Conversation.sid.in_(chunk)))
        result.update({sid: int(seq or 0) for sid, seq in rows})
    for chunk in _chunks(users):
        rows = session.execute(select(User.sid, User.last_event_seq).where(User.sid.in_(chunk)))
        result.update({sid: int(seq or 0) for sid, seq in rows})
    return result


def _chunks(values: list[str], size: int = 500) -> list[list[str]]:
    return [values[i : i + size] for i in range(0, len(values), size)]
