"""What admins do about deliveries: find failures, read a message's whole story, replay, re-route, and the
audit trail of it all. One set of operations behind the CLI, the admin JSON API and the web console.

A replay is a conditional state change (`failed`/`undelivered` -> `pending`), so a delivery in flight, sent or
delivered is never sent again, and two admins replaying the same selection send it once. The normal send path
then re-checks every send-time rule: an opted-out recipient stays blocked.

`replay` is one operation for every kind of outbox row an admin can send again (a `ReplayKind`: deliveries
here, webhook calls in `bridge.hooks.admin`): the batching, the counts and the audit trail are shared; a kind
brings its query and its state change.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import Select, case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bridge import delivery
from bridge.addresses import AddressError, parse_address
from bridge.errors import BridgeError, invalid, not_found
from bridge.models import (
    AdminAction,
    Conversation,
    ConversationService,
    Delivery,
    DeliveryAttempt,
    DeliveryEvent,
    Message,
    Participant,
    UnroutedMessage,
)
from bridge.paging import Page, PageRequest, paginate
from bridge.timeutil import iso, parse_datetime, utcnow

REPLAYABLE = (delivery.FAILED, delivery.UNDELIVERED)
REPLAY_BATCH = 500
_RELATIVE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_moment(raw: str, now: datetime | None = None) -> datetime:
    """`2h`, `30m`, `7d` (that long ago) or an ISO-8601 date-time."""
    match = _RELATIVE.match(raw)
    if match:
        try:
            return (now or utcnow()) - timedelta(**{_UNITS[match.group(2).lower()]: int(match.group(1))})
        except (OverflowError, ValueError):  # `99999999d`: before year 1; thousands of digits: past int()'s limit
            raise invalid(f"Not a time: {raw!r} (too far back)") from None
    try:
        return parse_datetime(raw if "T" in raw or " " in raw.strip() else f"{raw.strip()}T00:00:00Z")
    except (ValueError, OverflowError):  # OverflowError: an offset that moves year 1 or 9999 out of range
        raise invalid(f"Not a time: {raw!r} (use 2h, 30m, 7d or an ISO-8601 date-time)") from None


class Described:
    """A filter dataclass that can say what it asks for, for the audit trail."""

    def describe(self) -> dict[str, Any]:
        described = {key: value for key, value in asdict(self).items() if value not in (None, (), [])}
        for key in ("since", "until"):
            if key in described:
                described[key] = described[key].isoformat()
        return described


@dataclass(frozen=True)
class DeliveryFilter(Described):
    """Which deliveries an admin means. Every field narrows; an empty filter means every failed delivery."""

    statuses: tuple[str, ...] = (delivery.FAILED,)
    service_sid: str | None = None
    conversation_sid: str | None = None
    message_sid: str | None = None
    address: str | None = None
    channel: str | None = None
    error_codes: tuple[int, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    delivery_sids: tuple[str, ...] = ()


def updated_within(query: Select[Any], column: Any, since: datetime | None, until: datetime | None) -> Select[Any]:
    """`since` and `until` as admins filter by them: the row's last change in [since, until)."""
    if since is not None:
        query = query.where(column >= since)
    if until is not None:
        query = query.where(column < until)
    return query


def json_fields(row: Any) -> dict[str, Any]:
    """A row dataclass as JSON-ready fields (moments as ISO-8601), for the API and the CLI alike."""
    return {key: iso(value) if isinstance(value, datetime) else value for key, value in asdict(row).items()}


