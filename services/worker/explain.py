"""The explain service: claim, check parity, explain, render, archive — idempotently.

Explanation jobs are leased work run by :mod:`services.worker.runner`: a redelivered message for
a job that is claimed or finished does nothing. Expected problems (unsupported method, parity
over tolerance, an explainer's refusal) end the job ``failed`` with the reason; unexpected
errors, computing or archiving, give the job back (``queued``) until its attempts are spent; a
database outage gives it back and retries the task.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from services.worker import runner
from services.worker.context import WorkerContext
from services.worker.explainers import ExplainerError
from services.worker.recompute import Computed, compute, npy_bytes
from services.worker.rendering_defaults import render_default
from shared import audit
from shared.bundles.registry import UnknownModel
from shared.db import jobs, repository
from shared.db.models import ExplanationJob, ExplanationResult, Prediction
from shared.hashing import sha256_hex
from shared.preprocess import NotReproducible
from shared.queue import Publisher

log = logging.getLogger(__name__)


def run_job(*, job_id: uuid.UUID, context: WorkerContext) -> None:
    runner.run(JOB, item_id=job_id, context=context)


def _archive(session: Session, job_id: uuid.UUID, attempt: int, result: dict[str, Any]) -> bool:
    """Blobs, result row, ``succeeded`` and the audit record in the caller's transaction, if
    the claim is still ours."""
    for data, media_type in result.pop("blobs"):
        repository.put_blob(session, data=data, media_type=media_type)
    row = ExplanationResult(**result)
    if not jobs.succeed(session, job_id=job_id, attempt=attempt, result=row):
        return False
    job = repository.get_job(session, job_id)  # as the UPDATE left it
    assert job is not None
    audit.record_explanation(session, job=job, result=row, prediction=job.prediction)
    return True


def _compute(job_id: uuid.UUID, context: WorkerContext) -> dict[str, Any]:
    with context.sessions() as session:
        job = repository.get_job(session, job_id)
        assert job is not None, "a claimed job exists"
        prediction = job.prediction
        stored = repository.get_blob(session, prediction.input_sha256)
        assert stored is not None, "the prediction's input is archived with it"
    computed = compute(job=job, prediction=prediction, raw_input=stored.data, context=context)
    return _archive_row(job, prediction, computed)


def _archive_row(job: ExplanationJob, prediction: Prediction, computed: Computed) -> dict[str, Any]:
    attribution = computed.attribution
    values = computed.values
    npy = npy_bytes(values)
    rendering, summary = render_default(
        model=computed.model, prediction=prediction, x=computed.x, attribution=attribution
    )
    blobs = [(npy, "application/x-npy")]
    if rendering is not None:
        blobs.append((rendering, "image/png"))
    quality = {k: float(v) for k, v in attribution.quality.items()}
    if computed.parity is not None:
        quality["parity_max_abs_diff"] = computed.parity
    return {
        "blobs": blobs,
        "job_id": job.id,
        "model_sha256": attribution.model_sha256,
        "attributions_sha256": sha256_hex(npy),
        "attributions_shape": list(values.shape),
        "attributions_dtype": str(values.dtype),
        "rendering_sha256": sha256_hex(rendering) if rendering is not None else None,
        "rendering_media_type": "image/png" if rendering is not None else None,
        "baseline": _jsonable_baseline(attribution.baseline),
        "parameters": attribution.parameters,
        "quality": quality,
        "summary": summary,
        "library_versions": computed.library_versions,
        "compute_ms": computed.compute_ms,
    }


def _jsonable_baseline(baseline: Any) -> dict[str, Any]:
    if baseline is None:
        return {}
    if isinstance(baseline, dict):
        return baseline
    array = np.asarray(baseline)
    if array.size == 1:
        return {"value": float(array.reshape(-1)[0])}
    return {
        "shape": list(array.shape),
        "mean": float(array.mean()),
        "min": float(array.min()),
        "max": float(array.max()),
    }


def _device(context: WorkerContext) -> Mapping[str, object]:
    return {"device": context.device}


JOB: runner.Kind[dict[str, Any]] = runner.Kind(
    name="job",
    table=jobs.JOBS,
    publish=Publisher.publish,
    compute=_compute,
    archive=_archive,
    refusals=(ExplainerError, UnknownModel, NotReproducible),
    claim_values=_device,
)
