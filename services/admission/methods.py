"""Each explanation method once on a probe: its quality figures against their bounds, its time.

Every catalogued method gets a line: those the registry offers for the manifest are run (a
failure or a figure over its bound makes the method unavailable, with the reason); the others
say why the registry does not offer them, or, for a gradient method of a model without a usable
torch twin, why there is none.
"""

from __future__ import annotations

import time

import numpy as np

from services.worker.explainers import ExplainerError, LoadedModel, get_explainer
from shared.bundles.manifest import Manifest
from shared.methods import FIGURES, METHODS, MethodParameters, ParameterError
from shared.methods.quality import uses_twin

PARITY_BOUND = 1e-4
"""The twin's largest admitted gap to ONNX Runtime (the worker's default parity tolerance)."""


def bound_of(name: str, parameters: MethodParameters) -> float | None:
    figure = FIGURES.get(name)
    if figure is None:
        return None
    if figure.bound is not None:
        return figure.bound
    if figure.bound_parameter is not None:
        value = parameters.recorded().get(figure.bound_parameter)
        return float(value) if isinstance(value, int | float) else None
    if figure.bound_setting == "parity_tolerance":
        return PARITY_BOUND
    return None


def why_not_offered(method: str, manifest: Manifest, gradcam_reason: str | None) -> str:
    spec = METHODS[method]
    if method == "gradcam" and manifest.task == "image-classification":
        return f"no Grad-CAM layer: {gradcam_reason or 'the manifest names none'}"
    if spec.modality == "image":
        return "needs an image model with a differentiable twin"
    if method == "tree_shap":
        return "needs a tree ensemble (TreeEnsembleClassifier/Regressor in the graph)"
    return f"for {spec.modality} models; this is {manifest.task}"


def run_methods(
    model: LoadedModel,
    x: np.ndarray,
    target: int,
    *,
    gradcam_reason: str | None,
    twin_reason: str | None = None,
) -> list[dict[str, object]]:
    """The method lines as dicts of :class:`~services.admission.report.MethodResult` fields.

    ``twin_reason`` says why ``model`` has no usable torch twin (see
    :func:`~services.admission.checks.twin_parity`): every method that differentiates it is
    then unavailable with that reason, and the others are run as usual."""
    manifest = model.manifest
    results: list[dict[str, object]] = []
    for method, spec in METHODS.items():
        if not spec.supports(manifest):
            reason = why_not_offered(method, manifest, gradcam_reason)
        elif uses_twin(spec.quality) and model.twin is None:
            reason = f"no usable torch twin: {twin_reason or 'none was built'}"
        else:
            results.append(_run_one(model, method, x, target))
            continue
        results.append({"method": method, "available": False, "reason": reason})
    return results


def _run_one(model: LoadedModel, method: str, x: np.ndarray, target: int) -> dict[str, object]:
    manifest = model.manifest
    started = time.perf_counter()
    try:
        parameters = METHODS[method].resolve(manifest, manifest.explanations.parameters.get(method))
        result = get_explainer(method).explain(
            model=model, x=x, target=target, parameters=parameters, seed=0
        )
    except (ExplainerError, ParameterError, ValueError, RuntimeError) as exc:
        return {"method": method, "available": False, "reason": f"{type(exc).__name__}: {exc}"}
    ms = (time.perf_counter() - started) * 1000
    quality = {k: float(v) for k, v in result.quality.items()}
    bounds = {k: b for k in quality if (b := bound_of(k, parameters)) is not None}
    over = [f"{k} {quality[k]:.3g} > {b:g}" for k, b in bounds.items() if not quality[k] <= b]
    if not np.all(np.isfinite(result.values)):
        over.append("non-finite attributions")
    return {
        "method": method,
        "available": not over,
        "reason": f"quality over its bound: {'; '.join(over)}" if over else None,
        "quality": quality,
        "bounds": bounds,
        "ms": round(ms, 1),
    }
