"""Server-Sent Events: the status stream of a prediction's explanation jobs.

The stream starts from the job states read when it opened and then waits on its
subscription to the process's :class:`~services.api.explanations.watch.JobWatch`: it reads
nothing from the database itself. Heartbeats are the response's pings.
"""

from __future__ import annotations

import asyncio
import functools
import json
import uuid
from collections.abc import AsyncIterator, Callable

from fastapi.concurrency import run_in_threadpool
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.background import BackgroundTask

from services.api.explanations.watch import Jobs, JobState, JobWatch, Subscription
from shared.db.models import JobStatus

HEARTBEAT_S = 15.0
TIMEOUT_S = 3600.0
SEP = "\n"
_DONE = ServerSentEvent(event="done", data="{}", sep=SEP).encode()


def keep_alive() -> ServerSentEvent:
    return ServerSentEvent(comment="keep-alive", sep=SEP)


@functools.lru_cache(maxsize=4096)
def _job_event(job: JobState) -> bytes:
    """The encoded ``job`` event: the same bytes for every stream that sends this state."""
    data = {
        "id": str(job.id),
        "method": job.method,
        "status": job.status.value,
        "last_error": job.last_error,
        "links": {"self": f"/v1/explanations/{job.id}"},
    }
    event_id = f"{job.id}:{job.status.value}"
    return ServerSentEvent(event="job", id=event_id, data=json.dumps(data), sep=SEP).encode()


async def prediction_events(
    subscription: Subscription, jobs: Jobs, *, timeout_s: float = TIMEOUT_S
) -> AsyncIterator[bytes]:
    """One ``job`` event per status change, then ``done`` once every job is final; ends
    without ``done`` after ``timeout_s``. Closes the subscription when it ends."""
    seen: dict[uuid.UUID, JobStatus] = {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        while True:
            for job in jobs:
                if seen.get(job.id) != job.status:
                    seen[job.id] = job.status
                    yield _job_event(job)
            if all(job.status.is_final for job in jobs):
                yield _DONE
                return
            while (newer := await subscription.next(timeout_s=deadline - loop.time())) is None:
                if loop.time() >= deadline:
                    return
            jobs = newer
    finally:
        subscription.close()


async def open_stream(
    watch: JobWatch, prediction_id: uuid.UUID, read_jobs: Callable[[], Jobs]
) -> EventSourceResponse:
    """Subscribe, then read the initial states with ``read_jobs`` (which also checks access
    and raises the domain error), so that no change after the read is missed. The
    subscription closes when the response ends, streamed or not."""
    subscription = watch.subscribe(prediction_id)
    try:
        jobs = await run_in_threadpool(read_jobs)
    except BaseException:
        subscription.close()
        raise
    return EventSourceResponse(
        prediction_events(subscription, jobs),
        ping=HEARTBEAT_S,
        ping_message_factory=keep_alive,
        sep=SEP,
        headers={"Cache-Control": "no-store"},
        background=BackgroundTask(subscription.close),
    )
