"""Replay state transitions, by conditional UPDATEs like jobs (:mod:`shared.db.jobs`):
``queued -> running -> succeeded | failed``; a ``running`` replay whose lease ran out goes back
to ``queued``.

Each claim increments ``attempts``, and the attempt number is the claim's token: a worker that
lost its lease can no longer finish the replay. The lease is ``started_at + lease_s`` (replays
keep no separate column). Only the worker ends a replay, so each final status is written with
its audit record (:mod:`services.worker.replay`); the reconciler only requeues and re-publishes.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from shared.db.jobs import now
from shared.db.models import JobStatus, Replay


def _expired(at: datetime, lease_s: float):  # type: ignore[no-untyped-def]
    return and_(
        Replay.status == JobStatus.running, Replay.started_at < at - timedelta(seconds=lease_s)
    )


def _owned(replay_id: uuid.UUID, attempt: int):  # type: ignore[no-untyped-def]
    return and_(
        Replay.id == replay_id, Replay.status == JobStatus.running, Replay.attempts == attempt
    )


def claim(session: Session, *, replay_id: uuid.UUID, lease_s: float) -> int | None:
    """Claim a queued (or lease-expired) replay; return the attempt number, or None if taken."""
    t = now()
    row = session.execute(
        update(Replay)
        .where(
            Replay.id == replay_id,
            or_(Replay.status == JobStatus.queued, _expired(t, lease_s)),
        )
        .values(status=JobStatus.running, attempts=Replay.attempts + 1, started_at=t)
        .returning(Replay.attempts)
    ).first()
    return None if row is None else int(row[0])


def finish(
    session: Session,
    *,
    replay_id: uuid.UUID,
    attempt: int,
    outcome: dict[str, Any] | None,
    error: str | None,
) -> datetime | None:
    """``succeeded`` with ``outcome``, or ``failed`` with ``error``, if the claim is still ours;
    returns the finish time (None: no longer ours)."""
    t = now()
    status = JobStatus.failed if error is not None else JobStatus.succeeded
    moved = session.execute(
        update(Replay)
        .where(_owned(replay_id, attempt))
        .values(status=status, finished_at=t, outcome=outcome, error=error)
    ).rowcount
    return t if moved == 1 else None


def set_audit_seq(session: Session, *, replay_id: uuid.UUID, seq: int) -> None:
    session.execute(update(Replay).where(Replay.id == replay_id).values(audit_seq=seq))


def requeue(session: Session, *, replay_id: uuid.UUID, attempt: int, reason: str) -> bool:
    """Give a replay back after an unexpected error (the reconciler re-publishes it)."""
    moved = session.execute(
        update(Replay)
        .where(_owned(replay_id, attempt))
        .values(status=JobStatus.queued, published_at=None, error=reason)
    ).rowcount
    return moved == 1


def expire_leases(session: Session, *, lease_s: float) -> int:
    """Running replays whose worker was lost: back to ``queued``. The next claim ends them
    ``failed`` once their attempts are spent (with the audit record a final status needs)."""
    moved = session.execute(
        update(Replay)
        .where(_expired(now(), lease_s))
        .values(status=JobStatus.queued, published_at=None, error="worker lost (lease expired)")
    ).rowcount
    return int(moved)


def due_for_publish(
    session: Session, *, requeue_after_s: float, limit: int = 500
) -> list[uuid.UUID]:
    """Queued replays never published (or handed back), or published long ago (the message may
    be lost: Redis restarted empty)."""
    stale = now() - timedelta(seconds=requeue_after_s)
    return list(
        session.scalars(
            select(Replay.id)
            .where(
                Replay.status == JobStatus.queued,
                or_(Replay.published_at.is_(None), Replay.published_at <= stale),
            )
            .order_by(Replay.created_at)
            .limit(limit)
        )
    )


def mark_published(session: Session, replay_ids: list[uuid.UUID]) -> None:
    _set_published(session, replay_ids, now())


def mark_unpublished(session: Session, replay_ids: list[uuid.UUID]) -> None:
    _set_published(session, replay_ids, None)


def _set_published(session: Session, replay_ids: list[uuid.UUID], at: datetime | None) -> None:
    if replay_ids:
        session.execute(
            update(Replay)
            .where(Replay.id.in_(replay_ids), Replay.status == JobStatus.queued)
            .values(published_at=at)
        )
