"""What a worker needs to send one claimed delivery, read in the claim's transaction: the recipient, the
message (or the automatic reply), its stored media, and the send-time rules (opt-out, WhatsApp window,
attribution, smart encoding). Rules are evaluated now, at send time, so a replay or a long retry obeys the
rules of the moment it is sent, not those of the moment it was written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, exists, func, select
from sqlalchemy.orm import Session

from bridge import accounts, jsontext
from bridge.addresses import CHAT, WHATSAPP
from bridge.carriers.base import LOOKUP_SLACK
from bridge.models import (
    Conversation,
    ConversationService,
    Delivery,
    DeliveryAttempt,
    Media,
    Message,
    MessagingService,
    OptOut,
    Participant,
    User,
)
from bridge.timeutil import utcnow
from bridge.translate import MediaItem

WHATSAPP_WINDOW = timedelta(hours=24)
READY = "ready"


@dataclass(frozen=True)
class DeliveryJob:
    delivery_id: int
    delivery_sid: str
    attempt: int
    participant_id: int
    channel: str
    address: str
    proxy_address: str
    conversation_sid: str
    message_sid: str | None  # None for an automatic reply
    body: str | None
    content_sid: str | None = None
    content_variables: str | None = None
    media: list[MediaItem] = field(default_factory=list)
    author_name: str | None = None  # only when attribution applies
    smart_encoding: bool = False
    window_open: bool = True
    opted_out: bool = False
    sends_done: int = 0  # sends of a multi-send delivery the carrier already accepted (a retry skips them)
    # Set when an earlier attempt's send may have reached the carrier unrecorded: look before sending again.
    unsure_since: datetime | None = None
    # The carrier SIDs the bridge recorded for this recipient since then: a lookup must not take one of them.
    known_carrier_sids: frozenset[str] = frozenset()
    # Who the receipt's change events belong to.
    receipt: ReceiptKey | None = None  # None for an automatic reply, which is no conversation message


@dataclass(frozen=True)
class ReceiptKey:
    """What names a delivery receipt in its change events (onDeliveryUpdated)."""

    delivery_id: int
    delivery_sid: str
    participant_sid: str
    message_sid: str
    conversation_id: int
    conversation_sid: str
    service_id: int
    service_sid: str
    date_created: datetime
    webhooks_possible: bool  # the service or the conversation has a post-event target


def receipt_key(session: Session, delivery_id: int) -> ReceiptKey | None:
    """One query; None for an automatic reply."""
    d, c, s, m = _deliveries.c, _conversations.c, _services.c, _messages.c
    row = session.execute(
        select(
            d.id,
            d.sid,
            d.participant_sid,
            d.date_created,
            m.sid.label("message_sid"),
            c.id.label("cid"),
            c.sid.label("conversation_sid"),
            c.service_id,
            s.sid.label("service_sid"),
            (s.post_webhooks | c.scoped_webhooks).label("webhooks_possible"),
        )
        .select_from(_deliveries)
        .join(_conversations, c.id == d.conversation_id)
        .join(_services, s.id == c.service_id)
        .join(_messages, m.id == d.message_id)
        .where(d.id == delivery_id)
    ).one_or_none()
    if row is None:
        return None
    return ReceiptKey(
        delivery_id=row.id,
        delivery_sid=row.sid,
        participant_sid=row.participant_sid,
        message_sid=row.message_sid,
        conversation_id=row.cid,
        conversation_sid=row.conversation_sid,
        service_id=row.service_id,
        service_sid=row.service_sid,
        date_created=row.date_created,
        webhooks_possible=bool(row.webhooks_possible),
    )


# Core tables: the worker's hot path reads plain rows, not ORM entities (measurably cheaper per delivery).
_deliveries = Delivery.__table__
_participants = Participant.__table__
_conversations = Conversation.__table__
_services = ConversationService.__table__
_messages = Message.__table__
_pools = MessagingService.__table__
_opt_outs = OptOut.__table__


def read_job(session: Session, delivery_id: int, now: datetime | None = None) -> DeliveryJob:
    """One query for the delivery, its recipient, conversation, service, pool, message and the recipient's
    opt-out; more only when the message has media or attribution is on."""
    now = now or utcnow()
    d, p, c, s, m, pool = _deliveries.c, _participants.c, _conversations.c, _services.c, _messages.c, _pools.c
    opted_out = exists().where(_opt_outs.c.address == p.address, _opt_outs.c.sender == p.proxy_address)
    row = session.execute(
        select(
            d.id,
            d.sid,
            d.attempts,
            d.reply_body,
            d.sends_done,
            d.unsure_since,
            d.message_id,
            d.participant_sid.label("recipient_sid"),
            d.date_created.label("delivery_created"),
            s.sid.label("service_sid"),
            (s.post_webhooks | c.scoped_webhooks).label("webhooks_possible"),
            p.id.label("participant_id"),
            p.channel,
            p.address,
            p.proxy_address,
            p.last_inbound_at,
            c.id.label("conversation_id"),
            c.sid.label("conversation_sid"),
            c.attributes.label("conversation_attributes"),
            c.service_id,
            s.attribution_enabled,
            pool.smart_encoding,
            c.messaging_service_id,
            m.sid.label("message_sid"),
            m.body,
            m.content_sid,
            m.content_variables,
            m.media,
            m.participant_sid,
            m.author,
            opted_out.label("opted_out"),
        )
        .select_from(_deliveries)
        .join(_participants, p.id == d.participant_id)
        .join(_conversations, c.id == d.conversation_id)
        .join(_services, s.id == c.service_id)
        .outerjoin(_pools, pool.id == c.messaging_service_id)
        .outerjoin(_messages, m.id == d.message_id)
        .where(d.id == delivery_id)
    ).one()
    smart_encoding = bool(row.smart_encoding)
    if row.messaging_service_id is None:  # the conversation falls back to the account's default pool
        default_pool = accounts.configuration(session).default_messaging_service
        smart_encoding = bool(default_pool and default_pool.smart_encoding)
    is_message = row.message_id is not None
    window_open = row.channel != WHATSAPP or (
        row.last_inbound_at is not None and now - _aware(row.last_inbound_at) < WHATSAPP_WINDOW
    )
    return DeliveryJob(
        delivery_id=row.id,
        delivery_sid=row.sid,
        attempt=row.attempts,
        participant_id=row.participant_id,
        channel=row.channel,
        address=row.address or "",
        proxy_address=row.proxy_address or "",
        conversation_sid=row.conversation_sid,
        message_sid=row.message_sid,
        body=row.body if is_message else row.reply_body,
        content_sid=row.content_sid,
        content_variables=row.content_variables,
        media=_ready_media(session, row.media) if is_message and row.media else [],
        author_name=_attribution(session, row) if is_message else None,
        smart_encoding=smart_encoding,
        window_open=window_open,
        opted_out=bool(row.opted_out),
        sends_done=row.sends_done,
        unsure_since=row.unsure_since,
        known_carrier_sids=_recorded_sids(session, row.id, row.participant_id, row.unsure_since)
        if row.unsure_since
        else frozenset(),
        receipt=ReceiptKey(
            delivery_id=row.id,
            delivery_sid=row.sid,
            participant_sid=row.recipient_sid,
            message_sid=row.message_sid,
            conversation_id=row.conversation_id,
            conversation_sid=row.conversation_sid,
            service_id=row.service_id,
            service_sid=row.service_sid,
            date_created=row.delivery_created,
            webhooks_possible=bool(row.webhooks_possible),
        )
        if is_message
        else None,
    )


def _recorded_sids(session: Session, delivery_id: int, participant_id: int, since: datetime) -> frozenset[str]:
    """Carrier SIDs of sends to this recipient that the bridge recorded around and after `since`: those
    messages are accounted for. From the attempt log, and from status callbacks of the recipient's other
    deliveries (a callback for this one may be about the very send in doubt)."""
    after = _aware(since) - LOOKUP_SLACK
    attempts = select(DeliveryAttempt.carrier_message_sid).join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
    callbacks = select(Delivery.channel_message_sid)
    sids = set(
        session.scalars(
            attempts.where(
                Delivery.participant_id == participant_id,
                DeliveryAttempt.started_at >= after,
                DeliveryAttempt.carrier_message_sid.is_not(None),
            )
        )
    )
    sids |= set(
        session.scalars(
            callbacks.where(
                Delivery.participant_id == participant_id,
                Delivery.id != delivery_id,
                Delivery.date_updated >= after,
                Delivery.channel_message_sid.is_not(None),
            )
        )
    )
    return frozenset(sid for sid in sids if sid)


def _aware(value: datetime) -> datetime:
    # Core rows come through the UTCDateTime type too, but be explicit: the window compares aware times.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _ready_media(session: Session, media: list[dict[str, object]]) -> list[MediaItem]:
    """The message's media in its own order, leaving out files that could not be fetched from the carrier."""
    sids = [str(item.get("sid")) for item in media if isinstance(item, dict) and item.get("sid")]
    if not sids:
        return []
    rows = {row.sid: row for row in session.scalars(select(Media).where(Media.sid.in_(sids), Media.status == READY))}
    return [MediaItem(sid, rows[sid].content_type, rows[sid].size) for sid in sids if sid in rows]


