"""The 0.1.0 builders of the decision records' fields, moved here unchanged. FROZEN.

:mod:`shared.audit.formats.v1` rebuilds version-1 records with them, and version 2 writes the
same fields beside its own: editing what one returns makes every archived version-1 record look
tampered with (``tests/integration/audit/test_golden_archive.py`` shows it). Add a version.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from shared.audit.chain import iso
from shared.db.models import ClinicianFeedback, ExplanationJob, ExplanationResult, Prediction


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else iso(moment)


def _flushed(moment: datetime | None, what: str) -> datetime:
    if moment is None:
        raise ValueError(f"{what} has no created_at yet: flush the session first")
    return moment


def prediction_fields(prediction: Prediction, jobs: Sequence[ExplanationJob]) -> dict[str, Any]:
    return {
        "prediction_id": str(prediction.id),
        "created_at": iso(_flushed(prediction.created_at, "the prediction")),
        "requested_by": prediction.requested_by,
        "case_ref_hmac": prediction.case_ref_hmac,
        "model": {
            "name": prediction.model_name,
            "version": prediction.model_version,
            "sha256": prediction.model_sha256,
        },
        "input": {
            "kind": prediction.input_kind,
            "media_type": prediction.input_media_type,
            "sha256": prediction.input_sha256,
            "tensor_sha256": prediction.tensor_sha256,
            "preprocessing": prediction.preprocessing,
        },
        "outputs": {
            "label": prediction.label,
            "probability": prediction.probability,
            "probabilities": prediction.probabilities,
        },
        "runtime_versions": prediction.runtime_versions,
        "explanations": [
            {
                "job_id": str(job.id),
                "method": job.method,
                "parameters": job.parameters,
                "target": job.target,
                "seed": job.seed,
            }
            for job in sorted(jobs, key=lambda j: (j.method, str(j.id)))
        ],
        "blobs": {"input": prediction.input_sha256},
    }


def explanation_fields(
    job: ExplanationJob, result: ExplanationResult, *, prediction: Prediction | None = None
) -> dict[str, Any]:
    """``prediction`` defaults to ``job.prediction`` (it must be loaded if ``job`` is detached).
    ``job`` is as claimed (started_at, attempts, device); the archive time is the result's."""
    prediction = prediction or job.prediction
    blobs = {"input": prediction.input_sha256, "attributions": result.attributions_sha256}
    if result.rendering_sha256 is not None:
        blobs["rendering"] = result.rendering_sha256
    return {
        "prediction_id": str(prediction.id),
        "job_id": str(job.id),
        "result_id": str(result.id),
        "requested_by": prediction.requested_by,
        "method": job.method,
        "target": job.target,
        "seed": job.seed,
        "requested_parameters": job.parameters,
        "parameters": result.parameters,
        "device": job.device,
        "worker": job.worker,
        "attempt": job.attempts,
        "model_sha256": result.model_sha256,
        "input_sha256": prediction.input_sha256,
        "tensor_sha256": prediction.tensor_sha256,
        "library_versions": result.library_versions,
        "quality": result.quality,
        "baseline": result.baseline,
        "summary": result.summary,
        "attributions": {
            "sha256": result.attributions_sha256,
            "shape": result.attributions_shape,
            "dtype": result.attributions_dtype,
        },
        "rendering": None
        if result.rendering_sha256 is None
        else {"sha256": result.rendering_sha256, "media_type": result.rendering_media_type},
        "times": {
            "requested_at": _when(prediction.created_at),
            "queued_at": _when(job.queued_at),
            "started_at": _when(job.started_at),
            "archived_at": iso(_flushed(result.created_at, "the result")),
        },
        "compute_ms": result.compute_ms,
        "blobs": blobs,
    }


def feedback_fields(
    feedback: ClinicianFeedback, prediction: Prediction, *, clinician_name: str
) -> dict[str, Any]:
    return {
        "feedback_id": str(feedback.id),
        "prediction_id": str(prediction.id),
        "model_sha256": prediction.model_sha256,
        "predicted_label": prediction.label,
        "decision": str(feedback.decision),
        "corrected_label": feedback.corrected_label,
        "reason": feedback.reason,
        "clinician": {"token_id": str(feedback.token_id), "name": clinician_name},
        "at": iso(feedback.created_at),
    }
