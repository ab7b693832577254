"""The auditor's view of the archive: search decisions, open one, verify the chain.

Search pages are keyset-paginated on ``(created_at, id)``, newest first: a page boundary never
skips or repeats a decision, even while new predictions are being recorded (they sort before
the first page). The cursor is opaque to clients (URL-safe base64 of the last row's key).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, selectinload

from services.api.audit.schemas import (
    AuditedPrediction,
    ChainEntry,
    FullRecord,
    RecordPage,
    RecordQuery,
    RecordSummary,
)
from services.api.explanations.schemas import ExplanationOut
from services.api.predictions.schemas import FeedbackOut
from shared.db.models import AuditRecord, ClinicianFeedback, ExplanationJob, Prediction
from shared.errors import InvalidInput, NotFound
from shared.hashing import pseudonymise


def search(session: Session, query: RecordQuery, *, case_ref_key: bytes) -> RecordPage:
    if query.from_ and query.to and query.from_ >= query.to:
        raise InvalidInput.field("from", "must be before `to`")
    statement = select(Prediction).options(selectinload(Prediction.jobs))
    if query.from_:
        statement = statement.where(Prediction.created_at >= query.from_)
    if query.to:
        statement = statement.where(Prediction.created_at < query.to)
    for column, value in (
        (Prediction.model_name, query.model),
        (Prediction.model_version, query.version),
        (Prediction.label, query.label),
    ):
        if value is not None:
            statement = statement.where(column == value)
    if query.case_ref is not None:
        hmac = pseudonymise(query.case_ref, key=case_ref_key)
        statement = statement.where(Prediction.case_ref_hmac == hmac)
    if query.method is not None or query.status is not None:
        jobs = select(ExplanationJob.prediction_id)
        if query.method is not None:
            jobs = jobs.where(ExplanationJob.method == query.method)
        if query.status is not None:
            jobs = jobs.where(ExplanationJob.status == query.status)
        statement = statement.where(Prediction.id.in_(jobs))
    if query.cursor is not None:
        after_time, after_id = _decode(query.cursor)
        statement = statement.where(
            or_(
                Prediction.created_at < after_time,
                and_(Prediction.created_at == after_time, Prediction.id < after_id),
            )
        )
    statement = statement.order_by(Prediction.created_at.desc(), Prediction.id.desc())
    rows = list(session.scalars(statement.limit(query.limit + 1)))
    page, more = rows[: query.limit], len(rows) > query.limit
    return RecordPage(
        items=[RecordSummary.model_validate(p) for p in page],
        next_cursor=_encode(page[-1]) if more else None,
    )


def _encode(last: Prediction) -> str:
    key = json.dumps([last.created_at.isoformat(), str(last.id)], separators=(",", ":"))
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        moment, ident = json.loads(raw)
        after = datetime.fromisoformat(moment)
        if after.tzinfo is None:  # every cursor this API writes carries its zone
            raise ValueError("no time zone")
        return after, uuid.UUID(ident)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError, OverflowError):
        raise InvalidInput.field("cursor", "not a cursor this API returned") from None


def full_record(session: Session, prediction_id: uuid.UUID) -> FullRecord:
    prediction = session.get(Prediction, prediction_id)
    if prediction is None:
        raise NotFound(f"no prediction {prediction_id}")
    feedback = session.scalars(
        select(ClinicianFeedback)
        .where(ClinicianFeedback.prediction_id == prediction_id)
        .order_by(ClinicianFeedback.created_at)
    )
    chain = session.scalars(
        select(AuditRecord)
        .where(AuditRecord.subject_id == str(prediction_id))
        .order_by(AuditRecord.seq)
    )
    return FullRecord(
        prediction=AuditedPrediction.model_validate(prediction),
        explanations=[
            ExplanationOut.model_validate(job)
            for job in sorted(prediction.jobs, key=lambda j: j.method)
        ],
        feedback=[FeedbackOut.model_validate(f) for f in feedback],
        chain=[ChainEntry.model_validate(r) for r in chain],
    )
