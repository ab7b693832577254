"""Wire schemas of explanations."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.db.models import ExplanationJob, JobStatus
from shared.rendering import HeatmapOptions


class HeatmapQuery(HeatmapOptions):
    """The rendering options as query parameters: by their documented names only (``clip``,
    not also ``clip_percentile``); anything else is refused."""

    model_config = ConfigDict(validate_by_name=False, validate_by_alias=True)


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
