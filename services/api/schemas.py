"""Wire schemas of the HTTP API (pydantic at the process boundary)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from shared.db.models import ExplanationJob, JobStatus, Prediction
from shared.rendering import HeatmapOptions


class FieldProblem(BaseModel):
    field: str = Field(description="dotted path of the offending field, e.g. features.mean area")
    reason: str


class ProblemDetails(BaseModel):
    """RFC 9457 problem details: the body of every error response (``application/problem+json``)."""

    type: str = Field(default="about:blank", description="always about:blank: see title")
    title: str = Field(description="short, fixed summary of the kind of problem")
    status: int = Field(ge=400, le=599, description="the HTTP status code")
    detail: str = Field(description="what exactly was wrong with this request")
    errors: list[FieldProblem] = Field(
        default_factory=list, description="one entry per offending field; absent when none"
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


class HeatmapQuery(HeatmapOptions):
    """The rendering options as query parameters: by their documented names only (``clip``,
    not also ``clip_percentile``); anything else is refused."""

    model_config = ConfigDict(validate_by_name=False, validate_by_alias=True)


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


class ModelOut(BaseModel):
    name: str
    version: str
    sha256: str
    default: bool
    task: str
    methods: list[str]
    manifest: dict[str, Any]


class Check(BaseModel):
    ok: bool
    detail: str


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, Check]


class ExplanationOut(BaseModel):
    id: uuid.UUID
    prediction_id: uuid.UUID
    method: str
    status: JobStatus
    target: int
    seed: int
    parameters: dict[str, Any]
    attempts: int
    last_error: str | None
    device: str | None
    timings: dict[str, datetime | float | None]
    result: dict[str, Any] | None
    links: dict[str, str]

    @classmethod
    def of(cls, job: ExplanationJob) -> ExplanationOut:
        result = job.result
        links = {
            "self": f"/v1/explanations/{job.id}",
            "prediction": f"/v1/predictions/{job.prediction_id}",
        }
        body: dict[str, Any] | None = None
        if result is not None:
            base = f"/v1/explanations/{job.id}"
            links["attributions"] = f"{base}/attributions"
            if result.rendering_media_type == "image/png":
                kind = "heatmap.png" if job.prediction.input_kind == "image" else "waterfall.png"
                links["rendering"] = f"{base}/{kind}"
            body = {
                "model_sha256": result.model_sha256,
                "parameters": result.parameters,
                "quality": result.quality,
                "baseline": result.baseline,
                "summary": result.summary,
                "library_versions": result.library_versions,
                "attributions": {
                    "sha256": result.attributions_sha256,
                    "shape": result.attributions_shape,
                    "dtype": result.attributions_dtype,
                },
                "compute_ms": result.compute_ms,
            }
        return cls(
            id=job.id,
            prediction_id=job.prediction_id,
            method=job.method,
            status=job.status,
            target=job.target,
            seed=job.seed,
            parameters=job.parameters,
            attempts=job.attempts,
            last_error=job.last_error,
            device=job.device,
            timings={
                "queued_at": job.queued_at,
                "started_at": job.started_at,
                "finished_at": job.finished_at,
            },
            result=body,
            links=links,
        )
