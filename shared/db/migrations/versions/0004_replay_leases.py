"""replays keep a lease like jobs: lease_until, publishes, worker

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 19:40:00.000000

Replays and explanation jobs share one leased-work state machine (``shared.db.leases``).
A replay running during the upgrade gets ``lease_until = started_at``: its lease has run out,
the reconciler gives it back at its next pass, and the fencing token (the attempt number)
drops whatever its old worker still writes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("replays", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("publishes", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("worker", sa.String(length=255), nullable=True))
    op.execute("UPDATE replays SET lease_until = started_at WHERE status = 'running'")
    with op.batch_alter_table("replays", schema=None) as batch_op:
        batch_op.alter_column("publishes", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("replays", schema=None) as batch_op:
        batch_op.drop_column("worker")
        batch_op.drop_column("lease_until")
        batch_op.drop_column("publishes")
