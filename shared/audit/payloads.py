"""What a prediction's and an explanation's audit records bind, written in the current record
format (:data:`shared.audit.formats.CURRENT`; the builders live with their format version).

Both payloads name the blobs they vouch for under ``"blobs": {role: sha256}``; the verifier
re-hashes those bytes. The subject of every record about one decision is the prediction id,
so a decision's records are found (and purged) together.

Call the ``record_*`` helpers late in the transaction that writes the rows, just before commit:
the prediction and its record (or the result and its record) commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from shared.audit.chain import append
from shared.audit.formats.v3 import (
    ExplanationV3,
    PredictionV3,
    build_explanation,
    build_prediction,
)
from shared.db.models import AuditRecord, ExplanationJob, ExplanationResult, Prediction


def payload_for_prediction(prediction: Prediction, jobs: Sequence[ExplanationJob]) -> PredictionV3:
    return build_prediction(prediction, jobs)


def payload_for_explanation(
    job: ExplanationJob, result: ExplanationResult, *, prediction: Prediction | None = None
) -> ExplanationV3:
    """``prediction`` defaults to ``job.prediction`` (it must be loaded if ``job`` is detached).
    ``job`` is as claimed (started_at, attempts, device); the archive time is the result's."""
    return build_explanation(job, result, prediction=prediction)


def record_prediction(
    session: Session,
    *,
    prediction: Prediction,
    jobs: Sequence[ExplanationJob] | None = None,
    now: datetime | None = None,
) -> AuditRecord:
    session.flush()
    payload = payload_for_prediction(prediction, prediction.jobs if jobs is None else jobs)
    return append(
        session, kind="prediction", subject_id=str(prediction.id), payload=payload, now=now
    )


def record_explanation(
    session: Session,
    *,
    job: ExplanationJob,
    result: ExplanationResult,
    prediction: Prediction | None = None,
    now: datetime | None = None,
) -> AuditRecord:
    session.flush()
    payload = payload_for_explanation(job, result, prediction=prediction)
    return append(
        session, kind="explanation", subject_id=payload.prediction_id, payload=payload, now=now
    )
