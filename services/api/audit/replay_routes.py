"""``/v1/audit/replays``: an auditor asks a worker to recompute an archived explanation and
reads how well it agrees (see :mod:`services.api.audit.replays`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Response
from pydantic import AliasPath, BaseModel, ConfigDict, Field

from services.api.audit import replays
from services.api.core.auth import PURPOSE_HEADER, AuditorDep
from services.api.core.deps import SessionDep, StateDep
from services.api.core.errors import problem_responses
from shared.db.models import JobStatus

router = APIRouter(prefix="/v1/audit/replays", tags=["audit"])
_POST_PROBLEMS = problem_responses(
    401,
    403,
    404,
    409,
    422,
    503,
    descriptions={
        404: "unknown explanation",
        409: "the explanation has no archived result (yet): nothing to replay",
    },
)
_GET_PROBLEMS = problem_responses(401, 403, 404, 422, 503, descriptions={404: "unknown replay"})


class ReplayIn(BaseModel):
    """Body of ``POST /v1/audit/replays``."""

    model_config = ConfigDict(extra="forbid")

    explanation_id: uuid.UUID = Field(description="the explanation (job) id to recompute")


class ReplayOut(BaseModel):
    """A replay; ``outcome`` once ``succeeded``: ``exact``, ``max_abs_diff``, ``spearman``,
    ``top_k``, ``top_features_same``, ``top_overlap``, the archived and replayed attribution
    SHA-256, ``model_sha256``, library versions, device, threads, ``compute_ms``; ``error``
    says why a ``failed`` one was refused."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    explanation_id: uuid.UUID = Field(validation_alias="job_id")
    prediction_id: uuid.UUID = Field(validation_alias=AliasPath("job", "prediction_id"))
    status: JobStatus
    outcome: dict[str, Any] | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None


PurposeHeader = Annotated[str, Header(alias=PURPOSE_HEADER)]


@router.post("", status_code=202, response_model=ReplayOut, responses=_POST_PROBLEMS)
def post_replay(
    body: ReplayIn,
    response: Response,
    state: StateDep,
    principal: AuditorDep,
    purpose: PurposeHeader,
) -> ReplayOut:
    """Queue a replay; poll the ``Location`` until ``succeeded`` or ``failed``."""
    replay = replays.request_replay(
        sessions=state.sessions,
        publisher=state.publisher,
        explanation_id=body.explanation_id,
        requested_by=str(principal.token_id),
        purpose=purpose.strip(),
    )
    response.headers["Location"] = f"/v1/audit/replays/{replay.id}"
    return ReplayOut.model_validate(replay)


@router.get("/{replay_id}", response_model=ReplayOut, responses=_GET_PROBLEMS)
def get_replay(replay_id: uuid.UUID, session: SessionDep, _: AuditorDep) -> ReplayOut:
    return ReplayOut.model_validate(replays.get_replay(session, replay_id))
