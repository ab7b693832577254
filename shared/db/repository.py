"""Data access for the record. Functions take a session; the caller owns the transaction."""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from shared.db.models import Blob, ExplanationJob, Prediction


def put_blob(session: Session, *, data: bytes, media_type: str) -> str:
    """Store bytes under their SHA-256 (idempotent) and return the digest."""
    digest = hashlib.sha256(data).hexdigest()
    values = {"sha256": digest, "media_type": media_type, "size": len(data), "data": data}
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(dialect.insert(Blob).values(**values).on_conflict_do_nothing())
    return digest


def get_blob(session: Session, sha256: str) -> Blob | None:
    return session.get(Blob, sha256)


def get_prediction(session: Session, prediction_id: uuid.UUID) -> Prediction | None:
    query = (
        select(Prediction)
        .where(Prediction.id == prediction_id)
        .options(selectinload(Prediction.jobs))
    )
    return session.scalars(query).one_or_none()


def find_by_idempotency_key(session: Session, key: str) -> Prediction | None:
    query = (
        select(Prediction)
        .where(Prediction.idempotency_key == key)
        .options(selectinload(Prediction.jobs))
    )
    return session.scalars(query).one_or_none()


def get_job(session: Session, job_id: uuid.UUID) -> ExplanationJob | None:
    return session.get(ExplanationJob, job_id)
