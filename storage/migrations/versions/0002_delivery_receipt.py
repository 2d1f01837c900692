"""A delivery keeps the platform's message identity (its receipt), so a correction can edit it.

Nullable: deliveries made before this revision, and those not yet made, have none.

Revision ID: 0002_delivery_receipt
Revises: 0001_initial
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_delivery_receipt"
down_revision: str | None = "0001_initial"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("delivery") as batch:
        batch.add_column(sa.Column("receipt", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("delivery") as batch:
        batch.drop_column("receipt")
