"""predictions keep their read outcome; jobs name the label they explain

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 22:50:00.000000

``predictions.outcome``: the model's output as its manifest reads it
(:class:`shared.bundles.outcome.Outcome`: single-label classes, multi-label findings against
their thresholds, or a regression value with its unit and range). ``explanation_jobs.target_label``:
the label of the output column a job explains. Both are null on rows written before 0.3.0,
which were single-label; their records (formats 1 and 2) never held either.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.add_column(sa.Column("outcome", sa.JSON(), nullable=True))
    with op.batch_alter_table("explanation_jobs") as batch:
        batch.add_column(sa.Column("target_label", sa.String(128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("explanation_jobs") as batch:
        batch.drop_column("target_label")
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("outcome")
