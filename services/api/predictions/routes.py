"""``/v1/predictions``: routes only parse, call one service function and shape the response."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from functools import partial
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sse_starlette import EventSourceResponse

from services.api.core import metrics
from services.api.core.auth import CaseReaderDep, ClinicianDep, EventsReaderDep, visible_prediction
from services.api.core.deps import AppState, SessionDep, StateDep
from services.api.core.errors import problem_responses
from services.api.core.openapi import component_ref
from services.api.explanations.events import open_stream
from services.api.explanations.watch import Jobs, JobState
from services.api.predictions.parsing import parse_prediction_request
from services.api.predictions.schemas import (
    FeedbackIn,
    FeedbackOut,
    ImagePredictionForm,
    PredictionOut,
    TabularPredictionBody,
)
from services.api.predictions.service import create_prediction
from shared.audit import record_feedback
from shared.auth.tokens import Principal
from shared.db import repository

router = APIRouter(prefix="/v1/predictions", tags=["predictions"])

_REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": component_ref(ImagePredictionForm)},
            "application/json": {"schema": component_ref(TabularPredictionBody)},
        },
    }
}
_POST_PROBLEMS = problem_responses(
    401, 403, 404, 413, 415, 422, 503, descriptions={404: "unknown model or version"}
)
_GET_PROBLEMS = problem_responses(
    401, 403, 404, 422, 503, descriptions={404: "unknown prediction, or not yours"}
)


@router.post(
    "",
    status_code=201,
    response_model=PredictionOut,
    openapi_extra=_REQUEST_BODY,
    responses=_POST_PROBLEMS,
)
async def post_prediction(
    request: Request,
    response: Response,
    state: StateDep,
    background: BackgroundTasks,
    principal: ClinicianDep,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=255)] = None,
) -> PredictionOut:
    """Diagnose at once; the explanation jobs are queued and arrive later (see ``events``)."""
    started = time.perf_counter()
    parsed = await parse_prediction_request(
        request,
        registry=state.registry,
        max_pixels=state.settings.max_image_pixels,
        idempotency_key=idempotency_key,
    )
    parsed = replace(parsed, requested_by=str(principal.token_id))
    parsed_at = time.perf_counter()
    with metrics.INFERENCE_SECONDS.labels(parsed.bundle.name).time():
        outcome = await run_in_threadpool(
            create_prediction,
            sessions=state.sessions,
            runtime=state.runtime,
            request=parsed,
            case_ref_key=state.settings.case_ref_key.get_secret_value().encode(),
        )
    prediction = outcome.prediction
    timings = {"parse": parsed_at - started, **outcome.timings}
    response.headers["Server-Timing"] = ", ".join(
        f"{name};dur={seconds * 1000:.2f}" for name, seconds in timings.items()
    )
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    else:
        metrics.PREDICTIONS.labels(prediction.model_name, prediction.label).inc()
        job_ids = [job.id for job in prediction.jobs]
        background.add_task(_publish, state, job_ids)
    response.headers["Location"] = f"/v1/predictions/{prediction.id}"
    return PredictionOut.model_validate(prediction)


def _publish(state: AppState, job_ids: list[uuid.UUID]) -> None:
    state.publisher.publish_committed(job_ids, sessions=state.sessions)


@router.get("/{prediction_id}", response_model=PredictionOut, responses=_GET_PROBLEMS)
def get_prediction(
    prediction_id: uuid.UUID, session: SessionDep, principal: CaseReaderDep
) -> PredictionOut:
    prediction = repository.get_prediction(session, prediction_id)
    return PredictionOut.model_validate(visible_prediction(prediction, principal, prediction_id))


def _visible_jobs(state: AppState, prediction_id: uuid.UUID, principal: Principal) -> Jobs:
    with state.sessions() as session:
        prediction = repository.get_prediction(session, prediction_id)
        jobs = visible_prediction(prediction, principal, prediction_id).jobs
        return tuple(JobState.of(job) for job in jobs)


@router.get(
    "/{prediction_id}/events",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **_GET_PROBLEMS},
)
async def get_prediction_events(
    prediction_id: uuid.UUID,
    state: StateDep,
    principal: EventsReaderDep,
    token: Annotated[
        str | None,
        Query(
            max_length=4096,
            description="the bearer token, for clients that cannot send headers (a browser's "
            "EventSource); read by the auth dependency, Authorization wins when both are sent",
        ),
    ] = None,
) -> EventSourceResponse:
    """Server-Sent Events: a ``job`` event for each status change, then ``done``. Takes the
    token as ``?token=`` too: a browser's EventSource cannot send headers."""
    read = partial(_visible_jobs, state, prediction_id, principal)
    return await open_stream(state.job_watch, prediction_id, read)


@router.post(
    "/{prediction_id}/feedback",
    status_code=201,
    response_model=FeedbackOut,
    responses=_GET_PROBLEMS,
)
def post_feedback(
    prediction_id: uuid.UUID, body: FeedbackIn, state: StateDep, principal: ClinicianDep
) -> FeedbackOut:
    """The clinician's decision on the diagnosis (human oversight): ``accept``, or ``override``
    with the corrected label and a reason. Recorded with its own audit record; a later entry
    does not erase an earlier one."""
    with state.sessions.begin() as session:
        prediction = repository.get_prediction(session, prediction_id)
        feedback = record_feedback(
            session,
            prediction=visible_prediction(prediction, principal, prediction_id),
            principal=principal,
            decision=body.decision,
            corrected_label=body.corrected_label,
            reason=body.reason,
        )
        return FeedbackOut.model_validate(feedback)
