"""Each platform's last known start state, so ``status`` can name one that cannot start.

Revision ID: 0004_platform_state
Revises: 0003_chat_targets
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_platform_state"
down_revision: str | None = "0003_chat_targets"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "platform_state",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("platform_state")
