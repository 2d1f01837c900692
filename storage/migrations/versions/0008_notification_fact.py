"""Each docking notification names the fact it is about (``docked:630`` for ``docked:630``,
``docked:630#2`` and ``correction:1:docked:630``), so a target gets the messages about one fact in
the order they were recorded: a later correction or re-announcement never overtakes an earlier one
still being retried.

Backfilled from the keys; a webcast notification has none.

Revision ID: 0008_notification_fact
Revises: 0007_claims_and_leases
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_notification_fact"
down_revision: str | None = "0007_claims_and_leases"
branch_labels: str | None = None
depends_on: str | None = None

DOCKING_KINDS = ("docking.docked", "docking.departed", "docking.relocated")
notification = sa.table(
    "notification",
    sa.column("id", sa.Integer()),
    sa.column("key", sa.String()),
    sa.column("kind", sa.String()),
    sa.column("fact", sa.String()),
)


def fact_of(key: str) -> str:
    """``correction:<n>:<key>`` and ``<key>#<revision>`` are about ``<key>``'s fact."""
    if key.startswith("correction:"):
        key = key.split(":", 2)[2]
    return key.partition("#")[0]


def upgrade() -> None:
    with op.batch_alter_table("notification") as batch:
        batch.add_column(sa.Column("fact", sa.String(), nullable=True))
        batch.create_index("ix_notification_fact", ["fact"])
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(notification.c.id, notification.c.key).where(notification.c.kind.in_(DOCKING_KINDS))
    ).all()
    for row_id, key in rows:
        connection.execute(notification.update().where(notification.c.id == row_id).values(fact=fact_of(key)))


def downgrade() -> None:
    with op.batch_alter_table("notification") as batch:
        batch.drop_index("ix_notification_fact")
        batch.drop_column("fact")
