"""SQLAlchemy 2 typed models. The database enforces the invariants (unique and partial unique indexes).

Integer primary keys keep joins and keyset paging cheap; each resource also has its public SID.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from bridge.timeutil import utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Id = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements only INTEGER PRIMARY KEY


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class Timestamps:
    date_created: Mapped[datetime] = mapped_column(default=utcnow)
    date_updated: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AccountConfiguration(Base):
    """The account's singleton settings (`/v1/Configuration`): always the row with id 1."""

    __tablename__ = "account_configuration"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    default_chat_service_id: Mapped[int | None] = mapped_column(Id, ForeignKey("services.id", ondelete="SET NULL"))
    default_messaging_service_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("messaging_services.id", ondelete="SET NULL")
    )
    default_inactive_timer: Mapped[str | None] = mapped_column(String(64))
    default_closed_timer: Mapped[str | None] = mapped_column(String(64))

    default_chat_service: Mapped[ConversationService | None] = relationship(lazy="joined")
    default_messaging_service: Mapped[MessagingService | None] = relationship(lazy="joined")


class ApiKey(Base, Timestamps):
    """Key SID + secret accepted in place of the account's auth token (`bridge keys create`)."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sid: Mapped[str] = mapped_column(String(34), unique=True)
    friendly_name: Mapped[str | None] = mapped_column(String(64))
    # Recoverable on purpose: it keys HMACs (access tokens), so it cannot be a one-way hash.
    secret: Mapped[str] = mapped_column(String(128))


class ConversationService(Base, Timestamps):
    """A Conversation Service (`IS`): an isolated container of conversations, users and roles."""

    __tablename__ = "services"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sid: Mapped[str] = mapped_column(String(34), unique=True)
    friendly_name: Mapped[str] = mapped_column(String(256))
    default_conversation_creator_role_sid: Mapped[str | None] = mapped_column(String(34))
    default_conversation_role_sid: Mapped[str | None] = mapped_column(String(34))
    default_chat_service_role_sid: Mapped[str | None] = mapped_column(String(34))
    reachability_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Bridge settings: prefix relayed SMS/WhatsApp text with the author's name in groups of three or more,
    # and whether an opt-out/help keyword message is added to the conversation.
    attribution_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    keyword_messages_visible: Mapped[bool] = mapped_column(Boolean, default=True)
    # Whether the webhook settings that apply to this service (its own, or the account's) name a pre- or a
    # post-event URL: kept by bridge/hooks/configuration.py, read on every change so that a service without
    # webhooks pays no query for them.
    pre_webhooks: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    post_webhooks: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # Push notification settings (`/Configuration/Notifications`), as the REST resource nests them:
    # {"log_enabled": bool, "new_message": {...}, "added_to_conversation": {...}, "removed_from_conversation": {...}}.
    notifications: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=text("'{}'"))


class Role(Base, Timestamps):
    __tablename__ = "roles"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sid: Mapped[str] = mapped_column(String(34), unique=True)
    service_id: Mapped[int] = mapped_column(Id, ForeignKey("services.id", ondelete="CASCADE"), index=True)
    friendly_name: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(16))  # conversation | service
    permissions: Mapped[list[Any]] = mapped_column(default=list)


class User(Base, Timestamps):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("service_id", "identity"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sid: Mapped[str] = mapped_column(String(34), unique=True)
    service_id: Mapped[int] = mapped_column(Id, ForeignKey("services.id", ondelete="CASCADE"))
    identity: Mapped[str] = mapped_column(String(256))
    friendly_name: Mapped[str | None] = mapped_column(String(256))
    attributes: Mapped[str] = mapped_column(Text, default="{}")
    role_sid: Mapped[str | None] = mapped_column(String(34))
    # The user's change events (they belong to no conversation) are numbered by this counter.
    last_event_seq: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class MessagingService(Base, Timestamps):
    """A carrier-side sender pool (`MG`), as in Twilio's Messaging API."""

    __tablename__ = "messaging_services"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sid: Mapped[str] = mapped_column(String(34), unique=True)
    friendly_name: Mapped[str] = mapped_column(String(64))
    inbound_request_url: Mapped[str | None] = mapped_column(Text)
    inbound_method: Mapped[str] = mapped_column(String(8), default="POST")
    fallback_url: Mapped[str | None] = mapped_column(Text)
    fallback_method: Mapped[str] = mapped_column(String(8), default="POST")
    status_callback: Mapped[str | None] = mapped_column(Text)
    sticky_sender: Mapped[bool] = mapped_column(Boolean, default=True)
    mms_converter: Mapped[bool] = mapped_column(Boolean, default=True)
    smart_encoding: Mapped[bool] = mapped_column(Boolean, default=False)
    scan_message_content: Mapped[str] = mapped_column(String(16), default="inherit")
    fallback_to_long_code: Mapped[bool] = mapped_column(Boolean, default=True)
    area_code_geomatch: Mapped[bool] = mapped_column(Boolean, default=True)
    synchronous_validation: Mapped[bool] = mapped_column(Boolean, default=False)
    validity_period: Mapped[int] = mapped_column(Integer, default=36000)
    usecase: Mapped[str] = mapped_column(String(64), default="undeclared")
    use_inbound_webhook_on_number: Mapped[bool] = mapped_column(Boolean, default=False)
    # The reply to HELP/INFO. None: the carrier answers (Twilio does by default), the bridge stays silent.
    help_text: Mapped[str | None] = mapped_column(Text)
    # Where it came from: "api" (created here) or "carrier" (read from the carrier account, same SID).
    origin: Mapped[str] = mapped_column(String(16), default="api", server_default=text("'api'"))

    senders: Mapped[list[Sender]] = relationship(back_populates="messaging_service", passive_deletes=True)


