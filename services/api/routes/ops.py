"""``/v1/ops``: the operator's overview (models, queue depth, job states, worker, failures)."""

from __future__ import annotations

from fastapi import APIRouter

from services.api.deps import SessionDep, StateDep
from services.api.ops import OpsStatus, ops_status

router = APIRouter(prefix="/v1/ops", tags=["operations"])


@router.get("/status", response_model=OpsStatus)
def get_status(session: SessionDep, state: StateDep) -> OpsStatus:
    """A snapshot for the ops view; the broker is asked with the publish timeout as its bound."""
    return ops_status(
        session,
        registry=state.registry,
        publisher=state.publisher,
        timeout_s=state.settings.publish_timeout_s,
    )
