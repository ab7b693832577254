"""explanation jobs announce their status changes (Postgres LISTEN/NOTIFY)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 19:50:00.000000

A trigger sends ``pg_notify('explanation_job_status', prediction_id)`` for every UPDATE that
changes a job's status, whichever code path made it (the worker's claim, finish and fail, a
job given back, the reconciler's expired leases). NOTIFY is transactional: it is delivered on
commit and never for a transaction that rolls back; identical payloads of one transaction are
delivered once. SQLite has no NOTIFY: there, the API polls (``services.api.explanations``).
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_FUNCTION = """
CREATE FUNCTION explanation_job_status_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('explanation_job_status', NEW.prediction_id::text);
    RETURN NULL;
END
$$
"""

_TRIGGER = """
CREATE TRIGGER explanation_job_status_notify
AFTER UPDATE OF status ON explanation_jobs
FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
EXECUTE FUNCTION explanation_job_status_notify()
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_FUNCTION)
    op.execute(_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER explanation_job_status_notify ON explanation_jobs")
    op.execute("DROP FUNCTION explanation_job_status_notify()")
