"""What an operator needs at a glance: served models, queue depth, job states, worker activity
and the latest failures. Read-only queries on the record, plus one bounded broker call.

The worker "heartbeat" is read from the record (the last job a worker started and finished),
so it means the same on Redis and on the embedded SQLite broker, and costs no broadcast.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.bundles.registry import Registry
from shared.contracts import EXPLAIN_QUEUE
from shared.db.models import ExplanationJob, JobStatus, Prediction
from shared.queue import Publisher

log = logging.getLogger(__name__)
RECENT_FAILURES = 10
ERROR_CHARS = 500


class ServedModel(BaseModel):
    name: str
    version: str
    sha256: str
    task: str
    default: bool


class RejectedModel(BaseModel):
    name: str
    version: str
    reason: str = Field(description="why the bundle folder is not served (file and field)")


class QueueState(BaseModel):
    name: str = Field(description="the broker queue the workers consume")
    depth: int | None = Field(description="messages waiting in the broker; null if unreachable")
    broker: str = Field(description="broker transport, e.g. redis or sqla+sqlite")


class WorkerActivity(BaseModel):
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_worker: str | None = Field(description="the worker that started the latest job")
    running: int
    leases_expired: int = Field(description="running jobs whose worker lease ran out")


class Failure(BaseModel):
    id: uuid.UUID
    prediction_id: uuid.UUID
    model: str
    method: str
    attempts: int
    finished_at: datetime | None
    reason: str | None


class OpsStatus(BaseModel):
    models: list[ServedModel]
    rejected: list[RejectedModel] = Field(description="bundle folders that are not served")
    queue: QueueState
    jobs: dict[str, int] = Field(description="job count per status (every status listed)")
    worker: WorkerActivity
    recent_failures: list[Failure]


def ops_status(
    session: Session, *, registry: Registry, publisher: Publisher, timeout_s: float
) -> OpsStatus:
    broker_url = str(publisher.client.conf.broker_url or "")
    return OpsStatus(
        models=[
            ServedModel(
                name=b.name,
                version=b.version,
                sha256=b.sha256,
                task=b.manifest.task,
                default=b.manifest.default,
            )
            for b in registry.all()
        ],
        rejected=[
            RejectedModel(name=r.name, version=r.version, reason=r.reason)
            for r in registry.rejected
        ],
        queue=QueueState(
            name=EXPLAIN_QUEUE,
            depth=queue_depth(publisher, timeout_s=timeout_s),
            broker=broker_url.split("://", 1)[0],
        ),
        jobs=job_counts(session),
        worker=worker_activity(session),
        recent_failures=recent_failures(session),
    )


def queue_depth(publisher: Publisher, *, timeout_s: float) -> int | None:
    """Messages waiting in the explanations queue (Redis: LLEN over its priority lists;
    SQLAlchemy broker: visible rows), or None when the broker does not answer in time."""
    from kombu.exceptions import ChannelError

    try:
        with publisher.client.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=timeout_s)
            try:
                declared = connection.default_channel.queue_declare(EXPLAIN_QUEUE, passive=True)
            except ChannelError:
                return 0  # Redis deletes an empty list: no queue means nothing waits
            return int(declared.message_count)
    except Exception as exc:  # kombu raises many transport-specific errors
        log.warning("queue depth unavailable: %s", exc)
        return None


def job_counts(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(ExplanationJob.status, func.count()).group_by(ExplanationJob.status)
    ).all()
    counts = {status.value: 0 for status in JobStatus}
    counts.update({JobStatus(status).value: int(n) for status, n in rows})
    return counts


def worker_activity(session: Session) -> WorkerActivity:
    last_started, last_finished = session.execute(
        select(func.max(ExplanationJob.started_at), func.max(ExplanationJob.finished_at))
    ).one()
    last_worker = session.scalar(
        select(ExplanationJob.worker)
        .where(ExplanationJob.started_at.is_not(None))
        .order_by(ExplanationJob.started_at.desc())
        .limit(1)
    )
    running = ExplanationJob.status == JobStatus.running
    expired = ExplanationJob.lease_until < datetime.now(UTC)
    return WorkerActivity(
        last_started_at=last_started,
        last_finished_at=last_finished,
        last_worker=last_worker,
        running=int(session.scalar(select(func.count()).where(running)) or 0),
        leases_expired=int(session.scalar(select(func.count()).where(running, expired)) or 0),
    )


def recent_failures(session: Session, *, limit: int = RECENT_FAILURES) -> list[Failure]:
    rows = session.execute(
        select(ExplanationJob, Prediction.model_name, Prediction.model_version)
        .join(Prediction, ExplanationJob.prediction_id == Prediction.id)
        .where(ExplanationJob.status == JobStatus.failed)
        .order_by(ExplanationJob.finished_at.desc().nulls_last(), ExplanationJob.queued_at.desc())
        .limit(limit)
    ).all()
    return [
        Failure(
            id=job.id,
            prediction_id=job.prediction_id,
            model=f"{name}/{version}",
            method=job.method,
            attempts=job.attempts,
            finished_at=job.finished_at,
            reason=(job.last_error or "")[:ERROR_CHARS] or None,
        )
        for job, name, version in rows
    ]
