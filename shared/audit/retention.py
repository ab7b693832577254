"""Retention: forget old decisions, keep the chain verifiable.

A decision (a prediction, its jobs and results, its feedback, its blobs, and the payloads of its
``prediction`` / ``explanation`` / ``feedback`` records) is purged once *all* of it is older than
``now - retention_days``, unless a legal hold covers the prediction or its case, or a job is
still unfinished. ``retention_days`` can never be below ``floor_days``, nor ``floor_days`` below
:data:`shared.retention.MINIMUM_FLOOR_DAYS` (six months), so nothing younger than the floor is
ever touched.

The chain rows stay: only payloads go (tombstones). Record hashes cover ``payload_sha256``, not
the payload, and the ``purge`` record appended in the same transaction names every tombstoned
seq, so :func:`shared.audit.verify.verify` still passes, and a payload deleted by anyone else
does not. ``access`` and ``hold`` records keep their payloads (who did what; no patient data).
The caller commits; run it in batches until a batch purges nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from shared.audit.chain import append, iso
from shared.audit.formats import DECISION_KINDS
from shared.audit.formats.v2 import PurgeV2
from shared.audit.holds import on_hold
from shared.audit.tombstones import to_ranges
from shared.db.models import (
    AuditPayload,
    AuditRecord,
    Blob,
    ClinicianFeedback,
    ExplanationJob,
    ExplanationResult,
    JobStatus,
    Prediction,
)
from shared.retention import check_policy


@dataclass(frozen=True)
class PurgeReport:
    cutoff: datetime
    predictions: list[uuid.UUID] = field(default_factory=list)
    tombstoned: int = 0
    blobs_deleted: int = 0
    record_seq: int | None = None


def purge(
    session: Session, *, now: datetime, retention_days: int, floor_days: int, batch: int = 500
) -> PurgeReport:
    check_policy(retention_days=retention_days, floor_days=floor_days)
    if now.tzinfo is None:
        raise ValueError("now must be a UTC-aware datetime")
    cutoff = now - timedelta(days=retention_days)
    ids = _purgeable(session, cutoff=cutoff, batch=batch)
    if not ids:
        return PurgeReport(cutoff=cutoff)
    seqs = session.scalars(
        select(AuditPayload.seq)
        .join(AuditRecord, AuditRecord.seq == AuditPayload.seq)
        .where(
            AuditRecord.subject_id.in_([str(i) for i in ids]),
            AuditRecord.kind.in_(DECISION_KINDS),
        )
    ).all()
    blobs = _blobs_of(session, ids)
    job_ids = select(ExplanationJob.id).where(ExplanationJob.prediction_id.in_(ids))
    session.execute(delete(AuditPayload).where(AuditPayload.seq.in_(seqs)))
    session.execute(delete(ClinicianFeedback).where(ClinicianFeedback.prediction_id.in_(ids)))
    session.execute(delete(ExplanationResult).where(ExplanationResult.job_id.in_(job_ids)))
    session.execute(delete(ExplanationJob).where(ExplanationJob.prediction_id.in_(ids)))
    session.execute(delete(Prediction).where(Prediction.id.in_(ids)))
    blobs_deleted = _delete_unreferenced(session, blobs)
    record = append(
        session,
        kind="purge",
        subject_id="retention",
        payload=PurgeV2.new(
            at=iso(now),
            cutoff=iso(cutoff),
            retention_days=retention_days,
            floor_days=floor_days,
            predictions=sorted(str(i) for i in ids),
            tombstoned=to_ranges(seqs),
            blobs_deleted=blobs_deleted,
        ),
        now=now,
    )
    return PurgeReport(
        cutoff=cutoff,
        predictions=ids,
        tombstoned=len(seqs),
        blobs_deleted=blobs_deleted,
        record_seq=record.seq,
    )


def _purgeable(session: Session, *, cutoff: datetime, batch: int) -> list[uuid.UUID]:
    """Old, unheld, finished decisions with nothing (result, feedback, record) newer."""
    of_prediction = ExplanationJob.prediction_id == Prediction.id
    query = (
        select(Prediction.id)
        .where(
            Prediction.created_at < cutoff,
            ~on_hold(),
            ~exists().where(
                of_prediction, ExplanationJob.status.in_([JobStatus.queued, JobStatus.running])
            ),
            ~exists().where(
                of_prediction,
                ExplanationResult.job_id == ExplanationJob.id,
                ExplanationResult.created_at >= cutoff,
            ),
            ~exists().where(
                ClinicianFeedback.prediction_id == Prediction.id,
                ClinicianFeedback.created_at >= cutoff,
            ),
        )
        .order_by(Prediction.created_at, Prediction.id)
    )
    chosen: list[uuid.UUID] = []
    offset = 0
    while len(chosen) < batch:
        page = session.scalars(query.offset(offset).limit(batch)).all()
        if not page:
            break
        offset += len(page)
        young = set(
            session.scalars(
                select(AuditRecord.subject_id).where(
                    AuditRecord.subject_id.in_([str(i) for i in page]),
                    AuditRecord.kind.in_(DECISION_KINDS),
                    AuditRecord.created_at >= cutoff,
                )
            )
        )
        chosen += [i for i in page if str(i) not in young]
    return chosen[:batch]


def _blobs_of(session: Session, ids: list[uuid.UUID]) -> set[str]:
    inputs = session.scalars(select(Prediction.input_sha256).where(Prediction.id.in_(ids)))
    results = session.execute(
        select(ExplanationResult.attributions_sha256, ExplanationResult.rendering_sha256)
        .join(ExplanationJob, ExplanationJob.id == ExplanationResult.job_id)
        .where(ExplanationJob.prediction_id.in_(ids))
    )
    found = set(inputs)
    for attributions, rendering in results:
        found.update(d for d in (attributions, rendering) if d is not None)
    return found


def _delete_unreferenced(session: Session, digests: set[str]) -> int:
    """Blobs are shared by content: delete only those no remaining row references."""
    if not digests:
        return 0
    still = {
        *session.scalars(
            select(Prediction.input_sha256).where(Prediction.input_sha256.in_(digests))
        ),
        *session.scalars(
            select(ExplanationResult.attributions_sha256).where(
                ExplanationResult.attributions_sha256.in_(digests)
            )
        ),
        *session.scalars(
            select(ExplanationResult.rendering_sha256).where(
                ExplanationResult.rendering_sha256.in_(digests)
            )
        ),
    }
    gone = sorted(digests - still)
    if gone:
        session.execute(delete(Blob).where(Blob.sha256.in_(gone)))
    return len(gone)
