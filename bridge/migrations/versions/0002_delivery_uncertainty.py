"""deliveries remember a send whose outcome was never learnt

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 00:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bridge.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("sending_since", bridge.models.UTCDateTime(timezone=True), nullable=True))
    op.add_column("deliveries", sa.Column("unsure_since", bridge.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("unsure_since")
        batch.drop_column("sending_since")
