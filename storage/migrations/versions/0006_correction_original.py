"""A correction's delivery points at the same target's delivery of the announcement it corrects, so it
waits until that one has ended and edits the message it left.

Nullable: announcements, and every delivery made before this revision, have none.

Revision ID: 0006_correction_original
Revises: 0005_target_moves
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_correction_original"
down_revision: str | None = "0005_target_moves"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("delivery") as batch:
        batch.add_column(sa.Column("original_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("delivery") as batch:
        batch.drop_column("original_id")
