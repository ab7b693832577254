"""Do the live rows still say what their records say?

The chain proves the records; the API also serves rows (``predictions``, ``explanation_*``,
``clinician_feedback``, ``api_tokens``), which are not insert-only. For each record of a decision
the verifier rebuilds its payload from today's rows with the builder of the record's own format
version (:mod:`shared.audit.formats`; a version-2 record with the release it names) and
compares the canonical bytes: an edited label, probability, seed, quality figure or blob digest
in a row shows up as a mismatch at that record. A token's role, name and revocation are checked
against its ``token`` records (an un-revoked or promoted token shows), and every token row must
have a ``create`` record (a token inserted behind the CLI's back shows).

Rows are read with Core selects into transient objects, so the caller's session (its identity
map, its pending changes) is neither used nor disturbed.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.audit.formats import DECISION_KINDS, DecisionRows, Payload
from shared.audit.formats.v1 import ExplanationV1, FeedbackV1, PredictionV1, TokenV1
from shared.db.models import (
    ApiToken,
    Base,
    ClinicianFeedback,
    ExplanationJob,
    ExplanationResult,
    Prediction,
)

M = TypeVar("M", bound=Base)

__all__ = ["DECISION_KINDS", "TokenLedger", "decision_mismatch"]


def _rows(session: Session, model: type[M], *where: Any) -> list[M]:
    table = model.__table__
    return [model(**row) for row in session.execute(select(table).where(*where)).mappings()]


def _row(session: Session, model: type[M], key: str) -> M | None:
    found = _rows(session, model, model.__table__.c.id == uuid.UUID(key))
    return found[0] if found else None


def _live(session: Session, payload: Payload) -> DecisionRows | None:
    """The rows a decision payload names (every version shares these field names)."""
    prediction_id = getattr(payload, "prediction_id", None)
    prediction = _row(session, Prediction, str(prediction_id))
    if prediction is None:
        return None
    if isinstance(payload, PredictionV1):
        job_ids = [uuid.UUID(e.job_id) for e in payload.explanations]
        jobs = _rows(session, ExplanationJob, ExplanationJob.id.in_(job_ids))
        return DecisionRows(prediction=prediction, jobs=jobs)
    if isinstance(payload, ExplanationV1):
        job = _row(session, ExplanationJob, payload.job_id)
        result = _row(session, ExplanationResult, payload.result_id)
        if job is None or result is None:
            return None
        return DecisionRows(prediction=prediction, job=job, result=result)
    if isinstance(payload, FeedbackV1):
        feedback = _row(session, ClinicianFeedback, payload.feedback_id)
        if feedback is None:
            return None
        name = session.scalar(select(ApiToken.name).where(ApiToken.id == feedback.token_id))
        return DecisionRows(prediction=prediction, feedback=feedback, clinician_name=name or "")
    raise TypeError(f"{payload.format_name()} is not a decision record")


def decision_mismatch(session: Session, payload: Payload, stored: bytes) -> str | None:
    """Why the rows of a ``prediction``/``explanation``/``feedback`` record disagree, or None.
    ``payload`` is the stored bytes parsed by :func:`shared.audit.formats.check`."""
    kind = payload.KIND
    try:
        rows = _live(session, payload)
    except (KeyError, TypeError, ValueError) as exc:
        return f"the {kind} payload does not name its rows ({exc!r})"
    if rows is None:
        return f"the {kind}'s rows are missing (deleted without a purge)"
    mismatch = f"the {kind}'s rows no longer match the record ({payload.format_name()})"
    try:
        rebuilt = type(payload).from_rows(rows, payload)
    except ValueError as exc:  # pydantic's ValidationError: the rows build no valid payload
        return f"{mismatch}: {exc}"
    return None if rebuilt.canonical() == stored else mismatch


class TokenLedger:
    """What the ``token`` records say about each token, checked against ``api_tokens``."""

    def __init__(self) -> None:
        self.recorded: set[str] = set()

    def mismatch(self, session: Session, payload: TokenV1) -> str | None:
        try:
            token = _row(session, ApiToken, payload.token_id)
        except ValueError as exc:
            return f"the token payload does not name its token ({exc!r})"
        if token is None:
            return "the token's row is missing"
        if (str(token.role), token.name) != (payload.role, payload.name):
            return "the token's role or name no longer matches its record"
        if payload.action == "revoke" and token.revoked_at is None:
            return "a revoked token is active again"
        self.recorded.add(payload.token_id)
        return None

    def unrecorded(self, session: Session) -> str | None:
        """A token row no record vouches for (call after a whole-chain walk)."""
        for token_id in session.scalars(select(ApiToken.id)):
            if str(token_id) not in self.recorded:
                return f"token {token_id} has no create record"
        return None
