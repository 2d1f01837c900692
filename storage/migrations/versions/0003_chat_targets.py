"""Chat subscriptions saved by 0.1.0 become chat targets again.

0.1.0 stored a chat's first subscription with ``source = 'config'``, so the next start marked it
"no longer in config" and it received nothing more. A target the config file lists never carries a
kind or station filter unless its chat also subscribed, so a config row with a filter is a chat's
(one the config does list is turned back into a config target by ``sync_targets`` at the next start).
A 0.1.0 chat that subscribed to everything, without a filter, cannot be told from a removed config
target: it has to ``/subscribe`` again.

Revision ID: 0003_chat_targets
Revises: 0002_delivery_receipt
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_chat_targets"
down_revision: str | None = "0002_delivery_receipt"
branch_labels: str | None = None
depends_on: str | None = None

target = sa.table(
    "target",
    sa.column("source", sa.String()),
    sa.column("configured", sa.Boolean()),
    sa.column("kinds", sa.JSON()),
    sa.column("stations", sa.JSON()),
)


def _has_filter(column: sa.ColumnClause[object]) -> sa.ColumnElement[bool]:
    """SQLAlchemy's JSON type stores Python ``None`` as JSON ``null``, not SQL NULL."""
    return sa.and_(column.is_not(None), sa.cast(column, sa.Text()) != "null")


def upgrade() -> None:
    op.execute(
        target.update()
        .where(target.c.source == "config")
        .where(sa.or_(_has_filter(target.c.kinds), _has_filter(target.c.stations)))
        .values(source="chat", configured=True)
    )


def downgrade() -> None:
    """Nothing to undo: 0.1.0 reads chat targets as chat targets."""
