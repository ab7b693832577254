"""audit archive: hash chain, payloads, chain head, tokens, access log, feedback, legal holds

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 21:48:12.105885

``audit_records`` is insert-only in the database: triggers refuse UPDATE, DELETE and TRUNCATE
for every role (only an owner or superuser who disables the triggers gets past them; run the
application as a role that owns nothing, see shared/audit/__init__.py). ``audit_payloads``
refuses UPDATE and TRUNCATE; its rows may be DELETEd, which is how a retention purge tombstones
a payload (the verifier accepts a missing payload only if a later ``purge`` record names it).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_PG_REFUSE = """
CREATE FUNCTION xai_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is insert-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""

_PG_TRIGGERS = [
    "CREATE TRIGGER audit_records_insert_only BEFORE UPDATE OR DELETE ON audit_records "
    "FOR EACH ROW EXECUTE FUNCTION xai_audit_refuse()",
    "CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON audit_records "
    "FOR EACH STATEMENT EXECUTE FUNCTION xai_audit_refuse()",
    "CREATE TRIGGER audit_payloads_no_update BEFORE UPDATE ON audit_payloads "
    "FOR EACH ROW EXECUTE FUNCTION xai_audit_refuse()",
    "CREATE TRIGGER audit_payloads_no_truncate BEFORE TRUNCATE ON audit_payloads "
    "FOR EACH STATEMENT EXECUTE FUNCTION xai_audit_refuse()",
]

# SQLite has no TRUNCATE (a DELETE without WHERE fires the row triggers when any exist).
_SQLITE_TRIGGERS = [
    f"CREATE TRIGGER {table}_no_{op_name.lower()} BEFORE {op_name} ON {table} "
    f"BEGIN SELECT RAISE(ABORT, '{table} is insert-only: {op_name} refused'); END"
    for table, op_name in (
        ("audit_records", "UPDATE"),
        ("audit_records", "DELETE"),
        ("audit_payloads", "UPDATE"),
    )
]


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "role",
            sa.Enum("clinician", "auditor", "ops", name="token_role", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_sha256"),
    )
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_audit_chain_head_single_row"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO audit_chain_head (id, seq) VALUES (1, 0)")
    op.create_table(
        "audit_records",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("payload_sha256", sa.String(length=64), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("hash"),
        sa.UniqueConstraint("prev_hash"),
    )
    op.create_index("ix_audit_records_kind_created_at", "audit_records", ["kind", "created_at"])
    op.create_index("ix_audit_records_subject_id", "audit_records", ["subject_id"])
    op.create_table(
        "audit_payloads",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["seq"], ["audit_records.seq"]),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_table(
        "legal_holds",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("prediction_id", sa.Uuid(), nullable=True),
        sa.Column("case_ref_hmac", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("placed_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_by", sa.String(length=128), nullable=True),
        sa.CheckConstraint(
            "(prediction_id IS NULL) <> (case_ref_hmac IS NULL)", name="ck_legal_holds_one_key"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_legal_holds_case_ref_hmac", "legal_holds", ["case_ref_hmac"])
    op.create_index("ix_legal_holds_prediction_id", "legal_holds", ["prediction_id"])
    op.create_table(
        "access_log",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("token_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=255), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=True),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("audit_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["token_id"], ["api_tokens.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_access_log_created_at", "access_log", ["created_at"])
    op.create_index("ix_access_log_subject_id", "access_log", ["subject_id"])
    op.create_index("ix_access_log_token_id", "access_log", ["token_id"])
    op.create_table(
        "clinician_feedback",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("prediction_id", sa.Uuid(), nullable=False),
        sa.Column("token_id", sa.Uuid(), nullable=False),
        sa.Column(
            "decision",
            sa.Enum("accept", "override", name="feedback_decision", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("corrected_label", sa.String(length=128), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("audit_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["prediction_id"], ["predictions.id"]),
        sa.ForeignKeyConstraint(["token_id"], ["api_tokens.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_clinician_feedback_prediction_id", "clinician_feedback", ["prediction_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_REFUSE)
        for statement in _PG_TRIGGERS:
            op.execute(statement)
    else:
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    # Dropping the tables drops their triggers.
    op.drop_table("clinician_feedback")
    op.drop_table("access_log")
    op.drop_table("legal_holds")
    op.drop_table("audit_payloads")
    op.drop_table("audit_records")
    op.drop_table("audit_chain_head")
    op.drop_table("api_tokens")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION xai_audit_refuse()")
