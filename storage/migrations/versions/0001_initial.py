"""The 0.1.0 schema, exactly as dockwatch 0.1.0 created it with ``metadata.create_all``.

Written out table by table, not derived from the models, so that changing a model later cannot
change what this revision creates: a later change is a later revision.

Revision ID: 0001_initial
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "docking_record",
        sa.Column("id", sa.Integer(), nullable=False),
        _time("docking", nullable=True),
        _time("departure", nullable=True),
        sa.Column("port_id", sa.Integer(), nullable=False),
        sa.Column("port_name", sa.String(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=True),
        sa.Column("station_name", sa.String(), nullable=True),
        sa.Column("station_image_url", sa.String(), nullable=True),
        sa.Column("chaser_kind", sa.String(), nullable=True),
        sa.Column("chaser_id", sa.Integer(), nullable=True),
        sa.Column("chaser_name", sa.String(), nullable=True),
        sa.Column("chaser_image_url", sa.String(), nullable=True),
        sa.Column("target_kind", sa.String(), nullable=True),
        sa.Column("target_id", sa.Integer(), nullable=True),
        sa.Column("target_name", sa.String(), nullable=True),
        sa.Column("target_image_url", sa.String(), nullable=True),
        sa.Column("raw", sa.JSON(), nullable=False),
        _time("first_seen"),
        _time("last_seen"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "event_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        _time("date", nullable=True),
        sa.Column("type_name", sa.String(), nullable=True),
        sa.Column("location", sa.String(), nullable=True),
        sa.Column("webcast_live", sa.Boolean(), nullable=False),
        sa.Column("webcast_url", sa.String(), nullable=True),
        _time("webcast_start", nullable=True),
        sa.Column("image_url", sa.String(), nullable=True),
        sa.Column("raw", sa.JSON(), nullable=False),
        _time("first_seen"),
        _time("last_seen"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("announced", sa.Boolean(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        _time("occurred_at"),
        _time("created_at"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notification_key", "notification", ["key"], unique=True)
    op.create_table(
        "target",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("notifier", sa.String(), nullable=False),
        sa.Column("label", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("configured", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("kinds", sa.JSON(), nullable=True),
        sa.Column("stations", sa.JSON(), nullable=True),
        sa.Column("disabled_reason", sa.String(), nullable=True),
        _time("disabled_at", nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "poll_log",
        sa.Column("id", sa.Integer(), nullable=False),
        _time("started_at"),
        _time("finished_at"),
        sa.Column("result", sa.String(), nullable=False),
        sa.Column("detail", sa.String(), nullable=True),
        sa.Column("changes_recorded", sa.Integer(), nullable=False),
        sa.Column("changes_announced", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_poll_log_started_at", "poll_log", ["started_at"])
    op.create_table(
        "api_call",
        sa.Column("id", sa.Integer(), nullable=False),
        _time("at"),
        sa.Column("path", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_api_call_at", "api_call", ["at"])
    op.create_table(
        "api_hold",
        # One row (id 1): 0.1.0 made no sequence for it on PostgreSQL, and neither does this.
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=False),
        _time("until"),
        sa.Column("reason", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notification_id", sa.Integer(), nullable=False),
        sa.Column("target_key", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _time("next_attempt_at"),
        sa.Column("last_error", sa.String(), nullable=True),
        _time("created_at"),
        _time("updated_at"),
        _time("delivered_at", nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("notification_id", "target_key"),
        sa.ForeignKeyConstraint(["notification_id"], ["notification.id"]),
    )
    op.create_index("ix_delivery_target_key", "delivery", ["target_key"])
    op.create_index("ix_delivery_due", "delivery", ["status", "next_attempt_at"])


def downgrade() -> None:
    for table in (
        "delivery",
        "api_hold",
        "api_call",
        "poll_log",
        "target",
        "notification",
        "event_record",
        "docking_record",
    ):
        op.drop_table(table)