def attribution_setting(service_enabled: bool, conversation_attributes: str | None) -> bool:
    """The service's setting, unless the conversation's attributes say otherwise: {"bridge": {"attribution": ...}}."""
    try:
        attributes = jsontext.loads(conversation_attributes or "{}")
    except ValueError:
        attributes = {}
    settings = attributes.get("bridge") if isinstance(attributes, dict) else None
    override = settings.get("attribution") if isinstance(settings, dict) else None
    return override if isinstance(override, bool) else service_enabled


def _attribution(session: Session, row: Row[Any]) -> str | None:
    """The author's name, when the conversation has more than two participants and attribution is on."""
    if not attribution_setting(row.attribution_enabled, row.conversation_attributes):
        return None
    members = session.scalar(
        select(func.count()).select_from(Participant).where(Participant.conversation_id == row.conversation_id)
    )
    if (members or 0) <= 2:
        return None
    author = (
        session.scalar(select(Participant).where(Participant.sid == row.participant_sid))
        if row.participant_sid
        else None
    )
    if author is None:
        return None if row.author == "system" else row.author
    if author.channel == CHAT:
        user = session.scalar(select(User).where(User.service_id == row.service_id, User.identity == author.identity))
        return (user.friendly_name if user and user.friendly_name else None) or author.identity
    try:
        attributes = jsontext.loads(author.attributes or "{}")
    except ValueError:
        attributes = {}
    if isinstance(attributes, dict):
        for key in ("friendly_name", "name"):
            if isinstance(attributes.get(key), str) and attributes[key].strip():
                return str(attributes[key]).strip()
    return author.address
