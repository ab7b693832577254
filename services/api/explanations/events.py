"""Server-Sent Events: the status stream of a prediction's explanation jobs."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker

from services.api.core.errors import NotFound
from shared.db import repository
from shared.db.models import ExplanationJob, JobStatus


def _job_event(job: ExplanationJob) -> dict[str, object]:
    return {
        "id": str(job.id),
        "method": job.method,
        "status": job.status.value,
        "last_error": job.last_error,
        "links": {"self": f"/v1/explanations/{job.id}"},
    }


def _snapshot(sessions: sessionmaker[Session], prediction_id: uuid.UUID) -> list[ExplanationJob]:
    with sessions() as session:
        prediction = repository.get_prediction(session, prediction_id)
        if prediction is None:
            raise NotFound(f"no prediction {prediction_id}")
        return list(prediction.jobs)


async def prediction_events(
    sessions: sessionmaker[Session],
    prediction_id: uuid.UUID,
    *,
    poll_s: float = 0.25,
    heartbeat_s: float = 15.0,
    timeout_s: float = 3600.0,
) -> AsyncIterator[str]:
    """Server-Sent Events: one ``job`` event per status change until every job is final."""
    jobs = await run_in_threadpool(_snapshot, sessions, prediction_id)
    seen: dict[uuid.UUID, JobStatus] = {}
    loop = asyncio.get_running_loop()
    started = last_sent = loop.time()
    while True:
        for job in jobs:
            if seen.get(job.id) != job.status:
                seen[job.id] = job.status
                last_sent = loop.time()
                data = json.dumps(_job_event(job))
                yield f"event: job\nid: {job.id}:{job.status.value}\ndata: {data}\n\n"
        if all(job.status.is_final for job in jobs):
            yield "event: done\ndata: {}\n\n"
            return
        if loop.time() - started > timeout_s:
            return
        if loop.time() - last_sent > heartbeat_s:
            last_sent = loop.time()
            yield ": keep-alive\n\n"
        await asyncio.sleep(poll_s)
        jobs = await run_in_threadpool(_snapshot, sessions, prediction_id)
