"""``/v1/explanations``: status, renderings and raw attributions of one explanation."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session

from services.api.core.auth import CaseReaderDep, visible_job
from services.api.core.deps import SessionDep, StateDep
from services.api.core.errors import problem_responses
from services.api.core.openapi import file_response
from services.api.explanations import service as explanations
from services.api.explanations.schemas import ExplanationOut, HeatmapQuery
from shared.auth.tokens import Principal
from shared.db import repository
from shared.db.models import ExplanationJob

router = APIRouter(prefix="/v1/explanations", tags=["explanations"])
_PROBLEMS = problem_responses(
    401, 403, 404, 422, 503, descriptions={404: "unknown explanation, or not yours"}
)
_ARCHIVED = problem_responses(
    401,
    403,
    404,
    422,
    503,
    descriptions={404: "unknown explanation, not yours, or nothing of this kind archived yet"},
)
_PNG = {**file_response("image/png", "the rendering (PNG)"), **_ARCHIVED}


def _job(session: Session, job_id: uuid.UUID, principal: Principal) -> ExplanationJob:
    return visible_job(repository.get_job(session, job_id), principal, job_id)


@router.get("/{job_id}", response_model=ExplanationOut, responses=_PROBLEMS)
def get_explanation(
    job_id: uuid.UUID, session: SessionDep, principal: CaseReaderDep
) -> ExplanationOut:
    return ExplanationOut.model_validate(_job(session, job_id, principal))


@router.get("/{job_id}/heatmap.png", response_class=Response, responses=_PNG)
def get_heatmap(
    job_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    state: StateDep,
    options: Annotated[HeatmapQuery, Query()],
    principal: CaseReaderDep,
) -> Response:
    """The archived overlay, or a new rendering when any option is given."""
    job = _job(session, job_id, principal)
    if request.query_params:
        png = explanations.heatmap_png(
            session, state.registry, job, options, max_pixels=state.settings.max_image_pixels
        )
    else:
        png = explanations.stored_rendering(session, job, kind="heatmap")
    return Response(png, media_type="image/png")


@router.get("/{job_id}/waterfall.png", response_class=Response, responses=_PNG)
def get_waterfall(job_id: uuid.UUID, session: SessionDep, principal: CaseReaderDep) -> Response:
    job = _job(session, job_id, principal)
    png = explanations.stored_rendering(session, job, kind="waterfall")
    return Response(png, media_type="image/png")


@router.get(
    "/{job_id}/attributions",
    response_class=Response,
    responses={**file_response("application/x-npy", "the attributions (.npy)"), **_ARCHIVED},
)
def get_attributions(job_id: uuid.UUID, session: SessionDep, principal: CaseReaderDep) -> Response:
    """The raw attribution array as a NumPy ``.npy`` file; its SHA-256 is the ETag."""
    data, sha256 = explanations.attributions_npy(session, _job(session, job_id, principal))
    headers = {"ETag": f'"{sha256}"', "Content-Disposition": f'attachment; filename="{job_id}.npy"'}
    return Response(data, media_type="application/x-npy", headers=headers)
