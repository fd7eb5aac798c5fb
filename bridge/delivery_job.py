"""What a worker needs to send one claimed delivery, read in the claim's transaction: the recipient, the
message (or the automatic reply), its stored media, and the send-time rules (opt-out, WhatsApp window,
attribution, smart encoding). Rules are evaluated now, at send time, so a replay or a long retry obeys the
rules of the moment it is sent, not those of the moment it was written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from bridge.addresses import CHAT, WHATSAPP
from bridge.conversations import effective_messaging_service
from bridge.models import Conversation, ConversationService, Delivery, Media, Message, OptOut, Participant, User
from bridge.timeutil import utcnow

WHATSAPP_WINDOW = timedelta(hours=24)
READY = "ready"


@dataclass(frozen=True)
class StoredMedia:
    sid: str
    content_type: str
    size: int | None


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
    media: list[StoredMedia] = field(default_factory=list)
    author_name: str | None = None  # only when attribution applies
    smart_encoding: bool = False
    window_open: bool = True
    opted_out: bool = False
    sends_done: int = 0  # sends of a multi-send delivery the carrier already accepted (a retry skips them)


def read_job(session: Session, delivery_id: int, now: datetime | None = None) -> DeliveryJob:
    """One query for the delivery, its recipient, conversation, service, pool, message and the recipient's
    opt-out; more only when the message has media or attribution is on."""
    now = now or utcnow()
    opted_out = (
        exists()
        .where(OptOut.address == Participant.address, OptOut.sender == Participant.proxy_address)
        .label("opted_out")
    )
    delivery, participant, conversation, message, is_opted_out = session.execute(
        select(Delivery, Participant, Conversation, Message, opted_out)
        .join(Participant, Participant.id == Delivery.participant_id)
        .join(Conversation, Conversation.id == Delivery.conversation_id)
        .outerjoin(Message, Message.id == Delivery.message_id)
        .where(Delivery.id == delivery_id)
    ).one()
    service = conversation.service  # loaded with the conversation (a joined relationship)
    pool = effective_messaging_service(session, conversation)
    window_open = participant.channel != WHATSAPP or (
        participant.last_inbound_at is not None and now - participant.last_inbound_at < WHATSAPP_WINDOW
    )
    return DeliveryJob(
        delivery_id=delivery.id,
        delivery_sid=delivery.sid,
        attempt=delivery.attempts,
        participant_id=participant.id,
        channel=participant.channel,
        address=participant.address or "",
        proxy_address=participant.proxy_address or "",
        conversation_sid=conversation.sid,
        message_sid=message.sid if message else None,
        body=message.body if message else delivery.reply_body,
        content_sid=message.content_sid if message else None,
        content_variables=message.content_variables if message else None,
        media=_ready_media(session, message) if message and message.media else [],
        author_name=_attribution(session, service, conversation, message) if message else None,
        smart_encoding=bool(pool and pool.smart_encoding),
        window_open=window_open,
        opted_out=bool(is_opted_out),
        sends_done=delivery.sends_done,
    )


def _ready_media(session: Session, message: Message) -> list[StoredMedia]:
    """The message's media in its own order, leaving out files that could not be fetched from the carrier."""
    sids = [item.get("sid") for item in message.media or [] if isinstance(item, dict)]
    if not sids:
        return []
    rows = {row.sid: row for row in session.scalars(select(Media).where(Media.sid.in_(sids), Media.status == READY))}
    return [StoredMedia(sid, rows[sid].content_type, rows[sid].size) for sid in sids if sid in rows]


def attribution_setting(service: ConversationService, conversation: Conversation) -> bool:
    """The service's setting, unless the conversation's attributes say otherwise: {"bridge": {"attribution": ...}}."""
    try:
        attributes = json.loads(conversation.attributes or "{}")
    except ValueError:
        attributes = {}
    settings = attributes.get("bridge") if isinstance(attributes, dict) else None
    override = settings.get("attribution") if isinstance(settings, dict) else None
    return override if isinstance(override, bool) else service.attribution_enabled


def _attribution(
    session: Session, service: ConversationService, conversation: Conversation, message: Message
) -> str | None:
    """The author's name, when the conversation has more than two participants and attribution is on."""
    if not attribution_setting(service, conversation):
        return None
    members = session.scalar(
        select(func.count()).select_from(Participant).where(Participant.conversation_id == conversation.id)
    )
    if (members or 0) <= 2:
        return None
    author = (
        session.scalar(select(Participant).where(Participant.sid == message.participant_sid))
        if message.participant_sid
        else None
    )
    if author is None:
        return None if message.author == "system" else message.author
    if author.channel == CHAT:
        user = session.scalar(select(User).where(User.service_id == service.id, User.identity == author.identity))
        return (user.friendly_name if user and user.friendly_name else None) or author.identity
    try:
        attributes = json.loads(author.attributes or "{}")
    except ValueError:
        attributes = {}
    if isinstance(attributes, dict):
        for key in ("friendly_name", "name"):
            if isinstance(attributes.get(key), str) and attributes[key].strip():
                return str(attributes[key]).strip()
    return author.address
