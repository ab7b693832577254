"""Explanation jobs as leased work (:mod:`shared.db.leases`): ``queued -> running ->
succeeded | failed``; the claim records the worker and its device, and success archives the
job's one result row in the same transaction."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from shared.db import leases
from shared.db.leases import now
from shared.db.models import ExplanationJob, ExplanationResult

__all__ = ["JOBS", "claim", "fail", "mark_published", "mark_unpublished", "now", "succeed"]

JOBS = leases.LeasedTable(ExplanationJob, queued_at="queued_at", error="last_error")


def claim(
    session: Session,
    *,
    job_id: uuid.UUID,
    lease_s: float,
    worker: str,
    device: str,
    max_attempts: int | None = None,
) -> int | None:
    """Claim a queued (or lease-expired) job; return the attempt number, or None if taken."""
    return leases.claim(
        session,
        JOBS,
        item_id=job_id,
        lease_s=lease_s,
        worker=worker,
        max_attempts=max_attempts,
        device=device,
    )


def succeed(
    session: Session, *, job_id: uuid.UUID, attempt: int, result: ExplanationResult
) -> bool:
    """Finish the job and add its result in the caller's transaction, if the claim is still
    ours (the attempt number is the fencing token)."""
    if leases.succeed(session, JOBS, item_id=job_id, attempt=attempt) is None:
        return False
    session.add(result)
    return True


def fail(session: Session, *, job_id: uuid.UUID, attempt: int, reason: str) -> bool:
    return leases.fail(session, JOBS, item_id=job_id, attempt=attempt, reason=reason) is not None


def mark_published(session: Session, job_ids: list[uuid.UUID]) -> None:
    leases.mark_published(session, JOBS, job_ids)


def mark_unpublished(session: Session, job_ids: list[uuid.UUID]) -> None:
    """The API records a publish attempt with the jobs (no extra commit when it succeeds);
    when it fails, this hands the jobs to the reconciler's next pass."""
    leases.mark_unpublished(session, JOBS, job_ids)