def _query(filt: DeliveryFilter) -> Select[tuple[Delivery]]:
    for status in filt.statuses:
        if status not in delivery.STATUSES:
            raise invalid(f"Unknown status {status!r}; one of {', '.join(delivery.STATUSES)}")
    query = select(Delivery)
    if filt.statuses:
        query = query.where(Delivery.status.in_(filt.statuses))
    if filt.service_sid or filt.conversation_sid:
        query = query.join(Conversation, Conversation.id == Delivery.conversation_id)
        if filt.conversation_sid:
            query = query.where(Conversation.sid == filt.conversation_sid)
        if filt.service_sid:
            query = query.join(ConversationService, ConversationService.id == Conversation.service_id).where(
                ConversationService.sid == filt.service_sid
            )
    if filt.message_sid:
        query = query.join(Message, Message.id == Delivery.message_id).where(Message.sid == filt.message_sid)
    if filt.address or filt.channel:
        query = query.join(Participant, Participant.id == Delivery.participant_id)
        if filt.address:
            try:
                normalized = str(parse_address(filt.address))
            except AddressError as exc:
                raise invalid(f"Invalid address: {exc}") from None
            query = query.where(Participant.address == normalized)
        if filt.channel:
            query = query.where(Participant.channel == filt.channel.lower())
    if filt.error_codes:
        query = query.where(Delivery.error_code.in_(filt.error_codes))
    query = updated_within(query, Delivery.date_updated, filt.since, filt.until)
    if filt.delivery_sids:
        query = query.where(Delivery.sid.in_(filt.delivery_sids))
    return query


@dataclass(frozen=True)
class DeliveryRow:
    """One delivery as admins see it, with where it belongs and what it carried."""

    sid: str
    status: str
    error_code: int
    error_message: str | None
    attempts: int
    channel: str | None
    address: str | None
    proxy_address: str | None
    conversation_sid: str
    service_sid: str
    message_sid: str | None
    message_index: int | None
    body_preview: str | None
    channel_message_sid: str | None
    date_created: datetime
    date_updated: datetime


def _rows(session: Session, deliveries: list[Delivery]) -> list[DeliveryRow]:
    if not deliveries:
        return []
    ids = [d.id for d in deliveries]
    context = {
        row.id: row
        for row in session.execute(
            select(
                Delivery.id,
                Participant.channel,
                Participant.address,
                Participant.proxy_address,
                Conversation.sid.label("conversation_sid"),
                ConversationService.sid.label("service_sid"),
                Message.sid.label("message_sid"),
                Message.index,
                Message.body,
            )
            .join(Conversation, Conversation.id == Delivery.conversation_id)
            .join(ConversationService, ConversationService.id == Conversation.service_id)
            .outerjoin(Participant, Participant.id == Delivery.participant_id)
            .outerjoin(Message, Message.id == Delivery.message_id)
            .where(Delivery.id.in_(ids))
        )
    }
    rows = []
    for d in deliveries:
        c = context[d.id]
        body = c.body if c.message_sid else d.reply_body
        rows.append(
            DeliveryRow(
                sid=d.sid,
                status=d.status,
                error_code=d.error_code,
                error_message=d.error_message,
                attempts=d.attempts,
                channel=c.channel,
                address=c.address,
                proxy_address=c.proxy_address,
                conversation_sid=c.conversation_sid,
                service_sid=c.service_sid,
                message_sid=c.message_sid,
                message_index=c.index,
                body_preview=(body[:120] + "…") if body and len(body) > 120 else body,
                channel_message_sid=d.channel_message_sid,
                date_created=d.date_created,
                date_updated=d.date_updated,
            )
        )
    return rows


def list_deliveries(session: Session, filt: DeliveryFilter, page: PageRequest) -> Page[DeliveryRow]:
    """Newest first, keyset-paged like the REST API."""
    found = paginate(session, _query(filt), Delivery.id, page, descending=True)
    return Page(_rows(session, found.items), found.next_token, found.previous_token)


def count_matching(session: Session, filt: DeliveryFilter) -> int:
    return session.scalar(select(func.count()).select_from(_query(filt).subquery())) or 0


def status_counts(
    session: Session, status: Any, updated: Any, statuses: tuple[str, ...], since: datetime | None = None
) -> dict[str, int]:
    """How many rows of an outbox are in each of `statuses` (0 for none), counting rows changed since `since`."""
    query = select(status, func.count()).group_by(status)
    if since is not None:
        query = query.where(updated >= since)
    counts = dict.fromkeys(statuses, 0)
    counts.update({found: count for found, count in session.execute(query).all()})
    return counts


