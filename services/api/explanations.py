"""Reading archived explanations: renderings (stored or re-rendered with options), raw
attributions, the global SHAP summary of a model, and the status stream of a prediction."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from collections.abc import AsyncIterator
from typing import Literal

import numpy as np
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.api.errors import NotFound
from shared.bundles.manifest import ImageInput, TabularInput
from shared.bundles.registry import Bundle, Registry, UnknownModel
from shared.db import repository
from shared.db.models import ExplanationJob, ExplanationResult, JobStatus, Prediction
from shared.preprocess import InputError, reproduce_tensor
from shared.rendering import HeatmapOptions, render_heatmap, render_summary

SUMMARY_LIMIT = 2000


def _archived(job: ExplanationJob) -> ExplanationResult:
    """The job's result; 404 while nothing is archived. The caller found the job (and checked
    the reader may see it: :func:`services.api.auth.visible_job`)."""
    if job.result is None:
        raise NotFound(f"explanation {job.id} is {job.status}: nothing archived yet")
    return job.result


def _array(session: Session, sha256: str) -> np.ndarray:
    blob = repository.get_blob(session, sha256)
    assert blob is not None, "archived rows reference stored blobs"
    return np.load(io.BytesIO(blob.data), allow_pickle=False)


def attributions_npy(session: Session, job: ExplanationJob) -> tuple[bytes, str]:
    result = _archived(job)
    blob = repository.get_blob(session, result.attributions_sha256)
    assert blob is not None
    return blob.data, result.attributions_sha256


def stored_rendering(session: Session, job: ExplanationJob, *, kind: str) -> bytes:
    result = _archived(job)
    wanted = "image" if kind == "heatmap" else "tabular"
    if job.prediction.input_kind != wanted or result.rendering_sha256 is None:
        raise NotFound(
            f"explanation {job.id} has no {kind} (its input is {job.prediction.input_kind})"
        )
    blob = repository.get_blob(session, result.rendering_sha256)
    assert blob is not None
    return blob.data


def heatmap_png(
    session: Session,
    registry: Registry,
    job: ExplanationJob,
    options: HeatmapOptions,
    *,
    max_pixels: int,
) -> bytes:
    """Re-render the archived attributions over the image the model saw (re-derived from the
    archived input and checked against the recorded tensor hash)."""
    result = _archived(job)
    prediction = job.prediction
    if prediction.input_kind != "image":
        raise NotFound(f"explanation {job.id} explains a tabular case: see waterfall.png")
    manifest = _served_bundle(registry, prediction).manifest
    spec = manifest.input
    assert isinstance(spec, ImageInput)
    raw = repository.get_blob(session, prediction.input_sha256)
    assert raw is not None, "inputs are archived with their predictions"
    x = reproduce_tensor(
        raw.data, manifest, expected_sha256=prediction.tensor_sha256, max_pixels=max_pixels
    )[0]
    mean = np.asarray(spec.mean, dtype=np.float32)[:, None, None]
    std = np.asarray(spec.std, dtype=np.float32)[:, None, None]
    image = np.clip(x * std + mean, 0.0, 1.0)
    return render_heatmap(image, _array(session, result.attributions_sha256), options)


def _served_bundle(registry: Registry, prediction: Prediction) -> Bundle:
    try:
        return registry.get_by_sha256(
            prediction.model_name, prediction.model_version, prediction.model_sha256
        )
    except UnknownModel as exc:
        raise NotFound(f"the bundle of this explanation is no longer served: {exc}") from None


def model_summary_png(
    session: Session,
    registry: Registry,
    *,
    name: str,
    version: str,
    method: str,
    kind: Literal["beeswarm", "bar"],
) -> bytes:
    """Global summary over the model's archived explanations of ``method`` (latest first)."""
    spec = registry.get(name, version).manifest.input
    if not isinstance(spec, TabularInput):
        raise InputError.field("model", "summaries are drawn for tabular models")
    rows = session.execute(
        select(ExplanationResult.attributions_sha256, Prediction.input_sha256)
        .join(ExplanationJob, ExplanationResult.job_id == ExplanationJob.id)
        .join(Prediction, ExplanationJob.prediction_id == Prediction.id)
        .where(
            Prediction.model_name == name,
            Prediction.model_version == version,
            ExplanationJob.method == method,
        )
        .order_by(ExplanationResult.created_at.desc())
        .limit(SUMMARY_LIMIT)
    ).all()
    if not rows:
        raise NotFound(f"no archived {method} explanations of {name}/{version} yet")
    names = [f.name for f in spec.features]
    values = np.stack([_array(session, a) for a, _ in rows])
    features = np.asarray([[_case(session, i)[n] for n in names] for _, i in rows])
    return render_summary(values, features, [f.name for f in spec.features], kind=kind)


def _case(session: Session, input_sha256: str) -> dict[str, float]:
    blob = repository.get_blob(session, input_sha256)
    assert blob is not None
    return dict(json.loads(blob.data))


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
