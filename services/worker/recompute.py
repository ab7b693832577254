"""Compute one explanation from the archived input and the pinned bundle.

The steps the explain service takes the first time and replay takes again for an auditor: load
the bundle by name, version *and* sha256, re-derive the model input (checked against the
recorded tensor hash), check the torch twin against the served ONNX model (for the methods
that differentiate it), run the job's explainer with the job's parameters (validated by the
method's parameter model), target and seed.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass

import numpy as np

from services.worker.context import WorkerContext
from services.worker.explainers import Attribution, ExplainerError, LoadedModel, get_explainer
from shared.db.models import ExplanationJob, Prediction
from shared.methods import METHODS, ParameterError
from shared.methods.quality import uses_twin
from shared.preprocess import reproduce_tensor
from shared.versions import package_versions


@dataclass(frozen=True)
class Computed:
    model: LoadedModel
    x: np.ndarray
    attribution: Attribution
    parity: float | None
    compute_ms: float

    @property
    def values(self) -> np.ndarray:
        """The attributions as archived: contiguous float32."""
        return np.ascontiguousarray(self.attribution.values, dtype=np.float32)

    @property
    def library_versions(self) -> dict[str, str]:
        return {**self.attribution.library_versions, **runtime_versions()}


def compute(
    *, job: ExplanationJob, prediction: Prediction, raw_input: bytes, context: WorkerContext
) -> Computed:
    """Explain ``job`` of ``prediction`` from its archived input bytes. Raises
    :class:`~shared.bundles.registry.UnknownModel` (bundle gone or other bytes),
    :class:`~shared.preprocess.NotReproducible` or :class:`ExplainerError` as refusals."""
    model = context.models.load(
        name=prediction.model_name, version=prediction.model_version, sha256=prediction.model_sha256
    )
    x = reproduce_tensor(
        raw_input,
        model.manifest,
        expected_sha256=prediction.tensor_sha256,
        max_pixels=context.settings.max_image_pixels,
    )
    explainer = get_explainer(job.method)
    if not explainer.supports(model.manifest):
        raise ExplainerError(f"{job.method} does not support {prediction.model_name}")
    try:
        parameters = METHODS[job.method].resolve(model.manifest, job.parameters)
    except ParameterError as exc:
        raise ExplainerError(str(exc)) from None
    parity = (
        check_parity(model, x, tolerance=context.settings.parity_tolerance)
        if uses_twin(METHODS[job.method].quality)
        else None  # an ONNX Runtime method explains the served model itself
    )
    started = time.perf_counter()
    attribution = explainer.explain(
        model=model, x=x, target=job.target, parameters=parameters, seed=job.seed
    )
    compute_ms = (time.perf_counter() - started) * 1000
    if attribution.model_sha256 != prediction.model_sha256:
        raise ExplainerError("the explained model is not the served model (sha256 differs)")
    return Computed(model=model, x=x, attribution=attribution, parity=parity, compute_ms=compute_ms)


def check_parity(model: LoadedModel, x: np.ndarray, *, tolerance: float) -> float | None:
    """Max |ORT - twin| on this input; over tolerance the explanation would not be of the
    served model, so the job fails and nothing is archived as valid."""
    if model.twin is None:
        return None
    from services.worker.twin import parity

    difference = parity(model, x)
    if not difference <= tolerance:
        raise ExplainerError(
            f"parity check failed: the torch twin differs from the served ONNX model by "
            f"{difference:.3g} > tolerance {tolerance:g}; refusing to explain"
        )
    return difference


def npy_bytes(values: np.ndarray) -> bytes:
    """The archived form of an attribution array (its SHA-256 is the result's identity)."""
    buffer = io.BytesIO()
    np.save(buffer, values, allow_pickle=False)
    return buffer.getvalue()


def runtime_versions() -> dict[str, str]:
    return package_versions("onnxruntime", "numpy", python=True)