def counts_by_status(session: Session, since: datetime | None = None) -> dict[str, int]:
    return status_counts(session, Delivery.status, Delivery.date_updated, delivery.STATUSES, since)


@dataclass(frozen=True)
class ErrorCount:
    error_code: int
    count: int
    example: str | None


def failures_by_error_code(session: Session, since: datetime | None = None) -> list[ErrorCount]:
    query = (
        select(Delivery.error_code, func.count(), func.max(Delivery.error_message))
        .where(Delivery.status.in_(REPLAYABLE))
        .group_by(Delivery.error_code)
        .order_by(func.count().desc())
    )
    if since is not None:
        query = query.where(Delivery.date_updated >= since)
    return [ErrorCount(code, count, example) for code, count, example in session.execute(query).all()]


def status_buckets(session: Session, since: datetime, minutes: int = 5) -> list[dict[str, Any]]:
    """Deliveries by status in buckets of `minutes` since `since` (the dashboard's chart): one grouped count
    per bucket, each a range scan on the `date_updated` index, so the window's rows never reach Python."""
    now = utcnow()
    width = timedelta(minutes=minutes)
    buckets: list[dict[str, Any]] = []
    start = since
    while start < now:
        end = start + width
        counts = {status: 0 for status in delivery.STATUSES}
        counts.update(
            dict(
                session.execute(
                    select(Delivery.status, func.count())
                    .where(Delivery.date_updated >= start, Delivery.date_updated < end)
                    .group_by(Delivery.status)
                ).all()
            )
        )
        buckets.append({"start": start, "end": end, "counts": counts})
        start = end
    return buckets


@dataclass(frozen=True)
class RecipientStory:
    delivery: DeliveryRow
    attempts: list[DeliveryAttempt]
    events: list[DeliveryEvent]


@dataclass(frozen=True)
class MessageTimeline:
    message_sid: str
    conversation_sid: str
    service_sid: str
    index: int
    author: str
    body: str | None
    date_created: datetime
    recipients: list[RecipientStory] = field(default_factory=list)


def timeline(session: Session, message_sid: str) -> MessageTimeline:
    """Every recipient of a message, every carrier attempt and every status callback, in order."""
    found = session.execute(
        select(Message, Conversation.sid, ConversationService.sid)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .join(ConversationService, ConversationService.id == Conversation.service_id)
        .where(Message.sid == message_sid)
    ).one_or_none()
    if found is None:
        raise not_found(f"Message {message_sid} not found")
    message, conversation_sid, service_sid = found
    deliveries = list(session.scalars(select(Delivery).where(Delivery.message_id == message.id).order_by(Delivery.id)))
    stories = []
    for row in _rows(session, deliveries):
        delivery_id = next(d.id for d in deliveries if d.sid == row.sid)
        attempts = list(
            session.scalars(
                select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id).order_by(DeliveryAttempt.id)
            )
        )
        events = list(
            session.scalars(
                select(DeliveryEvent).where(DeliveryEvent.delivery_id == delivery_id).order_by(DeliveryEvent.id)
            )
        )
        stories.append(RecipientStory(row, attempts, events))
    return MessageTimeline(
        message.sid,
        conversation_sid,
        service_sid,
        message.index,
        message.author,
        message.body,
        message.date_created,
        stories,
    )


@dataclass(frozen=True)
class ReplayResult:
    matched: int  # replayable rows the filter named when the replay began
    replayed: int  # moved back to pending by this replay
    skipped: int  # no longer replayable by the time this replay reached them (sent meanwhile, or replayed by another)


class ReplayFilter(Protocol):
    """What `replay` needs of a kind's filter: the statuses it names, and what it says in the audit trail."""

    @property
    def statuses(self) -> tuple[str, ...]: ...

    def describe(self) -> dict[str, Any]: ...


