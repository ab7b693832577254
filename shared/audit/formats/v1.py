"""Version 1 of every record kind: what 0.1.0 wrote. FROZEN — never edit a builder's output.

These records carry no ``"format"`` key: a payload without one is version 1 of its record's
kind. The models below describe what 0.1.0 wrote; its decision builders are in
:mod:`~shared.audit.formats.v1_fields`, moved there unchanged. The verifier rebuilds a version-1
decision record with them, byte for byte, so any change to what they return makes
every archived record look tampered with (the golden archive in ``tests/golden`` proves it).
A new field, a renamed one, another number format: add a version beside this one.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import JsonValue

from shared.audit.formats import v1_fields
from shared.audit.formats.base import DecisionRows, Payload, Scheme, Strict


class V1(Payload):
    VERSION: ClassVar[int] = 1
    SCHEME: ClassVar[Scheme] = "python-json/1"


class ModelRef(Strict):
    name: str
    version: str
    sha256: str


class InputRef(Strict):
    kind: str
    media_type: str
    sha256: str
    tensor_sha256: str
    preprocessing: JsonValue


class Outputs(Strict):
    label: str
    probability: float
    probabilities: dict[str, JsonValue]


class JobRef(Strict):
    job_id: str
    method: str
    parameters: JsonValue
    target: int
    seed: int


class PredictionV1(V1):
    KIND: ClassVar[str] = "prediction"
    prediction_id: str
    created_at: str
    requested_by: str | None
    case_ref_hmac: str | None
    model: ModelRef
    input: InputRef
    outputs: Outputs
    runtime_versions: JsonValue
    explanations: list[JobRef]
    blobs: dict[str, str]

    @classmethod
    def from_rows(cls, rows: DecisionRows, written: Payload) -> Payload:
        return cls.model_validate(v1_fields.prediction_fields(rows.prediction, rows.jobs))


class Attributions(Strict):
    sha256: str
    shape: list[int]
    dtype: str


class Rendering(Strict):
    sha256: str
    media_type: str | None


class Times(Strict):
    requested_at: str | None
    queued_at: str | None
    started_at: str | None
    archived_at: str


class ExplanationV1(V1):
    KIND: ClassVar[str] = "explanation"
    prediction_id: str
    job_id: str
    result_id: str
    requested_by: str | None
    method: str
    target: int
    seed: int
    requested_parameters: JsonValue
    parameters: JsonValue
    device: str | None
    worker: str | None
    attempt: int
    model_sha256: str
    input_sha256: str
    tensor_sha256: str
    library_versions: JsonValue
    quality: JsonValue
    baseline: JsonValue
    summary: JsonValue
    attributions: Attributions
    rendering: Rendering | None
    times: Times
    compute_ms: float
    blobs: dict[str, str]

    @classmethod
    def from_rows(cls, rows: DecisionRows, written: Payload) -> Payload:
        if rows.job is None or rows.result is None:
            raise ValueError("an explanation is rebuilt from its job and result")
        fields = v1_fields.explanation_fields(rows.job, rows.result, prediction=rows.prediction)
        return cls.model_validate(fields)


class Clinician(Strict):
    token_id: str
    name: str


class FeedbackV1(V1):
    KIND: ClassVar[str] = "feedback"
    feedback_id: str
    prediction_id: str
    model_sha256: str
    predicted_label: str
    decision: Literal["accept", "override"]
    corrected_label: str | None
    reason: str | None
    clinician: Clinician
    at: str

    @classmethod
    def from_rows(cls, rows: DecisionRows, written: Payload) -> Payload:
        if rows.feedback is None:
            raise ValueError("feedback is rebuilt from its row")
        fields = v1_fields.feedback_fields(
            rows.feedback, rows.prediction, clinician_name=rows.clinician_name
        )
        return cls.model_validate(fields)


class AccessV1(V1):
    KIND: ClassVar[str] = "access"
    token_id: str
    role: str
    name: str
    action: str
    subject_id: str | None
    purpose: str
    at: str
    query: dict[str, str] | None = None  # written only when the read had query parameters


class TokenV1(V1):
    KIND: ClassVar[str] = "token"
    action: Literal["create", "revoke"]
    token_id: str
    role: str
    name: str


class HoldV1(V1):
    KIND: ClassVar[str] = "hold"
    action: Literal["place", "release"]
    hold_id: str
    prediction_id: str | None
    case_ref_hmac: str | None
    reason: str
    by: str
    at: str


class PurgeV1(V1):
    KIND: ClassVar[str] = "purge"
    at: str
    cutoff: str
    retention_days: int
    floor_days: int
    predictions: list[str]
    tombstoned: list[tuple[int, int]]
    blobs_deleted: int


class ReplayV1(V1):
    KIND: ClassVar[str] = "replay"
    replay_id: str
    explanation_id: str
    prediction_id: str
    method: str
    model_sha256: str
    status: Literal["succeeded", "failed"]
    outcome: JsonValue
    error: str | None
    requested_by: str
    purpose: str
    attempt: int
    requested_at: str
    finished_at: str


MODELS: tuple[type[Payload], ...] = (
    PredictionV1,
    ExplanationV1,
    FeedbackV1,
    AccessV1,
    TokenV1,
    HoldV1,
    PurgeV1,
    ReplayV1,
)
