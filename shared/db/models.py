"""The record: SQLAlchemy 2 models (Postgres in production and tests, SQLite embedded).

Invariants: a prediction and its jobs are committed together before the response;
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
    BigInteger,
    CheckConstraint,
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


class Role(enum.StrEnum):
    """API token roles: clinicians predict and read their own cases, auditors read the archive,
    ops run the service."""

    clinician = "clinician"
    auditor = "auditor"
    ops = "ops"


class FeedbackDecision(enum.StrEnum):
    accept = "accept"
    override = "override"


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
    # the output as the manifest reads it (shared.bundles.outcome.Outcome); null before 0.3.0
    outcome: Mapped[dict[str, Any] | None]
    case_ref_hmac: Mapped[str | None] = mapped_column(String(64), index=True)
    requested_by: Mapped[str | None] = mapped_column(String(64))
    # keyed hash of the client's Idempotency-Key (shared.hashing.idempotency_digest), never the key
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
    # the label of output column ``target``; null on jobs written before 0.3.0
    target_label: Mapped[str | None] = mapped_column(String(128))
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


class Replay(Base):
    """An auditor's request to recompute an archived explanation and report agreement.

    Leased work like a job (``queued -> running -> succeeded | failed``, by conditional
    UPDATEs; :mod:`shared.db.leases`): the attempt number is the claim's fencing token and
    ``lease_until`` its lease, renewed by the worker's heartbeat.
    ``succeeded`` means the replay ran: ``outcome`` says how well it agreed. A ``failed``
    replay says why in ``error`` (e.g. the served bundle's sha256 is not the pinned one).
    The final status and its ``replay`` audit record (``audit_seq``) commit together. Rows go
    with their job when retention purges it (ON DELETE CASCADE); the audit record stays.
    """

    __tablename__ = "replays"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("explanation_jobs.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[JobStatus] = mapped_column(
        Enum(JobStatus, name="job_status", native_enum=False, length=16),
        default=JobStatus.queued,
    )
    requested_by: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]
    publishes: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    lease_until: Mapped[datetime | None]
    worker: Mapped[str | None] = mapped_column(String(255))
    outcome: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    audit_seq: Mapped[int | None] = mapped_column(BigInteger)

    job: Mapped[ExplanationJob] = relationship()

    __table_args__ = (Index("ix_replays_status_created_at", "status", "created_at"),)


# --- the audit archive (shared.audit, shared.auth) -------------------------------------------


class AuditRecord(Base):
    """One link of the hash chain. Insert-only: database triggers refuse UPDATE, DELETE and
    TRUNCATE (migration 0002). The payload lives in :class:`AuditPayload`; the chain hashes its
    SHA-256, so retention can remove the payload and the chain still verifies."""

    __tablename__ = "audit_records"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64), index=True)
    payload_sha256: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)

    __table_args__ = (Index("ix_audit_records_kind_created_at", "kind", "created_at"),)


class AuditPayload(Base):
    """The canonical JSON bytes of a record; deleted only by a retention purge (tombstone)."""

    __tablename__ = "audit_payloads"

    seq: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("audit_records.seq"), primary_key=True, autoincrement=False
    )
    payload: Mapped[bytes] = mapped_column(LargeBinary)


class AuditChainHead(Base):
    """One row: the last sequence number handed out. Appends UPDATE it first, which takes the
    row lock on Postgres and the write lock on SQLite, so appends are serialised."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (CheckConstraint("id = 1", name="ck_audit_chain_head_single_row"),)


class ApiToken(Base):
    """An API token, stored as the SHA-256 of its 256-bit random plaintext (shared.auth)."""

    __tablename__ = "api_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    role: Mapped[Role] = mapped_column(Enum(Role, name="token_role", native_enum=False, length=16))
    name: Mapped[str] = mapped_column(String(128))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class AccessLogEntry(Base):
    """Who read what, when and why (every auditor read); mirrored by an ``access`` record."""

    __tablename__ = "access_log"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    token_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_tokens.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(255))
    subject_id: Mapped[str | None] = mapped_column(String(64), index=True)
    purpose: Mapped[str] = mapped_column(Text)
    audit_seq: Mapped[int] = mapped_column(BigInteger)


class ClinicianFeedback(Base):
    """Human oversight: a clinician accepts or overrides a diagnosis (with label and reason)."""

    __tablename__ = "clinician_feedback"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    prediction_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("predictions.id"), index=True)
    token_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_tokens.id"))
    decision: Mapped[FeedbackDecision] = mapped_column(
        Enum(FeedbackDecision, name="feedback_decision", native_enum=False, length=16)
    )
    corrected_label: Mapped[str | None] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    audit_seq: Mapped[int] = mapped_column(BigInteger)


class LegalHold(Base):
    """Keeps a prediction, or every prediction of a case, from the retention purge."""

    __tablename__ = "legal_holds"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    prediction_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    case_ref_hmac: Mapped[str | None] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(Text)
    placed_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    released_at: Mapped[datetime | None]
    released_by: Mapped[str | None] = mapped_column(String(128))

    __table_args__ = (
        CheckConstraint(
            "(prediction_id IS NULL) <> (case_ref_hmac IS NULL)", name="ck_legal_holds_one_key"
        ),
    )
