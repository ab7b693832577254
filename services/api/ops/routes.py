"""``/v1/ops``: the operator's overview (models, queue depth, job states, worker, failures)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from services.api.audit.schemas import CheckpointOut
from services.api.core.auth import OpsDep
from services.api.core.deps import AppState, SessionDep, StateDep
from services.api.core.errors import problem_responses
from services.api.ops.service import OpsStatus, ops_status
from shared import audit
from shared.errors import Conflict

router = APIRouter(prefix="/v1/ops", tags=["operations"])


@router.get("/status", response_model=OpsStatus, responses=problem_responses(401, 403, 422, 503))
def get_status(session: SessionDep, state: StateDep, _: OpsDep) -> OpsStatus:
    """A snapshot for the ops view; the broker is asked with the publish timeout as its bound."""
    return ops_status(
        session,
        registry=state.registry,
        publisher=state.publisher,
        timeout_s=state.settings.publish_timeout_s,
    )


@router.post(
    "/checkpoints",
    status_code=201,
    response_model=CheckpointOut,
    responses=problem_responses(
        401, 403, 409, 422, 503, descriptions={409: "the chain does not verify"}
    ),
)
async def post_checkpoint(state: StateDep, _: OpsDep) -> CheckpointOut:
    """Verify the chain and return its head (seq, hash, count, time). Keep the answer OUTSIDE
    this system (another host, WORM storage, a ticket): auditors verify against it later
    (``POST /v1/audit/verify``) to detect a truncated or consistently rewritten chain."""
    return await run_in_threadpool(_checkpoint, state)


def _checkpoint(state: AppState) -> CheckpointOut:
    with state.sessions() as session:
        try:
            checkpoint = audit.verified_checkpoint(session)
        except audit.CheckpointError as exc:
            raise ChainBroken(str(exc)) from None
    return CheckpointOut(**checkpoint.to_json())


class ChainBroken(Conflict):
    """The chain does not verify up to a checkpoint: none is written."""

    title = "Chain does not verify"
