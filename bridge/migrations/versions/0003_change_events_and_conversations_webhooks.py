"""the change-event log, webhook settings at every level, conversation-scoped webhooks and the webhook outbox

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 10:52:13.113002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bridge.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("stream", sa.String(length=34), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("service_sid", sa.String(length=34), nullable=False),
        sa.Column("conversation_sid", sa.String(length=34), nullable=True),
        sa.Column("resource_sid", sa.String(length=34), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("client_identity", sa.String(length=256), nullable=True),
        sa.Column("fires_webhooks", sa.Boolean(), nullable=False),
        sa.Column("webhooks_planned", sa.Boolean(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", bridge.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("stream", "seq", name=op.f("uq_events_stream_seq")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_created_at"), ["created_at"], unique=False)
        batch_op.create_index(
            "ix_events_unplanned",
            ["id"],
            unique=False,
            sqlite_where=sa.text("NOT webhooks_planned"),
            postgresql_where=sa.text("NOT webhooks_planned"),
        )

    op.create_table(
        "webhook_calls",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sid", sa.String(length=34), nullable=False),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("service_sid", sa.String(length=34), nullable=False),
        sa.Column("conversation_sid", sa.String(length=34), nullable=True),
        sa.Column("line", sa.String(length=80), nullable=False),
        sa.Column("target", sa.String(length=40), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", bridge.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lease_until", bridge.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("swept_at", bridge.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("event_at", bridge.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", bridge.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("date_created", bridge.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("date_updated", bridge.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_calls")),
        sa.UniqueConstraint("event_id", "target", name=op.f("uq_webhook_calls_event_id_target")),
        sa.UniqueConstraint("sid", name=op.f("uq_webhook_calls_sid")),
    )
    with op.batch_alter_table("webhook_calls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_webhook_calls_conversation_sid"), ["conversation_sid"], unique=False)
        batch_op.create_index("ix_webhook_calls_line_id", ["line", "id"], unique=False)
        batch_op.create_index("ix_webhook_calls_status_date_updated", ["status", "date_updated"], unique=False)
        batch_op.create_index("ix_webhook_calls_status_next_attempt_at", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("call_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", bridge.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("will_retry", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["webhook_calls.id"],
            name=op.f("fk_webhook_attempts_call_id_webhook_calls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
    )
    with op.batch_alter_table("webhook_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_webhook_attempts_call_id"), ["call_id"], unique=False)

    op.create_table(
        "webhook_settings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("service_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("pre_webhook_url", sa.Text(), nullable=True),
        sa.Column("post_webhook_url", sa.Text(), nullable=True),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("pre_webhook_retry_count", sa.Integer(), nullable=False),
        sa.Column("post_webhook_retry_count", sa.Integer(), nullable=False),
        sa.Column("date_created", bridge.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("date_updated", bridge.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("fk_webhook_settings_service_id_services"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_settings")),
        sa.UniqueConstraint("service_id", name=op.f("uq_webhook_settings_service_id")),
    )
    op.create_table(
        "conversation_webhooks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sid", sa.String(length=34), nullable=False),
        sa.Column("conversation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("triggers", sa.JSON(), nullable=False),
        sa.Column("flow_sid", sa.String(length=34), nullable=True),
        sa.Column("replay_after", sa.Integer(), nullable=True),
        sa.Column("date_created", bridge.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("date_updated", bridge.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_webhooks_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_webhooks")),
        sa.UniqueConstraint("sid", name=op.f("uq_conversation_webhooks_sid")),
    )
    with op.batch_alter_table("conversation_webhooks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_conversation_webhooks_conversation_id"), ["conversation_id"], unique=False)

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_event_seq", sa.Integer(), server_default=sa.text("0"), nullable=False))
        batch_op.add_column(sa.Column("scoped_webhooks", sa.Boolean(), server_default=sa.text("false"), nullable=False))

    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pre_webhooks", sa.Boolean(), server_default=sa.text("false"), nullable=False))
        batch_op.add_column(sa.Column("post_webhooks", sa.Boolean(), server_default=sa.text("false"), nullable=False))

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_event_seq", sa.Integer(), server_default=sa.text("0"), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("last_event_seq")

    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.drop_column("post_webhooks")
        batch_op.drop_column("pre_webhooks")

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("scoped_webhooks")
        batch_op.drop_column("last_event_seq")

    with op.batch_alter_table("conversation_webhooks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversation_webhooks_conversation_id"))

    op.drop_table("conversation_webhooks")
    op.drop_table("webhook_settings")
    with op.batch_alter_table("webhook_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_attempts_call_id"))

    op.drop_table("webhook_attempts")
    with op.batch_alter_table("webhook_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_calls_status_next_attempt_at")
        batch_op.drop_index("ix_webhook_calls_status_date_updated")
        batch_op.drop_index("ix_webhook_calls_line_id")
        batch_op.drop_index(batch_op.f("ix_webhook_calls_conversation_sid"))

    op.drop_table("webhook_calls")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_events_unplanned",
            sqlite_where=sa.text("NOT webhooks_planned"),
            postgresql_where=sa.text("NOT webhooks_planned"),
        )
        batch_op.drop_index(batch_op.f("ix_events_created_at"))

    op.drop_table("events")
