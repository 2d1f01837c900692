"""Several instances on one database: a claimed delivery names the instance that claimed it, and a
lease row names the one instance that polls LL2.

``delivery.claimed_by`` is the owner token of a claim: every later write to the delivery (delivered,
retry, dead, receipt) succeeds only while that token still holds it. ``lease`` holds one row per
role (``poller``): its holder and until when, renewed by the holder and taken over once it lapses.

Revision ID: 0007_claims_and_leases
Revises: 0006_correction_original
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_claims_and_leases"
down_revision: str | None = "0006_correction_original"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("delivery") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(), nullable=True))
    op.create_table(
        "lease",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("holder", sa.String(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("lease")
    with op.batch_alter_table("delivery") as batch:
        batch.drop_column("claimed_by")
