"""push notifications and the carrier account's numbers

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 22:22:43
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bridge.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "carrier_numbers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("carrier_sid", sa.String(length=34), nullable=True),
        sa.Column("carrier_messaging_service_sid", sa.String(length=34), nullable=True),
        sa.Column("synced_at", bridge.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("date_created", bridge.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("date_updated", bridge.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_carrier_numbers")),
        sa.UniqueConstraint("address", name=op.f("uq_carrier_numbers_address")),
    )
    op.create_table(
        "push_credentials",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sid", sa.String(length=34), nullable=False),
        sa.Column("friendly_name", sa.String(length=64), nullable=True),
        sa.Column("type", sa.String(length=8), nullable=False),
        sa.Column("sandbox", sa.Boolean(), nullable=False),
        sa.Column("certificate", sa.Text(), nullable=True),
        sa.Column("private_key", sa.Text(), nullable=True),
        sa.Column("api_key", sa.Text(), nullable=True),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("date_created", bridge.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("date_updated", bridge.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_credentials")),
        sa.UniqueConstraint("sid", name=op.f("uq_push_credentials_sid")),
    )
    op.create_table(
        "push_bindings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sid", sa.String(length=34), nullable=False),
        sa.Column("service_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("identity", sa.String(length=256), nullable=False),
        sa.Column("credential_sid", sa.String(length=34), nullable=True),
        sa.Column("binding_type", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=512), nullable=False),
        sa.Column("endpoint", sa.String(length=256), nullable=False),
        sa.Column("message_types", sa.JSON(), nullable=False),
        sa.Column("date_created", bridge.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("date_updated", bridge.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("fk_push_bindings_service_id_services"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_bindings")),
        sa.UniqueConstraint(
            "service_id", "binding_type", "address", name=op.f("uq_push_bindings_service_id_binding_type_address")
        ),
        sa.UniqueConstraint("sid", name=op.f("uq_push_bindings_sid")),
    )
    with op.batch_alter_table("push_bindings", schema=None) as batch_op:
        batch_op.create_index("ix_push_bindings_service_id_identity", ["service_id", "identity"], unique=False)

    op.create_table(
        "push_sends",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sid", sa.String(length=34), nullable=False),
        sa.Column("service_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("binding_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("identity", sa.String(length=256), nullable=False),
        sa.Column("message_type", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", bridge.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lease_expires_at", bridge.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("date_created", bridge.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("date_updated", bridge.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["binding_id"],
            ["push_bindings.id"],
            name=op.f("fk_push_sends_binding_id_push_bindings"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("fk_push_sends_service_id_services"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_sends")),
        sa.UniqueConstraint("event_id", "binding_id", name=op.f("uq_push_sends_event_id_binding_id")),
        sa.UniqueConstraint("sid", name=op.f("uq_push_sends_sid")),
    )
    with op.batch_alter_table("push_sends", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_push_sends_service_id"), ["service_id"], unique=False)
        batch_op.create_index("ix_push_sends_status_next_attempt_at", ["status", "next_attempt_at"], unique=False)

    with op.batch_alter_table("messaging_senders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("origin", sa.String(length=16), server_default=sa.text("'api'"), nullable=False))

    with op.batch_alter_table("messaging_services", schema=None) as batch_op:
        batch_op.add_column(sa.Column("origin", sa.String(length=16), server_default=sa.text("'api'"), nullable=False))

    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notifications", sa.JSON(), server_default=sa.text("'{}'"), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.drop_column("notifications")

    with op.batch_alter_table("messaging_services", schema=None) as batch_op:
        batch_op.drop_column("origin")

    with op.batch_alter_table("messaging_senders", schema=None) as batch_op:
        batch_op.drop_column("origin")

    with op.batch_alter_table("push_sends", schema=None) as batch_op:
        batch_op.drop_index("ix_push_sends_status_next_attempt_at")
        batch_op.drop_index(batch_op.f("ix_push_sends_service_id"))

    op.drop_table("push_sends")
    with op.batch_alter_table("push_bindings", schema=None) as batch_op:
        batch_op.drop_index("ix_push_bindings_service_id_identity")

    op.drop_table("push_bindings")
    op.drop_table("push_credentials")
    op.drop_table("carrier_numbers")
