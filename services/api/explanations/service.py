"""Reading archived explanations: renderings (stored or re-rendered with options), raw
attributions, the global SHAP summary of a model, and the status stream of a prediction."""

from __future__ import annotations

import io

import numpy as np
from sqlalchemy.orm import Session

from shared.bundles.manifest import ImageInput
from shared.bundles.registry import Bundle, Registry, UnknownModel
from shared.db import repository
from shared.db.models import ExplanationJob, ExplanationResult, Prediction
from shared.errors import NotFound
from shared.preprocess import reproduce_tensor
from shared.rendering import HeatmapOptions, render_heatmap


def _archived(job: ExplanationJob) -> ExplanationResult:
    """The job's result; 404 while nothing is archived. The caller found the job (and checked
    the reader may see it: :func:`services.api.auth.visible_job`)."""
    if job.result is None:
        raise NotFound(f"explanation {job.id} is {job.status}: nothing archived yet")
    return job.result


def archived_array(session: Session, sha256: str) -> np.ndarray:
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
    return render_heatmap(image, archived_array(session, result.attributions_sha256), options)


def _served_bundle(registry: Registry, prediction: Prediction) -> Bundle:
    try:
        return registry.get_by_sha256(
            prediction.model_name, prediction.model_version, prediction.model_sha256
        )
    except UnknownModel as exc:
        raise NotFound(f"the bundle of this explanation is no longer served: {exc}") from None
