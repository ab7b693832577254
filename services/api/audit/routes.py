"""``/v1/audit``: search the archive, open a decision, download its input, verify the chain.

Auditor tokens only; every request states its purpose (``X-Audit-Purpose``) and is recorded
in the access log and the chain before it is served (:mod:`services.api.core.auth`).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool

from services.api.audit import records as audit_records
from services.api.audit.schemas import CheckpointIn, FullRecord, RecordPage, RecordQuery, VerifyOut
from services.api.core.auth import AuditorDep
from services.api.core.deps import AppState, SessionDep, StateDep
from services.api.core.errors import problem_responses
from shared import audit
from shared.audit.checkpoint import Checkpoint
from shared.audit.verify import MAX_SEQ
from shared.db import repository
from shared.errors import NotFound

router = APIRouter(prefix="/v1/audit", tags=["audit"])
_PROBLEMS = problem_responses(401, 403, 422, 503)
INPUT_MEDIA_TYPES = ("image/png", "image/jpeg", "application/dicom", "application/json")
_ONE = problem_responses(401, 403, 404, 422, 503, descriptions={404: "unknown prediction"})


@router.get("/records", response_model=RecordPage, responses=_PROBLEMS)
def search_records(
    query: Annotated[RecordQuery, Query()], session: SessionDep, state: StateDep, _: AuditorDep
) -> RecordPage:
    """Decisions matching every given filter, newest first, ``limit`` per page."""
    key = state.settings.case_ref_key.get_secret_value().encode()
    return audit_records.search(session, query, case_ref_key=key)


@router.get("/records/{prediction_id}", response_model=FullRecord, responses=_ONE)
def get_record(prediction_id: uuid.UUID, session: SessionDep, _: AuditorDep) -> FullRecord:
    """One decision: prediction, explanations with their results, feedback, chain records."""
    return audit_records.full_record(session, prediction_id)


@router.get(
    "/records/{prediction_id}/input",
    response_class=Response,
    responses={200: {"content": {media: {} for media in INPUT_MEDIA_TYPES}}, **_ONE},
)
def get_input(prediction_id: uuid.UUID, session: SessionDep, _: AuditorDep) -> Response:
    """The archived input exactly as stored (DICOM de-identified); its SHA-256 is the ETag."""
    prediction = repository.get_prediction(session, prediction_id)
    if prediction is None:
        raise NotFound(f"no prediction {prediction_id}")
    blob = repository.get_blob(session, prediction.input_sha256)
    if blob is None:
        raise NotFound(f"the input of {prediction_id} was purged (retention)")
    headers = {"ETag": f'"{blob.sha256}"'}
    return Response(blob.data, media_type=blob.media_type, headers=headers)


@router.get("/verify", response_model=VerifyOut, responses=_PROBLEMS)
async def verify_chain(
    state: StateDep,
    _: AuditorDep,
    from_seq: Annotated[int | None, Query(ge=1, le=MAX_SEQ)] = None,
    to_seq: Annotated[int | None, Query(ge=1, le=MAX_SEQ)] = None,
    check_blobs: bool = True,
) -> VerifyOut:
    """Walk the chain (or ``from_seq..to_seq``, ``to_seq`` clamped to the head: ``range`` says
    what was walked): each record's hash, links, payload, blobs and rows; ``ok`` false names
    the first bad ``seq`` and why. A range past the head is never reported as tampering."""
    return await run_in_threadpool(_verify, state, from_seq, to_seq, check_blobs, None)


@router.post("/verify", response_model=VerifyOut, responses=_PROBLEMS)
async def verify_against_checkpoint(
    checkpoint: CheckpointIn, state: StateDep, _: AuditorDep
) -> VerifyOut:
    """Verify the whole chain and that it still reaches this exported checkpoint with the
    same hash and count: detects a truncated tail and a consistently rewritten chain."""
    outside = Checkpoint(**checkpoint.model_dump(exclude={"format"}))
    return await run_in_threadpool(_verify, state, None, None, True, outside)


def _verify(
    state: AppState,
    start: int | None,
    end: int | None,
    check_blobs: bool,
    checkpoint: Checkpoint | None,
) -> VerifyOut:
    with state.sessions() as session:
        report = audit.verify(
            session, start=start, end=end, checkpoint=checkpoint, check_blobs=check_blobs
        )
    return VerifyOut.model_validate(report)
