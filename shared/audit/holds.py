"""Legal holds: keep a prediction, or every prediction of a case, out of the retention purge.

A case is named by its keyed HMAC (``shared.hashing.pseudonymise``), never the raw reference.
Placing and releasing a hold are themselves ``hold`` records in the chain.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import Exists, and_, exists, or_, select
from sqlalchemy.orm import Session

from shared.audit.chain import append, iso
from shared.audit.formats.v2 import HoldV2
from shared.db.models import LegalHold, Prediction

MAX_BY = 128


def place_hold(
    session: Session,
    *,
    reason: str,
    placed_by: str,
    prediction_id: uuid.UUID | None = None,
    case_ref_hmac: str | None = None,
    now: datetime | None = None,
) -> LegalHold:
    if (prediction_id is None) == (case_ref_hmac is None):
        raise ValueError("a hold names exactly one of a prediction or a case")
    reason, placed_by = reason.strip(), placed_by.strip()
    if not reason or not 0 < len(placed_by) <= MAX_BY:
        raise ValueError(f"a hold needs a reason and who placed it (<= {MAX_BY} chars)")
    hold = LegalHold(
        id=uuid.uuid4(),
        prediction_id=prediction_id,
        case_ref_hmac=case_ref_hmac,
        reason=reason,
        placed_by=placed_by,
        created_at=now or datetime.now(UTC),
    )
    session.add(hold)
    session.flush()  # rows in a fixed order (foreign keys; no relationship orders them)
    _audit(session, "place", hold, by=placed_by, at=hold.created_at)
    return hold


def release_hold(
    session: Session, hold_id: uuid.UUID, *, released_by: str, now: datetime | None = None
) -> bool:
    """Release an active hold; False if it was already released. LookupError if unknown."""
    hold = session.get(LegalHold, hold_id, with_for_update=True)
    if hold is None:
        raise LookupError(f"no legal hold {hold_id}")
    if hold.released_at is not None:
        return False
    hold.released_at, hold.released_by = now or datetime.now(UTC), released_by.strip()
    _audit(session, "release", hold, by=hold.released_by, at=hold.released_at)
    return True


def on_hold() -> Exists:
    """SQL condition: the outer query's Prediction is under an active hold."""
    return exists(
        select(LegalHold.id).where(
            LegalHold.released_at.is_(None),
            or_(
                LegalHold.prediction_id == Prediction.id,
                and_(
                    LegalHold.case_ref_hmac.is_not(None),
                    LegalHold.case_ref_hmac == Prediction.case_ref_hmac,
                ),
            ),
        )
    )


def _audit(session: Session, action: str, hold: LegalHold, *, by: str, at: datetime) -> None:
    subject = str(hold.prediction_id) if hold.prediction_id else f"hold:{hold.id}"
    payload = HoldV2.new(
        action=action,
        hold_id=str(hold.id),
        prediction_id=str(hold.prediction_id) if hold.prediction_id else None,
        case_ref_hmac=hold.case_ref_hmac,
        reason=hold.reason,
        by=by,
        at=iso(at),
    )
    append(session, kind="hold", subject_id=subject, payload=payload, now=at)
