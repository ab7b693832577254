"""The explain service: claim, check parity, explain, render, archive — idempotently.

A redelivered message for a job that is claimed or finished does nothing. Expected problems
(unsupported method, parity over tolerance, an explainer's refusal) end the job ``failed`` with
the reason; unexpected errors, computing or archiving, give the job back (``queued``) until its
attempts are spent; a database outage gives it back and retries the task.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import numpy as np
from sqlalchemy.exc import OperationalError

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

log = logging.getLogger(__name__)


class TransientError(Exception):
    """Worth retrying: the database or the broker was briefly unavailable."""


def run_job(*, job_id: uuid.UUID, context: WorkerContext) -> None:
    settings = context.settings
    with context.sessions.begin() as session:
        attempt = jobs.claim(
            session,
            job_id=job_id,
            lease_s=settings.job_lease_s,
            worker=context.name,
            device=context.device,
        )
    if attempt is None:
        log.info("job %s is claimed or finished elsewhere: nothing to do", job_id)
        return
    try:
        result = _compute(job_id=job_id, context=context)
        archived = _archive(context, job_id, attempt, result)
    except (ExplainerError, UnknownModel, NotReproducible) as exc:
        with context.sessions.begin() as session:
            jobs.fail(session, job_id=job_id, attempt=attempt, reason=str(exc))
        log.warning("job %s failed: %s", job_id, exc)
        return
    except OperationalError as exc:
        _give_back(context, job_id, attempt, f"database error: {exc.orig!r}")
        raise TransientError(str(exc)) from exc
    except Exception as exc:  # a bug or a poison input: bounded attempts, then failed
        log.exception("job %s: unexpected error", job_id)
        _give_back(context, job_id, attempt, f"{type(exc).__name__}: {exc}")
        return
    log.info("job %s %s", job_id, "succeeded" if archived else "was taken over: result dropped")


def _archive(
    context: WorkerContext, job_id: uuid.UUID, attempt: int, result: dict[str, Any]
) -> bool:
    """Blobs, result row, ``succeeded`` and the audit record in one transaction, if the claim
    is still ours."""
    with context.sessions.begin() as session:
        for data, media_type in result.pop("blobs"):
            repository.put_blob(session, data=data, media_type=media_type)
        row = ExplanationResult(**result)
        if not jobs.succeed(session, job_id=job_id, attempt=attempt, result=row):
            return False
        job = repository.get_job(session, job_id)  # as the UPDATE left it
        assert job is not None
        audit.record_explanation(session, job=job, result=row, prediction=job.prediction)
        return True


def _give_back(context: WorkerContext, job_id: uuid.UUID, attempt: int, reason: str) -> None:
    try:
        with context.sessions.begin() as session:
            jobs.release(
                session,
                job_id=job_id,
                attempt=attempt,
                reason=reason[:2000],
                max_attempts=context.settings.max_attempts,
            )
    except OperationalError:
        log.warning("job %s: could not give back (database down); its lease will expire", job_id)


def _compute(*, job_id: uuid.UUID, context: WorkerContext) -> dict[str, Any]:
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
