"""Liveness, readiness (database, broker, bundles) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from services.api.core.auth import OpsDep
from services.api.core.deps import AppState, StateDep
from services.api.core.errors import problem_responses
from services.api.ops.schemas import Check, Health, Readiness

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process answers (it checks nothing else: see ``/readyz``)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(state: StateDep, response: Response) -> Readiness:
    checks = await run_in_threadpool(_checks, state)
    ready = all(c.ok for c in checks.values())
    response.status_code = 200 if ready else 503
    return Readiness(status="ready" if ready else "not ready", checks=checks)


def _checks(state: AppState) -> dict[str, Check]:
    try:
        with state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        database = Check(ok=True, detail=state.engine.dialect.name)
    except Exception as exc:  # any driver error means not ready
        database = Check(ok=False, detail=type(exc).__name__)
    broker_ok = state.publisher.ping(state.settings.publish_timeout_s)
    return {
        "database": database,
        "broker": Check(ok=broker_ok, detail="reachable" if broker_ok else "unreachable"),
        "bundles": Check(ok=len(state.runtime) > 0, detail=f"{len(state.runtime)} loaded"),
    }


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}, **problem_responses(401, 403, 422)},
)
def metrics(_: OpsDep) -> Response:
    """Prometheus metrics (an ops token: ``bearer_token`` in the scrape config)."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
