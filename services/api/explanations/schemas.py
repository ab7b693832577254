"""Wire schemas of explanations."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import (
    AliasPath,
    BaseModel,
    ConfigDict,
    Field,
    computed_field,
)
from pydantic.json_schema import SkipJsonSchema

from shared.db.models import JobStatus
from shared.rendering import HeatmapOptions


class HeatmapQuery(HeatmapOptions):
    """The rendering options as query parameters: by their documented names only (``clip``,
    not also ``clip_percentile``); anything else is refused."""

    model_config = ConfigDict(validate_by_name=False, validate_by_alias=True)


class ExplanationTimings(BaseModel):
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None


class AttributionsRef(BaseModel):
    """The archived attribution array (``GET .../attributions`` returns it as ``.npy``)."""

    sha256: str
    shape: list[int]
    dtype: str


class ExplanationResultOut(BaseModel):
    """What the worker archived for a succeeded explanation (built from the result row)."""

    model_config = ConfigDict(from_attributes=True)

    model_sha256: str
    parameters: dict[str, Any] = Field(description="the method's parameters as run")
    quality: dict[str, Any] = Field(description="the method's quality figures")
    baseline: dict[str, Any]
    summary: dict[str, Any]
    library_versions: dict[str, Any]
    attributions_sha256: str = Field(exclude=True)
    attributions_shape: list[int] = Field(exclude=True)
    attributions_dtype: str = Field(exclude=True)
    compute_ms: float

    @computed_field  # type: ignore[prop-decorator]
    @property
    def attributions(self) -> AttributionsRef:
        return AttributionsRef(
            sha256=self.attributions_sha256,
            shape=self.attributions_shape,
            dtype=self.attributions_dtype,
        )


def _absent_not_null(schema: dict[str, Any]) -> None:
    """A link that is not there yet is left out of the body, never sent as null."""
    schema.pop("default", None)


def _absent(link: str | None) -> bool:
    return link is None


class ExplanationLinks(BaseModel):
    """``attributions`` and ``rendering`` are present once a result is archived."""

    self: str
    prediction: str
    attributions: str | SkipJsonSchema[None] = Field(
        default=None, exclude_if=_absent, json_schema_extra=_absent_not_null
    )
    rendering: str | SkipJsonSchema[None] = Field(
        default=None,
        exclude_if=_absent,
        json_schema_extra=_absent_not_null,
        description="heatmap.png (image input) or waterfall.png (tabular)",
    )


class ExplanationOut(BaseModel):
    """An explanation job as the API returns it: ``ExplanationOut.model_validate(job_row)``."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    prediction_id: uuid.UUID
    method: str
    status: JobStatus
    target: int = Field(description="the output column explained")
    target_label: str | None = Field(description="its label (null on jobs before 0.3.0)")
    seed: int
    parameters: dict[str, Any]
    attempts: int
    last_error: str | None
    device: str | None
    queued_at: datetime | None = Field(exclude=True)
    started_at: datetime | None = Field(exclude=True)
    finished_at: datetime | None = Field(exclude=True)
    input_kind: str = Field(exclude=True, validation_alias=AliasPath("prediction", "input_kind"))
    result: ExplanationResultOut | None
    rendering_media_type: str | None = Field(
        default=None, exclude=True, validation_alias=AliasPath("result", "rendering_media_type")
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def timings(self) -> ExplanationTimings:
        return ExplanationTimings(
            queued_at=self.queued_at, started_at=self.started_at, finished_at=self.finished_at
        )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def links(self) -> ExplanationLinks:
        base = f"/v1/explanations/{self.id}"
        links = ExplanationLinks(self=base, prediction=f"/v1/predictions/{self.prediction_id}")
        if self.result is not None:
            links.attributions = f"{base}/attributions"
            if self.rendering_media_type == "image/png":
                kind = "heatmap.png" if self.input_kind == "image" else "waterfall.png"
                links.rendering = f"{base}/{kind}"
        return links
