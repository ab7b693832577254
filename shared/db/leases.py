"""Leased work: one state machine for every table of work a worker claims (explanation jobs,
replays).

``queued -> running -> succeeded | failed``, moved only by conditional UPDATEs. A claim sets
``lease_until`` and increments ``attempts``; the attempt number is the claim's fencing token:
only the holder of the latest claim (``running`` and ``attempts == attempt``) may renew the
lease, finish, fail or give the work back, so a worker that lost its lease can no longer write.
A ``running`` row whose lease ran out goes back to ``queued`` (``failed`` once its attempts are
spent). ``published_at`` and ``publishes`` record the messages sent to wake a worker; a queued
row whose message may be lost is due for publishing again, after a wait that doubles with each
publish. Every function writes in the caller's transaction; the caller commits, then publishes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Update, and_, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from shared.db.models import JobStatus

MAX_PUBLISH_WAIT_S = 600.0


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class LeasedTable:
    """A mapped class with the leased-work columns (``id``, ``status``, ``attempts``,
    ``publishes``, ``lease_until``, ``published_at``, ``started_at``, ``finished_at``,
    ``worker``), plus the names of its queue-order column and of its error column."""

    model: Any
    queued_at: str
    error: str

    def column(self, name: str) -> InstrumentedAttribute[Any]:
        column: InstrumentedAttribute[Any] = getattr(self.model, name)
        return column


def _changed(session: Session, statement: Update) -> int:
    """Run a conditional UPDATE; return how many rows it moved."""
    return int(cast(CursorResult[Any], session.execute(statement)).rowcount)


def _owned(table: LeasedTable, item_id: uuid.UUID, attempt: int) -> ColumnElement[bool]:
    model = table.model
    return and_(model.id == item_id, model.status == JobStatus.running, model.attempts == attempt)


def _expired(table: LeasedTable, at: datetime) -> ColumnElement[bool]:
    return and_(table.model.status == JobStatus.running, table.model.lease_until < at)


def claim(
    session: Session,
    table: LeasedTable,
    *,
    item_id: uuid.UUID,
    lease_s: float,
    worker: str,
    max_attempts: int | None = None,
    **values: object,
) -> int | None:
    """Claim a queued row, or a running one whose lease ran out (while it has attempts left);
    return the attempt number, or None if it is taken or final. ``values``: other columns the
    claim sets (e.g. the device)."""
    model, t = table.model, now()
    expired = _expired(table, t)
    if max_attempts is not None:
        expired = and_(expired, model.attempts < max_attempts)
    row = session.execute(
        update(model)
        .where(model.id == item_id, or_(model.status == JobStatus.queued, expired))
        .values(
            status=JobStatus.running,
            attempts=model.attempts + 1,
            started_at=t,
            lease_until=t + timedelta(seconds=lease_s),
            worker=worker,
            **values,
        )
        .returning(model.attempts)
    ).first()
    return None if row is None else int(row[0])


def renew(
    session: Session, table: LeasedTable, *, item_id: uuid.UUID, attempt: int, lease_s: float
) -> bool:
    """Extend the lease (the worker's heartbeat); False: the claim is no longer ours."""
    moved = _changed(
        session,
        update(table.model)
        .where(_owned(table, item_id, attempt))
        .values(lease_until=now() + timedelta(seconds=lease_s)),
    )
    return bool(moved == 1)


def succeed(
    session: Session, table: LeasedTable, *, item_id: uuid.UUID, attempt: int, **values: object
) -> datetime | None:
    """``succeeded`` (with ``values``, e.g. an outcome) if the claim is still ours; returns the
    finish time, None if no longer ours."""
    return _final(session, table, item_id, attempt, JobStatus.succeeded, None, values)


def fail(
    session: Session, table: LeasedTable, *, item_id: uuid.UUID, attempt: int, reason: str
) -> datetime | None:
    """``failed`` with ``reason`` if the claim is still ours; returns the finish time."""
    return _final(session, table, item_id, attempt, JobStatus.failed, reason, {})


def _final(
    session: Session,
    table: LeasedTable,
    item_id: uuid.UUID,
    attempt: int,
    status: JobStatus,
    error: str | None,
    values: dict[str, object],
) -> datetime | None:
    t = now()
    moved = _changed(
        session,
        update(table.model)
        .where(_owned(table, item_id, attempt))
        .values(status=status, finished_at=t, lease_until=None, **{table.error: error}, **values),
    )
    return t if moved == 1 else None


def give_back(
    session: Session,
    table: LeasedTable,
    *,
    item_id: uuid.UUID,
    attempt: int,
    reason: str,
    max_attempts: int,
) -> JobStatus | None:
    """Give the work back after an unexpected error: ``queued`` again (to be re-published), or
    ``failed`` when its attempts are spent. Returns the new status, None if no longer ours."""
    if attempt >= max_attempts:
        reason = f"gave up after {attempt} attempts: {reason}"
        ended = fail(session, table, item_id=item_id, attempt=attempt, reason=reason)
        return None if ended is None else JobStatus.failed
    moved = _changed(
        session,
        update(table.model)
        .where(_owned(table, item_id, attempt))
        .values(
            status=JobStatus.queued, lease_until=None, published_at=None, **{table.error: reason}
        ),
    )
    return JobStatus.queued if moved == 1 else None


@dataclass(frozen=True)
class Expired:
    requeued: int
    failed: list[uuid.UUID]


def expire_leases(session: Session, table: LeasedTable, *, max_attempts: int) -> Expired:
    """Running rows whose lease ran out (their worker was lost): back to ``queued``, or
    ``failed`` when the attempts are spent (their ids returned, for the caller to record)."""
    model, t = table.model, now()
    failed = session.scalars(
        update(model)
        .where(_expired(table, t), model.attempts >= max_attempts)
        .values(
            status=JobStatus.failed,
            finished_at=t,
            lease_until=None,
            **{table.error: f"worker lost {max_attempts} times (lease expired); gave up"},
        )
        .returning(model.id)
    ).all()
    requeued = _changed(
        session,
        update(model)
        .where(_expired(table, t))
        .values(
            status=JobStatus.queued,
            lease_until=None,
            published_at=None,
            **{table.error: "worker lost (lease expired); requeued"},
        ),
    )
    return Expired(requeued=requeued, failed=list(failed))


def due_for_publish(
    session: Session, table: LeasedTable, *, requeue_after_s: float, limit: int = 500
) -> list[uuid.UUID]:
    """Queued rows that no message will wake: never published (a failed publish, given back,
    requeued; whoever publishes after its commit records the publish with the row), or
    published long ago (the message may be lost: Redis restarted empty). The wait after a
    publish is ``requeue_after_s``, doubled with each publish of the row, capped."""
    model, t = table.model, now()
    queued_at = table.column(table.queued_at)
    candidates = session.execute(
        select(model.id, model.published_at, model.publishes)
        .where(model.status == JobStatus.queued)
        .order_by(queued_at)
        .limit(limit * 4)
    ).all()
    due: list[uuid.UUID] = []
    for item_id, published_at, publishes in candidates:
        wait = min(requeue_after_s * 2 ** max(publishes - 1, 0), MAX_PUBLISH_WAIT_S)
        if published_at is None or published_at <= t - timedelta(seconds=wait):
            due.append(item_id)
    return due[:limit]


def mark_published(session: Session, table: LeasedTable, item_ids: list[uuid.UUID]) -> None:
    """Record a publish of these queued rows (the API records it with the rows it commits)."""
    if item_ids:
        model = table.model
        session.execute(
            update(model)
            .where(model.id.in_(item_ids), model.status == JobStatus.queued)
            .values(published_at=now(), publishes=model.publishes + 1)
        )


def mark_unpublished(session: Session, table: LeasedTable, item_ids: list[uuid.UUID]) -> None:
    """A publish recorded in advance failed: hand the rows to the reconciler's next pass."""
    if item_ids:
        model = table.model
        session.execute(
            update(model)
            .where(model.id.in_(item_ids), model.status == JobStatus.queued)
            .values(published_at=None, publishes=0)
        )
