"""What a calendar needs beyond LL2's latest version of a record: how often LL2 changed a time it had
given (an iCalendar ``SEQUENCE``), the last time it gave (kept when LL2 withdraws it, so the entry
stays where it was, marked cancelled) and when dockwatch last rewrote the record (``LAST-MODIFIED``).

``docking_record.docking_revision`` and ``departure_revision`` count the changes of each time and
``event_record.date_revision`` of an event's date, a first time given not being a change; the
``*_given`` columns hold the last non-null time, ``revised_at`` the last rewrite. Records stored
before this revision start at revision 0 with their current times as the given ones: how often LL2
moved them before was never kept.

Revision ID: 0010_time_revisions
Revises: 0009_target_preferences
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_time_revisions"
down_revision: str | None = "0009_target_preferences"
branch_labels: str | None = None
depends_on: str | None = None


def _revision(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), nullable=False, server_default=sa.text("0"))


def upgrade() -> None:
    with op.batch_alter_table("docking_record") as batch:
        batch.add_column(_revision("docking_revision"))
        batch.add_column(_revision("departure_revision"))
        batch.add_column(sa.Column("docking_given", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("departure_given", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("revised_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("event_record") as batch:
        batch.add_column(_revision("date_revision"))
        batch.add_column(sa.Column("date_given", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("revised_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE docking_record SET docking_given = docking, departure_given = departure")
    op.execute("UPDATE event_record SET date_given = date")


def downgrade() -> None:
    with op.batch_alter_table("event_record") as batch:
        batch.drop_column("revised_at")
        batch.drop_column("date_given")
        batch.drop_column("date_revision")
    with op.batch_alter_table("docking_record") as batch:
        batch.drop_column("revised_at")
        batch.drop_column("departure_given")
        batch.drop_column("docking_given")
        batch.drop_column("departure_revision")
        batch.drop_column("docking_revision")
