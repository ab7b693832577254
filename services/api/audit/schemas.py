"""Wire schemas of the auditor API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, computed_field

from services.api.explanations.schemas import ExplanationOut
from services.api.predictions.schemas import FeedbackOut, WithJobs, WithOutcome
from shared.audit.verify import MAX_SEQ
from shared.bundles.outcome import Outcome
from shared.db.models import JobStatus


def _iso_text(value: Any) -> Any:
    """Only ISO 8601 text: pydantic would also take a number as a Unix time, which the schema
    (``format: date-time``) does not allow and which is easy to send by mistake."""
    if isinstance(value, str) and ("-" in value or ":" in value):
        return value
    if isinstance(value, datetime):
        return value
    raise ValueError("an ISO 8601 date-time with its zone, e.g. 2026-11-24T00:00:00Z")


IsoDatetime = Annotated[AwareDatetime, BeforeValidator(_iso_text)]


class RecordQuery(BaseModel):
    """Filters of ``GET /v1/audit/records``; all optional and combined with AND."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: IsoDatetime | None = Field(
        default=None, alias="from", description="created at or after (ISO 8601 with zone)"
    )
    to: IsoDatetime | None = Field(default=None, description="created before (ISO 8601 with zone)")
    model: str | None = Field(default=None, min_length=1, max_length=64)
    version: str | None = Field(default=None, min_length=1, max_length=64)
    method: str | None = Field(default=None, min_length=1, max_length=64)
    label: str | None = Field(default=None, min_length=1, max_length=128)
    case_ref: str | None = Field(
        default=None, min_length=1, max_length=256, description="plaintext; hashed server-side"
    )
    status: JobStatus | None = Field(default=None, description="of an explanation of the case")
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=200, description="next_cursor of a page")


class RecordLinks(BaseModel):
    self: str


class WithReadOutcome(WithOutcome):
    """Shows a prediction row's ``outcome``."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def outcome(self) -> Outcome:
        """The output as the manifest read it (findings, a value); single-label before 0.3.0."""
        return self.read_outcome()


class RecordSummary(WithJobs, WithReadOutcome):
    """One decision in a search page: ``RecordSummary.model_validate(prediction_row)``."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    created_at: datetime
    model_name: str
    model_version: str
    model_sha256: str
    label: str
    probability: float = Field(description="of label; a regression's value (see outcome)")
    probabilities: dict[str, float] = Field(exclude=True)
    input_kind: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def links(self) -> RecordLinks:
        return RecordLinks(self=f"/v1/audit/records/{self.id}")


class RecordPage(BaseModel):
    items: list[RecordSummary]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null: last")


class ChainEntry(BaseModel):
    """One audit record about a decision (its row, without the payload)."""

    model_config = ConfigDict(from_attributes=True)

    seq: int
    kind: str
    created_at: datetime
    hash: str
    prev_hash: str
    payload_sha256: str


class AuditedPrediction(WithReadOutcome):
    """The prediction row as archived: ``AuditedPrediction.model_validate(prediction_row)``."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    created_at: datetime
    model_name: str
    model_version: str
    model_sha256: str
    input_kind: str
    input_media_type: str
    input_sha256: str
    tensor_sha256: str
    preprocessing: Any
    label: str
    probability: float = Field(description="of label; a regression's value (see outcome)")
    probabilities: dict[str, float]
    case_ref_hmac: str | None
    requested_by: str | None
    runtime_versions: dict[str, Any]


class FullRecordLinks(BaseModel):
    self: str
    input: str = Field(description="the archived raw input, as uploaded")
    report_json: str
    report_pdf: str


class FullRecord(BaseModel):
    """One decision as archived: the prediction, every explanation, feedback, chain records."""

    prediction: AuditedPrediction
    explanations: list[ExplanationOut]
    feedback: list[FeedbackOut]
    chain: list[ChainEntry] = Field(description="the audit records about this decision, in order")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def links(self) -> FullRecordLinks:
        base = f"/v1/audit/records/{self.prediction.id}"
        return FullRecordLinks(
            self=base,
            input=f"{base}/input",
            report_json=f"{base}/report.json",
            report_pdf=f"{base}/report.pdf",
        )


class VerifiedRange(BaseModel):
    """The records a verification walked: the requested range with its end clamped to the
    chain's head (``to_seq = from_seq - 1``: none, the range starts past the head)."""

    from_seq: int
    to_seq: int


class VerifyOut(BaseModel):
    """The outcome of a chain verification: ``VerifyOut.model_validate(report)``."""

    model_config = ConfigDict(from_attributes=True)

    ok: bool
    checked: int
    first_bad_seq: int | None
    reason: str | None
    head_seq: int
    head_hash: str
    blobs_checked: int
    rows_checked: int = Field(
        description="decision and token records whose live rows were compared"
    )
    formats: dict[str, int] = Field(
        description="payloads read, by record format, e.g. prediction/2"
    )
    range: VerifiedRange
    clamped: bool = Field(description="the requested to_seq lay beyond the chain's head")


class CheckpointIn(BaseModel):
    """A checkpoint file as exported (``xai audit checkpoint`` or ``POST /v1/ops/checkpoints``)."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["xai-audit-checkpoint/1"]
    seq: int = Field(ge=0, le=MAX_SEQ, strict=True)
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    count: int = Field(ge=0, le=MAX_SEQ, strict=True)
    created_at: IsoDatetime


class CheckpointOut(CheckpointIn):
    pass
