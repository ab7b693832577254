"""Wire schemas of predictions and of clinician feedback."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from shared.db.models import (
    ClinicianFeedback,
    ExplanationJob,
    FeedbackDecision,
    JobStatus,
    Prediction,
)


class TabularPredictionBody(BaseModel):
    """``application/json`` body of ``POST /v1/predictions`` for tabular models."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=64, examples=["breast-cancer-gbt"])
    version: str | None = Field(default=None, min_length=1, max_length=64)
    methods: list[str] | None = Field(default=None, max_length=16)
    case_ref: str | None = Field(default=None, min_length=1, max_length=256)
    features: dict[str, Any] = Field(
        description="feature name -> number, as the manifest lists (every feature, no other)",
        json_schema_extra={"additionalProperties": {"type": "number"}},
    )


def _omitted_not_null(schema: dict[str, Any]) -> None:
    """Optional form fields are left out, never sent as null: drop their ``default: null``."""
    for field in schema["properties"].values():
        field.pop("default", None)


class ImagePredictionForm(BaseModel):
    """``multipart/form-data`` fields of ``POST /v1/predictions`` for image models (documents the
    form; a field cannot be null in a form, and unknown fields are refused)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_omitted_not_null)

    file: bytes = Field(json_schema_extra={"format": "binary"}, description="PNG, JPEG or DICOM")
    model: str = Field(min_length=1, max_length=64, examples=["chest-xray-demo"])
    version: str | SkipJsonSchema[None] = Field(default=None, min_length=1, max_length=64)
    methods: list[str] | SkipJsonSchema[None] = Field(
        default=None, description="repeat the field per method (or separate them by commas)"
    )
    case_ref: str | SkipJsonSchema[None] = Field(default=None, min_length=1, max_length=256)


class ModelRef(BaseModel):
    name: str
    version: str
    sha256: str


class DiagnosisOut(BaseModel):
    label: str
    probability: float
    probabilities: dict[str, float]


class JobOut(BaseModel):
    id: uuid.UUID
    method: str
    status: JobStatus
    links: dict[str, str]

    @classmethod
    def of(cls, job: ExplanationJob) -> JobOut:
        return cls(
            id=job.id,
            method=job.method,
            status=job.status,
            links={"self": f"/v1/explanations/{job.id}"},
        )


class PredictionOut(BaseModel):
    id: uuid.UUID
    created_at: datetime
    diagnosis: DiagnosisOut
    model: ModelRef
    input: dict[str, Any]
    explanations: list[JobOut]
    links: dict[str, str]

    @classmethod
    def of(cls, p: Prediction) -> PredictionOut:
        return cls(
            id=p.id,
            created_at=p.created_at,
            diagnosis=DiagnosisOut(
                label=p.label, probability=p.probability, probabilities=p.probabilities
            ),
            model=ModelRef(name=p.model_name, version=p.model_version, sha256=p.model_sha256),
            input={
                "kind": p.input_kind,
                "media_type": p.input_media_type,
                "sha256": p.input_sha256,
                "tensor_sha256": p.tensor_sha256,
                "preprocessing": p.preprocessing,
            },
            explanations=[JobOut.of(job) for job in sorted(p.jobs, key=lambda j: j.method)],
            links={"self": f"/v1/predictions/{p.id}", "events": f"/v1/predictions/{p.id}/events"},
        )


class FeedbackIn(BaseModel):
    """Accept the diagnosis, or override it with the corrected label and the reason."""

    model_config = ConfigDict(extra="forbid")

    decision: FeedbackDecision
    corrected_label: str | None = Field(default=None, min_length=1, max_length=128)
    reason: str | None = Field(default=None, min_length=1, max_length=2000)


class FeedbackOut(BaseModel):
    id: uuid.UUID
    prediction_id: uuid.UUID
    clinician_token_id: uuid.UUID
    decision: FeedbackDecision
    corrected_label: str | None
    reason: str | None
    created_at: datetime
    audit_seq: int

    @classmethod
    def of(cls, f: ClinicianFeedback) -> FeedbackOut:
        return cls(
            id=f.id,
            prediction_id=f.prediction_id,
            clinician_token_id=f.token_id,
            decision=f.decision,
            corrected_label=f.corrected_label,
            reason=f.reason,
            created_at=f.created_at,
            audit_seq=f.audit_seq,
        )
