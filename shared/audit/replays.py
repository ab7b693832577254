"""What a ``replay`` record binds: who asked to recompute which explanation, why, on which
model bytes, and what came out (the agreement figures) or why it was refused.

The subject is the prediction id, like every record about one decision. The payload names no
blob: a retention purge may remove the decision's blobs, and a replay record keeps its payload
(no patient data: ids, digests, figures, the auditor's stated purpose).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from shared.audit.chain import append, iso
from shared.audit.formats.v2 import ReplayV2
from shared.db.models import AuditRecord, ExplanationJob, Replay


def payload_for_replay(
    replay: Replay,
    job: ExplanationJob,
    *,
    model_sha256: str,
    attempt: int,
    finished_at: datetime,
    outcome: dict[str, Any] | None,
    error: str | None,
) -> ReplayV2:
    return ReplayV2.new(
        replay_id=str(replay.id),
        explanation_id=str(job.id),
        prediction_id=str(job.prediction_id),
        method=job.method,
        model_sha256=model_sha256,
        status="failed" if error is not None else "succeeded",
        outcome=outcome,
        error=error,
        requested_by=replay.requested_by,
        purpose=replay.purpose,
        attempt=attempt,
        requested_at=iso(replay.created_at),
        finished_at=iso(finished_at),
    )


def record_replay(session: Session, *, payload: ReplayV2, now: datetime) -> AuditRecord:
    """Append the record in the caller's transaction (the one that writes the final status)."""
    return append(
        session, kind="replay", subject_id=payload.prediction_id, payload=payload, now=now
    )
