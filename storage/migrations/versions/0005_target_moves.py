"""Targets remember where they moved, so a config that still names a chat's old id is sent to its new
one from the next start on instead of being retried at the old id by every new process.

Moves that happened before this revision are read back from the receipts that recorded them: the
delivery that met the move keeps the old target key and its receipt names ``moved_to``. Each old key
resolves to its newest address (a chain A -> B -> C is kept as A -> C, B -> C), dated by the first
delivery that found it moved.

Revision ID: 0005_target_moves
Revises: 0004_platform_state
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005_target_moves"
down_revision: str | None = "0004_platform_state"
branch_labels: str | None = None
depends_on: str | None = None

delivery = sa.table(
    "delivery",
    sa.column("id", sa.Integer()),
    sa.column("target_key", sa.String()),
    sa.column("receipt", sa.JSON()),
    sa.column("delivered_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    target_move = op.create_table(
        "target_move",
        sa.Column("old_key", sa.String(), nullable=False),
        sa.Column("new_key", sa.String(), nullable=False),
        sa.Column("moved_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("old_key"),
    )
    moves = _moves_in_receipts(op.get_bind())
    if moves:
        op.bulk_insert(
            target_move,
            [{"old_key": old, "new_key": new, "moved_at": at} for old, (new, at) in moves.items()],
        )


def _moves_in_receipts(connection: sa.Connection) -> dict[str, tuple[str, datetime]]:
    """Old key -> (newest key, when it first moved), oldest move first."""
    rows = connection.execute(
        sa.select(delivery.c.target_key, delivery.c.receipt, delivery.c.delivered_at, delivery.c.updated_at)
        .where(delivery.c.receipt.is_not(None))
        .order_by(delivery.c.delivered_at, delivery.c.id)
    )
    moves: dict[str, tuple[str, datetime]] = {}
    for old, receipt, delivered_at, updated_at in rows:
        new = _moved_to(receipt)
        if new is None or new == old:
            continue
        moves.pop(new, None)  # the new key is alive: it is not moved (anywhere) any more
        moves = {k: (new if n == old else n, at) for k, (n, at) in moves.items()}
        moves.setdefault(old, (new, delivered_at or updated_at))
    return moves


def _moved_to(receipt: Any) -> str | None:
    moved_to = receipt.get("moved_to") if isinstance(receipt, dict) else None
    return moved_to if isinstance(moved_to, str) and moved_to else None


def downgrade() -> None:
    op.drop_table("target_move")