F = TypeVar("F", bound=ReplayFilter)


@dataclass(frozen=True)
class ReplayKind(Generic[F]):
    """One kind of outbox row an admin can send again: the rows a filter names, the statuses a replay moves, and
    the conditional state change that moves them (queueing each moved row once its transaction commits)."""

    name: str  # in the audit trail: delivery | webhook
    noun: str  # deliveries | webhook calls
    replayable: tuple[str, ...]
    query: Callable[[F], Select[Any]]
    key: Any  # the rows' id column: batches follow it
    move: Callable[[Session, list[int]], list[int]]

    def narrowed(self, filt: F) -> F:
        """The part of `filt` a replay acts on: its replayable statuses only."""
        statuses = tuple(s for s in filt.statuses if s in self.replayable)
        if not statuses:
            raise self.refusal()
        return dataclasses.replace(filt, statuses=statuses)

    def refusal(self) -> BridgeError:
        """What a replay of nothing replayable answers."""
        return invalid(f"Only {' or '.join(self.replayable)} {self.noun} can be replayed")

    def count(self, session: Session, filt: F) -> int:
        return session.scalar(select(func.count()).select_from(self.query(filt).subquery())) or 0


def _replay(session: Session, ids: list[int]) -> list[int]:
    now = utcnow()
    # Everything was accepted and the carrier failed it afterwards: all sends go again. Otherwise the sends the
    # carrier already accepted are kept, and only the rest go.
    all_sent = Delivery.sends_done >= func.coalesce(Delivery.sends, 1)
    moved = list(
        session.scalars(
            update(Delivery)
            .where(Delivery.id.in_(ids), Delivery.status.in_(REPLAYABLE))
            .values(
                status=delivery.PENDING,
                attempts=0,
                next_attempt_at=now,
                lease_until=None,
                swept_at=None,
                error_code=0,
                error_message=None,
                sends_done=case((all_sent, 0), else_=Delivery.sends_done),
                channel_message_sid=case((all_sent, None), else_=Delivery.channel_message_sid),
                last_part_sid=None,
                held_status=None,
                held_sid=None,
                date_updated=now,
            )
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        )
    )
    delivery.dispatch_after_commit(session, moved)
    return moved


DELIVERIES: ReplayKind[DeliveryFilter] = ReplayKind("delivery", "deliveries", REPLAYABLE, _query, Delivery.id, _replay)


def replay_batches(
    session_scope: Callable[[], Any],
    filt: Any,
    batch: int = REPLAY_BATCH,
    kind: ReplayKind[Any] = DELIVERIES,
) -> Iterator[tuple[int, int]]:
    """Replays everything `filt` names, one short transaction per batch (so a large replay neither holds locks
    nor waits for the end to start sending). Yields (replayed, skipped) per batch; the caller sums them up.

    `session_scope` is a Database.transaction-like context manager factory; rows are enqueued as each batch
    commits."""
    replayable = kind.narrowed(filt)
    with session_scope() as session:
        ids = list(session.scalars(kind.query(replayable).with_only_columns(kind.key).order_by(kind.key)))
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        with session_scope() as session:
            moved = kind.move(session, chunk)
        yield len(moved), len(chunk) - len(moved)


def replay(
    session_scope: Callable[[], Any],
    filt: Any,
    actor: str,
    on_batch: Callable[[int, int], None] | None = None,
    kind: ReplayKind[Any] = DELIVERIES,
) -> ReplayResult:
    """Replays every row of `kind` (deliveries unless told) that `filt` names, and records it in the audit
    trail."""
    replayable = kind.narrowed(filt)
    with session_scope() as session:
        matched = kind.count(session, replayable)
    replayed = skipped = 0
    for moved, missed in replay_batches(session_scope, replayable, kind=kind):
        replayed += moved
        skipped += missed
        if on_batch is not None:
            on_batch(moved, missed)
    with session_scope() as session:
        record_action(
            session,
            actor,
            "replay",
            f"replayed {replayed} of {matched} {kind.noun}",
            {
                "kind": kind.name,
                "filter": filt.describe(),
                "matched": matched,
                "replayed": replayed,
                "skipped": skipped,
            },
        )
    return ReplayResult(matched, replayed, skipped)


