"""chat clients' writes by mutation id (a retried write is answered, not done twice)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 17:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bridge.models

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "client_mutations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("service_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("identity", sa.String(length=256), nullable=False),
        sa.Column("mutation_id", sa.String(length=64), nullable=False),
        sa.Column("resource_url", sa.Text(), nullable=True),
        sa.Column("created_at", bridge.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("fk_client_mutations_service_id_services"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_mutations")),
        sa.UniqueConstraint(
            "service_id", "identity", "mutation_id", name=op.f("uq_client_mutations_service_id_identity_mutation_id")
        ),
    )
    with op.batch_alter_table("client_mutations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_client_mutations_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("client_mutations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_client_mutations_created_at"))
    op.drop_table("client_mutations")