class Sender(Base, Timestamps):
    """One address of a sender pool (`PN`): an SMS number or a `whatsapp:` sender, in one pool only."""

    __tablename__ = "messaging_senders"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sid: Mapped[str] = mapped_column(String(34), unique=True)
    messaging_service_id: Mapped[int] = mapped_column(
        Id, ForeignKey("messaging_services.id", ondelete="CASCADE"), index=True
    )
    address: Mapped[str] = mapped_column(String(64), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    country_code: Mapped[str | None] = mapped_column(String(2))
    # "api" (added here), "carrier" (the carrier account lists it in this service) or "account" (a number of the
    # carrier account, or of the simulator, that joined this pool when a participant first named it).
    origin: Mapped[str] = mapped_column(String(16), default="api", server_default=text("'api'"))

    messaging_service: Mapped[MessagingService] = relationship(back_populates="senders")


class CarrierNumber(Base, Timestamps):
    """A phone number or WhatsApp sender of the carrier account, as the last sync read it: a valid proxy address
    even before it is in any pool, as every number of a Twilio account is."""

    __tablename__ = "carrier_numbers"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    address: Mapped[str] = mapped_column(String(64), unique=True)  # +E164 or whatsapp:+E164
    channel: Mapped[str] = mapped_column(String(16))
    carrier_sid: Mapped[str | None] = mapped_column(String(34))  # PN... (numbers) or XE... (WhatsApp senders)
    # The carrier's messaging service that holds it, if any.
    carrier_messaging_service_sid: Mapped[str | None] = mapped_column(String(34))
    synced_at: Mapped[datetime] = mapped_column(default=utcnow)


class Conversation(Base, Timestamps):
    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("service_id", "unique_name"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sid: Mapped[str] = mapped_column(String(34), unique=True)
    service_id: Mapped[int] = mapped_column(Id, ForeignKey("services.id", ondelete="CASCADE"), index=True)
    messaging_service_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("messaging_services.id", ondelete="SET NULL"), index=True
    )
    unique_name: Mapped[str | None] = mapped_column(String(256))
    friendly_name: Mapped[str | None] = mapped_column(String(256))
    attributes: Mapped[str] = mapped_column(Text, default="{}")
    state: Mapped[str] = mapped_column(String(16), default="active")
    timer_inactive: Mapped[str | None] = mapped_column(String(64))
    timer_closed: Mapped[str | None] = mapped_column(String(64))
    date_inactive: Mapped[datetime | None] = mapped_column()
    date_closed: Mapped[datetime | None] = mapped_column()
    created_by: Mapped[str | None] = mapped_column(String(256))
    # Numbering: an UPDATE ... RETURNING on this counter hands out indexes; the row lock orders writers.
    last_message_index: Mapped[int] = mapped_column(Integer, default=-1, server_default=text("-1"))
    # The conversation's change events are numbered by this counter, under the same row lock.
    last_event_seq: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # Whether it has conversation-scoped webhooks (kept by bridge/hooks/configuration.py), for the same reason.
    scoped_webhooks: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))

    service: Mapped[ConversationService] = relationship(lazy="joined")
    messaging_service: Mapped[MessagingService | None] = relationship(lazy="joined")


