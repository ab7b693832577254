"""The record: SQLAlchemy 2 models (Postgres in production and tests, SQLite embedded).

Invariants (DESIGN §7): a prediction and its jobs are committed together before the response;
a job moves forward only by a conditional UPDATE; a job's result is written at most once
(unique ``job_id``); nothing identifying a patient is stored (case references are keyed HMACs).
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite keeps no zone; values come back naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to the record; use UTC-aware datetimes")
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, datetime: UTCDateTime}


class JobStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"

    @property
    def is_final(self) -> bool:
        return self in (JobStatus.succeeded, JobStatus.failed)


class Blob(Base):
    """Content-addressed bytes (uploaded inputs, model-input tensors, renderings)."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Prediction(Base):
    __tablename__ = "predictions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    model_name: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(64))
    model_sha256: Mapped[str] = mapped_column(String(64))
    input_kind: Mapped[str] = mapped_column(String(16))
    input_media_type: Mapped[str] = mapped_column(String(100))
    input_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    tensor_sha256: Mapped[str] = mapped_column(
        String(64), comment="SHA-256 of the model input (.npy), re-derived and checked by workers"
    )
    preprocessing: Mapped[dict[str, Any]]
    label: Mapped[str] = mapped_column(String(128))
    probability: Mapped[float]
    probabilities: Mapped[dict[str, Any]]
    case_ref_hmac: Mapped[str | None] = mapped_column(String(64), index=True)
    requested_by: Mapped[str | None] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    request_fingerprint: Mapped[str] = mapped_column(String(64))
    runtime_versions: Mapped[dict[str, Any]]

    jobs: Mapped[list[ExplanationJob]] = relationship(
        back_populates="prediction", order_by="ExplanationJob.method"
    )

    __table_args__ = (Index("ix_predictions_model", "model_name", "model_version"),)


class ExplanationJob(Base):
    __tablename__ = "explanation_jobs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    prediction_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("predictions.id"), index=True)
    method: Mapped[str] = mapped_column(String(64))
    parameters: Mapped[dict[str, Any]]
    target: Mapped[int]
    seed: Mapped[int]
    status: Mapped[JobStatus] = mapped_column(
        Enum(JobStatus, name="job_status", native_enum=False, length=16),
        default=JobStatus.queued,
    )
    attempts: Mapped[int] = mapped_column(default=0)
    publishes: Mapped[int] = mapped_column(default=0)
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    device: Mapped[str | None] = mapped_column(String(64))
    worker: Mapped[str | None] = mapped_column(String(255))

    prediction: Mapped[Prediction] = relationship(back_populates="jobs")
    result: Mapped[ExplanationResult | None] = relationship(back_populates="job")

    __table_args__ = (Index("ix_jobs_status_queued", "status", "queued_at"),)


class ExplanationResult(Base):
    """The archived outcome of one job; at most one per job (unique ``job_id``)."""

    __tablename__ = "explanation_results"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("explanation_jobs.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    model_sha256: Mapped[str] = mapped_column(String(64))
    attributions_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    attributions_shape: Mapped[list[int]] = mapped_column(JSON)
    attributions_dtype: Mapped[str] = mapped_column(String(16))
    rendering_sha256: Mapped[str | None] = mapped_column(ForeignKey("blobs.sha256"))
    rendering_media_type: Mapped[str | None] = mapped_column(String(100))
    baseline: Mapped[dict[str, Any]]
    parameters: Mapped[dict[str, Any]]
    quality: Mapped[dict[str, Any]]
    summary: Mapped[dict[str, Any]]
    library_versions: Mapped[dict[str, Any]]
    compute_ms: Mapped[float]

    job: Mapped[ExplanationJob] = relationship(back_populates="result")
