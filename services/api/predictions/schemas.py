"""Wire schemas of predictions and of clinician feedback."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, computed_field
from pydantic.json_schema import SkipJsonSchema

from services.api.methods.schemas import ParameterOverrides
from shared.bundles.outcome import Outcome, recorded_outcome
from shared.db.models import FeedbackDecision, JobStatus

MethodName = Annotated[str, Field(min_length=1, max_length=64)]
METHODS_DESCRIPTION = (
    "explanation methods to queue, at least one; leave the field out for the model's defaults"
)
TargetLabel = Annotated[str, Field(min_length=1, max_length=128)]
TARGETS_DESCRIPTION = (
    "labels to explain (classes or findings; each method runs once per label); leave the field "
    "out for the defaults: the predicted class, the positive findings (the most probable one "
    "when none is positive) or the value"
)


class TabularPredictionBody(BaseModel):
    """``application/json`` body of ``POST /v1/predictions`` for tabular models."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=64, examples=["breast-cancer-gbt"])
    version: str | None = Field(default=None, min_length=1, max_length=64)
    methods: list[MethodName] | None = Field(
        default=None, min_length=1, max_length=16, description=METHODS_DESCRIPTION
    )
    parameters: ParameterOverrides | None = None
    targets: list[TargetLabel] | None = Field(
        default=None, min_length=1, max_length=16, description=TARGETS_DESCRIPTION
    )
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
    methods: list[MethodName] | SkipJsonSchema[None] = Field(
        default=None,
        min_length=1,
        max_length=16,
        description=f"{METHODS_DESCRIPTION}: repeat the field per method (or separate them by "
        "commas)",
    )
    parameters: str | SkipJsonSchema[None] = Field(
        default=None,
        description="JSON object {method: {name: value}} over the bundle's parameters, e.g. "
        '{"integrated_gradients": {"n_steps": 64}} (see GET /v1/methods)',
    )
    targets: list[TargetLabel] | SkipJsonSchema[None] = Field(
        default=None,
        min_length=1,
        max_length=16,
        description=f"{TARGETS_DESCRIPTION}: repeat the field per label (labels may hold commas)",
    )
    case_ref: str | SkipJsonSchema[None] = Field(default=None, min_length=1, max_length=256)


class ModelRef(BaseModel):
    name: str
    version: str
    sha256: str


class InputRef(BaseModel):
    """The archived input of a prediction and how it was brought to the model."""

    kind: str = Field(description="image or tabular")
    media_type: str
    sha256: str = Field(description="SHA-256 of the archived raw input")
    tensor_sha256: str = Field(description="SHA-256 of the model input (``.npy``)")
    preprocessing: dict[str, Any] = Field(description="the recorded preprocessing steps")


class JobLinks(BaseModel):
    self: str


class JobOut(BaseModel):
    """An explanation job as listed with its prediction (built from the ORM row)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    method: str
    target: int = Field(description="the output column explained")
    target_label: str | None = Field(description="its label (null on jobs before 0.3.0)")
    status: JobStatus

    @computed_field  # type: ignore[prop-decorator]
    @property
    def links(self) -> JobLinks:
        return JobLinks(self=f"/v1/explanations/{self.id}")


class WithJobs(BaseModel):
    """A prediction's explanation jobs, shown as ``explanations`` in method order."""

    jobs: list[JobOut] = Field(exclude=True)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def explanations(self) -> list[JobOut]:
        return sorted(self.jobs, key=lambda job: (job.method, job.target))


class PredictionLinks(BaseModel):
    self: str
    events: str = Field(description="Server-Sent Events of the explanation jobs")


class WithOutcome(BaseModel):
    """A prediction row's outcome (:func:`~shared.bundles.outcome.recorded_outcome`); rows
    before 0.3.0 have none and were single-label."""

    label: str
    probability: float
    probabilities: dict[str, float]
    recorded_outcome: dict[str, Any] | None = Field(exclude=True, validation_alias="outcome")

    def read_outcome(self) -> Outcome:
        return recorded_outcome(
            self.recorded_outcome,
            label=self.label,
            probability=self.probability,
            probabilities=self.probabilities,
        )


class PredictionOut(WithJobs, WithOutcome):
    """A prediction as the API returns it: ``PredictionOut.model_validate(row)``. The row's
    columns below marked ``exclude`` are read from the ORM row and sent nested (``diagnosis``,
    ``model``, ``input``)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    created_at: datetime
    label: str = Field(exclude=True)
    probability: float = Field(exclude=True)
    probabilities: dict[str, float] = Field(exclude=True)
    model_name: str = Field(exclude=True)
    model_version: str = Field(exclude=True)
    model_sha256: str = Field(exclude=True)
    input_kind: str = Field(exclude=True)
    input_media_type: str = Field(exclude=True)
    input_sha256: str = Field(exclude=True)
    tensor_sha256: str = Field(exclude=True)
    preprocessing: dict[str, Any] = Field(exclude=True)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def diagnosis(self) -> Outcome:
        """The output as the manifest reads it; predictions before 0.3.0 were single-label."""
        return self.read_outcome()

    @computed_field  # type: ignore[prop-decorator]
    @property
    def model(self) -> ModelRef:
        return ModelRef(name=self.model_name, version=self.model_version, sha256=self.model_sha256)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def input(self) -> InputRef:
        return InputRef(
            kind=self.input_kind,
            media_type=self.input_media_type,
            sha256=self.input_sha256,
            tensor_sha256=self.tensor_sha256,
            preprocessing=self.preprocessing,
        )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def links(self) -> PredictionLinks:
        base = f"/v1/predictions/{self.id}"
        return PredictionLinks(self=base, events=f"{base}/events")


class FeedbackIn(BaseModel):
    """Accept the diagnosis, or override it with the corrected label and the reason."""

    model_config = ConfigDict(extra="forbid")

    decision: FeedbackDecision
    corrected_label: str | None = Field(default=None, min_length=1, max_length=128)
    reason: str | None = Field(default=None, min_length=1, max_length=2000)


class FeedbackOut(BaseModel):
    """A clinician's feedback entry: ``FeedbackOut.model_validate(row)``."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    prediction_id: uuid.UUID
    clinician_token_id: uuid.UUID = Field(validation_alias="token_id")
    decision: FeedbackDecision
    corrected_label: str | None
    reason: str | None
    created_at: datetime
    audit_seq: int