# The kept inbound messages admins can list, and the row statuses each list shows.
UNROUTED_VIEWS: dict[str, tuple[str, ...]] = {
    "unrouted": ("unrouted",),  # no conversation took them: re-routed once their sender is a participant
    "routed": ("routed",),  # routed since: re-routed by an admin, or let through by a pre-event webhook
    "held": ("held", "asking"),  # waiting for the application's pre-event webhook, or being asked about now
    "rejected": ("rejected",),  # refused by that webhook (kept, never routed)
}


def list_unrouted(session: Session, page: PageRequest, status: str = "unrouted") -> Page[UnroutedMessage]:
    """One of `UNROUTED_VIEWS`, newest first."""
    if status not in UNROUTED_VIEWS:
        raise invalid(f"status must be one of {', '.join(UNROUTED_VIEWS)}")
    return paginate(
        session,
        select(UnroutedMessage).where(UnroutedMessage.status.in_(UNROUTED_VIEWS[status])),
        UnroutedMessage.id,
        page,
        descending=True,
    )


@dataclass(frozen=True)
class RerouteResult:
    routed: bool
    message_sid: str | None
    reason: str | None = None


def reroute(session_scope: Callable[[], Any], unrouted_id: int, actor: str) -> RerouteResult:
    """Routes a kept inbound message again, after the missing participant was added. Exactly once: the row is
    claimed first, and the message's carrier SID is unique."""
    from bridge import inbound  # inbound imports this module's neighbours; keep the edge of the graph here

    with session_scope() as session:
        row = session.get(UnroutedMessage, unrouted_id)
        if row is None:
            raise not_found(f"Unrouted message {unrouted_id} not found")
        message = inbound.InboundMessage(
            carrier=row.carrier,
            carrier_message_sid=row.carrier_message_sid,
            from_address=row.from_address,
            to_address=row.to_address,
            body=row.body,
            media=[inbound.InboundMedia(m["url"], m.get("content_type")) for m in row.media or []],
            payload=row.payload,
        )
    try:
        with session_scope() as session:
            claimed = session.execute(
                update(UnroutedMessage)
                .where(UnroutedMessage.id == unrouted_id, UnroutedMessage.status == "unrouted")
                .values(status="routing")
                .execution_options(synchronize_session=False)
            ).rowcount
            if not claimed:
                return RerouteResult(False, None, "already routed")
            result = inbound.accept_inbound(session, message, rerouting=True)
            if result.outcome not in (inbound.ROUTED, inbound.AUTOCREATED):
                raise _StillUnbound(result.outcome)
            session.execute(
                update(UnroutedMessage)
                .where(UnroutedMessage.id == unrouted_id)
                .values(status="routed", routed_message_sid=result.message_sid)
                .execution_options(synchronize_session=False)
            )
            record_action(
                session,
                actor,
                "reroute",
                f"routed unrouted message {unrouted_id} into {result.conversation_sid}",
                {"unrouted_id": unrouted_id, "message_sid": result.message_sid},
            )
    except _StillUnbound:
        return RerouteResult(False, None, "no participant is bound to this pair yet")
    except IntegrityError:
        return RerouteResult(False, None, "already routed")
    return RerouteResult(True, result.message_sid)


class _StillUnbound(Exception):
    pass


def record_action(session: Session, actor: str, action: str, summary: str, details: dict[str, Any]) -> AdminAction:
    entry = AdminAction(actor=actor, action=action, summary=summary, details=details)
    session.add(entry)
    session.flush()
    return entry


def audit_trail(session: Session, page: PageRequest) -> Page[AdminAction]:
    return paginate(session, select(AdminAction), AdminAction.id, page, descending=True)
