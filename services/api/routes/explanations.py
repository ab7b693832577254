"""``/v1/explanations``: the status and outcome of one explanation job."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from services.api.deps import SessionDep
from services.api.errors import NotFound
from services.api.schemas import ExplanationOut
from shared.db import repository

router = APIRouter(prefix="/v1/explanations", tags=["explanations"])


@router.get("/{job_id}", response_model=ExplanationOut, responses={404: {"description": "unknown"}})
def get_explanation(job_id: uuid.UUID, session: SessionDep) -> ExplanationOut:
    job = repository.get_job(session, job_id)
    if job is None:
        raise NotFound(f"no explanation {job_id}")
    return ExplanationOut.of(job)
