"""Each target's own choices (reminder lead times, quiet hours, time zone), and deliveries held for a
quiet-hours digest.

``target.reminders`` is a JSON list of lead times in seconds, ``quiet`` the span as written
(``22:00-07:00`` or ``22:00-07:00 digest``, ``off``), ``timezone`` an IANA name: what a chat chose
with its commands. ``config_reminders``, ``config_quiet`` and ``config_timezone`` are what the config
file says for a static target, rewritten at every start; a chat's own choice wins over them. All
``NULL`` means what a target had before: no reminders, no quiet hours, UTC. ``delivery.held`` marks
a delivery postponed to the end of its target's quiet hours, to go out in one digest.

Revision ID: 0009_target_preferences
Revises: 0008_notification_fact
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_target_preferences"
down_revision: str | None = "0008_notification_fact"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("target") as batch:
        batch.add_column(sa.Column("reminders", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("quiet", sa.String(), nullable=True))
        batch.add_column(sa.Column("timezone", sa.String(), nullable=True))
        batch.add_column(sa.Column("config_reminders", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("config_quiet", sa.String(), nullable=True))
        batch.add_column(sa.Column("config_timezone", sa.String(), nullable=True))
    with op.batch_alter_table("delivery") as batch:
        batch.add_column(sa.Column("held", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("delivery") as batch:
        batch.drop_column("held")
    with op.batch_alter_table("target") as batch:
        batch.drop_column("config_timezone")
        batch.drop_column("config_quiet")
        batch.drop_column("config_reminders")
        batch.drop_column("timezone")
        batch.drop_column("quiet")
        batch.drop_column("reminders")
