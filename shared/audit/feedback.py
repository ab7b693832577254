"""Clinician feedback, the evidence of human oversight: accept, or override with a label and a
reason. Each entry is a ``clinician_feedback`` row and a ``feedback`` record in the chain, whose
subject is the prediction, so it joins that decision's audit trail.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from shared.audit.chain import append
from shared.audit.formats.v2 import FeedbackV2, build_feedback
from shared.db.models import ClinicianFeedback, FeedbackDecision, Prediction
from shared.errors import FieldError, InvalidInput

if TYPE_CHECKING:
    from shared.auth.tokens import Principal

MAX_REASON = 2000


class FeedbackError(InvalidInput):
    """Feedback that cannot be recorded as given; ``field`` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        detail = f"{field}: {message}"
        super().__init__(detail, errors=[FieldError(field=field, reason=detail)])
        self.field_name = field


def record_feedback(
    session: Session,
    *,
    prediction: Prediction,
    principal: Principal,
    decision: FeedbackDecision | str,
    corrected_label: str | None = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> ClinicianFeedback:
    """An override needs a corrected label (one of the model's classes, not the predicted one)
    and a reason; an accept takes an optional reason and no label."""
    try:
        decision = FeedbackDecision(decision)
    except ValueError:
        raise FeedbackError("decision", "must be 'accept' or 'override'") from None
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) > MAX_REASON:
        raise FeedbackError("reason", f"at most {MAX_REASON} characters")
    if decision is FeedbackDecision.override:
        if reason is None:
            raise FeedbackError("reason", "an override needs a reason")
        if corrected_label not in prediction.probabilities:
            classes = ", ".join(sorted(prediction.probabilities))
            raise FeedbackError("corrected_label", f"must be one of the classes: {classes}")
        if corrected_label == prediction.label:
            raise FeedbackError("corrected_label", "an override must change the label")
    elif corrected_label is not None:
        raise FeedbackError("corrected_label", "only an override carries a corrected label")
    feedback = ClinicianFeedback(
        id=uuid.uuid4(),
        prediction_id=prediction.id,
        token_id=principal.token_id,
        decision=decision,
        corrected_label=corrected_label,
        reason=reason,
        created_at=now or datetime.now(UTC),
    )
    record = append(
        session,
        kind="feedback",
        subject_id=str(prediction.id),
        payload=payload_for_feedback(feedback, prediction, clinician_name=principal.name),
        now=feedback.created_at,
    )
    feedback.audit_seq = record.seq
    session.add(feedback)
    session.flush()  # rows in a fixed order (foreign keys; no relationship orders them)
    return feedback


def payload_for_feedback(
    feedback: ClinicianFeedback, prediction: Prediction, *, clinician_name: str
) -> FeedbackV2:
    return build_feedback(feedback, prediction, clinician_name=clinician_name)
