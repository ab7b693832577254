"""The rendering archived with each explanation (other options are rendered on request)."""

from __future__ import annotations

from typing import Any

import numpy as np

from services.worker.explainers import Attribution, LoadedModel
from shared.bundles.manifest import ImageInput, Output
from shared.db.models import Prediction


def model_view(x: np.ndarray, spec: ImageInput) -> np.ndarray:
    """The image the model saw, ``[C, H, W]`` in [0, 1]: the input tensor un-normalised."""
    mean = np.asarray(spec.mean, dtype=np.float32)[:, None, None]
    std = np.asarray(spec.std, dtype=np.float32)[:, None, None]
    return np.clip(x[0] * std + mean, 0.0, 1.0)


def render_default(
    *, model: LoadedModel, prediction: Prediction, x: np.ndarray, attribution: Attribution
) -> tuple[bytes | None, dict[str, Any]]:
    spec = model.manifest.input
    if isinstance(spec, ImageInput):
        from shared.rendering.heatmap import render_heatmap

        values = np.asarray(attribution.values, dtype=np.float64)
        summary = {
            "positive_sum": float(values[values > 0].sum()),
            "negative_sum": float(values[values < 0].sum()),
        }
        return render_heatmap(model_view(x, spec), attribution.values), summary
    from shared.rendering.waterfall import render_waterfall, top_features

    names = [f.name for f in spec.features]
    expected = float(np.asarray(attribution.baseline).reshape(-1)[0])
    units = _units(attribution, model.manifest.output)
    rows = top_features(attribution.values, names, x[0], expected, k=10)
    png = render_waterfall(
        attribution.values,
        names,
        x[0],
        expected,
        k=10,
        units_label=units,
        title=f"{prediction.model_name}: {prediction.label}",
    )
    return png, {"top_features": rows, "expected_value": expected, "units": units}


def _units(attribution: Attribution, output: Output) -> str:
    """What the SHAP values add up to: log-odds for TreeSHAP and the logit link (of a
    classifier), a regression's value in its unit, else the served probability."""
    label = output.labels[attribution.target]
    if output.mode == "regression":
        return f"{label} ({output.unit})" if output.unit else label
    if attribution.method == "tree_shap" or attribution.parameters.get("link") == "logit":
        return f"log-odds of {label}"
    return f"probability of {label}"
