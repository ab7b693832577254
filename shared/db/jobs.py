"""Job state transitions. Only conditional UPDATEs move a job: ``queued -> running ->
succeeded | failed``; a ``running`` job whose lease expired goes back to ``queued``.

Each claim increments ``attempts``; the attempt number is the claim's token, so a worker that
lost its lease can no longer finish or fail the job.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from shared.db.models import ExplanationJob, ExplanationResult, JobStatus


def now() -> datetime:
    return datetime.now(UTC)


def claim(
    session: Session, *, job_id: uuid.UUID, lease_s: float, worker: str, device: str
) -> int | None:
    """Claim a queued (or lease-expired) job; return the attempt number, or None if taken."""
    t = now()
    row = session.execute(
        update(ExplanationJob)
        .where(
            ExplanationJob.id == job_id,
            or_(
                ExplanationJob.status == JobStatus.queued,
                and_(ExplanationJob.status == JobStatus.running, ExplanationJob.lease_until < t),
            ),
        )
        .values(
            status=JobStatus.running,
            attempts=ExplanationJob.attempts + 1,
            started_at=t,
            lease_until=t + timedelta(seconds=lease_s),
            worker=worker,
            device=device,
        )
        .returning(ExplanationJob.attempts)
    ).first()
    return None if row is None else int(row[0])


def _owned(job_id: uuid.UUID, attempt: int):  # type: ignore[no-untyped-def]
    return and_(
        ExplanationJob.id == job_id,
        ExplanationJob.status == JobStatus.running,
        ExplanationJob.attempts == attempt,
    )


def succeed(
    session: Session, *, job_id: uuid.UUID, attempt: int, result: ExplanationResult
) -> bool:
    """Finish the job and archive its result in the caller's transaction, if still ours."""
    moved = session.execute(
        update(ExplanationJob)
        .where(_owned(job_id, attempt))
        .values(status=JobStatus.succeeded, finished_at=now(), lease_until=None, last_error=None)
    ).rowcount
    if moved != 1:
        return False
    session.add(result)
    return True


def fail(session: Session, *, job_id: uuid.UUID, attempt: int, reason: str) -> bool:
    moved = session.execute(
        update(ExplanationJob)
        .where(_owned(job_id, attempt))
        .values(status=JobStatus.failed, finished_at=now(), lease_until=None, last_error=reason)
    ).rowcount
    return moved == 1


def release(
    session: Session, *, job_id: uuid.UUID, attempt: int, reason: str, max_attempts: int
) -> JobStatus | None:
    """Give a job back after an unexpected error: ``queued`` again, or ``failed`` when the
    attempts are spent. Returns the new status, or None if the job was no longer ours."""
    status = JobStatus.failed if attempt >= max_attempts else JobStatus.queued
    values: dict[str, object] = {"status": status, "lease_until": None, "last_error": reason}
    if status is JobStatus.failed:
        values["finished_at"] = now()
        values["last_error"] = f"gave up after {attempt} attempts: {reason}"
    else:
        values["published_at"] = None
    moved = session.execute(update(ExplanationJob).where(_owned(job_id, attempt)).values(**values))
    return status if moved.rowcount == 1 else None


def mark_unpublished(session: Session, job_ids: list[uuid.UUID]) -> None:
    """The API records a publish attempt with the jobs (no extra commit when it succeeds);
    when it fails, this hands the jobs to the reconciler's next pass."""
    if job_ids:
        session.execute(
            update(ExplanationJob)
            .where(ExplanationJob.id.in_(job_ids), ExplanationJob.status == JobStatus.queued)
            .values(published_at=None, publishes=0)
        )


def mark_published(session: Session, job_ids: list[uuid.UUID]) -> None:
    if job_ids:
        session.execute(
            update(ExplanationJob)
            .where(ExplanationJob.id.in_(job_ids), ExplanationJob.status == JobStatus.queued)
            .values(published_at=now(), publishes=ExplanationJob.publishes + 1)
        )


def expire_leases(session: Session, *, max_attempts: int) -> tuple[int, int]:
    """Running jobs whose lease ran out: back to queued, or failed when attempts are spent."""
    t = now()
    expired = and_(ExplanationJob.status == JobStatus.running, ExplanationJob.lease_until < t)
    failed = session.execute(
        update(ExplanationJob)
        .where(expired, ExplanationJob.attempts >= max_attempts)
        .values(
            status=JobStatus.failed,
            finished_at=t,
            lease_until=None,
            last_error=f"worker lost {max_attempts} times (lease expired); gave up",
        )
    ).rowcount
    requeued = session.execute(
        update(ExplanationJob)
        .where(expired)
        .values(
            status=JobStatus.queued,
            lease_until=None,
            published_at=None,
            last_error="worker lost (lease expired); requeued",
        )
    ).rowcount
    return requeued, failed


def due_for_publish(
    session: Session, *, grace_s: float, requeue_after_s: float, limit: int = 500
) -> list[uuid.UUID]:
    """Queued jobs never published after a grace period, or published long ago (the message
    may be lost: Redis restarted empty). The wait doubles with each publish, capped."""
    t = now()
    candidates = session.execute(
        select(
            ExplanationJob.id,
            ExplanationJob.published_at,
            ExplanationJob.publishes,
            ExplanationJob.queued_at,
        )
        .where(ExplanationJob.status == JobStatus.queued)
        .order_by(ExplanationJob.queued_at)
        .limit(limit * 4)
    ).all()
    due: list[uuid.UUID] = []
    for job_id, published_at, publishes, queued_at in candidates:
        if published_at is None:
            if queued_at <= t - timedelta(seconds=grace_s):
                due.append(job_id)
        else:
            wait = min(requeue_after_s * 2 ** max(publishes - 1, 0), 600.0)
            if published_at <= t - timedelta(seconds=wait):
                due.append(job_id)
    return due[:limit]
