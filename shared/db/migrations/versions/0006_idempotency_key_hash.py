"""predictions keep their Idempotency-Key only as a keyed hash

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 20:30:00.000000

A client's ``Idempotency-Key`` may carry an identifier (a case number, a name), so, like a
case reference, it is stored only as a keyed HMAC-SHA256 (:func:`shared.hashing.idempotency_digest`,
with a key derived from ``XAI_CASE_REF_KEY``). This revision hashes the keys already stored,
in place; it needs the case-reference key when there are any (``xai db upgrade`` passes it; a
database without keys needs none). The column keeps its type and unique constraint. Downgrade
leaves the hashes: the keys cannot be recovered from them (a retry with a key stored before
the downgrade then makes a new prediction).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from shared.hashing import idempotency_digest

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    stored = bind.execute(
        sa.text("SELECT id, idempotency_key FROM predictions WHERE idempotency_key IS NOT NULL")
    ).all()
    if not stored:
        return
    key = context.config.attributes.get("case_ref_key")
    if not key:
        raise RuntimeError(
            f"{len(stored)} predictions hold an Idempotency-Key in clear: run `xai db upgrade` "
            "with XAI_CASE_REF_KEY set, so that this migration can replace them by their hash"
        )
    bind.execute(
        sa.text("UPDATE predictions SET idempotency_key = :digest WHERE id = :id"),
        [
            {"id": row.id, "digest": idempotency_digest(row.idempotency_key, case_ref_key=key)}
            for row in stored
        ],
    )


def downgrade() -> None:
    """Nothing to undo: a keyed hash cannot be turned back into the key it came from."""