class Participant(Base, Timestamps):
    __tablename__ = "participants"
    __table_args__ = (
        UniqueConstraint("conversation_id", "identity"),
        # The routing key: a (proxy address, address) pair is bound in at most one non-closed conversation.
        Index(
            "uq_participants_active_binding",
            "proxy_address",
            "address",
            unique=True,
            sqlite_where=text("binding_active"),
            postgresql_where=text("binding_active"),
        ),
        Index("ix_participants_service_id_identity", "service_id", "identity"),
        Index("ix_participants_service_id_address", "service_id", "address"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sid: Mapped[str] = mapped_column(String(34), unique=True)
    conversation_id: Mapped[int] = mapped_column(Id, ForeignKey("conversations.id", ondelete="CASCADE"))
    service_id: Mapped[int] = mapped_column(Id, ForeignKey("services.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))  # chat | sms | whatsapp
    identity: Mapped[str | None] = mapped_column(String(256))
    address: Mapped[str | None] = mapped_column(String(64))
    proxy_address: Mapped[str | None] = mapped_column(String(64))
    projected_address: Mapped[str | None] = mapped_column(String(64))
    binding_active: Mapped[bool] = mapped_column(Boolean, default=False)
    attributes: Mapped[str] = mapped_column(Text, default="{}")
    role_sid: Mapped[str | None] = mapped_column(String(34))
    last_read_message_index: Mapped[int | None] = mapped_column(Integer)
    last_read_timestamp: Mapped[datetime | None] = mapped_column()
    notification_level: Mapped[str] = mapped_column(String(16), default="default")
    # A participant receives messages with an index above this (they joined after it was written).
    joined_at_index: Mapped[int] = mapped_column(Integer, default=-1)
    # The WhatsApp customer-service window opens with each inbound message from this binding.
    last_inbound_at: Mapped[datetime | None] = mapped_column()

    conversation: Mapped[Conversation] = relationship(lazy="joined")


class Message(Base, Timestamps):
    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("conversation_id", "index"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sid: Mapped[str] = mapped_column(String(34), unique=True)
    conversation_id: Mapped[int] = mapped_column(Id, ForeignKey("conversations.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    author: Mapped[str] = mapped_column(String(256), default="system")
    body: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[str] = mapped_column(Text, default="{}")
    participant_sid: Mapped[str | None] = mapped_column(String(34))
    media: Mapped[list[Any] | None] = mapped_column(JSON)
    content_sid: Mapped[str | None] = mapped_column(String(34))
    content_variables: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(String(256))
    source: Mapped[str] = mapped_column(String(16), default="api")
    # The carrier's message SID of an inbound message: a carrier's retry never makes a second message.
    carrier_message_sid: Mapped[str | None] = mapped_column(String(64), unique=True)

    conversation: Mapped[Conversation] = relationship()


class Delivery(Base, Timestamps):
    """One row per (message, non-chat recipient): the delivery ledger, the outbox, and the receipt (`DY`)."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("message_id", "participant_id"),
        Index("ix_deliveries_participant_id_status", "participant_id", "status"),
        Index("ix_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_deliveries_status_date_updated", "status", "date_updated"),
        Index("ix_deliveries_date_updated", "date_updated"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sid: Mapped[str] = mapped_column(String(34), unique=True)
    # None for an automatic reply (the answer to HELP), which is not a conversation message.
    message_id: Mapped[int | None] = mapped_column(Id, ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    conversation_id: Mapped[int] = mapped_column(Id, ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    reply_body: Mapped[str | None] = mapped_column(Text)
    participant_id: Mapped[int | None] = mapped_column(Id, ForeignKey("participants.id", ondelete="SET NULL"))
    participant_sid: Mapped[str] = mapped_column(String(34))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    channel_message_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    error_code: Mapped[int] = mapped_column(Integer, default=0)
    error_message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    lease_until: Mapped[datetime | None] = mapped_column()
    swept_at: Mapped[datetime | None] = mapped_column()  # last time the sweeper re-enqueued it
    # When the current claim began; cleared when the carrier's answer is recorded. Still set at the next claim,
    # it means the last attempt's outcome was never learnt (its worker died mid-send).
    sending_since: Mapped[datetime | None] = mapped_column()
    # Since when a send may have reached the carrier unbeknown to the bridge (a worker died mid-send, or the
    # carrier did not answer in time). The next attempt asks the carrier before sending again.
    unsure_since: Mapped[datetime | None] = mapped_column()
    # What the recipient's channel was sent: SMS encoding and segment count, number of carrier sends.
    encoding: Mapped[str | None] = mapped_column(String(8))
    segments: Mapped[int | None] = mapped_column(Integer)
    sends: Mapped[int | None] = mapped_column(Integer)
    # A long text goes out as several sends; those already accepted are not sent again on a retry.
    sends_done: Mapped[int] = mapped_column(Integer, default=0)
    # A multi-send delivery is finished by the status of its last send; a callback for a send the worker has
    # not recorded yet is held until it has.
    last_part_sid: Mapped[str | None] = mapped_column(String(64))
    held_status: Mapped[str | None] = mapped_column(String(16))
    held_sid: Mapped[str | None] = mapped_column(String(64))

    message: Mapped[Message] = relationship()


class DeliveryAttempt(Base):
    """One call to the carrier for one delivery: the attempt log admins read. No credentials in it."""

    __tablename__ = "delivery_attempts"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(Id, ForeignKey("deliveries.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column()
    duration_ms: Mapped[int] = mapped_column(Integer)
    http_status: Mapped[int | None] = mapped_column(Integer)
    carrier_message_sid: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(Text)
    will_retry: Mapped[bool] = mapped_column(Boolean, default=False)


class DeliveryEvent(Base):
    """A carrier status callback as it arrived (applied or not), for the message timeline admins read."""

    __tablename__ = "delivery_events"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(Id, ForeignKey("deliveries.id", ondelete="CASCADE"), index=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    carrier_status: Mapped[str] = mapped_column(String(32))
    carrier_message_sid: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[int | None] = mapped_column(Integer)
    applied: Mapped[bool] = mapped_column(Boolean, default=False)  # whether it moved the delivery's status


class AdminAction(Base):
    """The audit trail: every change an admin made (sign-ins, replays, re-routes), with who and when."""

    __tablename__ = "admin_actions"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AddressConfiguration(Base, Timestamps):
    """Per-address inbound settings (`IG`), e.g. conversation autocreation."""

    __tablename__ = "address_configurations"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sid: Mapped[str] = mapped_column(String(34), unique=True)
    type: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(64), unique=True)
    friendly_name: Mapped[str | None] = mapped_column(String(256))
    auto_creation: Mapped[dict[str, Any]] = mapped_column(default=dict)
    address_country: Mapped[str | None] = mapped_column(String(8))


class Media(Base, Timestamps):
    """A media file (`ME`), uploaded through the API or received from a carrier, served from the bridge."""

    __tablename__ = "media"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sid: Mapped[str] = mapped_column(String(34), unique=True)
    service_id: Mapped[int] = mapped_column(Id, ForeignKey("services.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int | None] = mapped_column(Id, ForeignKey("messages.id", ondelete="SET NULL"), index=True)
    content_type: Mapped[str] = mapped_column(String(128))
    filename: Mapped[str | None] = mapped_column(String(256))
    size: Mapped[int | None] = mapped_column(BigInteger)
    author: Mapped[str | None] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16), default="ready")  # pending (being fetched) | ready | failed
    storage: Mapped[str | None] = mapped_column(String(16))  # database | s3
    storage_key: Mapped[str | None] = mapped_column(String(256))
    # Inbound only: where the carrier keeps it until the bridge has fetched it. Never shown to anyone.
    carrier_url: Mapped[str | None] = mapped_column(Text)
    fetch_attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class MediaContent(Base):
    """The bytes of a media file when the database is its storage (the default)."""

    __tablename__ = "media_content"
    media_id: Mapped[int] = mapped_column(Id, ForeignKey("media.id", ondelete="CASCADE"), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class OptOut(Base, Timestamps):
    """A person who texted STOP (or whose carrier said 21610) to one sender: nothing goes to the pair."""

    __tablename__ = "opt_outs"
    __table_args__ = (UniqueConstraint("address", "sender"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    address: Mapped[str] = mapped_column(String(64))
    sender: Mapped[str] = mapped_column(String(64))
    keyword: Mapped[str] = mapped_column(String(32))  # STOP, ..., or "carrier" when the carrier said 21610


class UnroutedMessage(Base, Timestamps):
    """An inbound message whose (To, From) pair matched no binding and no autocreation: kept for admins."""

    __tablename__ = "unrouted_messages"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    carrier: Mapped[str] = mapped_column(String(32))
    carrier_message_sid: Mapped[str] = mapped_column(String(64), unique=True)
    from_address: Mapped[str] = mapped_column(String(64))
    to_address: Mapped[str] = mapped_column(String(64), index=True)
    body: Mapped[str | None] = mapped_column(Text)
    media: Mapped[list[Any] | None] = mapped_column(JSON)
    # Every parameter the carrier sent, so a later re-route loses nothing.
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="unrouted")  # unrouted | routed
    routed_message_sid: Mapped[str | None] = mapped_column(String(34))


class ChangeEvent(Base):
    """One change the domain made, written in the transaction that made it: the log its readers follow.

    `stream` is the conversation's SID (or the user's, for user events) and `seq` numbers the stream's events in
    commit order (the conversation's or user's row lock hands them out); `id` orders all events. `data` holds the
    event's fields as Twilio's webhooks name them, as they were at that moment (the resource may be gone later).
    """

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("stream", "seq"),
        # What the webhook reader has not planned yet; small, since planning follows within moments.
        Index(
            "ix_events_unplanned",
            "id",
            sqlite_where=text("NOT webhooks_planned"),
            postgresql_where=text("NOT webhooks_planned"),
        ),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    stream: Mapped[str] = mapped_column(String(34))
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(40))
    service_sid: Mapped[str] = mapped_column(String(34))
    conversation_sid: Mapped[str | None] = mapped_column(String(34))
    resource_sid: Mapped[str | None] = mapped_column(String(34))
    source: Mapped[str] = mapped_column(String(16))  # API | SDK | SMS | WHATSAPP
    client_identity: Mapped[str | None] = mapped_column(String(256))
    # Twilio's rule: SDK and SMS/WhatsApp actions fire webhooks; REST writes only with X-Twilio-Webhook-Enabled.
    fires_webhooks: Mapped[bool] = mapped_column(Boolean)
    webhooks_planned: Mapped[bool] = mapped_column(Boolean, default=False)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class WebhookSettings(Base, Timestamps):
    """Pre- and post-event webhook targets: the account's (no service) and each service's. A service with a
    target of its own replaces the account's for its conversations, as on Twilio."""

    __tablename__ = "webhook_settings"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    service_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("services.id", ondelete="CASCADE"), unique=True, nullable=True
    )
    pre_webhook_url: Mapped[str | None] = mapped_column(Text)
    post_webhook_url: Mapped[str | None] = mapped_column(Text)
    method: Mapped[str] = mapped_column(String(8), default="POST")
    filters: Mapped[list[Any]] = mapped_column(default=list)
    target: Mapped[str] = mapped_column(String(16), default="webhook")  # webhook | flex (account level)
    pre_webhook_retry_count: Mapped[int] = mapped_column(Integer, default=0)
    post_webhook_retry_count: Mapped[int] = mapped_column(Integer, default=0)


class ConversationWebhook(Base, Timestamps):
    """A conversation-scoped webhook (`WH`): post-event only, at most five per conversation."""

    __tablename__ = "conversation_webhooks"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sid: Mapped[str] = mapped_column(String(34), unique=True)
    conversation_id: Mapped[int] = mapped_column(Id, ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    target: Mapped[str] = mapped_column(String(16))  # webhook | trigger | studio
    url: Mapped[str | None] = mapped_column(Text)
    method: Mapped[str] = mapped_column(String(8), default="post")
    filters: Mapped[list[Any]] = mapped_column(default=list)
    triggers: Mapped[list[Any]] = mapped_column(default=list)
    flow_sid: Mapped[str | None] = mapped_column(String(34))
    replay_after: Mapped[int | None] = mapped_column(Integer)


class WebhookCall(Base, Timestamps):
    """One post-event webhook to one target: the outbox row its worker sends, retries and records.

    Calls of one `line` (a stream and a target) go out in event order, one in flight, as deliveries do per
    recipient. Everything needed to send it is on the row, so pruning the event log never strands a call."""

    __tablename__ = "webhook_calls"
    __table_args__ = (
        UniqueConstraint("event_id", "target"),
        Index("ix_webhook_calls_line_id", "line", "id"),
        Index("ix_webhook_calls_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_webhook_calls_status_date_updated", "status", "date_updated"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sid: Mapped[str] = mapped_column(String(34), unique=True)
    # No foreign key: the event may be pruned first. None for a replay of earlier messages (Configuration.ReplayAfter).
    event_id: Mapped[int | None] = mapped_column(Id)
    event_type: Mapped[str] = mapped_column(String(40))
    service_sid: Mapped[str] = mapped_column(String(34))
    conversation_sid: Mapped[str | None] = mapped_column(String(34), index=True)
    line: Mapped[str] = mapped_column(String(80))
    # account | service | a conversation-scoped webhook's SID | the address configuration's autocreation hook
    target: Mapped[str] = mapped_column(String(40))
    url: Mapped[str] = mapped_column(Text)
    method: Mapped[str] = mapped_column(String(8))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|sending|delivered|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The attempt limit: what the target asks for (1 + PostWebhookRetryCount) until a worker claims the call, then
    # at least that worker's BRIDGE_WEBHOOK_MAX_ATTEMPTS.
    max_attempts: Mapped[int] = mapped_column(Integer, default=1)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    lease_until: Mapped[datetime | None] = mapped_column()
    swept_at: Mapped[datetime | None] = mapped_column()
    http_status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    event_at: Mapped[datetime] = mapped_column()  # when the change happened: the lag is measured from it
    delivered_at: Mapped[datetime | None] = mapped_column()


class WebhookAttempt(Base):
    """One request to a webhook target: the attempt log admins read."""

    __tablename__ = "webhook_attempts"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    call_id: Mapped[int] = mapped_column(Id, ForeignKey("webhook_calls.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column()
    duration_ms: Mapped[int] = mapped_column(Integer)
    http_status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    will_retry: Mapped[bool] = mapped_column(Boolean, default=False)


class ClientMutation(Base):
    """A chat client's write, by the `X-Twilio-Mutation-Id` its SDK sent: a retry of the same write is answered
    with where its result is (Twilio's 202 and `resource_url`) rather than done twice. Written in the write's
    own transaction; pruned with the change events."""

    __tablename__ = "client_mutations"
    __table_args__ = (UniqueConstraint("service_id", "identity", "mutation_id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    service_id: Mapped[int] = mapped_column(Id, ForeignKey("services.id", ondelete="CASCADE"))
    identity: Mapped[str] = mapped_column(String(256))
    mutation_id: Mapped[str] = mapped_column(String(64))
    resource_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class PushCredential(Base, Timestamps):
    """A push credential (`CR`, `/v1/Credentials`): the account's FCM, GCM or APNs keys. Recoverable on purpose,
    since the workers sign with them; never returned by the API."""

    __tablename__ = "push_credentials"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sid: Mapped[str] = mapped_column(String(34), unique=True)
    friendly_name: Mapped[str | None] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(8))  # apn | gcm | fcm
    sandbox: Mapped[bool] = mapped_column(Boolean, default=False)  # APNs: the development environment
    certificate: Mapped[str | None] = mapped_column(Text)  # APNs: PEM
    private_key: Mapped[str | None] = mapped_column(Text)  # APNs: PEM
    api_key: Mapped[str | None] = mapped_column(Text)  # GCM
    secret: Mapped[str | None] = mapped_column(Text)  # FCM: the service account's JSON key


class PushBinding(Base, Timestamps):
    """A device registered for push (`BS`): made by the SDK's `setPushRegistrationId` through the gateway's push
    registry, listed and deleted over REST. A device token is registered once per service and channel; a new
    registration of it (another identity on the same device) replaces the old one."""

    __tablename__ = "push_bindings"
    __table_args__ = (
        UniqueConstraint("service_id", "binding_type", "address"),
        Index("ix_push_bindings_service_id_identity", "service_id", "identity"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sid: Mapped[str] = mapped_column(String(34), unique=True)
    service_id: Mapped[int] = mapped_column(Id, ForeignKey("services.id", ondelete="CASCADE"))
    identity: Mapped[str] = mapped_column(String(256))
    credential_sid: Mapped[str | None] = mapped_column(String(34))  # from the token's ChatGrant
    binding_type: Mapped[str] = mapped_column(String(16))  # apn | gcm | fcm
    address: Mapped[str] = mapped_column(String(512))  # the device token; never returned by the API
    endpoint: Mapped[str] = mapped_column(String(256))
    message_types: Mapped[list[Any]] = mapped_column(default=list)  # short names: new_message, ...


class PushSend(Base, Timestamps):
    """One push to one device, planned from a change event: the push outbox. Planning it twice never pushes twice
    (one row per event and binding); a worker claims, sends, retries and records the outcome.

        pending -> sending -> sent
                      |  \\-> pending (retry later: timeouts, 429, 5xx)
                      \\---> failed (any other answer, or out of attempts) | unregistered (the token is dead)
        pending -> skipped (the user had a socket open when it was due)
    """

    __tablename__ = "push_sends"
    __table_args__ = (
        UniqueConstraint("event_id", "binding_id"),
        Index("ix_push_sends_status_next_attempt_at", "status", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sid: Mapped[str] = mapped_column(String(34), unique=True)  # NT...
    service_id: Mapped[int] = mapped_column(Id, ForeignKey("services.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[int] = mapped_column(Id)  # events.id (no foreign key: the log is pruned, the outbox kept)
    binding_id: Mapped[int | None] = mapped_column(Id, ForeignKey("push_bindings.id", ondelete="SET NULL"))
    identity: Mapped[str] = mapped_column(String(256))
    message_type: Mapped[str] = mapped_column(String(64))  # twilio.conversations.new_message, ...
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)  # rendered fields, before platform framing
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    error_code: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(Text)


ALL_TABLES = [table.name for table in Base.metadata.sorted_tables]
